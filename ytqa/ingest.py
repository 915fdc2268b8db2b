"""Sources in, indexed videos out: fetching, expansion, one source per video, the report.

>>> from ytqa.ingest import FetchOptions, ingest
>>> report = ingest(index, ["https://youtu.be/VIDEO_ID", "talks/"],     # doctest: +SKIP
...                 FetchOptions(languages=("de", "en")))
>>> report.added, report.skipped, report.ignored, report.failed        # doctest: +SKIP

:class:`FetchOptions` is the one place that says how transcripts are had
(languages, translation, captions, proxy, speech-to-text, refresh); every
caller passes one object. :func:`ingest` expands playlists, channels and folders
(:func:`ytqa.transcripts.expand_sources`), chooses one source per video, loads
each transcript in turn and hands it to :meth:`VideoIndex.add_transcripts
<ytqa.index.VideoIndex.add_transcripts>`, which writes them in batches.
:func:`ingest_or_raise` is the same for callers that need every source indexed
(:func:`ytqa.build_retriever`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ytqa.errors import ChainConfigurationError, EmbeddingModelError, VideoIndexError, YtqaError
from ytqa.index import (
    FailedSource,
    IgnoredSource,
    IngestReport,
    ProgressCallback,
    SkippedVideo,
    VideoRecord,
)
from ytqa.index._report import Tracker
from ytqa.transcripts import (
    Captions,
    Transcript,
    expand_sources,
    load_transcript,
    speech_to_text,
)
from ytqa.video import is_video_id, parse_video_id

if TYPE_CHECKING:  # pragma: no cover - types only
    from ytqa.chunking import ChunkSettings
    from ytqa.index import VideoIndex
    from ytqa.transcripts import AsrMode, SpeechToText

__all__ = ["FetchOptions", "Source", "add_source", "ingest", "ingest_or_raise"]

Source = str | os.PathLike[str] | Transcript
"""What an add takes: a video ID or URL, a playlist or channel URL, a transcript, audio
or video file, a folder of them, or a :class:`~ytqa.Transcript`."""


@dataclass(frozen=True)
class FetchOptions:
    """How the transcripts of new videos are had (the options of
    :func:`ytqa.load_transcript`, in one object).

    ``captions`` also decides which source is used when several are the same
    video: uploaded captions first, auto-captions first with ``"generated"``.
    """

    languages: Sequence[str] = ("en",)
    """Language codes by priority (empty: any language)."""
    translate_to: str | None = None
    """Translate YouTube captions into this language."""
    captions: Captions = "any"
    """``"any"``, ``"manual"`` (uploaded only) or ``"generated"`` (auto-captions only)."""
    proxy: str | None = None
    """A proxy URL, or ``"webshare"``, for YouTube requests."""
    refresh: bool = False
    """Fetch again even when the cache, or the index, has the video."""
    asr: AsrMode | SpeechToText | None = None
    """Speech-to-text for recordings and videos without captions (``"auto"``, ``"always"``,
    ``"never"``, a :class:`~ytqa.SpeechToText`)."""
    asr_model: str | None = None
    """The Whisper model of speech-to-text."""

    def __post_init__(self) -> None:
        if not isinstance(self.languages, str):  # a tuple, so that the options are hashable
            object.__setattr__(self, "languages", tuple(self.languages))

    def load(self, source: str | os.PathLike[str]) -> Transcript:
        """The transcript of *source*, fetched (or read) with these options."""
        return load_transcript(source, **self._keywords())

    def _keywords(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @property
    def prefer(self) -> Literal["manual", "generated"]:
        """Which captions a folder offers first, and which source of a video wins."""
        return "generated" if self.captions == "generated" else "manual"

    def indexed_as_asked(self, record: VideoRecord) -> bool:
        """Whether a YouTube video the index holds as *record* is what these options fetch
        (so that an add can skip it without loading the transcript)."""
        if record.source != "youtube":
            return False
        if self.translate_to is not None:
            if record.language != self.translate_to:
                return False
        elif self.languages and record.language not in self.languages:
            return False
        generated = record.is_generated
        if (self.captions == "manual" and generated) or (
            self.captions == "generated" and not generated
        ):
            return False
        speech = speech_to_text(self.asr, self.asr_model)
        if record.asr_model is None:
            return speech.mode != "always"
        return speech.mode != "never" and record.asr_model == speech.model_name


def ingest(
    index: VideoIndex,
    sources: Iterable[Source] | Source,
    options: FetchOptions | None = None,
    *,
    max_tokens: int | None = None,
    overlap_tokens: int | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Add *sources* to *index*; one that fails does not stop the others.

    Playlists, channels and folders are expanded first
    (:func:`ytqa.transcripts.expand_sources`; a folder gives one file per
    video, its ``.vtt`` first with ``captions="generated"``). When several
    sources are the same video, one is chosen before anything is written:
    uploaded captions over auto-captions (auto-captions first with
    ``captions="generated"``), and between two of the same kind the later
    source; the others are listed in the report's ``ignored``. A YouTube video
    the index holds already as asked is skipped without loading its transcript
    (unless ``options.refresh``). ``progress`` is called after each step.

    Transcript files are read before the first write (to know their videos),
    so a call's files are held in memory together; their chunks are not.

    Raises:
        EmbeddingModelError: the embedding model (or its tokenizer) cannot be
            loaded, which every video would fail alike; the videos written
            before stay indexed.
    """
    options = options or FetchOptions()
    single = isinstance(sources, (str, os.PathLike, Transcript))
    listed: list[Any] = [sources] if single else list(sources)  # type: ignore[arg-type]
    report = IngestReport()
    items: list[Source] = []
    for source in listed:
        if isinstance(source, Transcript):
            items.append(source)
            continue
        try:
            items.extend(expand_sources([source], prefer=options.prefer, proxy=options.proxy))
        except YtqaError as error:
            report.failed.append(FailedSource(str(source), error))
    chosen = _one_source_per_video(items, options, report)
    settings = index.chunking_for(max_tokens, overlap_tokens)
    tracker = Tracker(progress, total=len(chosen))
    index.add_transcripts(
        _transcripts(index, chosen, options, settings, tracker, report),
        chunking=settings,
        progress=tracker,
        report=report,
    )
    return report


def add_source(
    index: VideoIndex,
    source: str | os.PathLike[str],
    options: FetchOptions | None = None,
    *,
    max_tokens: int | None = None,
    overlap_tokens: int | None = None,
    progress: ProgressCallback | None = None,
) -> int:
    """Add one video from *source*; return how many chunks were written (0: already there).

    Raises:
        YtqaError: a subclass saying why the transcript could not be had, why the
            model could not embed, or why Chroma refused the write.
    """
    options = options or FetchOptions()
    settings = index.chunking_for(max_tokens, overlap_tokens)
    if _indexed_already(index, source, options, settings) is not None:
        return 0
    return index.add(
        options.load(source),
        max_tokens=settings.max_tokens,
        overlap_tokens=settings.overlap_tokens,
        progress=progress,
    )


def ingest_or_raise(
    index: VideoIndex,
    sources: Iterable[Source] | Source,
    options: FetchOptions | None = None,
) -> list[str]:
    """Add *sources* that are not indexed yet and return the IDs of all their videos
    (playlists and folders expanded, those already indexed included).

    Raises:
        ChainConfigurationError: *sources* is empty.
        YtqaError: a source failed: its own error when one did, a
            ``VideoIndexError`` listing them when several did (the others are indexed).
    """
    listed = _as_sources(sources)
    if not listed:
        raise ChainConfigurationError(
            "videos= is empty, so there is nothing to search. Pass video URLs, IDs or "
            "transcript files, or leave videos= out to search every indexed video."
        )
    report = ingest(index, listed, options)
    if report.ok:
        return report.video_ids
    if len(report.failed) == 1:
        raise report.failed[0].error
    lines = "; ".join(f"{failure.source}: {failure.error}" for failure in report.failed)
    raise VideoIndexError(
        f"{len(report.failed)} of the videos could not be indexed, so no chain was built: "
        f"{lines}. Fix or drop them and try again (the others are indexed already)."
    ) from report.failed[0].error


def _as_sources(videos: Any) -> list[Any]:
    # A single URL or path is a common slip for a list of one: accept it.
    if isinstance(videos, (str, Path, Transcript)) or not isinstance(videos, Iterable):
        return [videos]
    return list(videos)


def _transcripts(
    index: VideoIndex,
    chosen: Sequence[tuple[str, Source]],
    options: FetchOptions,
    settings: ChunkSettings,
    tracker: Tracker,
    report: IngestReport,
) -> Iterator[tuple[str, Transcript]]:
    """The transcripts of *chosen*, loaded one at a time (as the index writes them);
    videos indexed already as asked are skipped, sources that fail reported."""
    for label, item in chosen:
        if isinstance(item, Transcript):
            yield label, item
            continue
        tracker.video(label)
        try:
            known = _indexed_already(index, item, options, settings)
            if known is not None:
                report.skipped.append(SkippedVideo(known.video_id, known.title))
                tracker.video_done()
                continue
            transcript = options.load(item)
        except EmbeddingModelError:
            raise  # the model is missing for every video alike: say it once
        except YtqaError as error:
            report.failed.append(FailedSource(label, error))
            tracker.video_done()
            continue
        yield label, transcript


def _indexed_already(
    index: VideoIndex,
    source: str | os.PathLike[str],
    options: FetchOptions,
    settings: ChunkSettings,
) -> VideoRecord | None:
    """The video when a YouTube *source* is indexed already as asked (no transcript load)."""
    if options.refresh:
        return None
    text = str(source).strip()
    if not is_video_id(text) and Path(text).exists():
        return None  # a file: its content decides, and reading it is cheap
    try:
        video_id = parse_video_id(text)
    except YtqaError:
        return None
    record = index.video(video_id, chunking=settings)
    if record is None or not options.indexed_as_asked(record):
        return None
    return record


def _one_source_per_video(
    items: Sequence[Source], options: FetchOptions, report: IngestReport
) -> list[tuple[str, Source]]:
    """*items* (labelled), with one source per video (see :func:`ingest` for the rule).

    Files are read here, to know their videos; a YouTube video is fetched (or
    read from the cache) here only when a file is the same video, to know its kind.
    Sources that fail go to ``report.failed``, those left out to ``report.ignored``.
    """

    def label_of(item: Source) -> str:
        return item.video_id if isinstance(item, Transcript) else str(item)

    # The same source twice is one source (as expand_sources counts them).
    unique: dict[Any, Source] = {}
    for item in items:
        key = str(Path(item).resolve()) if isinstance(item, os.PathLike) else item
        unique.setdefault(key if isinstance(key, str) else id(key), item)
    loaded: list[tuple[str, Source]] = []
    for item in unique.values():
        label = label_of(item)
        if isinstance(item, os.PathLike):
            try:
                item = options.load(item)
            except YtqaError as error:
                report.failed.append(FailedSource(label, error))
                continue
        loaded.append((label, item))
    positions: dict[str, list[int]] = {}
    for position, (_, item) in enumerate(loaded):
        video_id = item.video_id if isinstance(item, Transcript) else str(item)
        positions.setdefault(video_id, []).append(position)
    keep: set[int] = set()
    wanted = options.captions == "generated"
    for video_id, same in positions.items():
        if len(same) > 1:
            same = _load_youtube_sources(loaded, same, options, report)
        if not same:
            continue
        kinds = {position: bool(getattr(loaded[position][1], "is_generated", False))
                 for position in same}
        # The wanted kind first, then the later source.
        best = max(same, key=lambda position: (kinds[position] == wanted, position))
        keep.add(best)
        for position in same:
            if position == best:
                continue
            rule: Literal["uploaded", "generated", "later"] = (
                "later" if kinds[position] == kinds[best] else
                "generated" if wanted else "uploaded"
            )
            report.ignored.append(
                IgnoredSource(loaded[position][0], video_id, loaded[best][0], rule)
            )
    return [loaded[position] for position in sorted(keep)]


def _load_youtube_sources(
    loaded: list[tuple[str, Source]],
    positions: list[int],
    options: FetchOptions,
    report: IngestReport,
) -> list[int]:
    """Load the YouTube sources among *positions* of *loaded* (in place), to compare
    them with the other sources of their video; return the positions still there."""
    remaining = []
    for position in positions:
        label, item = loaded[position]
        if not isinstance(item, Transcript):
            try:
                loaded[position] = (label, options.load(item))
            except YtqaError as error:
                report.failed.append(FailedSource(label, error))
                continue
        remaining.append(position)
    return remaining
