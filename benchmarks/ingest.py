"""Ingest speed: ytqa's add against the raw model, and the re-add no-op.

    python benchmarks/ingest.py                 # MiniLM, the shared .srt transcripts
    python benchmarks/ingest.py --model mpnet --repeats 3

Prints, in one run, for the shared transcripts:

* ``raw encode``: ``SentenceTransformer.encode`` alone on the same chunk texts,
  with the same batch size and normalisation (the same loaded model);
* ``ytqa add``: ``VideoIndex.add_many`` into a fresh persistent index
  (chunking, embedding, Chroma writes, manifest, transcript cache);
* ``chroma writes``: the chunk upserts of an add (recorded from a warm-up add),
  replayed alone into a fresh collection: Chroma's own cost, inside the overhead;
* ``manifest writes``: the manifest upserts of that add (the pending marks and
  the commits that make each video all or nothing), replayed alone;
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
    from ytqa.embeddings import resolve_device, resolve_preset

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
    recorded = _record_writes(preset, scratch / "recorded", embeddings, transcripts, settings)

    raw_times, write_times, manifest_times, add_times, readd_times = [], [], [], [], []
    for run in range(args.repeats):
        seconds, _ = timed(
            model.encode,
            texts,
            batch_size=args.batch_size,
            normalize_embeddings=preset.normalize,
        )
        raw_times.append(seconds)
        chunk_seconds, manifest_seconds = _replay(preset, scratch / f"replay-{run}", recorded)
        write_times.append(chunk_seconds)
        manifest_times.append(manifest_seconds)
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
        f"({len(recorded[0])} upserts alone: {writes / raw * 100:.1f} % of raw)"
    )
    print(
        f"  manifest writes {manifest:8.2f} s   "
        f"({len(recorded[1])} upserts alone: {manifest / raw * 100:.1f} % of raw)"
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


Writes = tuple[list[dict[str, Any]], list[dict[str, Any]]]


def _record_writes(
    preset: Any, folder: Path, embeddings: Any, transcripts: list[Any], settings: dict[str, Any]
) -> Writes:
    """The chunk and manifest upserts (their arguments) of one ``add_many``."""
    from chromadb.api.models.Collection import Collection

    from ytqa import VideoIndex
    from ytqa.index import MANIFEST_SUFFIX

    chunk_writes: list[dict[str, Any]] = []
    manifest_writes: list[dict[str, Any]] = []
    real_upsert = Collection.upsert

    def recording_upsert(self: Any, **kwargs: Any) -> Any:
        (manifest_writes if self.name.endswith(MANIFEST_SUFFIX) else chunk_writes).append(kwargs)
        return real_upsert(self, **kwargs)

    Collection.upsert = recording_upsert  # type: ignore[method-assign]
    try:
        index = VideoIndex(preset, persist_directory=folder, embeddings=embeddings)
        assert index.add_many(transcripts, **settings).ok
    finally:
        Collection.upsert = real_upsert  # type: ignore[method-assign]
    return chunk_writes, manifest_writes


def _replay(preset: Any, folder: Path, writes: Writes) -> tuple[float, float]:
    """Seconds to make the recorded chunk upserts alone, and the manifest upserts
    alone, into fresh collections made as ytqa makes them."""
    from ytqa import VideoIndex
    from ytqa.index import MANIFEST_SUFFIX

    index = VideoIndex(preset, persist_directory=folder)
    seconds = []
    for name, calls in zip(
        (index.collection_name, index.collection_name + MANIFEST_SUFFIX), writes, strict=True
    ):
        collection = index.client.get_collection(name)
        began = time.perf_counter()
        for kwargs in calls:
            collection.upsert(**kwargs)
        seconds.append(time.perf_counter() - began)
    return seconds[0], seconds[1]


def _list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"


if __name__ == "__main__":
    main()
