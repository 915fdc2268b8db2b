"""Which media file plays a video, where uploads go, and signed media links.

No request names a file. A video's media file is found from what the index
recorded: the transcript file it was read from (its manifest ``source``) when
that is itself a media file, else a media file of the same name beside it
(``talk.mp4`` beside ``talk.srt`` or ``talk.en.vtt``). Uploads are written by
the app under :func:`ytqa.config.uploads_dir`, in a folder named after the
content's hash, under a name made of safe characters only.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import Path

from ytqa.config import uploads_dir
from ytqa.transcripts import TRANSCRIPT_SUFFIXES

__all__ = [
    "AUDIO_SUFFIXES",
    "MEDIA_SUFFIXES",
    "VIDEO_SUFFIXES",
    "find_media",
    "is_upload",
    "media_kind",
    "media_signature",
    "safe_file_name",
    "stem_of",
]

VIDEO_SUFFIXES = (".mp4", ".m4v", ".webm", ".mov", ".mkv", ".ogv")
"""Media played in a ``<video>`` element."""

AUDIO_SUFFIXES = (".mp3", ".m4a", ".aac", ".wav", ".ogg", ".oga", ".opus", ".flac")
"""Media played in an ``<audio>`` element."""

MEDIA_SUFFIXES = VIDEO_SUFFIXES + AUDIO_SUFFIXES

_UNSAFE = re.compile(r"[^\w .()\[\]-]+")
# ``talk.en.vtt`` -> ``talk``: the language part that transcript names carry.
_LANGUAGE_PART = re.compile(r"\.[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*$")
_MAX_NAME = 120


def media_kind(path: Path) -> str | None:
    """``"video"``, ``"audio"`` or None, from the file name ending."""
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    return None


def find_media(source: str) -> Path | None:
    """The media file of a video whose transcript came from *source*, or None.

    *source* is the manifest's ``source``: ``"youtube"`` (no media) or the
    absolute path of the file the transcript was read from.
    """
    if source == "youtube" or not source:
        return None
    path = Path(source)
    if not path.is_absolute():
        return None
    if media_kind(path) is not None:
        return path if path.is_file() else None
    if path.suffix.lower() not in TRANSCRIPT_SUFFIXES:
        return None
    stem = path.name[: -len(path.suffix)]
    stems = [stem]
    bare = _LANGUAGE_PART.sub("", stem)
    if bare and bare != stem:
        stems.append(bare)
    for name in stems:
        for suffix in MEDIA_SUFFIXES:
            for candidate in (path.with_name(name + suffix), path.with_name(name + suffix.upper())):
                if candidate.is_file():
                    return candidate
    return None


def safe_file_name(name: str | None, fallback: str) -> str:
    """*name* (an uploaded file's name) reduced to a plain file name of safe characters.

    Folders are dropped, characters other than letters, digits, spaces and
    ``. _ - ( ) [ ]`` become ``_`` (brackets stay: yt-dlp's ``Title [ID].en.vtt``
    names the video), leading dots go; the ending is kept. *fallback* stands in
    for a name with nothing left.
    """
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", base).strip().lstrip(".")
    if len(cleaned) > _MAX_NAME:
        suffix = Path(cleaned).suffix[:12]
        cleaned = cleaned[: _MAX_NAME - len(suffix)] + suffix
    return cleaned if Path(cleaned).stem else fallback


def stem_of(transcript_name: str) -> str:
    """``talk.en.vtt`` -> ``talk.en``: the name that a media file beside it may share."""
    return transcript_name[: -len(Path(transcript_name).suffix)] or transcript_name


def is_upload(path: Path) -> bool:
    """Whether *path* is a file in an upload's own folder under :func:`ytqa.config.uploads_dir`."""
    try:
        relative = path.resolve().relative_to(uploads_dir().resolve())
    except (ValueError, OSError):
        return False
    return len(relative.parts) == 2


def media_signature(token: str, video_id: str) -> str:
    """The ``sig`` that lets a ``<video src>`` fetch *video_id*'s media without a header.

    Media elements cannot send an ``Authorization`` header, so the media links
    the API hands out carry this HMAC of the video ID under the token instead
    of the token itself.
    """
    return hmac.new(token.encode(), f"media:{video_id}".encode(), hashlib.sha256).hexdigest()[:32]
