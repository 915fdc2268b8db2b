"""The manifest: the one module that knows how a video's record is written and read.

Beside each chunk collection (``ytqa-minilm``) lives its manifest
(``ytqa-minilm-videos``, :func:`manifest_name`), a collection with one record per
video, keyed by video ID. A record holds the video's state (:data:`PENDING`,
:data:`READY` or :data:`REMOVED`, a tombstone), the fingerprint of what was
indexed, the chunking tag, the chunk count and the video's own fields
(:data:`VIDEO_FIELDS`, ``source``, ``added_at``). A chunk's Chroma row holds only
the chunk's fields (:data:`CHUNK_ROW_FIELDS`) and the fingerprint of its video's
version (:data:`FINGERPRINT_KEY`), which ties it to the record.

Everything else in ytqa (writes, sync, the doctor) reads and writes records
through the functions here, never by their keys. This module imports no
heavy library: the doctor's child process (:mod:`ytqa.index._probe`) uses it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover - types only
    from langchain_core.documents import Document

    from ytqa.transcripts import Transcript

__all__ = [
    "CHUNK_ROW_FIELDS",
    "FINGERPRINT_KEY",
    "MANIFEST_SUFFIX",
    "PENDING",
    "READY",
    "REMOVED",
    "VIDEO_FIELDS",
    "VideoRecord",
    "chunk_id",
    "chunk_key",
    "transcript_kind",
]

MANIFEST_SUFFIX = "-videos"
"""A chunk collection's manifest is named ``<collection>-videos``."""
SCHEMA = 1

State = Literal["pending", "ready", "removed"]
PENDING: State = "pending"
"""Being added, or an add that stopped part-way: hidden from searches."""
READY: State = "ready"
"""Complete: searchable."""
REMOVED: State = "removed"
"""A tombstone: the user removed the video, so a sync must not bring it back."""

CHUNK_ROW_FIELDS = ("video_id", "start", "end", "chunk_index", "url")
"""Chunk metadata kept in each chunk's Chroma row.

The fields of its video (:data:`VIDEO_FIELDS`) are kept once, in the manifest,
and attached by the retrievers: every metadata key of a row costs Chroma time
on each write (see ``docs/performance.md``)."""

VIDEO_FIELDS = ("title", "channel", "language", "is_generated", "captions", "asr_model")
"""Chunk metadata kept per video, in the manifest (see ``VideoIndex.attach_video_metadata``)."""

FINGERPRINT_KEY = "ytqa_fingerprint"
"""The key of a chunk row that names the version of its video it belongs to."""

_MANIFEST_OF = "ytqa_manifest_of"
_STATE = "state"


# ---------------------------------------------------------------------------
# Collections
# ---------------------------------------------------------------------------


def manifest_name(collection: str) -> str:
    """The name of chunk collection *collection*'s manifest."""
    return collection + MANIFEST_SUFFIX


def manifest_metadata(collection: str) -> dict[str, Any]:
    """What the manifest of chunk collection *collection* records about itself."""
    return {_MANIFEST_OF: collection, "ytqa_schema": SCHEMA}


def manifest_of(name: str, metadata: Mapping[str, Any] | None) -> str | None:
    """The chunk collection whose manifest collection *name* (with *metadata*) is; None
    when it is not a manifest."""
    of = (metadata or {}).get(_MANIFEST_OF)
    return str(of) if of and name == manifest_name(str(of)) else None


def is_manifest(metadata: Mapping[str, Any] | None) -> bool:
    """Whether a collection's *metadata* says it is a manifest (whatever its name)."""
    return bool((metadata or {}).get(_MANIFEST_OF))


def declared_manifest_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The chunk collection a manifest's *metadata* names (None: not a manifest)."""
    of = (metadata or {}).get(_MANIFEST_OF)
    return str(of) if of else None


# ---------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------


def state_of(record: Mapping[str, Any] | None) -> str | None:
    """The state of *record* (None: no record)."""
    return None if record is None else record.get(_STATE)


def is_ready(record: Mapping[str, Any] | None) -> bool:
    return state_of(record) == READY


def is_pending(record: Mapping[str, Any] | None) -> bool:
    return state_of(record) == PENDING


def is_removed(record: Mapping[str, Any] | None) -> bool:
    return state_of(record) == REMOVED


def fingerprint_of(record: Mapping[str, Any] | None) -> str | None:
    """The fingerprint of the version *record* describes."""
    return None if record is None else record.get("fingerprint")


def settings_of(record: Mapping[str, Any]) -> Any:
    """The chunking tag *record* was indexed with (``"256/32/v3"``)."""
    return record.get("settings")


def chunks_of(record: Mapping[str, Any]) -> Any:
    """The chunk count *record* promises."""
    return record.get("chunks")


def source_of(record: Mapping[str, Any]) -> str:
    """Where *record*'s transcript came from: ``"youtube"`` or a file's path."""
    return str(record.get("source") or "youtube")


def has_fields(record: Mapping[str, Any]) -> bool:
    """Whether *record* holds the video's fields (not a :func:`bare_record`)."""
    return "language" in record


def video_id_of(record: Mapping[str, Any]) -> str:
    return str(record["video_id"])


def added_at(record: Mapping[str, Any]) -> float:
    return float(record.get("added_at") or 0.0)


def new_record(
    transcript: Transcript, *, fingerprint: str, settings: str, chunks: int
) -> dict[str, Any]:
    """The pending record of a version of *transcript*'s video about to be written."""
    return {
        "video_id": transcript.video_id,
        _STATE: PENDING,
        "fingerprint": fingerprint,
        "settings": settings,
        "chunks": chunks,
        "title": transcript.title or "",
        "channel": transcript.channel or "",
        "language": transcript.language_code,
        "is_generated": bool(transcript.is_generated),
        "captions": transcript.captions,
        "asr_model": transcript.asr_model or "",
        "source": transcript.source,
        "added_at": time.time(),
    }


def bare_record(video_id: str, state: State = READY) -> dict[str, Any]:
    """A record with nothing but its video and state (the doctor's stand-in for a lost one)."""
    return {"video_id": video_id, _STATE: state}


def with_state(record: Mapping[str, Any], state: State, **fields: Any) -> dict[str, Any]:
    """*record* in *state* (with *fields* changed)."""
    return {**record, _STATE: state, **fields}


def tombstone(video_id: str) -> dict[str, Any]:
    """The record a removed video leaves: no chunks, never carried back by a sync."""
    return {"video_id": video_id, _STATE: REMOVED, "chunks": 0, "removed_at": time.time()}


def write_records(manifest: Any, records: list[dict[str, Any]]) -> None:
    """Write *records* (keyed by their video) into *manifest*, in one Chroma call."""
    if records:
        manifest.upsert(
            ids=[video_id_of(r) for r in records],
            embeddings=[[0.0]] * len(records),
            metadatas=records,
        )


def read_records(manifest: Any, video_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The records of *video_ids* that *manifest* holds, by video ID."""
    ids = list(video_ids)
    if not ids:
        return {}
    found = manifest.get(ids=ids, include=["metadatas"])
    return {
        video_id: dict(meta or {})
        for video_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
    }


def read_record(manifest: Any, video_id: str) -> dict[str, Any] | None:
    """*video_id*'s record in *manifest*, or None."""
    return read_records(manifest, [video_id]).get(video_id)


def records_in(manifest: Any, state: State) -> list[dict[str, Any]]:
    """Every record of *manifest* in *state*."""
    found = manifest.get(where={_STATE: state}, include=["metadatas"])
    return [dict(meta) for meta in found["metadatas"] or []]


def ids_in(manifest: Any, state: State) -> list[str]:
    """The IDs of the videos of *manifest* in *state*, sorted."""
    return sorted(manifest.get(where={_STATE: state}, include=[])["ids"])


def all_records(manifest: Any) -> dict[str, dict[str, Any]]:
    """Every record of *manifest*, by video ID."""
    found = manifest.get(include=["metadatas"])
    return {
        video_id: dict(meta or {})
        for video_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
    }


# ---------------------------------------------------------------------------
# Chunk rows
# ---------------------------------------------------------------------------


def chunk_row(metadata: Mapping[str, Any], fingerprint: str) -> dict[str, Any]:
    """The Chroma row metadata of a chunk: its own fields and its video's fingerprint."""
    row = {key: metadata[key] for key in CHUNK_ROW_FIELDS if key in metadata}
    row[FINGERPRINT_KEY] = fingerprint
    return row


def row_fingerprint(metadata: Mapping[str, Any] | None) -> str | None:
    """The fingerprint a chunk row belongs to (None: not a ytqa chunk)."""
    value = (metadata or {}).get(FINGERPRINT_KEY)
    return value if isinstance(value, str) else None


def chunk_id(video_id: str, fingerprint: str, position: int) -> str:
    """The Chroma ID of a video version's chunk at *position*: the same chunk always
    has the same ID, so that a batch written twice is the same batch."""
    return f"{video_id}:{fingerprint}:{position}"


def chunk_key(metadata: Mapping[str, Any]) -> tuple[str, str, int] | None:
    """``(video_id, fingerprint, chunk_index)`` of a chunk row's *metadata*; None for a
    document that is not a ytqa chunk."""
    video_id, version, position = (
        metadata.get("video_id"), metadata.get(FINGERPRINT_KEY), metadata.get("chunk_index")
    )
    if isinstance(video_id, str) and isinstance(version, str) and isinstance(position, int):
        return video_id, version, position
    return None


def other_versions(video_id: str, fingerprint: str) -> dict[str, Any]:
    """A Chroma ``where`` on chunk rows of *video_id* that are not of version *fingerprint*."""
    return {"$and": [{"video_id": video_id}, {FINGERPRINT_KEY: {"$ne": fingerprint}}]}


def with_video_fields(document: Document, record: Mapping[str, Any]) -> Document:
    """*document* (a chunk row) with the fields of its video from its manifest *record*,
    and its links opening at the cited moment (``cited_start``, else ``start``)."""
    from langchain_core.documents import Document

    from ytqa.transcripts import video_link

    metadata = dict(document.metadata)
    for key in VIDEO_FIELDS:
        value = record.get(key)
        if key not in metadata and value not in (None, ""):
            metadata[key] = value
    moment = metadata.get("cited_start", metadata.get("start"))
    seconds = float(moment) if isinstance(moment, (int, float)) else None
    link = video_link(str(metadata["video_id"]), str(record.get("source") or "youtube"), seconds)
    metadata["url"] = metadata["source"] = link
    return Document(page_content=document.page_content, metadata=metadata, id=document.id)


# ---------------------------------------------------------------------------
# Records for people
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoRecord:
    """A video in the index, as ``VideoIndex.videos`` lists it."""

    video_id: str
    title: str | None
    channel: str | None
    language: str
    """Language code of the transcript (``"en"``)."""
    is_generated: bool
    chunks: int
    source: str
    """Where the transcript came from: ``"youtube"`` or the file's path."""
    added_at: float = 0.0
    """Unix time at which the video became searchable."""
    captions: str = ""
    """``manual``, ``generated`` or ``asr`` (speech-to-text; "" for videos indexed before)."""
    asr_model: str | None = None
    """The Whisper model of a speech-to-text transcript."""

    @property
    def transcript(self) -> str:
        """The transcript held: ``"srt"``, ``"en.vtt"``, ``"youtube manual"``... (see
        :func:`transcript_kind`)."""
        return transcript_kind(self.source, self.is_generated, self.asr_model)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "video_id": self.video_id,
            "title": self.title,
            "channel": self.channel,
            "language": self.language,
            "is_generated": self.is_generated,
            "chunks": self.chunks,
            "source": self.source,
            "transcript": self.transcript,
            "added_at": self.added_at,
            "captions": self.captions,
            "asr_model": self.asr_model,
        }


def video_record(meta: Mapping[str, Any]) -> VideoRecord:
    """The :class:`VideoRecord` of a manifest record."""
    return VideoRecord(
        video_id=str(meta["video_id"]),
        title=str(meta.get("title") or "") or None,
        channel=str(meta.get("channel") or "") or None,
        language=str(meta.get("language", "")),
        is_generated=bool(meta.get("is_generated", False)),
        chunks=int(meta.get("chunks", 0)),
        source=str(meta.get("source", "")),
        added_at=float(meta.get("added_at", 0.0)),
        captions=str(meta.get("captions") or ""),
        asr_model=str(meta.get("asr_model") or "") or None,
    )


def title_of(record: Mapping[str, Any]) -> str | None:
    return str(record.get("title") or "") or None


def transcript_kind(source: str, is_generated: bool, asr_model: str | None = None) -> str:
    """A video's transcript, for people: ``"speech-to-text base"`` for one made by
    Whisper, ``"youtube manual"`` or ``"youtube auto"`` for YouTube's captions, else
    the file's ending (``"srt"``, ``"en.vtt"``, ``"json"``).

    >>> transcript_kind("/talks/GqA42M4RtxE.en.vtt", True)
    'en.vtt'
    >>> transcript_kind("youtube", False)
    'youtube manual'
    """
    if asr_model:
        return f"speech-to-text {asr_model}"
    if source == "youtube":
        return "youtube auto" if is_generated else "youtube manual"
    from ytqa.transcripts._files import _names_from_file_name

    name = Path(source).name
    ending = Path(name).suffix.lstrip(".").lower() or "file"
    language = _names_from_file_name(name)[1]
    return f"{language}.{ending}" if language else ending


def record_kind(record: Mapping[str, Any]) -> str:
    """The :func:`transcript_kind` of a video's manifest *record*."""
    return transcript_kind(
        str(record.get("source") or ""),
        bool(record.get("is_generated")),
        str(record.get("asr_model") or "") or None,
    )


def replaced_kind(record: Mapping[str, Any] | None, fingerprint: str) -> str | None:
    """The transcript kind a write of *fingerprint* replaces, given the video's *record* before."""
    if record is None or not is_ready(record) or fingerprint_of(record) == fingerprint:
        return None
    return record_kind(record)
