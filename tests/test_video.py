from __future__ import annotations

import pytest

from ytqa import InvalidVideoIdError, YtqaError, format_timestamp, parse_video_id, watch_url
from ytqa.video import YOUTUBE_HOSTS, is_collection_url

VIDEO = "dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "text",
    [
        VIDEO,
        f"  {VIDEO}\n",
        f"https://www.youtube.com/watch?v={VIDEO}",
        f"https://www.youtube.com/watch?v={VIDEO}&t=42s",
        f"https://www.youtube.com/watch?v={VIDEO}&list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs&index=2",
        f"https://www.youtube.com/watch?feature=share&v={VIDEO}",
        f"http://youtube.com/watch?v={VIDEO}",
        f"youtube.com/watch?v={VIDEO}",
        f"www.youtube.com/watch?v={VIDEO}",
        f"https://m.youtube.com/watch?v={VIDEO}&feature=youtu.be",
        f"https://music.youtube.com/watch?v={VIDEO}&si=abc",
        f"https://youtu.be/{VIDEO}",
        f"https://youtu.be/{VIDEO}?t=312",
        f"youtu.be/{VIDEO}?si=xyz",
        f"https://www.youtube.com/shorts/{VIDEO}",
        f"https://youtube.com/shorts/{VIDEO}?feature=share",
        f"https://www.youtube.com/embed/{VIDEO}?start=10",
        f"https://www.youtube-nocookie.com/embed/{VIDEO}",
        f"https://www.youtube.com/live/{VIDEO}?si=1",
        f"https://www.youtube.com/v/{VIDEO}?version=3",
        f"HTTPS://WWW.YOUTUBE.COM/watch?v={VIDEO}",
    ],
)
def test_parse_video_id_accepts_every_common_form(text: str) -> None:
    assert parse_video_id(text) == VIDEO


@pytest.mark.parametrize(
    "text",
    [
        "",
        "dQw4w9WgXc",  # 10 characters
        "dQw4w9WgXcQQ",  # 12 characters
        "https://vimeo.com/123456789",
        f"https://example.com/watch?v={VIDEO}",
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/playlist?list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
        "https://www.youtube.com/@kurzgesagt",
        "https://youtu.be/",
        "not a url at all",
    ],
)
def test_parse_video_id_rejects_other_text_and_quotes_it(text: str) -> None:
    with pytest.raises(InvalidVideoIdError) as caught:
        parse_video_id(text)
    assert isinstance(caught.value, YtqaError)
    assert repr(text) in str(caught.value)
    assert "11-character" in str(caught.value)


@pytest.mark.parametrize("host", sorted(YOUTUBE_HOSTS))
@pytest.mark.parametrize(
    "path", ["playlist?list=PLxyz0123456789", "watch?list=PLxyz0123456789", "@kurzgesagt",
             "channel/UCsXVk37bltHxD1rDPwtNM8Q", "c/kurzgesagt", "user/kurzgesagt"],
)
def test_playlists_and_channels_are_recognised_on_every_youtube_host(host: str, path: str) -> None:
    # One host list for video IDs and for playlists: gaming.youtube.com was once in one only.
    url = f"https://{host}/{path}"
    assert is_collection_url(url) and is_collection_url(f"{host}/{path}")
    with pytest.raises(InvalidVideoIdError, match="a playlist or channel"):
        parse_video_id(url)


@pytest.mark.parametrize(
    "text", [f"https://www.youtube.com/watch?v={VIDEO}", f"https://youtu.be/{VIDEO}",
             "https://example.com/playlist?list=PLxyz", "not a url", "https://[::1"],
)
def test_videos_and_other_addresses_are_no_playlists(text: str) -> None:
    assert not is_collection_url(text)


def test_watch_url_with_and_without_time() -> None:
    assert watch_url(VIDEO) == f"https://www.youtube.com/watch?v={VIDEO}"
    assert watch_url(VIDEO, 312.9) == f"https://www.youtube.com/watch?v={VIDEO}&t=312s"
    assert watch_url(VIDEO, -3) == f"https://www.youtube.com/watch?v={VIDEO}&t=0s"


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "00:00"), (59.9, "00:59"), (312, "05:12"), (3725, "1:02:05")]
)
def test_format_timestamp(seconds: float, text: str) -> None:
    assert format_timestamp(seconds) == text
