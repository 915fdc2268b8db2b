"""Playlists and channels listed as video IDs by yt-dlp (the ``ytqa[playlists]`` extra),
flat: the entries only, never every video resolved; read lazily, so that ``limit`` and
``since`` stop yt-dlp before it pages through a whole channel."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ytqa.errors import MissingDependencyError, PlaylistError
from ytqa.transcripts._youtube import HTTP_TIMEOUT, PROXY_ENV, yt_dlp_cookies
from ytqa.video import is_channel_url, is_video_id

logger = logging.getLogger(__name__)


_PLAYLISTS_EXTRA = "pip install 'ytqa[playlists]'"
_NOT_YET = ("is_upcoming", "is_live")
"""Live states of entries that have no captions yet (a scheduled premiere, a stream on air)."""


@dataclass
class _Listing:
    """What reading a collection found, beyond its video IDs (for the log)."""

    undated: int = 0
    older: int = 0
    not_yet: int = 0


def _expand_collection(
    url: str,
    proxy: str | None,
    *,
    limit: int | None = None,
    since: dt.date | None = None,
    cookies: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Return the video IDs of a playlist or channel, listed by yt-dlp (see
    :func:`ytqa.transcripts.expand_sources` for ``limit`` and ``since``)."""
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
    if since is not None:
        # Channel tabs show "3 weeks ago", not dates: yt-dlp turns that into a timestamp
        # only when asked (so a date is as precise as the unit YouTube shows).
        options["extractor_args"] = {"youtubetab": {"approximate_date": [""]}}
    proxy_url = proxy or os.environ.get(PROXY_ENV) or None
    if proxy_url:
        options["proxy"] = proxy_url
    if cookies is not None:
        options["cookiefile"] = yt_dlp_cookies(cookies)
    found = _Listing()
    try:
        with yt_dlp.YoutubeDL(options) as downloader:
            # process=False: entries come as yt-dlp pages through them, so stopping early
            # (limit, since) spares the pages after.
            info = downloader.extract_info(url, download=False, process=False)
            for _ in range(3):  # a channel may redirect (regional channels, topics)
                if not (isinstance(info, dict) and info.get("_type") in ("url", "url_transparent")
                        and info.get("ie_key") == "YoutubeTab" and info.get("url")):
                    break
                info = downloader.extract_info(info["url"], download=False, process=False)
            ordered = is_channel_url(url)
            ids: list[str] = []
            for vid in _video_ids_in(info, since, ordered, found):
                if vid not in ids:
                    ids.append(vid)
                if limit is not None and len(ids) >= limit:
                    break
    except Exception as exc:  # yt-dlp raises DownloadError and friends; all mean the same here
        reason = " ".join(str(exc).replace("ERROR:", "").split())[:300]
        raise PlaylistError(
            f"Could not list the videos of {url}: {reason or type(exc).__name__}. Check that "
            "the playlist or channel is public in a browser, upgrade yt-dlp "
            "(pip install -U yt-dlp), or pass the video URLs one by one."
        ) from exc
    if since is not None and found.undated:
        logger.warning(
            "%d videos of %s have no upload date in the listing, so since=%s could not "
            "leave them out; they are included", found.undated, url, since.isoformat(),
        )
    if found.not_yet:
        logger.info("%d upcoming or live videos of %s left out (no captions yet)",
                    found.not_yet, url)
    if not ids:
        if found.older or found.not_yet:
            raise PlaylistError(
                f"{url} lists no video uploaded since {since} that has captions yet. "
                "Pick an earlier since= date, or leave it out."
            )
        raise PlaylistError(
            f"{url} lists no videos. Check the address in a browser, or pass video URLs instead."
        )
    return ids


class _YtDlpLogger:
    """Sends yt-dlp's messages to ytqa's debug log."""

    def debug(self, message: str) -> None:
        logger.debug("yt-dlp: %s", message)

    info = warning = error = debug


def _entries(info: dict[str, Any]) -> Iterable[Any]:
    entries = info.get("entries")
    if entries is None:
        return ()
    if hasattr(entries, "getslice"):  # yt-dlp's PagedList
        return entries.getslice()  # type: ignore[no-any-return]
    return entries  # type: ignore[no-any-return]


def _upload_date(entry: dict[str, Any]) -> dt.date | None:
    """The entry's upload date, when the flat listing gives one (UTC)."""
    for key in ("timestamp", "release_timestamp"):
        value = entry.get(key)
        if isinstance(value, (int, float)):
            return dt.datetime.fromtimestamp(value, dt.timezone.utc).date()
    text = entry.get("upload_date")
    if isinstance(text, str) and len(text) == 8 and text.isdigit():
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    return None


def _video_ids_in(
    info: Any, since: dt.date | None, ordered: bool, found: _Listing, depth: int = 0
) -> Iterator[str]:
    """Yield the video IDs in a yt-dlp info dict, through nested playlists (channel tabs).

    With *since*, entries uploaded before it are left out; in a channel's tab
    (*ordered*: newest first) the first of them ends the tab. Entries without a
    date are kept (counted in *found*).
    """
    if not isinstance(info, dict) or depth > 3:
        return
    if info.get("entries") is not None:
        for entry in _entries(info):
            if not isinstance(entry, dict):
                continue
            if entry.get("entries") is not None:
                yield from _video_ids_in(entry, since, ordered, found, depth + 1)
                continue
            vid = entry.get("id")
            kind = entry.get("ie_key") or entry.get("extractor_key") or "Youtube"
            if not (isinstance(vid, str) and is_video_id(vid) and kind == "Youtube"):
                continue
            if entry.get("live_status") in _NOT_YET:
                found.not_yet += 1
                continue
            if since is not None:
                uploaded = _upload_date(entry)
                if uploaded is None:
                    found.undated += 1
                elif uploaded < since:
                    found.older += 1
                    if ordered:
                        return  # a channel tab lists newest first: the rest is older
                    continue
            yield vid
        return
    vid = info.get("id")
    kind = info.get("ie_key") or info.get("extractor_key") or "Youtube"
    if isinstance(vid, str) and is_video_id(vid) and kind == "Youtube":
        yield vid
