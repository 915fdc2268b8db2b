"""Searches of a long-lived reader while other processes add videos to the same embedded index.

    python benchmarks/concurrent_reads.py                  # 10k chunks, 3 writes
    python benchmarks/concurrent_reads.py --chunks 2000 --writes 2

A persistent MiniLM index is filled with the shared ``.srt`` transcripts
(repeated under new IDs; ``CacheBackedEmbeddings`` as in ``query_latency.py``,
so each distinct chunk is embedded once) up to ``--chunks``. A retriever (the
one ``build_retriever`` returns) opens it and is warmed; then:

* ``steady``: ``retriever.invoke`` per dev question while nothing writes, and
  the version check alone (``VideoIndex._catch_up`` with nothing changed);
* ``after a write``: a subprocess adds one video (the real ``VideoIndex.add``
  and MiniLM); the reader's next search is timed (it reopens the index, which
  loads the collection's vector index from disk), and a search scoped to the
  new video says whether the reader sees it (``yes``, ``no`` or Chroma's error).

Baseline: the same script run with ytqa before the change (``PYTHONPATH`` at
that checkout): no version check, and the reader never sees the new videos
(a scoped search fails with "Error finding id").
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import (
    REPO_ROOT,
    load_transcripts,
    median,
    peak_rss_mib,
    repeated_transcripts,
    setup_offline,
    shared_data_dir,
)

_WRITER = textwrap.dedent(
    """
    import dataclasses, sys
    from ytqa import VideoIndex
    from ytqa.transcripts import read_transcript_file

    transcript = dataclasses.replace(read_transcript_file(sys.argv[2]), video_id=sys.argv[3])
    VideoIndex(persist_directory=sys.argv[1]).add(transcript)
    """
)


def cached_embeddings(model: str) -> Any:
    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_core.stores import InMemoryByteStore

    from ytqa.embeddings import get_embeddings

    return CacheBackedEmbeddings.from_bytes_store(
        get_embeddings(model), InMemoryByteStore(), namespace=model, key_encoder="sha256"
    )


def ms(function: Any, *args: Any) -> float:
    began = time.perf_counter()
    function(*args)
    return (time.perf_counter() - began) * 1000


def open_files() -> int:
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--writes", type=int, default=3, help="videos added by other processes")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the dev questions")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()

    setup_offline()
    scratch = Path(tempfile.mkdtemp(prefix="ytqa-bench-concurrent-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    os.environ["YTQA_HOME"] = str(scratch / "home")

    import torch

    from ytqa import VideoIndex, build_retriever
    from ytqa.evaluation import load_qa

    torch.set_num_threads(args.threads)
    questions = [item.question for item in load_qa(shared_data_dir() / "qa-dev.jsonl")]
    folder = scratch / "index"
    index = VideoIndex(persist_directory=folder, embeddings=cached_embeddings("minilm"))
    chunks = 0
    source = repeated_transcripts(load_transcripts("srt"))
    while chunks < args.chunks:
        chunks += index.add(next(source))
    retriever = build_retriever(index=index)
    for question in questions[:3]:
        retriever.invoke(question)

    steady = [ms(retriever.invoke, q) for _ in range(args.rounds) for q in questions]
    catch_up = getattr(index, "_catch_up", None)
    check_us = (
        f"{median([ms(catch_up) for _ in range(2000)]) * 1000:.1f} µs"
        if catch_up is not None else "n/a (no version check)"
    )
    print(
        f"concurrent reads: {chunks} chunks, {len(index.videos())} videos, MiniLM, torch threads "
        f"{torch.get_num_threads()}, ytqa from {Path(sys.modules['ytqa'].__file__).parent.parent}"
    )
    print(f"  steady        retriever p50 {median(steady):.1f} ms, min {min(steady):.1f} ms "
          f"({len(steady)} searches); version check alone {check_us}")

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    transcript = shared_data_dir() / "transcripts" / "GqA42M4RtxE.srt"
    first_searches, after = [], []
    for write in range(args.writes):
        new_id = f"concurrent{write}"[:11].ljust(11, "x")
        subprocess.run([sys.executable, "-c", _WRITER, str(folder), str(transcript), new_id],
                       env=env, cwd=REPO_ROOT, check=True, capture_output=True)
        first = ms(retriever.invoke, questions[write % len(questions)])
        try:
            seen = "yes" if retriever.invoke(questions[0], video_ids=[new_id]) else "no"
        except Exception as exc:  # what the reader got before the change
            seen = f"error ({type(exc).__name__}: {str(exc)[:60]})"
        after += [ms(retriever.invoke, q) for q in questions]
        first_searches.append(first)
        print(f"  after write {write + 1}  first search {first:.1f} ms; new video seen: {seen}")
    if after:
        print(f"  after writes  retriever p50 {median(after):.1f} ms, min {min(after):.1f} ms; "
              f"first searches median {median(first_searches):.1f} ms")
    print(f"  peak RSS {peak_rss_mib():.0f} MiB, open files {open_files()} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
