"""The data model: :class:`Segment`, :class:`Transcript`, the kinds of captions, links.

No I/O here: every other module of the package produces or reads these types.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ytqa.errors import InvalidVideoIdError
from ytqa.terminal import one_line
from ytqa.video import is_video_id, parse_video_id, watch_url

Captions = Literal["any", "manual", "generated"]
"""Which captions to take: uploaded first then generated (``any``), or only one kind."""


CAPTIONS: tuple[Captions, ...] = ("any", "manual", "generated")


def check_captions(value: object, name: str = "captions") -> Captions:
    """*value* when it is one of :data:`CAPTIONS`; else a ValueError naming the argument."""
    if value not in CAPTIONS:
        raise ValueError(f"{name} must be 'any', 'manual' or 'generated', not {value!r}")
    return value


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


def video_link(video_id: str, source: str, seconds: float | None = None) -> str:
    """Link that opens *video_id* at *seconds*; *source* is ``"youtube"`` or the file path.

    >>> video_link("dQw4w9WgXcQ", "youtube", 312.4)
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=312s'
    """
    if is_video_id(video_id) or source == "youtube":
        return watch_url(video_id, seconds)
    uri = Path(source).resolve().as_uri()
    return uri if seconds is None else f"{uri}#t={max(0, int(seconds))}"


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


def _clean_text(text: str) -> str:
    """*text* without escape sequences or control characters (whatever prints it later,
    a terminal, a page or a prompt), its runs of whitespace made single spaces."""
    return one_line(text)
