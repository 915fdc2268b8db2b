"""A mocked YouTube for tests: the recorded responses of ../shared/data/youtube-responses
served through ``responses``, so that youtube-transcript-api's real code runs against them."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses

WATCH = "https://www.youtube.com/watch"
PLAYER = "https://www.youtube.com/youtubei/v1/player"
CAPTIONS = "https://www.youtube.com/api/timedtext"
OEMBED = "https://www.youtube.com/oembed"
VIDEO = "GJLlxj_dtq8"  # the video of youtube.html.static / youtube.innertube.json.static


@dataclass
class FakeYouTube:
    """The mocked YouTube of one test: recorded assets behind `responses`."""

    mock: responses.RequestsMock
    assets: Path

    def asset(self, name: str) -> bytes:
        return (self.assets / name).read_bytes()

    def player(self, name: str) -> None:
        self.mock.replace(
            responses.POST, PLAYER, body=self.asset(name), content_type="application/json"
        )

    def watch_page(self, name: str) -> None:
        self.mock.replace(responses.GET, WATCH, body=self.asset(name))

    def urls(self, prefix: str) -> list[str]:
        urls = [str(call.request.url) for call in self.mock.calls]
        return [url for url in urls if url.startswith(prefix)]

    def caption_query(self) -> dict[str, list[str]]:
        (url,) = self.urls(CAPTIONS)
        return parse_qs(urlsplit(url).query)


@contextlib.contextmanager
def fake_youtube(assets: Path) -> Iterator[FakeYouTube]:
    """The happy path of VIDEO registered: watch page, player API, caption body. No oEmbed;
    any other request fails."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = FakeYouTube(mock, assets)
        mock.get(WATCH, body=fake.asset("youtube.html.static"))
        mock.post(
            PLAYER,
            body=fake.asset("youtube.innertube.json.static"),
            content_type="application/json",
        )
        mock.get(CAPTIONS, body=fake.asset("transcript.xml.static"))
        yield fake


# --- many videos: channels, concurrency, resume, benchmarks -----------------------------


@dataclass
class ManyVideos:
    """A mocked YouTube that serves any video ID (through `responses` callbacks), counting
    what it is asked: watch-page requests per video, requests in flight, start times.

    ``latency`` is slept in every request (the network); ``blocked(n)`` says whether the
    n-th watch-page request (from 1) gets YouTube's captcha page (``IpBlocked``);
    ``captions(video_id)`` gives a video's timedtext XML (default: the recorded one);
    ``log`` gets a line per watch-page request (the video ID), for a test whose
    YouTube runs in a child process.
    """

    assets: Path
    latency: float = 0.0
    blocked: Callable[[int], bool] = lambda number: False
    captions: Callable[[str], bytes] | None = None
    log: Path | None = None
    watch_requests: list[str] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, mock: responses.RequestsMock) -> None:
        watch = (self.assets / "youtube.html.static").read_bytes()
        captcha = (self.assets / "youtube_too_many_requests.html.static").read_bytes()
        player = (self.assets / "youtube.innertube.json.static").read_text(encoding="utf-8")
        recorded = (self.assets / "transcript.xml.static").read_bytes()

        def on_watch(request: Any) -> tuple[int, dict[str, str], bytes]:
            (video_id,) = parse_qs(urlsplit(request.url).query)["v"]
            with self._lock:
                self.watch_requests.append(video_id)
                number = len(self.watch_requests)
                if self.log is not None:
                    with self.log.open("a", encoding="utf-8") as file:
                        file.write(video_id + "\n")
            return 200, {}, captcha if self.blocked(number) else watch

        def on_player(request: Any) -> tuple[int, dict[str, str], str]:
            video_id = json.loads(request.body)["videoId"]
            # The caption URLs name the asked video, so that captions() can tell them apart.
            return 200, {"Content-Type": "application/json"}, player.replace(
                "v=" + VIDEO, "v=" + video_id
            )

        def on_captions(request: Any) -> tuple[int, dict[str, str], bytes]:
            (video_id,) = parse_qs(urlsplit(request.url).query)["v"]
            return 200, {}, recorded if self.captions is None else self.captions(video_id)

        def on_oembed(request: Any) -> tuple[int, dict[str, str], str]:
            (url,) = parse_qs(urlsplit(request.url).query)["url"]
            title = {"title": f"Video {url[-11:]}", "author_name": "Some Channel"}
            return 200, {"Content-Type": "application/json"}, json.dumps(title)

        for method, url, callback in (
            (responses.GET, WATCH, on_watch),
            (responses.POST, PLAYER, on_player),
            (responses.GET, CAPTIONS, on_captions),
            (responses.GET, OEMBED, on_oembed),
        ):
            mock.add_callback(method, url, callback=self._timed(callback))

    def _timed(self, callback: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def timed(request: Any) -> Any:
            with self._lock:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
                self.starts.append(time.monotonic())
                self.headers.append(dict(request.headers))
            try:
                if self.latency:
                    time.sleep(self.latency)
                return callback(request)
            finally:
                with self._lock:
                    self.in_flight -= 1

        return timed


@contextlib.contextmanager
def many_videos(assets: Path, **settings: Any) -> Iterator[ManyVideos]:
    """A :class:`ManyVideos` YouTube, active for the block; any other request fails."""
    fake = ManyVideos(assets, **settings)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield fake


# --- yt-dlp's flat listings, as YoutubeTabIE returns them -------------------------------


def flat_video(
    video_id: str,
    *,
    timestamp: int | None = None,
    live_status: str | None = None,
    short: bool = False,
    channel_id: str = "UCsXVk37bltHxD1rDPwtNM8Q",
) -> dict[str, Any]:
    """A flat entry of a channel tab, with the keys of yt-dlp's ``_extract_video``
    (``timestamp`` is set only with ``approximate_date``, from "3 weeks ago")."""
    return {
        "_type": "url",
        "ie_key": "Youtube",
        "id": video_id,
        "url": f"https://www.youtube.com/{'shorts/' if short else 'watch?v='}{video_id}",
        "title": f"Video {video_id}",
        "description": None,
        "duration": None if short else 612,
        "channel_id": channel_id,
        "channel": "Some Channel",
        "channel_url": f"https://www.youtube.com/channel/{channel_id}",
        "uploader": "Some Channel",
        "uploader_id": "@SomeChannel",
        "uploader_url": "https://www.youtube.com/@SomeChannel",
        "thumbnails": [{"url": f"https://i.ytimg.com/vi/{video_id}/hqdefault.jpg"}],
        "timestamp": timestamp,
        "release_timestamp": None,
        "availability": None,
        "view_count": 1234,
        "live_status": live_status,
        "channel_is_verified": None,
    }


def channel_tab(
    tab: str, entries: Iterable[dict[str, Any]], *, channel_id: str = "UCsXVk37bltHxD1rDPwtNM8Q"
) -> dict[str, Any]:
    """One tab of a channel (``/videos``, ``/streams``, ``/shorts``) as yt-dlp's
    ``playlist_result`` gives it with ``process=False``: ``entries`` is a generator that
    pages lazily."""
    return {
        "_type": "playlist",
        "id": channel_id,
        "title": f"Some Channel - {tab.title()}",
        "channel": "Some Channel",
        "channel_id": channel_id,
        "uploader_id": "@SomeChannel",
        "uploader_url": "https://www.youtube.com/@SomeChannel",
        "channel_url": f"https://www.youtube.com/channel/{channel_id}",
        "tags": [],
        "webpage_url": f"https://www.youtube.com/@SomeChannel/{tab}",
        "extractor_key": "YoutubeTab",
        "extractor": "youtube:tab",
        "entries": (entry for entry in entries),
    }


def channel_home(
    *tabs: dict[str, Any], channel_id: str = "UCsXVk37bltHxD1rDPwtNM8Q"
) -> dict[str, Any]:
    """A channel's address without a tab: yt-dlp lists its tabs as playlists, in turn."""
    return {
        "_type": "playlist",
        "id": channel_id,
        "title": "Some Channel",
        "channel": "Some Channel",
        "channel_id": channel_id,
        "webpage_url": "https://www.youtube.com/@SomeChannel",
        "entries": list(tabs),
    }
