"""Video references: parse every form of YouTube link people paste, build watch links.

No network here: this module only reads and writes strings.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from ytqa.errors import InvalidVideoIdError

__all__ = [
    "YOUTUBE_HOSTS",
    "format_timestamp",
    "is_channel_url",
    "is_collection_url",
    "is_video_id",
    "parse_video_id",
    "watch_url",
]

_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
YOUTUBE_HOSTS = frozenset({
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "gaming.youtube.com",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
})
"""The hosts of youtube.com addresses (``youtu.be`` links aside): the one list ytqa has."""
_SHORT_HOSTS = {"youtu.be", "www.youtu.be"}
# Path prefixes whose next segment is the video ID.
_ID_PATH_PREFIXES = {"shorts", "embed", "live", "v", "e", "watch"}


def is_video_id(text: str) -> bool:
    """Return whether *text* is exactly an 11-character YouTube video ID."""
    return _VIDEO_ID.fullmatch(text) is not None


def parse_video_id(text: str) -> str:
    """Return the 11-character video ID in *text*.

    Accepts a bare ID and every common URL form, with or without scheme:
    ``watch?v=`` (any extra parameters), ``youtu.be/ID``, ``/shorts/``,
    ``/embed/``, ``/live/``, ``/v/``, on ``www.``, ``m.``, ``music.`` or no
    subdomain, and ``youtube-nocookie.com``.

    >>> parse_video_id("https://youtu.be/dQw4w9WgXcQ?t=42")
    'dQw4w9WgXcQ'

    Raises:
        InvalidVideoIdError: *text* names no video (the message quotes it).
    """
    if not isinstance(text, str):
        raise InvalidVideoIdError(repr(text), "expected a string")
    candidate = text.strip()
    if is_video_id(candidate):
        return candidate
    if not candidate:
        raise InvalidVideoIdError(text, "empty")
    if "://" not in candidate:
        candidate = "https://" + candidate.lstrip("/")
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError as exc:
        raise InvalidVideoIdError(text, "unreadable URL") from exc
    segments = [segment for segment in parts.path.split("/") if segment]

    found: str | None = None
    if host in _SHORT_HOSTS:
        found = segments[0] if segments else None
    elif host in YOUTUBE_HOSTS:
        query_ids = parse_qs(parts.query).get("v")
        if segments[:1] == ["watch"] and query_ids:
            found = query_ids[0]
        elif len(segments) >= 2 and segments[0] in _ID_PATH_PREFIXES:
            found = segments[1]
        elif segments[:1] == ["attribution_link"]:
            # /attribution_link?u=/watch%3Fv%3DID... wraps a watch URL.
            inner = parse_qs(parts.query).get("u", [""])[0]
            found = parse_qs(urlsplit(inner).query).get("v", [None])[0]
    else:
        raise InvalidVideoIdError(text, "not a YouTube address")

    if found is not None and is_video_id(found):
        return found
    if _names_collection(host, segments, parts.query):
        raise InvalidVideoIdError(text, "a playlist or channel, not one video")
    raise InvalidVideoIdError(text, "no video ID in it")


def is_collection_url(text: str) -> bool:
    """Whether *text* is the address of a YouTube playlist or channel (not of one video).

    >>> is_collection_url("https://www.youtube.com/playlist?list=PLx0sYbCqOb8TBPRdmBHs5Iftvv9TPboYG")
    True
    """
    parts = _split(text)
    return parts is not None and _names_collection(*parts)


def is_channel_url(text: str) -> bool:
    """Whether *text* is the address of a YouTube channel or one of its tabs (``/@handle``,
    ``/channel/UC...``, ``/c/name``, ``/user/name``, with ``/videos``, ``/streams``,
    ``/shorts``...), whose videos are listed newest first; not a playlist.

    >>> is_channel_url("https://www.youtube.com/@kurzgesagt/videos")
    True
    """
    parts = _split(text)
    return parts is not None and _names_channel(*parts)


def _split(text: str) -> tuple[str, list[str], str] | None:
    candidate = text.strip()
    if "://" not in candidate:
        candidate = "https://" + candidate
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    return host, [s for s in parts.path.split("/") if s], parts.query


def _names_channel(host: str, segments: list[str], query: str) -> bool:
    return (
        host in YOUTUBE_HOSTS
        and "list" not in parse_qs(query)
        and (
            segments[:1] in (["channel"], ["c"], ["user"])
            or (bool(segments) and segments[0].startswith("@"))
        )
    )


def _names_collection(host: str, segments: list[str], query: str) -> bool:
    # A playlist (?list=, /playlist) or a channel (/channel/, /c/, /user/, /@handle).
    return host in YOUTUBE_HOSTS and (
        "list" in parse_qs(query)
        or segments[:1] == ["playlist"]
        or _names_channel(host, segments, query)
    )


def format_timestamp(seconds: float) -> str:
    """Format *seconds* as ``mm:ss``, or ``h:mm:ss`` from one hour on.

    >>> format_timestamp(312.7)
    '05:12'
    """
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def watch_url(video_id: str, seconds: float | None = None) -> str:
    """Return the watch link of *video_id*, opening at *seconds* when given.

    Seconds are rounded down so that the link never opens after the moment.

    >>> watch_url("dQw4w9WgXcQ", 312.9)
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=312s'
    """
    url = f"https://www.youtube.com/watch?v={video_id}"
    if seconds is not None:
        url += f"&t={max(0, int(seconds))}s"
    return url
