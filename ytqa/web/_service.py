"""What the web app does, without HTTP: videos, jobs, searches, streamed answers.

One :class:`Service` per app. It owns the open :class:`~ytqa.VideoIndex`,
one retriever over it (``k`` and ``video_ids`` are set per call), the LLM (or
none), the jobs, and a lock that lets one thread at a time write the index
(adding and removing). Searches never take the lock: the index hides videos
being written.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import shutil
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ytqa.errors import YtqaError
from ytqa.terminal import one_line
from ytqa.video import is_video_id
from ytqa.web._jobs import Job, JobBoard
from ytqa.web._media import find_media, is_upload, media_kind

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from langchain_core.language_models import BaseLanguageModel
    from langchain_core.runnables import Runnable

    from ytqa.index import VideoIndex, VideoRecord
    from ytqa.ingest import FetchOptions
    from ytqa.transcripts import Transcript

__all__ = ["Service", "SourceToAdd", "document_json"]

logger = logging.getLogger(__name__)

MEDIA_RECHECK = 30.0
"""Seconds a video's media lookup is trusted (a media file may be put beside it later)."""


@dataclasses.dataclass
class SourceToAdd:
    """One thing to add: a source ytqa reads (URL, ID, path) or a parsed transcript."""

    item: str | Path | Transcript
    label: str
    """What the user called it (an uploaded file's own name, not where it was saved)."""
    discard_on_failure: Path | None = None
    """An upload's folder, deleted if the upload cannot be added."""


class Service:
    """The state behind one web app (see the module documentation)."""

    def __init__(
        self,
        index: VideoIndex,
        *,
        llm: BaseLanguageModel[Any] | None,
        fetch_options: FetchOptions,
        rerank: str | None = None,
    ) -> None:
        from ytqa.chain import fit_excerpts_to
        from ytqa.retrieval import VideoRetriever

        self.index = index
        self.llm = llm
        # How new videos' transcripts are had (languages, proxy, asr, ...).
        self.fetch_options = fetch_options
        # The retriever of build_retriever, without its sync: carrying videos over
        # from other presets runs as a job (start_sync), so the server starts at once.
        # Its passages are the answer's context: short ones for an LLM on this CPU,
        # as the chains give it.
        self.retriever = VideoRetriever(index=index, rerank=rerank)
        if llm is not None:
            fit_excerpts_to(self.retriever, llm)
        self.jobs = JobBoard()
        self.write_lock = threading.Lock()
        # Per indexed version of a video (ID, time added): its length, and its
        # media file with when it was looked up.
        self._durations: dict[tuple[str, float], float | None] = {}
        self._media: dict[tuple[str, float], tuple[float, Path | None]] = {}
        self._details_lock = threading.Lock()

    # -- videos ----------------------------------------------------------------

    def records(self) -> list[VideoRecord]:
        return self.index.videos()

    def record(self, video_id: str) -> VideoRecord | None:
        return next((r for r in self.records() if r.video_id == video_id), None)

    def library_version(self, records: Sequence[VideoRecord]) -> str:
        """Changes whenever a video is added, replaced or removed (by any process)."""
        import hashlib

        digest = hashlib.sha256()
        for record in records:
            digest.update(f"{record.video_id}\0{record.added_at}\0".encode())
        return digest.hexdigest()[:16]

    def describe(self, record: VideoRecord) -> dict[str, Any]:
        """A video as the API shows it: the index's fields, its length, how it plays."""
        from ytqa.transcripts import video_link

        key = (record.video_id, record.added_at)
        now = time.monotonic()
        with self._details_lock:
            duration = self._durations.get(key, -1.0)
            media = self._media.get(key)
        if duration == -1.0:
            # An indexed version's transcript never changes: its length is read once.
            transcript = self.transcript(record)
            duration = round(transcript.duration, 3) if transcript is not None else None
        if media is None or now - media[0] > MEDIA_RECHECK:
            media = (now, find_media(record.source))
        with self._details_lock:
            self._durations[key] = duration
            self._media[key] = media
        found = media[1]
        if found is not None:
            player = media_kind(found) or "transcript"
        elif is_video_id(record.video_id):
            player = "youtube"
        else:
            player = "transcript"
        return {
            **record.to_dict(),
            "duration": duration,
            "captions": "auto-generated" if record.is_generated else "uploaded",
            "from_youtube": record.source == "youtube",
            "url": video_link(record.video_id, record.source),
            "player": player,
            "has_media": found is not None,
        }

    def transcript(self, record: VideoRecord) -> Transcript | None:
        """The indexed transcript of *record* from the cache (None if it is not there)."""
        from ytqa.transcripts import cached_transcripts

        candidates = cached_transcripts(record.video_id)

        def rank(t: Transcript) -> tuple[bool, bool, bool]:
            return (
                t.source == record.source,
                t.language_code == record.language,
                t.is_generated == record.is_generated,
            )

        return max(candidates, key=rank) if candidates else None

    def remove(self, video_id: str) -> int:
        """Remove *video_id* from the index; an uploaded video's files go too."""
        record = self.record(video_id)
        with self.write_lock:
            removed = self.index.remove(video_id)
        if record is not None and is_upload(Path(record.source)):
            shutil.rmtree(Path(record.source).parent, ignore_errors=True)
        return removed

    # -- adding videos -----------------------------------------------------------

    def start_add(
        self, sources: Sequence[SourceToAdd], description: str, fetch: dict[str, Any]
    ) -> Job:
        """Start a job that adds *sources* one video at a time, reporting each.

        *fetch* overrides fields of the server's :class:`~ytqa.ingest.FetchOptions`
        (``languages``, ``translate_to``).
        """
        job = Job("add", description)
        options = dataclasses.replace(self.fetch_options, **fetch)
        return self.jobs.start(job, lambda job: self._add(job, list(sources), options))

    def start_sync(self) -> Job:
        """Start a job that embeds the videos other presets' indexes hold and this one lacks."""
        job = Job("sync", "videos indexed with other presets")
        return self.jobs.start(job, self._sync)

    def _sync(self, job: Job) -> None:
        job.emit({"type": "started"})
        try:
            with self.write_lock:
                report = self.index.sync()
        except YtqaError as error:
            job.emit(_failure("sync", error))
            job.emit({"type": "done", "added": 0, "skipped": 0, "failed": 1}, final=True)
            return
        for added in report.added:
            job.emit({"type": "video", "stage": "added", "video_id": added.video_id,
                      "title": added.title, "chunks": added.chunks, "source": added.video_id})
        for failed in report.failed:
            job.emit(_failure(failed.source, failed.error))
        job.emit({"type": "done", "added": len(report.added), "skipped": len(report.skipped),
                  "failed": len(report.failed)}, final=True)

    def _add(self, job: Job, sources: list[SourceToAdd], fetch: FetchOptions) -> None:
        from ytqa.transcripts import Transcript, expand_sources

        counts = {"added": 0, "skipped": 0, "failed": 0}
        items: list[SourceToAdd] = []
        job.emit({"type": "started", "sources": [s.label for s in sources]})
        for source in sources:
            if isinstance(source.item, Transcript):
                items.append(source)
                continue
            try:
                expanded = expand_sources([source.item], proxy=fetch.proxy)
            except YtqaError as error:
                counts["failed"] += 1
                job.emit(_failure(source.label, error))
                continue
            if len(expanded) > 1:
                job.emit({"type": "expanded", "source": source.label, "videos": len(expanded)})
            items += [
                dataclasses.replace(source, item=item, label=str(item))
                if len(expanded) > 1
                else dataclasses.replace(source, item=item)
                for item in expanded
            ]
        total = len(items)
        for position, source in enumerate(items, 1):
            if job.cancelled.is_set():
                job.emit({"type": "cancelled", "remaining": total - position + 1})
                break
            where = {"source": source.label, "position": position, "total": total}
            job.emit({"type": "video", "stage": "fetching", **where})
            try:
                transcript = (
                    source.item
                    if isinstance(source.item, Transcript)
                    else fetch.load(source.item)
                )
                about = {
                    "video_id": transcript.video_id,
                    "title": transcript.title,
                    "channel": transcript.channel,
                }
                job.emit({"type": "video", "stage": "indexing", **where, **about})
                with self.write_lock:
                    # Stopped while waiting for another job's write: write nothing more.
                    if job.cancelled.is_set():
                        job.emit({"type": "cancelled", "remaining": total - position + 1})
                        break
                    chunks = self.index.add(transcript)
            except YtqaError as error:
                counts["failed"] += 1
                job.emit({**_failure(source.label, error, source.item), **where})
                if source.discard_on_failure is not None:
                    shutil.rmtree(source.discard_on_failure, ignore_errors=True)
                continue
            stage = "added" if chunks else "skipped"
            counts[stage] += 1
            job.emit({"type": "video", "stage": stage, "chunks": chunks, **where, **about})
        job.emit({"type": "done", **counts, "cancelled": job.cancelled.is_set()}, final=True)

    # -- searching and answering -------------------------------------------------

    async def search(self, query: str, k: int, video_id: str | None) -> list[Document]:
        scope: dict[str, Any] = {"k": k}
        if video_id is not None:
            scope["video_ids"] = [video_id]
        documents: list[Document] = await self.retriever.ainvoke(query, **scope)
        return documents

    async def answer(
        self, question: str, documents: list[Document]
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """``(event, data)`` pairs: the answer's tokens, then its sources, then done."""
        sources = {"sources": [document_json(d) for d in documents]}
        if self.llm is None or not documents:
            yield "sources", sources
            detail = (
                "No LLM is configured, so here are the passages that match."
                if self.llm is None
                else "No passages found: the index holds no videos yet."
            )
            yield "done", {"answer": None, "detail": detail}
            return
        from ytqa.citations import cite_moments
        from ytqa.rag import answer_chain

        # The answering step of ytqa.build_rag_chain (same prompt, marks and fences),
        # streamed here so that the passages found above are the ones shown.
        inputs = {"question": question, "context": documents}
        answer: list[str] = []
        async for text in _stream_in_thread(answer_chain(self.llm), inputs):
            answer.append(text)
            yield "token", {"text": text}
        # The moments the answer cites, each checked to lie in a passage given.
        cited = cite_moments("".join(answer), documents)
        yield "sources", {"sources": [document_json(d) for d in cited]}
        yield "done", {"answer": "".join(answer)}

    def llm_name(self) -> str | None:
        if self.llm is None:
            return None
        for name in ("model_id", "model_name", "model"):
            value = getattr(self.llm, name, None)
            if isinstance(value, str) and value:
                return value
        return type(self.llm).__name__


def document_json(document: Document) -> dict[str, Any]:
    """A retrieved passage as JSON: its text and every metadata field (as ``search --json``)."""
    return {"text": document.page_content, **document.metadata}


def _failure(label: str, error: YtqaError, item: Any = None) -> dict[str, Any]:
    message = one_line(str(error))
    if isinstance(item, Path):
        # An upload's message names the file as the user knows it, not where it was saved.
        message = message.replace(str(item.resolve()), label).replace(str(item), label)
    return {
        "type": "video",
        "stage": "failed",
        "source": label,
        "error": message,
        "error_type": type(error).__name__,
    }


async def _stream_in_thread(runnable: Runnable[Any, Any], inputs: Any) -> AsyncIterator[str]:
    """The text of ``runnable.stream(inputs)``, produced in a worker thread.

    Every LangChain model has a synchronous ``stream`` (local transformers
    pipelines have no working ``astream``); a thread keeps the event loop free,
    and stops pulling tokens when the reader goes away.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def put(kind: str, value: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is reading
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

    def produce() -> None:
        try:
            for chunk in runnable.stream(inputs):
                if stop.is_set():
                    break
                text = chunk if isinstance(chunk, str) else str(chunk.text)
                if text:
                    put("text", text)
        except Exception as exc:  # reported to the reader as an error event
            put("error", exc)
        else:
            put("end", None)

    threading.Thread(target=produce, name="ytqa-answer", daemon=True).start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == "text":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
