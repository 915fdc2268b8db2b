"""resolve_llm: instances, provider strings, local Hugging Face models and the default."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import threading
from pathlib import Path

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from ytqa import LLMConfigurationError, YtqaError, resolve_llm
from ytqa.llm import DEFAULT_LLM, LLM_ENV, parse_hf_spec, runs_on_this_machine

# The same spec and options as tests/test_chain_e2e.py, so the process-wide model
# cache of ytqa.llm loads the GGUF once per test session.
GEMMA_OPTIONS = {"max_new_tokens": 12}


def _not_installed(module: str) -> None:
    if importlib.util.find_spec(module) is not None:
        pytest.skip(f"{module} is installed here, so the missing-package path cannot be shown")


# --- instances and provider strings ---------------------------------------------


def test_instance_is_returned_as_is() -> None:
    model = FakeListChatModel(responses=["hi"])
    assert resolve_llm(model) is model


def test_options_with_an_instance_are_refused() -> None:
    with pytest.raises(LLMConfigurationError, match="temperature"):
        resolve_llm(FakeListChatModel(responses=["hi"]), temperature=0)


@pytest.mark.parametrize(
    ("spec", "module", "package"),
    [
        ("openai:gpt-4o-mini", "langchain_openai", "langchain-openai"),
        ("anthropic:claude-3-5-haiku-latest", "langchain_anthropic", "langchain-anthropic"),
        # init_chat_model would quietly fall back to langchain-community's deprecated
        # ChatOllama; ytqa names the real package instead.
        ("ollama:llama3.2", "langchain_ollama", "langchain-ollama"),
        ("google_genai:gemini-2.5-flash", "langchain_google_genai", "langchain-google-genai"),
    ],
)
def test_missing_integration_package_names_the_pip_install(
    spec: str, module: str, package: str
) -> None:
    _not_installed(module)
    with pytest.raises(LLMConfigurationError) as caught:
        resolve_llm(spec)
    assert f"pip install {package}" in str(caught.value)
    assert spec in str(caught.value)


def test_provider_inferred_from_the_model_name_also_names_the_package() -> None:
    _not_installed("langchain_openai")
    # No prefix: init_chat_model infers OpenAI and fails on the import.
    with pytest.raises(LLMConfigurationError, match=r"pip install langchain-openai") as caught:
        resolve_llm("gpt-4o-mini")
    assert isinstance(caught.value.__cause__, ImportError)


def test_unknown_provider_is_a_configuration_error() -> None:
    with pytest.raises(LLMConfigurationError, match="provider:model") as caught:
        resolve_llm("no-such-provider:some-model")
    assert isinstance(caught.value.__cause__, ValueError)


@pytest.mark.parametrize("bad", ["", "   ", "hf:", "hf:  "])
def test_empty_specs_are_refused(bad: str) -> None:
    with pytest.raises(LLMConfigurationError):
        resolve_llm(bad)


def test_a_non_model_object_is_refused() -> None:
    with pytest.raises(LLMConfigurationError, match="int"):
        resolve_llm(42)  # type: ignore[arg-type]


def test_env_variable_chooses_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    _not_installed("langchain_openai")
    monkeypatch.setenv(LLM_ENV, "openai:gpt-4o-mini")
    with pytest.raises(LLMConfigurationError, match="langchain-openai"):
        resolve_llm()


# --- hf: specs --------------------------------------------------------------------


def test_parse_hf_spec_forms(tmp_path: Path) -> None:
    assert parse_hf_spec("hf:Qwen/Qwen2.5-0.5B-Instruct") == ("Qwen/Qwen2.5-0.5B-Instruct", None)
    assert parse_hf_spec("hf:org/repo::model-Q4_K_M.gguf") == ("org/repo", "model-Q4_K_M.gguf")
    gguf = tmp_path / "weights" / "tiny.gguf"
    assert parse_hf_spec(f"hf:{gguf}") == (str(gguf.parent), "tiny.gguf")
    # A folder with one GGUF file and no config.json means that file.
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    assert parse_hf_spec(f"hf:{gguf.parent}") == (str(gguf.parent), "tiny.gguf")
    # A transformers folder stays a folder.
    (gguf.parent / "config.json").write_text("{}")
    assert parse_hf_spec(f"hf:{gguf.parent}") == (str(gguf.parent), None)


def test_uncached_hub_model_offline_says_what_to_do(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(LLMConfigurationError) as caught:
        resolve_llm("hf:ytqa-tests/no-such-model")
    message = str(caught.value)
    assert "HF_HUB_OFFLINE" in message
    assert "llm='openai:gpt-4o-mini'" in message
    assert caught.value.__cause__ is not None


def test_default_llm_unavailable_offline_says_how_to_pass_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An empty Hugging Face cache and the hub switched off (conftest): the default
    # model cannot be had, and the error must say how to choose another.
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv(LLM_ENV, raising=False)
    with pytest.raises(LLMConfigurationError) as caught:
        resolve_llm()
    message = str(caught.value)
    assert "default LLM" in message
    assert DEFAULT_LLM.removeprefix("llamacpp:") in message
    for advice in ("llm='ollama:llama3.2'", "llm='llamacpp:", "llm='hf:", LLM_ENV):
        assert advice in message
    assert isinstance(caught.value, YtqaError)


def test_missing_local_path_is_a_configuration_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent" / "model.gguf"
    with pytest.raises(LLMConfigurationError, match="does not exist") as caught:
        resolve_llm(f"hf:{missing}")
    assert str(missing) in str(caught.value)
    with pytest.raises(LLMConfigurationError, match="does not exist"):
        resolve_llm(f"hf:{tmp_path / 'no-folder'}")


def test_bad_dtype_is_a_configuration_error(tmp_path: Path) -> None:
    weights = tmp_path / "model.gguf"
    weights.write_bytes(b"GGUF")  # checked before anything is read
    with pytest.raises(LLMConfigurationError, match="dtype"):
        resolve_llm(f"hf:{weights}", dtype="float-ish", device="cpu")


def test_unreadable_gguf_is_a_configuration_error(tmp_path: Path) -> None:
    weights = tmp_path / "broken.gguf"
    weights.write_bytes(b"not a gguf file at all")
    with pytest.raises(LLMConfigurationError, match=r"broken\.gguf") as caught:
        resolve_llm(f"hf:{weights}", device="cpu")
    assert caught.value.__cause__ is not None
    assert "\n" not in str(caught.value)


# --- a real local model: the packaged Gemma 3 270M GGUF ---------------------------


@pytest.mark.slow
def test_gguf_model_generates_text_sync_and_async(gemma_llm: str) -> None:
    from langchain_huggingface import HuggingFacePipeline

    llm = resolve_llm(gemma_llm, **GEMMA_OPTIONS)
    # This GGUF's tokenizer has no chat template: a plain text-completion model.
    assert isinstance(llm, HuggingFacePipeline)
    assert runs_on_this_machine(llm)  # chains keep its excerpts short
    assert resolve_llm(gemma_llm, **GEMMA_OPTIONS) is llm  # loaded once per process
    answer = llm.invoke("The capital of France is")
    assert isinstance(answer, str) and answer.strip()
    assert not answer.startswith("The capital of France is")  # only new text comes back
    assert asyncio.run(llm.ainvoke("One, two, three,")).strip()
    # It counts tokens with its own tokenizer (map_reduce needs that, offline).
    assert llm.get_num_tokens("hello world") == len(
        llm.pipeline.tokenizer.encode("hello world", add_special_tokens=False)
    )


@pytest.mark.slow
def test_generation_ends_when_the_reader_of_a_stream_stops(gemma_llm: str) -> None:
    # Ctrl-C in `ytqa chat` stops reading; the generation thread must not run on to
    # max_new_tokens (4,000 forced tokens here: minutes of CPU).
    llm = resolve_llm(gemma_llm, max_new_tokens=4000, min_new_tokens=4000)
    before = set(threading.enumerate())
    stream = llm.stream("Count from one to one thousand: one, two, three,")
    assert next(stream) is not None and next(stream) is not None
    generating = [thread for thread in threading.enumerate() if thread not in before]
    assert generating  # LangChain generates in a thread of its own
    stream.close()  # what an interrupted `for` loop does to the stream
    for thread in generating:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in generating)


@pytest.mark.slow
def test_chat_template_models_are_wrapped_as_chat_models(gemma_llm: str) -> None:
    from ytqa.llm import _wrap_pipeline

    text_llm = resolve_llm(gemma_llm, **GEMMA_OPTIONS)
    tokenizer = copy.deepcopy(text_llm.pipeline.tokenizer)  # type: ignore[attr-defined]
    # Gemma's turn format, as the instruction-tuned checkpoints ship it.
    tokenizer.chat_template = (
        "{{ bos_token }}{% for m in messages %}<start_of_turn>"
        "{{ 'model' if m['role'] == 'assistant' else 'user' }}\n{{ m['content'] }}"
        "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n"
        "{% endif %}"
    )
    chat = _wrap_pipeline(text_llm.pipeline, "gemma", None, tokenizer,  # type: ignore[attr-defined]
                          chat=True)
    assert isinstance(chat, BaseChatModel)
    assert runs_on_this_machine(chat)
    messages = [SystemMessage("Answer in one word."), HumanMessage("What colour is the sky?")]
    assert chat.invoke(messages).text.strip()
    # langchain_huggingface refuses async for local pipelines; ytqa runs it in a thread.
    assert asyncio.run(chat.ainvoke(messages)).text.strip()
