"""ytqa: ask questions of YouTube videos, with answers that cite the moment.

>>> from ytqa import build_chain
>>> chain = build_chain(["https://youtu.be/VIDEO_ID"])          # doctest: +SKIP
>>> chain.invoke({"query": "What is the main argument?"})["result"]  # doctest: +SKIP

Heavy libraries (torch, sentence-transformers, chromadb, transformers) load
only when a function that needs them runs, so ``import ytqa`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ytqa.errors import (
    AgeRestrictedError,
    EmbeddingModelError,
    EvaluationError,
    IndexModelMismatchError,
    InvalidPromptError,
    InvalidVideoIdError,
    LLMConfigurationError,
    MissingDependencyError,
    NetworkError,
    NoTranscriptFoundError,
    PlaylistError,
    PoTokenRequiredError,
    RequestBlockedError,
    TranscriptCacheMissError,
    TranscriptError,
    TranscriptFileError,
    TranscriptsDisabledError,
    TranslationUnavailableError,
    VideoIndexError,
    VideoUnavailableError,
    VideoUnplayableError,
    YouTubeDataError,
    YtqaError,
)
from ytqa.models import DEFAULT_MODEL, EMBEDDING_MODELS, EmbeddingPreset
from ytqa.transcripts import Segment, Transcript
from ytqa.video import format_timestamp, parse_video_id, watch_url

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    pass

__version__ = "0.1.0"

# Public names whose modules import heavy libraries, loaded on first access.
_LAZY: dict[str, str] = {}

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDING_MODELS",
    "AgeRestrictedError",
    "EmbeddingModelError",
    "EmbeddingPreset",
    "EvaluationError",
    "IndexModelMismatchError",
    "InvalidPromptError",
    "InvalidVideoIdError",
    "LLMConfigurationError",
    "MissingDependencyError",
    "NetworkError",
    "NoTranscriptFoundError",
    "PlaylistError",
    "PoTokenRequiredError",
    "RequestBlockedError",
    "Segment",
    "Transcript",
    "TranscriptCacheMissError",
    "TranscriptError",
    "TranscriptFileError",
    "TranscriptsDisabledError",
    "TranslationUnavailableError",
    "VideoIndexError",
    "VideoUnavailableError",
    "VideoUnplayableError",
    "YouTubeDataError",
    "YtqaError",
    "__version__",
    "format_timestamp",
    "parse_video_id",
    "watch_url",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ytqa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
