"""Fuzzing: whatever a transcript file holds or is, and whatever string names a source,
ytqa returns a Transcript (or a list of sources) or raises a YtqaError, nothing else.

The readers get arbitrary bytes, text, caption-like text, JSON and cue files under
every suffix, and every kind of file (named pipe, folder, link loop, dangling link,
link to /dev/zero, empty, sparse file over the size limit, name too long). Source
parsing gets arbitrary and URL-like strings; YouTube's HTTP is mocked with
``responses`` (the recorded answers) and sockets are refused, so nothing reaches the
network. ``pytest --hypothesis-show-statistics`` shows how many inputs each kind got.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.youtube_support import fake_youtube
from ytqa import InvalidVideoIdError, Transcript, TranscriptFileError, YtqaError
from ytqa.config import DEFAULT_MAX_TRANSCRIPT_BYTES
from ytqa.transcripts import _youtube as youtube_fetch
from ytqa.transcripts import expand_sources, load_transcript, read_transcript_file
from ytqa.video import is_video_id, parse_video_id

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
    check_transcript(transcript)


def check_transcript(transcript: object) -> None:
    assert isinstance(transcript, Transcript)
    assert transcript.segments
    for segment in transcript.segments:
        assert segment.text and segment.text == " ".join(segment.text.split())
        assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in segment.text)
        assert math.isfinite(segment.start) and segment.start >= 0
        assert math.isfinite(segment.duration) and segment.duration >= 0
    starts = [segment.start for segment in transcript.segments]
    assert starts == sorted(starts)


COMMON = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
SMALL = settings(COMMON, max_examples=100)


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


# --- every kind of file ------------------------------------------------------------

KINDS = [
    "regular file",
    "link to a regular file",
    "empty file",
    "named pipe",
    "folder",
    "symbolic link loop",
    "dangling link",
    "link to /dev/zero",
    "sparse file over the limit",
    "name too long",
]
# What the error must say for each kind that is never a transcript.
EXPECTED_PROBLEM = {
    "empty file": "empty",
    "named pipe": "named pipe (FIFO)",
    "folder": "folder",
    "symbolic link loop": "symbolic link loop",
    "dangling link": "which does not exist",
    "link to /dev/zero": "character device",
    "sparse file over the limit": "more than the limit",
    "name too long": "too long",
}
_names = itertools.count()


def make_file(folder: Path, kind: str, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_names)}{suffix}"
    if kind == "regular file":
        path.write_bytes(data)
    elif kind == "link to a regular file":
        target = path.with_name(path.name + ".target")
        target.write_bytes(data)
        path.symlink_to(target)
    elif kind == "empty file":
        path.touch()
    elif kind == "named pipe":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "symbolic link loop":
        path.symlink_to(path)
    elif kind == "dangling link":
        path.symlink_to(folder / "nothing-here")
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "sparse file over the limit":
        with path.open("wb") as handle:
            handle.write(data)
            handle.truncate(DEFAULT_MAX_TRANSCRIPT_BYTES + 1)
    elif kind == "name too long":
        path = folder / ("n" * 300 + suffix)
    return path


def outcome(call: Callable[[], Any]) -> Any:
    """What *call* returns, or the YtqaError it raises; anything else fails the test."""
    try:
        return call()
    except YtqaError as error:
        return error


@pytest.mark.timeout(120)  # a reader that blocks on a pipe would hang here
@SMALL
@given(kind=st.sampled_from(KINDS), suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=200))
def test_every_kind_of_file(folder: Path, kind: str, suffix: str, data: bytes) -> None:
    event(kind)
    path = make_file(folder, kind, suffix, data)
    results = [
        outcome(lambda: read_transcript_file(path)),
        outcome(lambda: load_transcript(path)),
        outcome(lambda: load_transcript(str(path))),
    ]
    expanded = outcome(lambda: expand_sources([str(path)]))
    if isinstance(expanded, list):
        results.extend(outcome(lambda item=item: load_transcript(item)) for item in expanded)
    else:
        results.append(expanded)
    for result in results:
        if isinstance(result, TranscriptFileError):
            assert str(path)[:150] in str(result)
        else:
            check_transcript(result)
    if kind in EXPECTED_PROBLEM:
        for result in results:
            assert isinstance(result, TranscriptFileError), (kind, result)
            assert EXPECTED_PROBLEM[kind] in str(result), (kind, str(result))


# --- every string as a source ---------------------------------------------------

ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
id_like = st.one_of(
    st.text(ID_CHARACTERS, min_size=11, max_size=11),
    st.text(ID_CHARACTERS, max_size=14),
    st.text(max_size=12),
    st.just("dQw4w9WgXcQ"),
)
url_like = st.builds(
    lambda scheme, host, path, vid, query, tail: f"{scheme}{host}{path}{vid}{query}{tail}",
    st.sampled_from(["", "https://", "http://", "//", "HTTPS://", "ftp://", " "]),
    st.sampled_from([
        "youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com", "youtu.be",
        "www.youtube-nocookie.com", "YouTube.com", "youtube.com.evil.example", "vimeo.com",
        "example.com", "", "[::1", "user:pw@youtube.com", "youtube.com:99999",
    ]),
    st.sampled_from([
        "/watch", "/watch/", "/shorts/", "/embed/", "/live/", "/v/", "/e/", "/playlist",
        "/channel/", "/c/", "/user/", "/@", "/attribution_link", "/", "", "//",
    ]),
    id_like,
    st.lists(
        st.builds(
            "{}={}".format,
            st.sampled_from(["v", "list", "t", "u", "si", "feature", ""]),
            st.one_of(id_like, st.just("/watch%3Fv%3DdQw4w9WgXcQ")),
        ),
        max_size=3,
    ).map(lambda pairs: "?" + "&".join(pairs) if pairs else ""),
    st.sampled_from(["", "#t=42", " ", "\n", "%00", "&", "?", "/extra", "é"]),
)
any_source = st.one_of(
    st.text(max_size=60),
    url_like,
    st.sampled_from(["", " ", ".", "..", "/", "~", "~nosuchuser/x.srt", "x" * 300 + ".srt",
                     "a\x00b.srt", "https://www.youtube.com/watch?v=" + "a" * 4096]),
)


@pytest.fixture
def offline(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, youtube_responses: Path
) -> Iterator[None]:
    """The recorded YouTube behind ``responses``; no socket; no backoff; an empty cwd."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("the network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(youtube_fetch, "_sleep", lambda seconds: None)
    monkeypatch.chdir(tmp_path)
    with fake_youtube(youtube_responses):
        yield


@COMMON
@given(text=st.one_of(st.text(), url_like))
def test_parse_video_id_of_any_string(text: str) -> None:
    event("URL-like" if "/" in text or "." in text else "other text")
    result = outcome(lambda: parse_video_id(text))
    if not isinstance(result, InvalidVideoIdError):
        assert is_video_id(result)


@SMALL
@given(text=any_source)
def test_expand_and_load_any_source(offline: None, text: str) -> None:
    expanded = outcome(lambda: expand_sources([text]))
    event(f"expand_sources: {type(expanded).__name__}")
    if isinstance(expanded, list):
        assert all(isinstance(item, Path) or is_video_id(item) for item in expanded)
        for item in expanded:
            check_transcript_or_error(outcome(lambda item=item: load_transcript(item)))
    loaded = outcome(lambda: load_transcript(text))
    event(f"load_transcript: {type(loaded).__name__}")
    check_transcript_or_error(loaded)


def check_transcript_or_error(result: object) -> None:
    if not isinstance(result, YtqaError):
        check_transcript(result)
