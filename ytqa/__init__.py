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

from ytqa.embeddings import (
    DEFAULT_MODEL,
    EMBEDDING_MODELS,
    EmbeddingPreset,
    get_embeddings,
    register_preset,
    resolve_preset,
)
from ytqa.errors import (
    AgeRestrictedError,
    AudioDownloadError,
    AudioTooLongError,
    ChainConfigurationError,
    ChunkingError,
    EmbeddingModelError,
    EvaluationError,
    IndexCorruptError,
    IndexModelMismatchError,
    InvalidPromptError,
    InvalidVideoIdError,
    LLMConfigurationError,
    MediaFileError,
    MissingDependencyError,
    NetworkError,
    NoCaptionsError,
    NoTranscriptFoundError,
    PlaylistError,
    PoTokenRequiredError,
    RequestBlockedError,
    SpeechToTextError,
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
from ytqa.transcripts import (
    Segment,
    SpeechToText,
    Transcript,
    expand_sources,
    load_transcript,
    read_transcript_file,
)
from ytqa.video import format_timestamp, parse_video_id, watch_url

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from ytqa.chain import build_chain
    from ytqa.chunking import chunk_transcript
    from ytqa.compare import compare_models
    from ytqa.evaluation import evaluate
    from ytqa.index import IngestReport, VideoIndex, check_index, repair_index
    from ytqa.llm import resolve_llm
    from ytqa.loader import YouTubeTranscriptLoader
    from ytqa.retrieval import build_retriever

    __version__: str

# Public names whose modules import heavy libraries, loaded on first access.
_LAZY: dict[str, str] = {
    "YouTubeTranscriptLoader": "ytqa.loader",
    "chunk_transcript": "ytqa.chunking",
    "compare_models": "ytqa.compare",
    "check_index": "ytqa.index",
    "repair_index": "ytqa.index",
    "VideoIndex": "ytqa.index",
    "IngestReport": "ytqa.index",
    "build_chain": "ytqa.chain",
    "build_retriever": "ytqa.retrieval",
    "evaluate": "ytqa.evaluation",
    "resolve_llm": "ytqa.llm",
}

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDING_MODELS",
    "AgeRestrictedError",
    "AudioDownloadError",
    "AudioTooLongError",
    "ChainConfigurationError",
    "ChunkingError",
    "EmbeddingModelError",
    "EmbeddingPreset",
    "EvaluationError",
    "IndexCorruptError",
    "IndexModelMismatchError",
    "IngestReport",
    "InvalidPromptError",
    "InvalidVideoIdError",
    "LLMConfigurationError",
    "MediaFileError",
    "MissingDependencyError",
    "NetworkError",
    "NoCaptionsError",
    "NoTranscriptFoundError",
    "PlaylistError",
    "PoTokenRequiredError",
    "RequestBlockedError",
    "Segment",
    "SpeechToText",
    "SpeechToTextError",
    "Transcript",
    "TranscriptCacheMissError",
    "TranscriptError",
    "TranscriptFileError",
    "TranscriptsDisabledError",
    "TranslationUnavailableError",
    "VideoIndex",
    "VideoIndexError",
    "VideoUnavailableError",
    "VideoUnplayableError",
    "YouTubeDataError",
    "YouTubeTranscriptLoader",
    "YtqaError",
    "__version__",
    "build_chain",
    "build_retriever",
    "check_index",
    "chunk_transcript",
    "compare_models",
    "evaluate",
    "expand_sources",
    "format_timestamp",
    "get_embeddings",
    "load_transcript",
    "parse_video_id",
    "read_transcript_file",
    "register_preset",
    "repair_index",
    "resolve_llm",
    "resolve_preset",
    "watch_url",
]


def _version() -> str:
    # pyproject.toml holds the one version; reading the installed metadata costs
    # milliseconds, so only when asked.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ytqa")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ytqa' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
