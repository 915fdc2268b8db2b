"""Swapping presets: videos indexed with one preset are carried to another from the cache.

Real transcripts, real MiniLM and MPNet models, a real Chroma index. YouTube is
mocked with ``responses`` from recorded answers for the one fetched video; the
carrying over itself runs with ``responses`` active and nothing registered, so
any HTTP request would fail the test.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner, Result

from tests.store_support import shared_transcript
from tests.test_chain import RecordingChatModel
from tests.youtube_support import fake_youtube
from ytqa import (
    TranscriptCacheMissError,
    VideoIndexError,
    build_chain,
    build_retriever,
    chunk_transcript,
)
from ytqa.cli import cli
from ytqa.config import cache_dir, ytqa_home
from ytqa.index import VideoIndex, known_videos
from ytqa.transcripts import Transcript, load_transcript, read_transcript_file

pytestmark = pytest.mark.slow

FETCHED = "GJLlxj_dtq8"  # the video of the recorded YouTube answers
ROBOTS = "DHyUYg8X31c"  # Kurzgesagt: do robots deserve rights?


def run(*args: str, home: Path) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _write_srt(transcript: Transcript, path: Path) -> Path:
    def stamp(seconds: float) -> str:
        ms = round(seconds * 1000)
        return f"{ms // 3_600_000:02}:{ms // 60_000 % 60:02}:{ms // 1000 % 60:02},{ms % 1000:03}"

    cues = [
        f"{i}\n{stamp(s.start)} --> {stamp(s.end)}\n{s.text}\n"
        for i, s in enumerate(transcript.segments, 1)
    ]
    path.write_text("\n".join(cues), encoding="utf-8")
    return path


@pytest.fixture
def minilm_home(
    tmp_path: Path, transcripts_dir: Path, youtube_responses: Path, minilm: Path
) -> dict[str, Transcript]:
    """A ytqa home whose MiniLM index holds two videos: one fetched from YouTube, one file.

    The file is a copy of the first 40 cues of a real talk, in a temporary folder.
    Returns the indexed transcripts by video ID.
    """
    talk = _write_srt(
        shared_transcript(transcripts_dir, f"{ROBOTS}.srt", cues=24), tmp_path / f"{ROBOTS}.srt"
    )
    with fake_youtube(youtube_responses):
        report = VideoIndex("minilm").add_many([FETCHED, str(talk)])
    assert report.ok and len(report.added) == 2, report.to_dict()
    return {FETCHED: load_transcript(FETCHED), ROBOTS: read_transcript_file(talk)}


def test_build_chain_with_another_preset_finds_every_video_without_http(
    minilm_home: dict[str, Transcript], tmp_path: Path, mpnet: Path
) -> None:
    # The file changes after indexing: the cached copy, which was indexed, wins.
    (tmp_path / f"{ROBOTS}.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nchanged\n")

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        chain = build_chain(model="mpnet", llm=RecordingChatModel(), k=3)
        documents = chain.invoke({"query": "Should robots have rights?"})["source_documents"]
        assert len(mock.calls) == 0

    index = chain.retriever.index
    assert index.preset.key == "mpnet"
    counts = {record.video_id: record.chunks for record in index.videos()}
    expected = {
        video_id: len(chunk_transcript(transcript, model="mpnet"))
        for video_id, transcript in minilm_home.items()
    }
    assert counts == expected
    assert index.count() == sum(expected.values())
    assert documents and documents[0].metadata["video_id"] == ROBOTS
    assert "changed" not in " ".join(d.page_content for d in documents)


def test_reindex_twice_adds_nothing_the_second_time(
    minilm_home: dict[str, Transcript], mpnet: Path
) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        first = run("reindex", "--model", "mpnet", home=ytqa_home())
        second = run("reindex", "--model", "mpnet", "--json", home=ytqa_home())
        assert len(mock.calls) == 0

    assert first.exit_code == 0, first.output
    assert "2 added, 0 already there, 0 failed (mpnet)" in first.output
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["added"] == []
    assert sorted(item["video_id"] for item in report["skipped"]) == sorted(minilm_home)
    assert report["failed"] == []

    listed = json.loads(run("list", "--model", "mpnet", "--json", home=ytqa_home()).output)
    assert {record["video_id"]: record["presets"] for record in listed} == {
        FETCHED: ["minilm", "mpnet"],
        ROBOTS: ["minilm", "mpnet"],
    }
    text = run("list", home=ytqa_home()).output
    # Beside each preset, the transcript its index holds.
    assert re.search(rf"^{FETCHED} .* minilm \(youtube manual\), mpnet \(youtube manual\) ",
                     text, re.M), text
    assert re.search(rf"^{ROBOTS} .* minilm \(srt\), mpnet \(srt\) ", text, re.M), text


def test_missing_cache_entry_is_reported(
    minilm_home: dict[str, Transcript], mpnet: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shutil.rmtree(cache_dir() / FETCHED)
    # The file's cached copy is gone too, but the file itself is still there.
    shutil.rmtree(cache_dir() / ROBOTS)
    other = VideoIndex("minilm", collection_name="ytqa-minilm-copy")

    with caplog.at_level(logging.WARNING, logger="ytqa"):
        report = other.sync()

    assert [item.video_id for item in report.added] == [ROBOTS]
    assert [failure.source for failure in report.failed] == [FETCHED]
    error = report.failed[0].error
    assert isinstance(error, TranscriptCacheMissError)
    assert f"ytqa.VideoIndex().add({FETCHED!r})" in str(error)
    assert any(FETCHED in message for message in caplog.messages)
    assert not other.has_video(FETCHED)
    assert [(r.video_id, r.chunks) for r in other.videos()] == [
        (ROBOTS, len(chunk_transcript(minilm_home[ROBOTS], model="minilm")))
    ]

    result = run("reindex", "--model", "mpnet", home=ytqa_home())
    assert result.exit_code == 1, result.output
    assert f"failed   {FETCHED}: The cached transcript of video {FETCHED} is gone" in result.output
    assert f"from YouTube, ytqa ingest {FETCHED}, or from its file" in result.output
    assert "1 added, 0 already there, 1 failed (mpnet)" in result.output


def test_sync_from_one_preset_only(minilm_home: dict[str, Transcript]) -> None:
    other = VideoIndex("minilm", collection_name="ytqa-minilm-copy")
    report = other.sync(from_model="minilm")
    assert sorted(item.video_id for item in report.added) == sorted(minilm_home)
    assert other.sync(from_model="minilm").added == []
    with pytest.raises(VideoIndexError, match="holds no videos"):
        other.sync(from_model="mpnet")


# ---------------------------------------------------------------------------
# Removed videos stay removed. A second MiniLM collection stands in for another
# preset's index: sync treats every collection alike, and MiniLM keeps it quick.
# ---------------------------------------------------------------------------

COPY = "ytqa-minilm-copy"


def test_a_removed_video_is_not_carried_back_until_added_again(
    minilm_home: dict[str, Transcript],
) -> None:
    copy = VideoIndex("minilm", collection_name=COPY)
    assert len(copy.sync().added) == 2
    assert VideoIndex("minilm").remove(FETCHED) > 0

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        retriever = build_retriever(model="minilm", k=20)  # syncs from the copy
        documents = retriever.invoke("What is this video about?")
        report = retriever.index.sync()
        assert len(mock.calls) == 0
    index = retriever.index
    assert [record.video_id for record in index.videos()] == [ROBOTS]
    assert not index.has_video(FETCHED) and index.pending() == []
    assert index.count() == len(chunk_transcript(minilm_home[ROBOTS], model="minilm"))
    assert {d.metadata["video_id"] for d in documents} == {ROBOTS}
    # Not a candidate at all: neither added nor reported as already there.
    assert report.added == [] and report.failed == []
    assert [item.video_id for item in report.skipped] == [ROBOTS]
    assert copy.has_video(FETCHED)  # the other index keeps it

    # An explicit add clears the tombstone (the transcript comes from the cache).
    with responses.RequestsMock(assert_all_requests_are_fired=False):
        added = index.add(FETCHED)
    assert added == len(chunk_transcript(minilm_home[FETCHED], model="minilm"))
    assert index.has_video(FETCHED)
    assert sorted(item.video_id for item in index.sync().skipped) == sorted(
        minilm_home
    )
    assert index.remove(FETCHED) == added and index.remove(FETCHED) == 0

    # Removed from every index: no index knows it, none is offered it.
    assert copy.remove(FETCHED) > 0
    assert sorted(known_videos(index.client)) == [ROBOTS]
    third = VideoIndex("minilm", collection_name="ytqa-minilm-third")
    assert [item.video_id for item in third.sync().added] == [ROBOTS]


def test_cli_remove_then_reindex_keeps_the_video_out(minilm_home: dict[str, Transcript]) -> None:
    assert len(VideoIndex("minilm", collection_name=COPY).sync().added) == 2
    removed = run("remove", FETCHED, "--model", "minilm", home=ytqa_home())
    assert removed.exit_code == 0, removed.output
    assert f"{FETCHED}: removed" in removed.output

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        result = run("reindex", "--model", "minilm", "--json", home=ytqa_home())
        assert len(mock.calls) == 0
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"] == [] and report["failed"] == []
    assert [item["video_id"] for item in report["skipped"]] == [ROBOTS]
    listed = json.loads(run("list", "--model", "minilm", "--json", home=ytqa_home()).output)
    assert [record["video_id"] for record in listed] == [ROBOTS]
