"""Every script in examples/ runs offline, on the example transcript, with local models."""

from __future__ import annotations

import re
import runpy
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.offline_models import REPO_ROOT

EXAMPLES = REPO_ROOT / "examples"
Runner = Callable[..., str]
FILE_LINK = re.compile(r"file://\S+lighthouse-talk\.srt#t=\d+")

pytestmark = pytest.mark.slow


@pytest.fixture
def run_example(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., str]:
    """Run an example script as ``python examples/NAME.py ARGS...`` would; return its stdout.

    In this process, so that models loaded by other tests are reused (a fresh
    process would import torch and de-quantize the GGUF LLM again, for minutes).
    """

    def run(script: str, *args: str, llm: str | None = None) -> str:
        if llm is not None:
            monkeypatch.setenv("YTQA_LLM", llm)
        monkeypatch.setattr(sys, "argv", [str(EXAMPLES / script), *args])
        capsys.readouterr()
        runpy.run_path(str(EXAMPLES / script), run_name="__main__")
        return capsys.readouterr().out

    return run


def test_example_transcript_is_the_projects_own() -> None:
    from ytqa import read_transcript_file

    transcript = read_transcript_file(EXAMPLES / "lighthouse-talk.srt")
    assert transcript.title == "lighthouse-talk"
    assert transcript.duration > 200


def test_quickstart_retrieves_and_answers_with_sources(
    minilm: Path, gemma_llm: str, run_example: Runner
) -> None:
    output = run_example("quickstart.py", "--max-new-tokens", "12", llm=gemma_llm)

    passages, _, answer = output.partition("\nAnswer:")
    # The best passage cites the moment Fresnel's lens comes up (00:42-00:59 in
    # the talk), within the 15 s lead that counts as landing in docs/evaluation.md.
    cited = int(re.search(r"#t=(\d+)", passages.splitlines()[0])[1])  # type: ignore[index]
    assert 42 - 15 <= cited <= 59
    assert answer.strip()
    sources = answer.split("Sources:\n", 1)[1].strip().splitlines()
    assert sources and all(FILE_LINK.search(line) for line in sources)


def test_tool_lcel_chain_and_agent_cite_moments(
    minilm: Path, gemma_llm: str, run_example: Runner
) -> None:
    # The agent's model is the one stand-in: a scripted tool-calling model (the small
    # local LLM calls no tools) that searches with the question and quotes the first
    # marked line the tool returns, citing its mark.
    output = run_example("retriever_in_lcel_and_agents.py", "--max-new-tokens", "12",
                         "--agent-llm", "py:tests.scripted_llm:QuotingAgentModel", llm=gemma_llm)

    tool_output, _, rest = output.partition("\nLCEL answer: ")
    lcel, _, agent = rest.partition("\nAgent answer: ")
    assert "twenty nautical miles" in tool_output
    # What the agent reads: each passage under its [mm:ss] moment and link, then the
    # passage fenced, each line marked with its moment.
    passages = tool_output.split("Tool output:\n", 1)[1].strip().split("\n\n")
    assert len(passages) == 2
    for passage in passages:
        moment, text = passage.split("\n", 1)
        assert re.fullmatch(r"\[\d\d:\d\d\] lighthouse-talk — " + FILE_LINK.pattern, moment)
        lines = text.split("\n")
        assert lines[0].startswith('<excerpt video="lighthouse-talk"') and lines[-1] == "</excerpt>"
        assert all(re.match(r"\[\d\d:\d\d\] \S", line) for line in lines[1:-1])
    answer, _, sources = lcel.partition("\nSources:\n")
    assert answer.strip()
    assert sources.strip() and all(FILE_LINK.search(line) for line in sources.strip().splitlines())
    # The agent cited the moment of a line it read; its source opens the talk there.
    said, _, cited = agent.partition("\nAgent sources:\n")
    mark = re.search(r"\[(\d\d):(\d\d)\]$", said.strip())
    assert mark is not None and said.strip()[: -len(mark[0])].strip() in tool_output
    (line,) = cited.strip().splitlines()
    assert line.startswith(f"[{mark[1]}:{mark[2]}] lighthouse-talk — ")
    assert line.endswith(f"#t={int(mark[1]) * 60 + int(mark[2])}")


@pytest.mark.skipif(shutil.which("chroma") is None, reason="the chroma command is not installed")
def test_chroma_server_example_indexes_and_searches_on_a_real_server(
    minilm: Path, run_example: Runner
) -> None:
    output = run_example("chroma_server.py", "--start-server")

    assert re.search(r"^\d+ chunks added; the server holds \['local-\w+'\]$", output, re.M)
    assert len(FILE_LINK.findall(output)) == 2


def test_compare_presets_shows_each_preset(minilm: Path, mpnet: Path, run_example: Runner) -> None:
    from ytqa import EMBEDDING_MODELS
    from ytqa.embeddings import is_available_locally

    output = run_example("compare_presets.py")

    sections = {
        header.split()[0]: body
        for header, body in re.findall(r"^== (.+)\n((?:   .*\n?)*)", output, re.M)
    }
    assert list(sections) == ["minilm", "mpnet", "multi-qa-dot"]
    for preset in ("minilm", "mpnet"):
        ranks = re.findall(
            r"^   (\d)\. \[\d\d:\d\d\] score -?\d\.\d{3}  (\S+)$", sections[preset], re.M
        )
        assert [rank for rank, _ in ranks] == ["1", "2"]
        assert all(FILE_LINK.fullmatch(url) for _, url in ranks)
    # Without its weights (offline, as in CI) multi-qa-dot is reported, not fatal.
    if not is_available_locally(EMBEDDING_MODELS["multi-qa-dot"]):
        assert "not available" in sections["multi-qa-dot"]
