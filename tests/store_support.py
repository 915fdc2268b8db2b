"""Helpers for the index tests (models, chunking, store): not a test module."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

from langchain_core.embeddings import Embeddings

from ytqa.transcripts import Transcript, read_transcript_file


class CountingEmbeddings(Embeddings):
    """Real embeddings, with a count of what they were asked to embed.

    ``fail_on_call=N`` (or a tuple of call numbers) makes the N-th
    ``embed_documents`` call raise, as a failing model or device would;
    ``block_on_call=N`` makes it print a line and wait (used to kill a process
    at a known point of an add).
    """

    def __init__(
        self,
        inner: Embeddings,
        *,
        fail_on_call: int | tuple[int, ...] | None = None,
        block_on_call: int | None = None,
    ) -> None:
        self.inner = inner
        self.fail_on_call = (fail_on_call,) if isinstance(fail_on_call, int) else fail_on_call or ()
        self.block_on_call = block_on_call
        self.calls = 0
        self.texts = 0
        self.released = threading.Event()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls in self.fail_on_call:
            raise RuntimeError("CUDA error: device-side assert triggered (injected)")
        if self.calls == self.block_on_call:
            print(f"EMBED CALL {self.calls} REACHED", flush=True)
            self.released.wait()
        self.texts += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


def shared_transcript(transcripts_dir: Path, name: str, cues: int | None = None) -> Transcript:
    """A real transcript from the shared data, optionally cut to its first *cues* cues."""
    transcript = read_transcript_file(transcripts_dir / name)
    if cues is not None:
        transcript = dataclasses.replace(transcript, segments=transcript.segments[:cues])
    return transcript
