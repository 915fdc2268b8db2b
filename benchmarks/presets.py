"""How fast and how big is each embedding preset? Figures for the README's presets table.

For each preset, in a fresh process (so that memory is its own): load the
model, then add the same real transcripts (the first ``--videos`` of the
shared ``.srt`` files) to a fresh in-memory index ``--repeats`` times —
chunking with the preset's tokenizer, embedding on the CPU, writing to Chroma,
as ``ytqa ingest`` does. Prints, per preset, the median seconds per hour of
video, chunks per hour, model load time, peak memory, and each figure's ratio
to the first preset (the baseline, MiniLM by default).

    python benchmarks/presets.py [--presets minilm,mpnet] [--videos 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from _common import load_transcripts, median, peak_rss_mib, setup_offline


def measure(preset_key: str, videos: int, repeats: int) -> dict[str, Any]:
    """Run in the child process: one preset's figures."""
    setup_offline()
    from ytqa.embeddings import get_embeddings, resolve_device, resolve_preset
    from ytqa.index import VideoIndex

    transcripts = load_transcripts("srt")[:videos]
    hours = sum(t.duration for t in transcripts) / 3600
    rss_before = peak_rss_mib()
    began = time.perf_counter()
    embeddings = get_embeddings(preset_key, device="cpu")
    embeddings.embed_query("warm up")
    load_s = time.perf_counter() - began
    seconds, chunks = [], 0
    for _ in range(repeats):
        with VideoIndex(preset_key, in_memory=True, embeddings=embeddings) as index:
            began = time.perf_counter()
            chunks = sum(index.add(t) for t in transcripts)
            seconds.append(time.perf_counter() - began)
    preset = resolve_preset(preset_key)
    return {
        "preset": preset.key,
        "model": preset.model_name,
        "similarity": preset.similarity,
        "dimension": preset.dimension,
        "device": resolve_device("cpu"),
        "videos": len(transcripts),
        "hours": hours,
        "chunks_per_hour": chunks / hours,
        "runs_s": seconds,
        "s_per_hour": median(seconds) / hours,
        "load_s": load_s,
        "model_rss_mib": peak_rss_mib() - rss_before,
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="minilm,mpnet", help="comma-separated, baseline first")
    parser.add_argument("--videos", type=int, default=3, help="shared .srt transcripts to add")
    parser.add_argument("--repeats", type=int, default=3, help="adds per preset (median taken)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.videos, args.repeats)))
        return
    rows = []
    for key in [k.strip() for k in args.presets.split(",") if k.strip()]:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                key,
                "--videos",
                str(args.videos),
                "--repeats",
                str(args.repeats),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode:
            print(f"{key}: failed\n{done.stderr.strip().splitlines()[-1:]}")
            continue
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if not rows:
        raise SystemExit("no preset could be measured")
    base = rows[0]
    print(
        f"{rows[0]['videos']} videos, {base['hours'] * 60:.1f} min of video, CPU, "
        f"{args.repeats} adds each (median); ratios against {base['preset']}"
    )
    header = (
        f"{'preset':<14}{'sim':>7}{'s/hour':>9}{'ratio':>7}{'chunks/h':>10}"
        f"{'load s':>8}{'load MiB':>11}{'ratio':>7}{'peak MiB':>10}"
    )
    print(header)
    for row in rows:
        print(
            f"{row['preset']:<14}{row['similarity']:>7}{row['s_per_hour']:>9.1f}"
            f"{row['s_per_hour'] / base['s_per_hour']:>7.2f}{row['chunks_per_hour']:>10.0f}"
            f"{row['load_s']:>8.1f}{row['model_rss_mib']:>11.0f}"
            f"{row['model_rss_mib'] / max(base['model_rss_mib'], 1):>7.2f}"
            f"{row['peak_rss_mib']:>10.0f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
