"""The vector index: one Chroma collection per embedding preset, filled video by video.

:class:`VideoIndex` wraps a ``langchain_chroma.Chroma`` store. It is embedded
and persistent by default (under ``ytqa.config.index_dir()``), in memory when
asked, or on a Chroma server (:meth:`VideoIndex.from_server`).

How a video gets in, all or nothing
-----------------------------------

Beside the collection of chunks (``ytqa-minilm``) lives a small *manifest*
collection (``ytqa-minilm-videos``) with one record per video: its state
(``pending``, ``ready`` or ``removed``), a fingerprint of what was indexed (transcript
content, preset, chunking settings), its chunk count, title, channel, language,
source. A chunk's row holds only the chunk's own fields (:data:`CHUNK_ROW_FIELDS`);
the retrievers attach the video's fields from the manifest
(:meth:`VideoIndex.attach_video_metadata`), since every metadata key of a row
costs Chroma time on each write. Adding videos:

1. marks them ``pending`` in the manifest (from here on, queries leave them out);
2. deletes chunks of any other version of them (older chunking, stale partial adds);
3. embeds and writes their chunks batch by batch (``upsert`` under the client's
   ``get_max_batch_size()``; chunk IDs are ``video_id:fingerprint:index``, so a
   batch written twice is the same batch);
4. marks them ``ready``: one manifest write, the commit point.

:meth:`VideoIndex.add_many` does this for several videos at once: it gathers
videos until they fill a write batch (:data:`DEFAULT_WRITE_BATCH` chunks), so
that a batch of chunks, and each manifest write, may span videos. Per call,
Chroma costs several milliseconds whatever the size, which short videos would
otherwise pay many times over. If writing such a group fails, its videos are
written again one by one, so that one failing video does not keep the others
out.

Queries through :meth:`VideoIndex.as_retriever` (and the filter of
:meth:`VideoIndex.where`) leave out every video that is not ``ready``. When
nothing is pending (the usual case) they run with no filter at all, which
matters: a Chroma metadata filter costs tens to hundreds of milliseconds on a
100 k-chunk collection, an unfiltered search about one. The retriever also
checks, after each search, that every chunk it returns belongs to the ready
version of its video, and searches again without the videos that fail; so a
reader in another process that races with a writer never returns part of a
video either.

The guarantee and its limits: if adding stops part-way (an exception, Ctrl-C,
a killed process, a lost connection), the chunks already written stay in the
collection but are invisible to the retriever, and adding the video again
deletes nothing it can reuse: it writes only the missing chunks and then marks
the video ready. Searches made on :attr:`VideoIndex.vectorstore` directly,
without the filter, can see the chunks of a video being added; use the
retriever, or pass ``filter=index.where()``. A video whose add stopped stays
pending (and so makes searches take the filtered path) until it is added again
or removed; :meth:`VideoIndex.pending` lists those.

Removing a video leaves a ``removed`` record (a tombstone, without chunks) so
that :meth:`VideoIndex.sync` does not bring it back from another preset's
index; adding the video again explicitly clears it.

Several processes
-----------------

An embedded index's folder may be used by several processes at once. Chroma's
embedded client is not made for that: it keeps each collection's vector index
in memory and never reloads it, so a process that keeps the index open would
not find what others add, and a filtered search fails ("Error finding id")
once the database holds chunks its vector index lacks. So:

* every write (a group of videos, a removal) holds the folder's file lock
  (:data:`LOCK_FILE`, with ``filelock``): writers take turns, readers never wait;
* each write ends by giving the collection a new version (a file named after
  it, :data:`VERSION_SUFFIX`);
  :meth:`VideoIndex.where`, which every retriever calls before searching, reads
  it (microseconds) and reopens the index, with a Chroma client of its own, when
  it changed; a writer does the same before it writes;
* a search that Chroma still fails that way (a write landed during it, or came
  from a writer that leaves no version) is made again on a reopened index, a
  few times, then turned into a :class:`~ytqa.VideoIndexError`.

Past that (many processes at once, several machines), use a Chroma server.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables.config import run_in_executor
from langchain_core.vectorstores import VectorStoreRetriever
from pydantic import ConfigDict, Field

from ytqa.chunking import CHUNKER_VERSION, ChunkSettings, chunk_settings, chunk_transcript
from ytqa.config import index_dir
from ytqa.embeddings import DEFAULT_MODEL, EmbeddingPreset, get_embeddings, resolve_preset
from ytqa.errors import (
    EmbeddingModelError,
    IndexCorruptError,
    IndexModelMismatchError,
    VideoIndexError,
    YtqaError,
)
from ytqa.transcripts import Captions, Transcript

if TYPE_CHECKING:  # pragma: no cover - types only
    from langchain_chroma import Chroma

    from ytqa.transcripts import AsrMode, SpeechToText

__all__ = [
    "DEFAULT_WRITE_BATCH",
    "AddedVideo",
    "FailedSource",
    "IgnoredSource",
    "IngestReport",
    "SkippedVideo",
    "VideoIndex",
    "VideoIndexRetriever",
    "VideoRecord",
    "default_collection_name",
    "transcript_kind",
]

logger = logging.getLogger(__name__)

DEFAULT_WRITE_BATCH = 256
"""Chunks embedded and written per step: bounds memory during large adds."""

CHUNK_ROW_FIELDS = ("video_id", "start", "end", "chunk_index", "url")
"""Chunk metadata kept in each chunk's Chroma row.

The fields of its video (:data:`VIDEO_FIELDS`) are kept once, in the manifest,
and attached by the retrievers: every metadata key of a row costs Chroma time
on each write (see ``docs/performance.md``)."""

VIDEO_FIELDS = ("title", "channel", "language", "is_generated", "captions", "asr_model")
"""Chunk metadata kept per video, in the manifest (see :meth:`VideoIndex.attach_video_metadata`)."""

MANIFEST_SUFFIX = "-videos"
_PENDING = "pending"
_READY = "ready"
# A tombstone: the user removed the video, so sync() must not bring it back.
_REMOVED = "removed"
_SCHEMA = 1
# A video ID that no video has: a filter on it matches nothing.
_NO_VIDEO = "\x00no-video"
_COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")
# In an embedded index's folder: the lock its writers take, and the version they
# change after each write, which tells readers in other processes to reopen the index.
LOCK_FILE = "ytqa-write.lock"
VERSION_SUFFIX = ".version"
"""A collection's version file is ``<collection>.version`` (``ytqa-minilm.version``)."""
# Searches tried again when Chroma fails because another process wrote meanwhile.
_SEARCH_ATTEMPTS = 3

_T = TypeVar("_T")


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoRecord:
    """A video in the index, as :meth:`VideoIndex.videos` lists it."""

    video_id: str
    title: str | None
    channel: str | None
    language: str
    """Language code of the transcript (``"en"``)."""
    is_generated: bool
    chunks: int
    source: str
    """Where the transcript came from: ``"youtube"`` or the file's path."""
    added_at: float = 0.0
    """Unix time at which the video became searchable."""
    captions: str = ""
    """``manual``, ``generated`` or ``asr`` (speech-to-text; "" for videos indexed before)."""
    asr_model: str | None = None
    """The Whisper model of a speech-to-text transcript."""

    @property
    def transcript(self) -> str:
        """The transcript held: ``"srt"``, ``"en.vtt"``, ``"youtube manual"``... (see
        :func:`transcript_kind`)."""
        return transcript_kind(self.source, self.is_generated, self.asr_model)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "video_id": self.video_id,
            "title": self.title,
            "channel": self.channel,
            "language": self.language,
            "is_generated": self.is_generated,
            "chunks": self.chunks,
            "source": self.source,
            "transcript": self.transcript,
            "added_at": self.added_at,
            "captions": self.captions,
            "asr_model": self.asr_model,
        }


def transcript_kind(source: str, is_generated: bool, asr_model: str | None = None) -> str:
    """A video's transcript, for people: ``"speech-to-text base"`` for one made by
    Whisper, ``"youtube manual"`` or ``"youtube auto"`` for YouTube's captions, else
    the file's ending (``"srt"``, ``"en.vtt"``, ``"json"``).

    >>> transcript_kind("/talks/GqA42M4RtxE.en.vtt", True)
    'en.vtt'
    >>> transcript_kind("youtube", False)
    'youtube manual'
    """
    if asr_model:
        return f"speech-to-text {asr_model}"
    if source == "youtube":
        return "youtube auto" if is_generated else "youtube manual"
    from ytqa.transcripts._files import _names_from_file_name

    name = Path(source).name
    ending = Path(name).suffix.lstrip(".").lower() or "file"
    language = _names_from_file_name(name)[1]
    return f"{language}.{ending}" if language else ending


class AddedVideo(NamedTuple):
    """A video that :meth:`VideoIndex.add_many` embedded."""

    video_id: str
    title: str | None
    chunks: int
    transcript: str = ""
    """The transcript written (:func:`transcript_kind`: ``"srt"``, ``"youtube auto"``...)."""
    replaced: str | None = None
    """The transcript the index held for this video before, which this one replaced
    (None: the video was not indexed)."""


class SkippedVideo(NamedTuple):
    """A video that was already indexed with the same preset and chunking."""

    video_id: str
    title: str | None


class FailedSource(NamedTuple):
    """A source that could not be added, with the reason."""

    source: str
    error: YtqaError


class IgnoredSource(NamedTuple):
    """A source left out because another source of the same run is the same video.

    Which one is used (decided before anything is written): uploaded captions over
    auto-captions (``rule="uploaded"``), auto-captions first with
    ``captions="generated"`` (``rule="generated"``), and between two of the same
    kind the later source (``rule="later"``).
    """

    source: str
    video_id: str
    used: str
    """The source whose transcript is used instead."""
    rule: Literal["uploaded", "generated", "later"]


@dataclass
class IngestReport:
    """What :meth:`VideoIndex.add_many` did, source by source."""

    added: list[AddedVideo] = field(default_factory=list)
    """Videos written: new ones, and those whose transcript was replaced (``replaced``)."""
    skipped: list[SkippedVideo] = field(default_factory=list)
    failed: list[FailedSource] = field(default_factory=list)
    ignored: list[IgnoredSource] = field(default_factory=list)
    """Sources of a video that another source of the same call gave (see :class:`IgnoredSource`)."""

    @property
    def ok(self) -> bool:
        """Whether every source was added or already there."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "added": [item._asdict() for item in self.added],
            "skipped": [item._asdict() for item in self.skipped],
            "ignored": [item._asdict() for item in self.ignored],
            "failed": [
                {"source": item.source, "error": str(item.error), "type": type(item.error).__name__}
                for item in self.failed
            ],
        }


class _Outcome(NamedTuple):
    video_id: str
    title: str | None
    chunks: int


class _Plan(NamedTuple):
    """A video to write: its chunks, their IDs, its manifest record (state pending)."""

    transcript: Transcript
    chunks: list[Document]
    ids: list[str]
    entry: dict[str, Any]


# ---------------------------------------------------------------------------
# Names and fingerprints
# ---------------------------------------------------------------------------


def default_collection_name(
    model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
) -> str:
    """Name of the collection that holds *model*'s vectors: ``ytqa-<preset key>``.

    Keys that Chroma does not accept as names (paths, hub names with ``/``) are
    turned into ``ytqa-<base name>-<hash of the key>``.
    """
    preset = resolve_preset(model)
    name = f"ytqa-{preset.key}"
    if _COLLECTION_NAME.match(name) and len(name) <= 63:
        return name
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", preset.base_name).strip("-._")[:40] or "model"
    digest = hashlib.sha256(preset.key.encode()).hexdigest()[:10]
    return f"ytqa-{base}-{digest}"


def _settings_tag(settings: ChunkSettings) -> str:
    return f"{settings.max_tokens}/{settings.overlap_tokens}/v{CHUNKER_VERSION}"


def _fingerprint(transcript: Transcript, preset: EmbeddingPreset, settings: ChunkSettings) -> str:
    """What decides a video's chunks and vectors: if it is equal, re-adding is a no-op."""
    payload = json.dumps(
        {
            "transcript": transcript.to_dict(),
            "model": preset.model_name,
            "dimension": preset.dimension,
            "normalize": preset.normalize,
            "settings": _settings_tag(settings),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _combine(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    present = [f for f in filters if f]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return {"$and": present}


# ---------------------------------------------------------------------------
# The index
# ---------------------------------------------------------------------------


class VideoIndex:
    """The vector index of one embedding preset, filled video by video.

    >>> index = VideoIndex("minilm")                                  # doctest: +SKIP
    >>> index.add("https://youtu.be/dQw4w9WgXcQ")                     # doctest: +SKIP
    42
    >>> index.as_retriever(search_kwargs={"k": 4}).invoke("question") # doctest: +SKIP

    Where the vectors live: ``persist_directory`` (default
    ``ytqa.config.index_dir()``, under ``YTQA_HOME``), or memory with
    ``in_memory=True`` (each such index is private and is freed with the
    object), or any chromadb client passed as ``client`` (see also
    :meth:`from_server`). ``embeddings`` replaces the preset's model (any
    LangChain ``Embeddings`` making vectors of the preset's dimension);
    otherwise the model loads on first use (``device``, ``batch_size``).

    The collection remembers the preset and chunking it was made with;
    opening it with another model raises :class:`~ytqa.IndexModelMismatchError`.
    See the module documentation for how a video gets in all or nothing.
    """

    def __init__(
        self,
        model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
        *,
        persist_directory: str | os.PathLike[str] | None = None,
        client: Any = None,
        collection_name: str | None = None,
        in_memory: bool = False,
        embeddings: Embeddings | None = None,
        device: str = "auto",
        batch_size: int = 32,
        write_batch_size: int | None = None,
    ) -> None:
        self._preset = resolve_preset(model)
        self._embeddings = embeddings
        self._device = device
        self._batch_size = batch_size
        if write_batch_size is not None and write_batch_size < 1:
            raise VideoIndexError(f"write_batch_size must be at least 1, not {write_batch_size}.")
        self._write_batch_size = write_batch_size or DEFAULT_WRITE_BATCH
        self._max_batch: int | None = None
        self._vectorstore: Chroma | None = None
        self._where_label = "the Chroma index"
        self._finalizer: weakref.finalize[Any, Any] | None = None
        # The version of an embedded index that this one's client reflects; unknown
        # (None) for a client passed in, which then reopens once if there is a version.
        self._seen_version: str | None = None
        chosen = sum((client is not None, persist_directory is not None, in_memory))
        if chosen > 1:
            raise VideoIndexError(
                "Pass only one of client=, persist_directory= and in_memory=True to VideoIndex."
            )
        name = collection_name or default_collection_name(self._preset)
        if not _COLLECTION_NAME.match(name):
            raise VideoIndexError(
                f"Invalid collection name {name!r}: use 3 to 512 letters, digits, '.', '_' or "
                "'-', starting and ending with a letter or digit."
            )
        self._name = name
        self._client = client if client is not None else self._make_client(
            persist_directory, in_memory
        )
        # An embedded index's folder, shared with other processes (see "Several
        # processes" in the module documentation); None in memory or on a server.
        self._folder = _embedded_folder(self._client)
        # Creating the collections is a write; opening them is not (readers never wait).
        with self._locked() if self._creates_collections() else contextlib.nullcontext():
            self._collection, self._manifest = self._open_collections()

    # -- construction -------------------------------------------------------

    @classmethod
    def from_server(
        cls,
        host: str,
        port: int = 8000,
        *,
        ssl: bool = False,
        headers: dict[str, str] | None = None,
        model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
        collection_name: str | None = None,
        embeddings: Embeddings | None = None,
        device: str = "auto",
        batch_size: int = 32,
        write_batch_size: int | None = None,
    ) -> VideoIndex:
        """Open the index on a Chroma server (``chroma run``, or a hosted Chroma).

        Raises:
            VideoIndexError: the server cannot be reached (the message says where
                ytqa looked).
        """
        import chromadb

        scheme = "https" if ssl else "http"
        where = f"{scheme}://{host}:{port}"
        try:
            client = chromadb.HttpClient(host=host, port=port, ssl=ssl, headers=headers)
            client.heartbeat()
        except Exception as exc:
            raise VideoIndexError(
                f"Could not reach the Chroma server at {where}: {exc}. Start one with "
                f"`chroma run --path DIR --port {port}`, or check the host, port, ssl and "
                "headers."
            ) from exc
        index = cls(
            model,
            client=client,
            collection_name=collection_name,
            embeddings=embeddings,
            device=device,
            batch_size=batch_size,
            write_batch_size=write_batch_size,
        )
        index._where_label = f"the Chroma server at {where}"
        return index

    def _make_client(self, persist_directory: Any, in_memory: bool) -> Any:
        import chromadb

        if in_memory:
            from chromadb.config import Settings

            # Ephemeral clients share one in-process system: a database of its
            # own keeps this index private, and is dropped with the object.
            settings = Settings()
            settings.is_persistent = False
            database = f"ytqa-{uuid.uuid4().hex}"
            admin = chromadb.AdminClient(settings)
            admin.create_database(database)
            self._finalizer = weakref.finalize(self, _drop_database, settings, database)
            self._where_label = "the in-memory index"
            return chromadb.EphemeralClient(database=database)
        directory = Path(persist_directory) if persist_directory is not None else index_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Read before opening: a write that lands after it makes the index reopen.
            self._seen_version = _read_version(directory / f"{self._name}{VERSION_SUFFIX}")
            client = _own_embedded_client(str(directory))
        except BaseException as exc:  # Chroma's Rust panics are BaseExceptions
            from ytqa.doctor import damage_of, is_chroma_failure

            if not isinstance(exc, Exception) and not is_chroma_failure(exc):
                raise
            damage = damage_of(exc, directory)
            if damage is not None:
                raise IndexCorruptError(
                    f"the index in {directory}", f"Chroma cannot open it: {damage}", directory
                ) from exc
            raise VideoIndexError(
                f"Could not open the index folder {directory}: {exc}. Check that it is "
                "writable, or set YTQA_HOME (or persist_directory=) to another folder."
            ) from exc
        self._where_label = f"the index in {directory}"
        return client

    @staticmethod
    def _collection_metadata(preset: EmbeddingPreset) -> dict[str, Any]:
        """What a chunk collection of *preset* records about itself when it is made."""
        settings = chunk_settings(preset) if preset.max_tokens >= 8 else ChunkSettings(8, 0)
        return {
            "ytqa_schema": _SCHEMA,
            "ytqa_preset": preset.key,
            "ytqa_model": preset.model_name,
            "ytqa_dimension": preset.dimension,
            "ytqa_similarity": preset.similarity,
            "ytqa_normalize": preset.normalize,
            "ytqa_space": preset.chroma_space,
            "ytqa_max_tokens": settings.max_tokens,
            "ytqa_overlap_tokens": settings.overlap_tokens,
            "ytqa_chunker": CHUNKER_VERSION,
        }

    @staticmethod
    def _manifest_metadata(name: str) -> dict[str, Any]:
        """What the manifest of chunk collection *name* records about itself."""
        return {"ytqa_manifest_of": name, "ytqa_schema": _SCHEMA}

    def _open_collections(self) -> tuple[Any, Any]:
        metadata = self._collection_metadata(self._preset)
        with self._chroma_errors("open the collection"):
            collection = self._client.get_or_create_collection(
                self._name,
                metadata=metadata,
                configuration={"hnsw": {"space": self._preset.chroma_space}},
                embedding_function=None,
            )
            found = dict(collection.metadata or {})
            if "ytqa_model" not in found:
                if collection.count():
                    raise VideoIndexError(
                        f"Collection {self._name!r} in {self._where_label} holds data that ytqa "
                        "did not write. Pass another collection_name=."
                    )
                collection.modify(metadata=metadata)
                found = metadata
            self._check_model(found)
            manifest = self._client.get_or_create_collection(
                self._name + MANIFEST_SUFFIX,
                metadata=self._manifest_metadata(self._name),
                configuration={"hnsw": {"space": "l2"}},
                embedding_function=None,
            )
        self._defaults = ChunkSettings(
            int(found.get("ytqa_max_tokens", metadata["ytqa_max_tokens"])),
            int(found.get("ytqa_overlap_tokens", metadata["ytqa_overlap_tokens"])),
        )
        return collection, manifest

    def _check_model(self, found: dict[str, Any]) -> None:
        """Refuse a collection of another model, and one whose recorded values are damaged
        (pointing to the repair rather than to a model that would fail the same way)."""
        from ytqa.doctor import chunking_damage, client_folder, is_server_client, metadata_damage

        preset = self._preset
        damage = metadata_damage(found)
        same = (
            found.get("ytqa_model") == preset.model_name
            and found.get("ytqa_dimension") == preset.dimension
            and found.get("ytqa_space") == preset.chroma_space
        )
        if damage is None and not same:
            built_with = str(found.get("ytqa_preset") or found.get("ytqa_model"))
            if built_with == preset.key:  # same key, other model: say which model
                built_with = str(found.get("ytqa_model"))
            if built_with not in (preset.key, preset.model_name):
                raise IndexModelMismatchError(self._name, built_with, preset.key)
            # Opening it with that model would fail the same way: the records are wrong.
            damage = (
                f"it records model {found.get('ytqa_model')!r} (that of {preset.key!r}) with "
                f"{found.get('ytqa_dimension')!r} dimensions and {found.get('ytqa_space')!r} "
                f"space, where {preset.key!r} makes {preset.dimension} and {preset.chroma_space}"
            )
        if damage is None and same:
            damage = chunking_damage(found, preset)
        if damage is not None:
            raise IndexCorruptError(
                self._where_label,
                f"the metadata that collection {self._name!r} records is inconsistent: {damage}",
                client_folder(self._client),
                server=is_server_client(self._client),
            )

    # -- several processes on one embedded index -----------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the embedded index's write lock: writers in other processes wait for it."""
        if self._folder is None:
            yield
            return
        from filelock import FileLock, Timeout

        lock = FileLock(self._folder / LOCK_FILE, is_singleton=True)
        try:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                logger.warning(
                    "Another process is writing to the index in %s; waiting for it to finish.",
                    self._folder,
                )
                lock.acquire()
        except OSError as exc:
            raise VideoIndexError(
                f"Could not lock the index folder {self._folder} for writing: {exc}. Check "
                "that the folder is writable."
            ) from exc
        try:
            yield
        finally:
            lock.release()

    def _version_file(self, folder: Path) -> Path:
        # One per collection: a write to another preset's index needs no reopening here.
        return folder / f"{self._name}{VERSION_SUFFIX}"

    def _creates_collections(self) -> bool:
        """Whether opening this embedded index creates its collections."""
        if self._folder is None:
            return False
        with self._chroma_errors("list the collections"):
            names = {collection.name for collection in self._client.list_collections()}
        return not {self._name, self._name + MANIFEST_SUFFIX} <= names

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Write under the lock, starting from what other processes wrote, and change the
        index's version on the way out so that their readers reopen it."""
        with self._locked():
            self._catch_up()
            try:
                yield
            finally:
                if self._folder is not None:
                    self._seen_version = _new_version(self._version_file(self._folder))

    def _catch_up(self) -> None:
        """Reopen an embedded index that another process wrote to since this one looked.

        Chroma's embedded client keeps each collection's vector index in memory and
        never reloads it: without this, a long-lived process does not find videos
        added elsewhere, and a filtered search fails with "Error finding id" once
        the database holds chunks its vector index lacks (chroma-core/chroma#3792).
        Reading the version file costs microseconds; reopening, once per change,
        loads the vector index from disk.
        """
        if self._folder is None:
            return
        version = _read_version(self._version_file(self._folder))
        if version != self._seen_version:
            self._reopen()
            self._seen_version = version

    def _reopen(self) -> None:
        """A new embedded client on the same folder, which loads the index from disk."""
        old = self._client
        settings = old.get_settings()
        with self._chroma_errors("open the index again"):
            self._client = _own_embedded_client(
                str(settings.persist_directory),
                settings=settings,
                tenant=old.tenant,
                database=old.database,
            )
        self._collection, self._manifest = self._open_collections()
        self._vectorstore = None

    def _searching(self, search: Callable[[], _T]) -> _T:
        """Run *search*; when Chroma fails because another process wrote to the index
        meanwhile, reopen it and run *search* again (it must make its filter afresh)."""
        from chromadb.errors import InternalError

        for attempt in range(1, _SEARCH_ATTEMPTS + 1):
            try:
                return search()
            except InternalError as exc:
                from ytqa.doctor import damage_of

                if self._folder is not None and damage_of(exc, self._folder) is not None:
                    raise  # damaged files, not a race: _chroma_errors names the repair
                if self._folder is None or attempt == _SEARCH_ATTEMPTS:
                    raise VideoIndexError(
                        f"Chroma failed to search {self._where_label} (collection "
                        f"{self._name!r}): {exc}. If another process was writing to the index, "
                        "search again once it is done; if readers and writers run together "
                        "all the time, serve the index with a Chroma server "
                        "(VideoIndex.from_server). If it keeps failing, the index may be damaged."
                    ) from exc
                logger.debug("search failed (%s); reopening the index", exc)
                self._reopen()
                self._seen_version = _read_version(self._version_file(self._folder))
        raise AssertionError("unreachable")  # pragma: no cover

    # -- properties ---------------------------------------------------------

    @property
    def preset(self) -> EmbeddingPreset:
        """The embedding preset of this index."""
        return self._preset

    @property
    def collection_name(self) -> str:
        """Name of the Chroma collection of chunks."""
        return self._name

    @property
    def client(self) -> Any:
        """The chromadb client."""
        return self._client

    @property
    def chunking(self) -> ChunkSettings:
        """Chunking used when ``add`` gets none: the settings the collection was made with."""
        return self._defaults

    @property
    def embeddings(self) -> Embeddings:
        """The LangChain embeddings of this index (the preset's model, loaded on first use)."""
        if self._embeddings is None:
            self._embeddings = get_embeddings(
                self._preset, device=self._device, batch_size=self._batch_size
            )
        return self._embeddings

    @property
    def vectorstore(self) -> Chroma:
        """The ``langchain_chroma.Chroma`` store over this index's collection."""
        if self._vectorstore is None:
            from langchain_chroma import Chroma

            embeddings = self.embeddings
            with self._chroma_errors("open the collection"):
                self._vectorstore = Chroma(
                    client=self._client,
                    collection_name=self._name,
                    embedding_function=embeddings,
                    create_collection_if_not_exists=False,
                )
        return self._vectorstore

    def __repr__(self) -> str:
        return f"VideoIndex({self._preset.key!r}, collection={self._name!r}, {self._where_label})"

    def close(self) -> None:
        """Free an in-memory index now (others need no closing)."""
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> VideoIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------

    def videos(self) -> list[VideoRecord]:
        """The videos that queries can see, in the order they were added."""
        with self._chroma_errors("list the videos"):
            found = self._manifest.get(where={"state": _READY}, include=["metadatas"])
        records = [_record_from(meta) for meta in found["metadatas"] or []]
        return sorted(records, key=lambda r: (r.added_at, r.video_id))

    def has_video(self, video_id: str) -> bool:
        """Whether *video_id* is in the index, completely."""
        record = self._record(video_id)
        return record is not None and record.get("state") == _READY

    def count(self) -> int:
        """Number of chunks that queries can see (those of complete videos)."""
        return sum(record.chunks for record in self.videos())

    def pending(self) -> list[str]:
        """IDs of videos being added now, or whose add stopped part-way (hidden from queries)."""
        with self._chroma_errors("read the manifest"):
            found = self._manifest.get(where={"state": _PENDING}, include=[])
        return sorted(found["ids"])

    def where(
        self, video_ids: Iterable[str] | None = None, *, exclude: Iterable[str] = ()
    ) -> dict[str, Any] | None:
        """Chroma ``where`` filter that hides incomplete videos, and keeps only *video_ids*.

        None when there is nothing to filter (no video pending, no restriction):
        an unfiltered search is much faster than a filtered one. The filter is a
        snapshot; :meth:`as_retriever` makes a fresh one for every query.

        For an embedded index, it first reopens the index if another process wrote
        to it since this one looked, so that a search made after it (on
        :attr:`vectorstore`, read again) sees what they wrote.
        """
        self._catch_up()
        hidden = set(self.pending()) | set(exclude)
        if video_ids is not None:
            if isinstance(video_ids, str):
                video_ids = [video_ids]
            wanted = [v for v in dict.fromkeys(video_ids) if v not in hidden]
            if not wanted:
                return {"video_id": _NO_VIDEO}
            return {"video_id": wanted[0]} if len(wanted) == 1 else {"video_id": {"$in": wanted}}
        if not hidden:
            return None
        return {"video_id": {"$nin": sorted(hidden)}}

    def as_retriever(
        self, *, video_ids: Iterable[str] | None = None, **kwargs: Any
    ) -> VideoIndexRetriever:
        """A LangChain retriever over the complete videos (optionally only *video_ids*).

        Takes the arguments of ``VectorStore.as_retriever`` (``search_type``,
        ``search_kwargs`` with ``k``, ``fetch_k``, ``filter``...). Its filter is
        made afresh for every query and combined with any ``filter`` given.
        """
        vectorstore = self.vectorstore
        tags = [*(kwargs.pop("tags", None) or []), *vectorstore._get_retriever_tags()]
        ids = None if video_ids is None else tuple(
            [video_ids] if isinstance(video_ids, str) else video_ids
        )
        return VideoIndexRetriever(
            vectorstore=vectorstore, index=self, video_ids=ids, tags=tags, **kwargs
        )

    def _record(self, video_id: str) -> dict[str, Any] | None:
        with self._chroma_errors("read the manifest"):
            found = self._manifest.get(ids=[video_id], include=["metadatas"])
        metadatas = found["metadatas"] or []
        return dict(metadatas[0]) if metadatas else None

    def attach_video_metadata(self, documents: Sequence[Document]) -> list[Document]:
        """*documents* found in :attr:`vectorstore`, with their videos' fields attached.

        Each chunk's Chroma row holds the fields of the chunk (``video_id``,
        ``start``, ``end``, ``chunk_index``, ``url``); the fields of its video
        (``title``, ``channel``, ``language``, ``is_generated``) are kept once,
        in the manifest. The index's retrievers attach them (and ``source``)
        already; call this for searches made on :attr:`vectorstore` directly.
        Chunks of videos that are not complete are returned as they are.

        >>> found = index.vectorstore.similarity_search("bees")          # doctest: +SKIP
        >>> index.attach_video_metadata(found)[0].metadata["title"]       # doctest: +SKIP
        """
        return self._resolve(documents)[0]

    def _resolve(self, documents: Sequence[Document]) -> tuple[list[Document], set[str]]:
        """*documents* with their videos' fields, and the videos of those whose chunk
        is not of the ready version of its video (to search again without them)."""
        chunks = [d for d in documents if "ytqa_fingerprint" in d.metadata]
        ids = sorted({str(d.metadata.get("video_id")) for d in chunks})
        if not ids:
            return list(documents), set()
        with self._chroma_errors("read the manifest"):
            found = self._manifest.get(ids=ids, include=["metadatas"])
        ready = {
            video_id: dict(meta)
            for video_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
            if meta.get("state") == _READY
        }
        incomplete = {
            str(d.metadata.get("video_id"))
            for d in chunks
            if ready.get(str(d.metadata.get("video_id")), {}).get("fingerprint")
            != d.metadata["ytqa_fingerprint"]
        }
        resolved = [
            _with_video_fields(d, ready[video_id])
            if "ytqa_fingerprint" in d.metadata
            and (video_id := str(d.metadata.get("video_id"))) in ready
            and video_id not in incomplete
            else d
            for d in documents
        ]
        return resolved, incomplete

    # -- writing ------------------------------------------------------------

    def add(
        self,
        source_or_transcript: str | os.PathLike[str] | Transcript,
        *,
        languages: Sequence[str] = ("en",),
        translate_to: str | None = None,
        captions: Captions = "any",
        proxy: str | None = None,
        refresh: bool = False,
        max_tokens: int | None = None,
        overlap_tokens: int | None = None,
        progress: bool = False,
        asr: AsrMode | SpeechToText | None = None,
        asr_model: str | None = None,
    ) -> int:
        """Add one video and return how many chunks were written (0: already there).

        *source_or_transcript* is a video ID or URL, a transcript file, or a
        :class:`~ytqa.Transcript`, or an audio or video file. The fetching
        options (speech-to-text's ``asr`` and ``asr_model`` too) go to
        :func:`ytqa.transcripts.load_transcript`. ``max_tokens`` and
        ``overlap_tokens`` default to the settings the collection was made with
        (:attr:`chunking`).

        A video already indexed with the same transcript, preset and chunking is
        left alone: nothing is embedded (for a video ID or URL, not even the
        transcript is loaded unless ``refresh=True``). With other chunking or
        another transcript, its chunks are replaced. The video is in the index
        completely or not at all (see the module documentation).

        Raises:
            YtqaError: a subclass saying why the transcript could not be had,
                why the model could not embed, or why Chroma refused the write.
        """
        fetch = _fetch_options(languages, translate_to, captions, proxy, refresh, asr, asr_model)
        prepared = self._prepare(
            source_or_transcript, self._settings(max_tokens, overlap_tokens), fetch
        )
        if isinstance(prepared, _Outcome):
            return 0
        with _Progress(progress) as bar:
            return self._write_group([prepared], bar)[0].chunks

    def add_many(
        self,
        sources: Iterable[str | os.PathLike[str] | Transcript] | str | os.PathLike[str],
        *,
        languages: Sequence[str] = ("en",),
        translate_to: str | None = None,
        captions: Captions = "any",
        proxy: str | None = None,
        refresh: bool = False,
        max_tokens: int | None = None,
        overlap_tokens: int | None = None,
        progress: bool = False,
        asr: AsrMode | SpeechToText | None = None,
        asr_model: str | None = None,
    ) -> IngestReport:
        """Add many videos; one that fails does not stop the others.

        Playlists, channels and folders are expanded first
        (:func:`ytqa.transcripts.expand_sources`; a folder gives one file per
        video, its ``.vtt`` first with ``captions="generated"``). When several
        sources are the same video, one is chosen before anything is written:
        uploaded captions over auto-captions (auto-captions first with
        ``captions="generated"``), and between two of the same kind the later
        source; the others are listed in the report's ``ignored``. Returns an
        :class:`IngestReport` of added (each saying which transcript it
        ``replaced``, if any), skipped (already there), ignored and failed sources.

        Transcript files are read before the first write (to know their videos),
        so a call's files are held in memory together; their chunks are not.

        Raises:
            EmbeddingModelError: the embedding model (or its tokenizer) cannot be
                loaded, which every video would fail alike; the videos written
                before stay indexed.
        """
        from ytqa.transcripts import expand_sources

        single = isinstance(sources, (str, os.PathLike, Transcript))
        listed: list[Any] = [sources] if single else list(sources)  # type: ignore[arg-type]
        report = IngestReport()
        prefer: Literal["manual", "generated"] = (
            "generated" if captions == "generated" else "manual"
        )
        items: list[str | os.PathLike[str] | Transcript] = []
        for source in listed:
            if isinstance(source, Transcript):
                items.append(source)
                continue
            try:
                items.extend(expand_sources([source], prefer=prefer, proxy=proxy))
            except YtqaError as error:
                report.failed.append(FailedSource(str(source), error))
        fetch = _fetch_options(languages, translate_to, captions, proxy, refresh, asr, asr_model)
        chosen = self._one_source_per_video(items, fetch, report)
        # Videos planned but not yet written: written together, so that Chroma
        # and the manifest see one write per batch of chunks, not per video.
        group: list[tuple[str, _Plan]] = []
        with _Progress(progress, total=len(chosen)) as bar:

            def flush() -> None:
                if group:
                    # A model that cannot load would fail each video alike: raise once.
                    self.embeddings  # noqa: B018
                self._write_each(group, bar, report)
                group.clear()

            for label, item in chosen:
                bar.video(label)
                try:
                    settings = self._settings(max_tokens, overlap_tokens)
                    prepared = self._prepare(item, settings, fetch)
                except EmbeddingModelError:
                    raise  # the model is missing for every video alike: say it once
                except YtqaError as error:
                    report.failed.append(FailedSource(label, error))
                    bar.video_done()
                    continue
                if isinstance(prepared, _Outcome):
                    report.skipped.append(SkippedVideo(prepared.video_id, prepared.title))
                    bar.video_done()
                    continue
                group.append((label, prepared))
                if sum(len(plan.chunks) for _, plan in group) >= self._write_batch():
                    flush()
            flush()
        return report

    def _one_source_per_video(
        self,
        items: Sequence[str | os.PathLike[str] | Transcript],
        fetch: dict[str, Any],
        report: IngestReport,
    ) -> list[tuple[str, str | os.PathLike[str] | Transcript]]:
        """*items* (labelled), with one source per video (see :meth:`add_many` for the rule).

        Files are read here, to know their videos; a YouTube video is fetched (or
        read from the cache) here only when a file is the same video, to know its kind.
        Sources that fail go to ``report.failed``, those left out to ``report.ignored``.
        """
        from ytqa.transcripts import load_transcript

        def label_of(item: str | os.PathLike[str] | Transcript) -> str:
            return item.video_id if isinstance(item, Transcript) else str(item)

        # The same source twice is one source (as expand_sources counts them).
        unique: dict[Any, str | os.PathLike[str] | Transcript] = {}
        for item in items:
            key = str(Path(item).resolve()) if isinstance(item, os.PathLike) else item
            unique.setdefault(key if isinstance(key, str) else id(key), item)
        loaded: list[tuple[str, str | os.PathLike[str] | Transcript]] = []
        for item in unique.values():
            label = label_of(item)
            if isinstance(item, os.PathLike):
                try:
                    item = load_transcript(item, **fetch)
                except YtqaError as error:
                    report.failed.append(FailedSource(label, error))
                    continue
            loaded.append((label, item))
        positions: dict[str, list[int]] = {}
        for position, (_, item) in enumerate(loaded):
            video_id = item.video_id if isinstance(item, Transcript) else str(item)
            positions.setdefault(video_id, []).append(position)
        keep: set[int] = set()
        for video_id, same in positions.items():
            if len(same) > 1:
                same = self._load_youtube_sources(loaded, same, fetch, report)
            if not same:
                continue
            kinds = {position: bool(getattr(loaded[position][1], "is_generated", False))
                     for position in same}
            wanted = fetch["captions"] == "generated"
            # The wanted kind first, then the later source.
            best = max(same, key=lambda position: (kinds[position] == wanted, position))
            keep.add(best)
            for position in same:
                if position == best:
                    continue
                rule: Literal["uploaded", "generated", "later"] = (
                    "later" if kinds[position] == kinds[best] else
                    "generated" if wanted else "uploaded"
                )
                report.ignored.append(
                    IgnoredSource(loaded[position][0], video_id, loaded[best][0], rule)
                )
        return [loaded[position] for position in sorted(keep)]

    def _load_youtube_sources(
        self,
        loaded: list[tuple[str, str | os.PathLike[str] | Transcript]],
        positions: list[int],
        fetch: dict[str, Any],
        report: IngestReport,
    ) -> list[int]:
        """Load the YouTube sources among *positions* of *loaded* (in place), to compare
        them with the other sources of their video; return the positions still there."""
        from ytqa.transcripts import load_transcript

        remaining = []
        for position in positions:
            label, item = loaded[position]
            if not isinstance(item, Transcript):
                try:
                    loaded[position] = (label, load_transcript(item, **fetch))
                except YtqaError as error:
                    report.failed.append(FailedSource(label, error))
                    continue
            remaining.append(position)
        return remaining

    def sync(
        self,
        from_model: str | EmbeddingPreset | os.PathLike[str] | None = None,
        *,
        progress: bool = True,
    ) -> IngestReport:
        """Embed the videos that other presets' indexes hold and this one lacks.

        Every video indexed in this Chroma client (with any preset, or only with
        *from_model*) and missing here is added from its cached transcript: no
        HTTP request; a transcript file no longer cached is read again if it
        still exists. The report lists videos ``added``, ``skipped`` (already
        here) and ``failed`` (``TranscriptCacheMissError`` when the cached
        transcript is gone, each also logged as a warning). ``progress`` shows a
        progress bar on stderr while videos are embedded.

        A video removed from this index (:meth:`remove`) is not carried over
        again, and is not listed in the report; one removed from every index is
        known to none.

        Raises:
            VideoIndexError: the indexes cannot be listed, or *from_model* has none here.
        """
        from ytqa._sync import sync_index

        return sync_index(self, from_model, progress=progress)

    def remove(self, video_id: str) -> int:
        """Remove a video (complete or pending) and return how many chunks were deleted.

        The video stays removed: its manifest keeps a ``removed`` record (no
        chunks), which :meth:`sync` (and so ``build_retriever`` without
        ``videos=``, ``ytqa ask``, ``ytqa reindex``) respects even when another
        preset's index holds the video. This holds for a video this index never
        had, too. Adding it again explicitly (:meth:`add`, :meth:`add_many`)
        indexes it anew.
        """
        with self._writing(), self._chroma_errors("remove the video"):
            record = self._record(video_id)
            ids = self._collection.get(where={"video_id": video_id}, include=[])["ids"]
            if record is not None and record.get("state") == _REMOVED and not ids:
                return 0
            if record is not None:
                # Hide it first: a crash half-way leaves a pending video, never half of one.
                self._manifest.upsert(
                    ids=[video_id], embeddings=[[0.0]], metadatas=[{**record, "state": _PENDING}]
                )
            for batch in _batched(ids, self._write_batch()):
                self._collection.delete(ids=list(batch))
            tombstone = {"video_id": video_id, "state": _REMOVED, "chunks": 0}
            self._manifest.upsert(
                ids=[video_id],
                embeddings=[[0.0]],
                metadatas=[{**tombstone, "removed_at": time.time()}],
            )
        return len(ids)

    def _removed(self) -> set[str]:
        """IDs of the videos removed from this index (their tombstones)."""
        with self._chroma_errors("read the manifest"):
            found = self._manifest.get(where={"state": _REMOVED}, include=[])
        return set(found["ids"])

    def _write_batch(self) -> int:
        if self._max_batch is None:
            with self._chroma_errors("ask the batch size"):
                self._max_batch = int(self._client.get_max_batch_size())
        return max(1, min(self._write_batch_size, self._max_batch))

    def _settings(self, max_tokens: int | None, overlap_tokens: int | None) -> ChunkSettings:
        return chunk_settings(
            self._preset,
            max_tokens=self._defaults.max_tokens if max_tokens is None else max_tokens,
            overlap_tokens=(
                overlap_tokens
                if overlap_tokens is not None
                else (self._defaults.overlap_tokens if max_tokens is None else None)
            ),
        )

    def _prepare(
        self,
        source: str | os.PathLike[str] | Transcript,
        settings: ChunkSettings,
        fetch: dict[str, Any],
    ) -> _Plan | _Outcome:
        """What adding *source* will write, or the video when it is indexed already as asked
        (for a YouTube source, known from the manifest without loading the transcript)."""
        if not isinstance(source, Transcript):
            known = None if fetch["refresh"] else self._already_indexed(
                source, fetch["languages"], fetch["translate_to"], fetch["captions"], settings,
                fetch["asr"], fetch["asr_model"],
            )
            if known is not None:
                return known
            from ytqa.transcripts import load_transcript

            source = load_transcript(source, **fetch)
        return self._plan(source, settings)

    def _already_indexed(
        self,
        source: str | os.PathLike[str],
        languages: Sequence[str],
        translate_to: str | None,
        captions: Captions,
        settings: ChunkSettings,
        asr: AsrMode | SpeechToText | None = None,
        asr_model: str | None = None,
    ) -> _Outcome | None:
        """The video when a YouTube *source* is indexed already as asked (no transcript load)."""
        from ytqa.video import is_video_id, parse_video_id

        text = str(source).strip()
        if not is_video_id(text) and Path(text).exists():
            return None  # a file: its content decides, and reading it is cheap
        try:
            video_id = parse_video_id(text)
        except YtqaError:
            return None
        record = self._record(video_id)
        if record is None or record.get("state") != _READY or record.get("source") != "youtube":
            return None
        if record.get("settings") != _settings_tag(settings):
            return None
        language = record.get("language")
        if translate_to is not None:
            if language != translate_to:
                return None
        elif languages and language not in languages:
            return None
        generated = bool(record.get("is_generated"))
        if (captions == "manual" and generated) or (captions == "generated" and not generated):
            return None
        if not _asr_as_asked(record, asr, asr_model):
            return None
        return _Outcome(video_id, record.get("title") or None, 0)

    def _plan(self, transcript: Transcript, settings: ChunkSettings) -> _Plan | _Outcome:
        """What adding *transcript* will write (reads only), or the video when it is here."""
        video_id = transcript.video_id
        fingerprint = _fingerprint(transcript, self._preset, settings)
        record = self._record(video_id)
        if (
            record is not None
            and record.get("state") == _READY
            and record.get("fingerprint") == fingerprint
        ):
            return _Outcome(video_id, transcript.title, 0)

        chunks = chunk_transcript(
            transcript,
            model=self._preset,
            max_tokens=settings.max_tokens,
            overlap_tokens=settings.overlap_tokens,
        )
        if not chunks:
            raise VideoIndexError(
                f"The transcript of {video_id} has no text to index. Check the transcript "
                "(or its file); ask for another language with languages=[...]."
            )
        ids = [f"{video_id}:{fingerprint}:{i}" for i in range(len(chunks))]
        entry = {
            "video_id": video_id,
            "state": _PENDING,
            "fingerprint": fingerprint,
            "settings": _settings_tag(settings),
            "chunks": len(chunks),
            "title": transcript.title or "",
            "channel": transcript.channel or "",
            "language": transcript.language_code,
            "is_generated": bool(transcript.is_generated),
            "captions": transcript.captions,
            "asr_model": transcript.asr_model or "",
            "source": transcript.source,
            "added_at": time.time(),
        }
        return _Plan(transcript, chunks, ids, entry)

    def _write_each(
        self, group: Sequence[tuple[str, _Plan]], bar: _Progress, report: IngestReport
    ) -> None:
        """Write *group*'s videos together, reporting each; if that fails, one by one,
        so that a video that cannot be written does not take the others with it."""
        if not group:
            return
        try:
            written = self._write_group([plan for _, plan in group], bar)
        except YtqaError as error:
            if len(group) == 1:
                report.failed.append(FailedSource(group[0][0], error))
                bar.video_done()
                return
            for single in group:
                self._write_each([single], bar, report)
            return
        for video in written:
            report.added.append(video)
            bar.video_done()

    def _write_group(self, plans: Sequence[_Plan], bar: _Progress) -> list[AddedVideo]:
        """Write the videos of *plans*, each all or nothing, holding the write lock.

        One manifest write marks them pending, their chunks go in batches that
        may span videos, and one manifest write (the commit point) marks them
        all ready. Stopped part-way, every one of them stays pending: hidden,
        and completed by adding it again.
        """
        names = ", ".join(plan.entry["video_id"] for plan in plans[:3])
        action = f"write video {names}" + (f" and {len(plans) - 3} more" if len(plans) > 3 else "")
        batch_size = self._write_batch()
        done: set[str] = set()
        video_ids = [plan.entry["video_id"] for plan in plans]
        with self._writing():
            with self._chroma_errors(action):
                # What the index holds now (another process may have written since the plan).
                found = self._manifest.get(ids=video_ids, include=["metadatas"])
                before = {
                    video_id: dict(meta)
                    for video_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True)
                }
                self._manifest.upsert(
                    ids=video_ids,
                    embeddings=[[0.0]] * len(plans),
                    metadatas=[plan.entry for plan in plans],
                )
                for plan in plans:
                    if plan.entry["video_id"] not in before:
                        continue
                    # Another version, or a stopped add: drop what cannot be reused.
                    video_id, fingerprint = plan.entry["video_id"], plan.entry["fingerprint"]
                    self._collection.delete(
                        where={
                            "$and": [
                                {"video_id": video_id},
                                {"ytqa_fingerprint": {"$ne": fingerprint}},
                            ]
                        }
                    )
                    for batch in _batched(plan.ids, batch_size):
                        done.update(self._collection.get(ids=list(batch), include=[])["ids"])
            todo = [
                (plan, i) for plan in plans for i, id_ in enumerate(plan.ids) if id_ not in done
            ]
            total = sum(len(plan.chunks) for plan in plans)
            bar.chunks(total, completed=total - len(todo))
            embeddings = self.embeddings
            for batch in _batched(todo, batch_size):
                texts = [plan.chunks[i].page_content for plan, i in batch]
                vectors = self._embed(embeddings, texts)
                with self._chroma_errors(action):
                    self._collection.upsert(
                        ids=[plan.ids[i] for plan, i in batch],
                        embeddings=vectors,
                        documents=texts,
                        metadatas=[
                            _stored_metadata(plan.chunks[i].metadata, plan.entry["fingerprint"])
                            for plan, i in batch
                        ],
                    )
                bar.advance(len(batch))
            now = time.time()
            with self._chroma_errors(action):
                # The commit point: one manifest write makes every video of the group visible.
                # (A microsecond apart, so that videos() keeps the order they were added in.)
                self._manifest.upsert(
                    ids=video_ids,
                    embeddings=[[0.0]] * len(plans),
                    metadatas=[
                        {**plan.entry, "state": _READY, "added_at": now + position * 1e-6}
                        for position, plan in enumerate(plans)
                    ],
                )
        for plan in plans:
            _cache_quietly(plan.transcript)
        return [
            AddedVideo(
                plan.entry["video_id"],
                plan.transcript.title,
                len(plan.chunks),
                transcript_kind(
                    plan.transcript.source, plan.transcript.is_generated, plan.transcript.asr_model
                ),
                _replaced(before.get(plan.entry["video_id"]), plan.entry["fingerprint"]),
            )
            for plan in plans
        ]

    def _embed(self, embeddings: Embeddings, texts: list[str]) -> Any:
        try:
            vectors = embeddings.embed_documents(texts)
        except YtqaError:
            raise
        except Exception as exc:
            raise EmbeddingModelError(
                f"Embedding with {self._preset.key!r} failed: {exc}. If the device ran out of "
                "memory, pass a smaller batch_size or device='cpu'."
            ) from exc
        if len(vectors) != len(texts) or any(len(v) != self._preset.dimension for v in vectors):
            raise EmbeddingModelError(
                f"The embeddings of index {self._name!r} returned vectors that do not match "
                f"preset {self._preset.key!r} ({self._preset.dimension} dimensions, one per text)."
            )
        return vectors

    @contextlib.contextmanager
    def _chroma_errors(self, action: str) -> Iterator[None]:
        """Turn Chroma's failures (its panics too) into a VideoIndexError that says what to
        do: an IndexCorruptError, pointing to the repair, when the files are damaged."""
        try:
            yield
        except YtqaError:
            raise
        except BaseException as exc:
            from ytqa.doctor import index_failure, is_chroma_failure

            if not is_chroma_failure(exc):
                raise
            raise index_failure(
                action, exc, location=self._where_label, client=self._client, collection=self._name
            ) from exc


# ---------------------------------------------------------------------------
# Retriever
# ---------------------------------------------------------------------------


class VideoIndexRetriever(VectorStoreRetriever):
    """A Chroma retriever that only ever returns chunks of complete videos.

    Before each search it leaves out pending videos (no filter at all when
    there are none); after it, it checks that every chunk belongs to the ready
    version of its video and searches again without any video that fails.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: VideoIndex = Field(exclude=True)
    """The index searched."""
    video_ids: tuple[str, ...] | None = None
    """Only these videos, when set."""

    def _search_kwargs(self, kwargs: dict[str, Any], excluded: set[str]) -> dict[str, Any]:
        merged = self.search_kwargs | kwargs
        ours = self.index.where(self.video_ids, exclude=excluded)
        return {**kwargs, "filter": _combine(merged.get("filter"), ours)}

    def _search_once(
        self,
        query: str,
        run_manager: CallbackManagerForRetrieverRun,
        kwargs: dict[str, Any],
        excluded: set[str],
    ) -> list[Document]:
        search_kwargs = self._search_kwargs(kwargs, excluded)
        # The index may have been reopened (another process wrote to it): search its store.
        self.vectorstore = self.index.vectorstore
        return super()._get_relevant_documents(query, run_manager=run_manager, **search_kwargs)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        excluded: set[str] = set()
        for _ in range(3):
            with self.index._chroma_errors("search"):
                docs = self.index._searching(
                    functools.partial(self._search_once, query, run_manager, kwargs, excluded)
                )
            docs, incomplete = self.index._resolve(docs)
            if not incomplete:
                return docs
            excluded |= incomplete
        return [d for d in docs if d.metadata.get("video_id") not in excluded]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        # Chroma and the embedding model block: run the search off the event loop.
        search = functools.partial(
            self._get_relevant_documents, query, run_manager=run_manager.get_sync(), **kwargs
        )
        documents: list[Document] = await run_in_executor(None, search)
        return documents


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _fetch_options(
    languages: Sequence[str],
    translate_to: str | None,
    captions: Captions,
    proxy: str | None,
    refresh: bool,
    asr: AsrMode | SpeechToText | None = None,
    asr_model: str | None = None,
) -> dict[str, Any]:
    """The keyword arguments of :func:`ytqa.transcripts.load_transcript` for an add."""
    return {
        "languages": languages,
        "translate_to": translate_to,
        "captions": captions,
        "proxy": proxy,
        "refresh": refresh,
        "asr": asr,
        "asr_model": asr_model,
    }


def _replaced(record: dict[str, Any] | None, fingerprint: str) -> str | None:
    """The transcript kind a write of *fingerprint* replaces, given the video's *record* before."""
    if record is None or record.get("state") != _READY or record.get("fingerprint") == fingerprint:
        return None
    return _record_kind(record)


def _record_kind(record: dict[str, Any]) -> str:
    """The :func:`transcript_kind` of a video's manifest *record*."""
    return transcript_kind(
        str(record.get("source") or ""),
        bool(record.get("is_generated")),
        str(record.get("asr_model") or "") or None,
    )


def _stored_metadata(metadata: dict[str, Any], fingerprint: str) -> dict[str, Any]:
    """The Chroma row metadata of a chunk: its own fields and its video's fingerprint."""
    row = {key: metadata[key] for key in CHUNK_ROW_FIELDS if key in metadata}
    row["ytqa_fingerprint"] = fingerprint
    return row


def _with_video_fields(document: Document, record: dict[str, Any]) -> Document:
    """*document* (a chunk row) with the fields of its video from its manifest *record*,
    and its links opening at the cited moment (``cited_start``, else ``start``)."""
    from ytqa.transcripts import video_link

    metadata = dict(document.metadata)
    for key in VIDEO_FIELDS:
        value = record.get(key)
        if key not in metadata and value not in (None, ""):
            metadata[key] = value
    moment = metadata.get("cited_start", metadata.get("start"))
    seconds = float(moment) if isinstance(moment, (int, float)) else None
    link = video_link(str(metadata["video_id"]), str(record.get("source") or "youtube"), seconds)
    metadata["url"] = metadata["source"] = link
    return Document(page_content=document.page_content, metadata=metadata, id=document.id)


def _record_from(meta: Any) -> VideoRecord:
    return VideoRecord(
        video_id=str(meta["video_id"]),
        title=str(meta.get("title") or "") or None,
        channel=str(meta.get("channel") or "") or None,
        language=str(meta.get("language", "")),
        is_generated=bool(meta.get("is_generated", False)),
        chunks=int(meta.get("chunks", 0)),
        source=str(meta.get("source", "")),
        added_at=float(meta.get("added_at", 0.0)),
        captions=str(meta.get("captions") or ""),
        asr_model=str(meta.get("asr_model") or "") or None,
    )


def _asr_as_asked(
    record: dict[str, Any], asr: AsrMode | SpeechToText | None, asr_model: str | None
) -> bool:
    """Whether an indexed video's transcript is of the kind the speech-to-text settings ask:
    captions unless ``asr="always"``, speech-to-text only with the Whisper model asked."""
    from ytqa.transcripts import speech_to_text

    speech = speech_to_text(asr, asr_model)
    recorded = record.get("asr_model") or None
    if recorded is None:
        return speech.mode != "always"
    return speech.mode != "never" and recorded == speech.model_name


def _embedded_folder(client: Any) -> Path | None:
    """The folder of an embedded persistent Chroma *client*; None in memory or on a server."""
    try:
        settings = client.get_settings()
    except Exception:  # not a chromadb client we know
        return None
    embedded = settings.chroma_api_impl in (
        "chromadb.api.rust.RustBindingsAPI",
        "chromadb.api.segment.SegmentAPI",
    )
    if not (embedded and settings.is_persistent and settings.persist_directory):
        return None
    return Path(settings.persist_directory)


def _own_embedded_client(directory: str, **options: Any) -> Any:
    """A ``chromadb.PersistentClient`` on *directory* that loads the index as it is on disk.

    Chroma shares one "system" per folder within a process, with each collection's
    vector index in memory, never reloaded; that system may predate another
    process's writes. Forgetting it makes the client start its own. Clients that
    still hold the old one keep working with what it had.
    """
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(directory, None)
    return chromadb.PersistentClient(path=directory, **options)


def _read_version(file: Path) -> str | None:
    """The version its writers last left in an index's version *file* (None: none yet)."""
    try:
        return file.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None


def _new_version(file: Path) -> str | None:
    """Give an index a new version in its version *file* (under the write lock); return it."""
    version = uuid.uuid4().hex
    temporary = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(version, encoding="ascii")
        os.replace(temporary, file)  # atomic: readers see the old version or the new one
    except OSError as exc:
        logger.warning(
            "Could not record a change of the index in %s (%s): searches in other processes "
            "may not see it until they open the index again.",
            file.parent,
            exc,
        )
        return None
    return version


def _drop_database(settings: Any, database: str) -> None:
    """Free the memory of an in-memory index (its private database)."""
    try:
        import chromadb

        chromadb.AdminClient(settings).delete_database(database)
    except Exception:  # interpreter shutting down, or already gone
        logger.debug("could not drop in-memory database %s", database, exc_info=True)


def _cache_quietly(transcript: Transcript) -> None:
    """Keep the transcript in the ytqa cache, so that other presets can re-embed it."""
    try:
        from ytqa.transcripts import save_cached
    except ImportError:  # pragma: no cover - the cache is part of ytqa.transcripts
        return
    try:
        save_cached(transcript)
    except (YtqaError, OSError) as exc:
        logger.warning("could not cache the transcript of %s: %s", transcript.video_id, exc)


class _Progress:
    """A rich progress display on stderr, or nothing when disabled."""

    def __init__(self, enabled: bool, total: int | None = None) -> None:
        self._enabled = enabled
        self._total = total
        self._progress: Any = None
        self._videos: Any = None
        self._chunks: Any = None

    def __enter__(self) -> _Progress:
        if not self._enabled:
            return self
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        if self._total is not None:
            self._videos = self._progress.add_task("videos", total=self._total)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def video(self, label: str) -> None:
        if self._progress is not None and self._videos is not None:
            self._progress.update(self._videos, description=f"videos ({label})")

    def video_done(self) -> None:
        if self._progress is not None and self._videos is not None:
            self._progress.advance(self._videos)

    def chunks(self, total: int, completed: int = 0) -> None:
        if self._progress is None:
            return
        if self._chunks is None:
            self._chunks = self._progress.add_task("chunks", total=total, completed=completed)
        else:
            self._progress.reset(self._chunks, total=total, completed=completed)

    def advance(self, count: int) -> None:
        if self._progress is not None and self._chunks is not None:
            self._progress.advance(self._chunks, count)
