"""``ytqa doctor`` / check_index / repair_index, and what every command says on a damaged index.

Each case damages a real index on disk the way a user's would be damaged (a
garbled page of ``chroma.sqlite3``, a garbled HNSW file, chunk rows deleted
behind the manifest's back, a process killed mid-add, edited metadata); the
doctor must report it, ``--repair`` must repair it, a search must work again,
and the doctor must then find the index healthy. Real Chroma, real MiniLM, real
subprocesses; YouTube is a `responses` mock that answers nothing, to show
that nothing is fetched.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import chromadb
import pytest
import responses
from click.testing import CliRunner, Result

from tests.offline_models import REPO_ROOT
from tests.store_support import shared_transcript
from tests.test_store import _kill_when_blocked
from ytqa import (
    IndexCorruptError,
    IndexModelMismatchError,
    VideoIndex,
    build_retriever,
    check_index,
    repair_index,
)
from ytqa.cli import cli
from ytqa.config import index_dir
from ytqa.transcripts import video_cache_dir

pytestmark = pytest.mark.slow  # real model, real Chroma, child processes

BEES = "GqA42M4RtxE"  # from "YouTube" (its transcript only in the cache)
WORMHOLES = "9P6rdqiybaw"  # from a transcript file
ROBOTS = "DHyUYg8X31c"  # a third video, for the killed add
QUESTION = "Why are honeybee colonies dying?"


def run(*args: str, home: Path) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def template(
    tmp_path_factory: pytest.TempPathFactory, transcripts_dir: Path, minilm: Path
) -> Path:
    """A ytqa home whose MiniLM index holds two short videos, both in the transcript cache."""
    home = tmp_path_factory.mktemp("template-home")
    bees = shared_transcript(transcripts_dir, f"{BEES}.srt", cues=80)
    wormholes = shared_transcript(transcripts_dir, f"{WORMHOLES}.srt", cues=60)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_HOME", str(home))
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))  # set per test, not yet here
        index = VideoIndex("minilm")
        report = index.add_many([dataclasses.replace(bees, source="youtube"), wormholes])
        assert report.ok and len(report.added) == 2
        index.client.close()  # the files are complete before they are copied
    return home


@pytest.fixture
def home(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the template home, as YTQA_HOME."""
    copy = tmp_path / "home"
    shutil.copytree(template, copy)
    monkeypatch.setenv("YTQA_HOME", str(copy))
    return copy


@pytest.fixture
def no_youtube() -> Iterator[responses.RequestsMock]:
    """A YouTube that answers nothing: any request fails, and is recorded."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _searched_videos(query: str = QUESTION) -> set[str]:
    return {d.metadata["video_id"] for d in build_retriever(index=VideoIndex(), k=8).invoke(query)}


def _assert_healthy_and_searchable(report: Any, videos: set[str]) -> None:
    assert report.healthy, report.remaining
    assert check_index().healthy
    assert {v.video_id for v in VideoIndex().videos()} == videos
    assert _searched_videos() & videos


# ---------------------------------------------------------------------------
# Damaged files
# ---------------------------------------------------------------------------


def _garble_page(database: Path, page: int) -> None:
    """Overwrite page *page* (from 0) of an SQLite file with junk, as a bad disk sector would."""
    size = sqlite3.connect(database).execute("PRAGMA page_size").fetchone()[0]
    with database.open("r+b") as file:
        file.seek(page * size)
        file.write(b"\xde\xad\xbe\xef" * (size // 4))


def _middle_page_of(database: Path, table: str) -> int:
    """The page (from 0) in the middle of *table*'s pages."""
    connection = sqlite3.connect(database)
    query = "SELECT pageno FROM dbstat WHERE name = ?"
    pages = [row[0] for row in connection.execute(query, [table])]
    connection.close()
    assert pages, f"{table} has no pages"
    return sorted(pages)[len(pages) // 2] - 1


def _integrity(database: Path) -> str:
    """SQLite's own verdict on *database*: ``"ok"``, or what is wrong."""
    connection = sqlite3.connect(database)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        connection.close()


def _garble(database: Path, where: str) -> None:
    # Chroma reads its write log (embeddings_queue) on every request; page 1 holds
    # the table of its migrations, read when a client opens the folder.
    page = _middle_page_of(database, "embeddings_queue") if where == "log" else 1
    _garble_page(database, page)
    assert _integrity(database) != "ok"


@pytest.mark.parametrize("where", ["log", "schema"])
def test_every_command_on_a_garbled_database_says_corrupt_and_the_cure(
    home: Path, where: str, transcripts_dir: Path
) -> None:
    folder = home / "index"
    _garble(folder / "chroma.sqlite3", where)

    for command in (
        ["search", QUESTION],
        ["list"],
        ["ingest", str(transcripts_dir / f"{ROBOTS}.srt")],
        ["remove", BEES],
        ["reindex"],
    ):
        result = run(*command, home=home)
        assert result.exit_code == 6, (command, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), (command, result.output)
        assert f"The index in {folder}" in lines[0] and "is corrupt" in lines[0], lines[0]
        assert "ytqa doctor --repair" in lines[0], lines[0]


def test_ask_on_a_garbled_database_says_corrupt_and_the_cure(home: Path, gemma_llm: str) -> None:
    _garble(home / "index" / "chroma.sqlite3", "log")

    result = run("ask", QUESTION, "--llm", gemma_llm, home=home)

    assert result.exit_code == 6, result.output
    # (Loading the LLM shows progress bars first: `ask` loads it before it opens the index.)
    *_, line = result.output.strip().splitlines()
    assert line.startswith("Error: ") and "Traceback" not in result.output
    assert "is corrupt" in line and "ytqa doctor --repair" in line and str(home) in line


@pytest.mark.parametrize("where", ["log", "schema"])
def test_doctor_rebuilds_a_garbled_database_from_the_cache(
    home: Path, where: str, no_youtube: responses.RequestsMock
) -> None:
    folder = home / "index"
    _garble(folder / "chroma.sqlite3", where)

    checked = run("doctor", home=home)
    assert checked.exit_code == 6, checked.output
    assert "corrupt-files: chroma.sqlite3 fails SQLite's integrity check" in checked.output
    assert "ytqa doctor --repair" in checked.output

    repaired = run("doctor", "--repair", home=home)
    assert repaired.exit_code == 0, repaired.output
    [kept] = home.glob("index.corrupt-*")
    assert f"repaired  moved the damaged index to {kept}" in repaired.output
    assert "added 2 videos again from the transcript cache" in repaired.output
    assert "The index is healthy." in repaired.output
    # The damaged files are kept, byte for byte as they were.
    assert sqlite3.connect(kept / "chroma.sqlite3").execute("PRAGMA page_size").fetchone()
    assert [c.request.url for c in no_youtube.calls] == []  # nothing was fetched

    searched = run("search", QUESTION, "-k", "3", home=home)
    assert searched.exit_code == 0 and f"watch?v={BEES}" in searched.output, searched.output
    again = run("doctor", home=home)
    assert again.exit_code == 0 and again.output.strip().endswith("The index is healthy.")
    _assert_healthy_and_searchable(check_index(), {BEES, WORMHOLES})


def test_repair_lists_the_videos_it_cannot_recover_and_how_to_get_them(
    home: Path, no_youtube: responses.RequestsMock
) -> None:
    _garble(home / "index" / "chroma.sqlite3", "log")
    shutil.rmtree(video_cache_dir(BEES))  # its transcript came from YouTube: nowhere else

    result = run("doctor", "--repair", home=home)

    assert result.exit_code == 1, result.output
    assert f"lost      {BEES} (" in result.output
    assert f": ytqa ingest {BEES}" in result.output
    assert "The index is healthy." in result.output
    assert [c.request.url for c in no_youtube.calls] == []
    report = check_index()
    assert report.healthy and [v.video_id for v in VideoIndex().videos()] == [WORMHOLES]


@pytest.fixture(scope="module")
def large_template(
    tmp_path_factory: pytest.TempPathFactory, transcripts_dir: Path, minilm: Path
) -> tuple[Path, set[str]]:
    """A ytqa home with six videos in short chunks: Chroma writes the HNSW files of a
    collection once it holds 1000 vectors (before, they live in its log)."""
    home = tmp_path_factory.mktemp("large-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_HOME", str(home))
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))  # set per test, not yet here
        index = VideoIndex("minilm")
        report = index.add_many(
            sorted(transcripts_dir.glob("*.srt"))[:6], max_tokens=16, overlap_tokens=0
        )
        assert report.ok and sum(a.chunks for a in report.added) > 1000
        index.client.close()
    return home, {a.video_id for a in report.added}


def _vector_segment(folder: Path, collection: str) -> Path:
    connection = sqlite3.connect(folder / "chroma.sqlite3")
    [(segment,)] = connection.execute(
        "SELECT s.id FROM segments s JOIN collections c ON s.collection = c.id "
        "WHERE c.name = ? AND s.scope = 'VECTOR'",
        [collection],
    ).fetchall()
    connection.close()
    return folder / segment


def _garble_file(path: Path, *, start: int, length: int) -> None:
    data = bytearray(path.read_bytes())
    data[start : start + length] = b"\xff" * length
    path.write_bytes(bytes(data))


@pytest.fixture
def large_home(
    large_template: tuple[Path, set[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(large_template[0], copy)
    monkeypatch.setenv("YTQA_HOME", str(copy))
    return copy


def test_a_vector_file_that_crashes_chroma_is_found_and_rebuilt(
    large_home: Path, large_template: tuple[Path, set[str]]
) -> None:
    folder = large_home / "index"
    segment = _vector_segment(folder, "ytqa-minilm")
    assert (segment / "data_level0.bin").stat().st_size > 100_000, "no HNSW files written"
    # Bytes 56-59 of hnswlib's header are the graph's entry point: garbled, a search
    # starts from far outside the file and reads unmapped memory.
    _garble_file(segment / "header.bin", start=56, length=4)

    checked = check_index()  # Chroma dies reading it (SIGSEGV): in a child, not here
    assert not checked.healthy
    [problem] = checked.problems
    assert problem.kind == "corrupt-files"
    assert "Chroma crashed (signal" in problem.message and "ytqa-minilm" in problem.message

    repaired = repair_index()
    assert repaired.moved_to is not None and (repaired.moved_to / segment.name).is_dir()
    assert repaired.lost == []
    # Each video keeps the chunking its record named (the manifest was still readable).
    assert sum(v.chunks for v in VideoIndex().videos()) > 1000
    assert all(_record(v)["settings"].startswith("16/0/") for v in large_template[1])
    _assert_healthy_and_searchable(repaired, large_template[1])


def test_a_vector_file_that_does_not_load_is_corrupt_and_named(large_home: Path) -> None:
    folder = large_home / "index"
    header = _vector_segment(folder, "ytqa-minilm") / "header.bin"
    _garble_file(header, start=0, length=100)

    with pytest.raises(IndexCorruptError) as caught:
        VideoIndex().as_retriever().invoke(QUESTION)
    assert f"ytqa.repair_index({str(folder)!r})" in str(caught.value)
    assert "ytqa doctor" not in str(caught.value)  # a library message names the Python call
    assert caught.value.folder == folder

    [problem] = check_index().problems
    assert problem.kind == "corrupt-files"
    assert "the vectors (HNSW files) of collection 'ytqa-minilm' do not load" in problem.message
    # The repair is the rebuild of the test above.


# ---------------------------------------------------------------------------
# An index whose files are sound but whose contents disagree
# ---------------------------------------------------------------------------


def _collections() -> tuple[Any, Any]:
    client = chromadb.PersistentClient(path=str(index_dir()))
    return client.get_collection("ytqa-minilm"), client.get_collection("ytqa-minilm-videos")


def _record(video_id: str) -> dict[str, Any]:
    return dict(_collections()[1].get(ids=[video_id], include=["metadatas"])["metadatas"][0])


def _set_record(video_id: str, **values: Any) -> None:
    _collections()[1].upsert(
        ids=[video_id], embeddings=[[0.0]], metadatas=[{**_record(video_id), **values}]
    )


def _chunk_ids(video_id: str) -> list[str]:
    return sorted(_collections()[0].get(where={"video_id": video_id}, include=[])["ids"])


def test_chunk_rows_deleted_behind_the_manifest_are_added_again(
    home: Path, no_youtube: responses.RequestsMock
) -> None:
    kept = _chunk_ids(BEES)
    _collections()[0].delete(ids=kept[:3])
    # The video still counts as complete, so searches would return part of it.
    assert VideoIndex().has_video(BEES)

    [problem] = check_index().problems
    assert (problem.kind, problem.video_id) == ("missing-chunks", BEES)
    assert f"{len(kept) - 3} chunk rows in the collection, its record says {len(kept)}" in (
        problem.message
    )

    repaired = run("doctor", "--repair", home=home)
    assert repaired.exit_code == 0, repaired.output
    assert _chunk_ids(BEES) == kept  # the same chunks, the same IDs
    assert [c.request.url for c in no_youtube.calls] == []
    _assert_healthy_and_searchable(check_index(), {BEES, WORMHOLES})


_KILLED_ADD = f"""
import sys
from pathlib import Path

from tests.store_support import CountingEmbeddings
from ytqa import VideoIndex, get_embeddings

folder, transcripts = sys.argv[1], Path(sys.argv[2])
# Blocks (after saying so) in its second embedding call: one batch is written.
blocking = CountingEmbeddings(get_embeddings("minilm"), block_on_call=2)
index = VideoIndex(persist_directory=folder, embeddings=blocking, write_batch_size=4)
index.add(transcripts / "{ROBOTS}.srt", max_tokens=64, overlap_tokens=8)
print("FINISHED", flush=True)
"""


def test_a_video_left_pending_by_a_killed_process_is_completed(
    home: Path, transcripts_dir: Path, no_youtube: responses.RequestsMock
) -> None:
    _kill_when_blocked(_KILLED_ADD, home / "index", transcripts_dir, embed_call=2)
    assert VideoIndex().pending() == [ROBOTS] and len(_chunk_ids(ROBOTS)) == 4

    checked = run("doctor", home=home)
    assert checked.exit_code == 6
    assert f"problem   pending: {ROBOTS}: left pending by an add that stopped" in checked.output

    report = repair_index()
    assert [p.video_id for p in report.problems] == [ROBOTS]
    index = VideoIndex()
    assert index.pending() == [] and index.has_video(ROBOTS)
    record = _record(ROBOTS)
    assert record["settings"].startswith("64/8/") and len(_chunk_ids(ROBOTS)) == record["chunks"]
    assert [c.request.url for c in no_youtube.calls] == []
    _assert_healthy_and_searchable(report, {BEES, WORMHOLES, ROBOTS})


_LIVE_ADD = f"""
import sys
import threading
from pathlib import Path

from tests.store_support import CountingEmbeddings
from ytqa import VideoIndex, get_embeddings

folder, transcripts = sys.argv[1], Path(sys.argv[2])
# Blocks in its second embedding call, holding the write lock, until a line comes in.
blocking = CountingEmbeddings(get_embeddings("minilm"), block_on_call=2)
threading.Thread(
    target=lambda: (sys.stdin.readline(), blocking.released.set()), daemon=True
).start()
index = VideoIndex(persist_directory=folder, embeddings=blocking, write_batch_size=4)
index.add(transcripts / "{ROBOTS}.srt", max_tokens=64, overlap_tokens=8)
print("FINISHED", flush=True)
"""


@pytest.mark.parametrize("action", ["check", "repair"])
def test_the_doctor_waits_for_an_add_in_another_process_instead_of_calling_it_stopped(
    home: Path, transcripts_dir: Path, no_youtube: responses.RequestsMock, action: str
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _LIVE_ADD, str(home / "index"), str(transcripts_dir)],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "EMBED CALL 2 REACHED", "the add did not start"
        assert VideoIndex().pending() == [ROBOTS]  # half written, by a live process

        reports: list[Any] = []
        doctor = threading.Thread(
            target=lambda: reports.append(check_index() if action == "check" else repair_index())
        )
        doctor.start()
        doctor.join(timeout=3)
        assert doctor.is_alive() and not reports, "the doctor went on while the add wrote"
        child.stdin.write("go on\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "FINISHED"
        assert child.wait(timeout=60) == 0
        doctor.join(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    [report] = reports
    assert report.problems == [] and report.healthy
    assert report.repaired == [] and report.moved_to is None
    index = VideoIndex()
    assert index.pending() == [] and index.has_video(ROBOTS)
    assert len(_chunk_ids(ROBOTS)) == _record(ROBOTS)["chunks"]


def test_a_tampered_fingerprint_is_restored_without_embedding_again(
    home: Path, no_youtube: responses.RequestsMock
) -> None:
    true = _record(BEES)["fingerprint"]
    ids = _chunk_ids(BEES)
    _set_record(BEES, fingerprint="0" * 20)
    assert BEES not in _searched_videos()  # its chunks no longer match: hidden

    [problem] = check_index().problems
    assert (problem.kind, problem.video_id) == ("fingerprint", BEES)
    assert true in problem.message

    report = repair_index()
    assert _record(BEES)["fingerprint"] == true and _chunk_ids(BEES) == ids
    _assert_healthy_and_searchable(report, {BEES, WORMHOLES})
    assert BEES in _searched_videos()


def test_stray_chunk_rows_are_deleted(home: Path) -> None:
    _collections()[0].upsert(
        ids=["stray:0:0"],
        embeddings=[[0.1] * 384],
        documents=["left over"],
        metadatas=[{"video_id": "zzzzzzzzzzz", "ytqa_fingerprint": "0"}],
    )
    [problem] = check_index().problems
    assert (problem.kind, problem.video_id) == ("stray-chunks", "zzzzzzzzzzz")

    report = repair_index()
    assert _collections()[0].get(ids=["stray:0:0"])["ids"] == []
    _assert_healthy_and_searchable(report, {BEES, WORMHOLES})


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("ytqa_dimension", 768, "dimension=768 (expected 384)"),
        ("ytqa_preset", "mpnet", "preset='mpnet' (expected 'minilm')"),
        ("ytqa_max_tokens", 100_000, "max_tokens=100000"),
        ("ytqa_overlap_tokens", "lots", "overlap_tokens='lots'"),
    ],
)
def test_tampered_collection_metadata_is_rewritten(
    home: Path, key: str, value: Any, shown: str
) -> None:
    chunks, _ = _collections()
    chunks.modify(metadata={**chunks.metadata, key: value})

    [problem] = check_index().problems
    assert problem.kind == "metadata" and shown in problem.message

    repaired = run("doctor", "--repair", home=home)
    assert repaired.exit_code == 0, repaired.output
    assert "repaired  ytqa-minilm: rewrote its metadata for 'minilm'" in repaired.output
    assert _collections()[0].metadata[key] != value
    _assert_healthy_and_searchable(check_index(), {BEES, WORMHOLES})


def test_a_tampered_dimension_points_to_the_repair_not_to_the_same_model(home: Path) -> None:
    chunks, _ = _collections()
    chunks.modify(metadata={**chunks.metadata, "ytqa_dimension": 768})

    with pytest.raises(IndexCorruptError) as caught:
        VideoIndex("minilm")
    message = str(caught.value)
    assert not isinstance(caught.value, IndexModelMismatchError)
    assert "model=" not in message and "inconsistent" in message
    assert f"ytqa.repair_index({str(index_dir())!r})" in message
    assert "ytqa doctor" not in message

    result = run("search", QUESTION, home=home)
    assert result.exit_code == 6
    assert "--model" not in result.output and "ytqa doctor --repair" in result.output


def test_a_real_model_mismatch_still_names_the_model(home: Path) -> None:
    with pytest.raises(IndexModelMismatchError, match="model='minilm'"):
        VideoIndex("mpnet", collection_name="ytqa-minilm")


def test_a_healthy_index_and_a_missing_one_are_healthy(home: Path, tmp_path: Path) -> None:
    report = check_index()
    assert report.healthy and report.problems == []
    assert report.collections == ["ytqa-minilm"] and report.videos == 2
    assert check_index(tmp_path / "nothing-here").healthy
    assert not (tmp_path / "nothing-here").exists()  # checking creates nothing
    result = run("doctor", "--json", home=home)
    assert result.exit_code == 0 and '"healthy": true' in result.output
