"""The one retriever of ytqa, and :func:`build_retriever`: questions in, timestamped passages out.

>>> from ytqa import build_retriever
>>> retriever = build_retriever(["talk.srt"], k=3)               # doctest: +SKIP
>>> retriever.invoke("Why does the lens distort?")[0].metadata   # doctest: +SKIP

:class:`VideoRetriever` is what ``VideoIndex.as_retriever()`` and
:func:`build_retriever` return: it hides videos being added, searches, attaches
each chunk's video fields, checks the chunks against the videos' ready versions
(and searches again without the videos that fail), widens each match by its
neighbours and cites it a little before the match. The search itself is
:mod:`ytqa.passages` (which ``ytqa search`` uses without LangChain's retriever);
this module makes it a LangChain retriever.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, model_validator

from ytqa.embeddings import DEFAULT_MODEL, EmbeddingPreset, resolve_preset
from ytqa.errors import ChainConfigurationError
from ytqa.index import VideoIndex
from ytqa.ingest import FetchOptions
from ytqa.passages import (
    DEFAULT_CITE_LEAD,
    DEFAULT_NEIGHBOUR_WEIGHT,
    DEFAULT_WINDOW,
    SEARCH_TYPES,
    check_options,
    find_passages,
    retrieve_passages,
    searchable_videos,
    source_label,
)

__all__ = [
    "DEFAULT_CITE_LEAD",
    "DEFAULT_NEIGHBOUR_WEIGHT",
    "DEFAULT_WINDOW",
    "SEARCH_TYPES",
    "VideoRetriever",
    "build_retriever",
    "source_label",
]


class VideoRetriever(BaseRetriever):
    """Retriever over a :class:`~ytqa.index.VideoIndex` that returns timestamped chunks.

    ``k`` is set in the constructor and may be changed per call
    (``retriever.invoke(question, k=2)``), as may ``video_ids``, ``search_type``
    and any search keyword (``fetch_k``, ``lambda_mult``, ``score_threshold``,
    ``filter``). Only chunks of completely indexed videos are returned: before each
    search it leaves out pending videos (no filter at all when there are none);
    after it, it checks that every chunk belongs to the ready version of its video
    and searches again without any video that fails. ``VideoIndex.as_retriever()``
    and :func:`build_retriever` both return one.

    Each returned Document carries the index metadata (``video_id``, ``start``,
    ``end``, ``url``/``source``, ``title``, ...) plus

    * ``score`` — similarity to the query, higher is closer (cosine similarity, or
      the dot product for dot-product presets), blended with the better direct
      neighbour's by :attr:`neighbour_weight`; results come best first;
    * ``timestamp`` — the start as ``mm:ss`` / ``h:mm:ss``;
    * ``title`` — the video ID where the title is unknown.

    All searching goes through :meth:`search`; override it to change how chunks are
    found (hybrid retrieval, re-citing the best-matching cue).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: VideoIndex = Field(exclude=True)
    """The index to search."""
    k: int = 4
    """Number of chunks to return."""
    search_type: str = "similarity"
    """``"similarity"``, ``"mmr"`` (diverse results) or ``"similarity_score_threshold"``."""
    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Defaults for the search: ``fetch_k``/``lambda_mult`` (mmr), ``score_threshold``,
    ``filter`` (a Chroma ``where`` on chunk metadata), ``where_document``."""
    video_ids: list[str] | None = None
    """Search only these videos (``None``: every video in the index)."""
    window: int = DEFAULT_WINDOW
    """Neighbouring chunks returned on each side of a matching chunk (0: the chunk alone).

    Short chunks find the moment; their neighbours give the reader (and the LLM)
    the context around it. See ``docs/evaluation.md`` for the measurements."""
    cite_lead: float = DEFAULT_CITE_LEAD
    """Seconds before the matching chunk that the link opens at (never before the
    returned passage): caption timing is coarse, and a viewer should hear the
    answer from its first word."""
    neighbour_weight: float | None = None
    """Matches are ranked by ``(1 - w) * score + w * max(score of the chunk before,
    score of the chunk after)``: an answer spoken over two chunks, or a moment whose
    neighbour also matches, comes before a lone chunk that shares a few topic words.
    0 ranks by each chunk's own score; None (the default) takes the weight measured
    for the index's model (:data:`ytqa.passages.MODEL_NEIGHBOUR_WEIGHTS`: 0.35 for
    MiniLM and models not measured, 0.2 for MPNet). The ``score`` returned is this
    blend (on the similarity's scale); ``score_threshold`` applies to each chunk's own
    similarity."""
    rerank: str | EmbeddingPreset | None = None
    """An embedding preset (larger than the index's model, such as ``"mpnet"`` over a
    MiniLM index) that re-scores the best matches at query time
    (:func:`ytqa.passages.find_passages`): more answers found and landed on
    (docs/evaluation.md), at the cost of a call of that model per question. None
    (the default): the index's model alone. Similarity searches only."""

    @model_validator(mode="before")
    @classmethod
    def _check_options(cls, values: Any) -> Any:
        # The one check of the retriever's options, on what was given (before pydantic
        # coerces it); build_retriever makes the retriever before it indexes anything,
        # so a bad option fails first.
        if isinstance(values, dict):
            check_options(
                k=values.get("k", 4),
                search_type=values.get("search_type", "similarity"),
                search_kwargs=dict(values.get("search_kwargs") or {}),
                window=values.get("window", DEFAULT_WINDOW),
                cite_lead=values.get("cite_lead", DEFAULT_CITE_LEAD),
                neighbour_weight=values.get("neighbour_weight"),
                rerank=values.get("rerank"),
                index_preset=getattr(values.get("index"), "preset", None),
            )
        return values

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._retrieve(query, kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # Chroma and the question's embedding block: run them off the event loop.
        documents: list[Document] = await run_in_executor(None, self._retrieve, query, kwargs)
        return documents

    def _retrieve(self, query: str, overrides: dict[str, Any]) -> list[Document]:
        options = {**self.search_kwargs, **overrides}
        return retrieve_passages(
            self.index,
            query,
            k=options.pop("k", self.k),
            video_ids=options.pop("video_ids", self.video_ids),
            search_type=options.pop("search_type", self.search_type),
            search_kwargs=options,
            search=self.search,
        )

    def search(
        self,
        query: str,
        *,
        k: int,
        search_type: str,
        where: dict[str, Any] | None,
        search_kwargs: dict[str, Any],
    ) -> list[Document]:
        """Return the *k* best passages for *query*, best first, with ``score`` in metadata.

        The one place where the index is searched; subclasses override it (and
        must honour *where*, the Chroma filter that hides incomplete videos and
        applies ``video_ids`` and the user's ``filter``). Each passage is a
        matching chunk with :attr:`window` neighbours on each side; its
        ``cited_start`` is where the matching chunk starts, less :attr:`cite_lead`
        (:func:`ytqa.passages.find_passages`).
        """
        return find_passages(
            self.index, query, k=k, search_type=search_type, where=where,
            search_kwargs=search_kwargs, window=self.window, cite_lead=self.cite_lead,
            neighbour_weight=self.neighbour_weight, rerank=self.rerank,
        )


def _open_index(
    index: VideoIndex | None,
    model: str | EmbeddingPreset,
    persist_directory: str | Path | None,
    client: Any,
) -> VideoIndex:
    if index is None:
        return VideoIndex(model, persist_directory=persist_directory, client=client)
    if persist_directory is not None or client is not None:
        raise ChainConfigurationError(
            "Pass either index= or persist_directory=/client=, not both: the index "
            "already knows where it is stored."
        )
    if model != DEFAULT_MODEL:
        asked = resolve_preset(model)
        if asked.key != index.preset.key:
            raise ChainConfigurationError(
                f"model={asked.key!r} does not match the index given, which uses "
                f"{index.preset.key!r}. Leave model= out, or open an index for {asked.key!r}."
            )
    return index


def build_retriever(
    videos: Sequence[Any] | str | Path | None = None,
    *,
    model: str | EmbeddingPreset = DEFAULT_MODEL,
    k: int = 4,
    search_type: str = "similarity",
    search_kwargs: dict[str, Any] | None = None,
    video_ids: Sequence[str] | None = None,
    index: VideoIndex | None = None,
    persist_directory: str | Path | None = None,
    client: Any = None,
    window: int = DEFAULT_WINDOW,
    cite_lead: float = DEFAULT_CITE_LEAD,
    neighbour_weight: float | None = None,
    rerank: str | EmbeddingPreset | None = None,
    fetch: FetchOptions | None = None,
    **fetch_options: Any,
) -> VideoRetriever:
    """Return a LangChain retriever over *videos*, indexing those not indexed yet.

    Args:
        videos: Video URLs or IDs, playlists, transcript files or folders,
            :class:`~ytqa.Transcript` s (anything :func:`ytqa.ingest.ingest` takes).
            The retriever searches these videos only (every video they expand to,
            including those indexed already); the index's other videos stay indexed.
            ``None`` searches every video the index holds, after embedding from the
            transcript cache the videos that other presets' indexes hold
            (:meth:`VideoIndex.sync`).
        model: Embedding preset of the index (``"minilm"``, ``"mpnet"``, ...).
        k: Chunks per query (also settable per call: ``invoke(q, k=2)``).
        search_type: ``"similarity"``, ``"mmr"`` or ``"similarity_score_threshold"``.
        search_kwargs: ``fetch_k``/``lambda_mult`` for mmr, ``score_threshold``,
            ``filter`` (Chroma ``where`` on chunk metadata).
        video_ids: Restrict retrieval to these videos (IDs or URLs), which must be
            indexed. With *videos*, it narrows them: each must be one of *videos*
            (else ``ChainConfigurationError``).
        index: An open :class:`VideoIndex`; otherwise one is opened from *model*,
            *persist_directory* and *client* (default: the embedded index under the
            ytqa home).
        window: Neighbouring chunks returned on each side of each matching chunk
            (0: the matching chunk alone).
        cite_lead: Seconds before the matching chunk that each result's ``url``
            and ``timestamp`` open at (``cited_start``; never before ``start``).
        neighbour_weight: Share of a match's rank taken from its better-matching
            direct neighbour (0: each chunk's own score; None: the model's measured
            weight); see :attr:`VideoRetriever.neighbour_weight`.
        rerank: An embedding preset larger than *model* (``"mpnet"`` for a MiniLM
            index) that re-scores the best matches of each question; see
            :attr:`VideoRetriever.rerank`.
        fetch, fetch_options: How transcripts of new videos are had: a
            :class:`ytqa.ingest.FetchOptions`, or its fields as keywords
            (``languages``, ``translate_to``, ``proxy``, ``captions``, ``asr``,
            ``asr_model``, ``refresh``); ``captions`` also decides which source is
            used when several are the same video.

    Raises:
        YtqaError: a video could not be indexed — its own error when one fails
            (``NoTranscriptFoundError``, ...), a ``VideoIndexError`` listing them all
            when several do (the others stay indexed); ``VideoIndexError`` also for an
            empty index or a ``video_ids`` entry that is not indexed;
            ``ChainConfigurationError`` for a bad ``k``/``search_type``, an empty
            *videos* or a ``video_ids`` entry that is not one of *videos*.
    """
    options = _fetch_options(fetch, fetch_options)
    opened = _open_index(index, model, persist_directory, client)
    # Made first: its options are checked before anything is indexed.
    retriever = VideoRetriever(
        index=opened,
        k=k,
        search_type=search_type,
        search_kwargs=dict(search_kwargs or {}),
        window=window,
        cite_lead=cite_lead,
        neighbour_weight=neighbour_weight,
        rerank=rerank,
    )
    retriever.video_ids = searchable_videos(opened, videos, video_ids=video_ids, fetch=options)
    return retriever


def _fetch_options(fetch: FetchOptions | None, keywords: dict[str, Any]) -> FetchOptions:
    """*fetch*, or the :class:`FetchOptions` of the keyword arguments *keywords*."""
    if fetch is not None and keywords:
        raise ChainConfigurationError(
            f"Pass fetch= or its fields ({', '.join(sorted(keywords))}), not both."
        )
    try:
        return fetch or FetchOptions(**keywords)
    except TypeError:
        known = set(FetchOptions.__dataclass_fields__)
        unknown = ", ".join(sorted(set(keywords) - known))
        raise TypeError(f"build_retriever() got unexpected keyword arguments: {unknown}") from None
