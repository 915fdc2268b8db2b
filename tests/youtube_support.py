"""A mocked YouTube for tests: the recorded responses of ../shared/data/youtube-responses
served through ``responses``, so that youtube-transcript-api's real code runs against them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
