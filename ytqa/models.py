"""Embedding presets and loading the embedding model behind them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["EMBEDDING_MODELS", "DEFAULT_MODEL", "EmbeddingPreset"]

Similarity = Literal["cosine", "dot"]
ChromaSpace = Literal["cosine", "ip", "l2"]


@dataclass(frozen=True)
class EmbeddingPreset:
    """A named embedding model and how to search its vectors.

    >>> EmbeddingPreset("mini", "sentence-transformers/all-MiniLM-L6-v2", 384, 256)
    EmbeddingPreset(key='mini', model_name='sentence-transformers/all-MiniLM-L6-v2', ...)
    """

    key: str
    model_name: str
    """Hugging Face hub name, or a local directory."""
    dimension: int
    max_tokens: int
    """Word pieces the model reads before it silently truncates."""
    similarity: Similarity = "cosine"
    normalize: bool = True
    chroma_space: ChromaSpace = "cosine"

    @property
    def base_name(self) -> str:
        """Last part of the model name (the folder name under ``YTQA_MODELS_DIR``)."""
        return self.model_name.rstrip("/").rsplit("/", 1)[-1]


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
