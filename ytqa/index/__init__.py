"""The vector index: videos in, searchable chunks out (the package behind ``ytqa.index``).

One job per module:

- ``video_index``: :class:`VideoIndex`, the facade (takes transcripts, never fetches);
- ``_client``: where an index lives (embedded, memory, server, :func:`parse_server_url`);
- ``_manifest``: the one owner of the per-video records (states, fields, chunk rows);
- ``_writes``: plans, batches, the commit, the file lock and version file;
- ``_report``: :class:`IngestReport` and the progress callback;
- ``sync``: carrying videos between presets from the transcript cache;
- ``doctor`` (with ``_probe`` and ``_failures``): checking and repairing an index,
  and Chroma's failures as ytqa errors.

Heavy libraries load when :class:`VideoIndex` (or the doctor) is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ytqa.index._client import ServerAddress, default_collection_name, parse_server_url
from ytqa.index._manifest import (
    CHUNK_ROW_FIELDS,
    MANIFEST_SUFFIX,
    VIDEO_FIELDS,
    VideoRecord,
    chunk_id,
    chunk_key,
    transcript_kind,
)
from ytqa.index._report import (
    AddedVideo,
    FailedSource,
    IgnoredSource,
    IngestProgress,
    IngestReport,
    ProgressCallback,
    SkippedVideo,
)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ytqa.index._writes import DEFAULT_WRITE_BATCH, LOCK_FILE, VERSION_SUFFIX
    from ytqa.index.doctor import (
        DoctorReport,
        IndexProblem,
        LostVideo,
        check_index,
        repair_index,
    )
    from ytqa.index.sync import KnownVideo, known_videos, videos_elsewhere
    from ytqa.index.video_index import VideoIndex

_LAZY: dict[str, str] = {
    "DEFAULT_WRITE_BATCH": "ytqa.index._writes",
    "LOCK_FILE": "ytqa.index._writes",
    "VERSION_SUFFIX": "ytqa.index._writes",
    "DoctorReport": "ytqa.index.doctor",
    "IndexProblem": "ytqa.index.doctor",
    "LostVideo": "ytqa.index.doctor",
    "check_index": "ytqa.index.doctor",
    "repair_index": "ytqa.index.doctor",
    "KnownVideo": "ytqa.index.sync",
    "known_videos": "ytqa.index.sync",
    "videos_elsewhere": "ytqa.index.sync",
    "VideoIndex": "ytqa.index.video_index",
}

__all__ = [
    "CHUNK_ROW_FIELDS",
    "DEFAULT_WRITE_BATCH",
    "LOCK_FILE",
    "MANIFEST_SUFFIX",
    "VERSION_SUFFIX",
    "VIDEO_FIELDS",
    "AddedVideo",
    "DoctorReport",
    "FailedSource",
    "IgnoredSource",
    "IndexProblem",
    "IngestProgress",
    "IngestReport",
    "KnownVideo",
    "LostVideo",
    "ProgressCallback",
    "ServerAddress",
    "SkippedVideo",
    "VideoIndex",
    "VideoRecord",
    "check_index",
    "chunk_id",
    "chunk_key",
    "default_collection_name",
    "known_videos",
    "parse_server_url",
    "repair_index",
    "transcript_kind",
    "videos_elsewhere",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ytqa.index' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
