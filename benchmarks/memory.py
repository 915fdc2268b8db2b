"""Peak memory while indexing growing amounts of transcript, against Chroma alone.

    python benchmarks/memory.py                       # 3 h real, then 10, 30, 100 h
    python benchmarks/memory.py --hours 10,30 --real-hours 1

Each run is a fresh subprocess (so ``ru_maxrss`` is that run's own peak) that
adds the shared ``.srt`` transcripts, repeated under new video IDs until the
hours are reached, to a fresh persistent index, in four quarters:

* ``ytqa real``: loads MiniLM and adds with ``VideoIndex.add_many``, embedding
  every chunk (``CacheBackedEmbeddings`` over the model, with a file store that
  this run fills);
* ``ytqa cached``: the same, but each chunk's vector comes from that file store
  (the copies' texts are the same), so that 100 hours build in minutes on 2
  cores; the model is loaded as in a real add, only its compute is skipped;
* ``chroma alone`` (the baseline): no model and no ytqa index, just a Chroma
  collection made like ytqa's, into which the same chunks (same texts, row
  metadata and cached vectors) are upserted video by video, in batches of
  ``DEFAULT_WRITE_BATCH``. What this run's peak grows by is the memory that
  holding the index costs Chroma itself (its HNSW graph and vectors are in memory).

Printed per run: the peak RSS once everything is loaded and the index open, the
peak after each quarter, and the growth. Then, per size, ``ytqa beyond`` is the
final peak of ytqa less Chroma alone's (the model, torch, ytqa's own buffers),
and how it changes from the smallest to the largest size: what ytqa holds beyond
the index (target: flat, not growing with the corpus).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import load_transcripts, peak_rss_mib, repeated_transcripts, setup_offline

QUARTERS = ("0.25", "0.50", "0.75", "1.00")


class _NoModel:
    """The embeddings of the baseline run: every vector must come from the file store."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        raise SystemExit("chroma alone: a vector is missing from the store; run 'real' first")

    def embed_query(self, text: str) -> list[float]:
        raise SystemExit("chroma alone: no queries")


def child(hours: float, cache: Path, model: str, kind: str) -> None:
    setup_offline()
    scratch = Path(tempfile.mkdtemp(prefix="ytqa-bench-memory-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    os.environ["YTQA_HOME"] = str(scratch / "home")

    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_classic.storage import LocalFileStore

    from ytqa.embeddings import get_embeddings, resolve_preset

    transcripts = load_transcripts("srt")
    inner: Any = _NoModel() if kind == "chroma alone" else get_embeddings(model)
    embeddings = CacheBackedEmbeddings.from_bytes_store(
        inner, LocalFileStore(cache), namespace=model, key_encoder="sha256"
    )
    # Which videos to add, decided up front so that the quarters are known.
    plan, total = [], 0.0
    for transcript in repeated_transcripts(transcripts):
        if total >= hours * 3600:
            break
        plan.append(transcript)
        total += transcript.duration
    bounds = [round(len(plan) * float(share)) for share in QUARTERS]
    quarters = [plan[a:b] for a, b in zip([0, *bounds], bounds, strict=False)]
    if kind == "chroma alone":
        add, dimension = _chroma_alone(resolve_preset(model), scratch / "index", embeddings)
    else:
        from ytqa import VideoIndex

        index = VideoIndex(model, persist_directory=scratch / "index", embeddings=embeddings)
        dimension = index.preset.dimension

        def add(videos: list[Any]) -> int:
            report = index.add_many(videos)
            assert report.ok, report.to_dict()
            return sum(added.chunks for added in report.added)

    ready = peak_rss_mib()
    peaks: dict[str, float] = {}
    chunks = 0
    began = time.perf_counter()
    for share, videos in zip(QUARTERS, quarters, strict=True):
        chunks += add(videos)
        peaks[share] = peak_rss_mib()
    result = {
        "hours": total / 3600,
        "videos": len(plan),
        "chunks": chunks,
        "ready": ready,
        "peaks": peaks,
        "vectors_mib": chunks * dimension * 4 / 2**20,
        "seconds": time.perf_counter() - began,
    }
    print("RESULT " + json.dumps(result))


def _chroma_alone(preset: Any, folder: Path, embeddings: Any) -> tuple[Any, int]:
    """An ``add`` that upserts the chunks ytqa would write straight into Chroma."""
    import chromadb

    from ytqa import chunk_transcript
    from ytqa.index import CHUNK_ROW_FIELDS, DEFAULT_WRITE_BATCH

    client = chromadb.PersistentClient(path=str(folder))
    collection = client.create_collection(
        "chroma-alone",
        configuration={"hnsw": {"space": preset.chroma_space}},
        embedding_function=None,
    )

    def add(videos: list[Any]) -> int:
        written = 0
        for transcript in videos:
            docs = chunk_transcript(transcript, model=preset)
            for start in range(0, len(docs), DEFAULT_WRITE_BATCH):
                batch = docs[start : start + DEFAULT_WRITE_BATCH]
                texts = [doc.page_content for doc in batch]
                collection.upsert(
                    ids=[f"{d.metadata['video_id']}:{d.metadata['chunk_index']}" for d in batch],
                    embeddings=embeddings.embed_documents(texts),
                    documents=texts,
                    metadatas=[
                        {key: doc.metadata[key] for key in CHUNK_ROW_FIELDS} for doc in batch
                    ],
                )
            written += len(docs)
        return written

    return add, preset.dimension


def run_child(hours: float, cache: Path, model: str, kind: str) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--hours",
        str(hours),
        "--cache",
        str(cache),
        "--model",
        model,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{kind} run of {hours} h failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="10,30,100", help="cached-vector runs, hours")
    parser.add_argument("--real-hours", type=float, default=3.0, help="the real-MiniLM run")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(float(args.hours), args.cache, args.model, args.child)
        return

    cache = Path(tempfile.mkdtemp(prefix="ytqa-bench-vectors-"))
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    runs = [("ytqa real", args.real_hours)]
    for hours in (float(h) for h in args.hours.split(",")):
        runs += [("ytqa cached", hours), ("chroma alone", hours)]
    print(
        f"memory: preset {args.model}, persistent index, one fresh process per run, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "| run | hours | videos | chunks | peak ready MiB | @25 % | @50 % | @75 % | @100 % "
        "| growth MiB | vectors MiB | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    final: dict[tuple[str, float], float] = {}
    for kind, hours in runs:
        result = run_child(hours, cache, args.model, kind)
        ready = float(result["ready"])
        values = [float(result["peaks"][key]) for key in QUARTERS]
        final[kind, hours] = values[-1]
        print(
            f"| {kind} | {result['hours']:.1f} | {result['videos']} | {result['chunks']} | "
            f"{ready:.0f} | " + " | ".join(f"{v:.0f}" for v in values) + " | "
            f"{values[-1] - ready:+.0f} | {result['vectors_mib']:.0f} | "
            f"{result['seconds']:.0f} |",
            flush=True,
        )
    sizes = sorted({hours for kind, hours in final if kind == "chroma alone"})
    print()
    print("ytqa beyond Chroma alone: peak at the end, ytqa cached minus chroma alone")
    for hours in sizes:
        ytqa, alone = final["ytqa cached", hours], final["chroma alone", hours]
        print(
            f"  {hours:5.0f} h: ytqa {ytqa:4.0f} MiB, chroma alone {alone:4.0f} MiB, "
            f"ytqa beyond {ytqa - alone:+4.0f} MiB"
        )
    if len(sizes) > 1:
        first, last = sizes[0], sizes[-1]
        ytqa = final["ytqa cached", last] - final["ytqa cached", first]
        alone = final["chroma alone", last] - final["chroma alone", first]
        print(
            f"  {first:.0f} h -> {last:.0f} h: ytqa {ytqa:+.0f} MiB, "
            f"chroma alone {alone:+.0f} MiB, ytqa beyond {ytqa - alone:+.0f} MiB "
            f"({(ytqa - alone) / final['ytqa cached', last] * 100:+.1f} % of ytqa's peak; "
            "target: flat)"
        )


if __name__ == "__main__":
    main()
