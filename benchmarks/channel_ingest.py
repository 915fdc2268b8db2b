"""Channel ingest speed: videos per minute at several concurrencies, and how long the
embedding side waits for the network.

    python benchmarks/channel_ingest.py                       # 1,000 videos, concurrency 1, 4, 8
    python benchmarks/channel_ingest.py --videos 200 --cues 60 --latency 0.3

A mocked YouTube (``responses``, the recorded pages of ../shared/data/youtube-responses)
serves any number of videos: their captions are the shared transcripts (``.srt``)
reused under new IDs, and each request sleeps ``--latency`` seconds (the network).
A channel of ``--videos`` videos is ingested with ``ytqa.ingest.ingest`` into a fresh
home (no transcript cache) with MiniLM, once per concurrency; the requests are paced
by ``--request-interval`` (ytqa's default unless given).

Prints per concurrency: wall time, videos per minute, chunks, and the **idle share**:
the part of the wall time that the writer (chunking, embedding, Chroma) spent waiting
for the next transcript, i.e. with no work while the network waited (target: under
10 % once concurrency >= 4). Also the machine's load (``uptime``).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from _common import load_transcripts, setup_offline, shared_data_dir


def timedtext(transcript: Any, cues: int | None) -> bytes:
    """*transcript* as YouTube's timedtext XML (the body a caption request answers)."""
    segments = transcript.segments[:cues] if cues else transcript.segments
    lines = [
        f'<text start="{s.start:.3f}" dur="{s.duration:.3f}">{escape(s.text)}</text>'
        for s in segments
    ]
    return ('<?xml version="1.0" encoding="utf-8" ?><transcript>'
            + "".join(lines) + "</transcript>").encode("utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,4,8", help="comma-separated (default 1,4,8)")
    parser.add_argument("--latency", type=float, default=0.3,
                        help="seconds each mocked request takes (default 0.3)")
    parser.add_argument("--request-interval", type=float, default=None,
                        help="seconds between request starts (default: ytqa's default)")
    parser.add_argument("--cues", type=int, default=None,
                        help="keep the first N cues of each transcript (default: all)")
    args = parser.parse_args()
    setup_offline()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    import ytqa.ingest as ingest_module
    from tests.youtube_support import many_videos
    from ytqa.index import VideoIndex
    from ytqa.ingest import FetchOptions, ingest
    from ytqa.transcripts import REQUEST_INTERVAL

    interval = REQUEST_INTERVAL if args.request_interval is None else args.request_interval
    bodies = [timedtext(t, args.cues) for t in load_transcripts("srt")]

    def captions(video_id: str) -> bytes:
        digest = hashlib.sha256(video_id.encode()).digest()
        return bodies[digest[0] % len(bodies)]

    video_ids = [f"ch{number:09d}" for number in range(args.videos)]
    waited = [0.0]
    original = ingest_module._fetched

    def timed_fetched(*a: Any, **k: Any) -> Iterator[Any]:
        # Time spent inside next(): the writer has nothing to embed, the network is waiting.
        inner = original(*a, **k)
        while True:
            start = time.perf_counter()
            try:
                item = next(inner)
            except StopIteration:
                waited[0] += time.perf_counter() - start
                return
            waited[0] += time.perf_counter() - start
            yield item

    ingest_module._fetched = timed_fetched  # type: ignore[assignment]
    print(f"{args.videos} videos, {len(bodies)} shared transcripts reused"
          f"{f' (first {args.cues} cues)' if args.cues else ''}; latency {args.latency} s "
          f"per request, request interval {interval} s, MiniLM")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    # Load the model once, outside the timings.
    with tempfile.TemporaryDirectory() as warm:
        os.environ["YTQA_HOME"] = warm
        VideoIndex("minilm").embeddings.embed_documents(["warm up"])
    print(f"{'concurrency':>11} {'wall s':>8} {'videos/min':>10} {'chunks':>7} {'idle %':>7}")
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            os.environ["YTQA_HOME"] = home
            index = VideoIndex("minilm")
            waited[0] = 0.0
            assets = shared_data_dir() / "youtube-responses"
            with many_videos(assets, latency=args.latency, captions=captions):
                start = time.perf_counter()
                report = ingest(index, video_ids, FetchOptions(
                    concurrency=concurrency, request_interval=interval))
                wall = time.perf_counter() - start
            if not report.ok:
                raise SystemExit(f"the run failed: {report.failed[:1]} {report.stopped}")
            chunks = sum(video.chunks for video in report.added)
            print(f"{concurrency:>11} {wall:>8.1f} {60 * args.videos / wall:>10.1f} "
                  f"{chunks:>7} {100 * waited[0] / wall:>6.1f}%", flush=True)
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
