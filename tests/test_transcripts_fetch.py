"""Fetching from YouTube: the real youtube-transcript-api code against recorded responses.

HTTP is mocked with ``responses`` (which refuses any request that is not
registered), serving the responses youtube-transcript-api recorded for its own
tests (``../shared/data/youtube-responses``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
import youtube_transcript_api as yta
from youtube_transcript_api.proxies import GenericProxyConfig

from tests.youtube_support import (
    CAPTIONS,
    OEMBED,
    PLAYER,
    VIDEO,
    WATCH,
    FakeYouTube,
    fake_youtube,
)
from ytqa import (
    AgeRestrictedError,
    InvalidVideoIdError,
    MissingDependencyError,
    NetworkError,
    NoTranscriptFoundError,
    PoTokenRequiredError,
    RequestBlockedError,
    Segment,
    Transcript,
    TranscriptsDisabledError,
    TranslationUnavailableError,
    VideoUnavailableError,
    VideoUnplayableError,
    YouTubeDataError,
    YtqaError,
)
from ytqa.config import cache_dir
from ytqa.transcripts import _youtube as youtube_fetch
from ytqa.transcripts import (
    cached_video_ids,
    load_cached,
    load_transcript,
    save_cached,
)

WW1 = "F1xioXWb8CY"  # youtube_ww1_nl_en: English uploaded + generated, 17 translations

EXPECTED_SEGMENTS = (
    Segment("Hey, this is just a test", 0.0, 1.54),
    Segment("this is not the original transcript", 1.54, 4.16),
    Segment("just something shorter, I made up for testing", 5.7, 3.239),
)


@pytest.fixture
def youtube(youtube_responses: Path) -> Iterator[FakeYouTube]:
    with fake_youtube(youtube_responses) as fake:
        yield fake


@pytest.fixture(autouse=True)
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record retry backoff instead of waiting for it."""
    recorded: list[float] = []
    monkeypatch.setattr(youtube_fetch, "_sleep", recorded.append)
    for name in ("YTQA_WEBSHARE_USERNAME", "YTQA_WEBSHARE_PASSWORD", "YTQA_WEBSHARE_LOCATIONS"):
        monkeypatch.delenv(name, raising=False)
    return recorded


# --- the happy path ----------------------------------------------------------


def test_fetches_uploaded_english_by_default(youtube: FakeYouTube) -> None:
    transcript = load_transcript(VIDEO)

    assert transcript.segments == EXPECTED_SEGMENTS
    assert transcript.video_id == VIDEO
    assert (transcript.language, transcript.language_code) == ("English", "en")
    assert transcript.is_generated is False
    assert transcript.translated_from is None
    assert transcript.source == "youtube"
    assert transcript.link(5.7) == f"https://www.youtube.com/watch?v={VIDEO}&t=5s"
    # The uploaded track's caption URL, not the generated one (kind=asr).
    assert "kind" not in youtube.caption_query()
    assert youtube.caption_query()["lang"] == ["en"]


@pytest.mark.parametrize(
    "source",
    [
        f"https://youtu.be/{VIDEO}?t=42",
        f"https://www.youtube.com/watch?v={VIDEO}&list=PL590L5WQmH8fJ54F369BLDSqIwcs-TCfs",
        f"youtube.com/shorts/{VIDEO}",
        f"music.youtube.com/watch?v={VIDEO}",
    ],
)
def test_accepts_any_video_url(youtube: FakeYouTube, source: str) -> None:
    assert load_transcript(source).video_id == VIDEO
    assert youtube.urls(WATCH) == [f"{WATCH}?v={VIDEO}"]


def test_generated_captions_when_asked(youtube: FakeYouTube) -> None:
    transcript = load_transcript(VIDEO, captions="generated")

    assert transcript.is_generated is True
    assert transcript.language == "English (auto-generated)"
    assert youtube.caption_query()["kind"] == ["asr"]


def test_language_priority(youtube: FakeYouTube) -> None:
    transcript = load_transcript(VIDEO, languages=["de", "en"])

    assert transcript.language_code == "de"
    assert youtube.caption_query()["lang"] == ["de"]


def test_falls_back_to_next_language(youtube: FakeYouTube) -> None:
    youtube.player("youtube_ww1_nl_en.innertube.json.static")

    transcript = load_transcript(WW1, languages=("de", "en"))

    assert transcript.language_code == "en"
    assert transcript.is_generated is False


def test_a_single_language_string_is_one_language(youtube: FakeYouTube) -> None:
    assert load_transcript(VIDEO, languages="de").language_code == "de"


def test_no_languages_means_any_language(youtube: FakeYouTube) -> None:
    transcript = load_transcript(VIDEO, languages=())

    assert (transcript.language_code, transcript.is_generated) == ("zh", False)


def test_unknown_caption_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="captions must be"):
        load_transcript(VIDEO, captions="uploaded")  # type: ignore[arg-type]


def test_regional_code_matches_after_exact_ones(youtube: FakeYouTube) -> None:
    assert load_transcript(VIDEO, languages=["en-GB"]).language_code == "en"


def test_translation(youtube: FakeYouTube) -> None:
    youtube.player("youtube_ww1_nl_en.innertube.json.static")

    transcript = load_transcript(WW1, translate_to="de")

    assert transcript.language_code == "de"
    assert transcript.translated_from == "en"
    assert transcript.segments == EXPECTED_SEGMENTS  # the recorded body, whatever tlang
    query = youtube.caption_query()
    assert query["tlang"] == ["de"]
    assert query["lang"] == ["en"]


def test_translation_from_any_language_when_none_asked_for_exists(youtube: FakeYouTube) -> None:
    transcript = load_transcript(VIDEO, languages=["xx"], translate_to="fr")

    assert (transcript.language_code, transcript.translated_from) == ("fr", "zh")
    query = youtube.caption_query()
    assert (query["lang"], query["tlang"]) == (["zh"], ["fr"])


def test_broken_video_url_is_an_invalid_id() -> None:
    with pytest.raises(InvalidVideoIdError, match=r"youtube\.com/watch"):
        load_transcript("youtube.com/watch?v=tooshort")


def test_existing_captions_beat_machine_translation(youtube: FakeYouTube) -> None:
    transcript = load_transcript(VIDEO, translate_to="de")  # the video has uploaded German

    assert transcript.language_code == "de"
    assert transcript.translated_from is None
    assert "tlang" not in youtube.caption_query()


def test_consent_page_is_accepted(youtube: FakeYouTube) -> None:
    youtube.watch_page("youtube_consent_page.html.static")
    youtube.mock.add(responses.GET, WATCH, body=youtube.asset("youtube.html.static"))

    transcript = load_transcript(WW1)

    assert transcript.segments == EXPECTED_SEGMENTS
    assert len(youtube.urls(WATCH)) == 2
    later = [call.request for call in youtube.mock.calls[1:]]
    assert all("CONSENT=YES+cb.20210328-17-p0.de+FX+119" in str(r.headers["cookie"]) for r in later)


# --- every failure in the recorded table -------------------------------------


@pytest.mark.parametrize(
    ("asset", "error_type", "advice"),
    [
        ("youtube_po_token_required.innertube.json.static", PoTokenRequiredError, "yt-dlp"),
        ("youtube_transcripts_disabled.innertube.json.static", TranscriptsDisabledError,
         "transcript file"),
        ("youtube_transcripts_disabled2.innertube.json.static", TranscriptsDisabledError,
         "transcript file"),
        ("youtube_request_blocked.innertube.json.static", RequestBlockedError, "proxy="),
        ("youtube_age_restricted.innertube.json.static", AgeRestrictedError, "yt-dlp"),
        ("youtube_unplayable.innertube.json.static", VideoUnplayableError, "proxy"),
        ("youtube_video_unavailable.innertube.json.static", VideoUnavailableError,
         "Check the ID"),
    ],
)
def test_player_failures_become_ytqa_errors(
    youtube: FakeYouTube, asset: str, error_type: type[YtqaError], advice: str
) -> None:
    youtube.player(asset)

    with pytest.raises(error_type) as caught:
        # asr="never": without captions, speech-to-text would step in (tests/test_asr_youtube.py).
        load_transcript(VIDEO, asr="never")

    assert advice in str(caught.value)
    assert VIDEO in str(caught.value)
    assert isinstance(caught.value.__cause__, yta.CouldNotRetrieveTranscript)
    assert len(youtube.urls(PLAYER)) == 1  # never retried


def test_unplayable_reason_is_kept(youtube: FakeYouTube) -> None:
    youtube.player("youtube_unplayable.innertube.json.static")

    with pytest.raises(VideoUnplayableError, match="Custom Reason; Sub Reason 1; Sub Reason 2"):
        load_transcript(VIDEO)


def test_captcha_page_means_blocked_ip(youtube: FakeYouTube) -> None:
    youtube.watch_page("youtube_too_many_requests.html.static")

    with pytest.raises(RequestBlockedError) as caught:
        load_transcript(VIDEO)

    message = str(caught.value)
    assert "blocks" in message or "blocked" in message
    assert "YTQA_PROXY" in message and "YTQA_WEBSHARE_USERNAME" in message
    assert isinstance(caught.value.__cause__, yta.IpBlocked)
    assert len(youtube.urls(WATCH)) == 1


def test_http_429_on_captions_is_blocked_and_not_retried(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.GET, CAPTIONS, status=429)

    with pytest.raises(RequestBlockedError, match="proxy"):
        load_transcript(VIDEO)
    assert len(youtube.urls(CAPTIONS)) == 1


def test_http_403_is_blocked(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.POST, PLAYER, status=403)

    with pytest.raises(RequestBlockedError, match="403"):
        load_transcript(VIDEO)


def test_consent_page_that_cannot_be_accepted(youtube: FakeYouTube) -> None:
    youtube.watch_page("youtube_consent_page_invalid.html.static")

    with pytest.raises(YouTubeDataError) as caught:
        load_transcript(WW1)

    assert "consent" in str(caught.value) and "proxy" in str(caught.value)
    assert isinstance(caught.value.__cause__, yta.FailedToCreateConsentCookie)


def test_no_transcript_in_asked_languages_lists_the_available_ones(youtube: FakeYouTube) -> None:
    with pytest.raises(NoTranscriptFoundError) as caught:
        load_transcript(VIDEO, languages=["xx", "yy"])

    message = str(caught.value)
    assert "xx, yy" in message
    assert "en (uploaded)" in message and "en (generated)" in message and "cs (uploaded)" in message
    assert "languages=" in message
    assert caught.value.available[0] == "zh (uploaded)"


def test_no_generated_transcript_suggests_any_kind(youtube: FakeYouTube) -> None:
    with pytest.raises(NoTranscriptFoundError) as caught:
        load_transcript(VIDEO, languages=["cs"], captions="generated")

    assert "no generated transcript in cs" in str(caught.value)
    assert "captions='any'" in str(caught.value)


def test_translation_not_available(youtube: FakeYouTube) -> None:
    youtube.player("youtube_ww1_nl_en.innertube.json.static")

    with pytest.raises(TranslationUnavailableError) as caught:
        load_transcript(WW1, translate_to="xx")

    message = str(caught.value)
    assert "'xx'" in message and "fr" in message and "drop translate_to" in message
    assert not youtube.urls(CAPTIONS)


def test_untranslatable_transcript(youtube: FakeYouTube) -> None:
    data = json.loads(youtube.asset("youtube_ww1_nl_en.innertube.json.static"))
    tracks = data["captions"]["playerCaptionsTracklistRenderer"]["captionTracks"]
    for track in tracks:
        track["isTranslatable"] = False
    youtube.mock.replace(responses.POST, PLAYER, json=data)

    with pytest.raises(TranslationUnavailableError, match="cannot be translated at all"):
        load_transcript(WW1, translate_to="de")


def test_youtube_data_without_api_key(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.GET, WATCH, body="<html><body>nothing here</body></html>")

    with pytest.raises(YouTubeDataError, match="pip install -U youtube-transcript-api"):
        load_transcript(VIDEO)


def test_player_answer_that_is_not_json(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.POST, PLAYER, body="<html>oops</html>")

    with pytest.raises(YouTubeDataError, match="not JSON") as caught:
        load_transcript(VIDEO)
    assert isinstance(caught.value.__cause__, requests.exceptions.JSONDecodeError)


def test_player_answer_with_unexpected_layout(youtube: FakeYouTube) -> None:
    data = json.loads(youtube.asset("youtube.innertube.json.static"))
    for track in data["captions"]["playerCaptionsTracklistRenderer"]["captionTracks"]:
        del track["name"]
    youtube.mock.replace(responses.POST, PLAYER, json=data)

    with pytest.raises(YouTubeDataError, match="unexpected data layout") as caught:
        load_transcript(VIDEO)
    assert isinstance(caught.value.__cause__, KeyError)


def test_caption_body_that_is_not_xml(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.GET, CAPTIONS, body="<transcript><text start='1'>oops")

    with pytest.raises(YouTubeDataError, match="not valid XML"):
        load_transcript(VIDEO)


def test_control_characters_in_captions_are_dropped(youtube: FakeYouTube) -> None:
    # XML 1.0 allows C1 controls such as CSI (U+009B), which terminals obey like ESC [.
    body = (
        '<?xml version="1.0" encoding="utf-8" ?><transcript>'
        '<text start="0" dur="1">clear\u009b2J the screen\u0090</text>'
        '<text start="1" dur="1">\u009b\u0085</text></transcript>'
    )
    youtube.mock.replace(
        responses.GET, CAPTIONS, body=body.encode("utf-8"), content_type="text/xml; charset=utf-8"
    )
    youtube.mock.get(OEMBED, json={"title": "Owned\u009b]0;x", "author_name": "C\u0007"})

    transcript = load_transcript(VIDEO)

    # Whole escape sequences go, so no visible remainder ("2J") is left either.
    assert transcript.segments == (Segment("clear the screen", 0.0, 1.0),)
    assert (transcript.title, transcript.channel) == ("Owned0;x", "C")


def test_client_error_is_not_retried(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.POST, PLAYER, status=404)

    with pytest.raises(NetworkError, match="404"):
        load_transcript(VIDEO)
    assert len(youtube.urls(PLAYER)) == 1


def _exception_instances() -> dict[type[Exception], Exception]:
    """One instance of every exception class youtube-transcript-api exports."""
    error = requests.HTTPError("500 Server Error")
    listing = yta.TranscriptList("abc", {}, {}, [])
    return {
        yta.YouTubeTranscriptApiException: yta.YouTubeTranscriptApiException("x"),
        yta.CookieError: yta.CookieError("x"),
        yta.CookiePathInvalid: yta.CookiePathInvalid(Path("cookies.txt")),
        yta.CookieInvalid: yta.CookieInvalid(Path("cookies.txt")),
        yta.TranscriptsDisabled: yta.TranscriptsDisabled("abc"),
        yta.NoTranscriptFound: yta.NoTranscriptFound("abc", ["en"], listing),
        yta.CouldNotRetrieveTranscript: yta.CouldNotRetrieveTranscript("abc"),
        yta.VideoUnavailable: yta.VideoUnavailable("abc"),
        yta.VideoUnplayable: yta.VideoUnplayable("abc", None, []),
        yta.IpBlocked: yta.IpBlocked("abc"),
        yta.RequestBlocked: yta.RequestBlocked("abc"),
        yta.NotTranslatable: yta.NotTranslatable("abc"),
        yta.TranslationLanguageNotAvailable: yta.TranslationLanguageNotAvailable("abc"),
        yta.FailedToCreateConsentCookie: yta.FailedToCreateConsentCookie("abc"),
        yta.YouTubeRequestFailed: yta.YouTubeRequestFailed("abc", error),
        yta.InvalidVideoId: yta.InvalidVideoId("abc"),
        yta.AgeRestricted: yta.AgeRestricted("abc"),
        yta.YouTubeDataUnparsable: yta.YouTubeDataUnparsable("abc"),
        yta.PoTokenRequired: yta.PoTokenRequired("abc"),
    }


def test_every_upstream_exception_has_a_ytqa_error() -> None:
    instances = _exception_instances()
    exported = {
        getattr(yta, name)
        for name in yta.__all__
        if isinstance(getattr(yta, name), type) and issubclass(getattr(yta, name), Exception)
    }
    assert exported == set(instances), "youtube-transcript-api gained exceptions: map them"
    for exc in instances.values():
        assert isinstance(youtube_fetch._ytqa_error(exc, "abc", None, 1), YtqaError), exc


def test_every_requests_exception_has_a_ytqa_error() -> None:
    classes = [
        value
        for value in vars(requests.exceptions).values()
        if isinstance(value, type) and issubclass(value, requests.RequestException)
    ]
    assert len(classes) > 15
    for cls in classes:
        exc = cls("doc", "{", 0) if issubclass(cls, json.JSONDecodeError) else cls("boom")
        assert isinstance(youtube_fetch._ytqa_error(exc, "abc", None, 1), YtqaError), cls


def test_socks_proxy_without_pysocks_names_the_extra() -> None:
    exc = requests.exceptions.InvalidSchema("Missing dependencies for SOCKS support.")
    error = youtube_fetch._ytqa_error(exc, "abc", None, 1)
    assert isinstance(error, MissingDependencyError)
    assert "requests[socks]" in str(error)


def test_youtube_rejecting_the_id_is_an_invalid_id() -> None:
    error = youtube_fetch._ytqa_error(yta.InvalidVideoId("abc"), "abc", None, 1)
    assert isinstance(error, InvalidVideoIdError)


# --- retries -----------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("connection reset"), requests.ReadTimeout("read timed out")],
)
def test_transient_failure_then_success(
    youtube: FakeYouTube, sleeps: list[float], failure: Exception
) -> None:
    youtube.mock.replace(responses.GET, WATCH, body=failure)
    youtube.mock.add(responses.GET, WATCH, body=youtube.asset("youtube.html.static"))

    transcript = load_transcript(VIDEO)

    assert transcript.segments == EXPECTED_SEGMENTS
    assert len(youtube.urls(WATCH)) == 2
    assert sleeps == [youtube_fetch.RETRY_BACKOFF]


def test_server_error_then_success(youtube: FakeYouTube, sleeps: list[float]) -> None:
    youtube.mock.replace(responses.POST, PLAYER, status=503)
    youtube.mock.add(
        responses.POST,
        PLAYER,
        body=youtube.asset("youtube.innertube.json.static"),
        content_type="application/json",
    )

    assert load_transcript(VIDEO).segments == EXPECTED_SEGMENTS
    assert len(youtube.urls(PLAYER)) == 2
    assert len(sleeps) == 1


def test_persistent_connection_failure_gives_network_error(
    youtube: FakeYouTube, sleeps: list[float]
) -> None:
    youtube.mock.replace(responses.GET, WATCH, body=requests.ConnectionError("no route to host"))

    with pytest.raises(NetworkError) as caught:
        load_transcript(VIDEO)

    attempts = youtube_fetch.RETRY_ATTEMPTS
    assert len(youtube.urls(WATCH)) == attempts
    backoff = youtube_fetch.RETRY_BACKOFF
    assert sleeps == [backoff * 2**n for n in range(attempts - 1)]  # exponential, bounded
    assert f"tried {attempts} times" in str(caught.value)
    assert "internet connection" in str(caught.value)
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


def test_persistent_server_error_gives_network_error(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.POST, PLAYER, status=500)

    with pytest.raises(NetworkError, match="500") as caught:
        load_transcript(VIDEO)
    assert len(youtube.urls(PLAYER)) == youtube_fetch.RETRY_ATTEMPTS
    assert isinstance(caught.value.__cause__, yta.YouTubeRequestFailed)


def test_retry_count_is_configurable(
    youtube: FakeYouTube, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(youtube_fetch, "RETRY_ATTEMPTS", 1)
    youtube.mock.replace(responses.GET, WATCH, body=requests.ConnectTimeout("timed out"))

    with pytest.raises(NetworkError, match="no answer in time"):
        load_transcript(VIDEO)
    assert len(youtube.urls(WATCH)) == 1


def test_every_request_has_a_timeout(youtube: FakeYouTube) -> None:
    load_transcript(VIDEO)
    youtube_calls = [c for c in youtube.mock.calls if not str(c.request.url).startswith(OEMBED)]
    assert youtube_calls
    for call in youtube_calls:
        assert call.request.req_kwargs["timeout"] == youtube_fetch.HTTP_TIMEOUT


# --- proxies -----------------------------------------------------------------


def _proxies_used(youtube: FakeYouTube) -> set[str]:
    return {
        proxy
        for call in youtube.mock.calls
        for proxy in (call.request.req_kwargs.get("proxies") or {}).values()
    }


def test_proxy_url_argument(youtube: FakeYouTube) -> None:
    load_transcript(VIDEO, proxy="http://user:secret@proxy.example:3128")

    assert _proxies_used(youtube) == {"http://user:secret@proxy.example:3128"}


def test_proxy_from_environment(youtube: FakeYouTube, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YTQA_PROXY", "socks5h://proxy.example:1080")

    load_transcript(VIDEO)

    assert _proxies_used(youtube) == {"socks5h://proxy.example:1080"}


def test_proxy_config_passes_through(youtube: FakeYouTube) -> None:
    config = GenericProxyConfig(https_url="http://proxy.example:8080")

    load_transcript(VIDEO, proxy=config)

    assert _proxies_used(youtube) == {"http://proxy.example:8080"}


def test_webshare_from_environment(youtube: FakeYouTube, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YTQA_WEBSHARE_USERNAME", "me")
    monkeypatch.setenv("YTQA_WEBSHARE_PASSWORD", "pw")
    monkeypatch.setenv("YTQA_WEBSHARE_LOCATIONS", "de, us")

    load_transcript(VIDEO)

    assert _proxies_used(youtube) == {"http://me-DE-US-rotate:pw@p.webshare.io:80/"}
    # Rotating proxies: a fresh connection (and IP) per request.
    assert all(c.request.headers.get("Connection") == "close" for c in youtube.mock.calls)


def test_half_a_webshare_login_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YTQA_WEBSHARE_USERNAME", "me")

    with pytest.raises(NetworkError, match="Set both"):
        load_transcript(VIDEO)


@pytest.mark.parametrize("proxy", ["not a url", "ftp://user:secret@host:21", "http://host:port"])
def test_bad_proxy_url(proxy: str) -> None:
    with pytest.raises(NetworkError) as caught:
        load_transcript(VIDEO, proxy=proxy)

    assert "http://user:password@host:port" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_blocked_through_a_proxy_says_so(youtube: FakeYouTube) -> None:
    youtube.player("youtube_request_blocked.innertube.json.static")

    with pytest.raises(RequestBlockedError, match="even through the proxy"):
        load_transcript(VIDEO, proxy="http://proxy.example:3128")


def test_unreachable_proxy(youtube: FakeYouTube) -> None:
    youtube.mock.replace(responses.GET, WATCH, body=requests.exceptions.ProxyError("refused"))

    with pytest.raises(NetworkError, match="Check the proxy URL"):
        load_transcript(VIDEO, proxy="http://proxy.example:3128")


# --- titles ------------------------------------------------------------------


def test_title_and_channel_from_oembed(youtube: FakeYouTube) -> None:
    youtube.mock.get(OEMBED, json={"title": "A test video", "author_name": "Some Channel"})

    transcript = load_transcript(VIDEO)

    assert (transcript.title, transcript.channel) == ("A test video", "Some Channel")
    (url,) = youtube.urls(OEMBED)
    query = parse_qs(urlsplit(url).query)
    assert query == {"url": [f"https://www.youtube.com/watch?v={VIDEO}"], "format": ["json"]}
    (call,) = [c for c in youtube.mock.calls if str(c.request.url).startswith(OEMBED)]
    assert call.request.req_kwargs["timeout"] == youtube_fetch.OEMBED_TIMEOUT


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 404},
        {"status": 500},
        {"body": "not json"},
        {"json": ["a", "list"]},
        {"body": requests.ConnectTimeout("slow")},
    ],
)
def test_oembed_failure_never_blocks_the_transcript(
    youtube: FakeYouTube, sleeps: list[float], answer: dict[str, object]
) -> None:
    youtube.mock.get(OEMBED, **answer)

    transcript = load_transcript(VIDEO)

    assert transcript.segments == EXPECTED_SEGMENTS
    assert (transcript.title, transcript.channel) == (None, None)
    assert len(youtube.urls(OEMBED)) == 1  # best effort: one try, no backoff
    assert sleeps == []


# --- the cache ---------------------------------------------------------------


def test_second_load_makes_no_http_request(youtube: FakeYouTube) -> None:
    youtube.mock.get(OEMBED, json={"title": "A test video", "author_name": "Some Channel"})
    first = load_transcript(VIDEO, languages=["de", "en"])

    with responses.RequestsMock() as nothing_registered:
        second = load_transcript(VIDEO, languages=["de", "en"])
        assert len(nothing_registered.calls) == 0

    assert second == first
    assert second.title == "A test video"


def test_refresh_fetches_again(youtube: FakeYouTube) -> None:
    load_transcript(VIDEO)
    load_transcript(VIDEO, refresh=True)

    assert len(youtube.urls(CAPTIONS)) == 2


def test_cache_is_keyed_by_language_kind_and_translation(youtube: FakeYouTube) -> None:
    english = load_transcript(VIDEO)
    german = load_transcript(VIDEO, languages=["de"])
    generated = load_transcript(VIDEO, captions="generated")
    translated = load_transcript(VIDEO, translate_to="fr")

    assert len(youtube.urls(CAPTIONS)) == 4
    assert [t.language_code for t in (english, german, generated, translated)] == [
        "en", "de", "en", "fr"
    ]
    assert generated.is_generated and translated.translated_from == "en"
    with responses.RequestsMock():
        assert load_transcript(VIDEO, captions="generated") == generated
        assert load_transcript(VIDEO, translate_to="fr") == translated


def test_corrupt_cache_file_is_refetched(youtube: FakeYouTube) -> None:
    load_transcript(VIDEO)
    (cache_file,) = (cache_dir() / VIDEO).glob("*.json")
    for garbage in ('{"ytqa_cache": 1, "transcript": {"video_id": 3}', "[]", "\x00\xff"):
        cache_file.write_text(garbage, encoding="latin-1")

        assert load_transcript(VIDEO).segments == EXPECTED_SEGMENTS

    assert len(youtube.urls(CAPTIONS)) == 4
    with responses.RequestsMock():  # repaired: served from the cache again
        assert load_transcript(VIDEO).segments == EXPECTED_SEGMENTS


def test_cache_write_is_atomic(youtube: FakeYouTube, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(source: str, target: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)

    transcript = load_transcript(VIDEO)  # a cache that cannot be written loses nothing

    assert transcript.segments == EXPECTED_SEGMENTS
    folder = cache_dir() / VIDEO
    assert list(folder.iterdir()) == []  # no half-written file, no temporary left over
    with pytest.raises(YtqaError, match="YTQA_HOME"):
        save_cached(transcript)


def test_save_and_load_cached_round_trip() -> None:
    older = Transcript(VIDEO, EXPECTED_SEGMENTS, "English", "en", False, title="T")
    newer = Transcript(VIDEO, EXPECTED_SEGMENTS[:1], "Deutsch", "de", False)
    other = Transcript("local-0123456789", EXPECTED_SEGMENTS, "und", "und", False, source="/x.srt")

    assert load_cached(VIDEO) is None
    assert cached_video_ids() == []
    path = save_cached(older)
    save_cached(newer)
    save_cached(other)

    assert path.is_file() and path.parent.parent == cache_dir()
    assert load_cached(VIDEO) == newer  # the most recently saved, any language
    assert load_cached("local-0123456789") == other
    assert cached_video_ids() == [VIDEO, "local-0123456789"]
    save_cached(older)
    assert load_cached(VIDEO) == older


def test_custom_ids_stay_inside_the_cache() -> None:
    for video_id in ("..", "../escape", "talk.v2:part/1"):
        transcript = Transcript(video_id, EXPECTED_SEGMENTS, "und", "und", False, source="/t.srt")
        path = save_cached(transcript)

        assert path.resolve().parent.parent == cache_dir().resolve()
        assert load_cached(video_id) == transcript
    assert cached_video_ids() == sorted(["..", "../escape", "talk.v2:part/1"])


def test_load_cached_skips_corrupt_files() -> None:
    good = Transcript(VIDEO, EXPECTED_SEGMENTS, "English", "en", False)
    save_cached(good)
    (cache_dir() / VIDEO / "zzzz.json").write_text("{broken", encoding="utf-8")

    assert load_cached(VIDEO) == good
