"""Retrieval evaluation on a QA set: hit@k, land@k, MRR@5 and the misses.

A QA file is JSON Lines, one question a line, in the format of the shared
development set::

    {"id": "dev-001", "video_id": "1fQkVqno-uI", "question": "...",
     "answer": "...", "start": 63.14, "end": 66.59}

``start``/``end`` (seconds) bound the caption span that holds the answer.
The metrics (see ``docs/evaluation.md``):

- **hit@k**: a result among the top k is from the question's video and its
  ``[start, end]`` overlaps the expected span;
- **land@k**: a result among the top k is from the question's video and the
  moment it cites (the ``t=`` of its ``url``) lies in ``[start - 15 s, end]``,
  so the viewer lands on the answer rather than a minute before it;
- **MRR@5**: mean reciprocal rank of the first hit within the top 5.

The scoring functions here are pure: they take the questions and the
documents a retriever returned. :func:`evaluate` runs the whole thing.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, urlsplit

from ytqa.errors import EvaluationError, TranscriptFileError

if TYPE_CHECKING:
    import os

    from langchain_core.documents import Document

    from ytqa.embeddings import EmbeddingPreset

__all__ = [
    "LAND_TOLERANCE",
    "MRR_DEPTH",
    "EvaluationReport",
    "Miss",
    "QAItem",
    "cited_seconds",
    "evaluate",
    "first_rank",
    "is_hit",
    "is_landing",
    "load_qa",
    "score_results",
]

LAND_TOLERANCE = 15.0
"""Seconds before the expected span a cited moment may open and still land."""

MRR_DEPTH = 5
"""Results MRR looks at (MRR@5)."""

_REQUIRED_TEXT = ("video_id", "question")
_TIME_PART = re.compile(r"(\d+(?:\.\d+)?)([hms]?)")


@dataclass(frozen=True)
class QAItem:
    """One evaluation question and where its answer is spoken."""

    id: str
    video_id: str
    question: str
    start: float
    end: float
    answer: str = ""


@dataclass(frozen=True)
class RetrievedPassage:
    """What a retriever returned for a question, as a miss report shows it."""

    video_id: str
    start: float | None
    end: float | None
    cited: float | None
    url: str | None


@dataclass(frozen=True)
class Miss:
    """A question whose top result does not land on the answer.

    ``hit_rank``/``land_rank`` are the 1-based ranks of the first hit and of
    the first landing result among those returned (None when there is none).
    """

    item: QAItem
    hit_rank: int | None
    land_rank: int | None
    results: tuple[RetrievedPassage, ...]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for ``ytqa eval --json`` and reports)."""
        return {
            "id": self.item.id,
            "video_id": self.item.video_id,
            "question": self.item.question,
            "expected": [self.item.start, self.item.end],
            "hit_rank": self.hit_rank,
            "land_rank": self.land_rank,
            "results": [asdict(passage) for passage in self.results],
        }


def _number(value: object) -> float | None:
    """*value* as a finite float, or None when it is not a number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _parse_item(raw: object, path: Path, line_number: int) -> QAItem:
    def bad(problem: str) -> EvaluationError:
        return EvaluationError(
            f"Bad QA file {path}:{line_number}: {problem}. Each line must be a JSON "
            'object like {"id": "q1", "video_id": "VIDEO_ID", "question": "...", '
            '"start": 12.0, "end": 20.5}.'
        )

    if not isinstance(raw, dict):
        raise bad(f"expected a JSON object, got {type(raw).__name__}")
    for key in _REQUIRED_TEXT:
        value = raw.get(key)
        if not isinstance(value, str) or not value.strip():
            raise bad(f"{key!r} must be a non-empty string")
    start, end = _number(raw.get("start")), _number(raw.get("end"))
    if start is None or end is None:
        raise bad("'start' and 'end' must be numbers of seconds")
    if start < 0 or end < start:
        raise bad(f"the span [{start}, {end}] is not 0 <= start <= end")
    item_id = raw.get("id", f"line-{line_number}")
    answer = raw.get("answer", "")
    return QAItem(
        id=str(item_id),
        video_id=raw["video_id"].strip(),
        question=raw["question"].strip(),
        start=start,
        end=end,
        answer=answer if isinstance(answer, str) else str(answer),
    )


def load_qa(path: str | Path) -> list[QAItem]:
    """Read and validate a QA JSON Lines file (blank lines are skipped).

    Raises:
        EvaluationError: the file is missing, unreadable, empty, or a line is
            not a valid question (the message names the file and the line).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise EvaluationError(
            f"Cannot read QA file {path}: {exc}. Pass a UTF-8 JSON Lines file with "
            "one question a line (see docs/evaluation.md)."
        ) from exc
    items: list[QAItem] = []
    seen: set[str] = set()
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationError(
                f"Bad QA file {path}:{line_number}: not valid JSON ({exc.msg}). Fix the "
                "line; each line must be one JSON object."
            ) from exc
        item = _parse_item(raw, path, line_number)
        if item.id in seen:
            raise EvaluationError(
                f"Bad QA file {path}:{line_number}: the id {item.id!r} is used twice. "
                "Give every question its own id."
            )
        seen.add(item.id)
        items.append(item)
    if not items:
        raise EvaluationError(
            f"QA file {path} holds no questions. Add one JSON object per line."
        )
    return items


def _parse_t(value: str) -> float | None:
    """Seconds in a ``t=`` value: ``312s``, ``312``, ``5m12s``, ``1h2m3s``."""
    value = value.strip().lower()
    if not value:
        return None
    total, position = 0.0, 0
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "": 1.0}
    for match in _TIME_PART.finditer(value):
        if match.start() != position:
            return None
        total += float(match.group(1)) * scale[match.group(2)]
        position = match.end()
    return total if position == len(value) else None


def cited_seconds(document: Document) -> float | None:
    """The moment a result's link opens at: the ``t=`` of its ``url`` metadata.

    Reads YouTube's ``?t=``/``&t=`` query parameter and a media fragment
    ``#t=`` (links to local files). A document with no such link cites its
    ``start`` metadata; None when it has neither.
    """
    url = document.metadata.get("url") or document.metadata.get("source")
    if isinstance(url, str) and url:
        parts = urlsplit(url)
        values = parse_qs(parts.query).get("t") or parse_qs(parts.fragment).get("t")
        if values:
            seconds = _parse_t(values[0])
            if seconds is not None:
                return seconds
    return _number(document.metadata.get("start"))


def _span(document: Document) -> tuple[float, float] | None:
    start = _number(document.metadata.get("start"))
    end = _number(document.metadata.get("end"))
    if start is None:
        return None
    return start, max(start, end) if end is not None else start


def is_hit(document: Document, item: QAItem) -> bool:
    """Whether *document* is from the question's video and its span overlaps the answer."""
    if document.metadata.get("video_id") != item.video_id:
        return False
    span = _span(document)
    return span is not None and span[0] <= item.end and span[1] >= item.start


def is_landing(document: Document, item: QAItem, tolerance: float = LAND_TOLERANCE) -> bool:
    """Whether *document*'s link opens on the answer: in ``[start - tolerance, end]``."""
    if document.metadata.get("video_id") != item.video_id:
        return False
    cited = cited_seconds(document)
    return cited is not None and item.start - tolerance <= cited <= item.end


def first_rank(
    documents: Sequence[Document], item: QAItem, *, landing: bool = False
) -> int | None:
    """1-based rank of the first hit (or landing result) in *documents*; None if none."""
    test = is_landing if landing else is_hit
    for rank, document in enumerate(documents, start=1):
        if test(document, item):
            return rank
    return None


def _passage(document: Document) -> RetrievedPassage:
    span = _span(document)
    url = document.metadata.get("url") or document.metadata.get("source")
    return RetrievedPassage(
        video_id=str(document.metadata.get("video_id", "")),
        start=span[0] if span else None,
        end=span[1] if span else None,
        cited=cited_seconds(document),
        url=url if isinstance(url, str) else None,
    )


def _validate_ks(ks: Iterable[int]) -> tuple[int, ...]:
    values = tuple(sorted(set(ks)))
    if not values or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in values):
        raise EvaluationError(
            f"Bad k values {tuple(ks)!r}: pass positive whole numbers such as (1, 3, 5)."
        )
    return values


def score_results(
    items: Sequence[QAItem],
    results: Sequence[Sequence[Document]],
    k: Iterable[int] = (1, 3, 5),
) -> dict[str, Any]:
    """Score what a retriever returned for each question.

    *results* holds, per question of *items* (same order), the documents the
    retriever returned, best first. Returns ``n``, ``hit@K`` and ``land@K``
    for every K in *k*, ``mrr@5``, and ``misses``: the questions whose top
    result does not land on the answer, as :class:`Miss` records.
    """
    ks = _validate_ks(k)
    if len(items) != len(results):
        raise ValueError(f"{len(items)} questions but {len(results)} result lists")
    n = len(items)
    hits = dict.fromkeys(ks, 0)
    lands = dict.fromkeys(ks, 0)
    reciprocal = 0.0
    misses: list[Miss] = []
    for item, documents in zip(items, results, strict=True):
        hit_rank = first_rank(documents, item)
        land_rank = first_rank(documents, item, landing=True)
        for value in ks:
            hits[value] += hit_rank is not None and hit_rank <= value
            lands[value] += land_rank is not None and land_rank <= value
        if hit_rank is not None and hit_rank <= MRR_DEPTH:
            reciprocal += 1.0 / hit_rank
        if land_rank != 1:
            misses.append(
                Miss(item, hit_rank, land_rank, tuple(_passage(d) for d in documents))
            )
    report: dict[str, Any] = {"n": n}
    for value in ks:
        report[f"hit@{value}"] = hits[value] / n if n else 0.0
    for value in ks:
        report[f"land@{value}"] = lands[value] / n if n else 0.0
    report[f"mrr@{MRR_DEPTH}"] = reciprocal / n if n else 0.0
    report["misses"] = misses
    return report


@dataclass(frozen=True)
class EvaluationReport:
    """What :func:`evaluate` measured: the figures of :func:`score_results`, with the
    preset and how many videos were indexed.

    ``report["hit@1"]`` reads a figure by its name in :meth:`to_dict`, as the
    dict that :func:`evaluate` returned before did.
    """

    metrics: dict[str, Any]
    """``n``, ``hit@K`` and ``land@K`` per K, ``mrr@5`` (in that order)."""
    misses: list[Miss]
    """The questions whose top result does not land on the answer."""
    model: str
    """The preset key."""
    videos: int
    """Videos indexed."""

    @classmethod
    def of(cls, scores: Mapping[str, Any], *, model: str, videos: int) -> EvaluationReport:
        """The report of :func:`score_results`' *scores*."""
        metrics = {key: value for key, value in scores.items() if key != "misses"}
        return cls(metrics, list(scores.get("misses", [])), model, videos)

    def figures(self) -> dict[str, Any]:
        """The figures without the misses: what ``ytqa eval --json`` prints."""
        return {**self.metrics, "model": self.model, "videos": self.videos}

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form: the figures and the misses."""
        return {**self.figures(), "misses": [miss.to_dict() for miss in self.misses]}

    def __getitem__(self, key: str) -> Any:
        return self.misses if key == "misses" else self.figures()[key]


def metrics_only(report: Mapping[str, Any] | EvaluationReport) -> dict[str, Any]:
    """*report* without its misses: the figures ``ytqa eval --json`` prints."""
    if isinstance(report, EvaluationReport):
        return report.figures()
    return {key: value for key, value in report.items() if key != "misses"}


def _transcripts_to_index(
    transcripts_dir: str | os.PathLike[str], captions: Literal["manual", "generated"]
) -> list[Path]:
    from ytqa.transcripts import transcript_files

    if captions not in ("manual", "generated"):
        raise EvaluationError(f"captions must be 'manual' or 'generated', not {captions!r}.")
    directory = Path(transcripts_dir)
    try:
        files = transcript_files(directory, prefer=captions)
    except TranscriptFileError as exc:
        raise EvaluationError(
            f"{directory} is not a folder of transcripts. Pass the folder that holds "
            "<VIDEO_ID>.srt / .vtt / .en.vtt / .json files."
        ) from exc
    if not files:
        raise EvaluationError(
            f"{directory} holds no transcript files (<VIDEO_ID>.srt, .vtt, .en.vtt or .json). "
            "Pass the folder with the transcripts of the QA file's videos."
        )
    return files


def evaluate(
    qa_path: str | os.PathLike[str],
    transcripts_dir: str | os.PathLike[str],
    *,
    model: str | EmbeddingPreset = "minilm",
    k: Iterable[int] = (1, 3, 5),
    captions: Literal["manual", "generated"] = "manual",
    **retriever_options: Any,
) -> EvaluationReport:
    """Measure retrieval on a QA set: index every transcript, ask every question.

    Every transcript in *transcripts_dir* (``<VIDEO_ID>.srt``, ``.vtt``,
    ``.en.vtt``, ``.json``; one per video: uploaded ``.srt`` captions first, or
    the auto-captions with ``captions="generated"``) goes into a fresh in-memory index,
    so that the other videos act as distractors. Each question of *qa_path*
    then goes through the retriever :func:`ytqa.build_retriever` builds with
    *retriever_options* (``window``, ``cite_lead``, ``search_type``, ...), the
    one ``build_chain`` uses.

    Returns an :class:`EvaluationReport`: the figures of :func:`score_results`
    (``n``, ``hit@K``, ``land@K``, ``mrr@5``), the ``misses``, ``model`` (the
    preset key) and ``videos`` (how many were indexed).

    Raises:
        EvaluationError: the QA file is bad, the folder holds no transcripts, or
            a question's video is not among them.
        YtqaError: a transcript cannot be read, or the model cannot be loaded.
    """
    from ytqa.embeddings import resolve_preset
    from ytqa.index import VideoIndex
    from ytqa.retrieval import VideoRetriever, build_retriever
    from ytqa.transcripts import read_transcript_file

    items = load_qa(Path(qa_path))
    ks = _validate_ks(k)
    files = _transcripts_to_index(transcripts_dir, captions)
    transcripts = [read_transcript_file(file) for file in files]
    indexed = {transcript.video_id for transcript in transcripts}
    unknown = sorted({item.video_id for item in items} - indexed)
    if unknown:
        raise EvaluationError(
            f"No transcript in {transcripts_dir} for the QA file's video(s) "
            f"{', '.join(unknown)}. Add <VIDEO_ID>.srt (or .vtt/.json) files for them."
        )
    preset = resolve_preset(model)
    index = VideoIndex(preset, in_memory=True)
    try:
        depth = max(max(ks), MRR_DEPTH)
        # Its options are checked before the transcripts are embedded (which takes minutes).
        VideoRetriever(index=index, k=depth, **retriever_options)
        for transcript in transcripts:
            index.add(transcript)
        retriever = build_retriever(index=index, model=preset, k=depth, **retriever_options)
        results = [retriever.invoke(item.question) for item in items]
    finally:
        index.close()
    return EvaluationReport.of(
        score_results(items, results, ks), model=preset.key, videos=len(transcripts)
    )
