"""Reading a local index in a child process, for :mod:`ytqa.index.doctor`.

``python -m ytqa.index._probe FOLDER`` opens the Chroma index in FOLDER, reads
every collection (count, dimension, the metadata of every row) and loads its
vectors with one query. A damaged HNSW file can crash Chroma outright (a
segmentation fault, not an exception), so the doctor runs this in a child
process and survives to report it. Each step is announced on stdout as a JSON
line before it starts (``{"step": ...}``), so that the parent knows where a
crash happened, and each collection's findings follow as soon as it is read
(``{"collection": ...}``); manifests go first, so that a crash in a chunk
collection still leaves its list of videos. ``{"error": ...}`` says the index
could not be opened; ``{"done": true}`` ends a complete probe.

It imports nothing of ytqa but what ``import ytqa`` loads, the manifest's rules
(:mod:`ytqa.index._manifest`, light) and chromadb.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

from ytqa.index import _manifest as manifest

ROWS_PER_READ = 5000
"""Rows read per ``get`` call: bounds the memory the probe needs on large collections."""


def _say(**payload: Any) -> None:
    print(json.dumps(payload, default=str), flush=True)


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:300]}" if text else type(error).__name__


def _read(collection: Any, entry: dict[str, Any]) -> None:
    """Fill *entry* with what *collection* holds: counts per video and fingerprint for
    chunk rows, every record for a manifest."""
    entry["count"] = collection.count()
    first = collection.get(limit=1, include=["embeddings"])
    vectors = first.get("embeddings")
    entry["dimension"] = len(vectors[0]) if vectors is not None and len(vectors) else None
    is_manifest = manifest.is_manifest(entry["metadata"])
    records: dict[str, dict[str, Any]] = {}
    rows: Counter[tuple[str, str]] = Counter()
    offset = 0
    while True:
        page = collection.get(include=["metadatas"], limit=ROWS_PER_READ, offset=offset)
        ids = page["ids"]
        for row_id, meta in zip(ids, page["metadatas"] or [], strict=True):
            meta = dict(meta or {})
            if is_manifest:
                records[row_id] = meta
            else:
                rows[(str(meta.get("video_id")), str(manifest.row_fingerprint(meta)))] += 1
        if len(ids) < ROWS_PER_READ:
            break
        offset += len(ids)
    if is_manifest:
        entry["records"] = records
    else:
        entry["rows"] = [[video_id, fingerprint, n] for (video_id, fingerprint), n in rows.items()]


def probe(folder: str) -> None:
    """Print what the index in *folder* holds, with the error of each step that failed."""
    import chromadb

    try:
        _say(step="opening the index")
        client = chromadb.PersistentClient(path=folder)
        _say(step="listing the collections")
        listed = list(client.list_collections())
    except BaseException as exc:  # Chroma's Rust panics are BaseExceptions
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        _say(error=_describe(exc))
        return
    # Manifests first: small, and what a repair needs most.
    listed.sort(key=lambda c: (not manifest.is_manifest(c.metadata), c.name))
    for collection in listed:
        entry: dict[str, Any] = {
            "name": collection.name,
            "metadata": dict(collection.metadata or {}),
            "error": None,
            "vectors_error": None,
        }
        try:
            _say(step=f"reading collection {collection.name!r}")
            _read(collection, entry)
            if entry["dimension"]:
                _say(step=f"loading the vectors of collection {collection.name!r}")
                query: list[float] = [1.0] + [0.0] * (int(entry["dimension"]) - 1)
                try:
                    collection.query(query_embeddings=query, n_results=1, include=[])
                except BaseException as exc:
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    entry["vectors_error"] = _describe(exc)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            entry["error"] = _describe(exc)
        _say(collection=entry)
    _say(done=True)


if __name__ == "__main__":
    probe(sys.argv[1])
