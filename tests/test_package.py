"""The public surface of ``ytqa`` and how fast it starts."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ytqa

# Changing this list changes ytqa's public API: update docs/python-api.md with it.
PUBLIC_API = [
    "DEFAULT_MODEL",
    "EMBEDDING_MODELS",
    "AgeRestrictedError",
    "AudioDownloadError",
    "AudioTooLongError",
    "ChainConfigurationError",
    "ChunkingError",
    "EmbeddingModelError",
    "EmbeddingPreset",
    "EvaluationError",
    "IndexCorruptError",
    "IndexModelMismatchError",
    "IngestReport",
    "InvalidPromptError",
    "InvalidVideoIdError",
    "LLMConfigurationError",
    "MediaFileError",
    "MissingDependencyError",
    "NetworkError",
    "NoCaptionsError",
    "NoTranscriptFoundError",
    "PlaylistError",
    "PoTokenRequiredError",
    "RequestBlockedError",
    "Segment",
    "SpeechToText",
    "SpeechToTextError",
    "Transcript",
    "TranscriptCacheMissError",
    "TranscriptError",
    "TranscriptFileError",
    "TranscriptsDisabledError",
    "TranslationUnavailableError",
    "VideoIndex",
    "VideoIndexError",
    "VideoUnavailableError",
    "VideoUnplayableError",
    "YouTubeDataError",
    "YouTubeTranscriptLoader",
    "YtqaError",
    "__version__",
    "build_chain",
    "build_chat_chain",
    "build_rag_chain",
    "build_retriever",
    "build_tool",
    "check_index",
    "chunk_transcript",
    "compare_models",
    "evaluate",
    "expand_sources",
    "format_timestamp",
    "get_embeddings",
    "load_transcript",
    "parse_video_id",
    "read_transcript_file",
    "register_preset",
    "repair_index",
    "resolve_llm",
    "resolve_preset",
    "watch_url",
]

HEAVY_MODULES = ("torch", "transformers", "sentence_transformers", "chromadb", "langchain_chroma")


def test_all_is_pinned() -> None:
    assert ytqa.__all__ == PUBLIC_API


@pytest.mark.parametrize("name", PUBLIC_API)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(ytqa, name) is not None
    assert name in dir(ytqa)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = ytqa.no_such_name  # type: ignore[attr-defined]


def test_every_error_is_a_ytqa_error() -> None:
    errors = [getattr(ytqa, name) for name in PUBLIC_API if name.endswith("Error")]
    assert all(issubclass(error, ytqa.YtqaError) for error in errors)


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("ytqa").joinpath("py.typed").is_file()


def _heavy_modules_after(code: str) -> dict[str, object]:
    """Run *code* in a fresh interpreter; return the heavy modules it imported."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return {"loaded": json.loads(completed.stdout.strip().splitlines()[-1])}


def test_import_ytqa_loads_no_heavy_library() -> None:
    assert _heavy_modules_after("import ytqa; ytqa.parse_video_id('dQw4w9WgXcQ')") == {
        "loaded": []
    }


@pytest.mark.parametrize("args", [["--help"], ["ask", "--help"], ["models", "--help"]])
def test_cli_help_loads_no_heavy_library(args: list[str]) -> None:
    code = (
        "from ytqa.cli import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit as exit:\n"
        "    assert exit.code == 0, exit.code\n"
    )
    assert _heavy_modules_after(code) == {"loaded": []}


def test_python_api_doc_covers_every_public_name() -> None:
    from tests.offline_models import REPO_ROOT

    documented = (REPO_ROOT / "docs" / "python-api.md").read_text(encoding="utf-8")
    assert [name for name in PUBLIC_API if name != "__version__"
            and name not in documented] == []


def test_troubleshooting_has_a_section_per_error() -> None:
    from tests.offline_models import REPO_ROOT

    page = (REPO_ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")
    # The two roots are only caught, never raised themselves.
    roots = {"YtqaError", "TranscriptError"}
    errors = [name for name in PUBLIC_API if name.endswith("Error") and name not in roots]
    for name in errors:
        exit_code = getattr(ytqa, name).exit_code
        assert f"## {name} (exit {exit_code})" in page, name


def test_configuration_lists_every_environment_variable() -> None:
    import re

    from tests.offline_models import REPO_ROOT

    source = "\n".join(p.read_text(encoding="utf-8") for p in (REPO_ROOT / "ytqa").rglob("*.py"))
    used = set(re.findall(r"\"(YTQA_[A-Z_]+)\"", source))
    page = (REPO_ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert used and sorted(v for v in used if f"`{v}`" not in page) == []
