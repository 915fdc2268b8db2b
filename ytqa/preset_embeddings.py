"""LangChain embeddings of a preset whose questions need neither torch nor sentence-transformers.

>>> from ytqa.preset_embeddings import PresetEmbeddings
>>> embeddings = PresetEmbeddings("minilm")                     # doctest: +SKIP
>>> len(embeddings.embed_query("Why is the sky blue?"))         # doctest: +SKIP
384

A search over an existing index embeds one question. Loading torch and
sentence-transformers for it costs seconds; :class:`PresetEmbeddings`, what
``VideoIndex`` embeds with, runs the question through a numpy copy of the
model's forward pass (``ytqa._query_encoder``) and loads sentence-transformers
only when documents are embedded. Models it cannot reproduce exactly fall back
to sentence-transformers for questions too, so the vectors are always the
model's own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from langchain_core.embeddings import Embeddings

from ytqa._query_encoder import preset_query_encoder, query_vector
from ytqa.embeddings import DEFAULT_MODEL, EmbeddingPreset, get_embeddings, resolve_preset
from ytqa.errors import EmbeddingModelError

if TYPE_CHECKING:  # pragma: no cover - types only
    from langchain_huggingface import HuggingFaceEmbeddings

__all__ = ["PresetEmbeddings"]


class PresetEmbeddings(Embeddings):
    """The embeddings of an embedding preset: questions in numpy, documents by
    sentence-transformers.

    ``embed_query`` runs the model's forward pass in numpy, reading the weights
    and tokenizer of the folder that :func:`ytqa.embeddings.local_model_folder`
    finds (its own, ``YTQA_MODELS_DIR``, a package, the Hugging Face cache); the
    vector is sentence-transformers' own to float rounding (cosine similarity
    above 0.9999), and neither torch nor sentence-transformers is imported.
    ``embed_documents`` goes through :attr:`model`, the preset's
    :func:`~ytqa.get_embeddings` model, loaded on the first call (``device``,
    ``batch_size``). Where the numpy encoder cannot
    reproduce the model exactly (an architecture other than BERT or MPNet, a
    pipeline other than Transformer, Pooling, Normalize, weights not in one
    float32 ``model.safetensors``, no ``tokenizer.json``, a model not on disk),
    questions go through :attr:`model` too, and a debug log record of
    ``ytqa.preset_embeddings`` says why.

    Raises:
        EmbeddingModelError: an unknown model, or a ``batch_size`` below 1; the
            sentence-transformers model cannot be loaded when it is needed.
    """

    def __init__(
        self,
        model: str | EmbeddingPreset | os.PathLike[str] = DEFAULT_MODEL,
        *,
        device: str = "auto",
        batch_size: int = 32,
    ) -> None:
        if batch_size < 1:
            raise EmbeddingModelError(f"batch_size must be at least 1, not {batch_size}.")
        self.preset = resolve_preset(model)
        self._device = device
        self._batch_size = batch_size
        self._model: HuggingFaceEmbeddings | None = None

    def __repr__(self) -> str:
        return f"PresetEmbeddings({self.preset.key!r})"

    @property
    def model(self) -> HuggingFaceEmbeddings:
        """The preset's sentence-transformers model (:func:`~ytqa.get_embeddings`), loaded
        on first use.

        Raises:
            EmbeddingModelError: the model cannot be loaded.
        """
        if self._model is None:
            self._model = get_embeddings(
                self.preset, device=self._device, batch_size=self._batch_size
            )
        return self._model

    @property
    def fast_queries(self) -> bool:
        """Whether questions are embedded in numpy (False: by sentence-transformers)."""
        return preset_query_encoder(self.preset) is not None

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed *texts* with sentence-transformers (loaded on the first call)."""
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        """Embed the question *text*: in numpy where the model allows it."""
        vector = query_vector(self.preset, text)
        return self.model.embed_query(text) if vector is None else vector
