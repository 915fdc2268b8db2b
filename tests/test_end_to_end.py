"""The whole product with no fakes: a real transcript, MiniLM, Chroma and a real local LLM."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from ytqa import build_chain, resolve_llm
from ytqa.chain import format_sources

pytestmark = pytest.mark.slow

VIDEO = "DHyUYg8X31c"  # Kurzgesagt: do robots deserve rights?
# A file named by its video ID cites the YouTube video itself.
CITED_LINK = re.compile(
    rf"^\[\d\d:\d\d\] {VIDEO} — https://www\.youtube\.com/watch\?v={VIDEO}&t=\d+s$"
)


def test_build_chain_answers_with_timestamped_sources(
    transcripts_dir: Path, minilm: Path, gemma_llm: str
) -> None:
    # A short answer keeps the tiny CPU model fast; its wording is not judged.
    llm = resolve_llm(gemma_llm, max_new_tokens=12)
    chain = build_chain([str(transcripts_dir / f"{VIDEO}.srt")], llm=llm, k=2)

    out = chain.invoke({"query": "Could a robot feel pain?"})

    assert isinstance(out["result"], str) and out["result"].strip()
    documents = out["source_documents"]
    assert len(documents) == 2
    assert all(d.metadata["video_id"] == VIDEO for d in documents)
    assert all(d.metadata["start"] <= d.metadata["end"] for d in documents)
    lines = format_sources(documents)
    assert lines and all(CITED_LINK.match(line) for line in lines), lines

    again = asyncio.run(chain.ainvoke({"query": "Do robots deserve rights?"}))
    assert again["result"].strip() and again["source_documents"]
