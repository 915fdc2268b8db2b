"""A question's vector without torch: the forward pass of a sentence-transformers folder in numpy.

A search embeds one short question. Loading torch and sentence-transformers for
it costs seconds; this module reads the same folder (``model.safetensors`` with
``safetensors.numpy``, ``tokenizer.json`` with ``tokenizers``) and computes the
same vector in milliseconds. It covers the models whose pipeline it can
reproduce exactly: a BERT or MPNet transformer, mean or CLS pooling, and
optionally a Normalize module (all-MiniLM-L6-v2, all-mpnet-base-v2,
multi-qa-mpnet-base-dot-v1 and their kin). For anything else
:func:`load_query_encoder` raises :class:`Unsupported`, and the caller uses
sentence-transformers itself; it never guesses.

The arithmetic follows transformers' ``BertModel`` and ``MPNetModel`` (float32,
no padding: one text at a time), so vectors match sentence-transformers' to
float rounding (``tests/test_query_encoder.py`` compares them).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - types only
    from ytqa.embeddings import EmbeddingPreset

__all__ = [
    "QueryEncoder",
    "Unsupported",
    "load_query_encoder",
    "preset_query_encoder",
    "query_vector",
]

_ARCHITECTURES = ("bert", "mpnet")
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
# MPNet's encoder buckets relative positions with these fixed values (transformers'
# MPNetEncoder.compute_position_bias is called without its num_buckets argument).
_MPNET_BUCKETS = 32
_MPNET_MAX_DISTANCE = 128
# One forward pass at a time: each one sets the process's BLAS threads and restores them.
_forward = threading.Lock()


class Unsupported(Exception):  # noqa: N818 - a reason, not a failure of the user's
    """This folder is not one the numpy encoder reproduces exactly; the message says why."""


class QueryEncoder:
    """One sentence-transformers model folder, run in numpy for one text at a time."""

    def __init__(self, folder: Path) -> None:
        modules = _read_json(folder / "modules.json", "modules.json")
        kinds = [str(module.get("type", "")) for module in modules]
        if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
            raise Unsupported(f"modules {kinds} (only Transformer, Pooling[, Normalize])")
        self.normalized = len(kinds) == 3
        transformer = folder / str(modules[0].get("path", ""))
        pooling = _read_json(
            folder / str(modules[1].get("path", "")) / "config.json", "the Pooling config.json"
        )
        st_config = folder / "config_sentence_transformers.json"
        if st_config.is_file() and _read_json(st_config, st_config.name).get(
            "default_prompt_name"
        ):
            raise Unsupported("a default prompt is prepended to every text")

        config = _read_json(transformer / "config.json", "config.json")
        self.kind = str(config.get("model_type", ""))
        if self.kind not in _ARCHITECTURES:
            raise Unsupported(f"architecture {self.kind!r} (only {', '.join(_ARCHITECTURES)})")
        if config.get("hidden_act", "gelu") != "gelu":
            raise Unsupported(f"activation {config.get('hidden_act')!r} (only gelu)")
        if config.get("position_embedding_type", "absolute") != "absolute":
            raise Unsupported(f"position embeddings {config.get('position_embedding_type')!r}")
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.dimension = int(config["hidden_size"])
        self.pooling = _pooling_mode(pooling, self.dimension)
        self.window = self._window(transformer, int(config["max_position_embeddings"]))
        self.tokenizer = self._tokenizer(transformer)
        self.layers = int(config["num_hidden_layers"])
        self.weights = self._weights(transformer / "model.safetensors")
        from threadpoolctl import ThreadpoolController

        self._blas = ThreadpoolController()

    # -- loading -------------------------------------------------------------

    def _window(self, transformer: Path, positions: int) -> int:
        st = _read_json(transformer / "sentence_bert_config.json", "sentence_bert_config.json")
        window = st.get("max_seq_length")
        if not isinstance(window, int) or window < 3:
            raise Unsupported("sentence_bert_config.json gives no max_seq_length")
        if st.get("do_lower_case"):
            raise Unsupported("do_lower_case is set in sentence_bert_config.json")
        # sentence-transformers caps the tokenizer at the model's position table.
        return min(window, positions)

    def _tokenizer(self, transformer: Path) -> Any:
        path = transformer / "tokenizer.json"
        if not path.is_file():
            raise Unsupported("no tokenizer.json")
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(path))
        # transformers rebuilds a BERT normaliser that disagrees with tokenizer_config.json.
        normalizer = json.loads(path.read_text(encoding="utf-8")).get("normalizer") or {}
        settings_file = transformer / "tokenizer_config.json"
        settings = _read_json(settings_file, settings_file.name) if settings_file.is_file() else {}
        if normalizer.get("type") == "BertNormalizer":
            for ours, theirs in (
                ("lowercase", "do_lower_case"),
                ("strip_accents", "strip_accents"),
                ("handle_chinese_chars", "tokenize_chinese_chars"),
            ):
                if theirs in settings and settings[theirs] != normalizer.get(ours):
                    raise Unsupported(
                        f"tokenizer_config.json's {theirs} differs from tokenizer.json"
                    )
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.window)
        return tokenizer

    def _weights(self, path: Path) -> dict[str, np.ndarray]:
        # Mapped, not read: the file's pages load as the forward pass touches them
        # (the word table mostly never), several times faster than safetensors.numpy's
        # copy of every tensor. The format is a little-endian u64 header length, a
        # JSON header (dtype, shape, offsets), then the raw tensors.
        try:
            with path.open("rb") as file:
                size = int.from_bytes(file.read(8), "little")
                header = json.loads(file.read(size))
            mapped = np.memmap(path, dtype=np.uint8, mode="r")
        except FileNotFoundError:
            raise Unsupported("no model.safetensors (one file)") from None
        except (OSError, ValueError) as exc:
            raise Unsupported(f"unreadable model.safetensors: {exc}") from None
        prefix = f"{self.kind}."
        weights: dict[str, np.ndarray] = {}
        for name, entry in header.items():
            if name == "__metadata__" or not isinstance(entry, dict):
                continue
            if entry.get("dtype") != "F32":
                if name.endswith("position_ids"):
                    continue  # an integer buffer the forward pass does not read
                raise Unsupported(f"{entry.get('dtype')} weights (only F32)")
            begin, stop = (8 + size + int(offset) for offset in entry["data_offsets"])
            tensor = mapped[begin:stop].view("<f4").reshape(entry["shape"])
            weights[name[len(prefix):] if name.startswith(prefix) else name] = tensor
        missing = [name for name in self._needed() if name not in weights]
        if missing:
            raise Unsupported(f"weights without {missing[0]}")
        return weights

    def _needed(self) -> list[str]:
        """Every tensor the forward pass reads."""
        names = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight"]
        if self.kind == "bert":
            names.append("embeddings.token_type_embeddings.weight")
        else:
            names.append("encoder.relative_attention_bias.weight")
        parts = ["embeddings.LayerNorm"]
        for layer in range(self.layers):
            prefix = f"encoder.layer.{layer}."
            parts += [prefix + part for part in self._layer_parts()]
        return names + [f"{part}.{kind}" for part in parts for kind in ("weight", "bias")]

    def _layer_parts(self) -> tuple[str, ...]:
        """A layer's linear and LayerNorm modules: q, k, v, o, norm, inner, out, out norm."""
        if self.kind == "bert":
            attention = tuple(f"attention.self.{n}" for n in ("query", "key", "value"))
            return (*attention, "attention.output.dense", "attention.output.LayerNorm",
                    "intermediate.dense", "output.dense", "output.LayerNorm")
        attention = tuple(f"attention.attn.{n}" for n in ("q", "k", "v", "o"))
        return (*attention, "attention.LayerNorm",
                "intermediate.dense", "output.dense", "output.LayerNorm")

    # -- the forward pass ----------------------------------------------------

    def encode(self, text: str, *, normalize: bool = False) -> np.ndarray:
        """The sentence vector of *text*, normalised when the folder has a Normalize
        module or *normalize* is true (sentence-transformers' ``normalize_embeddings``)."""
        ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
        # One BLAS thread: a question's matrices are a few rows, and the threads of
        # OpenBLAS wait on each other on a busy machine (100x slower at a load of 10).
        with _forward, self._blas.limit(limits=1, user_api="blas"):
            return self._forward(ids, normalize)

    def _forward(self, ids: np.ndarray, normalize: bool) -> np.ndarray:
        w = self.weights
        hidden = w["embeddings.word_embeddings.weight"][ids]
        if self.kind == "bert":
            hidden = hidden + w["embeddings.position_embeddings.weight"][: len(ids)]
            hidden = hidden + w["embeddings.token_type_embeddings.weight"][0]
            bias = None
        else:
            # MPNet numbers positions from padding_idx + 1 (= 2) and adds a relative
            # position bias, the same for every layer.
            hidden = hidden + w["embeddings.position_embeddings.weight"][2 : len(ids) + 2]
            buckets = _relative_buckets(len(ids))
            bias = w["encoder.relative_attention_bias.weight"][buckets].transpose(2, 0, 1)
        hidden = _layer_norm(hidden, w, "embeddings.LayerNorm", self.eps)
        for layer in range(self.layers):
            hidden = self._layer(hidden, f"encoder.layer.{layer}.", bias)
        pooled: np.ndarray = hidden[0] if self.pooling == "cls" else hidden.mean(axis=0)
        if self.normalized or normalize:
            pooled = pooled / max(float(np.linalg.norm(pooled)), 1e-12)
        return pooled

    def _layer(self, hidden: np.ndarray, p: str, bias: np.ndarray | None) -> np.ndarray:
        w = self.weights
        q, k, v, o, norm, inner_name, out, out_norm = (p + part for part in self._layer_parts())
        length, size = hidden.shape
        head = size // self.heads

        def split(name: str) -> np.ndarray:
            projected = _linear(hidden, w, name)
            return projected.reshape(length, self.heads, head).transpose(1, 0, 2)

        scores = split(q) @ split(k).transpose(0, 2, 1) / np.float32(math.sqrt(head))
        if bias is not None:
            scores = scores + bias
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores = scores / scores.sum(axis=-1, keepdims=True)
        context = (scores @ split(v)).transpose(1, 0, 2).reshape(length, size)
        attended = _layer_norm(_linear(context, w, o) + hidden, w, norm, self.eps)
        inner = _gelu(_linear(attended, w, inner_name))
        return _layer_norm(_linear(inner, w, out) + attended, w, out_norm, self.eps)


@functools.lru_cache(maxsize=4)
def load_query_encoder(folder: str) -> QueryEncoder:
    """The encoder of the model folder *folder* (loaded once per process).

    Raises:
        Unsupported: the folder is not one this encoder reproduces exactly.
    """
    try:
        return QueryEncoder(Path(folder))
    except Unsupported:
        raise
    except Exception as exc:  # a config without a field, a tokenizer it cannot parse...
        raise Unsupported(f"its files are not as expected ({type(exc).__name__}: {exc})") from exc


def _read_json(path: Path, name: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Unsupported(f"no {name}") from None
    except (OSError, ValueError) as exc:
        raise Unsupported(f"unreadable {name}: {exc}") from None


def _pooling_mode(config: dict[str, Any], dimension: int) -> str:
    if config.get("word_embedding_dimension", dimension) != dimension:
        raise Unsupported(f"pooling of {config['word_embedding_dimension']} dimensions")
    modes = {key for key, value in config.items() if key.startswith("pooling_mode") and value}
    if modes == {"pooling_mode_mean_tokens"}:
        return "mean"
    if modes == {"pooling_mode_cls_token"}:
        return "cls"
    raise Unsupported(f"pooling {sorted(modes)} (only mean or CLS)")


def _linear(x: np.ndarray, weights: dict[str, Any], name: str) -> np.ndarray:
    # Stored (out, in) as torch's Linear: the transposed view costs no copy.
    result: np.ndarray = x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]
    return result


def _layer_norm(x: np.ndarray, weights: dict[str, Any], name: str, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    scaled = (x - mean) / np.sqrt(variance + np.float32(eps))
    result: np.ndarray = scaled * weights[f"{name}.weight"] + weights[f"{name}.bias"]
    return result


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of transformers' ``"gelu"``."""
    return x * np.float32(0.5) * (np.float32(1.0) + _erf(x * np.float32(1 / math.sqrt(2.0))))


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7, float32's own rounding
    # in the layer's sums); numpy has no erf, and scipy's import would cost more.
    a = np.abs(x)
    t = np.float32(1.0) / (np.float32(1.0) + np.float32(0.3275911) * a)
    poly = t * (np.float32(0.254829592) + t * (np.float32(-0.284496736) + t * (
        np.float32(1.421413741) + t * (np.float32(-1.453152027) + t * np.float32(1.061405429)))))
    result: np.ndarray = np.copysign(np.float32(1.0) - poly * np.exp(-a * a), x)
    return result


def _relative_buckets(length: int) -> np.ndarray:
    """transformers' ``MPNetEncoder.relative_position_bucket`` for a sequence of *length*."""
    positions = np.arange(length, dtype=np.int64)
    n = -(positions[None, :] - positions[:, None])  # -(memory - context)
    half = _MPNET_BUCKETS // 2
    buckets = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    exact = half // 2
    # float32 as in torch, so that values on a bucket's edge fall the same way.
    ratio = np.maximum(n, 1).astype(np.float32) / np.float32(exact)
    scaled = np.log(ratio) / np.float32(math.log(_MPNET_MAX_DISTANCE / exact))
    large = exact + (scaled * np.float32(half - exact)).astype(np.int64)
    large = np.minimum(large, half - 1)
    result: np.ndarray = buckets + np.where(n < exact, n, large)
    return result


# -- the encoder of an embedding preset -------------------------------------------

# Logged under the LangChain class's name: that is where users look for it.
_log = logging.getLogger("ytqa.preset_embeddings")
_encoders_lock = threading.Lock()
# The numpy encoder of each preset and model folder; None where sentence-transformers embeds.
_encoders: dict[tuple[EmbeddingPreset, str | None], QueryEncoder | None] = {}


def query_vector(preset: EmbeddingPreset, text: str) -> list[float] | None:
    """*text*'s vector by *preset*'s model in numpy, or None where the numpy encoder
    cannot reproduce the model (sentence-transformers must embed it)."""
    encoder = preset_query_encoder(preset)
    if encoder is None:
        return None
    # HuggingFaceEmbeddings makes the same replacement before encoding.
    vector = encoder.encode(text.replace("\n", " "), normalize=preset.normalize)
    return [float(value) for value in vector]


def preset_query_encoder(preset: EmbeddingPreset) -> QueryEncoder | None:
    """The numpy encoder of *preset*'s model folder, or None (sentence-transformers embeds)."""
    from ytqa.embeddings import local_model_folder, model_location

    folder = local_model_folder(preset)
    key = (preset, None if folder is None else str(folder))
    with _encoders_lock:
        if key in _encoders:
            return _encoders[key]
        encoder: QueryEncoder | None = None
        try:
            if folder is None:
                raise Unsupported(f"{model_location(preset)!r} is not a model folder on disk")
            encoder = load_query_encoder(str(folder))
            if encoder.dimension != preset.dimension:
                raise Unsupported(
                    f"it makes {encoder.dimension} dimensions where the preset says "
                    f"{preset.dimension}"
                )
        except Unsupported as reason:
            encoder = None
            _log.debug(
                "Questions for embedding model %r are embedded by sentence-transformers, "
                "not in numpy: %s.", preset.key, reason,
            )
        else:
            _log.debug("Questions for embedding model %r are embedded in numpy from %s.",
                       preset.key, folder)
        _encoders[key] = encoder
        return encoder

