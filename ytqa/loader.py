"""A LangChain document loader for YouTube transcripts: one Document per video.

For LangChain users who only want documents (their own splitter, their own
store). ytqa's own pipeline chunks with :func:`ytqa.chunk_transcript` instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from ytqa.errors import YtqaError
from ytqa.transcripts import Captions, Transcript, expand_sources, load_transcript

if TYPE_CHECKING:
    from youtube_transcript_api.proxies import ProxyConfig

    from ytqa.transcripts import AsrMode, SpeechToText

__all__ = ["YouTubeTranscriptLoader", "transcript_metadata"]

logger = logging.getLogger(__name__)


def transcript_metadata(transcript: Transcript) -> dict[str, Any]:
    """The metadata of a whole-video Document, as Chroma-safe scalars (no None values)."""
    metadata: dict[str, Any] = {
        "video_id": transcript.video_id,
        "source": transcript.link(),
        "url": transcript.link(),
        "start": transcript.segments[0].start if transcript.segments else 0.0,
        "end": transcript.duration,
        "language": transcript.language,
        "language_code": transcript.language_code,
        "is_generated": transcript.is_generated,
        "captions": transcript.captions,
    }
    optional = {
        "title": transcript.title,
        "channel": transcript.channel,
        "translated_from": transcript.translated_from,
        "asr_model": transcript.asr_model,
    }
    metadata.update({key: value for key, value in optional.items() if value is not None})
    return metadata


class YouTubeTranscriptLoader(BaseLoader):
    """Load YouTube transcripts as LangChain Documents, one per video.

    ``sources`` are video IDs, video URLs, playlist or channel URLs (with the
    ``ytqa[playlists]`` extra), transcript files or folders of them. The
    Document's text is the full transcript; its metadata holds ``video_id``,
    ``source``/``url`` (the watch link), ``start``/``end`` (seconds),
    ``language``, ``language_code``, ``is_generated``, ``captions`` and, when
    known, ``title``, ``channel``, ``translated_from`` and ``asr_model``.
    ``asr`` and ``asr_model`` choose speech-to-text as in
    :func:`ytqa.load_transcript` (audio and video files are sources too).

    >>> loader = YouTubeTranscriptLoader(["https://youtu.be/dQw4w9WgXcQ"])  # doctest: +SKIP
    >>> [doc.metadata["title"] for doc in loader.lazy_load()]               # doctest: +SKIP

    With ``continue_on_failure=True`` a video that fails (transcripts disabled,
    blocked request, ...) is logged and skipped instead of ending the load.
    """

    def __init__(
        self,
        sources: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        languages: Sequence[str] = ("en",),
        translate_to: str | None = None,
        captions: Captions = "any",
        proxy: str | ProxyConfig | None = None,
        refresh: bool = False,
        continue_on_failure: bool = False,
        asr: AsrMode | SpeechToText | None = None,
        asr_model: str | None = None,
    ) -> None:
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        self.sources: list[str | os.PathLike[str]] = list(sources)
        self.languages = tuple(languages) if not isinstance(languages, str) else (languages,)
        self.translate_to = translate_to
        self.captions: Captions = captions
        self.proxy = proxy
        self.refresh = refresh
        self.continue_on_failure = continue_on_failure
        self.asr = asr
        self.asr_model = asr_model

    def lazy_load(self) -> Iterator[Document]:
        """Yield one Document per video, fetching (or reading the cache) as it goes."""
        proxy_url = self.proxy if isinstance(self.proxy, str) else None
        seen: set[str] = set()
        for source in self.sources:
            try:
                # One source at a time, so that the first video comes before
                # every playlist and folder is listed.
                items = expand_sources([source], proxy=proxy_url)
            except YtqaError as exc:
                self._skip_or_raise(source, exc)
                continue
            for item in items:
                if str(item) in seen:
                    continue
                seen.add(str(item))
                try:
                    transcript = load_transcript(
                        item,
                        languages=self.languages,
                        translate_to=self.translate_to,
                        captions=self.captions,
                        proxy=self.proxy,
                        refresh=self.refresh,
                        asr=self.asr,
                        asr_model=self.asr_model,
                    )
                except YtqaError as exc:
                    self._skip_or_raise(item, exc)
                    continue
                yield Document(
                    page_content=transcript.text, metadata=transcript_metadata(transcript)
                )

    def _skip_or_raise(self, source: object, exc: YtqaError) -> None:
        if not self.continue_on_failure:
            raise exc
        logger.warning("skipping %s: %s", source, exc)
