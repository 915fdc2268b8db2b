"""Peak memory while indexing growing amounts of transcript: does RSS stay flat?

    python benchmarks/memory.py                       # 3 h real, then 10, 30, 100 h
    python benchmarks/memory.py --hours 10,30 --real-hours 1

Each size runs in a fresh subprocess (so ``ru_maxrss`` is that run's own peak)
that loads the MiniLM model, opens a fresh persistent ytqa index and adds the
shared ``.srt`` transcripts one video at a time (``VideoIndex.add``), repeated
under new video IDs until the hours are reached. ytqa embeds and writes each
video in batches of ``DEFAULT_WRITE_BATCH`` chunks, so what it holds should not
grow with the corpus; Chroma's HNSW index, which lives in memory, does.

* ``real``: the first run embeds every chunk with MiniLM
  (``CacheBackedEmbeddings`` over the model, with a file store that it fills);
* ``cached``: the larger runs load the same model but take each chunk's vector
  from that file store (the copies' texts are the same), so that 100 hours
  build in minutes on 2 cores. Only the model's compute is skipped; its weights
  are in memory as in a real add.

Printed per run: the peak RSS once the model is loaded and the index open, the peak
after a quarter, half and all of the videos, and the size of the vectors
written (chunks x dimension x 4 bytes) for scale.
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

from _common import load_transcripts, peak_rss_mib, repeated_transcripts, setup_offline


def child(hours: float, cache: Path, model: str) -> None:
    setup_offline()
    scratch = Path(tempfile.mkdtemp(prefix="ytqa-bench-memory-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    os.environ["YTQA_HOME"] = str(scratch / "home")

    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_classic.storage import LocalFileStore

    from ytqa import VideoIndex
    from ytqa.models import get_embeddings

    transcripts = load_transcripts("srt")
    embeddings = CacheBackedEmbeddings.from_bytes_store(
        get_embeddings(model), LocalFileStore(cache), namespace=model, key_encoder="sha256"
    )
    index = VideoIndex(model, persist_directory=scratch / "index", embeddings=embeddings)
    # Which videos to add, decided up front so that the quarter marks are known.
    plan, total = [], 0.0
    for transcript in repeated_transcripts(transcripts):
        if total >= hours * 3600:
            break
        plan.append(transcript)
        total += transcript.duration
    marks = {max(1, round(len(plan) * share)): share for share in (0.25, 0.5, 1.0)}
    ready = peak_rss_mib()
    peaks: dict[str, float] = {}
    chunks = 0
    began = time.perf_counter()
    for number, transcript in enumerate(plan, start=1):
        chunks += index.add(transcript)
        if number in marks:
            peaks[f"{marks[number]:.2f}"] = peak_rss_mib()
    seconds = time.perf_counter() - began
    result = {
        "hours": total / 3600,
        "videos": len(plan),
        "chunks": chunks,
        "ready": ready,
        "peaks": peaks,
        "vectors_mib": chunks * index.preset.dimension * 4 / 2**20,
        "seconds": seconds,
    }
    print("RESULT " + json.dumps(result))


def run_child(hours: float, cache: Path, model: str) -> dict[str, object]:
    command = [
        sys.executable,
        __file__,
        "--child",
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
        raise SystemExit(f"run of {hours} h failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(lines[-1][len("RESULT ") :])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="10,30,100", help="cached-vector runs, hours")
    parser.add_argument("--real-hours", type=float, default=3.0, help="the real-MiniLM run")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(float(args.hours), args.cache, args.model)
        return

    cache = Path(tempfile.mkdtemp(prefix="ytqa-bench-vectors-"))
    atexit.register(shutil.rmtree, cache, ignore_errors=True)
    runs = [("real", args.real_hours)] + [("cached", float(h)) for h in args.hours.split(",")]
    print(
        f"memory: preset {args.model}, persistent index, one fresh process per run, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "| embeddings | hours | videos | chunks | peak ready MiB | peak @25 % | @50 % | @100 % "
        "| growth MiB | vectors MiB | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind, hours in runs:
        result = run_child(hours, cache, args.model)
        peaks = result["peaks"]
        assert isinstance(peaks, dict)
        ready = float(result["ready"])  # type: ignore[arg-type]
        values = [float(peaks[key]) for key in ("0.25", "0.50", "1.00")]
        print(
            f"| {kind} | {result['hours']:.1f} | {result['videos']} | {result['chunks']} | "
            f"{ready:.0f} | {values[0]:.0f} | {values[1]:.0f} | {values[2]:.0f} | "
            f"{values[2] - ready:+.0f} | {result['vectors_mib']:.0f} | "
            f"{result['seconds']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
