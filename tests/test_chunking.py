"""chunk_transcript: chunks that fit the model's window and keep their time."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest
from langchain_core.documents import Document

from tests.store_support import shared_transcript
from ytqa import ChunkingError, Segment, Transcript, chunk_transcript
from ytqa.chunking import chunk_settings
from ytqa.transcripts import read_transcript_file

pytestmark = pytest.mark.slow  # loads real tokenizers

METADATA_KEYS = {
    "video_id",
    "start",
    "end",
    "url",
    "source",
    "title",
    "channel",
    "language",
    "is_generated",
    "captions",
    "chunk_index",
}


def _model_tokenizer(folder: Path) -> Any:
    """The tokenizer the model itself loads (through sentence-transformers' own files)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(folder))


def _lengths(tokenizer: Any, docs: list[Document]) -> list[int]:
    encoded = tokenizer([d.page_content for d in docs], truncation=False, verbose=False)
    return [len(ids) for ids in encoded["input_ids"]]


def _words(text: str) -> list[str]:
    return text.split()


def _transcript(cues: list[str], *, cue_seconds: float = 2.0, **fields: Any) -> Transcript:
    segments = tuple(Segment(text, i * cue_seconds, cue_seconds) for i, text in enumerate(cues))
    values: dict[str, Any] = {
        "video_id": "dQw4w9WgXcQ",
        "segments": segments,
        "language": "English",
        "language_code": "en",
        "is_generated": False,
    } | fields
    return Transcript(**values)


@pytest.fixture(scope="module")
def all_transcripts(transcripts_dir: Path) -> list[Transcript]:
    files = sorted(transcripts_dir.glob("*.srt")) + sorted(transcripts_dir.glob("*.en.vtt"))
    assert len(files) >= 30
    return [read_transcript_file(path) for path in files]


@pytest.mark.parametrize(
    ("model", "fixture", "window"), [("minilm", "minilm", 256), ("mpnet", "mpnet", 384)]
)
def test_chunks_never_exceed_the_window_on_every_shared_transcript(
    all_transcripts: list[Transcript],
    request: pytest.FixtureRequest,
    model: str,
    fixture: str,
    window: int,
) -> None:
    folder: Path = request.getfixturevalue(fixture)
    tokenizer = _model_tokenizer(folder)
    # The window the model really reads: beyond it, it truncates silently.
    config = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    assert config["max_seq_length"] == window
    default = chunk_settings(model).max_tokens
    for transcript in all_transcripts:
        for max_tokens in (None, window):
            docs = chunk_transcript(transcript, model=model, max_tokens=max_tokens)
            limit = max_tokens or default
            lengths = _lengths(tokenizer, docs)
            assert docs and max(lengths) <= limit, transcript.source
            # Nothing is lost: every word of the transcript is in some chunk, in order.
            text = " ".join(d.page_content for d in docs)
            expected = _words(transcript.text)
            assert set(expected) <= set(_words(text)), transcript.source
            assert [d.metadata["chunk_index"] for d in docs] == list(range(len(docs)))
            starts = [d.metadata["start"] for d in docs]
            assert starts == sorted(starts)
            assert all(d.metadata["start"] <= d.metadata["end"] for d in docs)
        # Default chunks are filled (not far below the size) when there is text enough.
        docs = chunk_transcript(transcript, model=model)
        if len(docs) > 1:
            assert max(_lengths(tokenizer, docs)) > default // 2


def test_metadata_of_the_design(transcripts_dir: Path) -> None:
    transcript = shared_transcript(transcripts_dir, "9P6rdqiybaw.srt")
    titled = dataclasses.replace(
        transcript,
        language_code="en",
        is_generated=True,
        title="What Are Wormholes?",
        channel="Kurzgesagt",
    )
    docs = chunk_transcript(titled)
    assert len(docs) > 3
    for index, doc in enumerate(docs):
        meta = doc.metadata
        assert set(meta) == METADATA_KEYS
        assert meta["video_id"] == "9P6rdqiybaw"
        assert meta["chunk_index"] == index
        assert meta["url"] == meta["source"]
        assert meta["url"] == f"https://www.youtube.com/watch?v=9P6rdqiybaw&t={int(meta['start'])}s"
        assert (meta["title"], meta["channel"]) == ("What Are Wormholes?", "Kurzgesagt")
        assert (meta["language"], meta["is_generated"]) == ("en", True)
        # Chroma-safe scalars only.
        assert all(isinstance(v, (str, int, float, bool)) for v in meta.values())
    # start/end are those of the first and last cue of the chunk.
    cue_starts = {round(s.start, 3) for s in transcript.segments}
    cue_ends = {round(s.end, 3) for s in transcript.segments}
    assert all(d.metadata["start"] in cue_starts for d in docs)
    assert all(d.metadata["end"] in cue_ends for d in docs)
    assert docs[0].metadata["start"] == round(transcript.segments[0].start, 3)
    assert docs[-1].metadata["end"] == round(max(s.end for s in transcript.segments), 3)

    # Unknown title and channel are left out (Chroma stores no None).
    untitled = chunk_transcript(transcript)
    assert set(untitled[0].metadata) == METADATA_KEYS - {"title", "channel"}


def test_overlap_is_configurable(transcripts_dir: Path, minilm: Path) -> None:
    tokenizer = _model_tokenizer(minilm)
    transcript = shared_transcript(transcripts_dir, "GqA42M4RtxE.srt")

    # No overlap: the chunks are the transcript, cut.
    plain = chunk_transcript(transcript, max_tokens=96, overlap_tokens=0)
    assert " ".join(d.page_content for d in plain).split() == transcript.text.split()

    for overlap in (24, 40):
        docs = chunk_transcript(transcript, max_tokens=96, overlap_tokens=overlap)
        assert len(docs) > len(plain)
        repeated = []
        for previous, current in itertools.pairwise(docs):
            shared = _shared_words(previous.page_content, current.page_content)
            tokens = len(tokenizer(" ".join(shared), add_special_tokens=False)["input_ids"])
            assert tokens <= overlap
            repeated.append(tokens)
            if shared:  # the repeated cues start before the previous chunk ends
                assert current.metadata["start"] < previous.metadata["end"]
        # Overlap is made of whole cues: a pair whose boundary cue is longer than
        # the overlap repeats nothing; most pairs repeat something.
        assert sum(1 for t in repeated if t) >= 0.75 * len(repeated)
        assert sum(repeated) / len(repeated) > overlap / 4

    with pytest.raises(ChunkingError, match="overlap_tokens"):
        chunk_transcript(transcript, max_tokens=96, overlap_tokens=60)


def _shared_words(previous: str, current: str) -> list[str]:
    """Longest suffix of *previous* (in words) that *current* starts with."""
    a, b = previous.split(), current.split()
    for size in range(min(len(a), len(b)), 0, -1):
        if a[-size:] == b[:size]:
            return b[:size]
    return []


SENTENCES = [
    "Honeybees pollinate a third of the crops we eat every year.",
    "Colonies collapse when workers vanish from the hive without a trace.",
    "Pesticides, mites and viruses all weaken the bees at the same time.",
    "Beekeepers now replace about a third of their hives each winter.",
    "Wild bees suffer even more because nobody counts or replaces them.",
    "Farmers rent hives and truck them across the country for almond bloom.",
]


def _two_cue_sentences(count: int, *, punctuation: bool) -> list[str]:
    """Cues that each hold half a sentence, so chunks could end mid-sentence."""
    cues = []
    for i in range(count):
        sentence = SENTENCES[i % len(SENTENCES)]
        if not punctuation:
            sentence = re.sub(r"[.,]", "", sentence).lower()
        words = sentence.split()
        cues += [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
    return cues


def test_chunks_prefer_to_end_at_sentence_ends() -> None:
    punctuated = chunk_transcript(
        _transcript(_two_cue_sentences(60, punctuation=True)), max_tokens=64, overlap_tokens=0
    )
    assert len(punctuated) > 5
    assert all(d.page_content.endswith(".") for d in punctuated)

    # Without punctuation, chunks are simply packed as full as they go (and so
    # end in the middle of a sentence, where the cue boundary falls).
    bare = chunk_transcript(
        _transcript(_two_cue_sentences(60, punctuation=False)), max_tokens=64, overlap_tokens=0
    )
    assert len(bare) <= len(punctuated)
    halves = {cue for cue in _two_cue_sentences(60, punctuation=False)[0::2]}
    assert any(any(d.page_content.endswith(h) for h in halves) for d in bare[:-1])

    # With overlap, the next chunk starts at a sentence start where it can.
    overlapping = chunk_transcript(
        _transcript(_two_cue_sentences(60, punctuation=True)), max_tokens=64, overlap_tokens=24
    )
    starts = {s.split()[0] for s in SENTENCES}
    assert all(d.page_content.split()[0] in starts for d in overlapping)


def test_a_cue_longer_than_the_window_is_split_with_interpolated_times(
    transcripts_dir: Path, minilm: Path
) -> None:
    tokenizer = _model_tokenizer(minilm)
    long_text = shared_transcript(transcripts_dir, "9P6rdqiybaw.srt", cues=150).text
    transcript = dataclasses.replace(
        _transcript([]),
        segments=(
            Segment("Intro line.", 0.0, 100.0),
            Segment(long_text, 100.0, 300.0),  # one cue, 100 s to 400 s
            Segment("Outro line.", 400.0, 5.0),
        ),
    )
    docs = chunk_transcript(transcript, max_tokens=64, overlap_tokens=0)
    assert max(_lengths(tokenizer, docs)) <= 64
    inside = [d for d in docs if "Intro" not in d.page_content and "Outro" not in d.page_content]
    assert len(inside) >= 4
    starts = [d.metadata["start"] for d in inside]
    ends = [d.metadata["end"] for d in inside]
    # Times move through the cue, strictly inside it, in step with the text.
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(100.0 <= s < e <= 400.0 for s, e in zip(starts, ends, strict=True))
    position = long_text.index(inside[len(inside) // 2].page_content)
    expected = 100.0 + 300.0 * position / len(long_text)
    assert abs(starts[len(inside) // 2] - expected) < 1.0
    # All of the cue is there, in order, once.
    joined = " ".join(d.page_content for d in docs).split()
    assert joined == transcript.text.split()

    # A single "word" longer than the window (no spaces; punctuation makes it
    # many word pieces) is cut too.
    blob = "ab,cd;" * 300
    cut = chunk_transcript(_transcript([blob], cue_seconds=60.0), max_tokens=32, overlap_tokens=0)
    assert len(cut) > 1 and max(_lengths(tokenizer, cut)) <= 32
    assert "".join(d.page_content for d in cut) == blob
    assert cut[-1].metadata["end"] == 60.0


class CountingTokenizer:
    """The real tokenizer, counting the characters it is given (the chunker's work)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.characters = 0

    def __call__(self, texts: str | list[str], **kwargs: Any) -> Any:
        self.characters += sum(map(len, [texts] if isinstance(texts, str) else texts))
        return self.inner(texts, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_long_cue_without_spaces_is_cut_into_full_pieces_in_one_pass(
    minilm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ytqa import chunking

    tokenizer = _model_tokenizer(minilm)
    counting = CountingTokenizer(chunking.get_tokenizer("minilm"))
    monkeypatch.setattr(chunking, "get_tokenizer", lambda model: counting)
    text = "日本語の文章には単語の間に空白がありません" * 1_000  # 20,000 characters, one "word"
    transcript = _transcript([text], cue_seconds=600.0)

    docs = chunk_transcript(transcript, max_tokens=40)

    # All of it, once, in order; every chunk but the last as full as the window allows
    # (one token a character here, plus [CLS] and [SEP]).
    assert "".join(d.page_content for d in docs) == text
    lengths = _lengths(tokenizer, docs)
    assert set(lengths[:-1]) == {40} and lengths[-1] <= 40
    starts = [d.metadata["start"] for d in docs]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert starts[0] == 0.0 and docs[-1].metadata["end"] == 600.0
    # Times follow the character position of each piece in the cue.
    positions = itertools.accumulate((len(d.page_content) for d in docs), initial=0)
    for start, position in zip(starts, positions, strict=False):
        assert abs(start - 600.0 * position / len(text)) < 0.01
    # Each character is tokenised a few times, not once per piece cut before it.
    assert counting.characters <= 8 * len(text)


def test_words_longer_than_a_chunk_of_mixed_scripts_fit(minilm: Path) -> None:
    tokenizer = _model_tokenizer(minilm)
    blob = "東京tokyo🙂,ĉu?ĝis" * 150 + "😀" * 50 + "x"

    docs = chunk_transcript(_transcript([blob], cue_seconds=60.0), max_tokens=24)

    assert max(_lengths(tokenizer, docs)) <= 24
    assert "".join(d.page_content for d in docs) == blob
    ends = [d.metadata["end"] for d in docs]
    assert ends == sorted(ends) and ends[-1] == 60.0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_tokens": 257}, "more than the window"),
        ({"max_tokens": 4}, "too small"),
        ({"max_tokens": 100, "overlap_tokens": 51}, "half of max_tokens"),
        ({"max_tokens": 100, "overlap_tokens": -1}, "between 0"),
        ({"max_tokens": 100.5}, "integer"),
    ],
)
def test_out_of_range_settings_say_what_to_use(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ChunkingError, match=fragment):
        chunk_transcript(_transcript(["Hello there."]), **kwargs)


def test_defaults_and_empty_transcripts() -> None:
    assert chunk_settings("minilm").max_tokens <= 256
    assert chunk_settings("mpnet").max_tokens <= 384
    settings = chunk_settings("minilm", max_tokens=200)
    assert settings.overlap_tokens < 100
    assert chunk_transcript(_transcript([])) == []
    assert chunk_transcript(_transcript(["  ", "\n"])) == []
