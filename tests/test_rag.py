"""The current-LangChain builders: build_rag_chain, build_chat_chain and build_tool.

A real index (MiniLM, in-memory Chroma) of the example talk; the LLM, the one remote
boundary, is a fake from langchain-core or the scripted model of tests/scripted_llm.py.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage

from tests.scripted_llm import ScriptedChatModel
from ytqa import (
    ChainConfigurationError,
    InvalidPromptError,
    VideoIndex,
    build_chat_chain,
    build_rag_chain,
    build_retriever,
    build_tool,
)
from ytqa.chain import SYSTEM_INSTRUCTIONS
from ytqa.citations import cite_moments, marked_text

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "lighthouse-talk.srt"
QUESTION = "How far could a first-order lens throw its beam?"
FILE_LINK = re.compile(r"file://\S+lighthouse-talk\.srt#t=(\d+)")


@pytest.fixture(scope="module")
def index(minilm: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoIndex]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_HOME", str(tmp_path_factory.mktemp("rag-home")))
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        video_index = VideoIndex("minilm", in_memory=True, collection_name="rag_tests")
        video_index.add(str(EXAMPLE))
        yield video_index


def line_mark(documents: list[Document], words: str) -> str:
    """The ``[mm:ss]`` mark of the prompt line of *documents* that says *words*."""
    for document in documents:
        for line in marked_text(document).split("\n"):
            if words in line:
                return line.split("]", 1)[0] + "]"
    raise AssertionError(f"no passage says {words!r}")


def seconds(mark: str) -> int:
    minutes, secs = mark.strip("[]").split(":")
    return int(minutes) * 60 + int(secs)


class Queries(BaseCallbackHandler):
    """Records the query of every retriever run: what the retriever was asked."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def on_retriever_start(self, serialized: Any, query: str, **kwargs: Any) -> None:
        self.queries.append(query)


def test_rag_chain_answers_citing_the_second_with_checked_sources(index: VideoIndex) -> None:
    passages = build_retriever(index=index, k=2).invoke(QUESTION)
    mark = line_mark(passages, "twenty nautical miles")
    answer = f"More than twenty nautical miles {mark}; it was lit in [59:00]."
    llm = ScriptedChatModel(replies=[[answer]])

    out = build_rag_chain(index=index, llm=llm, k=2).invoke(QUESTION)

    assert out["question"] == QUESTION and out["answer"] == answer
    assert [d.page_content for d in out["context"]] == [d.page_content for d in passages]
    # One source: the moment cited, linked at its second; the invented [59:00] is dropped.
    (source,) = out["sources"]
    assert source.metadata["timestamp"] == mark.strip("[]")
    assert int(FILE_LINK.fullmatch(source.metadata["url"])[1]) == seconds(mark)  # type: ignore[index]
    assert "twenty nautical miles" in source.page_content


def test_rag_chain_sends_the_marked_excerpts_in_the_chains_prompt(
    index: VideoIndex, tmp_path: Path
) -> None:
    from tests.scripted_llm import recorded_calls

    record = tmp_path / "calls.jsonl"
    llm = ScriptedChatModel(replies=[["I don't know."]], record=str(record))
    out = build_rag_chain(index=index, llm=llm, k=2).invoke({"question": QUESTION})

    ((system_role, system), (human_role, human)) = recorded_calls(record)[0]
    assert (system_role, system) == ("system", SYSTEM_INSTRUCTIONS)
    assert human_role == "human" and f"Question: {QUESTION}" in human
    assert "\n[00:" in human and '<excerpt video="lighthouse-talk"' in human
    for document in out["context"]:
        assert marked_text(document) in human
    assert out["sources"] == out["context"]  # it cited nothing: the passages


def test_rag_chain_streams_tokens_in_order_then_sources(index: VideoIndex) -> None:
    pieces = ["The ", "beam ", "reached ", "twenty ", "miles."]
    chain = build_rag_chain(index=index, llm=ScriptedChatModel(replies=[pieces, pieces]), k=2)

    chunks = list(chain.stream(QUESTION))
    assert set(chunks[0]) == {"question", "context"}
    assert [c["answer"] for c in chunks[1:-1]] == pieces
    assert set(chunks[-1]) == {"sources"} and chunks[-1]["sources"] == chunks[0]["context"]

    async def collect() -> list[dict[str, Any]]:
        return [chunk async for chunk in chain.astream(QUESTION)]

    streamed = asyncio.run(collect())
    assert [c["answer"] for c in streamed if "answer" in c] == pieces
    assert "sources" in streamed[-1]


def test_rag_chain_checks_its_prompt_and_input(index: VideoIndex) -> None:
    with pytest.raises(InvalidPromptError, match="lacks"):
        build_rag_chain(index=index, llm=ScriptedChatModel(replies=[]), prompt="Just {question}")
    chain = build_rag_chain(index=index, llm=ScriptedChatModel(replies=[]))
    with pytest.raises(ChainConfigurationError, match="takes a question"):
        chain.invoke({"query": QUESTION})


def test_chat_chain_rewrites_a_follow_up_before_retrieval(index: VideoIndex) -> None:
    rewritten = "What did Fresnel's lens do to the light after he designed it in 1822?"
    llm = ScriptedChatModel(replies=[
        ["Augustin ", "Fresnel ", "designed it in 1822."],       # the first question
        [f"Standalone question: {rewritten}\n"],                 # the rewriting
        ["It ", "bent ", "the ", "light ", "into ", "one ", "beam."],  # the follow-up
    ])
    chat = build_chat_chain(index=index, llm=llm, k=2)
    queries = Queries()
    config: Any = {"callbacks": [queries]}

    first = chat.invoke({"question": "Who designed the new lens?", "history": []}, config)
    assert first["standalone_question"] == "Who designed the new lens?"  # no history: as asked
    assert queries.queries == ["Who designed the new lens?"]

    history = [("human", "Who designed the new lens?"), ("ai", first["answer"])]
    chunks = list(chat.stream({"question": "What came next?", "history": history}, config))

    # The retriever searched the rewritten question, not "What came next?".
    assert queries.queries[1:] == [rewritten]
    assert chunks[0]["standalone_question"] == rewritten
    assert chunks[0]["question"] == "What came next?"
    assert [c["answer"] for c in chunks if "answer" in c] == [
        "It ", "bent ", "the ", "light ", "into ", "one ", "beam."]
    assert "rings of prisms" in " ".join(d.page_content for d in chunks[0]["context"])


def test_chat_chain_records_what_the_rewriting_and_answering_saw(
    index: VideoIndex, tmp_path: Path
) -> None:
    from tests.scripted_llm import recorded_calls

    record = tmp_path / "calls.jsonl"
    llm = ScriptedChatModel(replies=[["Who kept the lens turning?"], ["The keeper did."]],
                            record=str(record))
    history = [("human", "Did lighthouses have keepers?"), ("ai", "Yes [01:39].")]
    build_chat_chain(index=index, llm=llm).invoke({"question": "Who did that?", "history": history})

    rewrite, answer = recorded_calls(record)
    assert ("human", "Did lighthouses have keepers?") in rewrite
    assert ("ai", "Yes [01:39].") in rewrite
    assert "Follow-up question: Who did that?" in rewrite[-1][1]
    assert "Question: Who kept the lens turning?" in answer[-1][1]


class ToolCallingFake(GenericFakeChatModel):
    """GenericFakeChatModel that accepts tools, as create_agent needs (the replies are
    scripted, tool calls included)."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self


def test_tool_gives_moments_links_and_documents_to_an_agent(index: VideoIndex) -> None:
    from langchain.agents import create_agent

    tool = build_tool(index=index, k=2)
    passages = build_retriever(index=index, k=2).invoke(QUESTION)
    mark = line_mark(passages, "twenty nautical miles")
    model = ToolCallingFake(messages=iter([
        AIMessage("", tool_calls=[{"name": "search_videos", "args": {"query": QUESTION},
                                   "id": "call-1", "type": "tool_call"}]),
        AIMessage(f"More than twenty nautical miles {mark}."),
    ]))
    agent = create_agent(model, tools=[tool], system_prompt=SYSTEM_INSTRUCTIONS)

    state = agent.invoke({"messages": [{"role": "user", "content": QUESTION}]})

    (result,) = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    documents = result.artifact
    assert [d.page_content for d in documents] == [d.page_content for d in passages]
    # The content the model read: each passage under its moment and link, lines marked.
    blocks = str(result.content).split("\n\n")
    assert len(blocks) == len(documents)
    for block, document in zip(blocks, documents, strict=True):
        header = block.split("\n", 1)[0]
        assert re.fullmatch(r"\[\d\d:\d\d\] lighthouse-talk — " + FILE_LINK.pattern, header)
        assert marked_text(document) in block
    (source,) = cite_moments(str(state["messages"][-1].content), documents)
    assert int(FILE_LINK.fullmatch(source.metadata["url"])[1]) == seconds(mark)  # type: ignore[index]

    async def call() -> Any:
        return await tool.ainvoke({"type": "tool_call", "name": "search_videos",
                                   "args": {"query": QUESTION}, "id": "call-2"})

    message = asyncio.run(call())
    assert [d.page_content for d in message.artifact] == [d.page_content for d in passages]


def test_chat_chain_runs_asynchronously_too(index: VideoIndex) -> None:
    rewritten = "Who kept the lens turning?"
    passages = build_retriever(index=index, k=2).invoke(rewritten)
    mark = marked_text(passages[0]).split("]", 1)[0] + "]"
    llm = ScriptedChatModel(replies=[[rewritten], ["The ", f"keeper {mark}."]])
    chat = build_chat_chain(index=index, llm=llm, k=2)
    history = [("human", "Did lighthouses have keepers?"), ("ai", "Yes [01:39].")]

    async def collect() -> list[dict[str, Any]]:
        return [c async for c in chat.astream({"question": "Who did that?", "history": history})]

    chunks = asyncio.run(collect())
    assert chunks[0]["standalone_question"] == rewritten
    assert [c["answer"] for c in chunks if "answer" in c] == ["The ", f"keeper {mark}."]
    (source,) = chunks[-1]["sources"]
    assert int(FILE_LINK.fullmatch(source.metadata["url"])[1]) == seconds(mark)  # type: ignore[index]
