"""Helpers shared by the benchmark scripts (not part of the library).

Run a benchmark as ``python benchmarks/<name>.py`` from the repository root;
scripts import this module as ``from _common import ...``.

API: :func:`setup_offline`, :data:`REPO_ROOT`, :func:`shared_data_dir`,
:func:`transcript_paths`, :func:`load_transcripts`, :func:`median`,
:func:`percentile`, :func:`peak_rss_mib`, :func:`timed`, :func:`repeated_transcripts`,
:func:`scratch_home`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # so that `tests.offline_models` and `ytqa` import
    sys.path.insert(0, str(REPO_ROOT))

if TYPE_CHECKING:
    from ytqa.transcripts import Transcript

T = TypeVar("T")


def setup_offline() -> Path:
    """Never touch the network; point ``YTQA_MODELS_DIR`` at the packaged weights.

    Returns the models folder (``$YTQA_MODELS_DIR`` when set, else the one the
    tests use). Call it before importing anything that loads a model.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ["ANONYMIZED_TELEMETRY"] = "False"
    if not os.environ.get("YTQA_MODELS_DIR"):
        from tests.offline_models import prepare_models_dir

        os.environ["YTQA_MODELS_DIR"] = str(prepare_models_dir())
    return Path(os.environ["YTQA_MODELS_DIR"])


def scratch_home(name: str) -> Path:
    """Point ``YTQA_HOME`` at a new temporary folder, deleted when the process exits, so
    that indexing (which caches transcripts) leaves the user's ytqa home untouched."""
    import atexit
    import shutil
    import tempfile

    home = Path(tempfile.mkdtemp(prefix=f"ytqa-bench-{name}-"))
    os.environ["YTQA_HOME"] = str(home)
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


def shared_data_dir() -> Path:
    """``$YTQA_SHARED_DATA``, else ``../shared/data`` beside the repository (as the tests)."""
    configured = os.environ.get("YTQA_SHARED_DATA")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


def transcript_paths(kind: str = "srt") -> list[Path]:
    """The shared transcript files, sorted: ``kind`` is ``"srt"``, ``"vtt"`` or ``"all"``."""
    folder = shared_data_dir() / "transcripts"
    if not folder.is_dir():
        raise SystemExit(f"shared transcripts not found in {folder} (set YTQA_SHARED_DATA)")
    patterns = {"srt": ["*.srt"], "vtt": ["*.en.vtt"], "all": ["*.srt", "*.en.vtt"]}[kind]
    return sorted(path for pattern in patterns for path in folder.glob(pattern))


def load_transcripts(kind: str = "srt") -> list[Transcript]:
    """The shared transcripts, parsed by ytqa (one per file of :func:`transcript_paths`)."""
    from ytqa.transcripts import read_transcript_file

    return [read_transcript_file(path) for path in transcript_paths(kind)]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The *q*-th percentile (0-100), linear between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def timed(function: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    """Run *function* once; return (seconds, result)."""
    began = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - began, result


def copy_video_id(video_id: str, copy: int) -> str:
    """A valid, stable 11-character video ID for copy *copy* of *video_id* (copy 0: itself)."""
    if copy == 0:
        return video_id
    digest = hashlib.sha256(f"{video_id}:{copy}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:11]


def repeated_transcripts(transcripts: Sequence[Transcript]) -> Iterator[Transcript]:
    """*transcripts*, then again and again under new video IDs (a synthetic corpus, endless)."""
    copy = 0
    while True:
        for transcript in transcripts:
            yield dataclasses.replace(transcript, video_id=copy_video_id(transcript.video_id, copy))
        copy += 1
