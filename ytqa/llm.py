"""Turn the ``llm=`` argument into a LangChain language model.

``llm`` may be:

* a LangChain chat model or LLM instance — used as it is;
* ``"provider:model"`` (``"openai:gpt-4o-mini"``, ``"anthropic:claude-sonnet-4-5"``,
  ``"ollama:llama3.2"``, ...) — created with LangChain's ``init_chat_model``; the
  provider's integration package (``langchain-openai``, ...) must be installed;
* ``"hf:<model>"`` — a Hugging Face model run locally with transformers, through
  ``langchain_huggingface``. ``<model>`` is one of

  - a hub ID: ``"hf:Qwen/Qwen2.5-0.5B-Instruct"`` (downloaded on first use);
  - a local model folder: ``"hf:/models/my-model"``;
  - a GGUF file: ``"hf:/models/model-q4_k_m.gguf"``, or a folder that holds exactly
    one ``.gguf`` file and no ``config.json``;
  - a GGUF file inside a hub repository: ``"hf:org/repo::model-q4_k_m.gguf"``.

  GGUF weights are de-quantized by transformers (``pip install "ytqa[gguf]"``
  brings ``gguf`` and ``accelerate``). Models whose tokenizer has a chat template
  are wrapped in ``ChatHuggingFace`` so that the template is used;
* ``"py:package.module:attribute"`` — a model of your own code: the attribute is a
  LangChain model, or a callable (a class, a factory) that returns one when called
  with the options (``ytqa ask --llm py:mypkg.models:make -o temperature=0``); the
  module is imported from ``sys.path``, so this is how a command is given a model
  that no ``provider:model`` names (a gateway client, a scripted model for tests);
* ``"llamacpp:<file>.gguf"`` or ``"llamacpp:<hub repository>::<file>.gguf"`` — a
  GGUF model run by llama.cpp (``pip install "ytqa[local]"``): quantised weights
  as they are, streamed token by token, with the chat template the file carries.
  A hub file is taken from ``$YTQA_MODELS_DIR/<file>`` when it is there (offline),
  else from the Hugging Face cache or hub;
* ``None`` — ``$YTQA_LLM`` if set, else :data:`DEFAULT_LLM`, a small local
  instruct model run by llama.cpp, so that answers need no API key.

Loaded ``hf:`` models are kept for the life of the process (one per model and
options), like the embedding models, so building several chains loads once.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseLanguageModel
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatResult, GenerationChunk
from langchain_core.runnables.config import run_in_executor

from ytqa._llamacpp import LLAMACPP_PREFIX, LlamaCppChatModel, load_llamacpp
from ytqa.embeddings import resolve_device
from ytqa.errors import LLMConfigurationError

if TYPE_CHECKING:  # pragma: no cover
    from langchain_huggingface import ChatHuggingFace, HuggingFacePipeline

__all__ = [
    "DEFAULT_LLM",
    "DEFAULT_MAX_NEW_TOKENS",
    "LLM_ENV",
    "parse_hf_spec",
    "resolve_llm",
    "runs_on_this_machine",
]

DEFAULT_LLM = "llamacpp:Qwen/Qwen2.5-0.5B-Instruct-GGUF::qwen2.5-0.5b-instruct-q4_k_m.gguf"
"""The LLM used when none is given: a 0.5B-parameter instruct model (Apache-2.0),
4-bit, 491 MB, run by llama.cpp (``pip install "ytqa[local]"``): on two CPU cores
it reads a prompt at about 180 tokens a second, then streams about 40 tokens a
second (docs/performance.md); chains give it one-chunk excerpts
(:data:`ytqa.chain.LOCAL_MODEL_WINDOW`), so that the answer starts within ~3 s.
Hosted or Ollama models (``"provider:model"``) answer better. Override with
``$YTQA_LLM`` or ``llm=``; offline, put the file in ``$YTQA_MODELS_DIR``."""

LLM_ENV = "YTQA_LLM"
"""Environment variable naming the default LLM, in any form ``llm=`` accepts."""

DEFAULT_MAX_NEW_TOKENS = 256
"""Tokens a local ``hf:`` model may generate per answer unless told otherwise."""

HF_PREFIX = "hf:"
PY_PREFIX = "py:"
GGUF_SEPARATOR = "::"

_ALTERNATIVES = (
    "To use another model, pass llm='openai:gpt-4o-mini' (pip install langchain-openai, "
    "OPENAI_API_KEY), llm='ollama:llama3.2' (pip install langchain-ollama, a running "
    "Ollama), llm='llamacpp:/path/to/model.gguf' (pip install \"ytqa[local]\"), "
    "llm='hf:/path/to/local/model', a LangChain model instance, or set "
    f"{LLM_ENV} to one of these."
)

_hf_cache: dict[tuple[str, str], BaseLanguageModel[Any]] = {}
_hf_lock = threading.Lock()
_weights_lock = threading.Lock()


def resolve_llm(
    llm: BaseLanguageModel[Any] | str | None = None, **options: Any
) -> BaseLanguageModel[Any]:
    """Return the LangChain language model that *llm* names.

    Args:
        llm: A LangChain model instance, ``"provider:model"``, ``"hf:<model>"``,
            ``"llamacpp:<file>.gguf"`` (see the module documentation), or ``None``
            for ``$YTQA_LLM`` / :data:`DEFAULT_LLM`.
        **options: For ``"provider:model"``: keyword arguments of
            ``init_chat_model`` (``temperature=0``, ``base_url=...``). For ``"hf:"``:
            ``device`` (``"auto"``: CUDA, then Apple MPS, then CPU; or ``"cpu"``,
            ``"cuda:1"``...), ``dtype`` (a torch dtype or its name), ``model_kwargs``
            (for ``from_pretrained``), and generation arguments
            (``max_new_tokens`` — default 256 —, ``temperature`` — sampling
            instead of greedy decoding —, ``top_p``, ``repetition_penalty``...).
            For ``"llamacpp:"``: ``max_new_tokens`` (or ``max_tokens``; default 256),
            ``temperature`` (default 0: greedy), ``top_p``, ``repeat_penalty``,
            ``seed``, ``stop``, ``n_ctx`` (default 4096) and ``n_threads`` (default:
            every core).

    Raises:
        LLMConfigurationError: the model cannot be had: unknown provider, missing
            integration package (the message names the ``pip install``), a model
            that cannot be downloaded or loaded, or *options* given with an instance.
    """
    if isinstance(llm, BaseLanguageModel):
        if options:
            raise LLMConfigurationError(
                f"Options {sorted(options)} apply only when llm= names a model; "
                "configure the model instance you passed instead."
            )
        return llm
    if llm is None:
        configured = os.environ.get(LLM_ENV, "").strip()
        spec, is_default = (configured, False) if configured else (DEFAULT_LLM, True)
    elif isinstance(llm, str):
        spec, is_default = llm.strip(), False
    else:
        raise LLMConfigurationError(
            f"llm= must be a LangChain model, a 'provider:model' string or None, not "
            f"{type(llm).__name__}. {_ALTERNATIVES}"
        )
    if not spec:
        raise LLMConfigurationError(f"llm= is an empty string. {_ALTERNATIVES}")
    if spec.startswith(HF_PREFIX):
        return _load_hf_cached(spec, options, is_default=is_default)
    if spec.startswith(PY_PREFIX):
        return _import_model(spec, options)
    if spec.startswith(LLAMACPP_PREFIX):
        return _load_llamacpp(spec, options, is_default=is_default)
    return _init_provider_model(spec, options)


def _load_llamacpp(
    spec: str, options: dict[str, Any], *, is_default: bool
) -> BaseLanguageModel[Any]:
    try:
        return load_llamacpp(spec, options)
    except LLMConfigurationError as exc:
        if not is_default:
            raise
        raise LLMConfigurationError(
            f"Cannot load the default LLM {spec.removeprefix(LLAMACPP_PREFIX)!r}: {exc} "
            + _ALTERNATIVES
        ) from exc


# --- "provider:model" through init_chat_model ------------------------------------


def _provider_of(spec: str) -> str | None:
    """Provider prefix of *spec*, normalized as ``init_chat_model`` does."""
    if ":" not in spec:
        return None
    return spec.split(":", 1)[0].strip().replace("-", "_").lower() or None


def _provider_module(provider: str) -> str | None:
    """Python module of *provider*'s LangChain chat model, if LangChain knows it."""
    try:
        # The registry init_chat_model itself uses; private, so only trusted if present.
        from langchain.chat_models import base as chat_base
    except ImportError:  # pragma: no cover - langchain is a dependency
        return None
    registry: dict[str, tuple[Any, ...]] = getattr(chat_base, "_BUILTIN_PROVIDERS", {})
    entry = registry.get(provider)
    return str(entry[0]) if entry else None


def _missing_package_error(spec: str, package: str) -> LLMConfigurationError:
    return LLMConfigurationError(
        f"llm={spec!r} needs the LangChain integration package {package}: run "
        f"`pip install {package}` (and set the provider's API key if it has one)."
    )


def _init_provider_model(spec: str, options: dict[str, Any]) -> BaseLanguageModel[Any]:
    provider = _provider_of(spec)
    module = _provider_module(provider) if provider is not None else None
    if module is not None:
        root = module.split(".", 1)[0]
        # Check first: for some providers init_chat_model silently falls back to a
        # deprecated langchain-community class instead of saying what is missing.
        if root.startswith("langchain_") and importlib.util.find_spec(root) is None:
            raise _missing_package_error(spec, root.replace("_", "-"))
    try:
        from langchain.chat_models import init_chat_model

        model: BaseLanguageModel[Any] = init_chat_model(spec, **options)
        return model
    except ImportError as exc:
        match = re.search(r"pip install ([^`\s]+)", str(exc))
        package = match.group(1) if match else f"langchain-{provider or 'PROVIDER'}"
        raise _missing_package_error(spec, package.replace("_", "-")) from exc
    except ValueError as exc:
        if "model provider" in str(exc) or "Unsupported" in str(exc):
            raise LLMConfigurationError(
                f"Cannot tell which LLM provider {spec!r} names. Write it as "
                "'provider:model' with a provider LangChain knows (openai, anthropic, "
                "ollama, google_genai, groq, mistralai, ...), or 'hf:<model>' for a "
                "local Hugging Face model."
            ) from exc
        raise _creation_error(spec, exc) from exc
    except Exception as exc:  # provider SDKs raise their own types (missing API key...)
        raise _creation_error(spec, exc) from exc


def _creation_error(spec: str, exc: Exception) -> LLMConfigurationError:
    return LLMConfigurationError(
        f"Could not create the LLM {spec!r}: {exc}. Check the model name, the "
        "provider's API key (e.g. OPENAI_API_KEY) and the options passed."
    )


# --- "py:module:attribute", a model of the user's own code -------------------------


def _import_model(spec: str, options: dict[str, Any]) -> BaseLanguageModel[Any]:
    module_name, sep, attribute = spec[len(PY_PREFIX) :].partition(":")
    if not sep or not module_name or not attribute:
        raise LLMConfigurationError(
            f"llm={spec!r} must name a module and an attribute, as "
            "'py:package.module:attribute'."
        )
    try:
        value: Any = importlib.import_module(module_name)
        for name in attribute.split("."):
            value = getattr(value, name)
    except (ImportError, AttributeError) as exc:
        raise LLMConfigurationError(
            f"llm={spec!r} cannot be imported ({exc}): check the module name, that it "
            "is on the Python path (PYTHONPATH), and the attribute."
        ) from exc
    if isinstance(value, BaseLanguageModel):
        return resolve_llm(value, **options)
    if not callable(value):
        raise LLMConfigurationError(
            f"llm={spec!r} is a {type(value).__name__}: name a LangChain model or a "
            "callable that returns one."
        )
    try:
        model = value(**options)
    except Exception as exc:
        raise _creation_error(spec, exc) from exc
    if not isinstance(model, BaseLanguageModel):
        raise LLMConfigurationError(
            f"llm={spec!r} returned a {type(model).__name__}, not a LangChain model."
        )
    return model


# --- "hf:" local Hugging Face models -------------------------------------------


def parse_hf_spec(spec: str) -> tuple[str, str | None]:
    """Split an ``"hf:..."`` spec into (model ID or folder, GGUF file name or None).

    >>> parse_hf_spec("hf:Qwen/Qwen2.5-0.5B-Instruct")
    ('Qwen/Qwen2.5-0.5B-Instruct', None)
    >>> parse_hf_spec("hf:org/repo::model-q4_k_m.gguf")
    ('org/repo', 'model-q4_k_m.gguf')
    >>> parse_hf_spec("hf:/models/gemma.gguf")
    ('/models', 'gemma.gguf')

    Raises:
        LLMConfigurationError: nothing after ``hf:``.
    """
    target = spec[len(HF_PREFIX) :].strip() if spec.startswith(HF_PREFIX) else spec.strip()
    if not target:
        raise LLMConfigurationError(
            "llm='hf:' names no model: write 'hf:<hub id>', 'hf:/path/to/model', "
            "'hf:/path/to/model.gguf' or 'hf:<hub id>::<file>.gguf'."
        )
    if GGUF_SEPARATOR in target:
        repo, _, gguf_file = target.partition(GGUF_SEPARATOR)
        return repo.strip(), gguf_file.strip() or None
    path = Path(target).expanduser()
    if target.lower().endswith(".gguf"):
        return str(path.parent), path.name
    if path.is_dir() and not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return str(path), ggufs[0].name
    return str(path) if path.exists() else target, None


def _load_hf_cached(
    spec: str, options: dict[str, Any], *, is_default: bool
) -> BaseLanguageModel[Any]:
    key = (spec, repr(sorted(options.items())))
    with _hf_lock:
        cached = _hf_cache.get(key)
        if cached is None:
            cached = _load_hf(spec, dict(options), is_default=is_default)
            _hf_cache[key] = cached
    return cached


def _torch_dtype(dtype: Any, device: str) -> Any:
    import torch

    if dtype is None:
        # bfloat16 matmuls are slow on most CPUs; accelerators take the checkpoint's dtype.
        if device == "cpu":
            return torch.float32
        return torch.float16 if device.startswith("mps") else "auto"
    if isinstance(dtype, str) and dtype != "auto":
        resolved = getattr(torch, dtype, None)
        if not isinstance(resolved, torch.dtype):
            raise LLMConfigurationError(
                f"dtype={dtype!r} is not a torch dtype: use 'float32', 'float16', "
                "'bfloat16' or 'auto'."
            )
        return resolved
    return dtype


def _load_failure(
    spec: str, exc: BaseException, *, is_default: bool, offline: bool
) -> LLMConfigurationError:
    model = spec[len(HF_PREFIX) :]
    if isinstance(exc, ImportError):
        return LLMConfigurationError(
            f"Loading {model!r} needs a package that is missing ({_one_line(exc)}). For GGUF "
            "files run `pip install \"ytqa[gguf]\"` (gguf and accelerate). "
            + _ALTERNATIVES
        )
    what = f"the default LLM {model!r}" if is_default else f"the Hugging Face model {model!r}"
    if isinstance(exc, OSError):
        where = (
            " while the Hugging Face hub is switched off (HF_HUB_OFFLINE=1) and the "
            "model is not in the local cache"
            if offline
            else ": it is not a local folder or file, not in the cache, and could "
            "not be downloaded from the Hugging Face hub"
        )
        return LLMConfigurationError(
            f"Cannot load {what}{where} ({_one_line(exc)}). Connect once to download "
            "it. " + _ALTERNATIVES
        )
    return LLMConfigurationError(f"Cannot load {what}: {_one_line(exc)}. " + _ALTERNATIVES)


def _one_line(exc: BaseException) -> str:
    """Upstream messages span lines; ytqa's errors are printed on one."""
    return " ".join(str(exc).split())


def _hub_offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _check_local(spec: str, model_id: str, gguf_file: str | None) -> None:
    """Fail early, and clearly, on a local path that is not there."""
    target = spec[len(HF_PREFIX) :].strip()
    if GGUF_SEPARATOR in target:
        return  # a file inside a hub repository
    looks_local = gguf_file is not None or target.startswith(("/", ".", "~", "\\")) or (
        len(target) > 1 and target[1] == ":"  # a Windows drive
    )
    path = Path(model_id) / gguf_file if gguf_file else Path(model_id)
    if looks_local and not path.exists():
        raise LLMConfigurationError(
            f"No model at {path}: that {'file' if gguf_file else 'folder'} does not exist. "
            "Check the path after 'hf:'. " + _ALTERNATIVES
        )


def _load_hf(spec: str, options: dict[str, Any], *, is_default: bool) -> BaseLanguageModel[Any]:
    model_id, gguf_file = parse_hf_spec(spec)
    _check_local(spec, model_id, gguf_file)
    device = str(options.pop("device", "auto"))
    dtype = options.pop("dtype", None)
    model_kwargs: dict[str, Any] = dict(options.pop("model_kwargs", None) or {})
    generation: dict[str, Any] = {"max_new_tokens": DEFAULT_MAX_NEW_TOKENS, **options}
    if generation.get("temperature") and "do_sample" not in generation:
        generation["do_sample"] = True
    generation.setdefault("do_sample", False)
    try:
        from transformers import pipeline

        device = resolve_device(device)
        model, tokenizer = _load_weights(
            model_id, gguf_file, device, _torch_dtype(dtype, device), model_kwargs
        )
        has_chat_template = bool(getattr(tokenizer, "chat_template", None))
        if not generation["do_sample"]:
            # Greedy decoding: ask for no sampling settings, so that transformers
            # does not warn that the checkpoint's ones are ignored.
            for name in ("temperature", "top_p", "top_k", "min_p", "typical_p"):
                if hasattr(model.generation_config, name):
                    generation.setdefault(name, None)
        text_pipeline = pipeline(
            "text-generation",
            model=model,
            tokenizer=tokenizer,
            device=device,
            return_full_text=False,
            # A chat template writes the BOS token itself; plain prompts need it added.
            add_special_tokens=not has_chat_template,
            **generation,
        )
    except LLMConfigurationError:
        raise
    except Exception as exc:  # transformers/hub raise OSError, ValueError, ImportError...
        raise _load_failure(spec, exc, is_default=is_default, offline=_hub_offline()) from exc
    return _wrap_pipeline(text_pipeline, model_id, gguf_file, tokenizer, has_chat_template)


_weights_cache: dict[tuple[str, ...], tuple[Any, Any]] = {}


def _load_weights(
    model_id: str, gguf_file: str | None, device: str, dtype: Any, model_kwargs: dict[str, Any]
) -> tuple[Any, Any]:
    """``(model, tokenizer)``, loaded once per process: the generation options of
    a chain (``max_new_tokens``, ``temperature``...) don't load the weights again.
    That matters most for GGUF files, which are de-quantized at every load."""
    key = (model_id, str(gguf_file), device, repr(dtype), repr(sorted(model_kwargs.items())))
    with _weights_lock:
        cached = _weights_cache.get(key)
        if cached is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            kwargs = dict(model_kwargs)
            if gguf_file is not None:
                kwargs.setdefault("gguf_file", gguf_file)
            tokenizer = AutoTokenizer.from_pretrained(model_id, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(model_id, dtype=dtype, **kwargs)
            if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
                tokenizer.pad_token_id = tokenizer.eos_token_id
            cached = _weights_cache[key] = (model, tokenizer)
    return cached


def _wrap_pipeline(
    text_pipeline: Any, model_id: str, gguf_file: str | None, tokenizer: Any, chat: bool
) -> BaseLanguageModel[Any]:
    name = f"{model_id}{GGUF_SEPARATOR}{gguf_file}" if gguf_file else model_id
    # Count tokens with the model's own tokenizer: LangChain's fallback downloads
    # GPT-2's (map_reduce measures prompts), which fails offline and miscounts.
    count = functools.partial(tokenizer.encode, add_special_tokens=False)
    llm = _local_pipeline_class()(
        pipeline=text_pipeline, model_id=name, custom_get_token_ids=count
    )
    if not chat:
        return llm
    return _local_chat_class()(
        llm=llm, tokenizer=tokenizer, model_id=name, custom_get_token_ids=count
    )


def runs_on_this_machine(model: BaseLanguageModel[Any]) -> bool:
    """Whether *model* computes on this machine (llama.cpp, or ``hf:`` transformers):
    its prompt is read at CPU speed, so chains keep the excerpts short."""
    if isinstance(model, LlamaCppChatModel):
        return True
    huggingface = sys.modules.get("langchain_huggingface")  # loaded by any hf: model
    if huggingface is None:
        return False
    if isinstance(model, huggingface.ChatHuggingFace):
        model = model.llm
    return isinstance(model, huggingface.HuggingFacePipeline)


@functools.cache
def _local_pipeline_class() -> type[HuggingFacePipeline]:
    """``HuggingFacePipeline`` whose streamed generation ends when its reader stops."""
    from langchain_huggingface import HuggingFacePipeline
    from transformers import LogitsProcessor, LogitsProcessorList

    class EndWhenStopped(LogitsProcessor):
        """Leaves the end-of-text token as the only choice once *stopped* is set."""

        def __init__(self, stopped: threading.Event, end: int) -> None:
            self.stopped, self.end = stopped, end

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if self.stopped.is_set():
                scores[:, :] = float("-inf")
                scores[:, self.end] = 0.0
            return scores

    class LocalHuggingFacePipeline(HuggingFacePipeline):
        """Generation runs in LangChain's thread while the answer streams; when the
        reader stops (Ctrl-C in ``ytqa chat``, a closed web request) it would run on
        to ``max_new_tokens``, holding the CPU. This ends it at the next token."""

        def _stream(
            self,
            prompt: str,
            stop: list[str] | None = None,
            run_manager: CallbackManagerForLLMRun | None = None,
            **kwargs: Any,
        ) -> Iterator[GenerationChunk]:
            end = self.pipeline.tokenizer.eos_token_id
            if isinstance(end, list):
                end = end[0] if end else None
            if end is None:
                yield from super()._stream(prompt, stop, run_manager, **kwargs)
                return
            stopped = threading.Event()
            options = dict(kwargs.pop("pipeline_kwargs", None) or {})
            options["logits_processor"] = LogitsProcessorList(
                [*(options.get("logits_processor") or []), EndWhenStopped(stopped, end)]
            )
            try:
                yield from super()._stream(
                    prompt, stop, run_manager, pipeline_kwargs=options, **kwargs
                )
            finally:
                stopped.set()

    return LocalHuggingFacePipeline


@functools.cache
def _local_chat_class() -> type[ChatHuggingFace]:
    """``ChatHuggingFace`` that also runs under ``ainvoke`` (in a worker thread)."""
    from langchain_huggingface import ChatHuggingFace

    class LocalChatHuggingFace(ChatHuggingFace):
        """Chat wrapper of a local transformers pipeline; async runs in a thread."""

        async def _agenerate(
            self,
            messages: list[BaseMessage],
            stop: list[str] | None = None,
            run_manager: AsyncCallbackManagerForLLMRun | None = None,
            stream: bool | None = None,
            **kwargs: Any,
        ) -> ChatResult:
            # ChatHuggingFace refuses async for local pipelines; generation is
            # blocking work, so run it off the event loop.
            sync_manager = run_manager.get_sync() if run_manager else None
            result: ChatResult = await run_in_executor(
                None, self._generate, messages, stop, sync_manager, stream, **kwargs
            )
            return result

    return LocalChatHuggingFace
