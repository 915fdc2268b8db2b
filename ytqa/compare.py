"""Comparing embedding presets on the same videos: which one serves them best?

:func:`compare_models` asks one question of each preset's index and returns
their top passages side by side; :func:`compare_evaluations` runs the
retrieval evaluation (:func:`ytqa.evaluation.evaluate`) with each preset. Each
preset's index is first filled from the transcript cache with the videos the
others hold (:meth:`ytqa.VideoIndex.sync`), so the presets search the same
videos. A preset that cannot run (weights not available offline, ...) is
reported with its error; the others still run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ytqa.embeddings import EMBEDDING_MODELS, EmbeddingPreset, get_embeddings, resolve_preset
from ytqa.errors import EvaluationError, YtqaError

__all__ = [
    "DEFAULT_COMPARED",
    "ModelComparison",
    "Passage",
    "PresetResult",
    "compare_evaluations",
    "compare_models",
]

DEFAULT_COMPARED: tuple[str, ...] = tuple(EMBEDDING_MODELS)
"""The presets compared when none are named: the built-in ones."""

Models = Sequence[str | EmbeddingPreset] | str


@dataclass(frozen=True)
class Passage:
    """One retrieved passage: where it is in the video and how close it is."""

    rank: int
    video_id: str
    title: str
    timestamp: str
    """The cited moment, ``mm:ss`` or ``h:mm:ss`` (where :attr:`url` opens)."""
    url: str
    score: float
    """Similarity to the question in the preset's own measure (cosine or dot product)."""
    text: str


@dataclass
class PresetResult:
    """What one preset returned, or why it could not run."""

    model: str
    similarity: str | None = None
    """``"cosine"`` or ``"dot"``: how :attr:`Passage.score` is measured."""
    passages: list[Passage] = field(default_factory=list)
    error: YtqaError | None = None

    @property
    def ok(self) -> bool:
        """Whether the preset ran."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "model": self.model,
            "similarity": self.similarity,
            "passages": [vars(passage) for passage in self.passages],
            "error": None if self.error is None else str(self.error),
            "error_type": None if self.error is None else type(self.error).__name__,
        }


@dataclass
class ModelComparison:
    """The top passages of each preset for one question."""

    question: str
    k: int
    results: list[PresetResult]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "question": self.question,
            "k": self.k,
            "results": [result.to_dict() for result in self.results],
        }


def _model_list(models: Models) -> list[str | EmbeddingPreset]:
    if isinstance(models, str):
        models = [part.strip() for part in models.split(",") if part.strip()]
    listed = list(dict.fromkeys(models))
    if not listed:
        raise YtqaError(f"Name at least one model to compare, e.g. {','.join(DEFAULT_COMPARED)}.")
    return listed


def _label(model: str | EmbeddingPreset) -> str:
    return model.key if isinstance(model, EmbeddingPreset) else str(model)


def compare_models(
    question: str,
    models: Models = DEFAULT_COMPARED,
    *,
    k: int = 4,
    persist_directory: str | os.PathLike[str] | None = None,
    client: Any = None,
) -> ModelComparison:
    """Return the *k* best passages of each preset in *models* for *question*.

    *models* are preset keys (or a comma-separated string of them), model names
    or :class:`~ytqa.EmbeddingPreset` s. Each preset searches its own index
    (under the ytqa home, *persist_directory* or *client*), after it has embedded
    from the transcript cache the videos that the other presets' indexes hold
    (as :func:`ytqa.build_retriever` does).
    A preset that cannot run is in the result with its ``error``.

    >>> comparison = compare_models("why do bees matter?", ["minilm", "mpnet"])  # doctest: +SKIP
    >>> [(r.model, r.passages[0].timestamp) for r in comparison.results]          # doctest: +SKIP

    Raises:
        YtqaError: no model is named.
    """
    from ytqa.index import VideoIndex
    from ytqa.retrieval import build_retriever

    results = []
    for model in _model_list(models):
        result = PresetResult(_label(model))
        results.append(result)
        try:
            preset = resolve_preset(model)
            result.model, result.similarity = preset.key, preset.similarity
            # Load the weights first: a preset that has none creates no collection.
            embeddings = get_embeddings(preset)
            index = VideoIndex(
                preset, persist_directory=persist_directory, client=client, embeddings=embeddings
            )
            documents = build_retriever(index=index, k=k).invoke(question)
        except YtqaError as error:
            result.error = error
            continue
        result.passages = [
            Passage(
                rank=rank,
                video_id=str(doc.metadata.get("video_id", "")),
                title=str(doc.metadata.get("title") or doc.metadata.get("video_id", "")),
                timestamp=str(doc.metadata.get("timestamp", "")),
                url=str(doc.metadata.get("url", "")),
                score=float(doc.metadata.get("score", 0.0)),
                text=doc.page_content,
            )
            for rank, doc in enumerate(documents, 1)
        ]
    return ModelComparison(question, k, results)


def compare_evaluations(
    qa_path: str | Path,
    transcripts_dir: str | Path,
    models: Models = DEFAULT_COMPARED,
    *,
    k: Sequence[int] = (1, 3, 5),
) -> list[dict[str, Any]]:
    """Run :func:`ytqa.evaluation.evaluate` with each preset: one row of metrics each.

    A row holds ``model`` and the metrics (``n``, ``hit@K``, ``land@K``,
    ``mrr@5``), or ``model``, ``error`` and ``error_type`` for a preset that
    could not run.

    Raises:
        EvaluationError: the QA file or the transcripts folder is unusable (for
            every preset alike).
    """
    from ytqa.evaluation import evaluate

    rows: list[dict[str, Any]] = []
    for model in _model_list(models):
        try:
            report = evaluate(qa_path, transcripts_dir, model=model, k=tuple(k))
        except EvaluationError:
            raise
        except YtqaError as error:
            rows.append(
                {"model": _label(model), "error": str(error), "error_type": type(error).__name__}
            )
        else:
            rows.append(report.figures())
    return rows
