"""The vector index: one Chroma collection per embedding preset, filled video by video.

:class:`VideoIndex` wraps a ``langchain_chroma.Chroma`` store. It is embedded
and persistent by default (under ``ytqa.config.index_dir()``), in memory when
asked, or on a Chroma server (:meth:`VideoIndex.from_server`,
:meth:`VideoIndex.from_url`). It takes :class:`~ytqa.Transcript` s; fetching
them from sources is :mod:`ytqa.ingest`'s job (``add``/``add_many`` hand sources
over to it).

How a video gets in, all or nothing
-----------------------------------

Beside the collection of chunks (``ytqa-minilm``) lives a small *manifest*
collection (``ytqa-minilm-videos``, :mod:`ytqa.index._manifest`) with one record
per video: its state (``pending``, ``ready`` or ``removed``), a fingerprint of
what was indexed (transcript content, preset, chunking settings), its chunk
count, title, channel, language, source. A chunk's row holds only the chunk's
own fields; the retrievers attach the video's fields from the manifest
(:meth:`VideoIndex.attach_video_metadata`), since every metadata key of a row
costs Chroma time on each write. Adding videos (:mod:`ytqa.index._writes`):

1. marks them ``pending`` in the manifest (from here on, queries leave them out);
2. deletes chunks of any other version of them (older chunking, stale partial adds);
3. embeds and writes their chunks batch by batch;
4. marks them ``ready``: one manifest write, the commit point.

Queries through :meth:`VideoIndex.as_retriever` (and the filter of
:meth:`VideoIndex.where`) leave out every video that is not ``ready``. When
nothing is pending (the usual case) they run with no filter at all, which
matters: a Chroma metadata filter costs tens to hundreds of milliseconds on a
100 k-chunk collection, an unfiltered search about one. The retriever also
checks, after each search, that every chunk it returns belongs to the ready
version of its video (:meth:`VideoIndex.resolve_documents`), and searches again
without the videos that fail; so a reader in another process that races with a
writer never returns part of a video either.

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
  (``ytqa-write.lock``, with ``filelock``): writers take turns, readers never wait;
* each write ends by giving the collection a new version (a file named after
  it, ``ytqa-minilm.version``);
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
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from langchain_core.documents import Document

from ytqa.chunking import CHUNKER_VERSION, ChunkSettings, chunk_settings
from ytqa.config import index_dir
from ytqa.embeddings import DEFAULT_MODEL, EmbeddingPreset, resolve_preset
from ytqa.errors import IndexCorruptError, IndexModelMismatchError, VideoIndexError, YtqaError
from ytqa.index import _client, _writes
from ytqa.index import _manifest as manifest
from ytqa.index._client import default_collection_name
from ytqa.index._failures import (
    chunking_damage,
    damage_of,
    index_failure,
    is_chroma_failure,
    is_server_client,
    metadata_damage,
)
from ytqa.index._manifest import VideoRecord
from ytqa.index._report import IngestReport, ProgressCallback, Tracker
from ytqa.index.sync import sync_index
from ytqa.transcripts import Transcript

if TYPE_CHECKING:  # pragma: no cover - types only
    from langchain_chroma import Chroma
    from langchain_core.embeddings import Embeddings

    from ytqa.retrieval import VideoRetriever

__all__ = ["VideoIndex", "default_collection_name"]

logger = logging.getLogger(__name__)

_SCHEMA = 1
# A video ID that no video has: a filter on it matches nothing.
_NO_VIDEO = "\x00no-video"
# Searches tried again when Chroma fails because another process wrote meanwhile.
_SEARCH_ATTEMPTS = 3

_T = TypeVar("_T")


def collection_metadata(preset: EmbeddingPreset) -> dict[str, Any]:
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
    :meth:`from_server` and :meth:`from_url`). ``embeddings`` replaces the preset's model (any
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
        self._write_batch_size = write_batch_size or _writes.DEFAULT_WRITE_BATCH
        self._max_batch: int | None = None
        self._vectorstore: Chroma | None = None
        self._where_label = "the Chroma index"
        self._finalizer: Any = None
        # The version of an embedded index that this one's client reflects; unknown
        # (None) for a client passed in, which then reopens once if there is a version.
        self._seen_version: str | None = None
        chosen = sum((client is not None, persist_directory is not None, in_memory))
        if chosen > 1:
            raise VideoIndexError(
                "Pass only one of client=, persist_directory= and in_memory=True to VideoIndex."
            )
        name = collection_name or default_collection_name(self._preset)
        if not _client.COLLECTION_NAME.match(name):
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
        self._folder = _client.embedded_folder(self._client)
        # Creating the collections is a write; opening them is not (readers never wait).
        with self._locked() if self._creates_collections() else contextlib.nullcontext():
            self._collection, self._manifest = self._open_collections()

    # -- construction -------------------------------------------------------

    @classmethod
    def from_server(
        cls,
        host: str,
        port: int = _client.DEFAULT_PORT,
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
        address = _client.ServerAddress(host, port, ssl)
        index = cls(
            model,
            client=_client.server_client(address, headers),
            collection_name=collection_name,
            embeddings=embeddings,
            device=device,
            batch_size=batch_size,
            write_batch_size=write_batch_size,
        )
        index._where_label = f"the Chroma server at {address.url}"
        return index

    @classmethod
    def from_url(
        cls, url: str, *, model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
        **options: Any,
    ) -> VideoIndex:
        """Open the index on the Chroma server at *url* (``"http://localhost:8000"``,
        ``"https://host"``, ``"host:port"``); *options* as for :meth:`from_server`."""
        address = _client.parse_server_url(url)
        return cls.from_server(
            address.host, address.port, ssl=address.ssl, model=model, **options
        )

    def _make_client(self, persist_directory: Any, in_memory: bool) -> Any:
        if in_memory:
            client, self._finalizer = _client.memory_client(self)
            self._where_label = "the in-memory index"
            return client
        directory = Path(persist_directory) if persist_directory is not None else index_dir()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            # Read before opening: a write that lands after it makes the index reopen.
            self._seen_version = _writes.read_version(_writes.version_file(directory, self._name))
            client = _client.embedded_client(str(directory))
        except BaseException as exc:  # Chroma's Rust panics are BaseExceptions
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

    def _open_collections(self) -> tuple[Any, Any]:
        metadata = collection_metadata(self._preset)
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
            records = self._client.get_or_create_collection(
                manifest.manifest_name(self._name),
                metadata=manifest.manifest_metadata(self._name),
                configuration={"hnsw": {"space": "l2"}},
                embedding_function=None,
            )
        self._defaults = ChunkSettings(
            int(found.get("ytqa_max_tokens", metadata["ytqa_max_tokens"])),
            int(found.get("ytqa_overlap_tokens", metadata["ytqa_overlap_tokens"])),
        )
        return collection, records

    def _check_model(self, found: dict[str, Any]) -> None:
        """Refuse a collection of another model, and one whose recorded values are damaged
        (pointing to the repair rather than to a model that would fail the same way)."""
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
                _client.embedded_folder(self._client),
                server=is_server_client(self._client),
            )

    # -- several processes on one embedded index -----------------------------

    def _locked(self) -> contextlib.AbstractContextManager[None]:
        return _writes.locked(self._folder)

    def _creates_collections(self) -> bool:
        """Whether opening this embedded index creates its collections."""
        if self._folder is None:
            return False
        with self._chroma_errors("list the collections"):
            names = {collection.name for collection in self._client.list_collections()}
        return not {self._name, manifest.manifest_name(self._name)} <= names

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
                    self._seen_version = _writes.new_version(
                        _writes.version_file(self._folder, self._name)
                    )

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
        version = _writes.read_version(_writes.version_file(self._folder, self._name))
        if version != self._seen_version:
            self._reopen()
            self._seen_version = version

    def _reopen(self) -> None:
        """A new embedded client on the same folder, which loads the index from disk."""
        with self._chroma_errors("open the index again"):
            self._client = _client.reopened(self._client)
        self._collection, self._manifest = self._open_collections()
        self._vectorstore = None

    def searching(self, search: Callable[[], _T]) -> _T:
        """Run *search* (a search of :attr:`vectorstore`, which must make its filter with
        :meth:`where` afresh each time); Chroma's failures become ytqa errors.

        When Chroma fails because another process wrote to the index meanwhile,
        the index is reopened and *search* run again, a few times.
        """
        from chromadb.errors import InternalError

        with self._chroma_errors("search"):
            for attempt in range(1, _SEARCH_ATTEMPTS + 1):
                try:
                    return search()
                except InternalError as exc:
                    if self._folder is not None and damage_of(exc, self._folder) is not None:
                        raise  # damaged files, not a race: _chroma_errors names the repair
                    if self._folder is None or attempt == _SEARCH_ATTEMPTS:
                        raise VideoIndexError(
                            f"Chroma failed to search {self._where_label} (collection "
                            f"{self._name!r}): {exc}. If another process was writing to the "
                            "index, search again once it is done; if readers and writers run "
                            "together all the time, serve the index with a Chroma server "
                            "(VideoIndex.from_server). If it keeps failing, the index may be "
                            "damaged."
                        ) from exc
                    logger.debug("search failed (%s); reopening the index", exc)
                    self._reopen()
                    self._seen_version = _writes.read_version(
                        _writes.version_file(self._folder, self._name)
                    )
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
    def collection(self) -> Any:
        """The chromadb collection of chunks (a new object after the index is reopened,
        so read it again for each search rather than keeping it)."""
        return self._collection

    @property
    def chunking(self) -> ChunkSettings:
        """Chunking used when ``add`` gets none: the settings the collection was made with."""
        return self._defaults

    @property
    def embeddings(self) -> Embeddings:
        """The LangChain embeddings of this index: unless given, the preset's
        :class:`~ytqa.preset_embeddings.PresetEmbeddings` (questions without torch; the
        sentence-transformers model loads when documents are embedded)."""
        if self._embeddings is None:
            from ytqa.preset_embeddings import PresetEmbeddings

            self._embeddings = PresetEmbeddings(
                self._preset, device=self._device, batch_size=self._batch_size
            )
        return self._embeddings

    def embed_query(self, text: str) -> list[float]:
        """The vector of the question *text*, made as :attr:`embeddings` makes it.

        With the preset's own model (no ``embeddings=`` given) the question is
        embedded in numpy where the model allows it, without loading LangChain's
        embeddings class, torch or sentence-transformers: what keeps ``ytqa search``
        quick to start."""
        if self._embeddings is None:
            from ytqa._query_encoder import query_vector

            vector = query_vector(self._preset, text)
            if vector is not None:
                return vector
        return self.embeddings.embed_query(text)

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
            found = manifest.records_in(self._manifest, manifest.READY)
        records = [manifest.video_record(meta) for meta in found]
        return sorted(records, key=lambda r: (r.added_at, r.video_id))

    def video(self, video_id: str, *, chunking: ChunkSettings | None = None) -> VideoRecord | None:
        """*video_id*'s record when it is in the index completely (and, with *chunking*,
        chunked with those settings); None otherwise."""
        record = self._record(video_id)
        if not manifest.is_ready(record) or record is None:
            return None
        if chunking is not None and manifest.settings_of(record) != _writes.settings_tag(chunking):
            return None
        return manifest.video_record(record)

    def has_video(self, video_id: str) -> bool:
        """Whether *video_id* is in the index, completely."""
        return manifest.is_ready(self._record(video_id))

    def count(self) -> int:
        """Number of chunks that queries can see (those of complete videos)."""
        return sum(record.chunks for record in self.videos())

    def pending(self) -> list[str]:
        """IDs of videos being added now, or whose add stopped part-way (hidden from queries)."""
        with self._chroma_errors("read the manifest"):
            return manifest.ids_in(self._manifest, manifest.PENDING)

    def removed(self) -> list[str]:
        """IDs of the videos removed from this index (which :meth:`sync` leaves out)."""
        with self._chroma_errors("read the manifest"):
            return manifest.ids_in(self._manifest, manifest.REMOVED)

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
    ) -> VideoRetriever:
        """A LangChain retriever over the complete videos (optionally only *video_ids*).

        The :class:`~ytqa.retrieval.VideoRetriever` that :func:`ytqa.build_retriever`
        returns, with the same metadata (``score``, ``timestamp``, the neighbour
        window). Takes the arguments of ``VectorStore.as_retriever``
        (``search_type``, ``search_kwargs`` with ``k``, ``fetch_k``, ``filter``...)
        and the retriever's own (``window``, ``cite_lead``, ``tags``...).
        """
        from ytqa.retrieval import VideoRetriever

        options = dict(kwargs.pop("search_kwargs", None) or {})
        k = options.pop("k", 4)
        ids = None if video_ids is None else (
            [video_ids] if isinstance(video_ids, str) else list(video_ids)
        )
        tags = [*(kwargs.pop("tags", None) or []), *self.vectorstore._get_retriever_tags()]
        return VideoRetriever(
            index=self, k=k, search_kwargs=options, video_ids=ids, tags=tags, **kwargs
        )

    def _record(self, video_id: str) -> dict[str, Any] | None:
        with self._chroma_errors("read the manifest"):
            return manifest.read_record(self._manifest, video_id)

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
        return self.resolve_documents(documents)[0]

    def resolve_documents(
        self, documents: Sequence[Document]
    ) -> tuple[list[Document], set[str]]:
        """*documents* with their videos' fields attached, and the videos of those whose
        chunk is not of the ready version of its video (to search again without them)."""
        chunks = [d for d in documents if manifest.row_fingerprint(d.metadata) is not None]
        ids = sorted({str(d.metadata.get("video_id")) for d in chunks})
        if not ids:
            return list(documents), set()
        with self._chroma_errors("read the manifest"):
            found = manifest.read_records(self._manifest, ids)
        ready = {video_id: meta for video_id, meta in found.items() if manifest.is_ready(meta)}
        incomplete = {
            str(d.metadata.get("video_id"))
            for d in chunks
            if manifest.fingerprint_of(ready.get(str(d.metadata.get("video_id"))))
            != manifest.row_fingerprint(d.metadata)
        }
        resolved = [
            manifest.with_video_fields(d, ready[video_id])
            if manifest.row_fingerprint(d.metadata) is not None
            and (video_id := str(d.metadata.get("video_id"))) in ready
            and video_id not in incomplete
            else d
            for d in documents
        ]
        return resolved, incomplete

    # -- writing ------------------------------------------------------------

    def add(
        self,
        transcript: Transcript | str | os.PathLike[str],
        *,
        max_tokens: int | None = None,
        overlap_tokens: int | None = None,
        progress: ProgressCallback | None = None,
        **fetch_options: Any,
    ) -> int:
        """Add one video and return how many chunks were written (0: already there).

        *transcript* is a :class:`~ytqa.Transcript`; a source (a video ID or
        URL, a transcript, audio or video file) is handed to
        :func:`ytqa.ingest.add_source` with *fetch_options* (the fields of
        :class:`ytqa.ingest.FetchOptions`: ``languages``, ``captions``, ``asr``...).
        ``max_tokens`` and ``overlap_tokens`` default to the settings the collection
        was made with (:attr:`chunking`).

        A video already indexed with the same transcript, preset and chunking is
        left alone: nothing is embedded. With other chunking or another
        transcript, its chunks are replaced. The video is in the index
        completely or not at all (see the module documentation).

        Raises:
            YtqaError: a subclass saying why the transcript could not be had,
                why the model could not embed, or why Chroma refused the write.
        """
        if not isinstance(transcript, Transcript):
            from ytqa.ingest import FetchOptions, add_source

            return add_source(
                self, transcript, FetchOptions(**fetch_options),
                max_tokens=max_tokens, overlap_tokens=overlap_tokens, progress=progress,
            )
        _no_fetch_options(fetch_options)
        settings = self.chunking_for(max_tokens, overlap_tokens)
        planned = _writes.plan(self, transcript, settings)
        if planned is None:
            return 0
        return _writes.write_group(self, [planned], Tracker(progress))[0].chunks

    def add_many(
        self,
        transcripts: Iterable[Transcript | str | os.PathLike[str]] | str | os.PathLike[str],
        *,
        max_tokens: int | None = None,
        overlap_tokens: int | None = None,
        progress: ProgressCallback | None = None,
        **fetch_options: Any,
    ) -> IngestReport:
        """Add many videos; one that fails does not stop the others.

        The call is :func:`ytqa.ingest.ingest` with *fetch_options* as a
        :class:`ytqa.ingest.FetchOptions`: sources (URLs, IDs, playlists, files,
        folders, :class:`~ytqa.Transcript` s) are expanded, one is chosen per
        video, transcripts are fetched, and they are written in batches that may
        span videos (:meth:`add_transcripts`, which takes transcripts only).

        Returns an :class:`~ytqa.IngestReport` of added (each saying which
        transcript it ``replaced``, if any), skipped (already there), ignored and
        failed sources.

        Raises:
            EmbeddingModelError: the embedding model (or its tokenizer) cannot be
                loaded, which every video would fail alike; the videos written
                before stay indexed.
        """
        from ytqa.ingest import FetchOptions, ingest

        return ingest(
            self, transcripts, FetchOptions(**fetch_options),
            max_tokens=max_tokens, overlap_tokens=overlap_tokens, progress=progress,
        )

    def add_transcripts(
        self,
        transcripts: Iterable[Transcript | tuple[str, Transcript]],
        *,
        chunking: ChunkSettings | None = None,
        progress: ProgressCallback | Tracker | None = None,
        report: IngestReport | None = None,
    ) -> IngestReport:
        """Write *transcripts* (each maybe labelled with its source: ``(source,
        transcript)``), consumed one at a time, in batches that may span videos.

        Videos already indexed as they are go to ``skipped``; a video that cannot
        be written goes to ``failed`` (under its label) and the others are
        written. *report* (a new one by default) is filled and returned.
        """
        report = IngestReport() if report is None else report
        tracker = progress if isinstance(progress, Tracker) else Tracker(progress)
        labelled = (
            item if isinstance(item, tuple) else (item.video_id, item) for item in transcripts
        )
        _writes.write(self, labelled, chunking or self.chunking_for(), tracker, report)
        return report

    def sync(
        self,
        from_model: str | EmbeddingPreset | os.PathLike[str] | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Embed the videos that other presets' indexes hold and this one lacks.

        Every video indexed in this Chroma client (with any preset, or only with
        *from_model*) and missing here is added from its cached transcript: no
        HTTP request; a transcript file no longer cached is read again if it
        still exists. The report lists videos ``added``, ``skipped`` (already
        here) and ``failed`` (``TranscriptCacheMissError`` when the cached
        transcript is gone, each also logged as a warning). ``progress`` is called
        as videos are embedded.

        A video removed from this index (:meth:`remove`) is not carried over
        again, and is not listed in the report; one removed from every index is
        known to none.

        Raises:
            VideoIndexError: the indexes cannot be listed, or *from_model* has none here.
        """
        return sync_index(self, from_model, progress=progress)

    def remove(self, video_id: str) -> int:
        """Remove a video (complete or pending) and return how many chunks were deleted.

        The video stays removed: its manifest keeps a ``removed`` record (no
        chunks), which :meth:`sync` (and so ``build_retriever`` without
        ``videos=``) respects even when another preset's index holds the video.
        This holds for a video this index never had, too. Adding it again
        explicitly (:meth:`add`, :meth:`add_many`) indexes it anew.
        """
        return _writes.remove(self, video_id)

    def _write_batch(self) -> int:
        if self._max_batch is None:
            with self._chroma_errors("ask the batch size"):
                self._max_batch = int(self._client.get_max_batch_size())
        return max(1, min(self._write_batch_size, self._max_batch))

    def chunking_for(
        self, max_tokens: int | None = None, overlap_tokens: int | None = None
    ) -> ChunkSettings:
        """The chunking of an add given *max_tokens* and *overlap_tokens* (None: the
        collection's own, :attr:`chunking`)."""
        return chunk_settings(
            self._preset,
            max_tokens=self._defaults.max_tokens if max_tokens is None else max_tokens,
            overlap_tokens=(
                overlap_tokens
                if overlap_tokens is not None
                else (self._defaults.overlap_tokens if max_tokens is None else None)
            ),
        )

    @contextlib.contextmanager
    def _chroma_errors(self, action: str) -> Iterator[None]:
        """Turn Chroma's failures (its panics too) into a VideoIndexError that says what to
        do: an IndexCorruptError, pointing to the repair, when the files are damaged."""
        try:
            yield
        except YtqaError:
            raise
        except BaseException as exc:
            if not is_chroma_failure(exc):
                raise
            raise index_failure(
                action, exc, location=self._where_label, client=self._client, collection=self._name
            ) from exc


def _no_fetch_options(options: dict[str, Any]) -> None:
    if options:
        raise TypeError(
            f"VideoIndex.add() got fetch options ({', '.join(sorted(options))}) with a "
            "Transcript, which needs no fetching."
        )
