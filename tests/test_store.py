"""VideoIndex: a Chroma collection per preset that holds each video completely or not at all.

Real Chroma (embedded, in memory, and a real ``chroma run`` server), real
MiniLM embeddings wrapped in a counter (tests/store_support.py), real shared
transcripts.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings

from tests.offline_models import REPO_ROOT
from tests.store_support import CountingEmbeddings, shared_transcript
from ytqa import (
    EmbeddingModelError,
    IndexModelMismatchError,
    Transcript,
    VideoIndex,
    VideoIndexError,
    build_retriever,
    chunk_transcript,
    get_embeddings,
)
from ytqa.config import index_dir
from ytqa.embeddings import EmbeddingPreset
from ytqa.index import CHUNK_ROW_FIELDS
from ytqa.transcripts import read_transcript_file

pytestmark = pytest.mark.slow  # real model, real Chroma

BEES = "GqA42M4RtxE"  # honeybee decline
WORMHOLES = "9P6rdqiybaw"
BEES_QUESTION = "Why are honeybee colonies dying, pesticides or mites?"
# Explicit chunking for the all-or-nothing tests, so that an add takes several
# batches whatever the defaults are.
SMALL = {"max_tokens": 64, "overlap_tokens": 8}


@pytest.fixture(scope="module")
def embeddings(minilm: Path) -> Embeddings:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        return get_embeddings("minilm")


@pytest.fixture
def counting(embeddings: Embeddings) -> CountingEmbeddings:
    return CountingEmbeddings(embeddings)


@pytest.fixture(scope="module")
def bees(transcripts_dir: Path) -> Transcript:
    return shared_transcript(transcripts_dir, f"{BEES}.srt", cues=80)


@pytest.fixture(scope="module")
def wormholes(transcripts_dir: Path) -> Transcript:
    return shared_transcript(transcripts_dir, f"{WORMHOLES}.srt", cues=60)


def _chunk_ids(index: VideoIndex, video_id: str) -> list[str]:
    """IDs of the chunks of *video_id* physically in the collection (ready or not)."""
    collection = index.client.get_collection(index.collection_name)
    return sorted(collection.get(where={"video_id": video_id}, include=[])["ids"])


def _retrieved_videos(index: VideoIndex, query: str, k: int = 50) -> set[str]:
    docs = index.as_retriever(search_kwargs={"k": k}).invoke(query)
    return {d.metadata["video_id"] for d in docs}


# ---------------------------------------------------------------------------
# Where the index lives; one collection per preset
# ---------------------------------------------------------------------------


def test_persistent_by_default_under_ytqa_home(
    counting: CountingEmbeddings, bees: Transcript
) -> None:
    index = VideoIndex(embeddings=counting)
    expected = len(chunk_transcript(bees, **index.chunking._asdict()))
    assert index.add(bees) == expected
    assert (index_dir() / "chroma.sqlite3").is_file()
    assert index_dir().parent == Path(os.environ["YTQA_HOME"])

    reopened = VideoIndex(embeddings=counting)
    assert reopened.has_video(BEES)
    [record] = reopened.videos()
    assert (record.video_id, record.chunks, record.language) == (BEES, expected, bees.language_code)
    assert reopened.count() == expected


def test_in_memory_indexes_are_private(
    counting: CountingEmbeddings, bees: Transcript, tmp_path: Path
) -> None:
    with VideoIndex(in_memory=True, embeddings=counting) as first:
        second = VideoIndex(in_memory=True, embeddings=counting)
        assert first.add(bees) > 0
        assert first.has_video(BEES) and not second.has_video(BEES)
        assert second.videos() == []
    assert not index_dir().exists()
    with pytest.raises(VideoIndexError, match="only one of"):
        VideoIndex(in_memory=True, persist_directory=tmp_path)


def test_collection_records_preset_and_chunking_and_refuses_another_model(
    counting: CountingEmbeddings, bees: Transcript, tmp_path: Path
) -> None:
    index = VideoIndex("minilm", persist_directory=tmp_path, embeddings=counting)
    assert index.collection_name == "ytqa-minilm"
    index.add(bees, max_tokens=100, overlap_tokens=20)
    collection = index.client.get_collection("ytqa-minilm")
    meta = collection.metadata
    assert (meta["ytqa_preset"], meta["ytqa_model"], meta["ytqa_dimension"]) == (
        "minilm",
        "sentence-transformers/all-MiniLM-L6-v2",
        384,
    )
    assert (meta["ytqa_max_tokens"], meta["ytqa_overlap_tokens"]) == tuple(index.chunking)
    assert collection.configuration["hnsw"]["space"] == "cosine"

    # Another preset gets its own collection beside it...
    mpnet = VideoIndex("mpnet", persist_directory=tmp_path, embeddings=counting)
    assert mpnet.collection_name == "ytqa-mpnet"
    assert mpnet.videos() == []
    # ...and is refused on this one: no mixing of vector spaces.
    with pytest.raises(IndexModelMismatchError) as caught:
        VideoIndex("mpnet", persist_directory=tmp_path, collection_name="ytqa-minilm")
    assert caught.value.built_with == "minilm" and caught.value.asked == "mpnet"
    assert "model='minilm'" in str(caught.value)
    # Same key but another model (a re-registered preset) is refused as well.
    impostor = EmbeddingPreset("minilm", "someone/other-model", 384, 256)
    with pytest.raises(IndexModelMismatchError, match="all-MiniLM-L6-v2"):
        VideoIndex(impostor, persist_directory=tmp_path)

    # A collection ytqa did not write is left alone.
    foreign = index.client.create_collection("not-ytqa")
    foreign.add(ids=["x"], embeddings=[[0.0] * 384], documents=["x"])
    with pytest.raises(VideoIndexError, match="did not write"):
        VideoIndex(persist_directory=tmp_path, collection_name="not-ytqa")
    with pytest.raises(VideoIndexError, match="Invalid collection name"):
        VideoIndex(persist_directory=tmp_path, collection_name="no")


# ---------------------------------------------------------------------------
# Adding, listing, removing, searching
# ---------------------------------------------------------------------------


def test_add_list_search_and_remove(
    counting: CountingEmbeddings, bees: Transcript, wormholes: Transcript
) -> None:
    index = VideoIndex(in_memory=True, embeddings=counting)
    added = index.add(bees)
    assert added == len(_chunk_ids(index, BEES)) > 3
    assert counting.texts == added
    assert index.add(wormholes) > 0
    assert [v.video_id for v in index.videos()] == [BEES, WORMHOLES]
    assert index.has_video(BEES) and not index.has_video("dQw4w9WgXcQ")

    from langchain_chroma import Chroma

    assert isinstance(index.vectorstore, Chroma)
    top = index.vectorstore.similarity_search(BEES_QUESTION, k=1)[0]
    assert top.metadata["video_id"] == BEES
    docs = index.as_retriever(search_kwargs={"k": 3}).invoke("How do wormholes stay open?")
    assert len(docs) == 3 and docs[0].metadata["video_id"] == WORMHOLES
    assert docs[0].metadata["url"].startswith(f"https://www.youtube.com/watch?v={WORMHOLES}&t=")
    only = index.as_retriever(video_ids=[BEES], search_kwargs={"k": 5}).invoke("wormholes")
    assert {d.metadata["video_id"] for d in only} == {BEES}

    assert index.remove(BEES) == added
    assert not index.has_video(BEES) and _chunk_ids(index, BEES) == []
    assert _retrieved_videos(index, BEES_QUESTION) == {WORMHOLES}
    assert index.remove(BEES) == 0


def test_rows_keep_chunk_fields_and_the_video_fields_come_from_the_manifest(
    embeddings: Embeddings, bees: Transcript, tmp_path: Path
) -> None:
    titled = dataclasses.replace(bees, title="Why bees die", channel="Science Channel")
    index = VideoIndex(persist_directory=tmp_path, embeddings=embeddings)
    index.add(titled)
    # Each Chroma row holds its chunk's own fields; title, channel, language and
    # is_generated are stored once per video, in the manifest.
    rows = index.client.get_collection(index.collection_name).get(include=["metadatas"])
    assert rows["metadatas"]
    assert all(set(row) == {*CHUNK_ROW_FIELDS, "ytqa_fingerprint"} for row in rows["metadatas"])

    raw = index.vectorstore.similarity_search(BEES_QUESTION, k=3)
    assert all("title" not in doc.metadata for doc in raw)
    passages = build_retriever(index=index, k=3).invoke(BEES_QUESTION)
    for docs in (
        index.attach_video_metadata(raw),
        index.as_retriever(search_kwargs={"k": 3}).invoke(BEES_QUESTION),
        passages,
    ):
        assert len(docs) == 3
        for doc in docs:
            meta = doc.metadata
            assert (meta["video_id"], meta["title"], meta["channel"]) == (
                BEES,
                "Why bees die",
                "Science Channel",
            )
            assert meta["language"] == titled.language_code
            assert meta["is_generated"] is titled.is_generated
            # Links open at the cited moment: the passage's lead-in, else the chunk start.
            moment = meta.get("cited_start", meta["start"])
            assert meta["url"] == meta["source"] == titled.link(moment)
    assert all("cited_start" in doc.metadata for doc in passages)


def test_re_adding_the_same_video_embeds_nothing(
    counting: CountingEmbeddings, transcripts_dir: Path, tmp_path: Path
) -> None:
    index = VideoIndex(persist_directory=tmp_path, embeddings=counting)
    path = transcripts_dir / f"{WORMHOLES}.srt"
    wormholes_file = read_transcript_file(path)
    first = index.add(path)
    calls, texts = counting.calls, counting.texts
    assert first > 10 and texts == first

    # Same file, same preset and chunking: nothing is embedded, nothing changes.
    assert index.add(path) == 0
    assert index.add(path, max_tokens=index.chunking.max_tokens) == 0
    assert VideoIndex(persist_directory=tmp_path, embeddings=counting).add(path) == 0
    assert (counting.calls, counting.texts) == (calls, texts)

    # Other chunking replaces the chunks: old ones gone, new ones embedded.
    old_ids = set(_chunk_ids(index, WORMHOLES))
    other = 96 if index.chunking.max_tokens != 96 else 64
    second = index.add(path, max_tokens=other, overlap_tokens=0)
    assert second == len(chunk_transcript(wormholes_file, max_tokens=other, overlap_tokens=0))
    assert counting.texts == texts + second
    new_ids = set(_chunk_ids(index, WORMHOLES))
    assert len(new_ids) == second and not new_ids & old_ids
    assert [v.chunks for v in index.videos()] == [second]


def test_empty_transcript_is_refused(counting: CountingEmbeddings, bees: Transcript) -> None:
    index = VideoIndex(in_memory=True, embeddings=counting)
    with pytest.raises(VideoIndexError, match="no text"):
        index.add(dataclasses.replace(bees, segments=()))
    assert index.videos() == [] and counting.calls == 0


# ---------------------------------------------------------------------------
# All or nothing
# ---------------------------------------------------------------------------


def test_an_add_that_fails_between_batches_leaves_nothing_visible(
    embeddings: Embeddings, bees: Transcript, wormholes: Transcript, tmp_path: Path
) -> None:
    VideoIndex(persist_directory=tmp_path, embeddings=embeddings).add(wormholes)
    failing = CountingEmbeddings(embeddings, fail_on_call=3)
    index = VideoIndex(persist_directory=tmp_path, embeddings=failing, write_batch_size=4)
    with pytest.raises(EmbeddingModelError, match="injected") as caught:
        index.add(bees, **SMALL)
    assert caught.value.__cause__ is not None
    # Two batches reached Chroma, but queries never see them.
    assert len(_chunk_ids(index, BEES)) == 8
    assert not index.has_video(BEES) and index.pending() == [BEES]
    assert [v.video_id for v in index.videos()] == [WORMHOLES]
    assert _retrieved_videos(index, BEES_QUESTION) == {WORMHOLES}
    assert index.count() == len(_chunk_ids(index, WORMHOLES))

    # Adding again completes the job, embedding only what is missing.
    again = CountingEmbeddings(embeddings)
    index = VideoIndex(persist_directory=tmp_path, embeddings=again, write_batch_size=4)
    total = index.add(bees, **SMALL)
    assert total == len(_chunk_ids(index, BEES)) and again.texts == total - 8
    assert index.has_video(BEES) and index.pending() == []
    assert BEES in _retrieved_videos(index, BEES_QUESTION, k=5)


def test_add_many_writes_videos_together_and_commits_them_in_one_manifest_write(
    embeddings: Embeddings,
    bees: Transcript,
    wormholes: Transcript,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chromadb.api.models.Collection import Collection

    manifest_writes: list[tuple[list[str], list[str]]] = []
    chunk_writes: list[set[str]] = []
    real_upsert = Collection.upsert

    def recording_upsert(self: Collection, *args: Any, **kwargs: Any) -> None:
        if self.name.endswith("-videos"):
            states = [str(meta["state"]) for meta in kwargs["metadatas"]]
            manifest_writes.append((list(kwargs["ids"]), states))
        else:
            chunk_writes.append({str(meta["video_id"]) for meta in kwargs["metadatas"]})
        real_upsert(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "upsert", recording_upsert)
    counting = CountingEmbeddings(embeddings)
    index = VideoIndex(persist_directory=tmp_path / "a", embeddings=counting)
    assert index.add_many([bees, wormholes]).ok
    # Both videos fit in one write batch: marked pending together, their chunks in
    # one embedding call and one Chroma write, both made visible by one commit.
    assert manifest_writes == [
        ([BEES, WORMHOLES], ["pending", "pending"]),
        ([BEES, WORMHOLES], ["ready", "ready"]),
    ]
    assert chunk_writes == [{BEES, WORMHOLES}] and counting.calls == 1
    assert [v.video_id for v in index.videos()] == [BEES, WORMHOLES] and index.pending() == []

    # A video whose embedding fails does not take the rest of its group with it:
    # the group is written again video by video, and only the failing one stays out.
    failing = CountingEmbeddings(embeddings, fail_on_call=(1, 3))
    other = VideoIndex(persist_directory=tmp_path / "b", embeddings=failing)
    report = other.add_many([bees, wormholes])
    assert [item.video_id for item in report.added] == [BEES]
    assert [failure.source for failure in report.failed] == [WORMHOLES]
    assert isinstance(report.failed[0].error, EmbeddingModelError)
    assert other.has_video(BEES) and other.pending() == [WORMHOLES]
    assert _retrieved_videos(other, "How do wormholes stay open?") == {BEES}

    again = VideoIndex(persist_directory=tmp_path / "b", embeddings=embeddings)
    report = again.add_many([bees, wormholes])
    assert [item.video_id for item in report.skipped] == [BEES]
    assert [item.video_id for item in report.added] == [WORMHOLES]
    assert again.pending() == [] and [v.video_id for v in again.videos()] == [BEES, WORMHOLES]


def test_add_many_starts_a_new_write_batch_when_one_is_full(
    counting: CountingEmbeddings, bees: Transcript, wormholes: Transcript, tmp_path: Path
) -> None:
    index = VideoIndex(persist_directory=tmp_path, embeddings=counting, write_batch_size=8)
    report = index.add_many([bees, wormholes], **SMALL)
    assert report.ok and [a.video_id for a in report.added] == [BEES, WORMHOLES]
    chunks = sum(a.chunks for a in report.added)
    # Each video fills at least one batch, so none is held back for the next.
    assert counting.texts == chunks and counting.calls == sum(
        -(-a.chunks // 8) for a in report.added
    )


def test_add_many_with_the_same_video_twice_keeps_the_last_version(
    counting: CountingEmbeddings, bees: Transcript, tmp_path: Path
) -> None:
    shorter = dataclasses.replace(bees, segments=bees.segments[:30])
    index = VideoIndex(persist_directory=tmp_path, embeddings=counting)
    report = index.add_many([bees, shorter])
    # One kind (uploaded captions): the later one is written, the first never embedded.
    assert report.ok and [a.video_id for a in report.added] == [BEES]
    assert [(i.video_id, i.rule) for i in report.ignored] == [(BEES, "later")]
    expected = len(chunk_transcript(shorter))
    assert counting.texts == expected
    assert len(_chunk_ids(index, BEES)) == expected == index.count()
    assert index.pending() == [] and index.has_video(BEES)


_KILLED_ADD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from tests.store_support import CountingEmbeddings, shared_transcript
    from ytqa import VideoIndex, get_embeddings

    folder, transcripts = sys.argv[1], Path(sys.argv[2])
    real = get_embeddings("minilm")
    VideoIndex(persist_directory=folder, embeddings=real).add(
        shared_transcript(transcripts, "{wormholes}.srt", cues=60)
    )
    # Blocks (after saying so) in its third embedding call: two batches written.
    blocking = CountingEmbeddings(real, block_on_call=3)
    index = VideoIndex(persist_directory=folder, embeddings=blocking, write_batch_size=4)
    index.add(shared_transcript(transcripts, "{bees}.srt", cues=80), **{small})
    print("FINISHED", flush=True)
    """
).format(wormholes=WORMHOLES, bees=BEES, small=SMALL)


def _kill_when_blocked(script: str, folder: Path, transcripts_dir: Path, embed_call: int) -> None:
    """Run *script* in a real subprocess, and SIGKILL it once it blocks in *embed_call*."""
    child = subprocess.Popen(
        [sys.executable, "-c", script, str(folder), str(transcripts_dir)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == f"EMBED CALL {embed_call} REACHED", "the child died before the add"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_a_process_killed_mid_add_leaves_nothing_visible(
    embeddings: Embeddings, bees: Transcript, transcripts_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    _kill_when_blocked(_KILLED_ADD, folder, transcripts_dir, embed_call=3)

    counting = CountingEmbeddings(embeddings)
    index = VideoIndex(persist_directory=folder, embeddings=counting, write_batch_size=4)
    assert len(_chunk_ids(index, BEES)) == 8  # written, then the process died
    assert not index.has_video(BEES) and index.pending() == [BEES]
    assert [v.video_id for v in index.videos()] == [WORMHOLES]
    assert _retrieved_videos(index, BEES_QUESTION) == {WORMHOLES}
    assert BEES in {
        d.metadata["video_id"] for d in index.vectorstore.similarity_search(BEES_QUESTION, k=50)
    }, "the raw store holds the partial video; only the index's filter hides it"

    total = index.add(bees, **SMALL)
    assert counting.texts == total - 8
    assert index.has_video(BEES) and index.pending() == []
    assert len(_chunk_ids(index, BEES)) == total
    assert BEES in _retrieved_videos(index, BEES_QUESTION, k=5)


_KILLED_GROUP = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from tests.store_support import CountingEmbeddings, shared_transcript
    from ytqa import VideoIndex, get_embeddings

    folder, transcripts = sys.argv[1], Path(sys.argv[2])
    # Blocks (after saying so) in its second embedding call: the first batch,
    # which holds chunks of both videos, is written.
    blocking = CountingEmbeddings(get_embeddings("minilm"), block_on_call=2)
    index = VideoIndex(persist_directory=folder, embeddings=blocking, write_batch_size=8)
    index.add_many(
        [
            shared_transcript(transcripts, "{bees}.srt", cues=10),
            shared_transcript(transcripts, "{wormholes}.srt", cues=60),
        ],
        **{small},
    )
    print("FINISHED", flush=True)
    """
).format(wormholes=WORMHOLES, bees=BEES, small=SMALL)


def test_a_process_killed_mid_group_leaves_none_of_its_videos_visible(
    embeddings: Embeddings, transcripts_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "index"
    _kill_when_blocked(_KILLED_GROUP, folder, transcripts_dir, embed_call=2)

    counting = CountingEmbeddings(embeddings)
    index = VideoIndex(persist_directory=folder, embeddings=counting, write_batch_size=8)
    written = {video: len(_chunk_ids(index, video)) for video in (BEES, WORMHOLES)}
    # The first batch spanned both videos; both are pending, so neither is visible.
    assert written[BEES] > 0 and written[WORMHOLES] > 0
    assert sum(written.values()) == 8
    assert index.pending() == sorted([BEES, WORMHOLES]) and index.videos() == []
    assert _retrieved_videos(index, BEES_QUESTION) == set()

    videos = [
        shared_transcript(transcripts_dir, f"{BEES}.srt", cues=10),
        shared_transcript(transcripts_dir, f"{WORMHOLES}.srt", cues=60),
    ]
    report = index.add_many(videos, **SMALL)
    assert [a.video_id for a in report.added] == [BEES, WORMHOLES]
    total = sum(a.chunks for a in report.added)
    assert counting.texts == total - 8  # only what the killed process had not written
    assert index.pending() == [] and [v.video_id for v in index.videos()] == [BEES, WORMHOLES]
    assert _retrieved_videos(index, BEES_QUESTION, k=5) & {BEES, WORMHOLES}


# ---------------------------------------------------------------------------
# Batching and bounded memory
# ---------------------------------------------------------------------------


class _SmallBatchClient:
    """A real chromadb client whose server says it takes at most *limit* records a write."""

    def __init__(self, client: Any, limit: int) -> None:
        self._client = client
        self._limit = limit

    def get_max_batch_size(self) -> int:
        return self._limit

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_writes_are_batched_under_the_client_limit(
    counting: CountingEmbeddings,
    transcripts_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import chromadb
    from chromadb.api.models.Collection import Collection

    writes: list[tuple[str, int]] = []
    real_upsert = Collection.upsert

    def recording_upsert(self: Collection, *args: Any, **kwargs: Any) -> None:
        writes.append((self.name, len(kwargs["ids"])))
        real_upsert(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "upsert", recording_upsert)
    client = _SmallBatchClient(chromadb.PersistentClient(path=str(tmp_path)), limit=17)
    index = VideoIndex(client=client, embeddings=counting)
    # A talk in tiny chunks: many more chunks than the limit, cheaply.
    talk = shared_transcript(transcripts_dir, "-NtSZQHRc-I.srt", cues=150)
    added = index.add(talk, max_tokens=16, overlap_tokens=0)
    assert added > 120
    chunk_writes = [size for name, size in writes if name == index.collection_name]
    assert sum(chunk_writes) == added
    assert max(chunk_writes) == 17 and len(chunk_writes) == -(-added // 17)
    # Vectors stream batch by batch: the model never embeds more than one batch at once.
    assert counting.calls == len(chunk_writes)
    assert counting.texts == added
    assert index.has_video(talk.video_id) and len(_chunk_ids(index, talk.video_id)) == added

    # The write batch is the smaller of ytqa's own and the client's limit.
    writes.clear()
    own = VideoIndex(client=client, embeddings=counting, write_batch_size=10)
    short = shared_transcript(transcripts_dir, f"{WORMHOLES}.srt", cues=60)
    assert own.add(short, max_tokens=16, overlap_tokens=0) > 20
    assert max(size for name, size in writes if name == own.collection_name) == 10
    with pytest.raises(VideoIndexError, match="write_batch_size"):
        VideoIndex(client=client, write_batch_size=0)


# ---------------------------------------------------------------------------
# A real Chroma server
# ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """``chroma run`` on a free loopback port, stopped after the tests."""
    cli = Path(sys.executable).with_name("chroma")
    if not cli.exists():
        pytest.skip("the `chroma` command of chromadb is not installed beside this Python")
    import chromadb

    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    server = subprocess.Popen(
        [str(cli), "run", "--path", str(data / "db"), "--port", str(port), "--host", "127.0.0.1"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=port).heartbeat()
                break
            except Exception:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"chroma run did not start: {(data / 'server.log').read_text()}"
                    ) from None
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def test_index_on_a_chroma_server(
    chroma_server: tuple[str, int],
    counting: CountingEmbeddings,
    bees: Transcript,
    wormholes: Transcript,
) -> None:
    host, port = chroma_server
    index = VideoIndex.from_server(host, port, embeddings=counting, write_batch_size=16)
    assert f"the Chroma server at http://{host}:{port}" in repr(index)
    added = index.add(bees)
    assert added > 0 and index.add(wormholes) > 0
    assert counting.texts == added + len(_chunk_ids(index, WORMHOLES))

    # Another client (as another machine would) sees the same index.
    other = VideoIndex.from_server(host, port, headers={"X-Test": "ytqa"}, embeddings=counting)
    assert {v.video_id for v in other.videos()} == {BEES, WORMHOLES}
    texts = counting.texts
    assert other.add(bees) == 0 and counting.texts == texts
    assert BEES in _retrieved_videos(other, BEES_QUESTION, k=3)
    with pytest.raises(IndexModelMismatchError):
        VideoIndex.from_server(host, port, model="mpnet", collection_name="ytqa-minilm")
    assert other.remove(WORMHOLES) > 0
    assert [v.video_id for v in index.videos()] == [BEES]


def test_an_unreachable_server_says_how_to_start_one() -> None:
    port = _free_port()  # nothing listens there
    with pytest.raises(VideoIndexError, match="chroma run") as caught:
        VideoIndex.from_server("127.0.0.1", port)
    assert f"127.0.0.1:{port}" in str(caught.value)
