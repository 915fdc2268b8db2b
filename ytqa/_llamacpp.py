"""Local GGUF chat models run by llama.cpp (``llm="llamacpp:..."``, the default LLM).

llama.cpp runs quantised weights as they are (transformers de-quantises GGUF files
to full precision), so a 0.5B model answers on a laptop CPU within seconds. The
runtime is ``llama-cpp-python`` (``pip install "ytqa[local]"``); the chat model
below is a plain LangChain ``BaseChatModel`` over it that streams, applies the
chat template stored in the GGUF file, and counts tokens with the model's own
tokenizer.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, Field, PrivateAttr

from ytqa.citations import NOT_IN_THESE_VIDEOS, find_marks, line_marks
from ytqa.errors import LLMConfigurationError

LLAMACPP_PREFIX = "llamacpp:"
GGUF_SEPARATOR = "::"
DEFAULT_CONTEXT = 4096
"""Tokens of context: five excerpts and the instructions take about 1,500."""

INSTALL_HINT = 'pip install "ytqa[local]"'

CITE_GIVEN_MOMENTS = "cite_given_moments"
"""Generation option (``model.bind(cite_given_moments=True)``; ytqa's chains set it
when the model answers ytqa's own prompt): the answer is either
:data:`~ytqa.citations.NOT_IN_THESE_VIDEOS` or prose that cites one to
:data:`MAX_CITATIONS` moments (and may open with one more), each the mark of a line
of the excerpts in the last message, and ends with its last citation. A small model
then never invents a moment, never answers without one, and cannot ramble until the
token limit (``benchmarks/answer_quality.py``, docs/evaluation.md)."""
MAX_CITATIONS = 3
MAX_CITED_PROSE = 400
"""Characters of prose at most before each citation."""

_ROLES = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}

_runtimes: dict[tuple[str, int, int], tuple[Any, threading.Lock]] = {}
_runtimes_lock = threading.Lock()


def parse_llamacpp_spec(spec: str) -> tuple[str | None, str]:
    """Split ``"llamacpp:..."`` into (hub repository or None, GGUF file or path).

    >>> parse_llamacpp_spec("llamacpp:Qwen/Qwen2.5-0.5B-Instruct-GGUF::model-q4_k_m.gguf")
    ('Qwen/Qwen2.5-0.5B-Instruct-GGUF', 'model-q4_k_m.gguf')
    >>> parse_llamacpp_spec("llamacpp:/models/model.gguf")
    (None, '/models/model.gguf')

    Raises:
        LLMConfigurationError: nothing after the prefix, or a hub repository without a file.
    """
    target = spec.removeprefix(LLAMACPP_PREFIX).strip()
    if GGUF_SEPARATOR in target:
        repo, _, file = (part.strip() for part in target.partition(GGUF_SEPARATOR))
        if repo and file:
            return repo, file
    elif target:
        return None, target
    raise LLMConfigurationError(
        f"llm={spec!r} names no GGUF file: write 'llamacpp:/path/to/model.gguf' or "
        "'llamacpp:<hub repository>::<file>.gguf'."
    )


def gguf_path(spec: str, *, models_dir: str | None = None) -> Path:
    """Where the GGUF file of *spec* is, downloading it from the hub if need be.

    A path is used as it is. ``repo::file`` is ``$YTQA_MODELS_DIR/<file>`` when that
    file exists (offline use), else the file from the Hugging Face cache or hub.

    Raises:
        LLMConfigurationError: no such file, or the hub cannot be reached.
    """
    repo, file = parse_llamacpp_spec(spec)
    if repo is None:
        path = Path(file).expanduser()
        if not path.is_file():
            raise LLMConfigurationError(
                f"No GGUF file at {path}. Check the path after 'llamacpp:'."
            )
        return path
    models_dir = models_dir if models_dir is not None else os.environ.get("YTQA_MODELS_DIR")
    if models_dir and (Path(models_dir) / file).is_file():
        return Path(models_dir) / file
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo, file))
    except Exception as exc:  # offline, unknown repository or file, network errors
        where = f"$YTQA_MODELS_DIR ({models_dir}) has no {file}" if models_dir else (
            "YTQA_MODELS_DIR is not set"
        )
        raise LLMConfigurationError(
            f"Cannot get {file} from the Hugging Face repository {repo} "
            f"({' '.join(str(exc).split())}); {where}. Connect once to download it, or "
            f"copy the file into $YTQA_MODELS_DIR."
        ) from exc


def load_runtime(path: Path, *, n_ctx: int, n_threads: int) -> tuple[Any, threading.Lock]:
    """The ``llama_cpp.Llama`` of *path*, loaded once per process, with its lock
    (a llama.cpp context serves one generation at a time)."""
    key = (str(path.resolve()), n_ctx, n_threads)
    with _runtimes_lock:
        cached = _runtimes.get(key)
        if cached is None:
            Llama = require_runtime().Llama  # noqa: N806 - the runtime's class

            try:
                runtime = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=n_threads,
                    n_threads_batch=n_threads,
                    # Reads the prompt ~7 % faster on two cores (benchmarks/local_llm.py).
                    flash_attn=True,
                    verbose=False,
                )
            except (ValueError, RuntimeError, OSError) as exc:
                raise LLMConfigurationError(
                    f"llama.cpp cannot load {path} ({' '.join(str(exc).split())}): is it "
                    "a complete GGUF file?"
                ) from exc
            if not _runtimes:
                atexit.register(_close_runtimes)
            cached = _runtimes[key] = (runtime, threading.Lock())
    return cached


def _close_runtimes() -> None:
    """Free the loaded models while Python still runs: left to ``Llama.__del__`` at
    interpreter exit, llama-cpp-python prints a traceback from half-torn-down modules."""
    with _runtimes_lock:
        for runtime, _ in _runtimes.values():
            runtime.close()
        _runtimes.clear()


def require_runtime() -> Any:
    """The ``llama_cpp`` module, or an error that says how to install it."""
    try:
        import llama_cpp
    except ImportError as exc:
        raise LLMConfigurationError(
            f"Local GGUF models run on llama.cpp, which is not installed: run `{INSTALL_HINT}` "
            "(it builds llama-cpp-python, a few minutes)."
        ) from exc
    return llama_cpp


def default_threads() -> int:
    """Every core this process may use (llama.cpp's own default takes half)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class LlamaCppChatModel(BaseChatModel):
    """A LangChain chat model over a GGUF file run by llama.cpp.

    Streams token by token (``stream``/``astream``), formats messages with the
    chat template stored in the GGUF file, honours ``stop`` and ``max_tokens``,
    and decodes greedily unless ``temperature`` is above 0. Make one with
    ``ytqa.resolve_llm("llamacpp:...")``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    """The GGUF file."""
    max_tokens: int = 256
    """Tokens generated at most per answer."""
    temperature: float = 0.0
    """0: greedy decoding (the same answer every time); above 0: sampling."""
    top_p: float = 0.95
    repeat_penalty: float = 1.05
    """Above 1 discourages the loops that small models fall into (Qwen2.5's own value)."""
    seed: int | None = None
    stop: list[str] | None = None
    """Strings that end the answer (the template's end-of-turn token always does)."""
    client: Any = Field(default=None, exclude=True)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, *, lock: threading.Lock | None = None, **data: Any) -> None:
        super().__init__(**data)
        if lock is not None:
            self._lock = lock

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "model_path": self.model_path,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repeat_penalty": self.repeat_penalty,
        }

    def get_token_ids(self, text: str) -> list[int]:
        """Token IDs of *text* by the model's own tokenizer (LangChain's fallback
        would download GPT-2's)."""
        tokens: list[int] = self.client.tokenize(
            text.encode("utf-8"), add_bos=False, special=True
        )
        return tokens

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        result = generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))
        generation = result.generations[0]
        return ChatResult(
            generations=[ChatGeneration(message=generation.message,
                                        generation_info=generation.generation_info)]
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        grammar = None
        if kwargs.pop(CITE_GIVEN_MOMENTS, False):
            grammar = citation_grammar(line_marks(messages[-1].text) if messages else [])
        request = {
            "messages": [_as_dict(message) for message in messages],
            "max_tokens": kwargs.pop("max_tokens", self.max_tokens),
            "temperature": kwargs.pop("temperature", self.temperature),
            "top_p": kwargs.pop("top_p", self.top_p),
            "repeat_penalty": kwargs.pop("repeat_penalty", self.repeat_penalty),
            "seed": kwargs.pop("seed", self.seed),
            "stop": list(stop if stop is not None else self.stop or []),
        }
        if kwargs:
            raise LLMConfigurationError(
                f"Unknown generation options {sorted(kwargs)} for a llama.cpp model: use "
                f"max_tokens, temperature, top_p, repeat_penalty, seed, stop or "
                f"{CITE_GIVEN_MOMENTS}."
            )
        with self._lock:
            try:
                if grammar is not None:
                    runtime = require_runtime()
                    request["grammar"] = runtime.LlamaGrammar.from_string(grammar, verbose=False)
                    request["logits_processor"] = runtime.LogitsProcessorList(
                        [_CitationRules(self.client)]
                    )
                pieces = self.client.create_chat_completion(stream=True, **request)
                finish = None
                for piece in pieces:
                    choice = piece["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    text = choice["delta"].get("content") or ""
                    if not text:
                        continue
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                    if run_manager is not None:
                        run_manager.on_llm_new_token(text, chunk=chunk)
                    yield chunk
            except ValueError as exc:  # the prompt does not fit the context window
                raise LLMConfigurationError(
                    f"llama.cpp refused the prompt: {' '.join(str(exc).split())}. Ask "
                    f"with fewer or shorter excerpts (k=...), or load the model with a "
                    f"larger n_ctx (now {self.client.n_ctx()})."
                ) from exc
        yield ChatGenerationChunk(
            message=AIMessageChunk(content="", response_metadata={"finish_reason": finish,
                                                                 "model_name": self.model_path}),
            generation_info={"finish_reason": finish},
        )


def citation_grammar(marks: list[str]) -> str | None:
    """The GBNF grammar of :data:`CITE_GIVEN_MOMENTS` for the given line *marks*
    (``"05:12"``...); None when there are none (nothing to cite: no constraint).

    >>> print(citation_grammar(["00:40", "1:00:52"]))
    root ::= decline | answer
    decline ::= "This is not in these videos."
    answer ::= (citation " ")? (prose citation){1,3} "."?
    prose ::= [^\\[]{1,400}
    citation ::= "[" ("00:40" | "1:00:52") "]"
    """
    if not marks:
        return None
    choices = " | ".join(f'"{mark}"' for mark in marks)  # digits and colons: no escaping
    return "\n".join([
        "root ::= decline | answer",
        f'decline ::= "{NOT_IN_THESE_VIDEOS}"',
        f'answer ::= (citation " ")? (prose citation){{1,{MAX_CITATIONS}}} "."?',
        f"prose ::= [^\\[]{{1,{MAX_CITED_PROSE}}}",
        f'citation ::= "[" ({choices}) "]"',
    ])


class _CitationRules:
    """Two rules on top of the citation grammar. Where the model would end its
    answer on prose that cites nothing, it opens a citation instead (the grammar then
    lets it write only a given mark; without this, the grammar's ban on ending
    uncited makes a small model ramble on until it cites). An answer that cites a
    moment it has cited before ends there (a small model otherwise repeats its
    sentence and mark up to the grammar's limit)."""

    def __init__(self, runtime: Any) -> None:
        self._runtime = runtime
        self._end = runtime.token_eos()
        self._open = runtime.tokenize(b" [", add_bos=False, special=False)[0]
        self._prompt_tokens: int | None = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self._prompt_tokens is None:  # the first call sees the prompt alone
            self._prompt_tokens = len(input_ids)
            return scores
        ending = int(scores.argmax()) == self._end
        # A citation just closed, the answer complete (the grammar allows its end here).
        closed = self._runtime.detokenize([int(input_ids[-1])]).endswith((b"]", b"]."))
        if not (ending or closed):
            return scores
        written = self._runtime.detokenize(list(input_ids[self._prompt_tokens:]))
        text = written.decode("utf-8", errors="ignore")
        if closed:
            marks = [mark.start for mark in find_marks(text)]
            if marks and marks[-1] in marks[:-1]:
                return _only(scores, self._end)
        uncited = text.rpartition("]")[2]
        if ending and uncited.strip(" .") and text.strip() != NOT_IN_THESE_VIDEOS:
            return _only(scores, self._open)
        return scores


def _only(scores: Any, token: int) -> Any:
    """*scores* that leave the sampler one choice: *token*."""
    forced = scores.copy()
    forced.fill(-float("inf"))
    forced[token] = 0.0
    return forced


def _as_dict(message: BaseMessage) -> dict[str, str]:
    role = _ROLES.get(message.type)
    if role is None:
        raise LLMConfigurationError(
            f"A llama.cpp chat model takes system, human and AI messages, not {message.type!r}."
        )
    return {"role": role, "content": message.text}


def load_llamacpp(spec: str, options: dict[str, Any]) -> LlamaCppChatModel:
    """The chat model that *spec* (``"llamacpp:..."``) names, with *options*.

    Options: ``n_ctx`` (default :data:`DEFAULT_CONTEXT`), ``n_threads`` (default:
    every core), and the generation fields of :class:`LlamaCppChatModel`
    (``max_tokens`` — also spelled ``max_new_tokens``, as for ``hf:`` models —,
    ``temperature``, ``top_p``, ``repeat_penalty``, ``seed``, ``stop``).
    """
    options = dict(options)
    if "max_new_tokens" in options:
        options.setdefault("max_tokens", options.pop("max_new_tokens"))
    n_ctx = int(options.pop("n_ctx", DEFAULT_CONTEXT))
    n_threads = int(options.pop("n_threads", default_threads()))
    fields = set(LlamaCppChatModel.model_fields) - {"client", "model_path"}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise LLMConfigurationError(
            f"Unknown options {unknown} for llm={spec!r}: use n_ctx, n_threads, "
            f"{', '.join(sorted(fields))}."
        )
    require_runtime()  # first: without it, no model is worth downloading
    path = gguf_path(spec)
    runtime, lock = load_runtime(path, n_ctx=n_ctx, n_threads=n_threads)
    try:
        return LlamaCppChatModel(model_path=str(path), client=runtime, lock=lock, **options)
    except ValueError as exc:  # pydantic's ValidationError
        raise LLMConfigurationError(
            f"Bad options for llm={spec!r}: {' '.join(str(exc).split())}"
        ) from exc
