"""Sources in, indexed videos out: fetching, expansion, one source per video, the report.

>>> from ytqa.ingest import FetchOptions, ingest
>>> report = ingest(index, ["https://youtu.be/VIDEO_ID", "talks/"],     # doctest: +SKIP
...                 FetchOptions(languages=("de", "en")))
>>> report.added, report.skipped, report.ignored, report.failed        # doctest: +SKIP

:class:`FetchOptions` is the one place that says how transcripts are had
(languages, translation, captions, proxy, cookies, speech-to-text, refresh) and
how a run goes about it (playlist and channel ``limit`` and ``since``,
``concurrency``, ``request_interval``); every caller passes one object.
:func:`ingest` expands playlists, channels and folders
(:func:`ytqa.transcripts.expand_sources`), chooses one source per video, counts
those indexed already, fetches the others a few at a time (paced, pausing the
whole run when YouTube blocks it, stopping when it keeps blocking) and hands
them, in order, to :meth:`VideoIndex.add_transcripts
<ytqa.index.VideoIndex.add_transcripts>`, which embeds and writes them in
batches while the next ones are fetched. :func:`ingest_or_raise` is the same for
callers that need every source indexed (:func:`ytqa.build_retriever`).
:func:`failed_sources_file` is where a command keeps the sources of an index that
failed, to retry them (:func:`record_failures`, :func:`failed_sources`).
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ytqa.config import ytqa_home
from ytqa.errors import (
    ChainConfigurationError,
    EmbeddingModelError,
    FetchOptionsError,
    RequestBlockedError,
    RunBlockedError,
    VideoIndexError,
    YtqaError,
)
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
    REQUEST_INTERVAL,
    Captions,
    RequestPacer,
    Transcript,
    expand_sources,
    load_cookies,
    load_transcript,
    pacing,
    speech_to_text,
)
from ytqa.video import is_video_id, parse_video_id

if TYPE_CHECKING:  # pragma: no cover - types only
    from ytqa.chunking import ChunkSettings
    from ytqa.index import VideoIndex
    from ytqa.transcripts import AsrMode, SpeechToText

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FetchOptions",
    "Source",
    "add_source",
    "failed_sources",
    "failed_sources_file",
    "ingest",
    "ingest_or_raise",
    "record_failures",
]

DEFAULT_CONCURRENCY = 2
"""Videos fetched at the same time by default: polite to YouTube, and enough to keep
the CPU embedding while the network waits."""
MAX_CONCURRENCY = 16
_FETCHED_AHEAD = 32

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
    cookies: str | os.PathLike[str] | None = None
    """A Netscape-format ``cookies.txt`` of a browser signed in to YouTube, for
    age-restricted and sign-in-gated videos (sent with the requests to YouTube and to
    yt-dlp; never logged, cached or indexed)."""
    limit: int | None = None
    """At most this many videos of each playlist or channel (a channel's newest first)."""
    since: dt.date | str | None = None
    """Only the videos of a channel uploaded on or after this date (a ``date`` or
    ``"YYYY-MM-DD"``; see :func:`ytqa.transcripts.expand_sources` for how far
    listings date videos)."""
    concurrency: int = DEFAULT_CONCURRENCY
    """Videos fetched at the same time (1 to 16)."""
    request_interval: float = REQUEST_INTERVAL
    """Seconds at least between the starts of two requests to YouTube."""

    def __post_init__(self) -> None:
        if not isinstance(self.languages, str):  # a tuple, so that the options are hashable
            object.__setattr__(self, "languages", tuple(self.languages))
        if isinstance(self.since, str):
            try:
                object.__setattr__(self, "since", dt.date.fromisoformat(self.since.strip()))
            except ValueError:
                raise FetchOptionsError(
                    f"since={self.since!r} is not a date. Give it as YYYY-MM-DD, e.g. "
                    "since='2024-01-31'."
                ) from None
        elif isinstance(self.since, dt.datetime):
            object.__setattr__(self, "since", self.since.date())
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise FetchOptionsError(
                f"limit={self.limit!r} is not a number of videos. Give 1 or more, or None "
                "for every video of a playlist or channel."
            )
        if isinstance(self.concurrency, bool) or not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise FetchOptionsError(
                f"concurrency={self.concurrency!r} is out of range. Give 1 to "
                f"{MAX_CONCURRENCY} videos at a time ({DEFAULT_CONCURRENCY} is polite; more "
                "gets an IP blocked sooner)."
            )
        if not self.request_interval >= 0:
            raise FetchOptionsError(
                f"request_interval={self.request_interval!r} is not a number of seconds. "
                "Give 0 or more."
            )

    def load(self, source: str | os.PathLike[str]) -> Transcript:
        """The transcript of *source*, fetched (or read) with these options."""
        return load_transcript(source, **self._keywords())

    def _keywords(self) -> dict[str, Any]:
        """The arguments of :func:`ytqa.load_transcript` among these options."""
        names = ("languages", "translate_to", "captions", "proxy", "refresh", "asr",
                 "asr_model", "cookies")
        return {name: getattr(self, name) for name in names}

    @property
    def since_date(self) -> dt.date | None:
        """``since`` as a date (a string is read when the options are made)."""
        return self.since if isinstance(self.since, dt.date) else None

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
    if options.cookies is not None:
        load_cookies(options.cookies)  # a bad file fails the call once, not every video
    single = isinstance(sources, (str, os.PathLike, Transcript))
    listed: list[Any] = [sources] if single else list(sources)  # type: ignore[arg-type]
    report = IngestReport()
    items: list[Source] = []
    for source in listed:
        if isinstance(source, Transcript):
            items.append(source)
            continue
        try:
            items.extend(expand_sources(
                [source], prefer=options.prefer, proxy=options.proxy, limit=options.limit,
                since=options.since_date, cookies=options.cookies,
            ))
        except YtqaError as error:
            report.failed.append(FailedSource(str(source), error))
    chosen = _one_source_per_video(items, options, report)
    settings = index.chunking_for(max_tokens, overlap_tokens)
    tracker = Tracker(progress, total=len(chosen))
    todo = _not_indexed(index, chosen, options, settings, report)
    tracker.start(already=len(chosen) - len(todo))
    index.add_transcripts(
        _fetched(todo, options, tracker, report),
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
    if report.stopped is not None:
        raise report.stopped
    if len(report.failed) == 1:
        raise report.failed[0].error
    lines = "; ".join(f"{failure.source}: {failure.error}" for failure in report.failed)
    raise VideoIndexError(
        f"{len(report.failed)} of the videos could not be indexed, so no chain was built: "
        f"{lines}. Fix or drop them and try again (the others are indexed already)."
    ) from report.failed[0].error


FAILED_HEADER = "# ytqa: sources that could not be added to {where}; one a line.\n"


def failed_sources_file(index: VideoIndex) -> Path:
    """Where the sources that failed to be added to *index* are kept, to retry them:
    ``failed/<collection>-<location>.txt`` under the ytqa home, one file per index."""
    where = hashlib.sha256(repr(index).encode("utf-8")).hexdigest()[:10]
    return ytqa_home() / "failed" / f"{index.collection_name}-{where}.txt"


def failed_sources(index: VideoIndex) -> list[str]:
    """The sources kept in :func:`failed_sources_file` (none when there is no file)."""
    try:
        text = failed_sources_file(index).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise VideoIndexError(
            f"Could not read the list of failed sources {failed_sources_file(index)}: {exc}. "
            "Delete the file and run the add again."
        ) from exc
    lines = (line.strip() for line in text.splitlines())
    return list(dict.fromkeys(line for line in lines if line and not line.startswith("#")))


def record_failures(index: VideoIndex, report: IngestReport) -> Path | None:
    """Keep the sources of *report* that failed or were not fetched in
    :func:`failed_sources_file`, with those of earlier adds that are still missing
    (the videos added or found indexed now leave the list). Return the file, or None
    when nothing is left to retry (the file is then removed)."""
    done = set(report.video_ids)
    retry = report.to_retry
    kept = [s for s in failed_sources(index) if s not in done and s not in retry] + retry
    file = failed_sources_file(index)
    if not kept:
        file.unlink(missing_ok=True)
        return None
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".tmp")
    where = repr(index).replace("\n", " ")
    partial.write_text(
        FAILED_HEADER.format(where=where) + "".join(f"{s}\n" for s in kept), encoding="utf-8"
    )
    os.replace(partial, file)
    return file


def _as_sources(videos: Any) -> list[Any]:
    # A single URL or path is a common slip for a list of one: accept it.
    if isinstance(videos, (str, Path, Transcript)) or not isinstance(videos, Iterable):
        return [videos]
    return list(videos)


def _not_indexed(
    index: VideoIndex,
    chosen: Sequence[tuple[str, Source]],
    options: FetchOptions,
    settings: ChunkSettings,
    report: IngestReport,
) -> list[tuple[str, Source]]:
    """*chosen* without the videos indexed already as asked (those go to ``skipped``,
    without a fetch: a run started again resumes where it stopped)."""
    todo: list[tuple[str, Source]] = []
    for label, item in chosen:
        if isinstance(item, Transcript):
            todo.append((label, item))
            continue
        try:
            known = _indexed_already(index, item, options, settings)
        except EmbeddingModelError:
            raise
        except YtqaError as error:
            report.failed.append(FailedSource(label, error))
            continue
        if known is None:
            todo.append((label, item))
        else:
            report.skipped.append(SkippedVideo(known.video_id, known.title))
    return todo


class _GaveUpError(Exception):
    """YouTube blocked too many fetches in a row: the run stops (*error*: the last block;
    None for a fetch that did not start)."""

    def __init__(self, error: RequestBlockedError | None) -> None:
        super().__init__(str(error))
        self.error = error


def _fetch_one(source: Source, options: FetchOptions, pacer: RequestPacer) -> Transcript:
    """Load *source* (in a worker thread), its requests paced by *pacer*; a blocked fetch
    pauses the whole run and is tried again, until *pacer* says to give up."""
    if isinstance(source, Transcript):
        return source
    with pacing(pacer):
        while True:
            if pacer.stopped:  # the run stops: start no request
                raise _GaveUpError(None)
            try:
                transcript = options.load(source)
            except RequestBlockedError as error:
                if not pacer.blocked():
                    raise _GaveUpError(error) from error
                continue
            pacer.succeeded()
            return transcript


def _fetched(
    todo: Sequence[tuple[str, Source]],
    options: FetchOptions,
    tracker: Tracker,
    report: IngestReport,
) -> Iterator[tuple[str, Transcript]]:
    """The transcripts of *todo*, in order, fetched ``options.concurrency`` at a time in
    worker threads while the caller embeds and writes those yielded before.

    Sources that fail go to ``report.failed``. When YouTube keeps blocking, the
    run stops: ``report.stopped`` says why, the sources not fetched go to
    ``report.not_fetched``, and what was fetched is still yielded (and written).
    """
    pacer = RequestPacer(options.request_interval)
    pending = collections.deque(todo)
    window: collections.deque[tuple[str, Future[Transcript]]] = collections.deque()
    # Fetched ahead of the writer, so that the network goes on while it embeds a batch
    # (a write batch of 256 chunks holds a dozen short videos); transcripts are small.
    ahead = max(4 * options.concurrency, _FETCHED_AHEAD)
    blocked: _GaveUpError | None = None
    reason = ""  # what YouTube answered, for the error
    unfetched: list[str] = []  # the sources not submitted when the run stopped
    pool = _Workers(options.concurrency)
    finished = False
    try:
        while window or pending:
            while blocked is None and pending and len(window) < ahead:
                label, item = pending.popleft()
                window.append((label, pool.submit(_fetch_one, item, options, pacer)))
            label, future = window.popleft()
            if blocked is not None and future.cancel():
                report.not_fetched.append(label)
                tracker.video_done()
                continue
            try:
                transcript = future.result()
            except EmbeddingModelError:
                raise  # the model is missing for every video alike: say it once
            except _GaveUpError as gave_up:
                if gave_up.error is not None and not reason:
                    reason = _reason(gave_up.error)
                if blocked is None:
                    blocked = gave_up
                    unfetched = [label for label, _ in pending]
                    pending.clear()
                report.not_fetched.append(label)
                tracker.video_done()
                continue
            except YtqaError as error:
                report.failed.append(FailedSource(label, error))
                tracker.video_done()
                continue
            yield label, transcript
        finished = True
    finally:
        for _, left in window:
            left.cancel()
        # Stopped (Ctrl-C, an error, the caller closing the generator): return at once,
        # leaving a fetch in progress to end by itself; nothing of it is written.
        pool.close(wait=finished)
    if blocked is not None:
        report.not_fetched[:] = list(dict.fromkeys(report.not_fetched + unfetched))
        report.stopped = RunBlockedError(pacer.give_up, len(report.not_fetched), reason)


class _Workers:
    """The threads that fetch: daemon threads, so that stopping the run (Ctrl-C) ends
    the process at once; ``ThreadPoolExecutor``'s threads are joined when Python exits,
    which would hold it until a fetch or a speech-to-text in progress ended."""

    def __init__(self, count: int) -> None:
        self._tasks: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads = [
            threading.Thread(target=self._work, name=f"ytqa-fetch-{number}", daemon=True)
            for number in range(count)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._tasks.put((future, lambda: function(*args)))
        return future

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            future, call = task
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            try:
                result = call()
            except BaseException as exc:  # handed to the caller, as an executor does
                future.set_exception(exc)
            else:
                future.set_result(result)

    def close(self, *, wait: bool) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


def _reason(error: RequestBlockedError) -> str:
    """What YouTube answered, from a blocked fetch's message (the part in brackets)."""
    message = str(error)
    start, end = message.find(" ("), message.find(")")
    return message[start + 2 : end] if 0 <= start < end else ""


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
