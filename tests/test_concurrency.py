"""Several processes on one embedded index: readers see what writers add, writers take turns.

Chroma's embedded client keeps each collection's vector index in memory and
never reloads it, so a process that keeps an index open must reopen it when
another process writes (docs/troubleshooting.md, "Several processes"). Every
writer here is a real subprocess (the installed ``ytqa`` script, or a script
that stops inside its write); the readers are this process. Real MiniLM, real
Chroma, real shared transcripts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from langchain_core.documents import Document

from tests.offline_models import REPO_ROOT
from tests.store_support import shared_transcript
from ytqa import Transcript, VideoIndex, build_retriever
from ytqa.config import index_dir
from ytqa.index import VERSION_SUFFIX

pytestmark = pytest.mark.slow  # real model, real Chroma, real processes

TESLA = "-NtSZQHRc-I"  # Biographics: Nikola Tesla
BEES = "GqA42M4RtxE"  # Kurzgesagt: honeybee decline
TESLA_QUESTION = "Did Nikola Tesla do military service?"
BEES_QUESTION = "Why are honeybee colonies dying, pesticides or mites?"
# Twelve other videos, cut short, for an ingest that takes several write groups.
TWELVE = (
    "1fQkVqno-uI", "5TbUxGZtwGI", "9P6rdqiybaw", "9tbxDgcv74c", "DHyUYg8X31c", "JQVmkDUkZT4",
    "S1l9oDiSiEQ", "3FrqxC6OTAw", "-82gNL8XeWg", "-JtkOprZjYU", "9Y_YumLrSYA", "4rjn7yo3NJU",
)
WAITING = "Another process is writing to the index"


def ytqa_script() -> str:
    script = shutil.which("ytqa", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the ytqa console script is not installed (pip install -e .)")
    return script


def child_env() -> dict[str, str]:
    """This test's ytqa home and models, with this checkout's ytqa first on the path."""
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}


def write_srt(transcript: Transcript, path: Path) -> Path:
    """*transcript* as an SRT file (the shape of the shared ``.srt`` files)."""

    def stamp(seconds: float) -> str:
        whole, millis = divmod(round(seconds * 1000), 1000)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d},{millis:03d}"

    cues = [
        f"{number}\n{stamp(s.start)} --> {stamp(s.start + s.duration)}\n{s.text}\n"
        for number, s in enumerate(transcript.segments, 1)
    ]
    path.write_text("\n".join(cues), encoding="utf-8")
    return path


@pytest.fixture
def index(minilm: Path, transcripts_dir: Path) -> VideoIndex:
    """The default embedded index of this test's ytqa home, holding the honeybee video."""
    opened = VideoIndex()
    opened.add(shared_transcript(transcripts_dir, f"{BEES}.srt", cues=80))
    return opened


def _videos(documents: list[Document]) -> set[str]:
    return {document.metadata["video_id"] for document in documents}


def test_a_retriever_opened_before_another_process_ingests_finds_its_videos(
    index: VideoIndex, transcripts_dir: Path, tmp_path: Path
) -> None:
    retriever = build_retriever(index=index, k=3)
    plain = index.as_retriever(search_kwargs={"k": 3})
    assert _videos(retriever.invoke(TESLA_QUESTION)) == {BEES}

    tesla = shutil.copy(transcripts_dir / f"{TESLA}.srt", tmp_path)
    subprocess.run([ytqa_script(), "ingest", str(tesla)], env=child_env(), check=True,
                   capture_output=True, timeout=300)

    # The very next search of this long-lived process finds the video added elsewhere.
    assert retriever.invoke(TESLA_QUESTION)[0].metadata["video_id"] == TESLA
    assert TESLA in _videos(plain.invoke(TESLA_QUESTION))
    assert {record.video_id for record in index.videos()} == {BEES, TESLA}


def test_a_search_chroma_fails_after_an_unannounced_write_is_retried(
    index: VideoIndex, transcripts_dir: Path, tmp_path: Path
) -> None:
    """A writer that leaves no new version (an older ytqa, another tool): the reader's
    vector index lacks its chunks, and a filtered search makes Chroma fail ("Error
    finding id"); the retriever reopens the index and searches again."""
    assert _videos(build_retriever(index=index, k=2).invoke(TESLA_QUESTION)) == {BEES}
    version = index_dir() / f"{index.collection_name}{VERSION_SUFFIX}"
    before = version.read_bytes()
    tesla = shutil.copy(transcripts_dir / f"{TESLA}.srt", tmp_path)
    subprocess.run([ytqa_script(), "ingest", str(tesla)], env=child_env(), check=True,
                   capture_output=True, timeout=300)
    version.write_bytes(before)  # as such a writer leaves it

    retriever = build_retriever(index=index, video_ids=[TESLA], k=2)
    assert _videos(retriever.invoke(TESLA_QUESTION)) == {TESLA}
    plain = index.as_retriever(video_ids=[TESLA], search_kwargs={"k": 2})
    assert _videos(plain.invoke(TESLA_QUESTION)) == {TESLA}


def test_a_reader_searching_during_an_ingest_gets_no_error_and_no_part_of_a_video(
    index: VideoIndex, transcripts_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "twelve"
    folder.mkdir()
    for video_id in TWELVE:
        write_srt(shared_transcript(transcripts_dir, f"{video_id}.srt", cues=100),
                  folder / f"{video_id}.srt")
    retriever = build_retriever(index=index, k=4, window=0)
    questions = [BEES_QUESTION, "wormholes and time travel", "robots and rights",
                 "the Basque language", "Egypt and the army", "writing systems history"]

    writer = subprocess.Popen([ytqa_script(), "ingest", str(folder)], env=child_env(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: list[tuple[float, list[Document]]] = []
    errors: list[BaseException] = []
    try:
        while writer.poll() is None:
            try:
                found = retriever.invoke(questions[len(results) % len(questions)])
            except Exception as exc:  # what the reader must never get
                errors.append(exc)
                continue
            results.append((time.time(), found))
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.wait(timeout=60)
    assert writer.returncode == 0
    searches = len(errors) + len(results)
    assert errors == [], f"{len(errors)} of {searches} searches failed, first: {errors[0]!r}"

    records = {record.video_id: record for record in index.videos()}
    assert set(records) == {BEES, *TWELVE}
    fingerprints = {video_id: index._record(video_id)["fingerprint"] for video_id in records}
    seen: set[str] = set()
    for returned_at, documents in results:
        for document in documents:
            video_id = document.metadata["video_id"]
            # Only complete videos: ready before the search returned, chunks of that version.
            assert records[video_id].added_at <= returned_at, f"{video_id} before it was ready"
            assert str(document.id).startswith(f"{video_id}:{fingerprints[video_id]}:")
            seen.add(video_id)
    assert len(results) > 10 and seen > {BEES}, "the reader saw videos added during the ingest"
    assert retriever.invoke("the Basque language")[0].metadata["video_id"] == "S1l9oDiSiEQ"


_BLOCKED_WRITER = textwrap.dedent(
    """
    import sys
    import threading
    from pathlib import Path

    from tests.store_support import CountingEmbeddings, shared_transcript
    from ytqa import VideoIndex, get_embeddings

    # Stops (after saying so) in its first embedding call, inside the write, until
    # a line arrives on stdin.
    blocking = CountingEmbeddings(get_embeddings("minilm"), block_on_call=1)
    threading.Thread(target=lambda: (sys.stdin.readline(), blocking.released.set())).start()
    index = VideoIndex(persist_directory=sys.argv[1], embeddings=blocking)
    index.add(shared_transcript(Path(sys.argv[2]), "{video}.srt", cues=40))
    print("FINISHED", flush=True)
    """
).format(video=TWELVE[0])


def test_writers_in_two_processes_take_turns(
    index: VideoIndex, transcripts_dir: Path, tmp_path: Path
) -> None:
    first = subprocess.Popen(
        [sys.executable, "-c", _BLOCKED_WRITER, str(index_dir()), str(transcripts_dir)],
        cwd=REPO_ROOT, env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True,
    )
    tesla = shutil.copy(transcripts_dir / f"{TESLA}.srt", tmp_path)
    second_err = tmp_path / "second.err"
    second = None
    try:
        assert first.stdin is not None and first.stdout is not None
        assert first.stdout.readline().strip() == "EMBED CALL 1 REACHED"
        assert index.pending() == [TWELVE[0]]  # the first writer is inside its write

        with second_err.open("w") as err:
            second = subprocess.Popen([ytqa_script(), "ingest", "--verbose", str(tesla)],
                                      env=child_env(),
                                      stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 240
        while WAITING not in second_err.read_text() and second.poll() is None:
            assert time.monotonic() < deadline, "the second writer neither waited nor finished"
            time.sleep(0.2)
        assert second.poll() is None, "the second writer wrote while the first held the index"
        # It waits before writing anything; readers are not held up meanwhile.
        assert index.pending() == [TWELVE[0]] and not index.has_video(TESLA)
        assert _videos(build_retriever(index=index, k=2).invoke(BEES_QUESTION)) == {BEES}

        first.stdin.write("go on\n")
        first.stdin.flush()
        assert first.stdout.readline().strip() == "FINISHED"
        assert first.wait(timeout=120) == 0
        out, _ = second.communicate(timeout=300)
        assert second.returncode == 0, second_err.read_text()
        assert f"added    {TESLA}" in out
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    assert {record.video_id for record in index.videos()} == {BEES, TWELVE[0], TESLA}
    assert index.pending() == []
    collection = index.client.get_collection(index.collection_name)
    assert collection.count() == index.count()
    assert build_retriever(index=index, k=1).invoke(TESLA_QUESTION)[0].metadata["video_id"] == TESLA


def test_concurrent_cli_writers_all_land(
    index: VideoIndex, transcripts_dir: Path, tmp_path: Path
) -> None:
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder, video_ids in zip(folders, (TWELVE[:3], TWELVE[3:6]), strict=True):
        folder.mkdir()
        for video_id in video_ids:
            write_srt(shared_transcript(transcripts_dir, f"{video_id}.srt", cues=60),
                      folder / f"{video_id}.srt")
    writers = [subprocess.Popen([ytqa_script(), "ingest", str(folder)], env=child_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
               for folder in folders]
    assert [writer.wait(timeout=300) for writer in writers] == [0, 0]

    assert {record.video_id for record in index.videos()} == {BEES, *TWELVE[:6]}
    collection = index.client.get_collection(index.collection_name)
    assert collection.count() == index.count() and index.pending() == []
    found = build_retriever(index=index, k=1).invoke("Could a wormhole let us travel in time?")
    assert found[0].metadata["video_id"] == "9P6rdqiybaw"  # written by the first writer
    found = build_retriever(index=index, k=1).invoke("Do robots deserve rights?")
    assert found[0].metadata["video_id"] == "DHyUYg8X31c"  # by the second
