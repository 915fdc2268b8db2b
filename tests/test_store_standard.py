"""LangChain's standard vector-store contract, on the Chroma store exactly as ytqa sets it up.

The suite brings its own deterministic fake embeddings (6 dimensions); the
store is the one :class:`ytqa.VideoIndex` builds (its client, collection
metadata, distance space and ``langchain_chroma.Chroma`` wrapper), through a
preset of that dimension.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import VectorStoreIntegrationTests
from langchain_tests.integration_tests.vectorstores import EMBEDDING_SIZE

from ytqa.embeddings import EMBEDDING_MODELS, EmbeddingPreset
from ytqa.index import VideoIndex


def _like(key: str) -> EmbeddingPreset:
    """A built-in preset, resized to the suite's fake embeddings."""
    preset = EMBEDDING_MODELS[key]
    return EmbeddingPreset(
        f"standard-{key}",
        f"langchain-tests/fake-{key}",
        EMBEDDING_SIZE,
        preset.max_tokens,
        preset.similarity,
        preset.normalize,
        preset.chroma_space,
    )


class _YtqaChroma(VectorStoreIntegrationTests):
    preset_key = "minilm"

    @pytest.fixture
    def vectorstore(self) -> Iterator[VectorStore]:  # type: ignore[override]
        index = VideoIndex(_like(self.preset_key), in_memory=True, embeddings=self.get_embeddings())
        try:
            yield index.vectorstore
        finally:
            index.close()


# pytest-asyncio runs in strict mode: the suite's async tests need its marker. The
# suite forbids overriding its tests, so the marker goes on its own functions.
for _name, _test in inspect.getmembers(VectorStoreIntegrationTests, inspect.iscoroutinefunction):
    if _name.startswith("test_"):
        pytest.mark.asyncio(_test)


class TestCosineIndexStore(_YtqaChroma):
    """Configured as for ``minilm`` and ``mpnet`` (cosine space)."""

    preset_key = "minilm"


class TestDotProductIndexStore(_YtqaChroma):
    """Configured as for ``multi-qa-dot`` (inner-product space, unnormalised)."""

    preset_key = "multi-qa-dot"
