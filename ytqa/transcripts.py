"""Transcripts: the data model, fetching from YouTube, reading local files, the cache.

Everything a user can name a video by ends up here as a :class:`Transcript`:

* a video ID or URL is fetched with youtube-transcript-api (languages, uploaded
  vs generated captions, translation, proxies), with every upstream failure
  turned into a :class:`ytqa.YtqaError` that says what to do;
* a ``.srt``, ``.vtt`` or youtube-transcript-api ``.json`` file is parsed here,
  including YouTube's auto-caption VTT with rolling, duplicated lines;
* fetched transcripts (and transcripts read from files) are kept in an on-disk
  cache under the ytqa home, so that a second load needs no network at all.

Heavy or network libraries (requests, youtube-transcript-api, yt-dlp) are
imported inside the functions that use them, so ``import ytqa`` stays fast.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import functools
import hashlib
import html
import json
import logging
import math
import os
import re
import stat
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

from ytqa._terminal import one_line
from ytqa.config import MAX_TRANSCRIPT_BYTES_ENV, cache_dir, max_transcript_bytes, ytqa_home
from ytqa.errors import (
    AgeRestrictedError,
    InvalidVideoIdError,
    MissingDependencyError,
    NetworkError,
    NoTranscriptFoundError,
    PlaylistError,
    PoTokenRequiredError,
    RequestBlockedError,
    SpeechToTextError,
    TranscriptFileError,
    TranscriptsDisabledError,
    TranslationUnavailableError,
    VideoUnavailableError,
    VideoUnplayableError,
    YouTubeDataError,
    YtqaError,
)
from ytqa.video import is_video_id, parse_video_id, watch_url

if TYPE_CHECKING:
    import requests
    from youtube_transcript_api import Transcript as UpstreamTranscript
    from youtube_transcript_api import TranscriptList
    from youtube_transcript_api.proxies import ProxyConfig

    from ytqa.asr import AsrMode, SpeechToText

__all__ = [
    "Captions",
    "Segment",
    "Transcript",
    "cached_transcripts",
    "cached_video_ids",
    "expand_sources",
    "load_cached",
    "load_transcript",
    "read_transcript_file",
    "save_cached",
    "transcript_files",
    "video_cache_dir",
    "video_link",
]

logger = logging.getLogger(__name__)

Captions = Literal["any", "manual", "generated"]
"""Which captions to take: uploaded first then generated (``any``), or only one kind."""

TRANSCRIPT_SUFFIXES = (".srt", ".vtt", ".json")
"""File name endings :func:`transcript_files` and :func:`load_transcript` read."""

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

_CACHE_FORMAT = 1
_PLAYLISTS_EXTRA = "pip install 'ytqa[playlists]'"

# Indirection so that tests can observe the backoff without waiting for it.
_sleep = time.sleep


@dataclass(frozen=True, slots=True)
class Segment:
    """One caption cue: its text and when it is spoken (seconds)."""

    text: str
    start: float
    duration: float

    @property
    def end(self) -> float:
        """Second at which the cue ends."""
        return self.start + self.duration


@dataclass(frozen=True)
class Transcript:
    """The captions of one video, in order, with what is known about them.

    ``video_id`` is the 11-character YouTube ID, or for a local file whose name
    holds no ID a stable ID derived from the file (``local-`` + hash).
    ``source`` is ``"youtube"`` for fetched captions, else the file's path.
    """

    video_id: str
    segments: tuple[Segment, ...]
    language: str
    language_code: str
    is_generated: bool
    title: str | None = None
    channel: str | None = None
    source: str = "youtube"
    translated_from: str | None = field(default=None)
    asr_model: str | None = None
    """The Whisper model that transcribed the speech (speech-to-text), else None."""

    @property
    def text(self) -> str:
        """All cue texts joined by single spaces."""
        return " ".join(segment.text for segment in self.segments)

    @property
    def duration(self) -> float:
        """Second at which the last cue ends (0 for an empty transcript)."""
        return max((segment.end for segment in self.segments), default=0.0)

    @property
    def captions(self) -> Literal["manual", "generated", "asr"]:
        """How the text was made: uploaded captions, YouTube's automatic ones, or ytqa's
        speech-to-text (``asr``, see :attr:`asr_model`)."""
        if self.asr_model:
            return "asr"
        return "generated" if self.is_generated else "manual"

    @property
    def is_youtube(self) -> bool:
        """Whether the video ID is a real YouTube ID (links open on YouTube)."""
        return is_video_id(self.video_id)

    def link(self, seconds: float | None = None) -> str:
        """Link that opens the video at *seconds*.

        A YouTube watch URL with ``&t=NNs``; for a local file with no YouTube
        ID, the file's URI with a ``#t=NN`` media fragment.
        """
        return video_link(self.video_id, self.source, seconds)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form of the transcript (for the cache)."""
        return {
            "video_id": self.video_id,
            "language": self.language,
            "language_code": self.language_code,
            "is_generated": self.is_generated,
            "title": self.title,
            "channel": self.channel,
            "source": self.source,
            "translated_from": self.translated_from,
            "segments": [
                {"text": s.text, "start": s.start, "duration": s.duration}
                for s in self.segments
            ],
            # Only when set: the fingerprints of existing indexes hash this dict.
            **({"asr_model": self.asr_model} if self.asr_model else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        """Inverse of :meth:`to_dict`."""
        return cls(
            video_id=str(data["video_id"]),
            segments=tuple(
                Segment(str(s["text"]), float(s["start"]), float(s["duration"]))
                for s in data["segments"]
            ),
            language=str(data["language"]),
            language_code=str(data["language_code"]),
            is_generated=bool(data["is_generated"]),
            title=data.get("title"),
            channel=data.get("channel"),
            source=str(data.get("source", "youtube")),
            translated_from=data.get("translated_from"),
            asr_model=data.get("asr_model") or None,
        )


# ---------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------


def video_link(video_id: str, source: str, seconds: float | None = None) -> str:
    """Link that opens *video_id* at *seconds*; *source* is ``"youtube"`` or the file path.

    >>> video_link("dQw4w9WgXcQ", "youtube", 312.4)
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=312s'
    """
    if is_video_id(video_id) or source == "youtube":
        return watch_url(video_id, seconds)
    uri = Path(source).resolve().as_uri()
    return uri if seconds is None else f"{uri}#t={max(0, int(seconds))}"


def load_transcript(
    source: str | os.PathLike[str],
    *,
    languages: Sequence[str] = ("en",),
    translate_to: str | None = None,
    captions: Captions = "any",
    proxy: str | ProxyConfig | None = None,
    refresh: bool = False,
    video_id: str | None = None,
    asr: AsrMode | SpeechToText | None = None,
    asr_model: str | os.PathLike[str] | None = None,
) -> Transcript:
    """Return the transcript of *source*: a video ID, a video URL, a transcript or media file.

    For YouTube videos, ``languages`` lists language codes by priority (within
    one language, uploaded captions come before generated ones when
    ``captions="any"``; an empty sequence takes whatever language exists);
    ``translate_to`` asks YouTube for a machine translation of the transcript
    found in ``languages`` (else of any transcript; captions that exist in
    the target language are taken as they are); ``proxy`` is a
    proxy URL or a youtube-transcript-api ``ProxyConfig`` (default:
    ``$YTQA_PROXY``, else Webshare from ``$YTQA_WEBSHARE_USERNAME`` and
    ``$YTQA_WEBSHARE_PASSWORD``). The result is cached under the ytqa home and
    later loads read the cache without any network request, unless
    ``refresh=True``. Title and channel come from YouTube's oEmbed endpoint,
    best effort.

    A path to a ``.srt``, ``.vtt`` or ``.json`` file is read with
    :func:`read_transcript_file` (``video_id`` names its video; the fetching
    options do not apply) and saved in the cache too, so that the video can be
    re-embedded after the file is gone.

    Speech-to-text (the ``ytqa[asr]`` extra, :mod:`ytqa.asr`): an audio or
    video file (``.mp3``, ``.m4a``, ``.wav``, ``.mp4``, ...) is transcribed by
    Whisper; a YouTube video with no captions at all is transcribed from its
    audio when ``asr="auto"`` (the default; ``$YTQA_ASR``), and every video
    with ``asr="always"``; ``asr="never"`` only takes captions. ``asr`` may
    also be a :class:`~ytqa.asr.SpeechToText` (device, duration limit,
    progress callback); ``asr_model`` names the Whisper model (``"tiny.en"``,
    ``"base"``, ..., ``"turbo"``, or a folder). The speech is taken to be in
    the first language of ``languages`` that Whisper finds plausible, else in
    the one it detects. Transcripts are cached per video and Whisper model.

    Raises:
        InvalidVideoIdError: *source* is neither a file nor a video reference.
        TranscriptError: a subclass saying why YouTube gave no transcript.
        TranscriptFileError: the file is missing, empty or malformed.
        MediaFileError, AudioTooLongError, SpeechToTextError, AudioDownloadError:
            speech-to-text could not run (see :mod:`ytqa.asr`).
    """
    path = _as_transcript_path(source)
    if path is not None and _is_media(path):
        from ytqa.asr import transcribe_file

        return transcribe_file(
            path, languages=_normalise_languages(languages), video_id=video_id, asr=asr,
            asr_model=asr_model, refresh=refresh,
        )
    if path is not None:
        transcript = read_transcript_file(path, video_id=video_id)
        _save_quietly(transcript, _file_cache_key(transcript))
        return transcript

    try:
        vid = parse_video_id(str(source))
    except InvalidVideoIdError:
        if _looks_like_path(str(source)):
            raise _no_such_file(Path(str(source).strip()), "no such file") from None
        raise
    codes = _normalise_languages(languages)
    if captions not in ("any", "manual", "generated"):
        raise ValueError(f"captions must be 'any', 'manual' or 'generated', not {captions!r}")
    target = translate_to.strip() if translate_to else None
    speech = _speech_to_text(asr, asr_model, target)
    if speech.mode == "always":
        from ytqa.asr import transcribe_youtube

        return transcribe_youtube(vid, languages=codes, proxy=proxy, asr=speech, refresh=refresh)
    key = _fetch_cache_key(codes, captions, target)
    # Speech-to-text stands in for captions that are missing altogether (not for
    # a translation, nor when only uploaded captions will do).
    fallback = speech.mode == "auto" and target is None and captions != "manual"
    if not refresh:
        cached = _read_cache_file(_cache_path(vid, key), vid)
        if cached is None and fallback:
            from ytqa.asr import cached_youtube_transcript

            cached = cached_youtube_transcript(vid, codes, speech)
        if cached is not None:
            logger.debug("transcript of %s read from the cache", vid)
            return cached
    try:
        transcript = _fetch_from_youtube(vid, codes, target, captions, proxy)
    except (TranscriptsDisabledError, NoTranscriptFoundError) as error:
        from ytqa.asr import has_no_captions, transcribe_youtube

        if not (fallback and has_no_captions(error)):
            raise
        return transcribe_youtube(
            vid, languages=codes, proxy=proxy, asr=speech, refresh=refresh, captions_error=error
        )
    _save_quietly(transcript, key)
    return transcript


def _is_media(path: Path) -> bool:
    from ytqa.asr import is_media_file

    return is_media_file(path)


def _speech_to_text(
    asr: AsrMode | SpeechToText | None, asr_model: str | os.PathLike[str] | None,
    translate_to: str | None,
) -> SpeechToText:
    from ytqa.asr import speech_to_text

    speech = speech_to_text(asr, asr_model)
    if speech.mode == "always" and translate_to is not None:
        raise SpeechToTextError(
            "Speech-to-text cannot translate: drop translate_to, or use asr='auto' so that "
            "YouTube translates the captions."
        )
    return speech


def read_transcript_file(
    path: str | os.PathLike[str], *, video_id: str | None = None
) -> Transcript:
    """Read a transcript file: youtube-transcript-api JSON, SRT or WebVTT.

    The format follows the file name ending (else the content). YouTube's
    auto-caption VTT, with inline word timings and rolling lines repeated from
    cue to cue, comes out as each spoken line once, in order, timed by the cue
    that first shows it.

    The video ID is *video_id* when given (an ID, a video URL, or a name of
    your own), else the file name's when it is one (``<ID>.srt``,
    ``<ID>.en.vtt``, yt-dlp's ``Title [<ID>].en.vtt``), else a stable
    ``local-<hash>`` derived from the file's bytes. The language code comes from
    the name (``.en.``), the VTT header or the JSON, else ``"und"``. No network,
    no cache: :func:`load_transcript` adds the caching.

    Only regular files (or links to them) are read, up to
    ``$YTQA_MAX_TRANSCRIPT_BYTES`` (default 50 MB). Text is UTF-8, or UTF-16
    or UTF-32 with a byte order mark; a file with no UTF-8 in it at all is
    read as Windows-1252. Control characters are dropped from the text.

    Raises:
        TranscriptFileError: the file cannot be read, is not a regular file, is
            too large, empty or malformed (the message names the file and,
            where one is at fault, the line).
    """
    file = Path(path)
    data = _read_regular_file(file)
    text = _decode(file, data)
    if not text.strip():
        raise TranscriptFileError(file, "the file is empty")
    parsed = _PARSERS[_detect_format(file, text)](text, file)
    if not parsed.segments:
        raise TranscriptFileError(file, "it holds no caption text")

    name_id, name_language = _names_from_file_name(file.name)
    if video_id is not None:
        vid = _custom_video_id(video_id)
    else:
        vid = name_id or parsed.video_id or "local-" + hashlib.sha256(data).hexdigest()[:10]
    code = name_language or parsed.language_code or "und"
    language = parsed.language if parsed.language and not name_language else code
    return Transcript(
        video_id=vid,
        segments=tuple(parsed.segments),
        language=language,
        language_code=code,
        is_generated=parsed.is_generated,
        title=parsed.title or _title_from_file_name(file.name),
        channel=parsed.channel,
        source=str(file.resolve()),
    )


def _title_from_file_name(name: str) -> str | None:
    """``My talk.srt`` -> ``My talk``; yt-dlp's ``Title [ID].en.vtt`` -> ``Title``.

    None when the name is only the video ID: citations then fall back to the ID.
    """
    if _FILE_NAME.fullmatch(name):
        return None
    title = _clean_text(_YT_DLP_NAME.sub("", _base_name(name)))
    return title or None


def _read_regular_file(file: Path) -> bytes:
    """The bytes of *file*, which must be a regular file within the size limit.

    The file is opened without blocking, so that a named pipe cannot hang the
    read, and its kind and size are checked on the opened descriptor, so that
    nothing can swap it between the check and the read.
    """
    limit = max_transcript_bytes()
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(file, flags)
    except OSError as exc:
        raise TranscriptFileError(file, _os_problem(file, exc)) from exc
    except ValueError as exc:  # a NUL character, or text the file system cannot encode
        raise TranscriptFileError(file, f"the system cannot take this path ({exc})") from exc
    chunks: list[bytes] = []
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise TranscriptFileError(file, _not_regular(file, status.st_mode))
        if status.st_size > limit:
            raise TranscriptFileError(file, _too_large(status.st_size, limit))
        remaining = limit + 1  # one byte more shows a file that grew past the limit
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise TranscriptFileError(file, _os_problem(file, exc)) from exc
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > limit:
        raise TranscriptFileError(file, _too_large(len(data), limit))
    return data


def _os_problem(file: Path, exc: OSError) -> str:
    """What the system's refusal to open or read *file* means, and what to do."""
    if exc.errno == errno.ELOOP:
        return (
            "it is a symbolic link loop (its links lead back to themselves, never to a "
            "file); point the link at the transcript file, or pass the file itself"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return (
            f"the path is too long for the file system ({len(str(file))} characters, or a "
            "part of it over 255 bytes); rename the file or move it to a shorter path"
        )
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        with contextlib.suppress(OSError):
            if os.path.islink(file):
                return f"it is a symbolic link to {os.readlink(file)}, which does not exist"
        return "no such file"
    if exc.errno == errno.EISDIR:
        return "it is a folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; make the file readable (chmod +r) or copy it somewhere readable"
    if exc.errno == errno.ENXIO:
        return "it is a socket, not a file; save the captions to a file first"
    return f"cannot read it ({exc.strerror or exc})"


def _not_regular(file: Path, mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a folder"
    kind = (
        "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
        else "a character device" if stat.S_ISCHR(mode)
        else "a block device" if stat.S_ISBLK(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    target = os.path.realpath(file)
    linked = f" (it links to {target})" if os.path.islink(file) else ""
    return (
        f"it is {kind}{linked}, and only regular files are read; save the captions "
        "to a regular file and pass that"
    )


def _too_large(size: int, limit: int) -> str:
    return (
        f"it is {size:,} bytes, more than the limit of {limit:,} bytes for transcript "
        f"files; if it really is a transcript, raise the limit with "
        f"{MAX_TRANSCRIPT_BYTES_ENV} (in bytes)"
    )


def transcript_files(
    folder: str | os.PathLike[str], *, prefer: Literal["manual", "generated"] = "manual"
) -> list[Path]:
    """Return the transcript files in *folder*, one per video, sorted by name.

    When a video has several files, ``prefer="manual"`` takes uploaded
    captions (``<ID>.srt``) over ``.json`` and auto-caption ``.vtt`` files;
    ``prefer="generated"`` takes ``.vtt`` first. Hidden files and other
    endings are left out; sub-folders are not searched.

    Raises:
        TranscriptFileError: *folder* is not a folder.
    """
    if prefer not in ("manual", "generated"):
        raise ValueError(f"prefer must be 'manual' or 'generated', not {prefer!r}")
    directory = Path(folder)
    if not directory.is_dir():
        raise TranscriptFileError(directory, "not a folder of transcript files")
    order = (".srt", ".json", ".vtt") if prefer == "manual" else (".vtt", ".json", ".srt")
    groups: dict[str, list[Path]] = {}
    for file in directory.iterdir():
        suffix = file.suffix.lower()
        if file.name.startswith(".") or suffix not in TRANSCRIPT_SUFFIXES or not file.is_file():
            continue
        name_id, _ = _names_from_file_name(file.name)
        groups.setdefault(name_id or _base_name(file.name), []).append(file)
    chosen = [
        min(files, key=lambda f: (order.index(f.suffix.lower()), f.name))
        for files in groups.values()
    ]
    return sorted(chosen, key=lambda f: f.name)


def expand_sources(
    sources: Iterable[str | os.PathLike[str]],
    *,
    prefer: Literal["manual", "generated"] = "manual",
    proxy: str | None = None,
) -> list[str | Path]:
    """Expand playlists, channels and folders into single sources, in order.

    A playlist or channel URL becomes its video IDs (through yt-dlp, the
    optional ``ytqa[playlists]`` extra); a folder becomes its transcript files
    (:func:`transcript_files` with *prefer*); a file stays a :class:`~pathlib.Path`;
    a video ID or URL becomes its 11-character ID. Duplicates are dropped.

    Raises:
        MissingDependencyError: a playlist needs yt-dlp, which is not installed.
        PlaylistError: yt-dlp could not list a playlist or channel.
        InvalidVideoIdError: a source names nothing ytqa can read.
        TranscriptFileError: a source looks like a file that does not exist.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    expanded: list[str | Path] = []
    seen: set[str] = set()

    def add(item: str | Path) -> None:
        # realpath, not Path.resolve(): that raises for a symbolic link loop.
        key = os.path.realpath(item) if isinstance(item, Path) else item
        if key not in seen:
            seen.add(key)
            expanded.append(item)

    for source in sources:
        text = os.fspath(source)
        if isinstance(source, str) and not text.strip():
            # Path("") is the current folder: an empty argument must not ingest it.
            raise InvalidVideoIdError(text, "an empty source names no video, file or folder")
        # os.path.expanduser, not Path.expanduser(): that raises for "~nosuchuser".
        path = Path(os.path.expanduser(text.strip())) if isinstance(source, str) else Path(source)
        if not is_video_id(text.strip()) and os.path.lexists(path):
            if _is_folder(path):
                from ytqa.asr import media_files

                files = transcript_files(path, prefer=prefer)
                files += media_files(path, besides=files)
                if not files:
                    raise TranscriptFileError(path, _folder_without_transcripts(path))
                for file in sorted(files, key=lambda f: f.name):
                    add(file)
            else:
                add(path)  # links and special files too: reading them says what is wrong
            continue
        try:
            add(parse_video_id(text))
        except InvalidVideoIdError:
            if _is_collection_url(text):
                for vid in _expand_collection(text.strip(), proxy):
                    add(vid)
            elif _looks_like_path(text):
                raise _no_such_file(path, "no such file or folder") from None
            else:
                raise
    return expanded


def _is_folder(path: Path) -> bool:
    # Not Path.is_dir(): it raises for a name too long instead of answering.
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # ValueError: a NUL character in the path
        return False


def _folder_without_transcripts(folder: Path) -> str:
    """Says what a folder holds, for the error when none of it is a transcript file."""
    def described(entry: os.DirEntry[str]) -> str:
        if entry.is_dir():
            return entry.name + "/"
        return entry.name if entry.is_file() else f"{entry.name} (not a regular file)"

    try:
        names = sorted(described(entry) for entry in os.scandir(folder))
    except OSError as exc:
        return f"it is a folder that cannot be listed ({exc.strerror or exc})"
    wanted = ", ".join(TRANSCRIPT_SUFFIXES)
    if not names:
        return f"it is an empty folder; put {wanted} files in it"
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"it is a folder with no {wanted} transcript file in it (hidden files, other "
        f"endings and sub-folders are left out); it holds {listed}"
    )


def _no_such_file(path: Path, problem: str) -> TranscriptFileError:
    """The error for a path that names nothing; says so when the system refused the name."""
    try:
        os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return TranscriptFileError(path, _os_problem(path, exc))
    except ValueError as exc:
        return TranscriptFileError(path, f"the system cannot take this path ({exc})")
    return TranscriptFileError(path, problem)


# ---------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------


def save_cached(transcript: Transcript) -> Path:
    """Save *transcript* in the ytqa cache and return the cache file.

    The write is atomic (a temporary file in the same folder, then
    :func:`os.replace`), so a crash never leaves a half-written file.

    Raises:
        YtqaError: the cache folder cannot be written.
    """
    if transcript.source == "youtube":
        key = _youtube_cache_key(transcript)
    else:
        key = _file_cache_key(transcript)
    return _write_cache(transcript, key)


def load_cached(video_id: str) -> Transcript | None:
    """Return the most recently saved transcript of *video_id*, or None.

    Any language or file of the video counts; unreadable cache files are skipped.
    """
    entries = cached_transcripts(video_id)
    return entries[0] if entries else None


def cached_transcripts(video_id: str) -> list[Transcript]:
    """Every readable cached transcript of *video_id* (any language or file), newest first.

    A cache folder or file that cannot be read is logged and skipped, never raised:
    one broken entry must not stop the other videos.
    """
    folder = video_cache_dir(video_id)
    try:
        files = sorted(folder.glob("*.json")) if _is_folder(folder) else []
    except OSError as exc:
        logger.warning("ignoring unreadable transcript cache folder %s: %s", folder, exc)
        return []
    ranked: list[tuple[int, int, Transcript]] = []
    for file in files:
        if file.name.startswith("."):
            continue
        entry = _read_cache_entry(file, video_id)
        if entry is None:
            continue
        with contextlib.suppress(OSError):
            ranked.append((entry[0], file.stat().st_mtime_ns, entry[1]))
    ranked.sort(key=lambda rank: rank[:2], reverse=True)
    return [transcript for _, _, transcript in ranked]


def cached_video_ids() -> list[str]:
    """Return the IDs of the videos that have a transcript in the cache, sorted."""
    root = cache_dir()
    if not _is_folder(root):
        return []
    found = []
    for folder in root.iterdir():
        try:
            if _is_folder(folder) and any(
                not f.name.startswith(".") for f in folder.glob("*.json")
            ):
                found.append(unquote(folder.name))
        except OSError as exc:
            logger.warning("ignoring unreadable transcript cache folder %s: %s", folder, exc)
    return sorted(found)


def _fs_name(video_id: str) -> str:
    # Percent-encoding keeps any custom ID a single, reversible folder name
    # ('.' too, so that '..' can never climb out of the cache).
    return quote(video_id, safe="-_").replace(".", "%2E")


def video_cache_dir(video_id: str) -> Path:
    """The cache folder of *video_id*'s transcripts (it may not exist)."""
    return cache_dir() / _fs_name(video_id)


def _cache_path(video_id: str, key: str) -> Path:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return video_cache_dir(video_id) / f"{digest}.json"


def _fetch_cache_key(languages: Sequence[str], captions: str, translate_to: str | None) -> str:
    return json.dumps(
        {"languages": list(languages), "captions": captions, "translate_to": translate_to},
        sort_keys=True,
    )


def _youtube_cache_key(transcript: Transcript) -> str:
    return json.dumps(
        {
            "language_code": transcript.language_code,
            "is_generated": transcript.is_generated,
            "translated_from": transcript.translated_from,
            # Speech-to-text never takes the place of captions, nor one model another's.
            **({"asr_model": transcript.asr_model} if transcript.asr_model else {}),
        },
        sort_keys=True,
    )


def _file_cache_key(transcript: Transcript) -> str:
    if transcript.asr_model:
        return json.dumps({"file": transcript.source, "asr_model": transcript.asr_model})
    return json.dumps({"file": transcript.source})


def _write_cache(transcript: Transcript, key: str) -> Path:
    target = _cache_path(transcript.video_id, key)
    payload = json.dumps(
        {
            "ytqa_cache": _CACHE_FORMAT,
            "saved_at": time.time_ns(),
            "key": key,
            "transcript": transcript.to_dict(),
        },
        ensure_ascii=False,
    )
    import tempfile  # not at module level: it pulls in shutil, lzma, random

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=".", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        raise YtqaError(
            f"Could not write the transcript cache at {target.parent} ({exc.strerror or exc}). "
            f"Make the ytqa home {ytqa_home()} writable, or point YTQA_HOME at another folder."
        ) from exc
    return target


def _save_quietly(transcript: Transcript, key: str) -> None:
    """Cache *transcript*; a cache that cannot be written must not lose the transcript."""
    try:
        _write_cache(transcript, key)
    except YtqaError as exc:
        logger.warning("%s", exc)


def _read_cache_entry(file: Path, video_id: str) -> tuple[int, Transcript] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("ytqa_cache") != _CACHE_FORMAT:
            raise ValueError("not a ytqa cache file")
        transcript = Transcript.from_dict(data["transcript"])
        saved_at = int(data.get("saved_at", 0))
        if transcript.video_id != video_id:
            raise ValueError(f"holds video {transcript.video_id!r}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError,
            OverflowError) as exc:
        # A corrupt or foreign file is a cache miss, never a crash: refetch instead.
        logger.warning("ignoring unreadable transcript cache file %s: %s", file, exc)
        return None
    return saved_at, transcript


def _read_cache_file(file: Path, video_id: str) -> Transcript | None:
    try:
        if not stat.S_ISREG(os.stat(file).st_mode):
            return None
    except (OSError, ValueError):  # no such file, or a name the system refuses: a miss
        return None
    entry = _read_cache_entry(file, video_id)
    return None if entry is None else entry[1]


# ---------------------------------------------------------------------------
# Sources: files, IDs, playlists
# ---------------------------------------------------------------------------


def _as_transcript_path(source: str | os.PathLike[str]) -> Path | None:
    """Return *source* as a file path when it names something on disk, else None.

    Links that lead nowhere count as something: reading them says what is wrong.
    """
    if isinstance(source, os.PathLike):
        path = Path(source)
        if not os.path.lexists(path):
            raise _no_such_file(path, "no such file")
    else:
        text = str(source).strip()
        # A bare ID is a video even if a file of that name happens to exist;
        # an empty string is no file (Path("") would be the current folder).
        if not text or is_video_id(text):
            return None
        path = Path(os.path.expanduser(text))
        if not os.path.lexists(path):  # False for a name too long: then it is no file
            return None
    if _is_folder(path):
        raise TranscriptFileError(
            path, "it is a folder; pass it to expand_sources() or `ytqa ingest FOLDER`"
        )
    return path


def _looks_like_url(text: str) -> bool:
    stripped = text.strip()
    host = stripped.split("/", 1)[0].lower()
    return "://" in stripped or host in _YOUTUBE_HOSTS or host.endswith(("youtu.be", ".com"))


def _looks_like_path(text: str) -> bool:
    """Whether *text* (that names no video) was meant as a file path, for the error to raise."""
    from ytqa.asr import MEDIA_SUFFIXES

    stripped = text.strip()
    if _looks_like_url(stripped):
        return False
    return (
        stripped.lower().endswith(TRANSCRIPT_SUFFIXES + MEDIA_SUFFIXES)
        or stripped.startswith(("/", "./", "../", "~"))
        or os.sep in stripped
    )


_YOUTUBE_HOSTS = {
    "youtube.com",
    "www.youtube.com",
    "m.youtube.com",
    "music.youtube.com",
    "youtube-nocookie.com",
    "www.youtube-nocookie.com",
}


def _is_collection_url(text: str) -> bool:
    """Whether *text* is a YouTube playlist or channel address (not one video)."""
    candidate = text.strip()
    if "://" not in candidate:
        candidate = "https://" + candidate
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if host not in _YOUTUBE_HOSTS:
        return False
    segments = [s for s in parts.path.split("/") if s]
    if "list" in parse_qs(parts.query):
        return True
    return bool(segments) and (
        segments[0] in ("playlist", "channel", "c", "user") or segments[0].startswith("@")
    )


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


# IDs of one's own stay short and ASCII: each is a cache folder name (percent-
# encoded, at most 3 bytes a character), a Chroma metadata value and a CLI argument.
_OWN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_OWN_ID_RULE = "at most 64 ASCII letters, digits, '_', '-', '.' and ':'"


def _is_valid_video_id(text: str) -> bool:
    """Whether *text* may name a video: a YouTube ID, ``local-<hash>``, or an ID of one's own."""
    return _OWN_ID.fullmatch(text) is not None


def _custom_video_id(text: str) -> str:
    """Validate a caller-given video ID: a YouTube reference, or a name of one's own."""
    candidate = text.strip()
    try:
        return parse_video_id(candidate)
    except InvalidVideoIdError:
        if _is_valid_video_id(candidate):
            return candidate
        raise InvalidVideoIdError(
            text[:80] + ("..." if len(text) > 80 else ""),
            f"a video ID of your own may hold {_OWN_ID_RULE}",
        ) from None


_LANGUAGE_PART = r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*"
_FILE_NAME = re.compile(
    rf"(?P<id>[A-Za-z0-9_-]{{11}})(?:\.(?P<lang>{_LANGUAGE_PART}))?\.(?:srt|vtt|json)",
    re.IGNORECASE,
)
_YT_DLP_NAME = re.compile(r"\[(?P<id>[A-Za-z0-9_-]{11})\]")
_LANGUAGE_SUFFIX = re.compile(rf"\.(?P<lang>{_LANGUAGE_PART})\.(?:srt|vtt|json)$", re.IGNORECASE)


def _names_from_file_name(name: str) -> tuple[str | None, str | None]:
    """Return the (video ID, language code) that a transcript file name holds."""
    match = _FILE_NAME.fullmatch(name)
    if match:
        return match["id"], match["lang"]
    language = _LANGUAGE_SUFFIX.search(name)
    code = language["lang"] if language else None
    bracketed = _YT_DLP_NAME.search(name)
    return (bracketed["id"] if bracketed else None), code


def _base_name(name: str) -> str:
    """``talk.en.vtt`` and ``talk.srt`` -> ``talk`` (one video, several files)."""
    language = _LANGUAGE_SUFFIX.search(name)
    if language:
        return name[: language.start()]
    return name.rsplit(".", 1)[0]


# ---------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------


@dataclass
class _ParsedFile:
    segments: list[Segment]
    is_generated: bool = False
    language_code: str | None = None
    language: str | None = None
    video_id: str | None = None
    title: str | None = None
    channel: str | None = None


@dataclass
class _Cue:
    start: float
    end: float
    line: int
    lines: list[str] = field(default_factory=list)


_TIMESTAMP = r"(?:([0-9]{1,9}):)?([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]{1,9}))?"
_TIMING_LINE = re.compile(rf"\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(?:[ \t].*)?")
_CUE_NUMBER = re.compile(r"[0-9]+")
_TAG = re.compile(r"<[^>\n]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}\n]*\}")
# YouTube's auto-captions time each word: "word<00:00:01.500><c> next</c>".
_WORD_TIMING = re.compile(r"<(?:[0-9]+:)?[0-9]{2}:[0-9]{2}\.[0-9]{3}>")
_VTT_SKIPPED_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:\s|$)")
_VTT_LANGUAGE = re.compile(r"Language:\s*(" + _LANGUAGE_PART + r")\s*$", re.IGNORECASE)


# UTF-32's byte order marks begin with UTF-16's: they are tested first.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# A well-formed multi-byte UTF-8 character.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _decode(path: Path, data: bytes) -> str:
    """The text of a transcript file: UTF-8; UTF-16/32 with a BOM; else Windows-1252.

    A file that is not valid UTF-8 is read as Windows-1252 (what old subtitle
    tools wrote) only when it holds no more well-formed UTF-8 characters than
    invalid bytes: a UTF-8 file with damaged bytes is an error naming the
    line, never silently turned into mojibake.
    """
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise TranscriptFileError(
                    path, f"broken {encoding.upper()} text at byte {exc.start}"
                ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        utf8 = len(_UTF8_MULTIBYTE.findall(data))
        invalid = data.decode("utf-8", "replace").count("\ufffd") - data.count(b"\xef\xbf\xbd")
        if utf8 <= invalid:
            with contextlib.suppress(UnicodeDecodeError):
                return data.decode("cp1252")
        raise TranscriptFileError(
            path,
            f"not UTF-8 text (byte {exc.start} is invalid); convert the file to UTF-8, "
            "e.g. iconv -f ENCODING -t UTF-8",
            line,
        ) from exc


def _detect_format(path: Path, text: str) -> Literal["srt", "vtt", "json"]:
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    suffix = path.suffix.lower()
    if suffix in (".srt", ".vtt", ".json"):
        return "srt" if suffix == ".srt" else "vtt" if suffix == ".vtt" else "json"
    if head.startswith(("[", "{")):
        return "json"
    if "-->" in head:
        return "srt"
    raise TranscriptFileError(path, "unknown transcript format; use .srt, .vtt or .json")


def _split_lines(text: str) -> list[str]:
    # Not str.splitlines(): it also splits on form feeds and Unicode separators,
    # which would make the line numbers in error messages disagree with editors.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _seconds(groups: Sequence[str | None], path: Path, line: int) -> float:
    hours, minutes, secs, fraction = groups
    if int(secs or 0) >= 60 or (hours is not None and int(minutes or 0) >= 60):
        raise TranscriptFileError(path, "minutes and seconds must be below 60", line)
    value = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0)
    return round(value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0), 3)


def _parse_cues(lines: list[str], first: int, path: Path, *, vtt: bool) -> list[_Cue]:
    """Group *lines* (from index *first*) into timed cues.

    Lenient where real files are sloppy: cue numbers/identifiers are optional,
    a blank line inside a cue's text does not end it (the text that follows
    still belongs to it), whitespace-only lines are blank.
    """
    cues: list[_Cue] = []
    current: _Cue | None = None
    after_blank = True
    skipping = False
    for index in range(first, len(lines)):
        number = index + 1
        stripped = lines[index].strip()
        if not stripped:
            after_blank, skipping = True, False
            continue
        if skipping:
            continue
        if "-->" in stripped:
            match = _TIMING_LINE.fullmatch(stripped)
            if match is None:
                example = (
                    "00:00:01.000 --> 00:00:04.000" if vtt else "00:00:01,000 --> 00:00:04,000"
                )
                raise TranscriptFileError(
                    path, f"unreadable timing line {stripped[:60]!r}; expected '{example}'", number
                )
            start = _seconds(match.groups()[:4], path, number)
            end = _seconds(match.groups()[4:], path, number)
            current = _Cue(start, max(start, end), number)
            cues.append(current)
            after_blank = False
            continue
        if vtt and after_blank and _VTT_SKIPPED_BLOCK.match(stripped):
            skipping = True
            continue
        if index + 1 < len(lines) and "-->" in lines[index + 1]:
            continue  # a cue number (SRT) or cue identifier (VTT)
        if current is None:
            if vtt or _CUE_NUMBER.fullmatch(stripped):
                continue  # VTT ignores text outside cues
            raise TranscriptFileError(
                path,
                f"expected a cue number or a timing line, found {stripped[:60]!r}",
                number,
            )
        current.lines.append(lines[index])
        after_blank = False
    return cues


def _clean_text(text: str) -> str:
    """*text* without escape sequences or control characters (whatever prints it later,
    a terminal, a page or a prompt), its runs of whitespace made single spaces."""
    return one_line(text)


def _clean_line(line: str) -> str:
    text = _remove(_ASS_OVERRIDE, "}", _remove(_TAG, ">", line))
    return _clean_text(html.unescape(text))


def _remove(pattern: re.Pattern[str], closing: str, line: str) -> str:
    """``pattern.sub("", line)`` for a pattern that ends with its first *closing* character.

    Only the part up to the last *closing* is searched: after it no match can
    end, and trying every opening there ("<<<<...") would take quadratic time.
    """
    end = line.rfind(closing) + 1
    return pattern.sub("", line[:end]) + line[end:] if end else line


def _new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of *current* that *previous* did not already show.

    YouTube's auto-captions roll: each cue repeats the line before it (and
    short "snapshot" cues repeat the whole display), so a cue whose first lines
    are the previous cue's last lines only adds what follows them. The longest
    such overlap wins; its last line may also have grown word by word.
    """
    if not previous or not current:
        return current
    shown = previous[-1]
    grown = shown + " "
    # Overlaps of k lines: previous[-k:-1] == current[:k-1], and current[k-1]
    # shows previous[-1] (or grows it), longest first.
    for repeated in _suffix_prefix_overlaps(previous[:-1], current, len(current) - 1):
        line = current[repeated]
        if line == shown:
            return current[repeated + 1 :]
        if line.startswith(grown):
            # The last line grew word by word: keep only the words it added.
            return [line[len(shown) :].strip(), *current[repeated + 1 :]]
    return current


def _suffix_prefix_overlaps(before: list[str], after: list[str], limit: int) -> Iterator[int]:
    """Every n <= *limit* with ``before[len(before) - n:] == after[:n]``, largest first (0 last).

    The Knuth-Morris-Pratt failure function of ``after[:limit]``, then a scan of
    *before*: linear in the two lengths, where comparing every overlap would be
    quadratic (a cue of 10,000 repeated lines).
    """
    pattern = after[: max(0, min(limit, len(before)))]
    failure = [0] * len(pattern)
    matched = 0
    for index in range(1, len(pattern)):
        while matched and pattern[index] != pattern[matched]:
            matched = failure[matched - 1]
        if pattern[index] == pattern[matched]:
            matched += 1
        failure[index] = matched
    matched = 0
    # Only the last len(pattern) lines of *before* can take part in an overlap.
    for line in before[len(before) - len(pattern) :] if pattern else ():
        while matched and (matched == len(pattern) or line != pattern[matched]):
            matched = failure[matched - 1]
        if line == pattern[matched]:
            matched += 1
    while matched:
        yield matched
        matched = failure[matched - 1]
    yield 0


def _segments_from_cues(cues: list[_Cue]) -> tuple[list[Segment], int]:
    """Turn cues into segments, each shown line once; also return the count of rolling cues."""
    segments: list[Segment] = []
    previous: list[str] = []
    rolling = 0
    for cue in cues:
        texts = [text for text in map(_clean_line, cue.lines) if text]
        if not texts:
            continue
        new = _new_lines(previous, texts)
        if new != texts:
            rolling += 1
        previous = texts
        if new:
            # Rounded to the millisecond, the precision of the timestamps themselves.
            segments.append(Segment(" ".join(new), cue.start, round(cue.end - cue.start, 3)))
    segments.sort(key=lambda segment: segment.start)  # stable: file order within a time
    return segments, rolling


def _looks_rolling(rolling: int, cues: int) -> bool:
    # Auto-captions repeat lines in most cues; uploaded captions almost never do.
    return rolling >= 2 and rolling >= 0.25 * cues


def _parse_srt(text: str, path: Path) -> _ParsedFile:
    cues = _parse_cues(_split_lines(text), 0, path, vtt=False)
    if not cues:
        raise TranscriptFileError(
            path, "no cues found (no line like '00:00:01,000 --> 00:00:04,000')"
        )
    segments, rolling = _segments_from_cues(cues)
    return _ParsedFile(segments, is_generated=_looks_rolling(rolling, len(cues)))


def _parse_vtt(text: str, path: Path) -> _ParsedFile:
    lines = _split_lines(text.lstrip("\ufeff"))
    first = 0
    language = None
    if lines[0].startswith("WEBVTT") and lines[0][6:7] in ("", " ", "\t"):
        # The header runs to the first blank line ("Kind: captions", "Language: en").
        first = 1
        while first < len(lines) and lines[first].strip() and "-->" not in lines[first]:
            found = _VTT_LANGUAGE.match(lines[first].strip())
            language = found[1] if found else language
            first += 1
    cues = _parse_cues(lines, first, path, vtt=True)
    if not cues:
        header = "" if first else " and no 'WEBVTT' header"
        raise TranscriptFileError(
            path, f"no cues found (no line like '00:00:01.000 --> 00:00:04.000'){header}"
        )
    segments, rolling = _segments_from_cues(cues)
    timed = any(_WORD_TIMING.search(line) for cue in cues for line in cue.lines)
    return _ParsedFile(
        segments, is_generated=timed or _looks_rolling(rolling, len(cues)), language_code=language
    )


def _json_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _parse_json(text: str, path: Path) -> _ParsedFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFileError(path, f"not valid JSON ({exc.msg})", exc.lineno) from exc
    except (ValueError, RecursionError) as exc:
        raise TranscriptFileError(path, f"not valid JSON ({exc})") from exc
    expected = (
        "expected youtube-transcript-api's list of {\"text\", \"start\", \"duration\"} "
        "objects, or an object with a \"segments\" list"
    )
    meta: dict[str, Any] = {}
    if isinstance(data, dict):
        meta = data
        items = data.get("segments", data.get("snippets"))
    else:
        items = data
    if not isinstance(items, list):
        raise TranscriptFileError(path, expected)
    segments = []
    for position, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise TranscriptFileError(path, f"item {position} has no \"text\" string; {expected}")
        start = _json_number(item.get("start"))
        duration = _json_number(item.get("duration", item.get("dur", 0.0)))
        if start is None or duration is None:
            raise TranscriptFileError(
                path,
                f"item {position} needs a \"start\" and \"duration\" in seconds (numbers >= 0)",
            )
        words = _clean_text(item["text"])
        if words:
            segments.append(Segment(words, start, duration))
    segments.sort(key=lambda segment: segment.start)

    def text_field(name: str) -> str | None:
        value = meta.get(name)
        return _clean_text(value) or None if isinstance(value, str) else None

    generated = meta.get("is_generated")
    return _ParsedFile(
        segments,
        is_generated=generated if isinstance(generated, bool) else False,
        language_code=text_field("language_code"),
        language=text_field("language"),
        video_id=_declared_video_id(meta.get("video_id"), path),
        title=text_field("title"),
        channel=text_field("channel"),
    )


def _declared_video_id(value: Any, path: Path) -> str | None:
    """The ``video_id`` field of a JSON transcript, which must be a valid ID when present."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and _is_valid_video_id(value.strip()):
        return value.strip()
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise TranscriptFileError(
        path,
        f'its "video_id" field, {shown}, is not a video ID: use an 11-character YouTube '
        f"ID, or an ID of your own ({_OWN_ID_RULE}), or remove the field to have ytqa "
        "derive one",
    )


_PARSERS = {"srt": _parse_srt, "vtt": _parse_vtt, "json": _parse_json}


# ---------------------------------------------------------------------------
# Fetching from YouTube
# ---------------------------------------------------------------------------


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
