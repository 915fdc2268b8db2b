"""Checking and repairing a local index: :func:`check_index`, :func:`repair_index`, ``ytqa doctor``.

What can be wrong with an index folder, how it is found, and what the repair does:

``corrupt-files``
    ``PRAGMA integrity_check`` of ``chroma.sqlite3`` fails, or Chroma fails or
    crashes in a child process that opens every collection, reads its rows and
    loads its vectors (a damaged HNSW file can crash Chroma, so the check runs
    apart). Repair: the folder is moved aside to ``<folder>.corrupt-<time>``
    (kept, never deleted), a fresh index is made in its place, and every video
    is added again from the transcript cache.
``metadata``
    Values a collection records (model, dimension, space, preset, chunking)
    contradict the preset whose vectors it holds, or its manifest is missing.
    Repair: rewritten from that preset.
``pending``
    A video left pending by an add that stopped. Repair: added again.
``missing-chunks``
    A ready video has fewer chunk rows (of its fingerprint) than its record
    says. Repair: hidden, then added again (the rows it has are reused).
``fingerprint``
    A ready video's recorded fingerprint matches none of its chunk rows, which
    are those of its cached transcript. Repair: added again (no embedding).
``stray-chunks``
    Rows of no known video, of a removed one, or of another version of a ready
    video (searches never show them). Repair: deleted, or, for a video the
    manifest lost and the cache has, added again.

Nothing asks YouTube: a video whose transcript is neither in the cache nor in
its file on disk cannot be added again, and the report lists it with the
command that gets it back (``ytqa ingest ID``). A check and a repair hold the
index's write lock: a writer in another process finishes the videos it is writing
first (a video it is writing is not taken for one left pending), and no writer
starts while the repair writes. Programs that keep the index open should still be
closed before a repair that moves the folder.

Chroma's failures become ytqa errors that point here in
:mod:`ytqa.index._failures`, which :class:`~ytqa.index.VideoIndex` uses on every
Chroma call; the records are read through :mod:`ytqa.index._manifest`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ytqa.chunking import CHUNKER_VERSION, ChunkSettings, chunk_settings
from ytqa.config import index_dir
from ytqa.embeddings import DEFAULT_MODEL, EMBEDDING_MODELS, EmbeddingPreset, resolve_preset
from ytqa.errors import YtqaError
from ytqa.index import _manifest as manifest
from ytqa.index import _writes
from ytqa.index._client import default_collection_name
from ytqa.index._failures import (
    SQLITE_FILE,
    chunking_damage,
    is_whole,
    metadata_damage,
    sqlite_damage,
)
from ytqa.index.sync import cached_transcript
from ytqa.index.video_index import VideoIndex, collection_metadata
from ytqa.transcripts import cached_video_ids, load_cached

if TYPE_CHECKING:  # pragma: no cover - types only
    from ytqa.transcripts import Transcript

__all__ = [
    "DoctorReport",
    "IndexProblem",
    "LostVideo",
    "check_index",
    "repair_index",
]

logger = logging.getLogger(__name__)

ProblemKind = Literal[
    "corrupt-files", "metadata", "pending", "missing-chunks", "fingerprint", "stray-chunks"
]


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexProblem:
    """One thing wrong with the index."""

    kind: ProblemKind
    message: str
    """What is wrong, in one line."""
    collection: str | None = None
    video_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "kind": self.kind,
            "message": self.message,
            "collection": self.collection,
            "video_id": self.video_id,
        }


@dataclass(frozen=True)
class LostVideo:
    """A video the repair could not add again: its transcript is in no cache or file."""

    video_id: str
    collection: str
    source: str
    """``"youtube"`` or the transcript file it came from."""
    reason: str
    preset: str = DEFAULT_MODEL

    @property
    def command(self) -> str:
        """The ``ytqa`` command that adds it back."""
        what = self.video_id if self.source in ("youtube", "") else self.source
        model = "" if self.preset == DEFAULT_MODEL else f" --model {self.preset}"
        return f"ytqa ingest{model} {what}"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "video_id": self.video_id,
            "collection": self.collection,
            "source": self.source,
            "reason": self.reason,
            "command": self.command,
        }


@dataclass
class DoctorReport:
    """What :func:`check_index` found and what :func:`repair_index` did about it."""

    folder: Path
    """The index folder checked."""
    problems: list[IndexProblem] = field(default_factory=list)
    """What was found wrong (before any repair)."""
    repaired: list[str] = field(default_factory=list)
    """What the repair did, one line each."""
    remaining: list[IndexProblem] = field(default_factory=list)
    """What a check finds wrong afterwards (the same as :attr:`problems` for a check)."""
    lost: list[LostVideo] = field(default_factory=list)
    """Videos the repair could not add again, with the command that gets each back."""
    moved_to: Path | None = None
    """Where the damaged folder was kept, when the repair rebuilt the index."""
    collections: list[str] = field(default_factory=list)
    """The chunk collections checked."""
    videos: int = 0
    """Videos checked."""

    @property
    def healthy(self) -> bool:
        """Whether the index has no problem left."""
        return not self.remaining

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "folder": str(self.folder),
            "healthy": self.healthy,
            "problems": [p.to_dict() for p in self.problems],
            "repaired": list(self.repaired),
            "remaining": [p.to_dict() for p in self.remaining],
            "lost": [v.to_dict() for v in self.lost],
            "moved_to": None if self.moved_to is None else str(self.moved_to),
            "collections": list(self.collections),
            "videos": self.videos,
        }


# ---------------------------------------------------------------------------
# What the index holds, read in a child process
# ---------------------------------------------------------------------------


@dataclass
class _Collection:
    """A ytqa chunk collection and its manifest, as the probe read them."""

    name: str
    metadata: dict[str, Any]
    preset: EmbeddingPreset | None
    """The preset whose vectors it holds, when ytqa can tell without loading a model."""
    dimension: int | None
    rows: Counter[tuple[str, str]] | None
    """Chunk rows per (video, fingerprint); None when they could not be read."""
    manifest_metadata: dict[str, Any] | None
    records: dict[str, dict[str, Any]] | None
    """Manifest records by video; None when the manifest could not be read."""
    salvaged: bool = False
    """Whether the records were read by SQLite from a damaged file (maybe not all)."""


@dataclass
class _Survey:
    problems: list[IndexProblem] = field(default_factory=list)
    collections: list[_Collection] = field(default_factory=list)
    videos: int = 0

    @property
    def damaged(self) -> bool:
        return any(p.kind == "corrupt-files" for p in self.problems)


@dataclass
class _Probe:
    """What ``ytqa.index._probe`` told of a folder."""

    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    """Why Chroma could not open the index or list its collections."""
    failure: str | None = None
    """Why the probe stopped before the end (a crash of Chroma)."""


def _probe(folder: Path) -> _Probe:
    """Run ``ytqa.index._probe`` on *folder* in a child process and gather what it says."""
    import ytqa

    package_root = str(Path(ytqa.__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}
    done = subprocess.run(
        [sys.executable, "-m", "ytqa.index._probe", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    found, step, complete = _Probe(), "starting", False
    for line in done.stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict):
            continue
        step = str(message.get("step", step))
        if "collection" in message:
            entry = dict(message["collection"])
            found.collections[str(entry["name"])] = entry
        if "error" in message:
            found.error = str(message["error"])
        complete = complete or bool(message.get("done")) or found.error is not None
    if not complete or done.returncode != 0:
        if done.returncode < 0:
            how = f"crashed (signal {-done.returncode})"
        else:
            last = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            how = f"failed ({last[0][:300]})"
        found.failure = f"Chroma {how} while {step}"
    return found


# Chroma's own tables, read directly when Chroma cannot read a damaged file: which
# collections there were, and the records of their manifests (as last compacted).
_SALVAGE_COLLECTIONS = """
SELECT c.name, m.key, m.str_value, m.int_value, m.float_value, m.bool_value
FROM collections c LEFT JOIN collection_metadata m ON m.collection_id = c.id
"""
_SALVAGE_RECORDS = """
SELECT c.name, e.embedding_id, m.key, m.string_value, m.int_value, m.float_value, m.bool_value
FROM collections c JOIN segments s ON s.collection = c.id
JOIN embeddings e ON e.segment_id = s.id JOIN embedding_metadata m ON m.id = e.id
WHERE c.name LIKE '%' || ?
"""


def _salvage(database: Path) -> dict[str, dict[str, Any]]:
    """What SQLite can still read of a damaged Chroma database, as probe entries
    (name, metadata, and a manifest's records); rows past a damaged page are lost."""
    entries: dict[str, dict[str, Any]] = {}

    def value(text: Any, whole: Any, real: Any, flag: Any) -> Any:
        return bool(flag) if flag is not None else next(
            (v for v in (text, whole, real) if v is not None), None
        )

    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return entries
    try:
        with contextlib.suppress(sqlite3.Error):
            for name, key, *values in connection.execute(_SALVAGE_COLLECTIONS):
                entry = entries.setdefault(str(name), {"name": str(name), "metadata": {}})
                if key is not None:
                    entry["metadata"][str(key)] = value(*values)
        with contextlib.suppress(sqlite3.Error):
            rows = connection.execute(_SALVAGE_RECORDS, [manifest.MANIFEST_SUFFIX])
            for name, row_id, key, *values in rows:
                entry = entries.setdefault(str(name), {"name": str(name), "metadata": {}})
                record = entry.setdefault("records", {}).setdefault(str(row_id), {})
                record[str(key)] = value(*values)
                # Its own metadata may be what cannot be read: its name says whose it is.
                of = str(name)[: -len(manifest.MANIFEST_SUFFIX)]
                for key, value_of in manifest.manifest_metadata(of).items():
                    entry["metadata"].setdefault(key, value_of)
    finally:
        connection.close()
    return entries


def _survey(folder: Path) -> _Survey:
    survey = _Survey()
    database = folder / SQLITE_FILE
    if not database.is_file():
        return survey  # no index here yet: nothing to check
    damage = sqlite_damage(database)
    if damage is not None:
        survey.problems.append(IndexProblem("corrupt-files", damage))
    probe = _probe(folder)
    if probe.failure is not None:
        survey.problems.append(IndexProblem("corrupt-files", probe.failure))
    if probe.error is not None:
        survey.problems.append(
            IndexProblem("corrupt-files", f"Chroma cannot open the index ({probe.error})")
        )
    entries = dict(probe.collections)
    if survey.damaged:
        # What Chroma could not read, SQLite may still: the list of videos to add again.
        for name, salvaged in _salvage(database).items():
            entry = entries.get(name)
            if entry is None or (entry.get("error") and "records" in salvaged):
                entries[name] = {**salvaged, "salvaged": True, "error": None}
    for name, entry in sorted(probe.collections.items()):
        error = entry.get("vectors_error") or entry.get("error")
        if error:
            what = (
                f"the vectors (HNSW files) of collection {name!r} do not load"
                if entry.get("vectors_error") or "hnsw" in str(error).lower()
                else f"collection {name!r} cannot be read"
            )
            survey.problems.append(IndexProblem("corrupt-files", f"{what} ({error})", name))
    # A chunk collection whose reading crashed Chroma is known from its manifest.
    names = set(entries) | {
        of
        for entry in entries.values()
        if (of := manifest.declared_manifest_of(entry.get("metadata")))
    }
    for name in sorted(names):
        entry = entries.get(name, {"name": name})
        metadata = dict(entry.get("metadata") or {})
        records_entry = entries.get(manifest.manifest_name(name))
        if manifest.is_manifest(metadata) or not _is_chunk_collection(
            name, metadata, records_entry
        ):
            continue
        dimension = entry.get("dimension")
        rows = None
        if entry.get("rows") is not None:
            rows = Counter({(str(v), str(f)): int(n) for v, f, n in entry["rows"]})
        records = None
        if records_entry is not None and not records_entry.get("error") and (
            "records" in records_entry
        ):
            records = {str(k): dict(v) for k, v in records_entry["records"].items()}
        survey.collections.append(
            _Collection(
                name=name,
                metadata=metadata,
                preset=_built_with(name, metadata, dimension if is_whole(dimension) else None),
                dimension=dimension if is_whole(dimension) else None,
                rows=rows,
                manifest_metadata=(
                    None if records_entry is None else dict(records_entry.get("metadata") or {})
                ),
                records=records,
                salvaged=bool(records_entry and records_entry.get("salvaged")),
            )
        )
    if survey.damaged:
        return survey  # a rebuild repairs everything: the finer checks would only repeat it
    for collection in survey.collections:
        survey.problems.extend(_check_collection(collection, survey))
    return survey


def _is_chunk_collection(name: str, metadata: dict[str, Any], records_entry: Any) -> bool:
    if any(key.startswith("ytqa_") for key in metadata):
        return True
    if records_entry is not None and manifest.is_manifest(records_entry.get("metadata")):
        return True
    return any(default_collection_name(p) == name for p in EMBEDDING_MODELS.values())


def _built_with(
    name: str, metadata: dict[str, Any], dimension: int | None
) -> EmbeddingPreset | None:
    """The registered preset whose vectors collection *name* holds, or None when the
    collection's own records cannot tell (a model that is not registered)."""
    model = metadata.get("ytqa_model")
    for preset in EMBEDDING_MODELS.values():
        if (
            preset.model_name == model
            and metadata.get("ytqa_dimension") == preset.dimension
            and metadata.get("ytqa_space") == preset.chroma_space
            and dimension in (None, preset.dimension)
        ):
            return preset  # consistent records: trust them
    candidates = [
        p for p in EMBEDDING_MODELS.values() if dimension is None or p.dimension == dimension
    ]
    for matches in (
        lambda p: default_collection_name(p) == name,
        lambda p: p.key == metadata.get("ytqa_preset"),
        lambda p: p.model_name == model,
    ):
        found = [p for p in candidates if matches(p)]
        if len(found) == 1:
            return found[0]
    return None


def _expected_metadata(collection: _Collection) -> dict[str, Any] | None:
    """The metadata *collection* should record, or None when its preset is unknown."""
    preset = collection.preset
    if preset is None:
        return None
    expected = collection_metadata(preset)
    recorded = collection.metadata
    if chunking_damage(recorded, preset) is None and "ytqa_max_tokens" in recorded:
        expected["ytqa_max_tokens"] = recorded["ytqa_max_tokens"]
        expected["ytqa_overlap_tokens"] = recorded["ytqa_overlap_tokens"]
    else:
        usual = _usual_settings(collection)
        if usual is not None:
            expected["ytqa_max_tokens"], expected["ytqa_overlap_tokens"] = usual
    if "ytqa_chunker" in recorded:
        expected["ytqa_chunker"] = recorded["ytqa_chunker"]  # the version that made it
    return expected


def _usual_settings(collection: _Collection) -> ChunkSettings | None:
    """The chunking most ready videos of *collection* were indexed with, if valid."""
    records = (collection.records or {}).values()
    tags = Counter(str(manifest.settings_of(r)) for r in records if manifest.is_ready(r))
    for tag, _ in tags.most_common():
        settings = _settings_of(tag, collection.preset)
        if settings is not None:
            return settings
    return None


def _settings_of(tag: Any, preset: EmbeddingPreset | None) -> ChunkSettings | None:
    """The chunking of a manifest ``settings`` tag (``"64/8/v1"``), if *preset* can use it."""
    parts = str(tag).split("/")
    if preset is None or len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    try:
        return chunk_settings(preset, max_tokens=int(parts[0]), overlap_tokens=int(parts[1]))
    except YtqaError:
        return None


def _check_collection(collection: _Collection, survey: _Survey) -> list[IndexProblem]:
    name = collection.name
    problems = []
    expected = _expected_metadata(collection)
    if expected is None or collection.preset is None:
        damage = metadata_damage(collection.metadata)
        if damage is not None:
            problems.append(
                IndexProblem(
                    "metadata",
                    f"collection {name!r} holds vectors of a model ytqa cannot tell, and its "
                    f"recorded metadata is inconsistent: {damage}",
                    name,
                )
            )
    else:
        wrong = [
            f"{key.removeprefix('ytqa_')}={collection.metadata.get(key)!r} "
            f"(expected {value!r})"
            for key, value in expected.items()
            if collection.metadata.get(key) != value
        ]
        if wrong:
            problems.append(
                IndexProblem(
                    "metadata",
                    f"collection {name!r} holds {collection.preset.key!r} vectors "
                    f"but records {', '.join(wrong)}",
                    name,
                )
            )
    found = collection.manifest_metadata
    if found is None or manifest.declared_manifest_of(found) != name:
        problems.append(
            IndexProblem(
                "metadata",
                f"the manifest {manifest.manifest_name(name)!r} of collection {name!r} is "
                + ("missing" if found is None else f"not marked as its manifest ({found})"),
                name,
            )
        )
    records = collection.records or {}
    rows = collection.rows or Counter()
    troubled: set[str] = set()
    for video_id, record in sorted(records.items()):
        if manifest.is_removed(record):
            continue
        survey.videos += 1
        problem = _video_problem(collection, video_id, record, rows)
        if problem is not None:
            problems.append(problem)
            troubled.add(video_id)
    stray: Counter[str] = Counter()
    for (video_id, fingerprint), count in rows.items():
        if video_id in troubled:
            continue  # adding the video again deletes them
        known = records.get(video_id)
        if known is None or manifest.is_removed(known) or (
            manifest.is_ready(known) and manifest.fingerprint_of(known) != fingerprint
        ):
            stray[video_id] += count
    for video_id, count in sorted(stray.items()):
        known = records.get(video_id)
        whose = (
            "no video the manifest knows"
            if known is None
            else "a removed video"
            if manifest.is_removed(known)
            else "another version of the video"
        )
        problems.append(
            IndexProblem(
                "stray-chunks",
                f"{video_id}: {count} chunk rows of {whose} (hidden from searches)",
                name,
                video_id,
            )
        )
    return problems


def _video_problem(
    collection: _Collection,
    video_id: str,
    record: dict[str, Any],
    rows: Counter[tuple[str, str]],
) -> IndexProblem | None:
    name = collection.name
    if not manifest.is_ready(record):
        why = (
            "left pending by an add that stopped"
            if manifest.is_pending(record)
            else f"in state {manifest.state_of(record)!r}"
        )
        return IndexProblem("pending", f"{video_id}: {why} (hidden from searches)", name, video_id)
    fingerprint = str(manifest.fingerprint_of(record))
    have, want = rows.get((video_id, fingerprint), 0), manifest.chunks_of(record)
    if have == want:
        # Whole as recorded. (A cached transcript that differs is a newer fetch or file
        # for another preset, not damage: adding the video again is the user's call.)
        return None
    cached = _cached_fingerprint(record, collection.preset)
    if cached is not None and cached != fingerprint and rows.get((video_id, cached)):
        return IndexProblem(
            "fingerprint",
            f"{video_id}: its recorded fingerprint {fingerprint!r} matches none of its chunk "
            f"rows, which are of its cached transcript ({cached!r})",
            name,
            video_id,
        )
    return IndexProblem(
        "missing-chunks",
        f"{video_id}: {have} chunk rows in the collection, its record says {want!r}",
        name,
        video_id,
    )


def _cached_fingerprint(record: dict[str, Any], preset: EmbeddingPreset | None) -> str | None:
    """The fingerprint *record*'s video would have from its cached transcript, when the
    cache has it and its chunker version is the current one (else it cannot be told)."""
    tag = str(manifest.settings_of(record))
    settings = _settings_of(tag, preset)
    if preset is None or settings is None or not tag.endswith(f"/v{CHUNKER_VERSION}"):
        return None
    transcript = _cached(record)
    return None if transcript is None else _writes.fingerprint(transcript, preset, settings)


def _cached(record: dict[str, Any]) -> Transcript | None:
    try:
        return cached_transcript(record)
    except (YtqaError, KeyError):
        return None


# ---------------------------------------------------------------------------
# Checking and repairing
# ---------------------------------------------------------------------------


def _folder(persist_directory: str | os.PathLike[str] | None) -> Path:
    return Path(persist_directory) if persist_directory is not None else index_dir()


def check_index(persist_directory: str | os.PathLike[str] | None = None) -> DoctorReport:
    """Check the local index in *persist_directory* (default: the one under ``YTQA_HOME``).

    Finds damaged files, tampered metadata, pending videos, ready videos with
    missing chunks or a fingerprint that does not match their cached
    transcript, and stray chunk rows (see the module documentation). Changes
    nothing; :func:`repair_index` repairs. A folder with no index is healthy.

    >>> report = check_index()                       # doctest: +SKIP
    >>> report.healthy, [p.message for p in report.problems]  # doctest: +SKIP
    """
    folder = _folder(persist_directory)
    with _writes_finished(folder, repairing=False):
        survey = _survey(folder)
    return DoctorReport(
        folder,
        problems=list(survey.problems),
        remaining=list(survey.problems),
        collections=[c.name for c in survey.collections],
        videos=survey.videos,
    )


def repair_index(persist_directory: str | os.PathLike[str] | None = None) -> DoctorReport:
    """Repair the local index in *persist_directory* (default: the one under ``YTQA_HOME``).

    Damaged files: the folder is moved aside to ``<folder>.corrupt-<time>``
    (kept, never deleted), a fresh index is made, and every video the old
    manifests list (every cached video, when they cannot be read) is added
    again from the transcript cache. Other problems are repaired in place.
    Nothing is fetched from YouTube; :attr:`DoctorReport.lost` lists the
    videos that could not be added again, with the command for each. The
    report's :attr:`~DoctorReport.remaining` is what a check finds afterwards.

    It holds the index's write lock from the check to the end: a writer in
    another process finishes what it is writing first, and the next one waits.
    ``VideoIndex`` objects opened on a rebuilt folder (in this process or
    another) must be opened again.

    Raises:
        EmbeddingModelError: a preset's model cannot be loaded to embed again.
        VideoIndexError: the index folder cannot be locked (not writable).
    """
    folder = _folder(persist_directory)
    with _writes_finished(folder, repairing=True):
        survey = _survey(folder)
        report = DoctorReport(
            folder,
            problems=list(survey.problems),
            collections=[c.name for c in survey.collections],
            videos=survey.videos,
        )
        if not survey.problems:
            return report
        if survey.damaged:
            report.moved_to = _rebuild(folder, survey, report)
        else:
            for collection in survey.collections:
                mine = [p for p in survey.problems if p.collection == collection.name]
                if mine:
                    _repair_collection(folder, collection, mine, report)
        report.remaining = _survey(folder).problems
    return report


def _writes_finished(folder: Path, *, repairing: bool) -> contextlib.AbstractContextManager[None]:
    """The index's write lock, taken once a writer in another process has finished its
    write (its videos are pending while it writes, which is not damage). A check of a
    folder it may not write to (read-only media) goes on without the lock."""
    if not folder.is_dir() or (not repairing and not os.access(folder, os.W_OK)):
        return contextlib.nullcontext()
    return _writes.locked(folder)


def _set_aside(folder: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = folder.with_name(f"{folder.name}.corrupt-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = folder.with_name(f"{folder.name}.corrupt-{stamp}-{number}")
    _forget_chroma(folder)
    folder.rename(target)
    return target


def _forget_chroma(folder: Path) -> None:
    """Drop chromadb's in-process state for *folder*.

    chromadb keeps one system per folder for the life of the process (in a
    private cache), even one left half-started by a panic. Left there, a client
    for the rebuilt folder would reuse it, and write into the files moved aside.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient
    except ImportError:  # pragma: no cover - chromadb is a dependency
        return
    systems = getattr(SharedSystemClient, "_identifier_to_system", None)
    counts = getattr(SharedSystemClient, "_identifier_to_refcount", None)
    if not isinstance(systems, dict):
        return
    for key in {str(folder), str(folder.resolve())}:
        system = systems.pop(key, None)
        if isinstance(counts, dict):
            counts.pop(key, None)
        if system is not None:
            try:
                system.stop()
            except BaseException as exc:  # a half-started system may panic on stop
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                logger.debug("could not stop Chroma's system for %s", folder, exc_info=True)


def _rebuild(folder: Path, survey: _Survey, report: DoctorReport) -> Path:
    """Move the damaged *folder* aside and add its videos again into a fresh index."""
    collections = list(survey.collections)
    if not collections:
        # Not even the list of collections could be read: the default preset's index.
        default = EMBEDDING_MODELS[DEFAULT_MODEL]
        name = default_collection_name(default)
        collections = [_Collection(name, {}, default, None, None, None, None)]
    target = _set_aside(folder)
    report.repaired.append(f"moved the damaged index to {target}")
    for collection in collections:
        name, records = collection.name, collection.records
        if records is None:
            cached = cached_video_ids()
            report.repaired.append(
                f"{name}: its manifest could not be read; adding every video of the transcript "
                f"cache ({len(cached)})"
            )
            records = {video_id: manifest.bare_record(video_id) for video_id in cached}
        elif collection.salvaged:
            # SQLite read the records up to the damage: the cache may know the others.
            more = [v for v in cached_video_ids() if v not in records]
            if more:
                report.repaired.append(
                    f"{name}: its manifest was read in part; adding the {len(more)} cached "
                    "videos it does not list too"
                )
                records = {**records, **{v: manifest.bare_record(v) for v in more}}
        index = _fresh_index(folder, collection, records, report)
        if index is None:
            continue
        added = _add_again(index, list(records.values()), report)
        for video_id, record in records.items():
            if manifest.is_removed(record):
                index.remove(video_id)  # keeps it removed: sync must not bring it back
        report.repaired.append(f"{name}: added {added} videos again from the transcript cache")
    return target


def _fresh_index(
    folder: Path, collection: _Collection, records: dict[str, dict[str, Any]], report: DoctorReport
) -> VideoIndex | None:
    """A new *collection* in *folder*, with the chunking it recorded; None, with its videos
    listed as lost, when its preset cannot be had (a model that does not load)."""
    preset = collection.preset
    try:
        if preset is None:
            preset = resolve_preset(_recorded_model(collection))
        index = VideoIndex(preset, persist_directory=folder, collection_name=collection.name)
    except YtqaError as error:
        for video_id, record in records.items():
            if not manifest.is_removed(record):
                report.lost.append(_lost(video_id, collection.name, record, str(error), preset))
        return None
    expected = _expected_metadata(dataclasses.replace(collection, preset=preset))
    if expected is not None and expected != collection_metadata(preset):
        # Keep the chunking the old index was made with, so that adds keep skipping.
        index.client.get_collection(collection.name).modify(metadata=expected)
        index = VideoIndex(preset, persist_directory=folder, collection_name=collection.name)
    return index


def _lost(
    video_id: str,
    collection: str,
    record: dict[str, Any],
    reason: str,
    preset: EmbeddingPreset | None,
) -> LostVideo:
    return LostVideo(
        video_id,
        collection,
        manifest.source_of(record),
        " ".join(reason.split()),
        preset.key if preset is not None else DEFAULT_MODEL,
    )


def _add_again(index: VideoIndex, records: list[dict[str, Any]], report: DoctorReport) -> int:
    """Add the videos of manifest *records* again, from the transcript cache; how many were.

    Records that have only a ``video_id`` take the newest cached transcript.
    Each video keeps the chunking its record names, so rows already written
    are reused. Those that cannot be had go to ``report.lost``.
    """
    groups: dict[ChunkSettings | None, list[Transcript]] = {}
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:
        video_id = manifest.video_id_of(record)
        if manifest.is_removed(record):
            continue
        by_id[video_id] = record
        transcript = _cached(record) if manifest.has_fields(record) else load_cached(video_id)
        if transcript is None:
            report.lost.append(
                _lost(video_id, index.collection_name, record,
                      "its transcript is not in the cache", index.preset)
            )
            continue
        settings = _settings_of(manifest.settings_of(record), index.preset)
        groups.setdefault(settings, []).append(transcript)
    added = 0
    for settings, transcripts in groups.items():
        result = index.add_transcripts(transcripts, chunking=settings)
        added += len(result.added) + len(result.skipped)
        for failure in result.failed:
            record = by_id.get(failure.source, {"video_id": failure.source})
            reason = str(failure.error)
            report.lost.append(
                _lost(failure.source, index.collection_name, record, reason, index.preset)
            )
    return added


def _repair_collection(
    folder: Path, collection: _Collection, problems: list[IndexProblem], report: DoctorReport
) -> None:
    """Repair *problems* of *collection* in place: metadata, then videos, then stray rows."""
    import chromadb

    name = collection.name
    client = chromadb.PersistentClient(path=str(folder))
    kinds = {p.kind for p in problems}
    if "metadata" in kinds:
        expected = _expected_metadata(collection)
        if expected is None:
            report.repaired.append(
                f"{name}: left its metadata as it is (the model of its vectors is not a "
                "registered preset; register it with register_preset and repair again)"
            )
            return
        client.get_collection(name).modify(metadata=expected)
        own = manifest.manifest_metadata(name)
        records_collection = client.get_or_create_collection(
            manifest.manifest_name(name),
            metadata=own,
            configuration={"hnsw": {"space": "l2"}},
            embedding_function=None,
        )
        records_collection.modify(metadata=own)
        report.repaired.append(f"{name}: rewrote its metadata for {expected['ytqa_preset']!r}")
    preset = collection.preset or resolve_preset(_recorded_model(collection))
    index = VideoIndex(preset, persist_directory=folder, collection_name=name)
    records = collection.records or {}
    again = [
        records[p.video_id]
        for p in problems
        if p.kind in ("pending", "missing-chunks", "fingerprint") and p.video_id in records
    ]
    # Videos the manifest does not know but the cache does: add them back rather than drop them.
    unknown = sorted(
        p.video_id
        for p in problems
        if p.kind == "stray-chunks" and p.video_id is not None and p.video_id not in records
    )
    again += [manifest.bare_record(v) for v in unknown if _has_cache(v)]
    if again:
        hide = [r for r in again if manifest.fingerprint_of(r) is not None]
        if hide:  # a ready video is a no-op to add: hidden first, so that adding it writes
            manifest.write_records(
                index._manifest, [manifest.with_state(r, manifest.PENDING) for r in hide]
            )
        lost_before = len(report.lost)
        added = _add_again(index, again, report)
        report.repaired.append(f"{name}: added {added} videos again from the transcript cache")
        for lost in report.lost[lost_before:]:
            report.repaired.append(f"{name}: {lost.video_id} stays hidden: {lost.reason}")
    stray = [p for p in problems if p.kind == "stray-chunks"]
    if stray:
        deleted = _delete_stray(index, collection)
        report.repaired.append(f"{name}: deleted {deleted} stray chunk rows")


def _recorded_model(collection: _Collection) -> str:
    """The model a collection of an unregistered preset recorded (its key, a name or path)."""
    return str(collection.metadata.get("ytqa_preset") or collection.metadata.get("ytqa_model"))


def _has_cache(video_id: str) -> bool:
    return load_cached(video_id) is not None


def _delete_stray(index: VideoIndex, collection: _Collection) -> int:
    """Delete the chunk rows that belong to no ready or pending version of a video."""
    found = index.client.get_collection(index.collection_name).get(include=["metadatas"])
    records = manifest.all_records(index._manifest)
    stray = []
    for row_id, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
        record = records.get(str((meta or {}).get("video_id")))
        kept = manifest.is_ready(record) or manifest.is_pending(record)
        if not kept or manifest.fingerprint_of(record) != manifest.row_fingerprint(meta):
            stray.append(row_id)
    collection_ = index.client.get_collection(index.collection_name)
    for start in range(0, len(stray), 1000):
        collection_.delete(ids=stray[start : start + 1000])
    return len(stray)
