"""Channels and long runs: channel listings (yt-dlp mocked at ``extract_info``), bounded
and paced concurrency, backoff when YouTube blocks, resuming a killed run, cookies, and
the command's summary (YouTube replayed through ``responses``)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yt_dlp
from click.testing import CliRunner

from tests.offline_models import REPO_ROOT
from tests.youtube_support import (
    channel_home,
    channel_tab,
    flat_video,
    many_videos,
)
from ytqa import PlaylistError
from ytqa.cli import cli
from ytqa.errors import CookieFileError, FetchOptionsError, RunBlockedError
from ytqa.index import VideoIndex
from ytqa.ingest import FetchOptions, failed_sources, failed_sources_file, ingest
from ytqa.transcripts import REQUEST_INTERVAL, expand_sources, load_transcript, video_cache_dir
from ytqa.video import is_channel_url, is_collection_url

CHANNEL = "https://www.youtube.com/@SomeChannel"
SECRET = "s3cr3t-SAPISID-value"
NOW = int(time.time())
DAY = 86400


def ids(count: int, prefix: str = "vid") -> list[str]:
    """*count* distinct 11-character video IDs."""
    return [f"{prefix}{number:08d}"[:11] for number in range(count)]


class Listing:
    """Stands in for ``YoutubeDL.extract_info`` (yt-dlp's network boundary): answers a
    recorded-style flat listing and counts how many entries yt-dlp was made to page through."""

    def __init__(self, answer: dict[str, Any] | list[dict[str, Any]]) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.cookies: list[str] = []

    def __call__(self, downloader: yt_dlp.YoutubeDL, url: str, download: bool = True,
                 **kwargs: Any) -> dict[str, Any]:
        assert download is False
        self.calls.append((url, dict(downloader.params), kwargs))
        self.cookies = [cookie.value for cookie in downloader.cookiejar]
        if isinstance(self.answer, list):  # answers in turn (a redirect, then its target)
            return self.answer.pop(0)  # type: ignore[no-any-return]
        return self.answer


@pytest.fixture
def listing(monkeypatch: pytest.MonkeyPatch) -> Listing:
    fake = Listing({})

    def extract_info(downloader: yt_dlp.YoutubeDL, url: str, download: bool = True,
                     **kwargs: Any) -> dict[str, Any]:
        return fake(downloader, url, download, **kwargs)

    monkeypatch.setattr(yt_dlp.YoutubeDL, "extract_info", extract_info)
    return fake


def counted(entries: list[dict[str, Any]], pulled: list[str]) -> Iterator[dict[str, Any]]:
    """*entries* as a lazy generator that notes each entry it gives (yt-dlp pages lazily)."""
    for entry in entries:
        pulled.append(entry["id"])
        yield entry


@pytest.fixture
def cookies_file(tmp_path: Path) -> Path:
    file = tmp_path / "cookies.txt"
    file.write_text(
        "# Netscape HTTP Cookie File\n"
        f".youtube.com\tTRUE\t/\tTRUE\t{NOW + 365 * DAY}\tSAPISID\t{SECRET}\n"
        f"#HttpOnly_.youtube.com\tTRUE\t/\tTRUE\t{NOW + 365 * DAY}\tLOGIN_INFO\tlogin-{SECRET}\n",
        encoding="utf-8",
    )
    return file


# --- channel addresses -------------------------------------------------------------------


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/@SomeChannel",
    "https://www.youtube.com/@SomeChannel/videos",
    "https://www.youtube.com/@SomeChannel/streams",
    "https://www.youtube.com/@SomeChannel/shorts",
    "https://www.youtube.com/channel/UCsXVk37bltHxD1rDPwtNM8Q/videos",
    "youtube.com/c/SomeChannel",
    "https://m.youtube.com/user/SomeChannel/streams",
])
def test_channel_addresses_and_tabs_are_channels(url: str) -> None:
    assert is_channel_url(url) and is_collection_url(url)


@pytest.mark.parametrize("url", [
    "https://www.youtube.com/playlist?list=PLxyz0123456789",
    "https://www.youtube.com/shorts/dQw4w9WgXcQ",
    "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    "https://example.com/@SomeChannel",
])
def test_playlists_and_videos_are_not_channels(url: str) -> None:
    assert not is_channel_url(url)


# --- listing a channel -------------------------------------------------------------------


def test_a_channel_lists_its_tabs_in_turn_and_leaves_out_what_has_no_captions_yet(
    listing: Listing,
) -> None:
    videos, streams, shorts = ids(3, "vid"), ids(2, "str"), ids(2, "sho")
    listing.answer = channel_home(
        channel_tab("videos", [flat_video(v) for v in videos]),
        channel_tab("streams", [flat_video(streams[0], live_status="was_live"),
                                flat_video(streams[1], live_status="is_upcoming")]),
        channel_tab("shorts", [flat_video(s, short=True) for s in shorts]),
    )

    assert expand_sources([CHANNEL]) == [*videos, streams[0], *shorts]
    ((url, params, kwargs),) = listing.calls
    assert url == CHANNEL
    assert params["extract_flat"] == "in_playlist"  # the listing, no video page
    assert kwargs == {"process": False}  # entries read lazily, page by page
    assert "extractor_args" not in params  # dates are asked for only with since=


def test_limit_stops_paging_through_a_long_channel(listing: Listing) -> None:
    pulled: list[str] = []
    tab = channel_tab("videos", [])
    tab["entries"] = counted([flat_video(v) for v in ids(500)], pulled)
    listing.answer = tab

    assert expand_sources([CHANNEL + "/videos"], limit=25) == ids(500)[:25]
    assert len(pulled) == 25  # yt-dlp was not made to list the other 475


def test_since_ends_a_tab_at_its_first_older_video(listing: Listing) -> None:
    pulled: list[str] = []
    recent, old = ids(4, "new"), ids(50, "old")
    entries = [flat_video(v, timestamp=NOW - (i + 1) * DAY) for i, v in enumerate(recent)]
    entries += [flat_video(v, timestamp=NOW - (100 + i) * DAY) for i, v in enumerate(old)]
    tab = channel_tab("videos", [])
    tab["entries"] = counted(entries, pulled)
    listing.answer = channel_home(tab, channel_tab("streams", [
        flat_video("strNEW00001", timestamp=NOW - 2 * DAY),
        flat_video("strOLD00001", timestamp=NOW - 200 * DAY),
    ]))

    since = dt.date.fromtimestamp(NOW - 30 * DAY)
    assert expand_sources([CHANNEL], since=since) == [*recent, "strNEW00001"]
    assert len(pulled) == 5  # stopped at the first older video, no further page
    (_, params, _), = listing.calls
    assert params["extractor_args"] == {"youtubetab": {"approximate_date": [""]}}


def test_since_keeps_the_undated_videos_of_a_playlist_and_says_so(
    listing: Listing, caplog: pytest.LogCaptureFixture
) -> None:
    # A playlist's flat entries carry no date (playlistVideoRenderer has none).
    listing.answer = {"_type": "playlist", "id": "PLxyz", "entries": [
        {"_type": "url", "ie_key": "Youtube", "id": v, "url": f"https://youtu.be/{v}"}
        for v in ids(3)
    ]}
    playlist = "https://www.youtube.com/playlist?list=PLxyz0123456789"
    with caplog.at_level(logging.WARNING, logger="ytqa"):
        assert expand_sources([playlist], since=dt.date(2024, 1, 1)) == ids(3)
    assert "3 videos of" in caplog.text and "could not leave them out" in caplog.text


def test_since_later_than_every_video_is_a_playlist_error(listing: Listing) -> None:
    listing.answer = channel_tab("videos", [flat_video("old00000001", timestamp=NOW - 90 * DAY)])
    with pytest.raises(PlaylistError, match="no video uploaded since 2030-01-01"):
        expand_sources([CHANNEL + "/videos"], since=dt.date(2030, 1, 1))


def test_a_redirecting_channel_is_followed(listing: Listing) -> None:
    regional = "https://www.youtube.com/@Regional/videos"
    listing.answer = [
        {"_type": "url", "ie_key": "YoutubeTab", "url": regional},
        channel_tab("videos", [flat_video("F1xioXWb8CY")]),
    ]
    assert expand_sources([CHANNEL]) == ["F1xioXWb8CY"]
    assert [url for url, _, _ in listing.calls] == [CHANNEL, regional]


def test_cookies_reach_yt_dlp_and_the_file_is_not_rewritten(
    listing: Listing, cookies_file: Path
) -> None:
    listing.answer = channel_tab("videos", [flat_video("F1xioXWb8CY")])
    before = cookies_file.read_bytes()

    assert expand_sources([CHANNEL], cookies=cookies_file) == ["F1xioXWb8CY"]
    (_, params, _), = listing.calls
    assert isinstance(params["cookiefile"], io.StringIO)  # a copy: yt-dlp saves cookies back
    assert SECRET in listing.cookies and f"login-{SECRET}" in listing.cookies
    assert cookies_file.read_bytes() == before


# --- fetching many videos ----------------------------------------------------------------


@pytest.fixture
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pauses after a block of milliseconds, not seconds (the rule is the same)."""
    monkeypatch.setattr("ytqa.transcripts._youtube.BLOCKED_BACKOFF", 0.02)
    monkeypatch.setattr("ytqa.transcripts._youtube.BLOCKED_BACKOFF_MAX", 0.1)


def test_requests_in_flight_never_exceed_the_concurrency(
    youtube_responses: Path, minilm: Path
) -> None:
    index = VideoIndex("minilm")
    videos = ids(12)
    with many_videos(youtube_responses, latency=0.03) as youtube:
        report = ingest(index, videos, FetchOptions(concurrency=3, request_interval=0))

    assert sorted(v.video_id for v in report.added) == sorted(videos) and report.ok
    assert youtube.most_in_flight == 3  # three at a time, never more
    assert sorted(youtube.watch_requests) == sorted(videos)  # each fetched once
    assert [v.video_id for v in index.videos()] == videos  # written in the order given


def test_requests_start_at_least_the_interval_apart(
    youtube_responses: Path, minilm: Path
) -> None:
    with many_videos(youtube_responses) as youtube:
        ingest(VideoIndex("minilm"), ids(4), FetchOptions(concurrency=4, request_interval=0.05))

    # 16 requests (4 per video), four threads: their starts are spread over 15 intervals
    # at least (each start is measured in the mock, after some scheduling jitter).
    assert len(youtube.starts) == 16
    assert youtube.starts[-1] - youtube.starts[0] >= 15 * 0.05 - 0.01


def test_every_fourth_request_blocked_completes_with_backoff(
    youtube_responses: Path, minilm: Path, quick_backoff: None
) -> None:
    videos = ids(12)
    with many_videos(youtube_responses, blocked=lambda n: n % 4 == 0) as youtube:
        report = ingest(VideoIndex("minilm"), videos, FetchOptions(concurrency=2,
                                                                   request_interval=0))

    assert report.ok and sorted(v.video_id for v in report.added) == sorted(videos)
    blocked = len(youtube.watch_requests) - len(videos)
    assert blocked >= 3  # the blocked fetches were tried again after a pause
    assert sorted(set(youtube.watch_requests)) == sorted(videos)


def test_a_run_that_keeps_being_blocked_stops_early_with_one_error(
    youtube_responses: Path, minilm: Path, quick_backoff: None
) -> None:
    videos = ids(40)
    index = VideoIndex("minilm")
    with many_videos(youtube_responses, blocked=lambda n: True) as youtube:
        report = ingest(index, videos, FetchOptions(concurrency=2, request_interval=0))

    assert isinstance(report.stopped, RunBlockedError) and not report.ok
    assert "concurrency=" in str(report.stopped) and "cookies=" in str(report.stopped)
    assert "proxy" in str(report.stopped) and "Wait" in str(report.stopped)
    assert report.failed == [] and report.added == []
    assert sorted(report.not_fetched) == sorted(videos)  # every video kept for a retry
    # Five blocked fetches in a row stop it (a thread may be mid-fetch): not 40 attempts.
    assert len(youtube.watch_requests) <= 5 + 2
    assert index.videos() == []


# --- cookies ---------------------------------------------------------------------------


def test_cookies_go_with_the_requests_and_nowhere_else(
    youtube_responses: Path, minilm: Path, cookies_file: Path,
    caplog: pytest.LogCaptureFixture, tmp_path: Path,
) -> None:
    index = VideoIndex("minilm")
    with caplog.at_level(logging.DEBUG), many_videos(youtube_responses) as youtube:
        report = ingest(index, ids(2), FetchOptions(cookies=cookies_file, request_interval=0))

    assert report.ok and len(report.added) == 2
    sent = [headers.get("Cookie", "") for headers in youtube.headers]
    assert sent and all(f"SAPISID={SECRET}" in cookie for cookie in sent)
    assert all(f"LOGIN_INFO=login-{SECRET}" in cookie for cookie in sent)  # HttpOnly too
    assert SECRET not in caplog.text
    home = Path(os.environ["YTQA_HOME"])
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert stored and not any(SECRET.encode() in p.read_bytes() for p in stored)
    rows = index.vectorstore.get(include=["documents", "metadatas"])
    assert SECRET not in json.dumps(rows) + json.dumps([v.__dict__ for v in index.videos()])


@pytest.mark.parametrize(("content", "problem"), [
    (None, "no such file"),
    ("SAPISID=abc; LOGIN_INFO=def\n", "not in the Netscape cookies.txt format"),
    ("# Netscape HTTP Cookie File\n", "it holds no cookie"),
    (b"\xff\xfe\x00garbage", "not a text file"),
])
def test_a_bad_cookies_file_is_one_clear_error(
    tmp_path: Path, content: str | bytes | None, problem: str
) -> None:
    file = tmp_path / "cookies.txt"
    if isinstance(content, bytes):
        file.write_bytes(content)
    elif content is not None:
        file.write_text(content, encoding="utf-8")
    with pytest.raises(CookieFileError, match=problem) as caught:
        load_transcript("GJLlxj_dtq8", cookies=file)
    assert "Netscape" in str(caught.value) and "abc" not in str(caught.value)


def test_fetch_options_are_checked() -> None:
    assert FetchOptions(since="2024-01-31").since == dt.date(2024, 1, 31)
    for bad in ({"since": "last week"}, {"limit": 0}, {"concurrency": 0},
                {"concurrency": 64}, {"request_interval": -1.0}):
        with pytest.raises(FetchOptionsError):
            FetchOptions(**bad)  # type: ignore[arg-type]


# --- the command -------------------------------------------------------------------------


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_ingest_summarises_a_channel_and_retries_what_failed(
    youtube_responses: Path, minilm: Path, listing: Listing, quick_backoff: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ytqa.transcripts._youtube.REQUEST_INTERVAL", 0.0)
    videos = ids(12)
    listing.answer = channel_tab("videos", [flat_video(v) for v in videos])
    blocked_ids = set(videos[:3])

    with many_videos(youtube_responses) as youtube:
        youtube.blocked = lambda n: youtube.watch_requests[n - 1] in blocked_ids
        result = run("ingest", CHANNEL, "--limit", "10", "--concurrency", "2")

    # Three videos blocked every time: five blocks in a row stop the run (exit 4).
    assert result.exit_code == 4, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "10 videos: 0 indexed already, 10 to fetch and embed."
    assert lines[-1].startswith("Error: YouTube blocked 5 fetches in a row")
    assert "--concurrency ..." in lines[-1] and "--cookies cookies.txt" in lines[-1]
    assert not any(v in result.output for v in videos[3:])  # no line per video
    index = VideoIndex("minilm")
    kept = failed_sources(index)
    assert set(blocked_ids) <= set(kept) and len(kept) + len(index.videos()) == 10
    assert f"listed in {failed_sources_file(index)}" in result.output
    assert "ytqa ingest --retry-failed" in result.output

    with many_videos(youtube_responses) as youtube:
        again = run("ingest", "--retry-failed", "--verbose")
    assert again.exit_code == 0, again.output
    assert sorted(youtube.watch_requests) == sorted(kept)  # only what failed is fetched
    assert re.search(rf"added\s+{videos[0]}", again.output)  # --verbose: a line per video
    assert len(VideoIndex("minilm").videos()) == 10
    assert not failed_sources_file(index).exists()

    nothing = run("ingest", "--retry-failed")
    assert nothing.exit_code == 0 and nothing.output.startswith("Nothing to retry")


@pytest.mark.parametrize(("args", "status", "needle"), [
    (["--limit", "0"], 2, "--limit"),
    (["--since", "yesterday"], 2, "--since"),
    (["--concurrency", "17"], 2, "--concurrency"),
    (["--request-interval", "-1"], 2, "--request-interval"),
    (["--cookies", "/nonexistent/cookies.txt"], 2, "Bad cookies file"),
])
def test_bad_run_options_are_one_line_errors(
    args: list[str], status: int, needle: str
) -> None:
    result = run("ingest", CHANNEL, *args)
    assert result.exit_code == status, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_request_interval_paces_a_run_from_the_command_line(
    youtube_responses: Path, minilm: Path
) -> None:
    with many_videos(youtube_responses) as youtube:
        result = run("ingest", *ids(4), "--concurrency", "4", "--request-interval", "0.05")
    assert result.exit_code == 0, result.output
    # As with FetchOptions(request_interval=0.05): 16 starts over 15 intervals at least.
    assert len(youtube.starts) == 16
    assert youtube.starts[-1] - youtube.starts[0] >= 15 * 0.05 - 0.01
    # The help's default is the library's.
    assert f"[default: {REQUEST_INTERVAL}]" in " ".join(run("ingest", "--help").output.split())


def test_ingest_needs_sources_or_retry_failed() -> None:
    result = run("ingest")
    assert result.exit_code == 2 and "--retry-failed" in result.output


# --- resuming a killed run -----------------------------------------------------------------


def test_a_killed_channel_run_resumes_fetching_only_what_is_missing(
    youtube_responses: Path, minilm: Path, tmp_path: Path
) -> None:
    videos = ids(30)
    log = tmp_path / "requests.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "YTQA_TEST_YOUTUBE": json.dumps({
            "assets": str(youtube_responses), "log": str(log), "latency": 0.05,
            "videos": videos,
        }),
    }
    command = [sys.executable, "-m", "tests.youtube_child", "ingest", CHANNEL,
               "--concurrency", "2"]
    child = subprocess.Popen(command, env=env, cwd=REPO_ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            requested = log.read_text().split() if log.exists() else []
            if len(requested) >= 15:
                break
            time.sleep(0.02)
        assert child.poll() is None, "the first run ended before it could be stopped"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    first = log.read_text().split()
    assert 15 <= len(first) < 30

    index = VideoIndex("minilm")
    indexed = {v.video_id for v in index.videos()}
    cached = {v for v in videos if video_cache_dir(v).exists()}
    assert indexed <= cached <= set(first)
    log.unlink()

    second = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert f"30 videos: {len(indexed)} indexed already" in second.stderr + second.stdout
    # Exactly the videos neither indexed nor cached are fetched, each once.
    assert sorted(log.read_text().split()) == sorted(set(videos) - cached)
    assert {v.video_id for v in VideoIndex("minilm").videos()} == set(videos)


def test_ctrl_c_ends_a_run_at_once_while_fetches_are_in_flight(
    youtube_responses: Path, minilm: Path, tmp_path: Path
) -> None:
    # Each mocked request takes 30 s: after the first watch page, the fetching threads
    # wait in the next requests. Ctrl-C must not wait for them.
    log = tmp_path / "requests.log"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HF_HUB_OFFLINE": "1",
        "YTQA_TEST_YOUTUBE": json.dumps({
            "assets": str(youtube_responses), "log": str(log), "latency": 30.0,
            "videos": ids(6),
        }),
    }
    command = [sys.executable, "-m", "tests.youtube_child", "ingest", CHANNEL,
               "--concurrency", "2"]
    child = subprocess.Popen(
        command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as in a terminal, even when pytest runs as a shell's background job.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (log.exists() and log.read_text()):
            assert child.poll() is None, "the run ended before it could be stopped"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        # Well before the requests in flight could end (30 s each).
        code = child.wait(timeout=15)
    finally:
        if child.poll() is None:
            child.kill()
        _, errors = child.communicate()
    assert code == 130, errors
    assert errors.strip().splitlines()[-1] == "Interrupted."
    assert VideoIndex("minilm").videos() == []  # nothing half-written
