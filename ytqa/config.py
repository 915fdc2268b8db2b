"""Where ytqa keeps its files, and the environment variables that move them."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "index_dir", "uploads_dir", "ytqa_home"]

HOME_ENV = "YTQA_HOME"


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


def uploads_dir() -> Path:
    """Return the folder where ``ytqa serve`` keeps uploaded transcripts and media."""
    return ytqa_home() / "uploads"
