"""llm="llamacpp:...": a real GGUF model run by llama.cpp, as a streaming LangChain chat model."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel, FakeListChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.prompts import PromptTemplate

from ytqa import LLMConfigurationError, YtqaError, build_chain, build_rag_chain, resolve_llm
from ytqa._llamacpp import CITE_GIVEN_MOMENTS, MAX_CITATIONS, MAX_CITED_PROSE, citation_grammar
from ytqa.chain import DEFAULT_PROMPT, LOCAL_MODEL_WINDOW, citing_options
from ytqa.citations import NOT_IN_THESE_VIDEOS, line_marks, marked_text
from ytqa.llm import DEFAULT_LLM, LLM_ENV, runs_on_this_machine
from ytqa.retrieval import DEFAULT_WINDOW

pytestmark = pytest.mark.slow

MARK = re.compile(r"\[(\d{1,2}):(\d{2})\]")
MARK_TEXT = re.compile(r"\[\d{1,2}(?::\d{2}){1,2}\]")
QUESTION = [
    SystemMessage("You answer in one short sentence."),
    HumanMessage("What colour is the sky on a clear day?"),
]


@pytest.fixture(scope="session")
def qwen_gguf() -> Path:
    """The packaged Qwen2.5-Coder-0.5B GGUF (the default LLM's stand-in) with llama.cpp."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (ytqa[local])")
    from tests.offline_models import QWEN_CODER_05B, packaged_gguf

    path = packaged_gguf(QWEN_CODER_05B)
    if path is None:
        pytest.skip("Qwen2.5-Coder-0.5B GGUF not installed: pip install -e '.[test]'")
    return path


@pytest.fixture(scope="session")
def qwen(qwen_gguf: Path) -> str:
    return f"llamacpp:{qwen_gguf}"


def test_streams_tokens_and_agrees_with_invoke(qwen: str) -> None:
    llm = resolve_llm(qwen, max_new_tokens=24)
    assert isinstance(llm, BaseChatModel)
    chunks = [chunk.text for chunk in llm.stream(QUESTION)]
    assert len([text for text in chunks if text]) > 3  # token by token, not one block
    streamed = "".join(chunks)
    assert "blue" in streamed.lower()
    assert llm.invoke(QUESTION).text == streamed  # greedy: the same answer both ways


def test_async_stream_and_invoke(qwen: str) -> None:
    llm = resolve_llm(qwen, max_new_tokens=16)

    async def run() -> tuple[list[str], str]:
        chunks = [chunk.text async for chunk in llm.astream(QUESTION)]
        return chunks, (await llm.ainvoke(QUESTION)).text

    chunks, answer = asyncio.run(run())
    assert len([text for text in chunks if text]) > 3
    assert "".join(chunks) == answer


def test_max_tokens_and_stop_are_honoured(qwen: str) -> None:
    short = resolve_llm(qwen, max_new_tokens=3)
    message = short.invoke([HumanMessage("Count from one to twenty in words.")])
    assert short.get_num_tokens(message.text) <= 3
    assert message.response_metadata["finish_reason"] == "length"

    llm = resolve_llm(qwen, max_new_tokens=64)
    full = llm.invoke([HumanMessage("Count from one to ten in words, separated by commas.")])
    three = re.search("three", full.text, re.IGNORECASE)
    assert three is not None, full.text
    stopped = llm.invoke(
        [HumanMessage("Count from one to ten in words, separated by commas.")],
        stop=[three.group()],  # as the model writes it: stop strings match case
    )
    assert three.group() not in stopped.text
    assert stopped.text and full.text.startswith(stopped.text)
    assert stopped.response_metadata["finish_reason"] == "stop"


def test_answers_a_five_passage_prompt_citing_a_given_moment(
    qwen: str, minilm: Path, transcripts_dir: Path
) -> None:
    from ytqa.evaluation import cited_seconds

    # Wide passages, as window= gives them (chains give a local model one chunk each).
    chain = build_chain([str(transcripts_dir / "1fQkVqno-uI.srt")], llm=qwen,
                        llm_options={"max_new_tokens": 96}, k=5, window=DEFAULT_WINDOW)
    result = chain.invoke({"query": "For how long has our planet hosted living organisms?"})
    answer, documents = result["result"], result["source_documents"]
    assert len(documents) == 5
    assert answer.strip() and "<excerpt" not in answer  # prose, not the prompt's tags echoed
    assert "3.6 billion" in answer  # read from the excerpts (at 01:03 in the video)
    # It cites, and only what it was given (CITE_GIVEN_MOMENTS).
    given = [(cited_seconds(doc) or 0.0, doc.metadata["end"]) for doc in documents]
    assert MARK.findall(answer), answer
    for m, s in MARK.findall(answer):
        assert any(low - 1 <= int(m) * 60 + int(s) <= high for low, high in given), answer


ON_TOPIC = "For how long has our planet hosted living organisms?"
OFF_TOPIC = "Who won the 2018 FIFA World Cup final?"


def _given_lines(documents: list[Any]) -> set[str]:
    return {mark for document in documents for mark in line_marks(marked_text(document))}


def test_answers_of_ytqas_prompt_cite_only_the_lines_given(
    qwen: str, minilm: Path, transcripts_dir: Path
) -> None:
    # Left free, the 0.5B model copies the prompt's example [05:12] or cites nothing
    # (docs/evaluation.md). Held to the given lines, it cites at least one of them or
    # declines with the prompt's phrase, through every chain that uses ytqa's prompt.
    source = [str(transcripts_dir / "1fQkVqno-uI.srt")]
    chain = build_chain(source, llm=qwen, k=4)
    rag = build_rag_chain(source, llm=qwen, k=4)
    for question in (ON_TOPIC, OFF_TOPIC):
        result = chain.invoke({"query": question})
        answers = [(result["result"], result["source_documents"])]
        pieces = list(rag.stream(question))
        streamed = "".join(piece["answer"] for piece in pieces if "answer" in piece)
        context = next(piece["context"] for piece in pieces if "context" in piece)
        answers.append((streamed, context))
        for answer, documents in answers:
            cited = [mark.strip("[]") for mark in MARK_TEXT.findall(answer)]
            assert answer.strip() == NOT_IN_THESE_VIDEOS or cited, answer
            assert set(cited) <= _given_lines(documents), answer
            assert "05:12" not in cited  # the prompt's example, not a line of this video
            assert all(cited.count(mark) <= 2 for mark in cited)  # a repeat ends it
            # It ends with its last citation: no rambling to the token limit.
            assert len(answer) <= (MAX_CITATIONS + 1) * (MAX_CITED_PROSE + len("[00:00] "))
    assert len([p for p in rag.stream(ON_TOPIC) if "answer" in p]) > 3  # still streams


def test_the_citation_grammar_is_one_llama_cpp_reads(qwen_gguf: Path) -> None:
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar = citation_grammar(["00:40", "1:00:52"])
    assert grammar is not None and '"00:40" | "1:00:52"' in grammar
    assert NOT_IN_THESE_VIDEOS in grammar
    assert LlamaGrammar.from_string(grammar, verbose=False) is not None
    assert citation_grammar([]) is None  # nothing given, nothing imposed


def test_a_custom_prompt_or_another_model_is_left_free(qwen: str) -> None:
    llm = resolve_llm(qwen)
    assert citing_options(llm, None) == citing_options(llm, DEFAULT_PROMPT) == {
        CITE_GIVEN_MOMENTS: True
    }
    assert citing_options(llm, PromptTemplate.from_template("{context} {question}")) == {}
    assert citing_options(FakeListChatModel(responses=["x"]), None) == {}
    # Without excerpt lines there is nothing to cite and nothing is imposed.
    reply = llm.invoke(QUESTION, cite_given_moments=True, max_tokens=16).text
    assert "blue" in reply.lower() and "[" not in reply


def test_chains_give_a_local_model_one_chunk_excerpts(
    qwen: str, minilm: Path, transcripts_dir: Path
) -> None:
    # It reads its prompt at CPU speed: five wide excerpts would delay its first word
    # by ~13 s (benchmarks/local_llm.py). The user's window= still wins.
    source = [str(transcripts_dir / "1fQkVqno-uI.srt")]
    local = build_chain(source, llm=qwen, k=5)
    assert runs_on_this_machine(local.combine_documents_chain.llm_chain.llm)
    assert LOCAL_MODEL_WINDOW == 0 and local.retriever.window == LOCAL_MODEL_WINDOW
    documents = local.retriever.invoke("For how long has our planet hosted living organisms?")
    assert len(documents) == 5
    assert all("matched_text" not in document.metadata for document in documents)  # no neighbours
    assert build_chain(source, llm=qwen, window=2).retriever.window == 2
    assert DEFAULT_WINDOW > 0  # what a hosted model gets (tests/test_chain.py)


def test_default_llm_is_read_from_the_models_folder(
    qwen_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline, the default's file is taken from $YTQA_MODELS_DIR under its own name.
    file = DEFAULT_LLM.rsplit("::", 1)[1]
    (tmp_path / file).symlink_to(qwen_gguf)
    monkeypatch.setenv("YTQA_MODELS_DIR", str(tmp_path))
    monkeypatch.delenv(LLM_ENV, raising=False)
    llm = resolve_llm(max_new_tokens=4)
    assert llm.model_path == str(tmp_path / file)  # type: ignore[attr-defined]
    assert llm.invoke(QUESTION).text


def test_a_prompt_longer_than_the_context_is_a_ytqa_error(qwen: str) -> None:
    llm = resolve_llm(qwen, n_ctx=64)
    with pytest.raises(LLMConfigurationError, match="n_ctx"):
        llm.invoke([HumanMessage("lighthouse " * 200)])


def test_unknown_options_are_refused(qwen: str) -> None:
    with pytest.raises(LLMConfigurationError, match="no_such_option"):
        resolve_llm(qwen, no_such_option=1)
    llm = resolve_llm(qwen)
    with pytest.raises(LLMConfigurationError, match="beam_width"):
        llm.invoke(QUESTION, beam_width=3)


def test_missing_and_broken_files_are_ytqa_errors(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (ytqa[local])")
    with pytest.raises(LLMConfigurationError, match="No GGUF file"):
        resolve_llm(f"llamacpp:{tmp_path / 'absent.gguf'}")
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LLMConfigurationError, match="complete GGUF"):
        resolve_llm(f"llamacpp:{broken}")
    for empty in ("llamacpp:", "llamacpp:org/repo::"):
        with pytest.raises(LLMConfigurationError, match="names no GGUF file"):
            resolve_llm(empty)


def test_hub_file_offline_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (ytqa[local])")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(LLMConfigurationError, match=r"YTQA_MODELS_DIR") as caught:
        resolve_llm("llamacpp:ytqa-tests/no-such-repo::model.gguf")
    assert isinstance(caught.value, YtqaError)


def test_missing_runtime_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as if not installed
    with pytest.raises(LLMConfigurationError, match=r"ytqa\[local\]"):
        resolve_llm("llamacpp:/models/model.gguf")
    monkeypatch.delenv(LLM_ENV, raising=False)
    with pytest.raises(LLMConfigurationError, match=r"default LLM.*ytqa\[local\]"):
        resolve_llm()
