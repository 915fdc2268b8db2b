"""Questions embedded without torch: the numpy encoder against sentence-transformers itself.

Every vector is compared with the one ``HuggingFaceEmbeddings`` (sentence-transformers)
makes for the same text, on the packaged models; the search path is checked by the
modules a real ``ytqa search`` process imports.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ytqa._query_encoder import Unsupported, load_query_encoder
from ytqa.embeddings import EmbeddingPreset, get_embeddings
from ytqa.preset_embeddings import PresetEmbeddings

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "lighthouse-talk.srt"
SEARCH_PATH_FORBIDDEN = ("torch", "transformers", "sentence_transformers", "langchain_huggingface")
# `ytqa search` needs no LangChain retriever either: it and its tracing (langsmith)
# would double its start-up.
CLI_SEARCH_FORBIDDEN = (*SEARCH_PATH_FORBIDDEN, "langchain_core.retrievers", "langsmith",
                        "langchain_chroma")

# Short, long (past the window: truncated alike), unicode, empty-ish, odd whitespace.
TEXTS = [
    "Why does the lens distort?",
    "how long would it take to colonise the galaxy",
    "",
    " ",
    "?",
    "a",
    "  leading and trailing spaces  ",
    "line one\nline two\n\nline three",
    "tabs\tand\r\nwindows line ends",
    "Émigré naïve café — Zürich, Ångström, façade",
    "東京の天気はどうですか",
    "Привет, как дела? Γειά σου κόσμε",
    "emoji 🚀🔥 and symbols ∑∫√ ≠ ≤",
    "UPPER CASE and MiXeD CaSe words",
    "numbers 3.14159 1,000,000 and 2026-12-07",
    "The Fermi paradox asks where everybody is. " * 30,
    "word " * 600,
]


def cosine(a: list[float], b: list[float]) -> float:
    left, right = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(left @ right / (np.linalg.norm(left) * np.linalg.norm(right)))


def assert_same_vectors(fast: PresetEmbeddings, reference: object, texts: list[str]) -> None:
    expected = [reference.embed_query(text) for text in texts]  # type: ignore[attr-defined]
    for text, wanted in zip(texts, expected, strict=True):
        got = fast.embed_query(text)
        assert len(got) == len(wanted), text
        assert cosine(got, wanted) >= 0.9999, (text[:40], cosine(got, wanted))
        # The same length too: dot-product presets compare unnormalised vectors.
        assert np.linalg.norm(got) == pytest.approx(np.linalg.norm(wanted), rel=1e-4), text[:40]


def model_copy(source: Path, target: Path) -> Path:
    """A copy of a model folder whose files a test may change (weights linked, not copied)."""
    target.mkdir()
    for path in source.rglob("*"):
        destination = target / path.relative_to(source)
        if path.is_dir():
            destination.mkdir(exist_ok=True)
        elif path.name == "model.safetensors":
            destination.symlink_to(path.resolve())
        else:
            shutil.copyfile(path, destination)
    return target


def edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data), encoding="utf-8")


# ---------------------------------------------------------------------------
# The same vectors as sentence-transformers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["minilm", "mpnet"])
def test_questions_get_sentence_transformers_vectors(
    preset: str, minilm: Path, mpnet: Path
) -> None:
    fast = PresetEmbeddings(preset)
    assert fast.fast_queries
    assert_same_vectors(fast, get_embeddings(preset), TEXTS)


def test_texts_past_the_window_are_cut_where_sentence_transformers_cuts(minilm: Path) -> None:
    encoder = load_query_encoder(str(minilm))
    assert encoder.window == 256
    assert len(encoder.tokenizer.encode("word " * 600).ids) == 256
    # A text that fills the window exactly, and one token more.
    exact = "word " * 254
    assert len(encoder.tokenizer.encode(exact).ids) == 256
    assert_same_vectors(PresetEmbeddings("minilm"), get_embeddings("minilm"),
                        [exact, exact + "more"])


def test_an_mpnet_model_like_multi_qa_dot_keeps_its_lengths(
    mpnet: Path, tmp_path: Path
) -> None:
    # multi-qa-mpnet-base-dot-v1 is MPNet with CLS pooling, no Normalize module and a
    # 512-token window, searched by dot product; its weights are not packaged, so
    # all-mpnet-base-v2 stands in, reshaped the same way.
    folder = model_copy(mpnet, tmp_path / "mpnet-dot")
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    (folder / "modules.json").write_text(json.dumps(modules[:2]), encoding="utf-8")
    edit_json(folder / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False,
              pooling_mode_cls_token=True)
    edit_json(folder / "sentence_bert_config.json", max_seq_length=512)
    preset = EmbeddingPreset("mpnet-dot", str(folder), 768, 512, "dot", False, "ip")

    fast = PresetEmbeddings(preset)
    assert fast.fast_queries
    assert load_query_encoder(str(folder)).window == 512
    assert_same_vectors(fast, get_embeddings(preset), TEXTS[:6] + TEXTS[-2:])
    assert np.linalg.norm(fast.embed_query("not a unit vector")) > 1.5


def test_cls_pooling_is_reproduced(minilm: Path, tmp_path: Path) -> None:
    folder = model_copy(minilm, tmp_path / "minilm-cls")
    edit_json(folder / "1_Pooling" / "config.json", pooling_mode_mean_tokens=False,
              pooling_mode_cls_token=True)
    preset = EmbeddingPreset("minilm-cls", str(folder), 384, 256)

    fast = PresetEmbeddings(preset)
    assert fast.fast_queries
    assert_same_vectors(fast, get_embeddings(preset), TEXTS[:8])


def test_documents_go_through_sentence_transformers(minilm: Path) -> None:
    fast = PresetEmbeddings("minilm")
    texts = ["Fresnel designed a new kind of lens.", "A lighthouse keeper's day."]
    assert fast.embed_documents(texts) == get_embeddings("minilm").embed_documents(texts)
    assert fast.model is get_embeddings("minilm")


# ---------------------------------------------------------------------------
# Models the numpy encoder cannot reproduce: sentence-transformers, said in the log
# ---------------------------------------------------------------------------


def _no_tokenizer_json(folder: Path) -> None:
    (folder / "tokenizer.json").unlink()  # sentence-transformers builds it from vocab.txt


def _pytorch_weights(folder: Path) -> None:
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    torch.save(weights, folder / "pytorch_model.bin")


def _lower_case(folder: Path) -> None:
    edit_json(folder / "sentence_bert_config.json", do_lower_case=True)


def _default_prompt(folder: Path) -> None:
    edit_json(folder / "config_sentence_transformers.json",
              prompts={"query": "query: "}, default_prompt_name="query")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_no_tokenizer_json, "no tokenizer.json"),
        (_pytorch_weights, "no model.safetensors"),
        (_lower_case, "do_lower_case"),
        (_default_prompt, "default prompt"),
    ],
)
def test_other_models_fall_back_to_sentence_transformers(
    change: object, reason: str, minilm: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = model_copy(minilm, tmp_path / "custom")
    change(folder)  # type: ignore[operator]
    preset = EmbeddingPreset("custom", str(folder), 384, 256)
    caplog.set_level(logging.DEBUG, logger="ytqa.preset_embeddings")

    fast = PresetEmbeddings(preset)
    assert not fast.fast_queries
    said = [r.getMessage() for r in caplog.records if r.name == "ytqa.preset_embeddings"]
    assert len(said) == 1 and "sentence-transformers" in said[0] and reason in said[0], said
    assert_same_vectors(fast, get_embeddings(preset), TEXTS[:4])


@pytest.mark.parametrize(
    ("file", "changes", "reason"),
    [
        ("config.json", {"model_type": "distilbert"}, "architecture 'distilbert'"),
        ("config.json", {"hidden_act": "gelu_new"}, "activation"),
        ("modules.json", None, "modules"),
        ("1_Pooling/config.json", {"pooling_mode_max_tokens": True}, "pooling"),
        ("tokenizer_config.json", {"do_lower_case": False}, "do_lower_case differs"),
        ("config.json", {"num_attention_heads": None}, "not as expected"),
    ],
)
def test_the_encoder_refuses_what_it_cannot_reproduce(
    file: str, changes: dict[str, object] | None, reason: str, minilm: Path, tmp_path: Path
) -> None:
    folder = model_copy(minilm, tmp_path / "other")
    if changes is None:  # a Dense layer after pooling, as some models have
        modules = json.loads((folder / file).read_text(encoding="utf-8"))
        modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense",
                           "type": "sentence_transformers.models.Dense"})
        (folder / file).write_text(json.dumps(modules), encoding="utf-8")
    else:
        edit_json(folder / file, **changes)
    with pytest.raises(Unsupported, match=reason):
        load_query_encoder(str(folder))


def test_a_model_that_is_not_on_disk_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    preset = EmbeddingPreset("hub-only", "someone/not-downloaded", 384, 256)
    caplog.set_level(logging.DEBUG, logger="ytqa.preset_embeddings")
    assert not PresetEmbeddings(preset).fast_queries
    assert "not a model folder on disk" in caplog.text


# ---------------------------------------------------------------------------
# The search path loads neither torch nor sentence-transformers
# ---------------------------------------------------------------------------


def test_search_over_an_existing_index_loads_no_torch_and_no_retriever(
    minilm: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "YTQA_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "ytqa.cli", "ingest", str(EXAMPLE)], env=env,
                   check=True, capture_output=True, timeout=300)
    probe = (
        "import json, sys\n"
        "from ytqa.cli import main\n"
        "try:\n"
        "    main(['search', 'Who designed the new kind of lens?', '-k', '1', '--json'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        f"print(json.dumps([m for m in {CLI_SEARCH_FORBIDDEN!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    *answer, loaded = done.stdout.strip().splitlines()
    assert json.loads(loaded) == []
    found = json.loads("\n".join(answer))["results"]
    assert "Fresnel designed a new kind of lens" in found[0]["matched_text"]


def test_an_index_retriever_embeds_questions_without_torch(minilm: Path, tmp_path: Path) -> None:
    env = {**os.environ, "YTQA_HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "ytqa.cli", "ingest", str(EXAMPLE)], env=env,
                   check=True, capture_output=True, timeout=300)
    probe = (
        "import json, sys\n"
        "from ytqa.index import VideoIndex\n"
        "retriever = VideoIndex().as_retriever(search_kwargs={'k': 1})\n"
        "found = retriever.invoke('Who designed the new kind of lens?')\n"
        "print(json.dumps([found[0].metadata['matched_text'], type(retriever.index.embeddings)"
        ".__name__]))\n"
        f"print(json.dumps([m for m in {SEARCH_PATH_FORBIDDEN!r} if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    answer, loaded = done.stdout.strip().splitlines()[-2:]
    assert json.loads(loaded) == []
    matched, kind = json.loads(answer)
    assert "Fresnel designed a new kind of lens" in matched
    assert kind == "PresetEmbeddings"
