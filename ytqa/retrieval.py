"""The one retriever of ytqa, and :func:`build_retriever`: questions in, timestamped passages out.

>>> from ytqa import build_retriever
>>> retriever = build_retriever(["talk.srt"], k=3)               # doctest: +SKIP
>>> retriever.invoke("Why does the lens distort?")[0].metadata   # doctest: +SKIP

:class:`VideoRetriever` is what ``VideoIndex.as_retriever()`` and
:func:`build_retriever` return: it hides videos being added, searches, attaches
each chunk's video fields, checks the chunks against the videos' ready versions
(and searches again without the videos that fail), widens each match by its
neighbours and cites it a little before the match.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, model_validator

from ytqa.citations import PART_STARTS
from ytqa.embeddings import DEFAULT_MODEL, resolve_preset
from ytqa.errors import ChainConfigurationError, VideoIndexError
from ytqa.index import VideoIndex, chunk_id, chunk_key
from ytqa.ingest import FetchOptions, ingest_or_raise
from ytqa.video import format_timestamp, parse_video_id

if TYPE_CHECKING:  # pragma: no cover
    from ytqa.embeddings import EmbeddingPreset

__all__ = [
    "DEFAULT_CITE_LEAD",
    "DEFAULT_NEIGHBOUR_WEIGHT",
    "DEFAULT_WINDOW",
    "SEARCH_TYPES",
    "VideoRetriever",
    "build_retriever",
    "source_label",
]

SEARCH_TYPES = ("similarity", "mmr", "similarity_score_threshold")

DEFAULT_WINDOW = 5
"""Neighbouring chunks returned on each side of a matching chunk (see docs/evaluation.md)."""

DEFAULT_CITE_LEAD = 3.0
"""Seconds before the matching chunk that a result's link opens at."""

DEFAULT_NEIGHBOUR_WEIGHT = 0.35
"""Share of a chunk's rank score taken from its better-matching direct neighbour
(see :attr:`VideoRetriever.neighbour_weight` and docs/evaluation.md)."""


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
    neighbour_weight: float = DEFAULT_NEIGHBOUR_WEIGHT
    """Matches are ranked by ``(1 - w) * score + w * max(score of the chunk before,
    score of the chunk after)``: an answer spoken over two chunks, or a moment whose
    neighbour also matches, comes before a lone chunk that shares a few topic words.
    0 ranks by each chunk's own score. The ``score`` returned is this blend (on the
    similarity's scale); ``score_threshold`` applies to each chunk's own similarity."""

    @model_validator(mode="before")
    @classmethod
    def _check_options(cls, values: Any) -> Any:
        # The one check of the retriever's options, on what was given (before pydantic
        # coerces it); build_retriever makes the retriever before it indexes anything,
        # so a bad option fails first.
        if isinstance(values, dict):
            _check_k(values.get("k", 4))
            _check_search(values.get("search_type", "similarity"),
                          dict(values.get("search_kwargs") or {}))
            _check_window(values.get("window", DEFAULT_WINDOW),
                          values.get("cite_lead", DEFAULT_CITE_LEAD))
            _check_neighbour_weight(values.get("neighbour_weight", DEFAULT_NEIGHBOUR_WEIGHT))
        return values

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        return self._retrieve(query, kwargs)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # Chroma and sentence-transformers block: run them off the event loop.
        documents: list[Document] = await run_in_executor(None, self._retrieve, query, kwargs)
        return documents

    def _retrieve(self, query: str, overrides: dict[str, Any]) -> list[Document]:
        options = {**self.search_kwargs, **overrides}
        k = options.pop("k", self.k)
        video_ids = options.pop("video_ids", self.video_ids)
        search_type = options.pop("search_type", self.search_type)
        user_filter = options.pop("filter", None)
        _check_k(k)
        _check_search(search_type, options)
        if isinstance(video_ids, str):
            video_ids = [video_ids]
        # Hide videos being added; then check that every chunk found belongs to the
        # ready version of its video (a writer in another process may race with
        # this search) and search again without any video that does not.
        excluded: set[str] = set()

        def search_once() -> list[Document]:
            # The filter is made (and an index another process wrote to reopened) afresh.
            where = _merge_filters(self.index.where(video_ids, exclude=excluded), user_filter)
            return self.search(
                query, k=k, search_type=search_type, where=where, search_kwargs=dict(options)
            )

        for _ in range(3):
            documents = self.index.searching(search_once)
            documents, incomplete = self.index.resolve_documents(documents)
            if not incomplete:
                break
            excluded |= incomplete
        else:
            documents = [d for d in documents if d.metadata.get("video_id") not in excluded]
        return [_with_citation(document) for document in documents]

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
        ``cited_start`` is where the matching chunk starts, less :attr:`cite_lead`.
        """
        options = dict(search_kwargs)
        # Enough chunks that k passages remain once neighbours are merged.
        wanted = k * (2 * self.window + 1)
        if search_type == "mmr":
            scored = self._mmr_search(query, wanted, where, options)
        else:
            threshold = options.pop("score_threshold", None)
            query_vector = self._embed_query(query)
            scored = self._similarity_search(query_vector, wanted, where, options)
            if search_type == "similarity_score_threshold":
                scored = [(doc, score) for doc, score in scored if score >= float(threshold)]
            if self.neighbour_weight:
                scored = self._rank_with_neighbours(query_vector, scored)
        return self._passages(scored, k)

    def _embed_query(self, query: str) -> list[float]:
        embeddings = self.index.vectorstore.embeddings
        if embeddings is None:  # pragma: no cover - VideoIndex always sets one
            raise VideoIndexError("The index has no embedding model, so it cannot search.")
        return embeddings.embed_query(query)

    def _rank_with_neighbours(
        self, query_vector: list[float], scored: list[tuple[Document, float]]
    ) -> list[tuple[Document, float]]:
        """*scored* re-ordered by each chunk's score blended with its better neighbour's."""
        import numpy as np

        own: dict[str, float] = {}
        for document, score in scored:
            key = chunk_key(document.metadata)
            if key is not None:
                own[chunk_id(*key)] = score
        wanted: set[str] = set()
        for document, _ in scored:
            key = chunk_key(document.metadata)
            if key is not None:
                video_id, fingerprint, index = key
                wanted.update(chunk_id(video_id, fingerprint, i) for i in (index - 1, index + 1))
        missing = sorted(wanted - own.keys())
        if missing:  # neighbours the search did not return: score their stored vectors
            got = self.index.vectorstore.get(ids=missing, include=["embeddings"])
            if len(got["ids"]):
                vectors = np.asarray(got["embeddings"], dtype=np.float32)
                query = np.asarray(query_vector, dtype=np.float32)
                scores = _similarities(query, vectors, self.index.preset.chroma_space)
                own.update(zip(got["ids"], (float(x) for x in scores), strict=True))
        weight = self.neighbour_weight

        def rank(document: Document, score: float) -> float:
            key = chunk_key(document.metadata)
            if key is None:
                return score
            video_id, fingerprint, index = key
            around = [own.get(chunk_id(video_id, fingerprint, i)) for i in (index - 1, index + 1)]
            best = max((s for s in around if s is not None), default=score)
            return (1 - weight) * score + weight * best

        ranked = [(document, rank(document, score)) for document, score in scored]
        return sorted(ranked, key=lambda pair: pair[1], reverse=True)

    def _passages(self, scored: list[tuple[Document, float]], k: int) -> list[Document]:
        """The first *k* matches, each widened by its neighbours; overlapping ones merged."""
        chosen: list[tuple[Document, float, list[str]]] = []
        covered: set[tuple[str, str, int]] = set()
        for document, score in scored:
            key = chunk_key(document.metadata)
            if key is None:  # not a ytqa chunk: returned as it is
                chosen.append((document, score, []))
            elif key not in covered:
                video_id, fingerprint, index = key
                span = range(max(0, index - self.window), index + self.window + 1)
                covered.update((video_id, fingerprint, i) for i in span)
                chosen.append((document, score, [chunk_id(video_id, fingerprint, i) for i in span]))
            if len(chosen) == k:
                break
        ids = sorted({i for _, _, window in chosen for i in window})
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        if ids and self.window:
            got = self.index.vectorstore.get(ids=ids, include=["documents", "metadatas"])
            found = {
                i: (text or "", dict(meta or {}))
                for i, text, meta in zip(
                    got["ids"], got["documents"], got["metadatas"], strict=True
                )
            }
        return [
            self._passage(document, score, [found[i] for i in window if i in found])
            for document, score, window in chosen
        ]

    def _passage(
        self, match: Document, score: float, neighbours: list[tuple[str, dict[str, Any]]]
    ) -> Document:
        metadata = {**match.metadata, "score": float(score)}
        text = match.page_content
        if isinstance(match.metadata.get("start"), (int, float)):
            metadata[PART_STARTS] = [[0, float(match.metadata["start"])]]
        if len(neighbours) > 1:
            text, offsets = _join_texts([neighbour_text for neighbour_text, _ in neighbours])
            # Where each chunk begins, so that prompts mark every line with its moment.
            metadata[PART_STARTS] = [
                [offset, float(meta["start"])]
                for offset, (_, meta) in zip(offsets, neighbours, strict=True)
                if offset is not None
            ]
            # The words that matched, for displays too small for the whole passage.
            metadata["matched_text"] = match.page_content
            metadata["start"] = min(float(meta["start"]) for _, meta in neighbours)
            metadata["end"] = max(float(meta["end"]) for _, meta in neighbours)
        start = match.metadata.get("start")
        if isinstance(start, (int, float)):
            cited = max(float(metadata["start"]), float(start) - self.cite_lead)
            metadata["cited_start"] = round(cited, 3)
        return Document(page_content=text, metadata=metadata, id=match.id)

    def _similarity_search(
        self, query_vector: list[float], k: int, where: dict[str, Any] | None,
        options: dict[str, Any],
    ) -> list[tuple[Document, float]]:
        pairs = self.index.vectorstore.similarity_search_by_vector_with_relevance_scores(
            query_vector, k=k, filter=where, **options
        )
        space = self.index.preset.chroma_space
        # Chroma returns distances: cosine and ip distances are 1 - similarity.
        return [(doc, -distance if space == "l2" else 1.0 - distance) for doc, distance in pairs]

    def _mmr_search(
        self, query: str, k: int, where: dict[str, Any] | None, options: dict[str, Any]
    ) -> list[tuple[Document, float]]:
        import numpy as np
        from langchain_core.vectorstores.utils import maximal_marginal_relevance

        fetch_k = int(options.pop("fetch_k", max(20, k)))
        lambda_mult = float(options.pop("lambda_mult", 0.5))
        store = self.index.vectorstore
        embeddings = store.embeddings
        if embeddings is None:  # pragma: no cover - VideoIndex always sets one
            raise VideoIndexError("The index has no embedding model, so it cannot run MMR.")
        query_vector = np.asarray(embeddings.embed_query(query), dtype=np.float32)
        candidates = store.similarity_search_with_vectors(
            query, k=max(fetch_k, k), filter=where, **options
        )
        if not candidates:
            return []
        vectors = np.asarray([vector for _, vector in candidates], dtype=np.float32)
        chosen = maximal_marginal_relevance(
            query_vector, vectors.tolist(), k=k, lambda_mult=lambda_mult
        )
        scores = _similarities(query_vector, vectors, self.index.preset.chroma_space)
        return [(candidates[i][0], float(scores[i])) for i in chosen]


def _similarities(query: Any, vectors: Any, space: str) -> Any:
    """Scores on the same scale as :meth:`VideoRetriever._similarity_search`."""
    import numpy as np

    if space == "ip":
        return vectors @ query
    if space == "l2":
        return -np.sum((vectors - query) ** 2, axis=1)
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
    return (vectors @ query) / np.where(norms == 0, 1.0, norms)


def _with_citation(document: Document) -> Document:
    """Add ``timestamp`` (the cited moment; ``title`` where unknown) for prompts and lists."""
    metadata = dict(document.metadata)
    cited = metadata.get("cited_start", metadata.get("start"))
    metadata["timestamp"] = format_timestamp(float(cited or 0.0))
    if not metadata.get("title"):
        metadata["title"] = str(metadata.get("video_id") or "untitled video")
    return Document(page_content=document.page_content, metadata=metadata, id=document.id)


def _join_texts(texts: list[str]) -> tuple[str, list[int | None]]:
    """Join consecutive chunk texts, dropping the words a chunk repeats from the one before;
    also return where each text's first new word lands (None: it added none)."""
    words: list[str] = []
    firsts: list[int | None] = []
    for text in texts:
        new = text.split()
        # Chunks may overlap by whole cues: find the longest repeated run (bounded).
        repeated = next(
            (
                size
                for size in range(min(len(words), len(new), 200), 0, -1)
                if words[-size:] == new[:size]
            ),
            0,
        )
        firsts.append(len(words) if new[repeated:] else None)
        words.extend(new[repeated:])
    offsets = list(itertools.accumulate((len(word) + 1 for word in words), initial=0))
    return " ".join(words), [None if f is None else offsets[f] for f in firsts]


def _check_window(window: Any, cite_lead: Any) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ChainConfigurationError(
            f"window must be a whole number of neighbouring chunks, 0 or more; got {window!r}."
        )
    if isinstance(cite_lead, bool) or not isinstance(cite_lead, (int, float)) or cite_lead < 0:
        raise ChainConfigurationError(
            f"cite_lead must be a number of seconds, 0 or more; got {cite_lead!r}."
        )


def _check_neighbour_weight(weight: Any) -> None:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < 1:
        raise ChainConfigurationError(
            f"neighbour_weight must be a number from 0 (each chunk's own score) up to, "
            f"not including, 1; got {weight!r}."
        )


def _merge_filters(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """One Chroma ``where`` that requires every non-empty filter."""
    present = [f for f in filters if f]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ChainConfigurationError(f"k must be a whole number of chunks, 1 or more; got {k!r}.")


def _check_search(search_type: Any, search_kwargs: dict[str, Any]) -> None:
    if search_type not in SEARCH_TYPES:
        raise ChainConfigurationError(
            f"Unknown search_type {search_type!r}: use one of {', '.join(SEARCH_TYPES)}."
        )
    if search_type == "similarity_score_threshold":
        threshold = search_kwargs.get("score_threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise ChainConfigurationError(
                "search_type='similarity_score_threshold' needs a number in "
                "search_kwargs={'score_threshold': ...}: the lowest score kept "
                "(cosine similarity, -1 to 1)."
            )
    if search_type == "mmr":
        lambda_mult = search_kwargs.get("lambda_mult", 0.5)
        if not isinstance(lambda_mult, (int, float)) or not 0 <= lambda_mult <= 1:
            raise ChainConfigurationError(
                f"lambda_mult must be between 0 (most diverse) and 1 (most similar); "
                f"got {lambda_mult!r}."
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


def _resolve_video_ids(
    index: VideoIndex, video_ids: Iterable[str] | None, scope: list[str] | None
) -> list[str] | None:
    """The videos a retriever searches: *video_ids* (each indexed, and one of *scope*,
    the videos of ``videos=``, when given), else *scope*, else all (None)."""
    if video_ids is None:
        return scope
    if isinstance(video_ids, str):
        video_ids = [video_ids]
    resolved = []
    for given in video_ids:
        video_id = given if index.has_video(given) else parse_video_id(given)
        if scope is not None and video_id not in scope:
            raise ChainConfigurationError(
                f"video_ids= names {video_id}, which is not one of the videos= given "
                f"({', '.join(scope)}): video_ids= only narrows videos=. Add it to videos=, "
                "or leave videos= out to choose among every indexed video."
            )
        if not index.has_video(video_id):
            raise VideoIndexError(
                f"Video {video_id} is not in the index, so video_ids= cannot select it. "
                "Index it first: pass it in videos=, or add it with ytqa.ingest.ingest()."
            )
        resolved.append(video_id)
    return resolved


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
    neighbour_weight: float = DEFAULT_NEIGHBOUR_WEIGHT,
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
            direct neighbour (0: each chunk's own score); see
            :attr:`VideoRetriever.neighbour_weight`.
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
    )
    scope = None
    if videos is not None:
        scope = ingest_or_raise(opened, videos, options)
    else:
        # Swapping presets is one argument: embed what other presets hold (cache, no HTTP).
        opened.sync()
        if opened.count() == 0:
            raise VideoIndexError(
                "The index holds no videos yet, so there is nothing to search. Pass "
                "videos=[...] (URLs, IDs or transcript files), or index some first "
                "(ytqa.ingest.ingest())."
            )
    retriever.video_ids = _resolve_video_ids(opened, video_ids, scope)
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


def source_label(document: Document) -> tuple[str, str | None]:
    """``("[mm:ss] title", url)`` of one source: the cited moment (the retriever's
    ``timestamp``, else the start), its title (else its video ID), the link that
    opens there (None when it has none)."""
    metadata = document.metadata
    timestamp = metadata.get("timestamp") or format_timestamp(float(metadata.get("start") or 0))
    title = metadata.get("title") or metadata.get("video_id") or "untitled video"
    url = metadata.get("url") or metadata.get("source")
    return f"[{timestamp}] {title}", str(url) if url else None
