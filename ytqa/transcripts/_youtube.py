"""Captions from YouTube through youtube-transcript-api: choosing the track (language,
uploaded or generated), translation, proxies, cookies, timeouts and retries, the pacing
of a run's requests (:class:`RequestPacer`), the table that turns every upstream failure
into a ytqa error, and titles from oEmbed.

requests and youtube-transcript-api are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ytqa.errors import (
    AgeRestrictedError,
    CookieFileError,
    InvalidVideoIdError,
    MissingDependencyError,
    NetworkError,
    NoTranscriptFoundError,
    PoTokenRequiredError,
    RequestBlockedError,
    TranscriptsDisabledError,
    TranslationUnavailableError,
    VideoUnavailableError,
    VideoUnplayableError,
    YouTubeDataError,
    YtqaError,
)
from ytqa.transcripts._model import Segment, Transcript, _clean_text
from ytqa.video import watch_url

if TYPE_CHECKING:
    import http.cookiejar

    import requests
    from youtube_transcript_api import Transcript as UpstreamTranscript
    from youtube_transcript_api import TranscriptList
    from youtube_transcript_api.proxies import ProxyConfig

logger = logging.getLogger(__name__)


RETRY_ATTEMPTS = 3
"""Attempts at a fetch when the network fails transiently (connection, timeout, 5xx)."""

RETRY_BACKOFF = 1.0
"""Seconds to wait before the second attempt; doubled before each further one."""

HTTP_TIMEOUT = (10.0, 30.0)
"""(connect, read) timeout of every request to YouTube; requests would wait forever."""

OEMBED_URL = "https://www.youtube.com/oembed"
OEMBED_TIMEOUT = (3.0, 5.0)
"""Titles are best effort: a slow oEmbed answer must not hold up the transcript."""

PROXY_ENV = "YTQA_PROXY"
WEBSHARE_USERNAME_ENV = "YTQA_WEBSHARE_USERNAME"
WEBSHARE_PASSWORD_ENV = "YTQA_WEBSHARE_PASSWORD"
WEBSHARE_LOCATIONS_ENV = "YTQA_WEBSHARE_LOCATIONS"


REQUEST_INTERVAL = 0.25
"""Default seconds between the starts of two requests to YouTube in a run (a video's
fetch makes four: watch page, player API, captions, oEmbed title)."""

BLOCKED_BACKOFF = 5.0
"""Seconds a run pauses after YouTube blocks a fetch; doubled each time it blocks again."""

BLOCKED_BACKOFF_MAX = 60.0
"""The longest pause between two blocked fetches."""

BLOCKED_GIVE_UP = 5
"""Blocked fetches in a row after which a run stops (:class:`~ytqa.errors.RunBlockedError`)."""


# Indirection so that tests can observe the backoff without waiting for it.
_sleep = time.sleep


class RequestPacer:
    """Paces the requests to YouTube of one run, across its threads.

    Every request waits for its turn: starts are at least ``interval`` seconds
    apart. When YouTube blocks a fetch, :meth:`blocked` pauses the whole run
    (``backoff`` seconds, doubled at each further block in a row, at most
    ``max_backoff``) rather than letting the other threads hammer on; after
    ``give_up`` blocks in a row it says the run should stop.
    """

    def __init__(
        self,
        interval: float = REQUEST_INTERVAL,
        *,
        backoff: float | None = None,
        max_backoff: float | None = None,
        give_up: int | None = None,
    ) -> None:
        if interval < 0:
            raise ValueError(f"interval must be 0 or more seconds, not {interval}")
        self.interval = interval
        # Read at creation, not import, so that tests may shorten them.
        self.backoff = BLOCKED_BACKOFF if backoff is None else backoff
        self.max_backoff = BLOCKED_BACKOFF_MAX if max_backoff is None else max_backoff
        self.give_up = BLOCKED_GIVE_UP if give_up is None else give_up
        self._lock = threading.Lock()
        self._next_start = 0.0  # time.monotonic() of the next allowed start
        self._in_a_row = 0
        self.pauses: list[float] = []
        """The pauses made after blocks, in seconds (for reports and tests)."""

    def wait_turn(self) -> None:
        """Wait until this request may start (reserving the slot first, so that
        waiting threads do not start together)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + self.interval
        if start > now:
            _sleep(start - now)

    def blocked(self) -> bool:
        """Note that YouTube blocked a fetch and pause the run; False when the run should
        stop instead (``give_up`` blocks in a row)."""
        with self._lock:
            self._in_a_row += 1
            if self._in_a_row >= self.give_up:
                return False
            pause = min(self.max_backoff, self.backoff * 2 ** (self._in_a_row - 1))
            self._next_start = max(self._next_start, time.monotonic() + pause)
            self.pauses.append(pause)
        logger.info("YouTube blocked a request; pausing every request for %.1f s", pause)
        return True

    def succeeded(self) -> None:
        """Note a fetch that went through (blocks are counted in a row)."""
        with self._lock:
            self._in_a_row = 0

    @property
    def stopped(self) -> bool:
        """Whether YouTube blocked ``give_up`` fetches in a row: no request should start."""
        return self._in_a_row >= self.give_up


_PACER: contextvars.ContextVar[RequestPacer | None] = contextvars.ContextVar(
    "ytqa_request_pacer", default=None
)


@contextlib.contextmanager
def pacing(pacer: RequestPacer | None) -> Iterator[None]:
    """Pace the YouTube requests made inside the block (in this thread) with *pacer*."""
    token = _PACER.set(pacer)
    try:
        yield
    finally:
        _PACER.reset(token)


def load_cookies(path: str | os.PathLike[str]) -> http.cookiejar.MozillaCookieJar:
    """Read a Netscape-format cookies file (``cookies.txt``) for YouTube's requests.

    Raises:
        CookieFileError: the file is missing, unreadable, malformed or holds no cookie.
    """
    file = Path(os.path.expanduser(os.fspath(path)))
    import http.cookiejar  # only runs with cookies: kept out of `import ytqa`

    jar = http.cookiejar.MozillaCookieJar()
    try:
        if not file.is_file():
            problem = "it is a folder" if file.is_dir() else "no such file"
            raise CookieFileError(file, problem)
        jar.load(str(file), ignore_discard=True, ignore_expires=True)
    except CookieFileError:
        raise
    except http.cookiejar.LoadError:
        # The message may quote a line of the file: never show it (it may hold a secret).
        raise CookieFileError(file, "it is not in the Netscape cookies.txt format") from None
    except UnicodeDecodeError:
        raise CookieFileError(file, "it is not a text file") from None
    except OSError as exc:
        raise CookieFileError(file, f"it cannot be read ({exc.strerror or exc})") from None
    if not len(jar):
        raise CookieFileError(file, "it holds no cookie")
    return jar


def yt_dlp_cookies(path: str | os.PathLike[str]) -> io.StringIO:
    """The cookies file *path*, checked, as yt-dlp's ``cookiefile`` option: a copy in
    memory, since yt-dlp writes its cookies back to a cookie *file* when it closes."""
    load_cookies(path)  # a bad file is a CookieFileError, not a yt-dlp failure
    return io.StringIO(Path(os.path.expanduser(os.fspath(path))).read_text(encoding="utf-8"))


def _normalise_languages(languages: Sequence[str]) -> tuple[str, ...]:
    if isinstance(languages, str):  # languages="en" would otherwise mean ("e", "n")
        languages = (languages,)
    return tuple(dict.fromkeys(code.strip() for code in languages if code and code.strip()))


@functools.lru_cache(maxsize=1)
def _session_class() -> type[requests.Session]:
    import requests

    class TimeoutSession(requests.Session):
        """A Session whose requests time out: youtube-transcript-api passes no timeout."""

        def request(
            self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
        ) -> requests.Response:
            if kwargs.get("timeout") is None:
                kwargs["timeout"] = HTTP_TIMEOUT
            pacer = _PACER.get()
            if pacer is not None:
                pacer.wait_turn()
            return super().request(method, url, *args, **kwargs)

    return TimeoutSession


def _mask(url: str) -> str:
    """*url* without its password, for messages."""
    return re.sub(r"//[^/@]*@", "//***@", url)


def _resolve_proxy(proxy: str | ProxyConfig | None) -> ProxyConfig | None:
    """Turn the ``proxy`` argument (or the environment) into a youtube-transcript-api config."""
    from youtube_transcript_api.proxies import (
        GenericProxyConfig,
        ProxyConfig,
        WebshareProxyConfig,
    )

    if isinstance(proxy, ProxyConfig):
        return proxy
    where = "proxy argument"
    if proxy is None:
        proxy = os.environ.get(PROXY_ENV, "").strip() or None
        where = PROXY_ENV
    if proxy is None:
        username = os.environ.get(WEBSHARE_USERNAME_ENV, "").strip()
        password = os.environ.get(WEBSHARE_PASSWORD_ENV, "").strip()
        if username and password:
            locations = os.environ.get(WEBSHARE_LOCATIONS_ENV, "")
            return WebshareProxyConfig(
                proxy_username=username,
                proxy_password=password,
                filter_ip_locations=[c.strip() for c in locations.split(",") if c.strip()] or None,
            )
        if username or password:
            raise NetworkError(
                None,
                f"only one of {WEBSHARE_USERNAME_ENV} and {WEBSHARE_PASSWORD_ENV} is set",
                advice="Set both (your Webshare proxy username and password), or neither.",
            )
        return None
    if not isinstance(proxy, str):
        raise TypeError(f"proxy must be a URL string or a ProxyConfig, not {type(proxy).__name__}")
    url = proxy.strip()
    try:
        parts = urlsplit(url)
        schemes = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
        valid = parts.scheme in schemes and bool(parts.hostname)
        if valid:
            _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        valid = False
    if not valid:
        raise NetworkError(
            None,
            f"the {where} {_mask(url)!r} is not a proxy URL",
            advice="Give one like http://user:password@host:port (or socks5://...).",
        )
    return GenericProxyConfig(http_url=url, https_url=url)


def _fetch_from_youtube(
    video_id: str,
    languages: tuple[str, ...],
    translate_to: str | None,
    captions: str,
    proxy: str | ProxyConfig | None,
    cookies: str | os.PathLike[str] | None = None,
) -> Transcript:
    from youtube_transcript_api import YouTubeTranscriptApi

    proxy_config = _resolve_proxy(proxy)
    jar = load_cookies(cookies) if cookies is not None else None
    attempt = 0
    while True:
        attempt += 1
        session = _session_class()()
        if jar is not None:
            # youtube-transcript-api 1.2 has no cookie option: its session carries them.
            session.cookies.update(jar)
        try:
            api = YouTubeTranscriptApi(proxy_config=proxy_config, http_client=session)
            fetched, translated_from = _fetch_once(
                api, video_id, languages, translate_to, captions
            )
        except YtqaError:
            session.close()
            raise
        except Exception as exc:
            session.close()
            if attempt < RETRY_ATTEMPTS and _is_transient(exc):
                delay = RETRY_BACKOFF * 2 ** (attempt - 1)
                logger.info("fetching %s failed (%s); retry in %.1f s", video_id, exc, delay)
                _sleep(delay)
                continue
            error = _ytqa_error(exc, video_id, proxy_config, attempt)
            if error is None:
                raise
            raise error from exc
        break
    try:
        title, channel = _fetch_title(session, video_id)
    finally:
        session.close()
    return Transcript(
        video_id=video_id,
        segments=tuple(
            Segment(text, float(snippet.start), float(snippet.duration))
            for snippet in fetched.snippets
            if (text := _clean_text(snippet.text))
        ),
        language=fetched.language,
        language_code=fetched.language_code,
        is_generated=fetched.is_generated,
        title=title,
        channel=channel,
        source="youtube",
        translated_from=translated_from,
    )


def _fetch_once(
    api: Any,
    video_id: str,
    languages: tuple[str, ...],
    translate_to: str | None,
    captions: str,
) -> tuple[Any, str | None]:
    """List the video's transcripts, pick one, translate it if asked, fetch it."""
    listing = api.list(video_id)
    if translate_to is not None:
        # Captions that exist in the target language beat a machine translation.
        direct = _candidates(listing, (translate_to,), captions, fuzzy=False)
        if direct:
            return direct[0].fetch(), None
    candidates = _candidates(listing, languages, captions)
    if not candidates and translate_to is not None:
        # Translating anyway: any transcript will do as the source.
        candidates = _candidates(listing, (), captions)
    if not candidates:
        raise NoTranscriptFoundError(
            video_id, languages or ("any language",), _describe(listing), captions
        )
    if translate_to is None:
        return candidates[0].fetch(), None
    # The first candidate may not be translatable while another (often the
    # generated track) is: take the first one that can be translated.
    targets: dict[str, None] = {}
    for candidate in candidates:
        codes = [language.language_code for language in candidate.translation_languages]
        targets.update(dict.fromkeys(codes))
        if translate_to in codes:
            return candidate.translate(translate_to).fetch(), candidate.language_code
    raise TranslationUnavailableError(video_id, translate_to, list(targets))


def _describe(listing: TranscriptList) -> list[str]:
    return [
        f"{t.language_code} ({'generated' if t.is_generated else 'uploaded'})" for t in listing
    ]


def _candidates(
    listing: TranscriptList, languages: tuple[str, ...], captions: str, *, fuzzy: bool = True
) -> list[UpstreamTranscript]:
    """The video's transcripts that fit *languages* and *captions*, best first.

    Language priority first; within a language, uploaded before generated.
    With *fuzzy*, after every exact match, a code also matches the same
    language in another region (``en`` finds ``en-US``, ``pt-BR`` finds ``pt``).
    """
    available = list(listing)  # uploaded tracks first, then generated ones
    kinds = {"any": (False, True), "manual": (False,), "generated": (True,)}[captions]
    codes = languages or tuple(dict.fromkeys(t.language_code for t in available))
    chosen: list[UpstreamTranscript] = []
    for exact in (True, False) if fuzzy else (True,):
        for code in codes:
            wanted = code.lower()
            for generated in kinds:
                for transcript in available:
                    have = transcript.language_code.lower()
                    fits = have == wanted if exact else have.split("-")[0] == wanted.split("-")[0]
                    if fits and transcript.is_generated == generated and transcript not in chosen:
                        chosen.append(transcript)
    return chosen


def _http_status(exc: BaseException) -> int | None:
    """The HTTP status behind youtube-transcript-api's YouTubeRequestFailed, if known."""
    # It raises YouTubeRequestFailed inside `except HTTPError`, keeping it as context.
    response = getattr(exc.__context__, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return status
    found = re.match(r"\s*([0-9]{3})\b", str(getattr(exc, "reason", "")))
    return int(found[1]) if found else None


def _is_transient(exc: Exception) -> bool:
    """Whether retrying may help: a dropped connection, a timeout, a 5xx answer."""
    import requests
    from youtube_transcript_api import YouTubeRequestFailed

    if isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.InvalidSchema)):
        return False
    if isinstance(
        exc,
        (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ),
    ):
        return True
    if isinstance(exc, YouTubeRequestFailed):
        status = _http_status(exc)
        return status is not None and status >= 500
    return False


def _ytqa_error(
    exc: Exception, video_id: str, proxy_config: ProxyConfig | None, attempts: int
) -> YtqaError | None:
    """The ytqa error for an upstream exception, or None when it is none of theirs."""
    from xml.etree.ElementTree import ParseError

    import requests
    import youtube_transcript_api as yta

    tried = f" (tried {attempts} times)" if attempts > 1 else ""
    if isinstance(exc, yta.InvalidVideoId):
        return InvalidVideoIdError(video_id, "YouTube does not know it as a video ID")
    if isinstance(exc, yta.VideoUnavailable):
        return VideoUnavailableError(video_id)
    if isinstance(exc, yta.AgeRestricted):
        return AgeRestrictedError(video_id)
    if isinstance(exc, yta.VideoUnplayable):
        reason = "; ".join(r for r in [exc.reason, *exc.sub_reasons] if r)
        return VideoUnplayableError(video_id, reason or None)
    if isinstance(exc, yta.TranscriptsDisabled):
        return TranscriptsDisabledError(video_id)
    if isinstance(exc, yta.RequestBlocked):
        if isinstance(exc, yta.IpBlocked):
            detail = "YouTube rate-limits or bans this IP address"
        else:
            detail = "YouTube asks to sign in to confirm you are not a bot"
        if proxy_config is not None:
            detail += ", even through the proxy; rotating residential proxies work best"
        return RequestBlockedError(video_id, detail)
    if isinstance(exc, yta.PoTokenRequired):
        return PoTokenRequiredError(video_id)
    if isinstance(exc, yta.FailedToCreateConsentCookie):
        return YouTubeDataError(
            video_id,
            "YouTube showed its cookie-consent page and it could not be accepted; "
            "a proxy outside the EU avoids that page",
        )
    if isinstance(exc, yta.YouTubeDataUnparsable):
        return YouTubeDataError(video_id, "the watch page holds no player API key")
    if isinstance(exc, yta.YouTubeRequestFailed):
        status = _http_status(exc)
        if status == 403:
            return RequestBlockedError(video_id, "HTTP 403 Forbidden")
        return NetworkError(video_id, f"YouTube answered {exc.reason}{tried}")
    if isinstance(exc, (yta.NotTranslatable, yta.TranslationLanguageNotAvailable)):
        return TranslationUnavailableError(video_id, "the asked language")
    if isinstance(exc, yta.NoTranscriptFound):
        return NoTranscriptFoundError(video_id, ("the asked languages",), ())
    if isinstance(exc, yta.YouTubeTranscriptApiException):
        return YouTubeDataError(video_id, type(exc).__name__)
    if isinstance(exc, requests.exceptions.InvalidSchema) and "socks" in str(exc).lower():
        return MissingDependencyError("SOCKS proxies", "pip install 'requests[socks]'")
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return YouTubeDataError(video_id, "the player API answered with something that is not JSON")
    if isinstance(exc, requests.exceptions.ProxyError):
        return NetworkError(
            video_id,
            f"the proxy failed the connection{tried}",
            advice="Check the proxy URL, its credentials and that it is running, then retry.",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(video_id, f"the secure connection failed ({exc})")
    if isinstance(exc, requests.Timeout):
        return NetworkError(video_id, f"no answer in time{tried}")
    if isinstance(exc, requests.ConnectionError):
        return NetworkError(video_id, f"no connection{tried}")
    if isinstance(exc, requests.RequestException):
        return NetworkError(video_id, f"{type(exc).__name__}{tried}")
    if isinstance(exc, ParseError):
        return YouTubeDataError(video_id, "the captions YouTube sent are not valid XML")
    if isinstance(exc, (KeyError, IndexError, TypeError, AttributeError, ValueError)):
        # youtube-transcript-api indexes into YouTube's JSON without checks.
        return YouTubeDataError(video_id, f"unexpected data layout: {type(exc).__name__}: {exc}")
    return None


def _fetch_title(session: requests.Session, video_id: str) -> tuple[str | None, str | None]:
    """Title and channel from YouTube's oEmbed endpoint; (None, None) on any failure."""
    import requests

    try:
        response = session.get(
            OEMBED_URL,
            params={"url": watch_url(video_id), "format": "json"},
            timeout=OEMBED_TIMEOUT,
        )
        response.raise_for_status()
        data = response.json()
    except (requests.RequestException, ValueError) as exc:
        # Best effort: the transcript is what matters, a title is a nicety.
        logger.info("no title for %s from oEmbed: %s", video_id, exc)
        return None, None
    if not isinstance(data, dict):
        return None, None
    title, channel = data.get("title"), data.get("author_name")
    return (
        _clean_text(title) or None if isinstance(title, str) else None,
        _clean_text(channel) or None if isinstance(channel, str) else None,
    )
