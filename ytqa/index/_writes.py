"""Writing videos into an index, each all or nothing, with several processes about.

A write plans each video (its chunks, their IDs, its pending record), marks a
group of videos pending in one manifest write, deletes chunks of other versions,
embeds and writes the chunks batch by batch (``upsert`` under the client's
``get_max_batch_size()``; chunk IDs are ``video_id:fingerprint:index``, so a
batch written twice is the same batch), and marks the group ready in one
manifest write: the commit point. A group that fails is written again video by
video, so that one failing video does not keep the others out.

Every write holds the embedded folder's file lock (:data:`LOCK_FILE`, with
``filelock``) and ends by giving the collection a new version (its version
file, :data:`VERSION_SUFFIX`), which tells readers in other processes to
reopen the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from langchain_core.documents import Document

from ytqa.chunking import CHUNKER_VERSION, ChunkSettings, chunk_transcript
from ytqa.embeddings import EmbeddingPreset
from ytqa.errors import EmbeddingModelError, VideoIndexError, YtqaError
from ytqa.index import _manifest as manifest
from ytqa.index._report import AddedVideo, FailedSource, IngestReport, SkippedVideo, Tracker
from ytqa.transcripts import Transcript, save_cached

if TYPE_CHECKING:  # pragma: no cover - types only
    from langchain_core.embeddings import Embeddings

    from ytqa.index.video_index import VideoIndex

logger = logging.getLogger(__name__)

DEFAULT_WRITE_BATCH = 256
"""Chunks embedded and written per step: bounds memory during large adds."""

LOCK_FILE = "ytqa-write.lock"
"""In an embedded index's folder: the lock its writers take."""
VERSION_SUFFIX = ".version"
"""A collection's version file is ``<collection>.version`` (``ytqa-minilm.version``)."""


class Plan(NamedTuple):
    """A video to write: its chunks, their IDs, its manifest record (state pending)."""

    transcript: Transcript
    chunks: list[Document]
    ids: list[str]
    record: dict[str, Any]

    @property
    def video_id(self) -> str:
        return self.transcript.video_id

    @property
    def fingerprint(self) -> str:
        return str(manifest.fingerprint_of(self.record))


# ---------------------------------------------------------------------------
# Fingerprints and plans
# ---------------------------------------------------------------------------


def settings_tag(settings: ChunkSettings) -> str:
    return f"{settings.max_tokens}/{settings.overlap_tokens}/v{CHUNKER_VERSION}"


def fingerprint(transcript: Transcript, preset: EmbeddingPreset, settings: ChunkSettings) -> str:
    """What decides a video's chunks and vectors: if it is equal, re-adding is a no-op."""
    payload = json.dumps(
        {
            "transcript": transcript.to_dict(),
            "model": preset.model_name,
            "dimension": preset.dimension,
            "normalize": preset.normalize,
            "settings": settings_tag(settings),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def plan(index: VideoIndex, transcript: Transcript, settings: ChunkSettings) -> Plan | None:
    """What adding *transcript* will write (reads only); None when the index holds it."""
    video_id = transcript.video_id
    planned = fingerprint(transcript, index.preset, settings)
    record = index._record(video_id)
    if manifest.is_ready(record) and manifest.fingerprint_of(record) == planned:
        return None
    chunks = chunk_transcript(
        transcript,
        model=index.preset,
        max_tokens=settings.max_tokens,
        overlap_tokens=settings.overlap_tokens,
    )
    if not chunks:
        raise VideoIndexError(
            f"The transcript of {video_id} has no text to index. Check the transcript "
            "(or its file); ask for another language with languages=[...]."
        )
    ids = [manifest.chunk_id(video_id, planned, i) for i in range(len(chunks))]
    record = manifest.new_record(
        transcript, fingerprint=planned, settings=settings_tag(settings), chunks=len(chunks)
    )
    return Plan(transcript, chunks, ids, record)


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


def write(
    index: VideoIndex,
    items: Iterable[tuple[str, Transcript]],
    settings: ChunkSettings,
    tracker: Tracker,
    report: IngestReport,
) -> None:
    """Write the labelled transcripts of *items* (consumed one at a time), reporting each.

    Videos are gathered until they fill a write batch, so that a batch of chunks,
    and each manifest write, may span videos: per call, Chroma costs several
    milliseconds whatever the size, which short videos would otherwise pay many
    times over.
    """
    group: list[tuple[str, Plan]] = []

    def flush() -> None:
        if group:
            # A model that cannot load would fail each video alike: raise once.
            from ytqa.preset_embeddings import PresetEmbeddings

            embeddings = index.embeddings
            if isinstance(embeddings, PresetEmbeddings):
                embeddings.model  # noqa: B018 - loads sentence-transformers
        write_each(index, group, tracker, report)
        group.clear()

    for label, transcript in items:
        tracker.video(label)
        try:
            planned = plan(index, transcript, settings)
        except EmbeddingModelError:
            raise  # the model is missing for every video alike: say it once
        except YtqaError as error:
            report.failed.append(FailedSource(label, error))
            tracker.video_done()
            continue
        if planned is None:
            report.skipped.append(SkippedVideo(transcript.video_id, transcript.title))
            tracker.video_done()
            continue
        group.append((label, planned))
        if sum(len(p.chunks) for _, p in group) >= index._write_batch():
            flush()
    flush()


def write_each(
    index: VideoIndex, group: Sequence[tuple[str, Plan]], tracker: Tracker, report: IngestReport
) -> None:
    """Write *group*'s videos together, reporting each; if that fails, one by one,
    so that a video that cannot be written does not take the others with it."""
    if not group:
        return
    try:
        written = write_group(index, [p for _, p in group], tracker)
    except YtqaError as error:
        if len(group) == 1:
            report.failed.append(FailedSource(group[0][0], error))
            tracker.video_done()
            return
        for single in group:
            write_each(index, [single], tracker, report)
        return
    for video in written:
        report.added.append(video)
        tracker.video_done()


def write_group(index: VideoIndex, plans: Sequence[Plan], tracker: Tracker) -> list[AddedVideo]:
    """Write the videos of *plans*, each all or nothing, holding the write lock.

    One manifest write marks them pending, their chunks go in batches that
    may span videos, and one manifest write (the commit point) marks them
    all ready. Stopped part-way, every one of them stays pending: hidden,
    and completed by adding it again.
    """
    names = ", ".join(p.video_id for p in plans[:3])
    action = f"write video {names}" + (f" and {len(plans) - 3} more" if len(plans) > 3 else "")
    batch_size = index._write_batch()
    done: set[str] = set()
    video_ids = [p.video_id for p in plans]
    with index._writing():
        collection, records = index._collection, index._manifest
        with index._chroma_errors(action):
            # What the index holds now (another process may have written since the plan).
            before = manifest.read_records(records, video_ids)
            manifest.write_records(records, [p.record for p in plans])
            for p in plans:
                if p.video_id not in before:
                    continue
                # Another version, or a stopped add: drop what cannot be reused.
                collection.delete(where=manifest.other_versions(p.video_id, p.fingerprint))
                for batch in batched(p.ids, batch_size):
                    done.update(collection.get(ids=list(batch), include=[])["ids"])
        todo = [(p, i) for p in plans for i, id_ in enumerate(p.ids) if id_ not in done]
        total = sum(len(p.chunks) for p in plans)
        tracker.chunks(total, completed=total - len(todo))
        embeddings = index.embeddings
        for batch in batched(todo, batch_size):
            texts = [p.chunks[i].page_content for p, i in batch]
            vectors = _embed(index, embeddings, texts)
            with index._chroma_errors(action):
                collection.upsert(
                    ids=[p.ids[i] for p, i in batch],
                    embeddings=vectors,
                    documents=texts,
                    metadatas=[manifest.chunk_row(p.chunks[i].metadata, p.fingerprint)
                               for p, i in batch],
                )
            tracker.advance(len(batch))
        now = time.time()
        with index._chroma_errors(action):
            # The commit point: one manifest write makes every video of the group visible.
            # (A microsecond apart, so that videos() keeps the order they were added in.)
            manifest.write_records(
                records,
                [
                    manifest.with_state(p.record, manifest.READY, added_at=now + position * 1e-6)
                    for position, p in enumerate(plans)
                ],
            )
    for p in plans:
        _cache_quietly(p.transcript)
    return [
        AddedVideo(
            p.video_id,
            p.transcript.title,
            len(p.chunks),
            manifest.transcript_kind(
                p.transcript.source, p.transcript.is_generated, p.transcript.asr_model
            ),
            manifest.replaced_kind(before.get(p.video_id), p.fingerprint),
        )
        for p in plans
    ]


def remove(index: VideoIndex, video_id: str) -> int:
    """Remove *video_id*'s chunks, leaving a tombstone; return how many were deleted."""
    with index._writing(), index._chroma_errors("remove the video"):
        records = index._manifest
        record = manifest.read_record(records, video_id)
        ids = index._collection.get(where={"video_id": video_id}, include=[])["ids"]
        if manifest.is_removed(record) and not ids:
            return 0
        if record is not None:
            # Hide it first: a crash half-way leaves a pending video, never half of one.
            manifest.write_records(records, [manifest.with_state(record, manifest.PENDING)])
        for batch in batched(ids, index._write_batch()):
            index._collection.delete(ids=list(batch))
        manifest.write_records(records, [manifest.tombstone(video_id)])
    return len(ids)


def _embed(index: VideoIndex, embeddings: Embeddings, texts: list[str]) -> Any:
    preset = index.preset
    try:
        vectors = embeddings.embed_documents(texts)
    except YtqaError:
        raise
    except Exception as exc:
        raise EmbeddingModelError(
            f"Embedding with {preset.key!r} failed: {exc}. If the device ran out of "
            "memory, pass a smaller batch_size or device='cpu'."
        ) from exc
    if len(vectors) != len(texts) or any(len(v) != preset.dimension for v in vectors):
        raise EmbeddingModelError(
            f"The embeddings of index {index.collection_name!r} returned vectors that do not "
            f"match preset {preset.key!r} ({preset.dimension} dimensions, one per text)."
        )
    return vectors


def _cache_quietly(transcript: Transcript) -> None:
    """Keep the transcript in the ytqa cache, so that other presets can re-embed it."""
    try:
        save_cached(transcript)
    except (YtqaError, OSError) as exc:
        logger.warning("could not cache the transcript of %s: %s", transcript.video_id, exc)


# ---------------------------------------------------------------------------
# Several processes on one embedded index
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def locked(folder: Path | None) -> Iterator[None]:
    """Hold an embedded index's write lock: writers in other processes wait for it."""
    if folder is None:
        yield
        return
    from filelock import FileLock, Timeout

    lock = FileLock(folder / LOCK_FILE, is_singleton=True)
    try:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            logger.warning(
                "Another process is writing to the index in %s; waiting for it to finish.",
                folder,
            )
            lock.acquire()
    except OSError as exc:
        raise VideoIndexError(
            f"Could not lock the index folder {folder} for writing: {exc}. Check "
            "that the folder is writable."
        ) from exc
    try:
        yield
    finally:
        lock.release()


def version_file(folder: Path, collection: str) -> Path:
    # One per collection: a write to another preset's index needs no reopening here.
    return folder / f"{collection}{VERSION_SUFFIX}"


def read_version(file: Path) -> str | None:
    """The version its writers last left in an index's version *file* (None: none yet)."""
    try:
        return file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None


def new_version(file: Path) -> str | None:
    """Give an index a new version in its version *file* (under the write lock); return it."""
    version = uuid.uuid4().hex
    temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(version, encoding="ascii")
        os.replace(temporary, file)  # atomic: readers see the old version or the new one
    except OSError as exc:
        logger.warning(
            "Could not record a change of the index in %s (%s): searches in other processes "
            "may not see it until they open the index again.",
            file.parent,
            exc,
        )
        return None
    return version
