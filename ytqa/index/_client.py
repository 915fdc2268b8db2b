"""Where an index lives: chromadb clients, embedded (persistent), in memory or on a server.

Every function here returns a chromadb client, or says of one where it keeps its
data; :class:`~ytqa.index.VideoIndex` opens its collections on it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import uuid
import weakref
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from ytqa.embeddings import DEFAULT_MODEL, EmbeddingPreset, resolve_preset
from ytqa.errors import VideoIndexError

__all__ = ["ServerAddress", "default_collection_name", "parse_server_url"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 8000
COLLECTION_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")
"""The collection names Chroma accepts."""


def default_collection_name(
    model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
) -> str:
    """Name of the collection that holds *model*'s vectors: ``ytqa-<preset key>``.

    Keys that Chroma does not accept as names (paths, hub names with ``/``) are
    turned into ``ytqa-<base name>-<hash of the key>``.
    """
    preset = resolve_preset(model)
    name = f"ytqa-{preset.key}"
    if COLLECTION_NAME.match(name) and len(name) <= 63:
        return name
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", preset.base_name).strip("-._")[:40] or "model"
    digest = hashlib.sha256(preset.key.encode()).hexdigest()[:10]
    return f"ytqa-{base}-{digest}"


class ServerAddress(NamedTuple):
    """Where a Chroma server listens (see :func:`parse_server_url`)."""

    host: str
    port: int
    ssl: bool

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://{self.host}:{self.port}"


def parse_server_url(url: str) -> ServerAddress:
    """``"http://localhost:8000"``, ``"https://chroma.example.org"`` or ``"host:port"``
    as the host, port and ssl of a Chroma server (``http`` and port 8000 by default).

    >>> parse_server_url("https://chroma.example.org")
    ServerAddress(host='chroma.example.org', port=8000, ssl=True)
    """
    text = url.strip()
    try:
        parts = urlsplit(text if "://" in text else f"http://{text}")
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise VideoIndexError(
            f"{url!r} is not a Chroma server URL ({exc}): write it as http://HOST:PORT."
        ) from exc
    return ServerAddress(parts.hostname or "localhost", port, parts.scheme == "https")


def server_client(address: ServerAddress, headers: dict[str, str] | None = None) -> Any:
    """A client of the Chroma server at *address*, once it answered a heartbeat."""
    import chromadb

    try:
        client = chromadb.HttpClient(
            host=address.host, port=address.port, ssl=address.ssl, headers=headers
        )
        client.heartbeat()
    except Exception as exc:
        raise VideoIndexError(
            f"Could not reach the Chroma server at {address.url}: {exc}. Start one with "
            f"`chroma run --path DIR --port {address.port}`, or check the host, port, ssl and "
            "headers passed to VideoIndex.from_server()."
        ) from exc
    return client


def memory_client(owner: object) -> tuple[Any, weakref.finalize[Any, Any]]:
    """A private in-memory client, and the finalizer that drops its database (called
    when *owner* is freed, or earlier by hand)."""
    import chromadb
    from chromadb.config import Settings

    # Ephemeral clients share one in-process system: a database of its
    # own keeps this index private, and is dropped with the object.
    settings = Settings()
    settings.is_persistent = False
    database = f"ytqa-{uuid.uuid4().hex}"
    admin = chromadb.AdminClient(settings)
    admin.create_database(database)
    finalizer = weakref.finalize(owner, _drop_database, settings, database)
    return chromadb.EphemeralClient(database=database), finalizer


def _drop_database(settings: Any, database: str) -> None:
    """Free the memory of an in-memory index (its private database)."""
    try:
        import chromadb

        chromadb.AdminClient(settings).delete_database(database)
    except Exception:  # interpreter shutting down, or already gone
        logger.debug("could not drop in-memory database %s", database, exc_info=True)


def embedded_client(directory: str, **options: Any) -> Any:
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


def reopened(client: Any) -> Any:
    """A new embedded client on the folder of embedded *client*, which reads it from disk."""
    settings = client.get_settings()
    return embedded_client(
        str(settings.persist_directory),
        settings=settings,
        tenant=client.tenant,
        database=client.database,
    )


def embedded_folder(client: Any) -> Path | None:
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
