"""Where ytqa keeps its files, and the environment variables that move them."""

from __future__ import annotations

import os
from pathlib import Path

from ytqa.errors import YtqaError

__all__ = ["cache_dir", "index_dir", "max_transcript_bytes", "uploads_dir", "ytqa_home"]

HOME_ENV = "YTQA_HOME"

MAX_TRANSCRIPT_BYTES_ENV = "YTQA_MAX_TRANSCRIPT_BYTES"
DEFAULT_MAX_TRANSCRIPT_BYTES = 50_000_000
"""Largest transcript file read (50 MB): a day of speech as SRT is about 3 MB."""


def ytqa_home() -> Path:
    """Return the ytqa home folder: ``$YTQA_HOME``, else the per-user data folder.

    The folder holds the transcript cache (``transcripts/``) and the embedded
    Chroma index (``index/``). It is not created here.
    """
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("ytqa", appauthor=False))


def cache_dir() -> Path:
    """Return the folder of cached transcripts under the ytqa home."""
    return ytqa_home() / "transcripts"


def index_dir() -> Path:
    """Return the folder of the embedded Chroma index under the ytqa home."""
    return ytqa_home() / "index"


def max_transcript_bytes() -> int:
    """Return the size limit of transcript files: ``$YTQA_MAX_TRANSCRIPT_BYTES``, else 50 MB.

    Raises:
        YtqaError: the variable is set to something other than a positive number of bytes.
    """
    configured = os.environ.get(MAX_TRANSCRIPT_BYTES_ENV, "").strip().replace("_", "")
    if not configured:
        return DEFAULT_MAX_TRANSCRIPT_BYTES
    if not (configured.isascii() and configured.isdigit()) or int(configured) == 0:
        raise YtqaError(
            f"{MAX_TRANSCRIPT_BYTES_ENV}={configured!r} is not a size in bytes. Set it to a "
            f"positive whole number, e.g. {MAX_TRANSCRIPT_BYTES_ENV}=200000000 for 200 MB, "
            "or unset it for the 50 MB default."
        )
    return int(configured)


def uploads_dir() -> Path:
    """Return the folder where ``ytqa serve`` keeps uploaded transcripts and media."""
    return ytqa_home() / "uploads"
