"""Property tests: whatever bytes a transcript file holds, the readers return a
Transcript or raise TranscriptFileError, nothing else."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ytqa import Transcript, TranscriptFileError
from ytqa.transcripts import read_transcript_file

SUFFIXES = [".srt", ".vtt", ".json"]

# Pieces of real caption files, so that examples get past the first line.
FRAGMENTS = [
    "WEBVTT", "WEBVTT\n", "Kind: captions", "Language: en", "NOTE", "STYLE", "1", "2", "\n",
    "\r\n", "\n\n", " ", "-->", " --> ", "00:00:01,000", "00:00:02.500", "01:02.5", "99:99:99,999",
    "12345678901:00:00.000", "<00:00:01.500>", "<c>", "</c>", "<i>", "&amp;", "&#0;", "{\\an8}",
    "hello", "world", "\ufeff", "\x00", "é", "[", "]", "{", "}", '"text"', '"start"', '"duration"',
    ":", ",", "1e999", "-1", "null", "true", '"segments"', "NaN",
]

caption_like = st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join)

timestamp = st.builds(
    "{:02d}:{:02d}:{:02d}{}{:03d}".format,
    st.integers(0, 99),
    st.integers(0, 60),  # now and then out of range
    st.integers(0, 60),
    st.sampled_from([",", "."]),
    st.integers(0, 999),
)
text_line = st.one_of(
    st.lists(st.sampled_from([*FRAGMENTS[13:], "so", "we", "go"]), max_size=6).map(" ".join),
    st.text(max_size=12),
)
cue = st.builds(
    lambda number, start, end, lines: f"{number}{start} --> {end}\n" + "\n".join(lines),
    st.sampled_from(["", "1\n", "cue-id\n"]),
    timestamp,
    timestamp,
    st.lists(text_line, max_size=3),
)
cue_file = st.builds(
    lambda header, cues, newline: (header + "\n\n".join(cues)).replace("\n", newline),
    st.sampled_from(["", "WEBVTT\n\n", "WEBVTT\nKind: captions\nLanguage: en\n\n"]),
    st.lists(cue, max_size=6),
    st.sampled_from(["\n", "\r\n", "\r"]),
)


def json_value() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
    )
    return st.recursive(
        scalars,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(
                st.sampled_from(["text", "start", "duration", "segments", "snippets", "x"]),
                children,
                max_size=4,
            ),
        ),
        max_leaves=20,
    )


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    # A module-wide folder: hypothesis re-runs the test body, function fixtures would be shared.
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def read_back(folder: Path, suffix: str, data: bytes) -> None:
    path = folder / f"sample{suffix}"
    path.write_bytes(data)
    try:
        transcript = read_transcript_file(path)
    except TranscriptFileError as error:
        assert error.path == path
        assert str(path) in str(error)
        return
    assert isinstance(transcript, Transcript)
    assert transcript.segments
    for segment in transcript.segments:
        assert segment.text and segment.text == " ".join(segment.text.split())
        assert math.isfinite(segment.start) and segment.start >= 0
        assert math.isfinite(segment.duration) and segment.duration >= 0
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(starts)


COMMON = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@COMMON
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=300))
def test_arbitrary_bytes(folder: Path, suffix: str, data: bytes) -> None:
    read_back(folder, suffix, data)


@COMMON
@given(suffix=st.sampled_from(SUFFIXES), text=st.text(max_size=300))
def test_arbitrary_text(folder: Path, suffix: str, text: str) -> None:
    read_back(folder, suffix, text.encode("utf-8", "surrogatepass"))


@COMMON
@given(suffix=st.sampled_from(SUFFIXES), text=caption_like)
def test_caption_like_text(folder: Path, suffix: str, text: str) -> None:
    read_back(folder, suffix, text.encode("utf-8"))


@COMMON
@given(value=json_value())
def test_arbitrary_json(folder: Path, value: object) -> None:
    read_back(folder, ".json", json.dumps(value).encode("utf-8"))


@COMMON
@given(suffix=st.sampled_from(SUFFIXES[:2]), text=cue_file)
def test_cue_files(folder: Path, suffix: str, text: str) -> None:
    read_back(folder, suffix, text.encode("utf-8", "surrogatepass"))
