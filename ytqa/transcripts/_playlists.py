"""Playlists and channels listed as video IDs by yt-dlp (the ``ytqa[playlists]`` extra),
flat: the entries only, never every video resolved."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Any

from ytqa.errors import MissingDependencyError, PlaylistError
from ytqa.transcripts._youtube import HTTP_TIMEOUT, PROXY_ENV
from ytqa.video import is_video_id

logger = logging.getLogger(__name__)


_PLAYLISTS_EXTRA = "pip install 'ytqa[playlists]'"


def _expand_collection(url: str, proxy: str | None) -> list[str]:
    """Return the video IDs of a playlist or channel, listed by yt-dlp."""
    try:
        import yt_dlp
    except ImportError as exc:
        raise MissingDependencyError("Reading playlists and channels", _PLAYLISTS_EXTRA) from exc
    options: dict[str, Any] = {
        "extract_flat": "in_playlist",  # list the entries; never resolve every video
        "skip_download": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": HTTP_TIMEOUT[1],
        # Without a logger yt-dlp prints its errors to stderr even when quiet;
        # ytqa reports them once, in the PlaylistError.
        "logger": _YtDlpLogger(),
    }
    proxy_url = proxy or os.environ.get(PROXY_ENV) or None
    if proxy_url:
        options["proxy"] = proxy_url
    try:
        with yt_dlp.YoutubeDL(options) as downloader:
            info = downloader.extract_info(url, download=False)
        ids = list(dict.fromkeys(_video_ids_in(info)))
    except Exception as exc:  # yt-dlp raises DownloadError and friends; all mean the same here
        reason = " ".join(str(exc).replace("ERROR:", "").split())[:300]
        raise PlaylistError(
            f"Could not list the videos of {url}: {reason or type(exc).__name__}. Check that "
            "the playlist or channel is public in a browser, upgrade yt-dlp "
            "(pip install -U yt-dlp), or pass the video URLs one by one."
        ) from exc
    if not ids:
        raise PlaylistError(
            f"{url} lists no videos. Check the address in a browser, or pass video URLs instead."
        )
    return ids


class _YtDlpLogger:
    """Sends yt-dlp's messages to ytqa's debug log."""

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    info = warning = error = debug


def _video_ids_in(info: Any, depth: int = 0) -> Iterator[str]:
    """Yield the video IDs in a yt-dlp info dict, through nested playlists (channel tabs)."""
    if not isinstance(info, dict) or depth > 3:
        return
    entries = info.get("entries")
    if entries is not None:
        for entry in entries:
            yield from _video_ids_in(entry, depth + 1)
        return
    vid = info.get("id")
    kind = info.get("ie_key") or info.get("extractor_key") or "Youtube"
    if isinstance(vid, str) and is_video_id(vid) and kind == "Youtube":
        yield vid
