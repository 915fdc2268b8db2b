"""Transcripts: the data model, fetching from YouTube, reading local files, the cache."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ytqa.video import is_video_id, watch_url

__all__ = ["Segment", "Transcript"]


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

    @property
    def text(self) -> str:
        """All cue texts joined by single spaces."""
        return " ".join(segment.text for segment in self.segments)

    @property
    def duration(self) -> float:
        """Second at which the last cue ends (0 for an empty transcript)."""
        return max((segment.end for segment in self.segments), default=0.0)

    @property
    def is_youtube(self) -> bool:
        """Whether the video ID is a real YouTube ID (links open on YouTube)."""
        return is_video_id(self.video_id)

    def link(self, seconds: float | None = None) -> str:
        """Link that opens the video at *seconds*.

        A YouTube watch URL with ``&t=NNs``; for a local file with no YouTube
        ID, the file's URI with a ``#t=NN`` media fragment.
        """
        if self.is_youtube or self.source == "youtube":
            return watch_url(self.video_id, seconds)
        uri = Path(self.source).resolve().as_uri()
        return uri if seconds is None else f"{uri}#t={max(0, int(seconds))}"

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
        )
