"""The ytqa exception hierarchy.

Every error a user can hit is a :class:`YtqaError`. Messages say what went
wrong *and* what to do about it, in one or two sentences, so that the CLI can
print them as a single line. Upstream exceptions are chained with
``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "AgeRestrictedError",
    "AudioDownloadError",
    "AudioTooLongError",
    "ChainConfigurationError",
    "ChunkingError",
    "CookieFileError",
    "EmbeddingModelError",
    "EvaluationError",
    "FetchOptionsError",
    "IndexCorruptError",
    "IndexModelMismatchError",
    "InvalidPromptError",
    "InvalidVideoIdError",
    "LLMConfigurationError",
    "MediaFileError",
    "MissingDependencyError",
    "NetworkError",
    "NoCaptionsError",
    "NoTranscriptFoundError",
    "PlaylistError",
    "PoTokenRequiredError",
    "RequestBlockedError",
    "RunBlockedError",
    "SpeechToTextError",
    "TranscriptCacheMissError",
    "TranscriptError",
    "TranscriptFileError",
    "TranscriptsDisabledError",
    "TranslationUnavailableError",
    "VideoIndexError",
    "VideoUnavailableError",
    "VideoUnplayableError",
    "YouTubeDataError",
    "YtqaError",
]

PROXY_ADVICE = (
    "Pass a proxy: `proxy='http://user:pass@host:port'` in Python, "
    "`--proxy URL` or HTTPS_PROXY/YTQA_PROXY on the command line, or Webshare "
    "residential proxies with YTQA_WEBSHARE_USERNAME and YTQA_WEBSHARE_PASSWORD "
    "(see docs/troubleshooting.md)."
)


def _shorten(text: str, limit: int = 200) -> str:
    """*text* cut to *limit* characters for a message (a 4 KB argument stays readable)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class YtqaError(Exception):
    """Base class of every error ytqa raises on purpose.

    Catch this one to handle all of ytqa's failures; ``str(error)`` is a
    message meant for the user.
    """

    exit_code: int = 1
    """Exit status of the ``ytqa`` command when this error ends it."""


class InvalidVideoIdError(YtqaError, ValueError):
    """The text is neither an 11-character video ID nor a YouTube video URL."""

    exit_code = 2

    def __init__(self, text: str, reason: str | None = None) -> None:
        self.text = text
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Not a YouTube video ID or URL: {_shorten(text)!r}{detail}. Pass an 11-character "
            "video ID such as 'dQw4w9WgXcQ', a link such as "
            "'https://www.youtube.com/watch?v=dQw4w9WgXcQ', or a transcript file path."
        )


class TranscriptError(YtqaError):
    """A transcript could not be fetched from YouTube."""

    exit_code = 3

    def __init__(self, message: str, video_id: str | None = None) -> None:
        self.video_id = video_id
        super().__init__(message)


class VideoUnavailableError(TranscriptError):
    """The video does not exist, was removed, or is private."""

    def __init__(self, video_id: str) -> None:
        super().__init__(
            f"Video {video_id} is unavailable (removed, private or mistyped). "
            "Check the ID or URL in a browser.",
            video_id,
        )


class VideoUnplayableError(TranscriptError):
    """YouTube refuses to play the video here (region lock, members only, ...)."""

    def __init__(self, video_id: str, reason: str | None = None) -> None:
        why = f": {reason}" if reason else ""
        super().__init__(
            f"Video {video_id} cannot be played{why}. If it is region-locked, "
            f"fetch it through a proxy in a region where it plays. {PROXY_ADVICE}",
            video_id,
        )


class AgeRestrictedError(TranscriptError):
    """The video is age-restricted and needs a signed-in session."""

    def __init__(self, video_id: str) -> None:
        super().__init__(
            f"Video {video_id} is age-restricted, so YouTube only serves its "
            "captions to signed-in users. Download the captions yourself (for "
            "example with yt-dlp --write-subs) and pass the .srt/.vtt file instead.",
            video_id,
        )


class TranscriptsDisabledError(TranscriptError):
    """The uploader turned captions off for this video."""

    def __init__(self, video_id: str) -> None:
        super().__init__(
            f"Video {video_id} has captions disabled, so there is no transcript to "
            "fetch. Use another video, or pass a transcript file you made yourself.",
            video_id,
        )


class NoTranscriptFoundError(TranscriptError):
    """None of the requested languages (or caption kinds) exists for the video."""

    def __init__(
        self,
        video_id: str,
        requested: Sequence[str],
        available: Sequence[str],
        captions: str = "any",
    ) -> None:
        self.requested = tuple(requested)
        self.available = tuple(available)
        kind = "" if captions == "any" else f"{captions} "
        have = ", ".join(available) if available else "none"
        super().__init__(
            f"Video {video_id} has no {kind}transcript in {', '.join(requested)}. "
            f"Available: {have}. Ask for one of those with languages=[...]"
            + (", or allow any kind with captions='any'" if captions != "any" else "")
            + ", or translate with translate_to=...",
            video_id,
        )


class TranslationUnavailableError(TranscriptError):
    """YouTube cannot translate this video's transcript into the asked language."""

    def __init__(self, video_id: str, target: str, available: Sequence[str] = ()) -> None:
        self.target = target
        self.available = tuple(available)
        options = (
            f" Languages it can translate to: {', '.join(available)}."
            if available
            else " This transcript cannot be translated at all."
        )
        super().__init__(
            f"The transcript of video {video_id} cannot be translated to {target!r}."
            f"{options} Pick one of them, or drop translate_to.",
            video_id,
        )


class RequestBlockedError(TranscriptError):
    """YouTube blocked the request (bot check, or the IP is banned)."""

    exit_code = 4

    def __init__(self, video_id: str | None, detail: str = "") -> None:
        what = f" for video {video_id}" if video_id else ""
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"YouTube blocked the request{what}{extra}. This happens to cloud "
            f"servers and after many requests. {PROXY_ADVICE}",
            video_id,
        )


class RunBlockedError(RequestBlockedError):
    """YouTube blocked one fetch after another, so a run of many videos stopped early."""

    def __init__(self, blocked: int, remaining: int, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        TranscriptError.__init__(
            self,
            f"YouTube blocked {blocked} fetches in a row{extra}, so the add stopped with "
            f"{remaining} videos not fetched. Wait an hour or so before retrying them, lower "
            "concurrency=..., pass the cookies of a signed-in browser (cookies='cookies.txt'), "
            f"or a proxy. {PROXY_ADVICE}",
        )
        self.blocked = blocked
        self.remaining = remaining


class PoTokenRequiredError(TranscriptError):
    """The caption URL needs a Proof-of-Origin token that ytqa cannot make."""

    def __init__(self, video_id: str) -> None:
        super().__init__(
            f"YouTube asks for a PO token to serve the captions of video {video_id}. "
            "Upgrade youtube-transcript-api (pip install -U youtube-transcript-api), "
            "retry later, or pass a transcript file downloaded with yt-dlp.",
            video_id,
        )


class YouTubeDataError(TranscriptError):
    """YouTube answered with data ytqa and youtube-transcript-api cannot read."""

    def __init__(self, video_id: str | None, detail: str = "") -> None:
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Could not read YouTube's answer for video {video_id}{extra}. YouTube "
            "probably changed its pages: upgrade with "
            "pip install -U youtube-transcript-api ytqa, then retry.",
            video_id,
        )


class NetworkError(TranscriptError):
    """YouTube could not be reached (no connection, DNS failure, timeout)."""

    exit_code = 4

    def __init__(self, video_id: str | None, detail: str = "", advice: str | None = None) -> None:
        extra = f": {detail}" if detail else ""
        todo = advice or (
            "Check your internet connection (and HTTPS_PROXY if you use one), then retry."
        )
        super().__init__(f"Could not reach YouTube{extra}. {todo}", video_id)


class TranscriptFileError(YtqaError, ValueError):
    """A local transcript file is empty, unreadable or malformed."""

    exit_code = 2

    def __init__(
        self, path: str | Path, problem: str, line: int | None = None, *, advice: str | None = None
    ) -> None:
        self.path = Path(path)
        self.line = line
        shown = _shorten(str(self.path))
        where = f"{shown}:{line}" if line is not None else shown
        todo = advice or (
            "Fix the file, or export it again as SRT, WebVTT or youtube-transcript-api JSON."
        )
        super().__init__(f"Bad transcript file {where}: {problem}. {todo}")


class CookieFileError(YtqaError, ValueError):
    """A cookies file is missing, unreadable or not in the Netscape (cookies.txt) format."""

    exit_code = 2

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(
            f"Bad cookies file {_shorten(str(self.path))}: {problem}. Export the cookies of a "
            "browser signed in to YouTube in the Netscape format (a cookies.txt whose first "
            "line is '# Netscape HTTP Cookie File'), e.g. with yt-dlp --cookies-from-browser "
            "firefox --cookies cookies.txt, and pass that file."
        )


class FetchOptionsError(YtqaError, ValueError):
    """An option of fetching (``ytqa.ingest.FetchOptions``) is out of range or malformed."""

    exit_code = 2


class TranscriptCacheMissError(YtqaError):
    """A transcript that should be in the ytqa cache is not there."""

    def __init__(self, video_id: str, path: str | Path | None = None) -> None:
        self.video_id = video_id
        where = f" (expected {path})" if path else ""
        super().__init__(
            f"The cached transcript of video {video_id} is gone{where}. Add the "
            f"video again from YouTube, ytqa.VideoIndex().add({video_id!r}), or from its file."
        )


class PlaylistError(YtqaError):
    """A playlist or channel URL could not be expanded into videos."""

    exit_code = 3


class MissingDependencyError(YtqaError, ImportError):
    """An optional dependency is not installed."""

    exit_code = 5

    def __init__(self, feature: str, install: str) -> None:
        self.install = install
        super().__init__(f"{feature} needs an optional package: run `{install}`.")


class EmbeddingModelError(YtqaError):
    """An embedding model or preset could not be found or loaded."""

    exit_code = 5


class VideoIndexError(YtqaError):
    """The vector index cannot be used as asked."""

    exit_code = 6


class IndexModelMismatchError(VideoIndexError):
    """The collection was built with another embedding model than the one asked for."""

    def __init__(self, collection: str, built_with: str, asked: str) -> None:
        self.collection = collection
        self.built_with = built_with
        self.asked = asked
        super().__init__(
            f"Collection {collection!r} was built with embedding model {built_with!r}, "
            f"not {asked!r}; mixing them would return wrong results. Open it with "
            f"model={built_with!r}, or use another collection_name for {asked!r}."
        )


class LLMConfigurationError(YtqaError):
    """The ``llm=`` argument cannot be turned into a language model."""

    exit_code = 5


class InvalidPromptError(YtqaError, ValueError):
    """A custom prompt lacks the variables the chain fills in."""

    exit_code = 2


class EvaluationError(YtqaError):
    """A QA file or transcripts folder for evaluation is unusable."""

    exit_code = 2


class ChainConfigurationError(YtqaError):
    """An argument of ``build_chain`` / ``build_retriever`` is out of range or unknown.

    Not a ``ValueError`` on purpose: pydantic would wrap one raised while a
    retriever is constructed, and the user would lose the message.
    """

    exit_code = 2


class ChunkingError(YtqaError):
    """Chunking settings (``max_tokens``, ``overlap_tokens``) do not fit the embedding model.

    Not a ``ValueError``, for the reason given at :class:`ChainConfigurationError`.
    """

    exit_code = 2


# --- speech-to-text (ytqa.transcripts._speech) ---------------------------------------


class NoCaptionsError(TranscriptsDisabledError):
    """A video has no captions, and speech-to-text (the ``ytqa[asr]`` extra) is not installed."""

    def __init__(self, video_id: str) -> None:
        TranscriptError.__init__(
            self,
            f"Video {video_id} has no captions on YouTube. ytqa can transcribe its audio "
            "instead: install speech-to-text with `pip install 'ytqa[asr]'` and run again, "
            "or pass a transcript file you made yourself.",
            video_id,
        )


class MediaFileError(YtqaError, ValueError):
    """An audio or video file cannot be transcribed: no audio stream, undecodable, truncated."""

    exit_code = 2

    def __init__(self, path: str | Path, problem: str, advice: str | None = None) -> None:
        self.path = Path(path)
        self.problem = problem
        todo = advice or (
            "Check that it plays in a media player, then copy or download it again, "
            "or convert it to .wav, .mp3 or .m4a."
        )
        super().__init__(f"Cannot transcribe {self.path}: {problem}. {todo}")


class AudioTooLongError(YtqaError, ValueError):
    """The audio is longer than the speech-to-text limit (``max_duration``)."""

    exit_code = 2

    def __init__(self, source: str, duration: float, limit: float) -> None:
        from ytqa.video import format_timestamp

        self.source = source
        self.duration = duration
        self.limit = limit
        super().__init__(
            f"{source} has {format_timestamp(duration)} of audio, more than the speech-to-text "
            f"limit of {format_timestamp(limit)}. Raise the limit with "
            "SpeechToText(max_duration=SECONDS) or YTQA_ASR_MAX_DURATION=SECONDS, "
            "or cut the recording into parts."
        )


class SpeechToTextError(YtqaError):
    """The speech-to-text settings or the Whisper model cannot be used as asked."""

    exit_code = 5


class AudioDownloadError(TranscriptError):
    """yt-dlp could not download a video's audio for speech-to-text."""

    def __init__(self, video_id: str, reason: str, advice: str | None = None) -> None:
        self.reason = reason
        todo = advice or (
            "Upgrade yt-dlp (pip install -U yt-dlp) and retry, or download the audio "
            "yourself and pass the file."
        )
        super().__init__(
            f"Could not download the audio of video {video_id} for speech-to-text: "
            f"{reason}. {todo}",
            video_id,
        )


def repair_advice(folder: str | Path) -> str:
    """How to check and repair the local index in *folder*, as a Python call (the
    command line names its own command: :func:`ytqa.terminal.cli_message`)."""
    folder = Path(folder)
    return (
        f"Check and repair it with ytqa.repair_index({str(folder)!r}): damaged files are "
        f"kept aside as {folder.name}.corrupt-<time>, and the videos are added again from "
        "the transcript cache, without asking YouTube."
    )


class IndexCorruptError(VideoIndexError):
    """The index's files, or the values it recorded about itself, are damaged.

    :func:`ytqa.repair_index` (``ytqa doctor --repair``) rebuilds what it can
    from the transcript cache; see docs/troubleshooting.md.
    """

    def __init__(
        self, location: str, problem: str, folder: str | Path | None = None, *, server: bool = False
    ) -> None:
        self.location = location
        """Where the index is: ``"the index in /path"``, ``"the Chroma server at URL"``."""
        self.problem = problem
        self.folder = Path(folder) if folder is not None else None
        """The local index folder (None for a server or an in-memory index)."""
        if self.folder is not None:
            cure = repair_advice(self.folder)
        elif server:
            cure = (
                "Stop the Chroma server and repair its data folder with "
                "ytqa.repair_index(DIR)."
            )
        else:
            cure = "Make a new index and add the videos again."
        super().__init__(f"{location[:1].upper()}{location[1:]} is corrupt: {problem}. {cure}")
