"""Carrying videos between embedding presets, from the transcript cache.

Each preset's index keeps a manifest (``ytqa-<preset>-videos``) with one
record per video: ID, source, language, chunk count. Together, the manifests
of a Chroma client list every video indexed there, whatever the preset; and
every indexed transcript is in the ytqa cache (``VideoIndex`` saves it there).
:func:`sync_index` embeds, with one preset, the videos that other presets hold
and it lacks, reading their transcripts from the cache: no HTTP request.
Only ``ready`` records count: a video removed from an index (its ``removed``
record) is known from none of them, and is never carried back into it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ytqa.embeddings import EmbeddingPreset, resolve_preset
from ytqa.errors import TranscriptCacheMissError, VideoIndexError, YtqaError
from ytqa.index import _manifest as manifest
from ytqa.index._client import default_collection_name, embedded_folder
from ytqa.index._failures import index_failure, is_chroma_failure
from ytqa.index._report import FailedSource, IngestReport, ProgressCallback, SkippedVideo
from ytqa.transcripts import cached_transcripts, load_transcript, video_cache_dir

if TYPE_CHECKING:  # pragma: no cover - types only
    from ytqa.index.video_index import VideoIndex
    from ytqa.transcripts import Transcript

__all__ = ["KnownVideo", "cached_transcript", "known_videos", "sync_index", "videos_elsewhere"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownVideo:
    """A video that some preset's index holds completely."""

    video_id: str
    record: dict[str, Any]
    """Its manifest record in the index it was added to last (source, language, ...)."""
    collections: tuple[str, ...]
    """Chunk collections that hold it."""
    presets: tuple[str, ...]
    """Preset keys of those collections (collection names for custom ones), in order."""
    transcripts: tuple[str, ...]
    """The transcript each of them holds (:func:`ytqa.index.transcript_kind`), in order."""


def known_videos(client: Any, *, collection: str | None = None) -> dict[str, KnownVideo]:
    """Every video held by an index of *client* (only *collection*'s when given), by ID."""
    try:
        listed = list(client.list_collections())
        metadata = {c.name: dict(c.metadata or {}) for c in listed}
        manifests = []
        for name, meta in sorted(metadata.items()):
            of = manifest.manifest_of(name, meta)
            if of is None or (collection and of != collection):
                continue
            key = str(metadata.get(of, {}).get("ytqa_preset") or of)
            # A preset's own collection is named by its key; others by their name.
            preset = key if of == f"ytqa-{key}" else of
            found = manifest.records_in(client.get_collection(name), manifest.READY)
            manifests.append((of, preset, found))
    except BaseException as exc:  # Chroma's Rust panics are BaseExceptions
        if not isinstance(exc, Exception) and not is_chroma_failure(exc):
            raise
        folder = embedded_folder(client)
        where = f"the index in {folder}" if folder is not None else "the Chroma client"
        raise index_failure(
            "list the indexes", exc, location=where, client=client, collection=None
        ) from exc
    videos: dict[str, KnownVideo] = {}
    for of, preset, records in manifests:
        for raw in records:
            record = dict(raw)
            video_id = manifest.video_id_of(record)
            kind = manifest.record_kind(record)
            seen = videos.get(video_id)
            if seen is None:
                videos[video_id] = KnownVideo(video_id, record, (of,), (preset,), (kind,))
                continue
            # The latest add is the transcript the user wants carried over.
            latest = (
                record if manifest.added_at(record) > manifest.added_at(seen.record)
                else seen.record
            )
            videos[video_id] = KnownVideo(
                video_id,
                latest,
                (*seen.collections, of),
                (*seen.presets, preset),
                (*seen.transcripts, kind),
            )
    return videos


def cached_transcript(record: dict[str, Any]) -> Transcript:
    """The transcript a manifest *record* was indexed from, read from the cache.

    The newest cache entry of the same language, kind and source wins. A
    transcript file that is not in the cache but still exists is read again.

    Raises:
        TranscriptCacheMissError: neither the cache nor the file has it.
    """
    video = manifest.video_record(record)
    video_id, source = video.video_id, video.source or "youtube"
    for transcript in cached_transcripts(video_id):  # newest first
        if (
            transcript.source == source
            and transcript.language_code == video.language
            and transcript.is_generated == video.is_generated
            and transcript.asr_model == video.asr_model
        ):
            return transcript
    if source != "youtube" and Path(source).is_file():
        # A recording is transcribed again with the Whisper model that made the record.
        return load_transcript(source, video_id=video_id, asr_model=video.asr_model)
    raise TranscriptCacheMissError(video_id, video_cache_dir(video_id))


def sync_index(
    index: VideoIndex,
    from_model: str | EmbeddingPreset | os.PathLike[str] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """See :meth:`ytqa.index.VideoIndex.sync`."""
    source = None if from_model is None else default_collection_name(resolve_preset(from_model))
    known = known_videos(index.client, collection=source)
    if source is not None and source != index.collection_name and not known:
        raise VideoIndexError(
            f"The index of {from_model!r} holds no videos here, so there is nothing to carry "
            "over. Leave the source model out to take videos from every preset's index."
        )
    removed = set(index.removed())
    report = IngestReport()
    missing = []
    for video in known.values():
        if video.video_id in removed:
            continue  # the user removed it here: it stays removed
        if index.collection_name in video.collections:
            report.skipped.append(SkippedVideo(video.video_id, manifest.title_of(video.record)))
        else:
            missing.append(video)
    transcripts = []
    for video in missing:
        try:
            transcripts.append(cached_transcript(video.record))
        except YtqaError as error:
            report.failed.append(FailedSource(video.video_id, error))
    if transcripts:
        # Written together, in batches, as any add_many (skipped: made ready
        # meanwhile by another process).
        carried = index.add_transcripts(transcripts, progress=progress)
        report.added.extend(carried.added)
        report.skipped.extend(carried.skipped)
        report.failed.extend(carried.failed)
    for failure in report.failed:
        logger.warning(
            "video %s could not be carried over to %s: %s",
            failure.source,
            index.preset.key,
            failure.error,
        )
    return report


def videos_elsewhere(index: VideoIndex) -> list[str]:
    """IDs of the videos that other indexes of *index*'s client hold and *index* lacks
    (leaving out those removed from it): what :meth:`~ytqa.index.VideoIndex.sync`
    would carry over."""
    held = {record.video_id for record in index.videos()} | set(index.removed())
    return sorted(set(known_videos(index.client)) - held)
