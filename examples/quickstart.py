"""Quickstart: index a transcript, search it, and ask a question with cited moments.

    python examples/quickstart.py                                  # the example talk
    python examples/quickstart.py https://youtu.be/VIDEO_ID "What is it about?"
    YTQA_LLM=openai:gpt-4o-mini python examples/quickstart.py     # any LLM ytqa takes

Without an LLM (``--no-llm``) it only shows the best passages: retrieval needs no
LLM, only the embedding model.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ytqa import build_chain, build_retriever, resolve_llm
from ytqa.chain import format_sources

EXAMPLE = Path(__file__).with_name("lighthouse-talk.srt")


def local_llm_options(args: argparse.Namespace) -> dict[str, int]:
    # Generation options of local hf: models; API models take their own settings.
    return {"max_new_tokens": args.max_new_tokens} if args.max_new_tokens else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default=str(EXAMPLE), help="URL, ID or file")
    parser.add_argument("question", nargs="?", default="Who designed the new kind of lens?")
    parser.add_argument("--llm", help="LLM spec (default: $YTQA_LLM or a small local model)")
    parser.add_argument("--no-llm", action="store_true", help="retrieval only")
    parser.add_argument("--max-new-tokens", type=int,
                        help="answer length limit of a local hf: model (default 256)")
    args = parser.parse_args()

    # Retrieval: the passages that best match, each with a link to its moment.
    retriever = build_retriever([args.source], k=3)
    for document in retriever.invoke(args.question):
        meta = document.metadata
        print(f"{meta['score']:.3f}  [{meta['timestamp']}] {meta['url']}")
    if args.no_llm:
        return

    # The RetrievalQA chain: the same retriever, plus an LLM that cites [mm:ss].
    llm = resolve_llm(args.llm, **local_llm_options(args))
    chain = build_chain([args.source], llm=llm, k=3)
    result = chain.invoke({"query": args.question})
    print("\nAnswer:", result["result"].strip())
    print("Sources:")
    for line in format_sources(result["source_documents"]):
        print(" ", line)


if __name__ == "__main__":
    main()
