"""Ranking levers of issue 13, replayed over stored chunk vectors, beside the real retriever.

    python benchmarks/retrieval_levers.py --cache DIR
    python benchmarks/retrieval_levers.py --captions manual,generated --long --cache DIR

Every shared transcript is chunked as ytqa chunks it (MiniLM's 40-token
chunks) and embedded once; each lever then re-ranks the same chunks in numpy
as the retriever does (score, neighbour blend, k passages of ±window chunks,
the matching chunk cited ``cite_lead`` seconds early) and is scored by
``ytqa.evaluation.score_results`` on each QA set on its own. The first row is
the real retriever (``ytqa.build_retriever`` over a Chroma index, what
``ytqa.evaluate`` runs), the second the real retriever with ``rerank="mpnet"``
(both timed per question), and the third the default's replay: it must agree
with the first, so that the other rows compare with the default as it ships.

Levers (each one change from the default):

- own score only (no neighbour blend), the old ranking;
- context vectors: each chunk also embedded with its two neighbours as one text,
  the two similarities fused;
- the question without its words about the video ("in the video", "the host");
- pseudo-relevance feedback: the question's vector moved towards its 10 best chunks;
- a video prior: each chunk gains from the mean of its video's 3 best chunks;
- the second packaged model (all-mpnet-base-v2): alone over the same chunks;
  re-ranking MiniLM's 20 best chunks (a query-time model call over ~60 short
  texts); fused with MiniLM over every chunk (both models at ingest).

``--cache DIR`` keeps vectors in LangChain's ``CacheBackedEmbeddings`` (shared
with ``retrieval_quality.py``'s cache). Needs the packaged weights and ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import median, scratch_home, setup_offline, shared_data_dir
from retrieval_quality import (
    AUTO_SLACK,
    TARGETS,
    add_variant_options,
    channels_of,
    load_corpus,
    long_corpus,
    model_embeddings,
    ytqa_rows,
)

K = 5
WINDOW = 5
CITE_LEAD = 3.0
MINILM_WEIGHT = 0.35
MPNET_WEIGHT = 0.2
RERANK_DEPTH = 20
SECOND_MODEL_SHARE = 0.7
"""Share of the fused score taken from all-mpnet-base-v2 in the two-model levers."""
VIDEO_WORDS = re.compile(
    r"\b(according to (the|this) (video|lecture|episode|talk)"
    r"|in (the|this) (video|lecture|episode|talk|film)"
    r"|(the|this) (video|lecture|episode|talk|host|speaker|narrator|lecturer|presenter)('s)?)\b",
    re.IGNORECASE,
)

REAL_ROWS: dict[str, dict[str, Any]] = {
    "ytqa minilm, the real retriever (defaults)": {},
    "ytqa minilm, the real retriever, rerank='mpnet'": {"rerank": "mpnet"},
}
"""Rows measured with ``build_retriever`` itself, timed per question."""

Ranker = Callable[[int], Any]
"""Question position -> a rank score for every chunk (numpy array)."""


class Corpus:
    """The chunks of every transcript, their neighbours and their vectors."""

    def __init__(self, transcripts: list[Any], cache: Path | None) -> None:
        import numpy as np

        from ytqa.chunking import chunk_transcript

        self.chunks = [
            document for transcript in transcripts
            for document in chunk_transcript(transcript, model="minilm")
        ]
        self.video = np.array([d.metadata["video_id"] for d in self.chunks])
        self.start = np.array([float(d.metadata["start"]) for d in self.chunks])
        self.end = np.array([float(d.metadata["end"]) for d in self.chunks])
        same_as_previous = np.r_[False, self.video[1:] == self.video[:-1]]
        positions = np.arange(len(self.chunks))
        self.previous = np.where(same_as_previous, positions - 1, -1)
        self.next = np.where(np.r_[same_as_previous[1:], False], positions + 1, -1)
        self.cache = cache
        texts = [d.page_content for d in self.chunks]
        self.vectors = {"minilm": self.embed("minilm", texts)}
        self.context_texts = [
            " ".join(texts[j] for j in (self.previous[i], i, self.next[i]) if j >= 0)
            for i in range(len(texts))
        ]

    def embed(self, model: str, texts: list[str]) -> Any:
        import numpy as np

        from ytqa.embeddings import get_embeddings

        embeddings = model_embeddings(model, self.cache) or get_embeddings(model)
        return np.asarray(embeddings.embed_documents(texts), dtype=np.float32)

    def neighbour_best(self, scores: Any) -> Any:
        import numpy as np

        before = np.where(self.previous >= 0, scores[self.previous], -np.inf)
        after = np.where(self.next >= 0, scores[self.next], -np.inf)
        best = np.maximum(before, after)
        return np.where(np.isfinite(best), best, scores)

    def blend(self, scores: Any, weight: float) -> Any:
        return (1 - weight) * scores + weight * self.neighbour_best(scores)

    def passages(self, rank: Any) -> list[Any]:
        """The retriever's k passages for one question's rank scores, as Documents."""
        import numpy as np
        from langchain_core.documents import Document

        covered: set[int] = set()
        found = []
        for position in np.argsort(-rank):
            position = int(position)
            if position in covered or not np.isfinite(rank[position]):
                continue
            first = last = position
            for _ in range(WINDOW):
                first = int(self.previous[first]) if self.previous[first] >= 0 else first
                last = int(self.next[last]) if self.next[last] >= 0 else last
            covered.update(range(first, last + 1))
            cited = max(self.start[first], self.start[position] - CITE_LEAD)
            found.append(Document(
                page_content=self.chunks[position].page_content,
                metadata={"video_id": str(self.video[position]), "start": self.start[first],
                          "end": self.end[last], "cited_start": cited},
            ))
            if len(found) == K:
                break
        for document in found:  # score_results reads the cited moment from the link's t=
            document.metadata["url"] = f"#t={document.metadata['cited_start']:.3f}"
        return found


def levers(corpus: Corpus, questions: list[str]) -> dict[str, Ranker]:
    import numpy as np

    from ytqa.embeddings import get_embeddings

    minilm = corpus.vectors["minilm"]
    query = np.asarray(get_embeddings("minilm").embed_documents(questions), dtype=np.float32)
    plain = [" ".join(VIDEO_WORDS.sub(" ", q).split()) for q in questions]
    plain_query = np.asarray(get_embeddings("minilm").embed_documents(plain), dtype=np.float32)
    context = corpus.embed("minilm", corpus.context_texts)

    def own(i: int) -> Any:
        return minilm @ query[i]

    def default(i: int) -> Any:
        return corpus.blend(own(i), MINILM_WEIGHT)

    def feedback(i: int) -> Any:
        moved = query[i] + 0.2 * minilm[np.argsort(-own(i))[:10]].mean(axis=0)
        return corpus.blend(minilm @ (moved / np.linalg.norm(moved)), MINILM_WEIGHT)

    def video_prior(i: int) -> Any:
        scores = own(i)
        prior = np.zeros_like(scores)
        for video in set(corpus.video):
            mask = corpus.video == video
            prior[mask] = np.sort(scores[mask])[-3:].mean()
        return default(i) + 0.1 * prior

    rows: dict[str, Ranker] = {
        "replay of the default (blend 0.35)": default,
        "own score only (blend 0, the old ranking)": own,
        "context vectors (chunk and both neighbours as one text), fused 0.5 / 0.5":
            lambda i: 0.5 * default(i) + 0.5 * (context @ query[i]),
        "context vectors, fused 0.7 / 0.3":
            lambda i: 0.7 * default(i) + 0.3 * (context @ query[i]),
        "question without its words about the video":
            lambda i: corpus.blend(minilm @ plain_query[i], MINILM_WEIGHT),
        "pseudo-relevance feedback (0.2 x mean of the 10 best chunks)": feedback,
        "video prior (+0.1 x mean of the video's 3 best chunks)": video_prior,
    }
    from ytqa.embeddings import is_available_locally

    if not is_available_locally("mpnet"):
        print("mpnet: weights not available offline; the two-model levers are left out")
        return rows
    second = corpus.embed("mpnet", [d.page_content for d in corpus.chunks])
    second_query = np.asarray(
        get_embeddings("mpnet").embed_documents(questions), dtype=np.float32
    )
    share = SECOND_MODEL_SHARE

    def fused(i: int) -> Any:
        return corpus.blend(
            (1 - share) * own(i) + share * (second @ second_query[i]), MPNET_WEIGHT
        )

    def rerank(i: int) -> Any:
        best = np.argsort(-default(i))[:RERANK_DEPTH]
        rank = np.full(len(corpus.chunks), -np.inf)
        rank[best] = fused(i)[best]
        return rank

    rows.update({
        "all-mpnet-base-v2 alone over the same chunks (blend 0.2)":
            lambda i: corpus.blend(second @ second_query[i], MPNET_WEIGHT),
        f"all-mpnet-base-v2 re-ranks the {RERANK_DEPTH} best ({1 - share:.1f} minilm + "
        f"{share:.1f} mpnet, blend 0.2)": rerank,
        f"both models over every chunk ({1 - share:.1f} / {share:.1f}, blend 0.2)": fused,
    })
    return rows


def main() -> None:
    data = shared_data_dir()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_variant_options(parser)
    args = parser.parse_args()

    setup_offline()
    scratch_home("levers")
    from ytqa.evaluation import load_qa, score_results

    channels = channels_of(data)
    sets = {name: load_qa(data / name) for name in ("qa-dev.jsonl", "qa-dev-wide.jsonl")}
    variants = [(c, c) for c in args.captions.split(",")]
    if args.long:
        variants.append(("long", "manual"))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start")
    for variant, captions in variants:
        began = time.perf_counter()
        transcripts = load_corpus(data / "transcripts", captions)
        variant_sets, names = sets, channels
        if variant == "long":
            transcripts, variant_sets, names = long_corpus(transcripts, sets, channels)
        items = [item for set_items in variant_sets.values() for item in set_items]
        corpus = Corpus(transcripts, args.cache)
        rankers = levers(corpus, [item.question for item in items])
        found = {name: iter([corpus.passages(rank(i)) for i in range(len(items))])
                 for name, rank in rankers.items()}
        # Results per configuration and set, in the sets' order.
        results = {
            name: {set_name: [next(found[name]) for _ in set_items]
                   for set_name, set_items in variant_sets.items()}
            for name in rankers
        }
        real = {
            name: reports for name, reports, _ in ytqa_rows(
                "minilm", transcripts, variant_sets, REAL_ROWS,
                model_embeddings("minilm", args.cache),
            )
        }

        print(f"\n## {variant}: {len(transcripts)} videos, {len(corpus.chunks)} chunks, "
              f"{time.perf_counter() - began:.0f} s\n")
        print("| configuration | set | hit@1 | hit@3 | hit@5 | land@1 | land@3 | mrr@5 |")
        print("|---|---|---|---|---|---|---|---|")
        columns = ("hit@1", "hit@3", "hit@5", "land@1", "land@3", "mrr@5")
        for name, reports in real.items():
            for set_name in variant_sets:
                cells = " | ".join(f"{reports[set_name][c]:.3f}" for c in columns)
                print(f"| {name} | {set_name} | {cells} |")
        for name in rankers:
            for set_name in variant_sets:
                figures = score_results(variant_sets[set_name], results[name][set_name])
                print(f"| {name} | {set_name} | "
                      f"{' | '.join(f'{figures[c]:.3f}' for c in columns)} |")
        for name, reports in real.items():
            latencies = [t for report in reports.values() for t in report["latencies"]]
            print(f"{name}: {1000 * median(latencies):.0f} ms a question (median of "
                  f"{len(latencies)}; the first question loads the models)")
        print(f"\nper channel ({variant}): hit@1 / hit@5 / land@1 of each replayed row, numbered")
        for number, name in enumerate(rankers, 1):
            print(f"  ({number}) {name}")
        print(f"\n| channel | n | {' | '.join(f'({n})' for n in range(1, len(rankers) + 1))} |")
        print(f"|---|---|{'---|' * len(rankers)}")
        for set_name, set_items in variant_sets.items():
            groups: dict[str, list[int]] = {}
            for position, item in enumerate(set_items):
                groups.setdefault(names.get(item.video_id, "?"), []).append(position)
            for channel, picked in groups.items():
                cells = []
                for name in rankers:
                    part = score_results([set_items[i] for i in picked],
                                         [results[name][set_name][i] for i in picked])
                    cells.append(f"{part['hit@1']:.2f}/{part['hit@5']:.2f}/{part['land@1']:.2f}")
                print(f"| {channel} ({set_name}) | {len(picked)} | {' | '.join(cells)} |")
        slack = AUTO_SLACK if variant == "generated" else 0.0
        for name in rankers:
            met = all(
                score_results(variant_sets[set_name], results[name][set_name])[c]
                >= goal - slack - 1e-9
                for set_name in variant_sets for c, goal in TARGETS.items()
            )
            print(f"targets on both sets ({variant}), {name}: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
