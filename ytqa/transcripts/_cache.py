"""The transcript cache: one folder per video under the ytqa home, one JSON file per
transcript (language, kind, file or Whisper model), written atomically, read without network."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote, unquote

from ytqa.config import cache_dir, ytqa_home
from ytqa.errors import YtqaError
from ytqa.transcripts._files import _is_folder
from ytqa.transcripts._model import Transcript

logger = logging.getLogger(__name__)


_CACHE_FORMAT = 1


def save_cached(transcript: Transcript) -> Path:
    """Save *transcript* in the ytqa cache and return the cache file.

    The write is atomic (a temporary file in the same folder, then
    :func:`os.replace`), so a crash never leaves a half-written file.

    Raises:
        YtqaError: the cache folder cannot be written.
    """
    if transcript.source == "youtube":
        key = _youtube_cache_key(transcript)
    else:
        key = _file_cache_key(transcript)
    return _write_cache(transcript, key)


def load_cached(video_id: str) -> Transcript | None:
    """Return the most recently saved transcript of *video_id*, or None.

    Any language or file of the video counts; unreadable cache files are skipped.
    """
    entries = cached_transcripts(video_id)
    return entries[0] if entries else None


def cached_transcripts(video_id: str) -> list[Transcript]:
    """Every readable cached transcript of *video_id* (any language or file), newest first.

    A cache folder or file that cannot be read is logged and skipped, never raised:
    one broken entry must not stop the other videos.
    """
    folder = video_cache_dir(video_id)
    try:
        files = sorted(folder.glob("*.json")) if _is_folder(folder) else []
    except OSError as exc:
        logger.warning("ignoring unreadable transcript cache folder %s: %s", folder, exc)
        return []
    ranked: list[tuple[int, int, Transcript]] = []
    for file in files:
        if file.name.startswith("."):
            continue
        entry = _read_cache_entry(file, video_id)
        if entry is None:
            continue
        with contextlib.suppress(OSError):
            ranked.append((entry[0], file.stat().st_mtime_ns, entry[1]))
    ranked.sort(key=lambda rank: rank[:2], reverse=True)
    return [transcript for _, _, transcript in ranked]


def cached_video_ids() -> list[str]:
    """Return the IDs of the videos that have a transcript in the cache, sorted."""
    root = cache_dir()
    if not _is_folder(root):
        return []
    found = []
    for folder in root.iterdir():
        try:
            if _is_folder(folder) and any(
                not f.name.startswith(".") for f in folder.glob("*.json")
            ):
                found.append(unquote(folder.name))
        except OSError as exc:
            logger.warning("ignoring unreadable transcript cache folder %s: %s", folder, exc)
    return sorted(found)


def _fs_name(video_id: str) -> str:
    # Percent-encoding keeps any custom ID a single, reversible folder name
    # ('.' too, so that '..' can never climb out of the cache).
    return quote(video_id, safe="-_").replace(".", "%2E")


def video_cache_dir(video_id: str) -> Path:
    """The cache folder of *video_id*'s transcripts (it may not exist)."""
    return cache_dir() / _fs_name(video_id)


def _cache_path(video_id: str, key: str) -> Path:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return video_cache_dir(video_id) / f"{digest}.json"


def _fetch_cache_key(languages: Sequence[str], captions: str, translate_to: str | None) -> str:
    return json.dumps(
        {"languages": list(languages), "captions": captions, "translate_to": translate_to},
        sort_keys=True,
    )


def _youtube_cache_key(transcript: Transcript) -> str:
    return json.dumps(
        {
            "language_code": transcript.language_code,
            "is_generated": transcript.is_generated,
            "translated_from": transcript.translated_from,
            # Speech-to-text never takes the place of captions, nor one model another's.
            **({"asr_model": transcript.asr_model} if transcript.asr_model else {}),
        },
        sort_keys=True,
    )


def _file_cache_key(transcript: Transcript) -> str:
    if transcript.asr_model:
        return json.dumps({"file": transcript.source, "asr_model": transcript.asr_model})
    return json.dumps({"file": transcript.source})


def _write_cache(transcript: Transcript, key: str) -> Path:
    target = _cache_path(transcript.video_id, key)
    payload = json.dumps(
        {
            "ytqa_cache": _CACHE_FORMAT,
            "saved_at": time.time_ns(),
            "key": key,
            "transcript": transcript.to_dict(),
        },
        ensure_ascii=False,
    )
    import tempfile  # not at module level: it pulls in shutil, lzma, random

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=".", suffix=".tmp"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError as exc:
        raise YtqaError(
            f"Could not write the transcript cache at {target.parent} ({exc.strerror or exc}). "
            f"Make the ytqa home {ytqa_home()} writable, or point YTQA_HOME at another folder."
        ) from exc
    return target


def _save_quietly(transcript: Transcript, key: str) -> None:
    """Cache *transcript*; a cache that cannot be written must not lose the transcript."""
    try:
        _write_cache(transcript, key)
    except YtqaError as exc:
        logger.warning("%s", exc)


def _read_cache_entry(file: Path, video_id: str) -> tuple[int, Transcript] | None:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("ytqa_cache") != _CACHE_FORMAT:
            raise ValueError("not a ytqa cache file")
        transcript = Transcript.from_dict(data["transcript"])
        saved_at = int(data.get("saved_at", 0))
        if transcript.video_id != video_id:
            raise ValueError(f"holds video {transcript.video_id!r}")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError,
            OverflowError) as exc:
        # A corrupt or foreign file is a cache miss, never a crash: refetch instead.
        logger.warning("ignoring unreadable transcript cache file %s: %s", file, exc)
        return None
    return saved_at, transcript


def _read_cache_file(file: Path, video_id: str) -> Transcript | None:
    try:
        if not stat.S_ISREG(os.stat(file).st_mode):
            return None
    except (OSError, ValueError):  # no such file, or a name the system refuses: a miss
        return None
    entry = _read_cache_entry(file, video_id)
    return None if entry is None else entry[1]
