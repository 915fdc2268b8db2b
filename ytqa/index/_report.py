"""What an add did, source by source (:class:`IngestReport`), and how it reports progress."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple

from ytqa.errors import YtqaError

__all__ = [
    "AddedVideo",
    "FailedSource",
    "IgnoredSource",
    "IngestProgress",
    "IngestReport",
    "ProgressCallback",
    "SkippedVideo",
]


class AddedVideo(NamedTuple):
    """A video that an add embedded."""

    video_id: str
    title: str | None
    chunks: int
    transcript: str = ""
    """The transcript written (:func:`~ytqa.index.transcript_kind`: ``"srt"``,
    ``"youtube auto"``...)."""
    replaced: str | None = None
    """The transcript the index held for this video before, which this one replaced
    (None: the video was not indexed)."""


class SkippedVideo(NamedTuple):
    """A video that was already indexed with the same preset and chunking."""

    video_id: str
    title: str | None


class FailedSource(NamedTuple):
    """A source that could not be added, with the reason."""

    source: str
    error: YtqaError


class IgnoredSource(NamedTuple):
    """A source left out because another source of the same run is the same video.

    Which one is used (decided before anything is written): uploaded captions over
    auto-captions (``rule="uploaded"``), auto-captions first with
    ``captions="generated"`` (``rule="generated"``), and between two of the same
    kind the later source (``rule="later"``).
    """

    source: str
    video_id: str
    used: str
    """The source whose transcript is used instead."""
    rule: Literal["uploaded", "generated", "later"]


@dataclass
class IngestReport:
    """What an add (:func:`ytqa.ingest.ingest`, ``VideoIndex.add_many``) did, source by source."""

    added: list[AddedVideo] = field(default_factory=list)
    """Videos written: new ones, and those whose transcript was replaced (``replaced``)."""
    skipped: list[SkippedVideo] = field(default_factory=list)
    failed: list[FailedSource] = field(default_factory=list)
    ignored: list[IgnoredSource] = field(default_factory=list)
    """Sources of a video that another source of the same call gave (see :class:`IgnoredSource`)."""
    stopped: YtqaError | None = None
    """Why the add stopped before its last video (YouTube kept blocking it:
    :class:`~ytqa.errors.RunBlockedError`), or None."""
    not_fetched: list[str] = field(default_factory=list)
    """Sources left unfetched when the add stopped (retry them later)."""

    @property
    def ok(self) -> bool:
        """Whether every source was added or already there."""
        return not self.failed and self.stopped is None

    @property
    def to_retry(self) -> list[str]:
        """The sources that failed or were not fetched, in order, each once."""
        return list(dict.fromkeys([f.source for f in self.failed] + self.not_fetched))

    @property
    def video_ids(self) -> list[str]:
        """The videos the sources name that the index now holds (added or already there)."""
        found = [video.video_id for video in self.added]
        found += [video.video_id for video in self.skipped]
        return list(dict.fromkeys(found))

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "added": [item._asdict() for item in self.added],
            "skipped": [item._asdict() for item in self.skipped],
            "ignored": [item._asdict() for item in self.ignored],
            "failed": [
                {"source": item.source, "error": str(item.error), "type": type(item.error).__name__}
                for item in self.failed
            ],
            "not_fetched": list(self.not_fetched),
            "stopped": None if self.stopped is None else {
                "error": str(self.stopped), "type": type(self.stopped).__name__
            },
        }


@dataclass(frozen=True)
class IngestProgress:
    """Where an add stands, given to the ``progress`` callback after each step."""

    videos_done: int = 0
    videos_total: int | None = None
    """Videos of the add (None: one video, not counted)."""
    video: str | None = None
    """The source being added now."""
    chunks_done: int = 0
    chunks_total: int | None = None
    """Chunks of the write under way (None: none started)."""
    already: int = 0
    """Videos of the add indexed already as asked when it began (counted in
    ``videos_done``; they are neither fetched nor embedded again)."""


ProgressCallback = Callable[[IngestProgress], None]
"""Called with an :class:`IngestProgress` after each step of an add (the CLI draws a bar)."""


class Tracker:
    """Keeps an add's :class:`IngestProgress` and tells *callback* of each change."""

    def __init__(self, callback: ProgressCallback | None, total: int | None = None) -> None:
        self._callback = callback
        self.state = IngestProgress(videos_total=total)

    def _set(self, **changes: Any) -> None:
        if self._callback is not None:
            self.state = replace(self.state, **changes)
            self._callback(self.state)

    def start(self, already: int) -> None:
        """The add begins, with *already* of its videos indexed as asked."""
        self._set(already=already, videos_done=self.state.videos_done + already)

    def video(self, label: str) -> None:
        self._set(video=label)

    def video_done(self) -> None:
        self._set(videos_done=self.state.videos_done + 1)

    def chunks(self, total: int, completed: int = 0) -> None:
        self._set(chunks_total=total, chunks_done=completed)

    def advance(self, count: int) -> None:
        self._set(chunks_done=self.state.chunks_done + count)
