"""build_retriever / VideoRetriever: a standard LangChain retriever over the video index."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from tests.test_chain import BEES, LONG_TALK, TRANSCRIPTS, WORMHOLES
from ytqa import (
    ChainConfigurationError,
    EmbeddingModelError,
    VideoIndexError,
    build_retriever,
    get_embeddings,
)
from ytqa.embeddings import EmbeddingPreset, resolve_preset
from ytqa.evaluation import is_landing, load_qa
from ytqa.index import VideoIndex, chunk_id, chunk_key
from ytqa.passages import DEFAULT_NEIGHBOUR_WEIGHT, RERANK_SHARE, neighbour_weight_for
from ytqa.retrieval import VideoRetriever
from ytqa.transcripts import read_transcript_file


@pytest.fixture(scope="module")
def index(minilm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoIndex]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_HOME", str(tmp_path_factory.mktemp("retriever-home")))
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        video_index = VideoIndex("minilm", in_memory=True, collection_name="retriever_tests")
        for transcript in TRANSCRIPTS:
            video_index.add(transcript)
        yield video_index


# pytest-asyncio runs in strict mode here; the standard suite's one async test
# needs its marker (auto mode would add it by itself).
pytest.mark.asyncio(RetrieversIntegrationTests.test_ainvoke_returns_documents)


class TestVideoRetrieverStandard(RetrieversIntegrationTests):
    """LangChain's own retriever contract, against build_retriever on a real index."""

    @pytest.fixture(autouse=True)
    def _index(self, index: VideoIndex) -> None:
        self.video_index = index

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        # build_retriever is what users call; it returns a VideoRetriever.
        return build_retriever  # type: ignore[return-value]

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"index": self.video_index}

    @property
    def retriever_query_example(self) -> str:
        return "Why do honeybee colonies collapse?"


def test_k_in_constructor_and_per_call(index: VideoIndex) -> None:
    retriever = build_retriever(index=index, k=3)
    assert isinstance(retriever, VideoRetriever)
    assert len(retriever.invoke("bees")) == 3
    assert len(retriever.invoke("bees", k=1)) == 1
    assert len(asyncio.run(retriever.ainvoke("bees", k=2))) == 2
    assert len(retriever.invoke("bees")) == 3  # per-call k does not stick


def test_scores_are_similarities_best_first(index: VideoIndex) -> None:
    docs = build_retriever(index=index, k=5).invoke("Varroa mites spread viruses among bees")
    scores = [doc.metadata["score"] for doc in docs]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= score <= 1.0 for score in scores)
    assert docs[0].metadata["video_id"] == BEES
    assert scores[0] > 0.5 > scores[-1]


def test_score_threshold_keeps_only_close_chunks(index: VideoIndex) -> None:
    every = build_retriever(index=index, k=10).invoke("wormhole exotic matter")
    cut = (every[0].metadata["score"] + every[-1].metadata["score"]) / 2
    kept = build_retriever(
        index=index,
        k=10,
        search_type="similarity_score_threshold",
        search_kwargs={"score_threshold": cut},
    ).invoke("wormhole exotic matter")
    assert 0 < len(kept) < len(every)
    assert all(doc.metadata["score"] >= cut for doc in kept)


def test_mmr_returns_k_diverse_scored_chunks(index: VideoIndex) -> None:
    retriever = build_retriever(
        index=index, k=3, search_type="mmr", search_kwargs={"fetch_k": 10, "lambda_mult": 0.2}
    )
    docs = retriever.invoke("wormhole")
    assert len(docs) == 3
    assert len({(d.metadata["video_id"], d.metadata["chunk_index"]) for d in docs}) == 3
    assert docs[0].metadata["video_id"] == WORMHOLES
    similar = build_retriever(index=index, k=3, neighbour_weight=0).invoke("wormhole")
    # MMR's first pick is the most similar chunk, with the same score (no neighbour blend).
    assert docs[0].page_content == similar[0].page_content
    assert docs[0].metadata["score"] == pytest.approx(similar[0].metadata["score"], abs=1e-4)


def test_video_ids_per_call_and_metadata_filter(index: VideoIndex) -> None:
    retriever = build_retriever(index=index, k=4)
    only_talk = retriever.invoke("bees", video_ids=[LONG_TALK])
    assert only_talk and {d.metadata["video_id"] for d in only_talk} == {LONG_TALK}
    filtered = retriever.invoke("bees", filter={"video_id": WORMHOLES})
    assert filtered and {d.metadata["video_id"] for d in filtered} == {WORMHOLES}
    # A filter and video_ids together must both hold.
    assert retriever.invoke("bees", video_ids=[BEES], filter={"video_id": WORMHOLES}) == []


def test_empty_index_without_videos_is_an_error(minilm: Path) -> None:
    empty = VideoIndex("minilm", in_memory=True, collection_name="retriever_empty")
    with pytest.raises(VideoIndexError, match="holds no videos"):
        build_retriever(index=empty)


def test_videos_are_indexed_first(minilm: Path) -> None:
    fresh = VideoIndex("minilm", in_memory=True, collection_name="retriever_fresh")
    retriever = build_retriever([TRANSCRIPTS[1]], index=fresh, k=1)
    assert fresh.has_video(WORMHOLES)
    assert retriever.invoke("wormhole")[0].metadata["video_id"] == WORMHOLES


def _own_scores(index: VideoIndex, question: str, ids: list[str]) -> dict[str, float]:
    """Cosine similarity of *question* to each stored chunk of *ids* (MiniLM's vectors)."""
    import numpy as np

    query = np.asarray(index.embeddings.embed_query(question), dtype=np.float64)
    got = index.vectorstore.get(ids=ids, include=["embeddings"])
    vectors = np.asarray(got["embeddings"], dtype=np.float64)
    scores = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    return dict(zip(got["ids"], (float(s) for s in scores), strict=True))


def test_matches_are_ranked_with_their_better_neighbour(index: VideoIndex) -> None:
    question = "Why are honeybee colonies collapsing?"
    weight = 0.35
    docs = build_retriever(index=index, k=5, window=0, neighbour_weight=weight).invoke(question)
    keys = [chunk_key(doc.metadata) for doc in docs]
    assert all(key is not None for key in keys)
    ids = sorted({
        chunk_id(video_id, fingerprint, i)
        for video_id, fingerprint, position in keys  # type: ignore[misc]
        for i in (position - 1, position, position + 1)
    })
    own = _own_scores(index, question, ids)
    for doc, (video_id, fingerprint, position) in zip(docs, keys, strict=True):  # type: ignore[misc]
        mine = own[chunk_id(video_id, fingerprint, position)]
        around = [own.get(chunk_id(video_id, fingerprint, i)) for i in (position - 1, position + 1)]
        best = max(s for s in around if s is not None)
        assert doc.metadata["score"] == pytest.approx((1 - weight) * mine + weight * best, abs=1e-4)
    scores = [doc.metadata["score"] for doc in docs]
    assert scores == sorted(scores, reverse=True)
    # Weight 0 is the chunk's own similarity; the blend can change which chunk leads.
    plain = build_retriever(index=index, k=5, window=0, neighbour_weight=0).invoke(question)
    for doc in plain:
        key = chunk_key(doc.metadata)
        assert key is not None
        assert doc.metadata["score"] == pytest.approx(
            _own_scores(index, question, [chunk_id(*key)])[chunk_id(*key)], abs=1e-4
        )


def test_the_default_neighbour_weight_is_the_models_own(index: VideoIndex) -> None:
    # Measured per model on both dev sets (docs/evaluation.md): MPNet 0.2, MiniLM
    # 0.35, and 0.35 for a model nobody measured.
    assert neighbour_weight_for(resolve_preset("minilm")) == 0.35
    assert neighbour_weight_for(resolve_preset("mpnet")) == 0.2
    unmeasured = EmbeddingPreset("mine", "/models/my-encoder", 384, 256)
    assert neighbour_weight_for(unmeasured) == DEFAULT_NEIGHBOUR_WEIGHT
    question = "Why are honeybee colonies collapsing?"
    default = build_retriever(index=index, k=5, window=0).invoke(question)
    explicit = build_retriever(index=index, k=5, window=0, neighbour_weight=0.35).invoke(question)
    assert [(d.id, d.metadata["score"]) for d in default] == [
        (d.id, d.metadata["score"]) for d in explicit
    ]


@pytest.mark.parametrize("weight", [1, 1.5, -0.1, True, "0.3"])
def test_a_bad_neighbour_weight_says_what_to_use(index: VideoIndex, weight: Any) -> None:
    with pytest.raises(ChainConfigurationError, match="neighbour_weight must be a number"):
        build_retriever(index=index, neighbour_weight=weight)


# -- rerank= ------------------------------------------------------------------------------


def test_rerank_fuses_the_larger_models_similarity_into_the_best_matches(
    index: VideoIndex, mpnet: Path
) -> None:
    question = "Why are honeybee colonies collapsing?"
    # A preset object works as its name does.
    retriever = build_retriever(index=index, k=3, window=0, rerank=resolve_preset("mpnet"))
    docs = retriever.invoke(question)
    keys = [chunk_key(doc.metadata) for doc in docs]
    ids = sorted({
        chunk_id(video_id, fingerprint, i)
        for video_id, fingerprint, position in keys  # type: ignore[misc]
        for i in (position - 1, position, position + 1)
    })
    own = _own_scores(index, question, ids)  # MiniLM's stored vectors
    got = index.vectorstore.get(ids=list(own), include=["documents"])
    texts = dict(zip(got["ids"], got["documents"], strict=True))
    mpnet_model = get_embeddings("mpnet")
    query = np.asarray(mpnet_model.embed_query(question))
    vectors = np.asarray(mpnet_model.embed_documents([texts[i] for i in own]))
    second = dict(zip(own, vectors @ query / np.linalg.norm(vectors, axis=1)
                      / np.linalg.norm(query), strict=True))
    fused = {i: (1 - RERANK_SHARE) * own[i] + RERANK_SHARE * second[i] for i in own}
    weight = neighbour_weight_for(resolve_preset("mpnet"))
    for doc, (video_id, fingerprint, position) in zip(docs, keys, strict=True):  # type: ignore[misc]
        around = [fused[i] for i in (chunk_id(video_id, fingerprint, position - 1),
                                     chunk_id(video_id, fingerprint, position + 1)) if i in fused]
        mine = fused[chunk_id(video_id, fingerprint, position)]
        expected = (1 - weight) * mine + weight * max(around, default=mine)
        assert doc.metadata["score"] == pytest.approx(expected, abs=1e-4)
    scores = [doc.metadata["score"] for doc in docs]
    assert scores == sorted(scores, reverse=True)


def test_rerank_opens_on_the_answer_where_the_index_model_alone_does_not(
    minilm: Path, mpnet: Path, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Hugo Larochelle's two lectures on CRFs share their topic words: MiniLM alone
    # lands on 4 of their 10 questions, re-ranked by MPNet on 6 (docs/evaluation.md).
    monkeypatch.setenv("YTQA_HOME", str(tmp_path))
    items = [i for i in load_qa(shared_data / "qa-dev-wide.jsonl")
             if "devw-011" <= i.id <= "devw-020"]
    lectures = sorted({item.video_id for item in items})
    assert len(lectures) == 2
    lecture_index = VideoIndex("minilm", in_memory=True, collection_name="lectures")
    lecture_index.add_transcripts(
        [read_transcript_file(shared_data / "transcripts" / f"{v}.srt") for v in lectures]
    )
    plain = build_retriever(index=lecture_index, k=5)
    reranked = build_retriever(index=lecture_index, k=5, rerank="mpnet")
    plain_top = [plain.invoke(item.question)[0] for item in items]
    reranked_top = [reranked.invoke(item.question)[0] for item in items]

    recap = items[[item.id for item in items].index("devw-016")]  # answered at 0:11-0:34
    assert not is_landing(plain_top[items.index(recap)], recap)
    assert is_landing(reranked_top[items.index(recap)], recap)
    landed = sum(map(is_landing, plain_top, items)), sum(map(is_landing, reranked_top, items))
    assert landed[1] > landed[0], landed
    # The 20 best are re-scored however few passages are asked for, and however narrow.
    alone = build_retriever(index=lecture_index, k=1, window=0, rerank="mpnet")
    assert [alone.invoke(item.question)[0].id for item in items] == [
        build_retriever(index=lecture_index, k=5, window=0, rerank="mpnet")
        .invoke(item.question)[0].id
        for item in items
    ]


@pytest.mark.parametrize(
    ("options", "error", "says"),
    [
        ({"rerank": "minilm"}, ChainConfigurationError, "rerank='minilm' is the index's own model"),
        ({"rerank": "multi-qa-dot"}, ChainConfigurationError, "scores by dot product"),
        ({"rerank": 3}, ChainConfigurationError, "rerank must name an embedding preset"),
        ({"rerank": "mpnet", "search_type": "mmr"}, ChainConfigurationError, "one or the other"),
        ({"rerank": "no-such-model"}, EmbeddingModelError, "rerank='no-such-model' is not an"),
    ],
)
def test_a_rerank_that_cannot_work_says_what_to_use(
    index: VideoIndex, options: dict[str, Any], error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=re.escape(says)):
        build_retriever(index=index, **options)


def test_rerank_refuses_a_search_type_changed_per_call_to_mmr(index: VideoIndex) -> None:
    retriever = build_retriever(index=index, rerank="mpnet")
    with pytest.raises(ChainConfigurationError, match="Use one or the other"):
        retriever.invoke("Why are honeybee colonies collapsing?", search_type="mmr")
