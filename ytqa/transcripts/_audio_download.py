"""A YouTube video's audio stream downloaded with yt-dlp (for speech-to-text), and the
table that turns yt-dlp's failures into ytqa errors. yt-dlp loads lazily."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ytqa.errors import (
    AudioDownloadError,
    AudioTooLongError,
    MissingDependencyError,
    NetworkError,
    RequestBlockedError,
    VideoUnavailableError,
    VideoUnplayableError,
    YtqaError,
)
from ytqa.transcripts._media import _ASR_EXTRA
from ytqa.transcripts._playlists import _YtDlpLogger
from ytqa.transcripts._youtube import HTTP_TIMEOUT, _resolve_proxy, yt_dlp_cookies
from ytqa.video import watch_url

if TYPE_CHECKING:
    from youtube_transcript_api.proxies import ProxyConfig


def _proxy_url(proxy: str | ProxyConfig | None) -> str | None:
    config = _resolve_proxy(proxy)
    if config is None:
        return None
    proxies = config.to_requests_dict()
    return proxies.get("https") or proxies.get("http")


def download_audio(
    video_id: str,
    folder: Path,
    *,
    proxy: str | ProxyConfig | None = None,
    max_duration: float | None = None,
    cookies: str | os.PathLike[str] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Download the best audio-only stream of a YouTube video into *folder* with yt-dlp.

    No post-processing runs (no ffmpeg needed): the file is the stream as
    YouTube serves it (usually .webm/opus or .m4a). Returns the file and
    yt-dlp's info dict. The duration is checked before anything downloads.
    *cookies* (a Netscape ``cookies.txt``) go to yt-dlp, for age-restricted or
    sign-in-gated videos.

    Raises:
        MissingDependencyError: yt-dlp is not installed.
        AudioTooLongError: the video is longer than *max_duration*.
        AudioDownloadError, RequestBlockedError, NetworkError, VideoUnavailableError,
        VideoUnplayableError: yt-dlp could not download it (the message says what to do).
    """
    try:
        import yt_dlp
    except ImportError as exc:
        raise MissingDependencyError("Speech-to-text of YouTube videos", _ASR_EXTRA) from exc
    options: dict[str, Any] = {
        "format": "bestaudio/best",
        "outtmpl": str(folder / "%(id)s.%(ext)s"),
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "postprocessors": [],
        "fixup": "never",  # the fix-ups run ffmpeg; PyAV reads the stream as it is
        "cachedir": False,
        "socket_timeout": HTTP_TIMEOUT[1],
        "retries": 3,
        "logger": _YtDlpLogger(),
    }
    proxy_url = _proxy_url(proxy)
    if proxy_url:
        options["proxy"] = proxy_url
    if cookies is not None:
        options["cookiefile"] = yt_dlp_cookies(cookies)
    try:
        with yt_dlp.YoutubeDL(options) as downloader:
            info = downloader.extract_info(watch_url(video_id), download=False)
            if not isinstance(info, dict):
                raise AudioDownloadError(video_id, "yt-dlp returned no video information")
            if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
                raise AudioDownloadError(
                    video_id,
                    "it is a live stream (or has not started yet)",
                    "Transcribe it once the stream has ended and YouTube has processed it.",
                )
            duration = float(info.get("duration") or 0.0)
            if max_duration is not None and duration > max_duration:  # before any download
                raise AudioTooLongError(f"Video {video_id}", duration, max_duration)
            info = downloader.process_ie_result(info, download=True)
    except YtqaError:
        raise
    except Exception as exc:  # yt-dlp raises DownloadError and friends
        raise _download_error(exc, video_id, proxy_url is not None) from exc
    downloads = info.get("requested_downloads") or [info]
    paths = [Path(str(d["filepath"])) for d in downloads if d.get("filepath")]
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        raise AudioDownloadError(video_id, "yt-dlp reported no downloaded file")
    return path, info


_PO_TOKEN_GUIDE = "https://github.com/yt-dlp/yt-dlp/wiki/PO-Token-Guide"


def _download_error(exc: Exception, video_id: str, proxied: bool) -> YtqaError:
    """The ytqa error for a failed yt-dlp download, from yt-dlp's message."""
    message = " ".join(str(exc).replace("ERROR:", "").split())
    text = message.lower().replace("’", "'")
    yourself = (
        "or download the audio yourself (yt-dlp -f bestaudio --cookies-from-browser BROWSER "
        f"{watch_url(video_id)}) and pass the file"
    )
    if "confirm your age" in text or "age-restricted" in text or "inappropriate for some" in text:
        return AudioDownloadError(
            video_id,
            "the video is age-restricted, so YouTube serves it only to signed-in users",
            f"Download the audio signed in ({yourself[3:]}).",
        )
    if "not a bot" in text or "sign in to confirm" in text or "captcha" in text:
        detail = "while downloading the audio, YouTube asked to sign in to confirm it is not a bot"
        if proxied:
            detail += ", even through the proxy"
        return RequestBlockedError(video_id, detail)
    if "po token" in text or "po_token" in text:
        return AudioDownloadError(
            video_id,
            "YouTube asks for a PO token to serve the audio",
            f"Upgrade yt-dlp (pip install -U yt-dlp), see {_PO_TOKEN_GUIDE}, {yourself}.",
        )
    if "http error 429" in text or "too many requests" in text or "rate-limited" in text:
        return RequestBlockedError(video_id, "HTTP 429 while downloading the audio")
    if "http error 403" in text or "forbidden" in text:
        return AudioDownloadError(
            video_id,
            "YouTube refused the audio download (HTTP 403; it may want a PO token, or block "
            "this IP)",
            f"Upgrade yt-dlp (pip install -U yt-dlp), retry through a proxy (proxy=...), "
            f"{yourself}.",
        )
    if "not available in your country" in text or "geo restrict" in text:
        return VideoUnplayableError(video_id, message[:200] or None)
    if "members" in text and ("only" in text or "join this channel" in text):
        return AudioDownloadError(
            video_id, "the video is for channel members only", f"Sign in as a member: {yourself}."
        )
    if (
        "private video" in text
        or "video unavailable" in text
        or "has been removed" in text
        or "does not exist" in text
    ):
        return VideoUnavailableError(video_id)
    if "requested format is not available" in text or "only images are available" in text:
        return AudioDownloadError(
            video_id,
            "YouTube offers no audio stream that yt-dlp can download here",
            f"Upgrade yt-dlp (pip install -U yt-dlp), {yourself}.",
        )
    if any(
        hint in text
        for hint in (
            "timed out", "urlopen error", "connection", "name or service not known",
            "temporary failure in name resolution", "network is unreachable", "unable to download",
        )
    ):
        return NetworkError(video_id, f"downloading the audio failed ({message[:200]})")
    return AudioDownloadError(video_id, message[:300] or type(exc).__name__)
