"""Turn a transcript into LangChain documents that fit the embedding model's window.

Chunks are made of whole caption cues, measured with the preset's own
tokenizer (special tokens included), so that no chunk is ever cut short by the
model. Each chunk keeps the time span it covers, and its link opens the video
where the chunk starts.

How a transcript is cut (:func:`chunk_transcript`):

* every cue is tokenised once, in one batch;
* cues are packed in order until the next one would not fit in ``max_tokens``;
* a full chunk ends early, after the last cue that ends a sentence, when that
  keeps it at least :data:`MIN_FILL` full (captions without punctuation are
  simply packed);
* the next chunk starts with the last whole cues of the previous one, up to
  ``overlap_tokens`` (preferring to start at a sentence start);
* a cue too long for a chunk on its own is split at sentence ends, then at
  word boundaries, with its start and end times interpolated by character
  position.

Defaults (tokens per chunk, special tokens included) are in
:data:`DEFAULT_CHUNK_TOKENS`; other models get :data:`DEFAULT_CHUNK_FRACTION`
of their window. Overlap defaults to :data:`DEFAULT_OVERLAP_FRACTION` of the
chunk. They are starting points; ``docs/evaluation.md`` records what
measurement says about them.
"""

from __future__ import annotations

import bisect
import itertools
import os
import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from langchain_core.documents import Document

from ytqa.embeddings import DEFAULT_MODEL, EmbeddingPreset, get_tokenizer, resolve_preset
from ytqa.errors import ChunkingError
from ytqa.transcripts import Transcript

__all__ = [
    "CHUNKER_VERSION",
    "DEFAULT_CHUNK_FRACTION",
    "DEFAULT_CHUNK_TOKENS",
    "DEFAULT_OVERLAP_FRACTION",
    "MIN_FILL",
    "ChunkSettings",
    "chunk_settings",
    "chunk_transcript",
]

DEFAULT_CHUNK_TOKENS: dict[str, int] = {"minilm": 40, "mpnet": 40, "multi-qa-dot": 40}
"""Tokens per chunk (special tokens included) for the built-in presets.

Short chunks (about ten seconds of speech) keep each vector about one moment,
so that the best match is the moment itself; the retriever returns each match
with its neighbours for context (``docs/evaluation.md`` has the measurements).
"""

DEFAULT_CHUNK_FRACTION = 0.15
"""Share of the window used per chunk for presets not in :data:`DEFAULT_CHUNK_TOKENS`."""

DEFAULT_OVERLAP_FRACTION = 0.0
"""Default overlap, as a share of the chunk size (whole cues, rounded down): none,
since the retriever returns neighbouring chunks with each match."""

MIN_FILL = 0.5
"""A chunk may end early at a sentence end only once it is at least this full."""

CHUNKER_VERSION = "1"
"""Changes whenever the same settings would cut differently (part of the store's fingerprint)."""

# A sentence ends with . ! ? or … possibly followed by closing quotes or brackets.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*$")
# Split a long cue after sentence ends (keeping the punctuation with its sentence).
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+")


class ChunkSettings(NamedTuple):
    """Resolved chunking settings: tokens per chunk and overlap, special tokens included."""

    max_tokens: int
    overlap_tokens: int


@dataclass(frozen=True, slots=True)
class _Unit:
    """A piece of transcript that is never split further: a cue, or a part of a long one."""

    text: str
    start: float
    end: float
    tokens: int
    sentence_end: bool


def chunk_settings(
    model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
    *,
    max_tokens: int | None = None,
    overlap_tokens: int | None = None,
) -> ChunkSettings:
    """Return the chunk size and overlap :func:`chunk_transcript` uses for these arguments.

    Raises:
        ChunkingError: a value is out of range for the model's window.
    """
    preset = resolve_preset(model)
    window = preset.max_tokens
    if max_tokens is None:
        max_tokens = DEFAULT_CHUNK_TOKENS.get(preset.key) or int(window * DEFAULT_CHUNK_FRACTION)
        max_tokens = min(max_tokens, window)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
        raise ChunkingError(f"max_tokens must be an integer, not {max_tokens!r}.")
    if max_tokens > window:
        raise ChunkingError(
            f"max_tokens={max_tokens} is more than the window of {preset.key!r} "
            f"({window} tokens): the model would cut every chunk short. Use {window} or less."
        )
    if max_tokens < 8:
        raise ChunkingError(f"max_tokens={max_tokens} is too small: use at least 8 tokens.")
    if overlap_tokens is None:
        overlap_tokens = int(max_tokens * DEFAULT_OVERLAP_FRACTION)
    if not isinstance(overlap_tokens, int) or isinstance(overlap_tokens, bool):
        raise ChunkingError(f"overlap_tokens must be an integer, not {overlap_tokens!r}.")
    if not 0 <= overlap_tokens < max_tokens // 2 + 1:
        raise ChunkingError(
            f"overlap_tokens={overlap_tokens} must be between 0 and half of max_tokens "
            f"({max_tokens // 2}), so that every chunk brings new text."
        )
    return ChunkSettings(max_tokens, overlap_tokens)


def chunk_transcript(
    transcript: Transcript,
    *,
    model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
    max_tokens: int | None = None,
    overlap_tokens: int | None = None,
) -> list[Document]:
    """Cut *transcript* into documents that fit *model*'s window, with their times.

    ``max_tokens`` is the most tokens a chunk may have, counted with the
    model's tokenizer including its special tokens (default: see
    :data:`DEFAULT_CHUNK_TOKENS`); it may not exceed the model's window.
    ``overlap_tokens`` is how much of the end of a chunk the next one repeats,
    in whole cues (default: :data:`DEFAULT_OVERLAP_FRACTION` of ``max_tokens``).

    Every document's metadata holds ``video_id``, ``start`` and ``end``
    (seconds), ``url`` and ``source`` (the link that opens the video at
    ``start``), ``title`` and ``channel`` when known (absent otherwise: Chroma
    stores no None), ``language`` (the language code), ``is_generated``,
    ``captions`` (``manual``, ``generated`` or ``asr``), ``asr_model`` for
    speech-to-text, and ``chunk_index``.

    Raises:
        ChunkingError: ``max_tokens`` or ``overlap_tokens`` is out of range.
        EmbeddingModelError: the model's tokenizer cannot be loaded.
    """
    preset = resolve_preset(model)
    settings = chunk_settings(preset, max_tokens=max_tokens, overlap_tokens=overlap_tokens)
    tokenizer = get_tokenizer(preset)
    budget = settings.max_tokens - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 4:
        raise ChunkingError(
            f"max_tokens={settings.max_tokens} leaves no room for text next to the "
            f"model's special tokens; use more."
        )
    units = _units(transcript, tokenizer, budget)
    if not units:
        return []

    # Token counts of joined cues equal the sum of the parts for WordPiece and
    # most tokenizers; where a tokenizer merges across the joining space, the
    # check below shrinks the budget until every chunk really fits.
    limit = budget
    for _ in range(8):
        spans = _pack(units, limit, min(settings.overlap_tokens, limit // 2))
        texts = [" ".join(unit.text for unit in units[i:j]) for i, j in spans]
        lengths = _token_counts(tokenizer, texts, special=True)
        excess = max(length - settings.max_tokens for length in lengths)
        if excess <= 0:
            break
        limit -= excess
        units = _split_long_units(units, tokenizer, limit)
    else:  # pragma: no cover - only a tokenizer that grows without bound gets here
        raise ChunkingError(
            f"Could not fit the transcript of {transcript.video_id} into "
            f"{settings.max_tokens}-token chunks with the tokenizer of {preset.key!r}."
        )

    base: dict[str, Any] = {
        "video_id": transcript.video_id,
        "language": transcript.language_code,
        "is_generated": bool(transcript.is_generated),
        "captions": transcript.captions,
    }
    if transcript.asr_model is not None:
        base["asr_model"] = transcript.asr_model
    if transcript.title is not None:
        base["title"] = transcript.title
    if transcript.channel is not None:
        base["channel"] = transcript.channel
    documents = []
    for index, ((i, j), text) in enumerate(zip(spans, texts, strict=True)):
        start = round(units[i].start, 3)
        link = transcript.link(start)
        metadata = {
            **base,
            "start": start,
            "end": round(max(unit.end for unit in units[i:j]), 3),
            "url": link,
            "source": link,
            "chunk_index": index,
        }
        documents.append(Document(page_content=text, metadata=metadata))
    return documents


# ---------------------------------------------------------------------------
# Units: cues, and pieces of cues too long for one chunk
# ---------------------------------------------------------------------------


def _token_counts(tokenizer: Any, texts: list[str], *, special: bool) -> list[int]:
    if not texts:
        return []
    encoded = tokenizer(
        texts,
        add_special_tokens=special,
        truncation=False,
        return_attention_mask=False,
        return_token_type_ids=False,
        verbose=False,
    )
    return [len(ids) for ids in encoded["input_ids"]]


def _units(transcript: Transcript, tokenizer: Any, budget: int) -> list[_Unit]:
    cues = []
    for segment in transcript.segments:
        text = " ".join(segment.text.split())
        if text:
            start = max(0.0, float(segment.start))
            cues.append((text, start, max(start, start + float(segment.duration))))
    counts = _token_counts(tokenizer, [text for text, _, _ in cues], special=False)
    units = [
        _Unit(text, start, end, count, bool(_SENTENCE_END.search(text)))
        for (text, start, end), count in zip(cues, counts, strict=True)
    ]
    return _split_long_units(units, tokenizer, budget)


def _split_long_units(units: list[_Unit], tokenizer: Any, budget: int) -> list[_Unit]:
    """Replace every unit longer than *budget* tokens by pieces that fit."""
    if all(unit.tokens <= budget for unit in units):
        return units
    result: list[_Unit] = []
    for unit in units:
        if unit.tokens <= budget:
            result.append(unit)
            continue
        # Sentences first, then words, then (for absurd "words") characters.
        pieces = _pieces(unit, _SENTENCE_SPLIT, tokenizer)
        fitted: list[_Unit] = []
        for piece in pieces:
            if piece.tokens <= budget:
                fitted.append(piece)
            else:
                fitted.extend(_pack_words(piece, tokenizer, budget))
        result.extend(fitted)
    return result


def _pieces(unit: _Unit, separator: re.Pattern[str], tokenizer: Any) -> list[_Unit]:
    """Split *unit* at *separator*, timing each piece by its character position."""
    spans = []
    position = 0
    for match in separator.finditer(unit.text):
        spans.append((position, match.start() + len(match.group().rstrip())))
        position = match.end()
    spans.append((position, len(unit.text)))
    spans = [(a, b) for a, b in spans if unit.text[a:b].strip()]
    if len(spans) <= 1:
        return [unit]
    texts = [unit.text[a:b].strip() for a, b in spans]
    counts = _token_counts(tokenizer, texts, special=False)
    return [
        _interpolated(unit, a, b, text, count)
        for (a, b), text, count in zip(spans, texts, counts, strict=True)
    ]


def _interpolated(unit: _Unit, a: int, b: int, text: str, tokens: int) -> _Unit:
    length = max(1, len(unit.text))
    duration = unit.end - unit.start
    return _Unit(
        text,
        unit.start + duration * a / length,
        unit.start + duration * b / length,
        tokens,
        bool(_SENTENCE_END.search(text)),
    )


def _pack_words(unit: _Unit, tokenizer: Any, budget: int) -> list[_Unit]:
    """Cut a sentence longer than *budget* into runs of whole words that fit."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", unit.text)]
    if words == [(0, len(unit.text))]:  # one word (a cue without spaces): its count is known
        counts = [unit.tokens]
    else:
        counts = _token_counts(tokenizer, [unit.text[a:b] for a, b in words], special=False)
    pieces: list[_Unit] = []
    run_start = 0
    total = 0
    for index, ((a, b), count) in enumerate(zip(words, counts, strict=True)):
        if count > budget:  # one "word" longer than a chunk: cut it by characters
            if index > run_start:
                pieces.append(_word_run(unit, words, counts, run_start, index))
            pieces.extend(_cut_characters(unit, a, b, tokenizer, budget))
            run_start, total = index + 1, 0
            continue
        if total + count > budget:
            pieces.append(_word_run(unit, words, counts, run_start, index))
            run_start, total = index, 0
        total += count
    if run_start < len(words):
        pieces.append(_word_run(unit, words, counts, run_start, len(words)))
    return pieces


def _word_run(
    unit: _Unit, words: list[tuple[int, int]], counts: list[int], first: int, stop: int
) -> _Unit:
    a, b = words[first][0], words[stop - 1][1]
    return _interpolated(unit, a, b, unit.text[a:b], sum(counts[first:stop]))


def _cut_characters(unit: _Unit, a: int, b: int, tokenizer: Any, budget: int) -> list[_Unit]:
    """Cut ``unit.text[a:b]``, one "word" longer than *budget* tokens, into pieces that fit.

    The word is tokenised once and cut before every *budget*-th token; a piece
    that counts more tokens on its own (a word piece that now starts a word)
    is cut again the same way. No text is tokenised more than a few times, so
    the work grows linearly with the word (a cue of CJK text has no spaces).
    """
    spans = _token_cuts(unit.text, a, b, tokenizer, budget)
    texts = [unit.text[x:y] for x, y in spans]
    counts = _token_counts(tokenizer, texts, special=False)
    pieces: list[_Unit] = []
    for (x, y), text, count in zip(spans, texts, counts, strict=True):
        if count <= budget or y - x == 1:  # a single character cannot be cut further
            pieces.append(_interpolated(unit, x, y, text, count))
        else:
            pieces.extend(_cut_characters(unit, x, y, tokenizer, budget))
    return pieces


def _token_cuts(text: str, a: int, b: int, tokenizer: Any, budget: int) -> list[tuple[int, int]]:
    """Spans of ``text[a:b]`` of about *budget* tokens each, in order, covering it all."""
    word = text[a:b]
    try:
        offsets = tokenizer(
            word,
            add_special_tokens=False,
            truncation=False,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )["offset_mapping"]
        starts = [a + offsets[i][0] for i in range(budget, len(offsets), budget)]
    except NotImplementedError:  # a slow (pure Python) tokenizer knows no offsets
        count = _token_counts(tokenizer, [word], special=False)[0]
        step = max(1, (b - a) * budget // (count + 1))
        starts = list(range(a + step, b, step))
    cuts = [a, *sorted({start for start in starts if a < start < b}), b]
    return list(itertools.pairwise(cuts))


# ---------------------------------------------------------------------------
# Packing units into chunks
# ---------------------------------------------------------------------------


def _pack(units: list[_Unit], budget: int, overlap: int) -> list[tuple[int, int]]:
    """Return ``(first, stop)`` unit ranges, each at most *budget* tokens.

    Every unit is at most *budget* tokens. Each range after the first starts
    with trailing units of the previous one (at most *overlap* tokens) and
    always brings at least one new unit, so the loop ends.
    """
    prefix = [0, *itertools.accumulate(unit.tokens for unit in units)]
    n = len(units)
    spans: list[tuple[int, int]] = []
    first = 0
    while True:
        # The longest run from `first` that fits.
        stop = bisect.bisect_right(prefix, prefix[first] + budget, lo=first + 1) - 1
        stop = max(stop, first + 1)
        if stop < n:
            stop = _sentence_cut(units, prefix, first, stop, budget)
        spans.append((first, stop))
        if stop >= n:
            return spans
        first = _overlap_start(units, prefix, first, stop, budget, overlap)


def _sentence_cut(
    units: list[_Unit], prefix: list[int], first: int, stop: int, budget: int
) -> int:
    """Move a full chunk's end back to the last sentence end that keeps it MIN_FILL full."""
    floor = prefix[first] + MIN_FILL * budget
    for cut in range(stop, first, -1):
        if prefix[cut] < floor:
            break
        if units[cut - 1].sentence_end:
            return cut
    return stop


def _overlap_start(
    units: list[_Unit], prefix: list[int], first: int, stop: int, budget: int, overlap: int
) -> int:
    """First unit of the next chunk: trailing units of [first, stop) within *overlap* tokens.

    The next chunk must also fit the unit at *stop*, and start after *first*.
    Among the allowed starts, one just after a sentence end is preferred when
    it keeps at least half of the overlap.
    """
    allowed = min(overlap, budget - units[stop].tokens)
    start = stop
    while start - 1 > first and prefix[stop] - prefix[start - 1] <= allowed:
        start -= 1
    if start == stop:
        return stop
    for candidate in range(start, stop):
        if prefix[stop] - prefix[candidate] < allowed / 2:
            break
        if units[candidate - 1].sentence_end:
            return candidate
    return start
