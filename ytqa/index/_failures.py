"""Chroma's failures as ytqa errors: what a failure means, and the files' damage.

Every Chroma call of :class:`~ytqa.index.VideoIndex` goes through
:func:`index_failure`; the doctor (:mod:`ytqa.index.doctor`) checks the same
damage when it examines an index.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ytqa.chunking import chunk_settings
from ytqa.embeddings import EMBEDDING_MODELS, EmbeddingPreset
from ytqa.errors import IndexCorruptError, VideoIndexError, YtqaError, repair_advice

SQLITE_FILE = "chroma.sqlite3"
"""The database of a Chroma folder (collections, rows, metadata, the write log)."""


# Words in Chroma's errors that mean damaged files (SQLite's, HNSW's, the pickled HNSW metadata).
_DAMAGE_WORDS = ("malformed", "not a database", "hnsw", "pickle", "corrupt")




def is_chroma_failure(error: BaseException) -> bool:
    """Whether *error* was raised by Chroma (or SQLite under it), a Rust panic included.

    Chroma's Rust bindings report some failures as ``pyo3_runtime.PanicException``,
    which is not an ``Exception``; errors raised by other code (an embedding
    model called during a search, a bug) are not Chroma's to explain.
    """
    if type(error).__name__ == "PanicException":
        return True
    if not isinstance(error, Exception):
        return False
    if type(error).__module__.split(".")[0] in ("chromadb", "sqlite3"):
        return True
    trace = error.__traceback__
    while trace is not None:
        if str(trace.tb_frame.f_globals.get("__name__", "")).startswith("chromadb"):
            return True
        trace = trace.tb_next
    return False


def client_folder(client: Any) -> Path | None:
    """The folder of a local persistent chromadb *client*; None for a server or memory."""
    try:
        settings = client.get_settings()
    except Exception:
        return None
    api = str(getattr(settings, "chroma_api_impl", "") or "").lower()
    directory = getattr(settings, "persist_directory", None)
    if getattr(settings, "is_persistent", False) and directory and "fastapi" not in api:
        return Path(directory)
    return None


def is_server_client(client: Any) -> bool:
    """Whether *client* talks to a Chroma server."""
    try:
        return "fastapi" in str(client.get_settings().chroma_api_impl).lower()
    except Exception:
        return False


def sqlite_damage(database: Path, *, quick: bool = False) -> str | None:
    """What SQLite's own check finds wrong in *database*, or None when it passes.

    ``quick=True`` runs ``PRAGMA quick_check`` (no cross-check of indexes), for
    the error path of everyday commands; the doctor runs ``integrity_check``.
    A database that is locked or cannot be opened is not called damaged.
    """
    pragma = "quick_check" if quick else "integrity_check"
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            findings = [str(row[0]) for row in connection.execute(f"PRAGMA {pragma}")]
        finally:
            connection.close()
    except sqlite3.OperationalError as exc:
        text = str(exc).lower()
        if any(word in text for word in ("locked", "busy", "unable to open")):
            return None
        return f"{SQLITE_FILE} cannot be read by SQLite ({exc})"
    except sqlite3.DatabaseError as exc:
        return f"{SQLITE_FILE} fails SQLite's integrity check ({exc})"
    if findings == ["ok"]:
        return None
    more = f", and {len(findings) - 1} more findings" if len(findings) > 1 else ""
    return f"{SQLITE_FILE} fails SQLite's integrity check ({findings[0]}{more})"


def describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def damage_of(error: BaseException, folder: Path | None) -> str | None:
    """Why the Chroma failure *error* means damaged files, or None when nothing says so.

    For a local index, SQLite's quick check of the database decides; otherwise
    the words of the error (``database disk image is malformed``, an HNSW file
    that does not load) or a panic of Chroma's bindings.
    """
    if folder is not None and (folder / SQLITE_FILE).is_file():
        found = sqlite_damage(folder / SQLITE_FILE, quick=True)
        if found is not None:
            return found
    text = str(error).lower()
    if type(error).__name__ == "PanicException" or any(word in text for word in _DAMAGE_WORDS):
        return f"Chroma failed with {describe(error)}"
    return None


def index_failure(
    action: str, error: BaseException, *, location: str, client: Any, collection: str | None
) -> VideoIndexError:
    """The ytqa error for Chroma's *error* while doing *action* (``"list the videos"``).

    :class:`~ytqa.IndexCorruptError` when the files are damaged; otherwise a
    :class:`~ytqa.VideoIndexError` that names the index and what to do.
    """
    folder = client_folder(client)
    server = is_server_client(client)
    which = f" (collection {collection!r})" if collection else ""
    damage = damage_of(error, folder)
    if damage is not None:
        return IndexCorruptError(
            f"{location}{which}", f"could not {action}: {damage}", folder, server=server
        )
    if folder is not None:
        todo = "If it fails again, the index may be damaged. " + repair_advice(folder)
    elif server:
        todo = "Check that the Chroma server is up and reachable, then retry."
    else:
        todo = "Retry; if it fails again, make a new index and add the videos again."
    return VideoIndexError(f"Could not {action} in {location}{which}: {describe(error)}. {todo}")


def metadata_damage(metadata: Mapping[str, Any]) -> str | None:
    """What contradicts itself in the values a chunk collection recorded, or None.

    A model has one dimension: a registered model recorded with another
    dimension or space, or a dimension or chunking that is not a whole number,
    can only come from damaged or edited metadata.
    """
    dimension: Any = metadata.get("ytqa_dimension")
    if not is_whole(dimension) or dimension < 1:
        return f"it records dimension {dimension!r}"
    for key in ("ytqa_max_tokens", "ytqa_overlap_tokens"):
        if key in metadata and not is_whole(metadata[key]):
            return f"it records {key.removeprefix('ytqa_')}={metadata[key]!r}"
    space = metadata.get("ytqa_space")
    if space not in ("cosine", "ip", "l2"):
        return f"it records Chroma space {space!r}"
    model = metadata.get("ytqa_model")
    known = [p for p in EMBEDDING_MODELS.values() if p.model_name == model]
    if known and not any(p.dimension == dimension and p.chroma_space == space for p in known):
        preset = known[0]
        return (
            f"it records model {model!r} with {dimension} dimensions and {space} space, but "
            f"that model makes {preset.dimension}-dimension vectors compared by "
            f"{preset.chroma_space}"
        )
    return None


def chunking_damage(metadata: Mapping[str, Any], preset: EmbeddingPreset) -> str | None:
    """Why the chunking a collection recorded cannot be used with *preset*, or None."""
    if preset.max_tokens < 8:
        return None
    try:
        chunk_settings(
            preset,
            max_tokens=int(metadata.get("ytqa_max_tokens", 0)),
            overlap_tokens=int(metadata.get("ytqa_overlap_tokens", 0)),
        )
    except (YtqaError, TypeError, ValueError) as exc:
        return f"its recorded chunking cannot be used with {preset.key!r} ({exc})"
    return None


def is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
