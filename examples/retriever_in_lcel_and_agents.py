"""ytqa in your own LangChain app: the retrieval tool, the LCEL chain, and an agent.

    python examples/retriever_in_lcel_and_agents.py --llm hf:/path/to/model.gguf
    python examples/retriever_in_lcel_and_agents.py --agent-llm openai:gpt-4o-mini

``build_tool`` is a retrieval tool for ``langchain.agents.create_agent`` (content:
each passage under its [mm:ss] moment and link; artifact: the passages);
``build_rag_chain`` is ytqa's question answering as ``langchain-core`` runnables,
streamed here token by token. The agent needs a chat model that calls tools.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from langchain_core.documents import Document

from ytqa import build_rag_chain, build_tool, resolve_llm
from ytqa.chain import SYSTEM_INSTRUCTIONS, format_sources
from ytqa.citations import cite_moments

EXAMPLE = Path(__file__).with_name("lighthouse-talk.srt")
QUESTION = "How far could a first-order lens throw its beam?"


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

    # 1. The tool, invoked directly here: what an agent reads.
    tool = build_tool([str(EXAMPLE)], k=2)
    print("Tool output:\n" + str(tool.invoke({"query": args.question})))

    # 2. The LCEL chain, streamed: the answer as it is written, then the moments it cites.
    chain = build_rag_chain([str(EXAMPLE)], llm=args.llm, llm_options=local_llm_options(args),
                            k=2)
    print("\nLCEL answer: ", end="", flush=True)
    sources: list[Document] = []
    for chunk in chain.stream(args.question):
        print(chunk.get("answer", ""), end="", flush=True)
        sources = chunk.get("sources", sources)
    print("\nSources:\n" + "\n".join(format_sources(sources)))

    # 3. An agent, given a chat model that calls tools; its answer's [mm:ss] marks are
    # checked against the passages the tool returned (the tool messages' artifacts).
    if args.agent_llm:
        from langchain.agents import create_agent

        agent = create_agent(resolve_llm(args.agent_llm), tools=[tool],
                             system_prompt=SYSTEM_INSTRUCTIONS)
        state = agent.invoke({"messages": [{"role": "user", "content": args.question}]})
        passages = [doc for message in state["messages"] if message.type == "tool"
                    for doc in message.artifact]
        answer = state["messages"][-1].text
        print("\nAgent answer:", answer)
        print("Agent sources:\n" + "\n".join(format_sources(cite_moments(answer, passages))))


if __name__ == "__main__":
    main()
