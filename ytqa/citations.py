"""Citation marks: ``[mm:ss]`` on each line of a passage shown to the LLM, and the
moments an answer cites, checked against the passages it was given.

>>> from langchain_core.documents import Document
>>> passage = Document("The lens was new. It could throw a beam twenty miles.", metadata={
...     "video_id": "dQw4w9WgXcQ", "start": 40.0, "end": 61.5,
...     "part_starts": [[0, 40.0], [18, 52.3]], "title": "Talk",
...     "url": "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=40s"})
>>> print(marked_text(passage))
[00:40] The lens was new.
[00:52] It could throw a beam twenty miles.
>>> [d.metadata["url"] for d in cite_moments("Twenty miles [00:52], not [09:99] or [07:00].",
...                                          [passage])]
['https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=52s']

:func:`cite_moments` is the one place that turns "answer text + given passages"
into sources: the CLI, the web app, ``ytqa chat`` and the chains call it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from langchain_core.documents import Document

from ytqa.video import format_timestamp, is_video_id, watch_url

__all__ = [
    "NOT_IN_THESE_VIDEOS",
    "PART_STARTS",
    "Mark",
    "cite_moments",
    "find_marks",
    "line_marks",
    "marked_text",
]

PART_STARTS = "part_starts"
"""Metadata key of a retrieved passage: ``[[offset, seconds], ...]``, where in
``page_content`` each of its chunks (a group of caption cues) begins, and when."""

NOT_IN_THESE_VIDEOS = "This is not in these videos."
"""What ytqa's prompt asks the model to answer when the excerpts lack the answer."""

# Seconds of slack around a passage: marks are written in whole seconds (rounded
# down) and a passage's end is the end of its last cue.
_SLACK = 1.0

_TIME = r"(?:\d{1,2}:[0-5]\d:[0-5]\d|\d{1,3}:[0-5]\d)"
_DASH = r"\s*(?:[-\u2010-\u2015]|to)\s*"
# One item inside brackets: a time, or a range of two.
_ITEM = re.compile(rf"\s*(?P<start>{_TIME})(?:{_DASH}(?P<end>{_TIME}))?\s*")
# A bracketed group ("[05:12]", "[1:02:03]", "[05:12-05:30]", "[05:12, 06:01]"),
# possibly followed by "–[05:30]", the end of a range written as two marks.
_GROUP = re.compile(rf"\[(?P<inner>[^\[\]\n]{{1,80}})\](?:{_DASH}\[(?P<end>{_TIME})\])?")


class Mark(NamedTuple):
    """One moment an answer cites: its start and, for a range, its end (seconds)."""

    start: float
    end: float | None = None


def _seconds(text: str) -> float:
    value = 0
    for part in text.split(":"):
        value = value * 60 + int(part)
    return float(value)


def find_marks(answer: str) -> list[Mark]:
    """The ``[mm:ss]`` / ``[h:mm:ss]`` marks of *answer*, in order, ranges as one mark.

    >>> find_marks("At [1:02], then [01:02:03]; see [00:10–00:20] and [00:30]-[00:41].")
    [Mark(start=62.0, end=None), Mark(start=3723.0, end=None), Mark(start=10.0, end=20.0), \
Mark(start=30.0, end=41.0)]

    Bracketed text that is not a list of times (``[link]``, ``[05:12 in the talk]``)
    is no mark.
    """
    marks: list[Mark] = []
    for group in _GROUP.finditer(answer):
        items = re.split(r"[,;]|\band\b", group["inner"])
        parsed = [_ITEM.fullmatch(item) for item in items]
        if not all(parsed):
            continue
        found = [
            Mark(_seconds(m["start"]), _seconds(m["end"]) if m["end"] else None)
            for m in parsed
            if m is not None
        ]
        if group["end"] and found and found[-1].end is None:
            found[-1] = Mark(found[-1].start, _seconds(group["end"]))
        marks.extend(found)
    return marks


def marked_text(document: Document) -> str:
    """*document*'s text with its moment at the head of each line: ``[mm:ss] words``.

    A retrieved passage gets one line per chunk it joins (:data:`PART_STARTS`), so
    that the model can cite the second a thing is said, not only the passage's start;
    a document without them gets one line at its ``start``.
    """
    text = document.page_content
    metadata = document.metadata
    parts = metadata.get(PART_STARTS)
    if not parts:
        start = metadata.get("start")
        if not isinstance(start, (int, float)):
            return text
        parts = [[0, start]]
    lines = []
    bounds = [*(int(offset) for offset, _ in parts[1:]), len(text)]
    for (offset, seconds), end in zip(parts, bounds, strict=True):
        words = text[int(offset) : end].strip()
        if words:
            lines.append(f"[{format_timestamp(float(seconds))}] {words}")
    return "\n".join(lines)


_LINE_MARK = re.compile(r"^\[(\d{1,2}(?::[0-5]\d){1,2})\] ", re.MULTILINE)


def line_marks(text: str) -> list[str]:
    """The ``mm:ss`` / ``h:mm:ss`` marks that head lines of *text* (as
    :func:`marked_text` writes them), in order, each once.

    >>> line_marks("<excerpt>\\n[00:40] The lens was new.\\n[00:52] It could [00:53] throw.")
    ['00:40', '00:52']
    """
    return list(dict.fromkeys(_LINE_MARK.findall(text)))


def cite_moments(answer: str, documents: Sequence[Document]) -> list[Document]:
    """The sources of *answer*: each moment it cites that lies in a passage it was given.

    Every mark of *answer* (:func:`find_marks`) is checked against *documents*: a
    mark inside a passage (between its ``start`` and ``end``, a second of slack)
    becomes a copy of that passage cited at the mark (``cited_start``,
    ``timestamp``, and ``url``/``source`` opening there; ``cited_end`` for a range);
    a mark inside none (one the model invented) is dropped, never linked. Repeats
    of a moment are listed once, in the order the answer cites them. When the
    answer cites no moment of the passages, the passages themselves are returned,
    each at its own citation.
    """
    cited: list[Document] = []
    seen: set[tuple[str, int]] = set()
    for mark in find_marks(answer):
        passage = _passage_holding(mark.start, documents)
        if passage is None:
            continue
        key = (str(passage.metadata.get("video_id")), int(mark.start))
        if key not in seen:
            seen.add(key)
            cited.append(_cited_at(passage, mark))
    return cited or list(documents)


def _span(document: Document) -> tuple[float, float] | None:
    start, end = document.metadata.get("start"), document.metadata.get("end")
    if not isinstance(start, (int, float)):
        return None
    return float(start), float(end) if isinstance(end, (int, float)) else float(start)


def _passage_holding(seconds: float, documents: Iterable[Document]) -> Document | None:
    """The passage that *seconds* falls in; of several, one with a line at that mark."""
    holding = []
    for document in documents:
        span = _span(document)
        if span is not None and span[0] - _SLACK <= seconds <= span[1] + _SLACK:
            holding.append(document)
    shown = f"[{format_timestamp(seconds)}]"
    exact = [d for d in holding if shown in marked_text(d)]
    chosen = exact or holding
    return chosen[0] if chosen else None


def _cited_at(passage: Document, mark: Mark) -> Document:
    metadata = dict(passage.metadata)
    span = _span(passage)
    assert span is not None  # _passage_holding only returns passages with a start
    seconds = min(max(mark.start, span[0]), span[1])
    link = _link_at(metadata, seconds)
    metadata.update(cited_start=seconds, timestamp=format_timestamp(seconds))
    if mark.end is not None and mark.end > seconds:
        metadata["cited_end"] = min(mark.end, span[1] + _SLACK)
    if link is not None:
        metadata["url"] = metadata["source"] = link
    return Document(page_content=passage.page_content, metadata=metadata, id=passage.id)


def _link_at(metadata: dict[str, object], seconds: float) -> str | None:
    """The passage's link, opening at *seconds* (YouTube's ``t=``, a file's ``#t=``)."""
    url = metadata.get("url") or metadata.get("source")
    video_id = str(metadata.get("video_id") or "")
    if not isinstance(url, str):
        return None
    if is_video_id(video_id) and "youtube.com/watch" in url:
        return watch_url(video_id, seconds)
    if url.startswith("file:"):
        return f"{url.split('#', 1)[0]}#t={max(0, int(seconds))}"
    return url
