"""Use ytqa's retriever inside your own LangChain app: an LCEL chain and an agent tool.

    python examples/retriever_in_lcel_and_agents.py --llm hf:/path/to/model.gguf
    python examples/retriever_in_lcel_and_agents.py --agent-llm openai:gpt-4o-mini

The retriever is a standard LangChain ``BaseRetriever``: compose it with ``|``,
or wrap it with ``create_retriever_tool`` for an agent (which needs a chat model
that calls tools).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from langchain_core.tools import create_retriever_tool

from ytqa import build_retriever, resolve_llm

EXAMPLE = Path(__file__).with_name("lighthouse-talk.srt")
QUESTION = "How far could a first-order lens throw its beam?"

PROMPT = PromptTemplate.from_template(
    "Answer from the video excerpts. Cite the moment as [mm:ss].\n\n"
    "{context}\n\nQuestion: {question}\nAnswer:"
)

# How the tool shows each passage to the agent: its moment, title and link, then
# the text (the metadata keys are those of ytqa's retriever, see docs/python-api.md).
PASSAGE = PromptTemplate.from_template("[{timestamp}] {title} — {url}\n{page_content}")


def as_context(documents: list[Document]) -> str:
    return "\n".join(f"[{d.metadata['timestamp']}] {d.page_content}" for d in documents)


def local_llm_options(args: argparse.Namespace) -> dict[str, int]:
    # Generation options of local hf: models; API models take their own settings.
    return {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", help="LLM for the LCEL chain (default: $YTQA_LLM)")
    parser.add_argument("--agent-llm", help="a tool-calling chat model, e.g. openai:gpt-4o-mini")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--max-new-tokens", type=int,
                        help="answer length limit of a local hf: model (default 256)")
    args = parser.parse_args()

    retriever = build_retriever([str(EXAMPLE)], k=2)

    # 1. As a tool: what an agent would call, invoked directly here.
    tool = create_retriever_tool(
        retriever,
        name="search_video",
        description="Search the lighthouse talk; returns passages, each under its "
        "[mm:ss] moment and a link that opens the video there.",
        document_prompt=PASSAGE,
    )
    print("Tool output:\n" + str(tool.invoke({"query": args.question})))

    # 2. In an LCEL chain: retriever -> prompt -> LLM -> text.
    chain = (
        {"context": retriever | RunnableLambda(as_context), "question": RunnablePassthrough()}
        | PROMPT
        | resolve_llm(args.llm, **local_llm_options(args))
        | StrOutputParser()
    )
    print("\nLCEL answer:", chain.invoke(args.question).strip())

    # 3. In an agent, given a chat model that calls tools.
    if args.agent_llm:
        from langchain.agents import create_agent

        agent = create_agent(resolve_llm(args.agent_llm), tools=[tool])
        state = agent.invoke({"messages": [{"role": "user", "content": args.question}]})
        print("\nAgent answer:", state["messages"][-1].content)


if __name__ == "__main__":
    main()
