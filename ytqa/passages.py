"""How ytqa finds passages: the search behind :class:`~ytqa.retrieval.VideoRetriever`
and ``ytqa search``, without LangChain's retriever machinery.

>>> from ytqa.index import VideoIndex
>>> from ytqa.passages import retrieve_passages, searchable_videos
>>> index = VideoIndex()                                            # doctest: +SKIP
>>> videos = searchable_videos(index, ["talk.srt"])                 # doctest: +SKIP
>>> retrieve_passages(index, "Why does the lens distort?", video_ids=videos)  # doctest: +SKIP

A search embeds the question, asks the index's Chroma collection for the best
chunks (hiding videos being added), ranks each chunk with its better-matching
neighbour (:data:`MODEL_NEIGHBOUR_WEIGHTS`), widens the best ones by
:data:`DEFAULT_WINDOW` neighbours on each side, and cites each a little before
the matching chunk (:data:`DEFAULT_CITE_LEAD`). With ``rerank=`` a second, larger
embedding model re-scores the :data:`RERANK_DEPTH` best matches and their
neighbours at query time (:func:`find_passages`). It checks that every chunk
found belongs to the ready version of its video and searches again without any
video that does not (a writer in another process may race with it).

This module loads only what a search needs (chromadb, numpy, the question's
embedding): ``ytqa search`` starts in about a second because LangChain's
retriever and tracing (``langchain_core.retrievers``, langsmith) are not
imported. The retriever in :mod:`ytqa.retrieval` is a thin LangChain layer
over these functions.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document

from ytqa.citations import PART_STARTS
from ytqa.errors import ChainConfigurationError, VideoIndexError
from ytqa.index import chunk_id, chunk_key
from ytqa.video import format_timestamp, parse_video_id

if TYPE_CHECKING:  # pragma: no cover
    from ytqa.embeddings import EmbeddingPreset
    from ytqa.index import VideoIndex
    from ytqa.ingest import FetchOptions, Source

__all__ = [
    "DEFAULT_CITE_LEAD",
    "DEFAULT_NEIGHBOUR_WEIGHT",
    "DEFAULT_WINDOW",
    "MODEL_NEIGHBOUR_WEIGHTS",
    "RERANK_DEPTH",
    "RERANK_SHARE",
    "SEARCH_TYPES",
    "check_options",
    "find_passages",
    "neighbour_weight_for",
    "retrieve_passages",
    "searchable_videos",
    "source_label",
]

SEARCH_TYPES = ("similarity", "mmr", "similarity_score_threshold")

DEFAULT_WINDOW = 5
"""Neighbouring chunks returned on each side of a matching chunk (see docs/evaluation.md)."""

DEFAULT_CITE_LEAD = 3.0
"""Seconds before the matching chunk that a result's link opens at."""

DEFAULT_NEIGHBOUR_WEIGHT = 0.35
"""Share of a chunk's rank score taken from its better-matching direct neighbour
(see :attr:`ytqa.retrieval.VideoRetriever.neighbour_weight` and docs/evaluation.md),
for models without a measured weight of their own (:data:`MODEL_NEIGHBOUR_WEIGHTS`)."""

MODEL_NEIGHBOUR_WEIGHTS: dict[str, float] = {"all-MiniLM-L6-v2": 0.35, "all-mpnet-base-v2": 0.2}
"""The neighbour weight measured best for each embedding model (by its base name) on
both dev sets, uploaded and auto-captions, short and long videos (docs/evaluation.md)."""

RERANK_DEPTH = 20
"""Best matches that ``rerank=`` re-scores (with their direct neighbours: up to three
times as many short texts embedded per question)."""

RERANK_SHARE = 0.7
"""Share of a re-scored chunk's similarity taken from the re-ranking model; the rest is
the index model's (docs/evaluation.md: measured with MiniLM re-ranked by MPNet)."""

_SEARCH_ROUNDS = 3
"""Searches made for one question while chunks of replaced videos turn up."""


def check_options(
    *,
    k: Any = 4,
    search_type: Any = "similarity",
    search_kwargs: dict[str, Any] | None = None,
    window: Any = DEFAULT_WINDOW,
    cite_lead: Any = DEFAULT_CITE_LEAD,
    neighbour_weight: Any = None,
    rerank: Any = None,
    index_preset: EmbeddingPreset | None = None,
) -> None:
    """Raise ``ChainConfigurationError`` (saying what to pass) for a bad search option.

    *rerank* is checked against *index_preset* (the index's model) when it is given.
    Raises ``EmbeddingModelError`` for a *rerank* that names no model.
    """
    _check_k(k)
    _check_search(search_type, dict(search_kwargs or {}))
    if isinstance(window, bool) or not isinstance(window, int) or window < 0:
        raise ChainConfigurationError(
            f"window must be a whole number of neighbouring chunks, 0 or more; got {window!r}."
        )
    if isinstance(cite_lead, bool) or not isinstance(cite_lead, (int, float)) or cite_lead < 0:
        raise ChainConfigurationError(
            f"cite_lead must be a number of seconds, 0 or more; got {cite_lead!r}."
        )
    weight = neighbour_weight
    if weight is not None and (
        isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < 1
    ):
        raise ChainConfigurationError(
            f"neighbour_weight must be a number from 0 (each chunk's own score) up to, "
            f"not including, 1, or None (the model's own); got {weight!r}."
        )
    if rerank is not None:
        _check_rerank(rerank, search_type, index_preset)


def retrieve_passages(
    index: VideoIndex,
    query: str,
    *,
    k: int = 4,
    video_ids: Iterable[str] | str | None = None,
    search_type: str = "similarity",
    search_kwargs: dict[str, Any] | None = None,
    window: int = DEFAULT_WINDOW,
    cite_lead: float = DEFAULT_CITE_LEAD,
    neighbour_weight: float | None = None,
    rerank: str | EmbeddingPreset | None = None,
    search: Callable[..., list[Document]] | None = None,
) -> list[Document]:
    """The *k* best passages of the complete videos (only *video_ids*, when given)
    for *query*, best first, each with ``score``, ``timestamp`` and a link.

    *search_kwargs* as :class:`~ytqa.retrieval.VideoRetriever` takes them
    (``filter``, ``fetch_k``, ``lambda_mult``, ``score_threshold``,
    ``where_document``). *search*, called as ``search(query, *, k, search_type,
    where, search_kwargs)``, replaces :func:`find_passages` (with *window*,
    *cite_lead* and *neighbour_weight*) as the one call that searches
    (``VideoRetriever.search`` is one). *rerank*: see :func:`find_passages`.
    """
    options = dict(search_kwargs or {})
    user_filter = options.pop("filter", None)
    check_options(k=k, search_type=search_type, search_kwargs=options)
    if isinstance(video_ids, str):
        video_ids = [video_ids]
    wanted = None if video_ids is None else list(video_ids)
    if search is None:
        check_options(
            search_type=search_type, window=window, cite_lead=cite_lead,
            neighbour_weight=neighbour_weight, rerank=rerank, index_preset=index.preset,
        )
    run = search or functools.partial(
        find_passages, index, window=window, cite_lead=cite_lead,
        neighbour_weight=neighbour_weight, rerank=rerank,
    )
    excluded: set[str] = set()

    def search_once() -> list[Document]:
        # The filter is made (and an index another process wrote to reopened) afresh.
        where = _merge_filters(index.where(wanted, exclude=excluded), user_filter)
        return run(query, k=k, search_type=search_type, where=where, search_kwargs=dict(options))

    for _ in range(_SEARCH_ROUNDS):
        documents = index.searching(search_once)
        documents, incomplete = index.resolve_documents(documents)
        if not incomplete:
            break
        excluded |= incomplete
    else:
        documents = [d for d in documents if d.metadata.get("video_id") not in excluded]
    return [_with_citation(document) for document in documents]


def find_passages(
    index: VideoIndex,
    query: str,
    *,
    k: int,
    search_type: str = "similarity",
    where: dict[str, Any] | None = None,
    search_kwargs: dict[str, Any] | None = None,
    window: int = DEFAULT_WINDOW,
    cite_lead: float = DEFAULT_CITE_LEAD,
    neighbour_weight: float | None = None,
    rerank: str | EmbeddingPreset | None = None,
) -> list[Document]:
    """Search *index* once: the *k* best passages for *query*, best first.

    *where* is the Chroma filter to honour (:func:`retrieve_passages` makes it:
    pending videos hidden, ``video_ids`` applied). Each passage is a matching
    chunk with *window* neighbours on each side, ``score`` in its metadata; its
    ``cited_start`` is where the matching chunk starts, less *cite_lead*.
    *neighbour_weight* None: the index's model's own (:func:`neighbour_weight_for`).

    *rerank* (an embedding preset, larger than the index's model) re-scores the
    :data:`RERANK_DEPTH` best matches: each chunk's similarity becomes
    ``(1 - RERANK_SHARE) * index model's + RERANK_SHARE * rerank model's`` (the
    matches' neighbours are embedded too) and the matches are ranked again by that,
    blended with the better neighbour's by the rerank model's weight. It costs a
    call of the rerank model per question (at most 60 short texts: a median of
    1.3 s for MPNet on two CPU cores, docs/evaluation.md); the index stores
    nothing more.
    """
    options = dict(search_kwargs or {})
    if rerank is not None:  # also for a search type changed per call
        _check_rerank(rerank, search_type, index.preset)
    weight = neighbour_weight_for(index.preset) if neighbour_weight is None else neighbour_weight
    # Enough chunks that k passages remain once neighbours are merged (and, to re-rank,
    # the RERANK_DEPTH best whatever k and window are).
    wanted = max(k * (2 * window + 1), RERANK_DEPTH if rerank is not None else 0)
    if search_type == "mmr":
        scored = _mmr_search(index, query, wanted, where, options)
    else:
        threshold = options.pop("score_threshold", None)
        query_vector = index.embed_query(query)
        scored = _similarity_search(index, query_vector, wanted, where, options)
        if search_type == "similarity_score_threshold":
            scored = [(doc, score) for doc, score in scored if score >= float(threshold)]
        if weight or rerank is not None:
            own = _own_scores(index, query_vector, scored)
            scored = _blended(scored, own, weight)
            if rerank is not None:
                from ytqa.embeddings import resolve_preset

                scored = _reranked(index, query, scored, own, resolve_preset(rerank))
    return _passages(index, scored, k, window, cite_lead)


def neighbour_weight_for(preset: EmbeddingPreset) -> float:
    """The neighbour weight a search over *preset*'s vectors uses unless told otherwise."""
    return MODEL_NEIGHBOUR_WEIGHTS.get(preset.base_name, DEFAULT_NEIGHBOUR_WEIGHT)


def searchable_videos(
    index: VideoIndex,
    videos: Sequence[Source] | Source | None = None,
    *,
    video_ids: Iterable[str] | str | None = None,
    fetch: FetchOptions | None = None,
) -> list[str] | None:
    """The videos a search covers, after indexing what it needs.

    With *videos*, those not indexed yet are indexed (fetched as *fetch* says) and
    all their IDs returned; without, the videos other presets' indexes hold are
    embedded from the transcript cache (:meth:`VideoIndex.sync`) and None (every
    video) returned. *video_ids* narrows either to the videos it names (IDs or URLs).

    Raises:
        VideoIndexError: the index is empty, or a *video_ids* entry is not indexed.
        ChainConfigurationError: *videos* is empty, or a *video_ids* entry is not
            one of *videos*.
        YtqaError: a video could not be indexed (see :func:`ytqa.ingest.ingest_or_raise`).
    """
    from ytqa.ingest import FetchOptions, ingest_or_raise

    scope = None
    if videos is not None:
        scope = ingest_or_raise(index, videos, fetch or FetchOptions())
    else:
        # Swapping presets is one argument: embed what other presets hold (cache, no HTTP).
        index.sync()
        if index.count() == 0:
            raise VideoIndexError(
                "The index holds no videos yet, so there is nothing to search. Pass "
                "videos=[...] (URLs, IDs or transcript files), or index some first "
                "(ytqa.ingest.ingest())."
            )
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


def source_label(document: Document) -> tuple[str, str | None]:
    """``("[mm:ss] title", url)`` of one source: the cited moment (the retriever's
    ``timestamp``, else the start), its title (else its video ID), the link that
    opens there (None when it has none)."""
    metadata = document.metadata
    timestamp = metadata.get("timestamp") or format_timestamp(float(metadata.get("start") or 0))
    title = metadata.get("title") or metadata.get("video_id") or "untitled video"
    url = metadata.get("url") or metadata.get("source")
    return f"[{timestamp}] {title}", str(url) if url else None


# -- one search ------------------------------------------------------------------


def _similarity_search(
    index: VideoIndex, query_vector: list[float], k: int, where: dict[str, Any] | None,
    options: dict[str, Any],
) -> list[tuple[Document, float]]:
    found = index.collection.query(
        query_embeddings=[query_vector], n_results=k, where=where,
        include=["documents", "metadatas", "distances"], **options,
    )
    space = index.preset.chroma_space
    # Chroma returns distances: cosine and ip distances are 1 - similarity.
    return [
        (_document(i, text, meta), -distance if space == "l2" else 1.0 - distance)
        for i, text, meta, distance in zip(
            found["ids"][0], found["documents"][0], found["metadatas"][0],
            found["distances"][0], strict=True,
        )
    ]


def _mmr_search(
    index: VideoIndex, query: str, k: int, where: dict[str, Any] | None,
    options: dict[str, Any],
) -> list[tuple[Document, float]]:
    import numpy as np
    from langchain_core.vectorstores.utils import maximal_marginal_relevance

    fetch_k = int(options.pop("fetch_k", max(20, k)))
    lambda_mult = float(options.pop("lambda_mult", 0.5))
    query_vector = np.asarray(index.embed_query(query), dtype=np.float32)
    found = index.collection.query(
        query_embeddings=[query_vector.tolist()], n_results=max(fetch_k, k), where=where,
        include=["documents", "metadatas", "embeddings"], **options,
    )
    if not len(found["ids"][0]):
        return []
    vectors = np.asarray(found["embeddings"][0], dtype=np.float32)
    chosen = maximal_marginal_relevance(
        query_vector, vectors.tolist(), k=k, lambda_mult=lambda_mult
    )
    scores = _similarities(query_vector, vectors, index.preset.chroma_space)
    return [
        (_document(found["ids"][0][i], found["documents"][0][i], found["metadatas"][0][i]),
         float(scores[i]))
        for i in chosen
    ]


def _document(chunk: str, text: str | None, metadata: Any) -> Document:
    return Document(page_content=text or "", metadata=dict(metadata or {}), id=chunk)


def _neighbour_ids(document: Document) -> list[str]:
    """Chunk IDs of the chunks just before and after *document* (none: not a ytqa chunk)."""
    key = chunk_key(document.metadata)
    if key is None:
        return []
    video_id, fingerprint, position = key
    return [chunk_id(video_id, fingerprint, i) for i in (position - 1, position + 1)]


def _own_scores(
    index: VideoIndex, query_vector: list[float], scored: list[tuple[Document, float]],
) -> dict[str, float]:
    """Similarity of each chunk of *scored* and of its direct neighbours, by chunk ID
    (the neighbours the search did not return are scored from their stored vectors)."""
    import numpy as np

    own = {document.id: score for document, score in scored if document.id is not None}
    wanted = {i for document, _ in scored for i in _neighbour_ids(document)}
    missing = sorted(wanted - own.keys())
    if missing:
        got = index.collection.get(ids=missing, include=["embeddings"])
        if len(got["ids"]):
            vectors = np.asarray(got["embeddings"], dtype=np.float32)
            query = np.asarray(query_vector, dtype=np.float32)
            scores = _similarities(query, vectors, index.preset.chroma_space)
            own.update(zip(got["ids"], (float(x) for x in scores), strict=True))
    return own


def _blended(
    scored: list[tuple[Document, float]], scores: dict[str, float], weight: float,
) -> list[tuple[Document, float]]:
    """*scored* ranked by ``(1 - weight) * score + weight * better neighbour's score``,
    with each chunk's score (and its neighbours') from *scores* where it has one."""

    def rank(document: Document, score: float) -> float:
        own = scores.get(document.id, score) if document.id is not None else score
        around = [scores[i] for i in _neighbour_ids(document) if i in scores]
        return (1 - weight) * own + weight * max(around, default=own)

    ranked = [(document, rank(document, score)) for document, score in scored]
    return sorted(ranked, key=lambda pair: pair[1], reverse=True)


def _reranked(
    index: VideoIndex, query: str, ranked: list[tuple[Document, float]],
    own: dict[str, float], preset: EmbeddingPreset,
) -> list[tuple[Document, float]]:
    """The :data:`RERANK_DEPTH` best of *ranked* ranked again with *preset*'s similarities
    fused in (see :func:`find_passages`); the others follow, as they were."""
    import numpy as np

    from ytqa.embeddings import get_embeddings

    top, rest = ranked[:RERANK_DEPTH], ranked[RERANK_DEPTH:]
    texts = {d.id: d.page_content for d, _ in top if d.id is not None}
    missing = sorted({i for d, _ in top for i in _neighbour_ids(d)} - texts.keys())
    if missing:
        got = index.collection.get(ids=missing, include=["documents"])
        texts.update((i, text or "") for i, text in zip(got["ids"], got["documents"], strict=True))
    if not texts:
        return ranked
    model = get_embeddings(preset)
    ids = list(texts)
    vectors = np.asarray(model.embed_documents([texts[i] for i in ids]), dtype=np.float32)
    query_vector = np.asarray(model.embed_query(query), dtype=np.float32)
    second = _similarities(query_vector, vectors, preset.chroma_space)
    fused = {
        i: (1 - RERANK_SHARE) * own.get(i, 0.0) + RERANK_SHARE * float(score)
        for i, score in zip(ids, second, strict=True)
    }
    return _blended(top, fused, neighbour_weight_for(preset)) + rest


def _passages(
    index: VideoIndex, scored: list[tuple[Document, float]], k: int, window: int,
    cite_lead: float,
) -> list[Document]:
    """The first *k* matches, each widened by its neighbours; overlapping ones merged."""
    chosen: list[tuple[Document, float, list[str]]] = []
    covered: set[tuple[str, str, int]] = set()
    for document, score in scored:
        key = chunk_key(document.metadata)
        if key is None:  # not a ytqa chunk: returned as it is
            chosen.append((document, score, []))
        elif key not in covered:
            video_id, fingerprint, position = key
            span = range(max(0, position - window), position + window + 1)
            covered.update((video_id, fingerprint, i) for i in span)
            chosen.append((document, score, [chunk_id(video_id, fingerprint, i) for i in span]))
        if len(chosen) == k:
            break
    ids = sorted({i for _, _, span_ids in chosen for i in span_ids})
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    if ids and window:
        got = index.collection.get(ids=ids, include=["documents", "metadatas"])
        found = {
            i: (text or "", dict(meta or {}))
            for i, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True)
        }
    return [
        _passage(document, score, [found[i] for i in span_ids if i in found], cite_lead)
        for document, score, span_ids in chosen
    ]


def _passage(
    match: Document, score: float, neighbours: list[tuple[str, dict[str, Any]]],
    cite_lead: float,
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
        cited = max(float(metadata["start"]), float(start) - cite_lead)
        metadata["cited_start"] = round(cited, 3)
    return Document(page_content=text, metadata=metadata, id=match.id)


def _similarities(query: Any, vectors: Any, space: str) -> Any:
    """Scores on the same scale as :func:`_similarity_search`."""
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


def _merge_filters(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """One Chroma ``where`` that requires every non-empty filter."""
    present = [f for f in filters if f]
    if not present:
        return None
    return present[0] if len(present) == 1 else {"$and": present}


_SPACE_WORDS = {"ip": "dot product", "l2": "Euclidean distance"}


def _check_rerank(
    rerank: Any, search_type: Any, index_preset: EmbeddingPreset | None
) -> None:
    from ytqa.embeddings import EmbeddingPreset, resolve_preset
    from ytqa.errors import EmbeddingModelError

    if not isinstance(rerank, (str, EmbeddingPreset)):
        raise ChainConfigurationError(
            f"rerank must name an embedding preset (such as 'mpnet') or be None; got {rerank!r}."
        )
    try:
        preset = resolve_preset(rerank)
    except EmbeddingModelError as exc:  # its message names the argument: this one
        raise EmbeddingModelError(
            str(exc).replace(f"model={rerank!r}", f"rerank={rerank!r}", 1)
        ) from exc
    if search_type == "mmr":
        raise ChainConfigurationError(
            "rerank= re-orders the best matches of a similarity search; search_type='mmr' "
            "chooses its results for diversity. Use one or the other."
        )
    for checked, role in ((preset, "re-ranking model"), (index_preset, "index's model")):
        if checked is not None and checked.chroma_space != "cosine":
            raise ChainConfigurationError(
                f"rerank= fuses cosine similarities, and {checked.key!r} (the {role}) "
                f"scores by {_SPACE_WORDS.get(checked.chroma_space, checked.chroma_space)}. "
                "Re-rank a cosine index (minilm, mpnet) with a cosine model such as 'mpnet'."
            )
    if index_preset is not None and preset.key == index_preset.key:
        raise ChainConfigurationError(
            f"rerank={preset.key!r} is the index's own model: it would score the same chunks "
            "the same way. Re-rank with a larger model (minilm indexes: 'mpnet'), or leave "
            "rerank= out."
        )


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
