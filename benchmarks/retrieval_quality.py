"""Retrieval quality on the dev set: the common LangChain recipe vs ytqa's presets.

    python benchmarks/retrieval_quality.py [--qa FILE] [--transcripts DIR] [--models minilm,mpnet]
    python benchmarks/retrieval_quality.py --models minilm --levers

Prints one table: the common recipe (transcript text joined,
RecursiveCharacterTextSplitter(1000, 200), all-MiniLM-L6-v2, Chroma, the
chunk's start cited) and ``ytqa.evaluate`` with each preset whose weights are
available offline (its defaults: the retriever ``build_retriever`` builds), all
scored by the same functions (``ytqa.evaluation``). Every configuration embeds
the transcripts once (one per video, ``.srt`` preferred) and then asks every
question. ``--levers`` adds MiniLM rows with one retriever option changed
(``window``, ``cite_lead``, ``search_type``). Needs the packaged weights
(``YTQA_MODELS_DIR``) and ../shared/data.
"""

from __future__ import annotations

import argparse
import atexit
import bisect
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import setup_offline, shared_data_dir

COLUMNS = ("hit@1", "hit@3", "hit@5", "land@1", "land@3", "mrr@5")
TARGETS = {"hit@1": 0.75, "hit@5": 0.95, "land@1": 0.70}
# The default retriever with one lever changed (--levers): retriever options of evaluate().
LEVERS: dict[str, dict[str, Any]] = {
    "window=0 cite_lead=0 (matching chunk alone, its start cited)": {"window": 0, "cite_lead": 0},
    "window=5 cite_lead=0 (matching chunk's start cited)": {"cite_lead": 0},
    "search_type=mmr": {"search_type": "mmr"},
}


def common_recipe(qa: Path, transcripts: Path) -> dict[str, Any]:
    """The usual tutorial pipeline, with times mapped back from character offsets."""
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ytqa.embeddings import get_embeddings
    from ytqa.evaluation import load_qa, score_results
    from ytqa.transcripts import read_transcript_file, transcript_files
    from ytqa.video import watch_url

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=1000, chunk_overlap=200, add_start_index=True
    )
    documents = []
    files = transcript_files(transcripts)  # one per video, uploaded .srt first (as evaluate)
    for file in files:
        transcript = read_transcript_file(file)
        segments = transcript.segments
        offsets, position = [], 0
        for segment in segments:
            offsets.append(position)
            position += len(segment.text) + 1
        joined = " ".join(segment.text for segment in segments)

        def cue_at(offset: int, segments: Any = segments, offsets: list[int] = offsets) -> Any:
            return segments[max(0, bisect.bisect_right(offsets, offset) - 1)]

        for chunk in splitter.create_documents([joined]):
            first = chunk.metadata["start_index"]
            start = cue_at(first).start
            last = cue_at(first + len(chunk.page_content) - 1)
            documents.append(
                Document(
                    chunk.page_content,
                    metadata={
                        "video_id": transcript.video_id,
                        "start": start,
                        "end": last.start + last.duration,
                        "url": watch_url(transcript.video_id, start),
                    },
                )
            )
    store = Chroma.from_documents(
        documents,
        get_embeddings("minilm"),
        client=chromadb.EphemeralClient(),
        collection_name=f"recipe-{uuid.uuid4().hex[:8]}",
    )
    items = load_qa(qa)
    results = [store.similarity_search(item.question, k=5) for item in items]
    report = score_results(items, results)
    report["videos"] = len(files)
    report["chunks"] = len(documents)
    return report


def main() -> None:
    data = shared_data_dir()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qa", type=Path, default=data / "qa-dev.jsonl")
    parser.add_argument("--transcripts", type=Path, default=data / "transcripts")
    parser.add_argument("--models", default="minilm,mpnet", help="ytqa presets, comma-separated")
    parser.add_argument(
        "--levers",
        action="store_true",
        help="also MiniLM with the retriever's levers turned off, one at a time",
    )
    args = parser.parse_args()

    setup_offline()
    # evaluate() caches the transcripts it indexes: keep the user's ytqa home untouched.
    os.environ["YTQA_HOME"] = tempfile.mkdtemp(prefix="ytqa-bench-quality-")
    atexit.register(shutil.rmtree, os.environ["YTQA_HOME"], ignore_errors=True)

    import torch

    from ytqa.embeddings import is_available_locally
    from ytqa.evaluation import evaluate

    rows: list[tuple[str, dict[str, Any], float]] = []
    print("common recipe ...", file=sys.stderr, flush=True)
    began = time.perf_counter()
    report = common_recipe(args.qa, args.transcripts)
    rows.append(("common recipe (minilm, 1000/200 chars)", report, time.perf_counter() - began))
    for model in args.models.split(","):
        if not is_available_locally(model):
            print(f"{model}: weights not available offline, skipped")
            continue
        print(f"ytqa {model} ...", file=sys.stderr, flush=True)
        began = time.perf_counter()
        report = evaluate(args.qa, args.transcripts, model=model)
        rows.append((f"ytqa {model} (defaults)", report, time.perf_counter() - began))
    if args.levers:
        for name, options in LEVERS.items():
            print(f"ytqa minilm {name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            report = evaluate(args.qa, args.transcripts, model="minilm", **options)
            rows.append((f"ytqa minilm, {name}", report, time.perf_counter() - began))

    base = rows[0][1]
    print(
        f"\nRetrieval on {args.qa.name}: {base['n']} questions, {base['videos']} videos indexed "
        f"(one transcript each, .srt preferred); torch threads {torch.get_num_threads()}\n"
    )
    print(f"| configuration | n | {' | '.join(COLUMNS)} | seconds |")
    print(f"|---|---|{'---|' * len(COLUMNS)}---|")
    for name, report, seconds in rows:
        cells = " | ".join(f"{report[column]:.3f}" for column in COLUMNS)
        print(f"| {name} | {report['n']} | {cells} | {seconds:.0f} |")
    print(f"\ncommon recipe: {base['chunks']} chunks; seconds = embed + index + all questions")
    for name, report, _ in rows[1:]:
        gains = ", ".join(f"{c} {report[c] - base[c]:+.3f}" for c in ("hit@1", "hit@5", "land@1"))
        print(f"{name} vs common recipe: {gains}")
    for name, report, _ in rows[1:]:
        if name.startswith("ytqa minilm,"):
            continue
        checks = ", ".join(
            f"{c} {report[c]:.3f} {'>=' if report[c] >= goal else '<'} {goal:.2f}"
            for c, goal in TARGETS.items()
        )
        met = all(report[c] >= goal for c, goal in TARGETS.items())
        print(f"target for {name}: {checks} -> {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
