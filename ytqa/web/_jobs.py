"""Background jobs of the web app (adding videos, carrying them over from other presets).

A job runs in a daemon thread and records events (plain JSON dicts, numbered
from 1). Readers follow a job from any event on, as server-sent events: each
waiting reader registers an ``asyncio.Event`` with the loop it runs on, and the
job thread sets it through that loop (``call_soon_threadsafe``), so nothing
polls.

A job stops between two videos when it is cancelled or the server shuts down;
the video being written is finished first (each write is all or nothing
anyway, see :mod:`ytqa.index`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

__all__ = ["Job", "JobBoard"]

logger = logging.getLogger(__name__)

KEPT_JOBS = 100
"""Finished jobs kept for ``GET /api/jobs/{id}``; older ones are forgotten."""


class Job:
    """One job: its events so far, whether it is done, and a cancel flag."""

    def __init__(self, kind: str, description: str) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.kind = kind
        self.description = description
        self.created_at = time.time()
        self.events: list[dict[str, Any]] = []
        self.done = False
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def emit(self, event: dict[str, Any], *, final: bool = False) -> None:
        """Record *event* (it gets an ``id``) and wake the readers."""
        with self._lock:
            self.events.append({"id": len(self.events) + 1, **event})
            if final:
                self.done = True
        self.wake()

    def wake(self) -> None:
        """Wake the readers (after an event, or because the server is stopping)."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, flag in waiters:
            # The loop may have closed (a reader that went away): nothing to wake.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(flag.set)

    def snapshot(self) -> dict[str, Any]:
        """The job as JSON: what it is, whether it is done, every event so far."""
        with self._lock:
            events = list(self.events)
            done = self.done
        return {
            "id": self.id,
            "kind": self.kind,
            "description": self.description,
            "created_at": self.created_at,
            "done": done,
            "events": events,
        }

    async def follow(
        self, after: int = 0, *, stopping: Callable[[], bool], heartbeat: float = 15.0
    ) -> AsyncIterator[dict[str, Any] | None]:
        """Yield the events after number *after*, as they come, until the job ends.

        Yields ``None`` every *heartbeat* seconds of silence (for a keep-alive
        comment); returns early when *stopping()* turns true.
        """
        loop = asyncio.get_running_loop()
        flag = asyncio.Event()
        waiter = (loop, flag)
        with self._lock:
            self._waiters.add(waiter)
        try:
            position = after
            while True:
                flag.clear()
                with self._lock:
                    fresh = self.events[position:]
                    done = self.done
                for event in fresh:
                    yield event
                position += len(fresh)
                if done and not fresh:
                    return
                if done:
                    continue
                if stopping():
                    return
                try:
                    await asyncio.wait_for(flag.wait(), heartbeat)
                except asyncio.TimeoutError:
                    yield None
        finally:
            with self._lock:
                self._waiters.discard(waiter)


class JobBoard:
    """The jobs of one app: starts them, finds them, stops them at shutdown."""

    def __init__(self, max_running: int = 2) -> None:
        self._jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        # Jobs beyond this wait their turn: each fetches and embeds, and the
        # CPU is shared with the searches.
        self._slots = threading.Semaphore(max_running)
        self._counter = itertools.count()
        self.stopping = threading.Event()
        self.abandoned = threading.Event()

    def start(self, job: Job, work: Callable[[Job], None]) -> Job:
        """Run ``work(job)`` in a daemon thread; *work* emits the final event."""

        def run() -> None:
            with self._slots:
                try:
                    work(job)
                except BaseException as exc:  # a bug must still end the job for its readers
                    logger.exception("job %s failed", job.id)
                    job.emit(
                        {"type": "done", "error": f"Unexpected error: {exc!r}"}, final=True
                    )
                    raise
                finally:
                    if not job.done:
                        job.emit({"type": "done"}, final=True)

        with self._lock:
            self._jobs[job.id] = job
            finished = [j for j in self._jobs.values() if j.done]
            for old in finished[: max(0, len(finished) - KEPT_JOBS)]:
                del self._jobs[old.id]
            thread = threading.Thread(
                target=run, name=f"ytqa-job-{next(self._counter)}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda job: job.created_at)

    def begin_shutdown(self) -> None:
        """Stop every job after the video it is writing, and wake every reader."""
        self.stopping.set()
        for job in self.all():
            job.cancelled.set()
            job.wake()

    def abandon(self) -> None:
        """Stop waiting for the jobs (a second Ctrl-C): :meth:`wait` returns at once."""
        self.abandoned.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the job threads to end; True if they all did within *timeout*.

        Returns early, False, once :meth:`abandon` is called.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            while thread.is_alive() and not self.abandoned.is_set():
                left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
                if left <= 0:
                    return False
                thread.join(left)
        return not any(thread.is_alive() for thread in threads)
