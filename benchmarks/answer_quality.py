"""Answer quality of the whole chain with a local LLM: do the answers cite the right moment?

    python benchmarks/answer_quality.py [--limit N] [--llm SPEC] [--sets dev,wide,off]

Indexes all shared transcripts (one per video, ``.srt`` preferred, as
``benchmarks/retrieval_quality.py``) in memory with the default preset, builds
``ytqa.build_chain`` over them with the LLM (default: the packaged stand-in for the
default local LLM, Qwen2.5-Coder-0.5B-Instruct Q4_K_M by llama.cpp; ``--llm``
takes any ``llm=`` spec), and asks the questions of ``qa-dev.jsonl`` (``dev``),
``qa-dev-wide.jsonl`` (``wide``) and :data:`OFF_TOPIC` (``off``: questions that
none of the videos answers). Prints each answer with its cited moments, then per
set:

- **first cite lands**: the answer's first ``[mm:ss]`` lies in
  ``[start - 15 s, end]`` of the expected span (as ``land@k`` of retrieval);
- **cites in a passage**: the share of cited moments that lie inside a passage
  the model was given (from its cited start to its end); others are made up;
- **declines**: for off-topic questions, the share answered with "not in these
  videos" (what ``DEFAULT_PROMPT`` asks for); for the others, the share declined;
- **s/answer**: median seconds per answer (retrieval + generation).

``--limit N`` asks the first N questions of each set; ``--rerank MODEL`` has the
chain's retriever re-rank with a second model (``rerank=``); ``--free`` lifts the rule that
holds a llama.cpp model answering ytqa's prompt to the moments of the given lines
(``cite_given_moments``, ``ytqa.chain.citing_options``), for comparison. Cited
marks are read from the answer text by ``ytqa.citations.find_marks``. A benchmark,
not a test: it asserts nothing.
Needs ``ytqa[local]``, the packaged models (README, Development) and ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import scratch_home, setup_offline, shared_data_dir

OFF_TOPIC = [
    "What is the recipe for a classic French onion soup?",
    "Who won the 2018 FIFA World Cup final?",
    "How do I change a flat tyre on a bicycle?",
    "What is the boiling point of water at the top of Mount Everest?",
    "How does the Python garbage collector handle reference cycles?",
    "What are the rules of cricket's leg-before-wicket law?",
    "Which grape varieties are used to make Champagne?",
    "How do I file a tax return in Canada?",
    "What is the plot of the opera La Traviata?",
    "How many moons does Neptune have?",
    "What is the best way to train a puppy to sit?",
    "How do you tune a guitar to drop D?",
]
"""Questions that none of the 36 shared videos answers."""

DECLINE = "not in these videos"
"""What DEFAULT_PROMPT asks the model to say when the excerpts lack the answer."""

LAND_TOLERANCE = 15.0


def passage_span(document: Any) -> tuple[float, float]:
    """From the moment the passage cites (its link) to its end, widened by a second
    because marks are whole seconds."""
    from ytqa.evaluation import cited_seconds

    metadata = document.metadata
    start = cited_seconds(document)
    if start is None:
        start = float(metadata.get("start", 0.0))
    return min(start, float(metadata.get("start", start))) - 1.0, float(metadata["end"]) + 1.0


def question_sets(data: Path, names: list[str], limit: int | None) -> dict[str, list[Any]]:
    from ytqa.evaluation import QAItem, load_qa

    sets: dict[str, list[Any]] = {}
    files = {"dev": data / "qa-dev.jsonl", "wide": data / "qa-dev-wide.jsonl"}
    for name in names:
        if name == "off":
            items = [QAItem(f"off-{n:02d}", "", question, -1.0, -1.0)
                     for n, question in enumerate(OFF_TOPIC, start=1)]
        else:
            items = load_qa(files[name])
        sets[name] = items[:limit] if limit else items
    return sets


def main() -> None:
    data = shared_data_dir()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="ask the first N questions of each set")
    parser.add_argument("--llm", help="llm= spec (default: the default LLM's packaged stand-in)")
    parser.add_argument("--sets", default="dev,wide,off", help="of dev, wide, off")
    parser.add_argument("--k", type=int, default=4, help="passages per question (build_chain's k)")
    parser.add_argument("--free", action="store_true",
                        help="leave a llama.cpp model free to write any mark (the baseline "
                             "of ytqa's cite_given_moments rule)")
    parser.add_argument("--rerank", help="rerank= of the chain's retriever (e.g. mpnet)")
    args = parser.parse_args()

    setup_offline()
    scratch_home("answers")

    from tests import offline_models as om
    from ytqa import build_chain
    from ytqa.citations import find_marks
    from ytqa.index import VideoIndex
    from ytqa.transcripts import read_transcript_file, transcript_files

    llm = args.llm
    if llm is None:
        path = om.packaged_gguf(om.QWEN_CODER_05B)
        if path is None:
            raise SystemExit("Qwen2.5-Coder-0.5B GGUF not installed: see README, Development")
        llm = f"llamacpp:{path}"
    sets = question_sets(data, args.sets.split(","), args.limit)

    index = VideoIndex(in_memory=True)
    files = transcript_files(data / "transcripts", prefer="manual")
    for file in files:
        index.add(read_transcript_file(file))
    chain = build_chain(index=index, llm=llm, k=args.k, rerank=args.rerank)
    llm_chain = chain.combine_documents_chain.llm_chain  # type: ignore[attr-defined]
    if args.free:
        llm_chain.llm_kwargs = {}
    load = os.getloadavg()
    print(f"llm: {llm} (options {llm_chain.llm_kwargs})\n{len(files)} videos indexed; "
          f"k={args.k}; rerank={args.rerank}; load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"on {os.cpu_count()} cores\n")

    summary = []
    for name, items in sets.items():
        lands = inside = cites = declines = 0
        seconds = []
        for item in items:
            began = time.perf_counter()
            result = chain.invoke({"query": item.question})
            seconds.append(time.perf_counter() - began)
            answer = " ".join(result["result"].split())
            documents = result["source_documents"]
            # The marks as ytqa reads them (ranges by their start).
            moments = [mark.start for mark in find_marks(answer)]
            spans = [passage_span(document) for document in documents]
            cites += len(moments)
            inside += sum(any(low <= m <= high for low, high in spans) for m in moments)
            declined = DECLINE in answer.lower()
            declines += declined
            landed = bool(moments) and (
                item.start - LAND_TOLERANCE <= moments[0] <= item.end
                and any(
                    document.metadata.get("video_id") == item.video_id and low <= moments[0] <= high
                    for document, (low, high) in zip(documents, spans, strict=True)
                )
            )
            lands += landed
            expected = "" if name == "off" else f" expected {item.start:.0f}-{item.end:.0f} s"
            marks = ", ".join(f"{m:.0f}" for m in moments) or "none"
            print(f"[{name} {item.id}] {item.question}\n  -> {answer}\n  cites (s): {marks};"
                  f"{expected}{' LANDS' if landed else ''}{' DECLINED' if declined else ''}"
                  f" ({seconds[-1]:.1f} s)", flush=True)
        n = len(items)
        summary.append((name, n, lands / n, inside / cites if cites else float("nan"), cites,
                        declines / n, statistics.median(seconds)))
    index.close()

    print("\n| set | questions | first cite lands | cites in a passage (cites) | declined "
          "| s/answer |")
    print("|---|---|---|---|---|---|")
    for name, n, land, inside_share, cites, decline, secs in summary:
        land_cell = "–" if name == "off" else f"{land:.2f}"
        print(f"| {name} | {n} | {land_cell} | {inside_share:.2f} ({cites}) | {decline:.2f} "
              f"| {secs:.1f} |")
    print(f"\nload at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr)


if __name__ == "__main__":
    main()
