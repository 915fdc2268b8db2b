"""Retrieval quality on both dev sets: the common LangChain recipe vs ytqa's presets.

    python benchmarks/retrieval_quality.py                       # both sets, every offline preset
    python benchmarks/retrieval_quality.py --models minilm --captions manual,generated --long
    python benchmarks/retrieval_quality.py --models minilm --levers

One run prints, per transcript variant (``manual``: the uploaded ``.srt``;
``generated``: the auto-captions ``.en.vtt`` where present, as
``captions="generated"``; ``long``: the long-video check), a table with the
common recipe (transcript text joined, RecursiveCharacterTextSplitter(1000,
200), all-MiniLM-L6-v2, Chroma, the chunk's start cited) and ytqa with each
preset whose weights are available offline, side by side on every QA set
(``qa-dev.jsonl``, one channel, and ``qa-dev-wide.jsonl``, six others), then
per-channel tables and the targets of issue 13.

Every configuration indexes **every** shared transcript once (the others are
distractors) and asks the questions of every set; the ytqa rows are the
retriever :func:`ytqa.build_retriever` builds with its defaults (what
``ytqa.evaluate`` runs, one index for all sets), all rows scored by
``ytqa.evaluation.score_results``.

The long-video check joins each channel's videos into one long transcript
(times shifted, a 2 s gap between videos, one video ID per channel) and shifts
the questions with them: 14 videos of 7-55 minutes whose own other parts are
the distractors.

``--levers`` adds rows with one retriever option changed (``neighbour_weight``,
``window``, ``cite_lead``, ``search_type``). ``--cache DIR`` keeps chunk vectors in LangChain's
``CacheBackedEmbeddings`` (a file store), so that a second run, and the
long-video check, embed only new chunk texts: the vectors are the model's own.
Needs the packaged weights (``YTQA_MODELS_DIR``) and ../shared/data.
"""

from __future__ import annotations

import argparse
import bisect
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import scratch_home, setup_offline, shared_data_dir

COLUMNS = ("hit@1", "hit@3", "hit@5", "land@1", "land@3", "mrr@5")
TARGETS = {"hit@1": 0.85, "hit@5": 0.97, "land@1": 0.75}
"""Issue 13's targets (MiniLM, each set on its own); auto-captions: 0.05 less."""
AUTO_SLACK = 0.05
LONG_GAP = 2.0
"""Seconds of silence put between two videos joined for the long-video check."""
# The default retriever with one lever changed (--levers): retriever options.
LEVERS: dict[str, dict[str, Any]] = {
    "neighbour_weight=0 (each chunk's own score: the old ranking)": {"neighbour_weight": 0},
    "neighbour_weight=0.2": {"neighbour_weight": 0.2},
    "neighbour_weight=0.5": {"neighbour_weight": 0.5},
    "window=8": {"window": 8},
    "cite_lead=0": {"cite_lead": 0},
    "cite_lead=6": {"cite_lead": 6.0},
    "cite_lead=9": {"cite_lead": 9.0},
    "search_type=mmr": {"search_type": "mmr"},
}

Row = tuple[str, dict[str, dict[str, Any]], float]
"""(configuration, {set name: report}, seconds)."""


def channels_of(data: Path) -> dict[str, str]:
    """Video ID -> channel, from the table of ../shared/data/README.md."""
    channels = {}
    row = re.compile(r"^\|\s*([\w-]{11})\s*\|\s*([^|]+?)\s*\|")
    for line in (data / "README.md").read_text(encoding="utf-8").splitlines():
        match = row.match(line)
        if match:
            channels[match.group(1)] = match.group(2)
    return channels


def load_corpus(transcripts_dir: Path, captions: str) -> list[Any]:
    """Every transcript, one per video (as ``ytqa.evaluate`` picks them)."""
    from ytqa.transcripts import read_transcript_file, transcript_files

    return [read_transcript_file(f) for f in transcript_files(transcripts_dir, prefer=captions)]


def long_corpus(
    transcripts: list[Any], sets: dict[str, list[Any]], channels: dict[str, str]
) -> tuple[list[Any], dict[str, list[Any]], dict[str, str]]:
    """Each channel's videos as one long transcript; the questions shifted with them."""
    from ytqa.evaluation import QAItem
    from ytqa.transcripts import Segment, Transcript

    by_channel: dict[str, list[Any]] = {}
    for transcript in sorted(transcripts, key=lambda t: t.video_id):
        by_channel.setdefault(channels.get(transcript.video_id, "other"), []).append(transcript)
    joined, moved, long_channels = [], {}, {}
    for number, (channel, parts) in enumerate(sorted(by_channel.items())):
        video_id = f"long{number:02d}" + "x" * 5  # 11 characters, like a YouTube ID
        long_channels[video_id] = channel
        segments, offset = [], 0.0
        for part in parts:
            moved[part.video_id] = (video_id, offset)
            segments += [Segment(s.text, s.start + offset, s.duration) for s in part.segments]
            offset += max((s.start + s.duration for s in part.segments), default=0.0) + LONG_GAP
        joined.append(
            Transcript(video_id, segments, parts[0].language, parts[0].language_code,
                       parts[0].is_generated, title=f"{channel} (joined)")
        )
    shifted = {
        name: [
            QAItem(item.id, moved[item.video_id][0], item.question,
                   item.start + moved[item.video_id][1], item.end + moved[item.video_id][1],
                   item.answer)
            for item in items
        ]
        for name, items in sets.items()
    }
    return joined, shifted, long_channels


def common_recipe(transcripts: list[Any], sets: dict[str, list[Any]]) -> dict[str, dict[str, Any]]:
    """The usual tutorial pipeline, with times mapped back from character offsets."""
    import chromadb
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from ytqa.embeddings import get_embeddings
    from ytqa.evaluation import score_results
    from ytqa.video import watch_url

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=1000, chunk_overlap=200, add_start_index=True
    )
    documents = []
    for transcript in transcripts:
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
    reports = {}
    for name, items in sets.items():
        results = [store.similarity_search(item.question, k=5) for item in items]
        reports[name] = score_results(items, results)
        reports[name]["results"] = results
    return reports


def ytqa_rows(
    model: str,
    transcripts: list[Any],
    sets: dict[str, list[Any]],
    option_sets: dict[str, dict[str, Any]],
    embeddings: Any,
) -> list[Row]:
    """One index of every transcript; each retriever configuration asks every set."""
    from ytqa import VideoIndex, build_retriever
    from ytqa.evaluation import score_results

    began = time.perf_counter()
    index = VideoIndex(model, in_memory=True, embeddings=embeddings)
    index.add_transcripts(transcripts)
    indexed = time.perf_counter() - began
    rows: list[Row] = []
    try:
        for name, options in option_sets.items():
            began = time.perf_counter()
            retriever = build_retriever(index=index, model=model, k=5, **options)
            reports = {}
            for set_name, items in sets.items():
                results, latencies = [], []
                for item in items:
                    asked = time.perf_counter()
                    results.append(retriever.invoke(item.question))
                    latencies.append(time.perf_counter() - asked)
                reports[set_name] = score_results(items, results)
                reports[set_name]["results"] = results
                reports[set_name]["latencies"] = latencies
            rows.append((name, reports, indexed + time.perf_counter() - began))
            indexed = 0.0
    finally:
        index.close()
    return rows


def model_embeddings(model: str, cache: Path | None) -> Any:
    """The preset's model, behind LangChain's file-backed cache when *cache* is given."""
    if cache is None:
        return None
    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_classic.storage import LocalFileStore

    from ytqa.embeddings import get_embeddings

    return CacheBackedEmbeddings.from_bytes_store(
        get_embeddings(model), LocalFileStore(cache / model), namespace=model,
        key_encoder="sha256",
    )


def print_table(title: str, rows: list[Row], set_names: Sequence[str]) -> None:
    print(f"\n{title}\n")
    print(f"| configuration | set | n | {' | '.join(COLUMNS)} | seconds |")
    print(f"|---|---|---|{'---|' * len(COLUMNS)}---|")
    for name, reports, seconds in rows:
        for set_name in set_names:
            report = reports[set_name]
            cells = " | ".join(f"{report[column]:.3f}" for column in COLUMNS)
            print(f"| {name} | {set_name} | {report['n']} | {cells} | {seconds:.0f} |")


def print_channels(
    rows: list[Row], sets: dict[str, list[Any]], channel: Callable[[str], str]
) -> None:
    """hit@1 / hit@5 / land@1 per channel, one column per configuration."""
    from ytqa.evaluation import score_results

    print(f"\n| channel | n | {' | '.join(name for name, _, _ in rows)} |")
    print(f"|---|---|{'---|' * len(rows)}")
    for set_name, items in sets.items():
        groups: dict[str, list[int]] = {}
        for position, item in enumerate(items):
            groups.setdefault(channel(item.video_id), []).append(position)
        for name, positions in groups.items():
            cells = []
            for _, reports, _ in rows:
                results = reports[set_name]["results"]
                part = score_results([items[i] for i in positions], [results[i] for i in positions])
                cells.append(f"{part['hit@1']:.2f} / {part['hit@5']:.2f} / {part['land@1']:.2f}")
            print(f"| {name} ({set_name}) | {len(positions)} | {' | '.join(cells)} |")


def print_targets(rows: list[Row], set_names: Sequence[str], slack: float) -> None:
    for name, reports, _ in rows:
        if not name.startswith("ytqa") or "," in name:
            continue
        for set_name in set_names:
            report = reports[set_name]
            checks = ", ".join(
                f"{c} {report[c]:.3f} {'>=' if report[c] >= goal - slack - 1e-9 else '<'} "
                f"{goal - slack:.2f}"
                for c, goal in TARGETS.items()
            )
            met = all(report[c] >= goal - slack - 1e-9 for c, goal in TARGETS.items())
            print(f"target, {name} on {set_name}: {checks} -> {'met' if met else 'NOT met'}")


def add_variant_options(parser: argparse.ArgumentParser) -> None:
    """--captions, --long and --cache: which transcripts, and where their vectors are kept."""
    parser.add_argument(
        "--captions", default="manual",
        help="transcript variants, comma-separated: manual (.srt), generated (.en.vtt first)",
    )
    parser.add_argument("--long", action="store_true", help="also the long-video check")
    parser.add_argument("--cache", type=Path, default=None, help="folder for cached chunk vectors")


def main() -> None:
    data = shared_data_dir()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--qa", default=f"{data / 'qa-dev.jsonl'},{data / 'qa-dev-wide.jsonl'}",
        help="QA files, comma-separated (each scored on its own)",
    )
    parser.add_argument("--transcripts", type=Path, default=data / "transcripts")
    parser.add_argument("--models", default="minilm,mpnet", help="ytqa presets, comma-separated")
    add_variant_options(parser)
    parser.add_argument("--no-recipe", action="store_true", help="leave the common recipe out")
    parser.add_argument("--levers", action="store_true", help="also ytqa with one option changed")
    args = parser.parse_args()

    setup_offline()
    scratch_home("quality")

    import torch

    from ytqa.embeddings import is_available_locally
    from ytqa.evaluation import load_qa

    channels = channels_of(data)
    sets = {Path(path).name: load_qa(path) for path in args.qa.split(",")}
    models = [m for m in args.models.split(",") if is_available_locally(m)]
    for missing in sorted(set(args.models.split(",")) - set(models)):
        print(f"{missing}: weights not available offline, skipped")
    option_sets: dict[str, dict[str, Any]] = {"defaults": {}}
    if args.levers:
        option_sets.update(LEVERS)
    variants: list[tuple[str, str]] = [(c, c) for c in args.captions.split(",")]
    if args.long:
        variants.append(("long", "manual"))
    print(
        f"torch threads {torch.get_num_threads()}, load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start"
    )
    for variant, captions in variants:
        transcripts = load_corpus(args.transcripts, captions)
        variant_sets, names = sets, channels
        if variant == "long":
            transcripts, variant_sets, names = long_corpus(transcripts, sets, channels)
        rows: list[Row] = []
        if not args.no_recipe:
            print(f"{variant}: common recipe ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            reports = common_recipe(transcripts, variant_sets)
            rows.append(("common recipe (minilm, 1000/200 chars)", reports,
                         time.perf_counter() - began))
        for model in models:
            print(f"{variant}: ytqa {model} ...", file=sys.stderr, flush=True)
            for name, reports, seconds in ytqa_rows(
                model, transcripts, variant_sets, option_sets,
                model_embeddings(model, args.cache),
            ):
                rows.append((f"ytqa {model}" + ("" if name == "defaults" else f", {name}"),
                             reports, seconds))
        durations = sorted(t.duration for t in transcripts)
        print_table(
            f"## {variant}: {len(transcripts)} videos indexed ({durations[0] / 60:.0f}-"
            f"{durations[-1] / 60:.0f} min), load average {os.getloadavg()[0]:.1f}",
            rows, list(variant_sets),
        )
        print(f"\nper channel ({variant}): hit@1 / hit@5 / land@1")
        print_channels(rows, variant_sets, lambda video_id, names=names: names.get(video_id, "?"))
        print()
        print_targets(rows, list(variant_sets), AUTO_SLACK if variant == "generated" else 0.0)


if __name__ == "__main__":
    main()
