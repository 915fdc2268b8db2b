"""Ingest speed: ytqa's add against the raw model, and the re-add no-op.

    python benchmarks/ingest.py                 # MiniLM, the shared .srt transcripts
    python benchmarks/ingest.py --model mpnet --repeats 3

Prints, in one run, for the shared transcripts:

* ``raw encode``: ``SentenceTransformer.encode`` alone on the same chunk texts,
  with the same batch size and normalisation (the same loaded model);
* ``ytqa add``: ``VideoIndex.add_many`` into a fresh persistent index
  (chunking, embedding, Chroma writes, manifest, transcript cache);
* ``chroma writes``: the same chunks and vectors upserted alone, per video and
  batch as ytqa writes them (Chroma's own cost, inside the overhead);
* ``manifest writes``: the manifest upserts that make each add all or nothing,
  alone, as ``add_many`` writes them: one per video (its ``ready`` record with
  the next video's ``pending`` one) and the first video's ``pending`` mark;
* the overhead of ytqa over the raw model (target: at most 10 %);
* ``re-add``: the same ``add_many`` again, a no-op (target: under 2 % of the add);
* peak resident memory after loading the model, and after the adds.

Medians over ``--repeats`` runs, raw and ytqa interleaved so that both see the
same machine load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import load_transcripts, median, peak_rss_mib, setup_offline, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", help="preset (default: minilm)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="model batch size")
    parser.add_argument("--kind", default="srt", choices=["srt", "vtt", "all"])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--max-tokens", type=int, default=None, help="chunk size (default: ytqa's)")
    parser.add_argument("--overlap-tokens", type=int, default=None)
    args = parser.parse_args()

    setup_offline()
    scratch = Path(tempfile.mkdtemp(prefix="ytqa-bench-ingest-"))
    os.environ["YTQA_HOME"] = str(scratch / "home")  # keep the user's cache untouched

    import torch

    from ytqa import VideoIndex, chunk_transcript, get_embeddings
    from ytqa.models import resolve_device, resolve_preset

    if args.threads:
        torch.set_num_threads(args.threads)
    preset = resolve_preset(args.model)
    transcripts = load_transcripts(args.kind)
    embeddings = get_embeddings(preset, batch_size=args.batch_size)
    model = embeddings._client  # the SentenceTransformer ytqa loaded

    # The chunks ytqa will embed, made with the settings a fresh index uses.
    probe = VideoIndex(preset, in_memory=True, embeddings=embeddings)
    settings = probe.chunking._asdict()
    probe.close()
    if args.max_tokens is not None:
        settings = {"max_tokens": args.max_tokens, "overlap_tokens": args.overlap_tokens}
    chunks = [chunk_transcript(t, model=preset, **settings) for t in transcripts]
    settings = {k: v for k, v in settings.items() if v is not None}
    texts = [doc.page_content for video in chunks for doc in video]
    model.encode(texts[: args.batch_size * 2], batch_size=args.batch_size)  # warm up
    rss_model = peak_rss_mib()

    raw_times, write_times, manifest_times, add_times, readd_times = [], [], [], [], []
    for run in range(args.repeats):
        seconds, vectors = timed(
            model.encode,
            texts,
            batch_size=args.batch_size,
            normalize_embeddings=preset.normalize,
        )
        raw_times.append(seconds)
        floor = _chroma_writes(preset, scratch / f"floor-{run}", chunks, vectors)
        write_times.append(floor[0])
        manifest_times.append(floor[1])
        index = VideoIndex(
            preset, persist_directory=scratch / f"index-{run}", embeddings=embeddings
        )
        seconds, report = timed(index.add_many, transcripts, **settings)
        assert report.ok and sum(a.chunks for a in report.added) == len(texts), report.to_dict()
        add_times.append(seconds)
        seconds, report = timed(index.add_many, transcripts, **settings)
        assert not report.added and len(report.skipped) == len(transcripts)
        readd_times.append(seconds)

    raw, writes, add = median(raw_times), median(write_times), median(add_times)
    manifest = median(manifest_times)
    readd = median(readd_times)
    overhead = (add - raw) / raw * 100
    chunking = probe.chunking if args.max_tokens is None else settings
    print(
        f"ingest: {len(transcripts)} transcripts ({args.kind}), {len(texts)} chunks "
        f"({chunking}), preset {preset.key}, device {resolve_device('auto')}, "
        f"torch threads {torch.get_num_threads()}, batch {args.batch_size}, "
        f"medians of {args.repeats}"
    )
    print(f"  raw encode      {raw:8.2f} s   {len(texts) / raw:7.0f} chunks/s")
    print(
        f"  chroma writes   {writes:8.2f} s   "
        f"(the same upserts alone: {writes / raw * 100:.1f} % of raw)"
    )
    print(
        f"  manifest writes {manifest:8.2f} s   "
        f"({len(chunks) + 1} upserts alone: {manifest / raw * 100:.1f} % of raw)"
    )
    print(f"  ytqa add        {add:8.2f} s   {len(texts) / add:7.0f} chunks/s")
    verdict = "ok" if overhead <= 10 else "OVER TARGET"
    print(f"  overhead        {overhead:+8.1f} %   (target <= 10 %: {verdict})")
    own = (add - raw - writes - manifest) / raw * 100
    print(f"  without writes  {own:+8.1f} %   (overhead beyond the chunk and manifest writes)")
    share = readd / add * 100
    verdict = "ok" if share < 2 else "OVER TARGET"
    print(f"  re-add (no-op)  {readd:8.3f} s   {share:.2f} % of the add (target < 2 %: {verdict})")
    print(
        f"  peak RSS        {rss_model:8.0f} MiB after loading, {peak_rss_mib():.0f} MiB after adds"
    )
    print(
        f"  runs: raw {_list(raw_times)}  writes {_list(write_times)}  "
        f"manifest {_list(manifest_times)}  add {_list(add_times)}  re-add {_list(readd_times)}"
    )


def _chroma_writes(
    preset: Any, folder: Path, chunks: list[list[Any]], vectors: Any
) -> tuple[float, float]:
    """Seconds to upsert the chunks and vectors alone, per video and batch as ytqa does,
    and seconds for the manifest upserts as ``add_many`` writes them."""
    from ytqa import VideoIndex
    from ytqa.store import MANIFEST_SUFFIX

    index = VideoIndex(preset, persist_directory=folder)  # the collection, as ytqa makes it
    collection = index.client.get_collection(index.collection_name)
    batch = index._write_batch()
    position = 0
    began = time.perf_counter()
    for video in chunks:
        for start in range(0, len(video), batch):
            docs = video[start : start + batch]
            collection.upsert(
                ids=[f"{d.metadata['video_id']}:{d.metadata['chunk_index']}" for d in docs],
                embeddings=vectors[position : position + len(docs)],
                documents=[d.page_content for d in docs],
                metadatas=[d.metadata for d in docs],
            )
            position += len(docs)
    chunk_seconds = time.perf_counter() - began
    manifest = index.client.get_collection(index.collection_name + MANIFEST_SUFFIX)
    began = time.perf_counter()
    videos = [video[0].metadata["video_id"] for video in chunks]
    marks = [[(videos[0], "pending")]]
    for done, following in zip(videos, [*videos[1:], None], strict=True):
        marks.append([(done, "ready")] + ([(following, "pending")] if following else []))
    for records in marks:
        manifest.upsert(
            ids=[video_id for video_id, _ in records],
            embeddings=[[0.0]] * len(records),
            metadatas=[{"video_id": video_id, "state": state} for video_id, state in records],
        )
    return chunk_seconds, time.perf_counter() - began


def _list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    main()
