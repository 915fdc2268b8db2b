"""Source dispatch: what a source names (video ID or URL, playlist or channel, folder,
transcript file, recording) and the module that reads it; the one rule for what looks
like a path and what like a URL, for the error to raise when a source names nothing."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ytqa.errors import (
    InvalidVideoIdError,
    NoTranscriptFoundError,
    SpeechToTextError,
    TranscriptFileError,
    TranscriptsDisabledError,
)
from ytqa.transcripts._cache import (
    _cache_path,
    _fetch_cache_key,
    _file_cache_key,
    _read_cache_file,
    _save_quietly,
)
from ytqa.transcripts._files import (
    TRANSCRIPT_SUFFIXES,
    _is_folder,
    _no_such_file,
    read_transcript_file,
    transcript_files,
)
from ytqa.transcripts._media import MEDIA_SUFFIXES, is_media_file, media_files
from ytqa.transcripts._model import Captions, Transcript, check_captions
from ytqa.transcripts._playlists import _expand_collection
from ytqa.transcripts._speech import (
    AsrMode,
    SpeechToText,
    cached_youtube_transcript,
    has_no_captions,
    speech_to_text,
    transcribe_file,
    transcribe_youtube,
)
from ytqa.transcripts._youtube import _fetch_from_youtube, _normalise_languages
from ytqa.video import YOUTUBE_HOSTS, is_collection_url, is_video_id, parse_video_id

if TYPE_CHECKING:
    from youtube_transcript_api.proxies import ProxyConfig

logger = logging.getLogger(__name__)


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
    cookies: str | os.PathLike[str] | None = None,
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
    best effort. ``cookies`` is a Netscape-format ``cookies.txt`` of a browser
    signed in to YouTube, for age-restricted and sign-in-gated videos: its
    cookies go with the requests and nowhere else (not to the cache, nor the log).

    A path to a ``.srt``, ``.vtt`` or ``.json`` file is read with
    :func:`read_transcript_file` (``video_id`` names its video; the fetching
    options do not apply) and saved in the cache too, so that the video can be
    re-embedded after the file is gone.

    Speech-to-text (the ``ytqa[asr]`` extra, :mod:`ytqa.transcripts`): an audio or
    video file (``.mp3``, ``.m4a``, ``.wav``, ``.mp4``, ...) is transcribed by
    Whisper; a YouTube video with no captions at all is transcribed from its
    audio when ``asr="auto"`` (the default; ``$YTQA_ASR``), and every video
    with ``asr="always"``; ``asr="never"`` only takes captions. ``asr`` may
    also be a :class:`~ytqa.SpeechToText` (device, duration limit,
    progress callback); ``asr_model`` names the Whisper model (``"tiny.en"``,
    ``"base"``, ..., ``"turbo"``, or a folder). The speech is taken to be in
    the first language of ``languages`` that Whisper finds plausible, else in
    the one it detects. Transcripts are cached per video and Whisper model.

    Raises:
        InvalidVideoIdError: *source* is neither a file nor a video reference.
        CookieFileError: *cookies* is missing, unreadable or malformed.
        TranscriptError: a subclass saying why YouTube gave no transcript.
        TranscriptFileError: the file is missing, empty or malformed.
        MediaFileError, AudioTooLongError, SpeechToTextError, AudioDownloadError:
            speech-to-text could not run (see :mod:`ytqa.transcripts`).
    """
    path = _as_transcript_path(source)
    if path is not None and is_media_file(path):
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
    check_captions(captions)
    target = translate_to.strip() if translate_to else None
    speech = _speech_to_text(asr, asr_model, target)
    if speech.mode == "always":
        return transcribe_youtube(
            vid, languages=codes, proxy=proxy, asr=speech, refresh=refresh, cookies=cookies
        )
    key = _fetch_cache_key(codes, captions, target)
    # Speech-to-text stands in for captions that are missing altogether (not for
    # a translation, nor when only uploaded captions will do).
    fallback = speech.mode == "auto" and target is None and captions != "manual"
    if not refresh:
        cached = _read_cache_file(_cache_path(vid, key), vid)
        if cached is None and fallback:
            cached = cached_youtube_transcript(vid, codes, speech)
        if cached is not None:
            logger.debug("transcript of %s read from the cache", vid)
            return cached
    try:
        transcript = _fetch_from_youtube(vid, codes, target, captions, proxy, cookies)
    except (TranscriptsDisabledError, NoTranscriptFoundError) as error:
        if not (fallback and has_no_captions(error)):
            raise
        return transcribe_youtube(
            vid, languages=codes, proxy=proxy, asr=speech, refresh=refresh, captions_error=error,
            cookies=cookies,
        )
    _save_quietly(transcript, key)
    return transcript


def _speech_to_text(
    asr: AsrMode | SpeechToText | None, asr_model: str | os.PathLike[str] | None,
    translate_to: str | None,
) -> SpeechToText:
    speech = speech_to_text(asr, asr_model)
    if speech.mode == "always" and translate_to is not None:
        raise SpeechToTextError(
            "Speech-to-text cannot translate: drop translate_to, or use asr='auto' so that "
            "YouTube translates the captions."
        )
    return speech


def expand_sources(
    sources: Iterable[str | os.PathLike[str]],
    *,
    prefer: Captions = "manual",
    proxy: str | None = None,
    limit: int | None = None,
    since: dt.date | None = None,
    cookies: str | os.PathLike[str] | None = None,
) -> list[str | Path]:
    """Expand playlists, channels and folders into single sources, in order.

    A playlist or channel URL becomes its video IDs (through yt-dlp, the
    optional ``ytqa[playlists]`` extra, reading the listing only: no video
    page is downloaded); a channel (``/@handle``, ``/channel/UC...``,
    ``/c/name``, ``/user/name``) gives its videos, live streams and shorts
    tabs in turn, a tab's URL (``.../videos``, ``.../streams``, ``.../shorts``)
    that tab only, newest first. Upcoming premieres and streams on air are left
    out (no captions yet). ``limit`` keeps the first *limit* videos of each
    playlist or channel (of a channel: its newest uploads first, tab by tab);
    ``since`` leaves out videos uploaded before that date: a channel's listing
    dates each video only roughly ("3 weeks ago", so to the unit YouTube shows),
    and, as a tab lists newest first, the first video older than *since* ends
    the tab (no further page is read); a playlist's listing gives no dates, so
    its videos are all kept (a warning says how many could not be dated).
    ``cookies`` (a ``cookies.txt``) goes to yt-dlp for private or gated lists.
    A folder becomes its transcript files
    (:func:`transcript_files` with *prefer*); a file stays a :class:`~pathlib.Path`;
    a video ID or URL becomes its 11-character ID. Duplicates are dropped.

    Raises:
        MissingDependencyError: a playlist needs yt-dlp, which is not installed.
        PlaylistError: yt-dlp could not list a playlist or channel (or it lists no
            video since *since*).
        CookieFileError: *cookies* is missing, unreadable or malformed.
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
                files = transcript_files(path, prefer=prefer)
                files += media_files(path, besides=files)
                if not files:
                    raise TranscriptFileError(
                        path,
                        _folder_without_transcripts(path),
                        advice="Name a transcript or media file, or a folder that holds some.",
                    )
                for file in sorted(files, key=lambda f: f.name):
                    add(file)
            else:
                add(path)  # links and special files too: reading them says what is wrong
            continue
        try:
            add(parse_video_id(text))
        except InvalidVideoIdError:
            if is_collection_url(text):
                listed = _expand_collection(
                    text.strip(), proxy, limit=limit, since=since, cookies=cookies
                )
                for vid in listed:
                    add(vid)
            elif _looks_like_path(text):
                raise _no_such_file(path, "no such file or folder") from None
            else:
                raise
    return expanded


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
        return f"it is an empty folder; put {wanted} transcripts or audio/video recordings in it"
    listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"it is a folder with no {wanted} transcript file or recording in it (hidden files, "
        f"other endings and sub-folders are left out); it holds {listed}"
    )


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
            path, "it is a folder; pass it to expand_sources() or ytqa.ingest.ingest()"
        )
    return path


def _looks_like_url(text: str) -> bool:
    stripped = text.strip()
    host = stripped.split("/", 1)[0].lower()
    return "://" in stripped or host in YOUTUBE_HOSTS or host.endswith(("youtu.be", ".com"))


def _looks_like_path(text: str) -> bool:
    """Whether *text* (that names no video) was meant as a file path, for the error to raise."""
    stripped = text.strip()
    if _looks_like_url(stripped):
        return False
    return (
        stripped.lower().endswith(TRANSCRIPT_SUFFIXES + MEDIA_SUFFIXES)
        or stripped.startswith(("/", "./", "../", "~"))
        or os.sep in stripped
    )
