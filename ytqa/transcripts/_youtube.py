"""Captions from YouTube through youtube-transcript-api: choosing the track (language,
uploaded or generated), translation, proxies, timeouts and retries, the table that turns
every upstream failure into a ytqa error, and titles from oEmbed.

requests and youtube-transcript-api are imported inside the functions that use them.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ytqa.errors import (
    AgeRestrictedError,
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


# Indirection so that tests can observe the backoff without waiting for it.
_sleep = time.sleep


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
) -> Transcript:
    from youtube_transcript_api import YouTubeTranscriptApi

    proxy_config = _resolve_proxy(proxy)
    attempt = 0
    while True:
        attempt += 1
        session = _session_class()()
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
