"""Local LLMs on one fixed prompt of five excerpts: first token, tokens/s, peak memory.

    python benchmarks/local_llm.py [--runs 3] [--max-tokens 128] [--models qwen-0.5b,gemma-hf]

The prompt is ytqa's real one (``DEFAULT_PROMPT``, ``k=5`` excerpts that the
default retriever returns for a fixed question about one shared transcript).
Each model runs in a child process of its own (so that peak memory is its own):
it is loaded once, then streams the answer ``--runs`` times through its LangChain
chat model (``stream``); the figures are medians. Rows:

- ``qwen-0.5b``: Qwen2.5-Coder-0.5B-Instruct Q4_K_M by llama.cpp, the packaged
  stand-in for the default LLM (Qwen2.5-0.5B-Instruct Q4_K_M: same architecture,
  size and quantisation);
- ``qwen-1.5b``, ``smollm2-135m``, ``gemma-270m``: the other packaged GGUF models
  by llama.cpp;
- ``gemma-hf``: the baseline, yesterday's default path: Gemma 3 270M through
  transformers (``hf:``), which de-quantises the GGUF file.

Targets (issue 15): first token within 3 s, then at least 10 tokens/s, on two cores.
Needs ``ytqa[local]`` (llama-cpp-python), the model packages (README, Development)
and ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import median, peak_rss_mib, setup_offline, shared_data_dir

QUESTION = "What is the Great Filter, and why might it explain the silence of the universe?"
TRANSCRIPT = "1fQkVqno-uI.srt"  # Kurzgesagt, the Fermi paradox
TARGET_FIRST_TOKEN_S = 3.0
TARGET_TOKENS_PER_S = 10.0


def models() -> dict[str, str | None]:
    """Row name -> ``llm=`` spec (None: its package is not installed)."""
    from tests import offline_models as om

    def llamacpp(name: str) -> str | None:
        path = om.packaged_gguf(name)
        return f"llamacpp:{path}" if path else None

    gemma = om.gemma_gguf_path()
    return {
        "qwen-0.5b": llamacpp(om.QWEN_CODER_05B),
        "qwen-1.5b": llamacpp(om.QWEN_CODER_15B),
        "smollm2-135m": llamacpp(om.SMOLLM2_135M),
        "gemma-270m": f"llamacpp:{gemma}" if gemma else None,
        "gemma-hf": f"hf:{gemma}" if gemma else None,
    }


def fixed_prompt() -> list[dict[str, str]]:
    """ytqa's prompt with five excerpts, as role/content pairs (JSON for the children)."""
    from ytqa.chain import DEFAULT_PROMPT, format_excerpts
    from ytqa.index import VideoIndex
    from ytqa.retrieval import build_retriever

    source = shared_data_dir() / "transcripts" / TRANSCRIPT
    retriever = build_retriever([str(source)], index=VideoIndex(in_memory=True), k=5)
    documents = retriever.invoke(QUESTION)
    messages = DEFAULT_PROMPT.format_messages(context=format_excerpts(documents), question=QUESTION)
    return [{"role": message.type, "content": message.text} for message in messages]


def measure(spec: str, prompt: list[dict[str, str]], runs: int, max_tokens: int) -> dict[str, Any]:
    """In the child: load *spec*, stream the answer *runs* times."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from ytqa import resolve_llm

    kinds = {"system": SystemMessage, "human": HumanMessage}
    messages = [kinds[item["role"]](item["content"]) for item in prompt]
    began = time.perf_counter()
    llm = resolve_llm(spec, max_new_tokens=max_tokens)
    load_s = time.perf_counter() - began
    prompt_tokens = llm.get_num_tokens_from_messages(messages)
    firsts, rates, answers, counts = [], [], [], []
    for _ in range(runs):
        began = time.perf_counter()
        first = None
        pieces = []
        for chunk in llm.stream(messages):
            if chunk.text and first is None:
                first = time.perf_counter() - began
            pieces.append(chunk.text)
        total = time.perf_counter() - began
        answer = "".join(pieces)
        tokens = llm.get_num_tokens(answer)
        first = total if first is None else first
        firsts.append(first)
        rates.append((tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0)
        answers.append(answer)
        counts.append(tokens)
    return {
        "load_s": load_s,
        "prompt_tokens": prompt_tokens,
        "first_token_s": median(firsts),
        "tokens_per_s": median(rates),
        "answer_tokens": median(counts),
        "peak_rss_mib": peak_rss_mib(),
        "answer": answers[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--models", help="comma-separated rows (default: every one available)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_offline()
    if args.child:
        spec, prompt_file = args.child.split("\n", 1)
        prompt = json.loads(Path(prompt_file).read_text())
        print(json.dumps(measure(spec, prompt, args.runs, args.max_tokens)))
        return

    rows = models()
    chosen = args.models.split(",") if args.models else list(rows)
    prompt = fixed_prompt()
    prompt_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"ytqa-llm-prompt-{os.getpid()}.json"
    prompt_file.write_text(json.dumps(prompt))
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
          f" on {os.cpu_count()} cores; {args.runs} runs, up to {args.max_tokens} tokens; "
          f"targets: first token <= {TARGET_FIRST_TOKEN_S} s, >= {TARGET_TOKENS_PER_S} tokens/s")
    print(f"{'model':<14} {'prompt tok':>10} {'load s':>7} {'first s':>8} {'tok/s':>6} "
          f"{'tokens':>6} {'peak MiB':>8}  meets")
    answers = {}
    try:
        for name in chosen:
            spec = rows.get(name)
            if spec is None:
                print(f"{name:<14} (not installed: see README, Development)")
                continue
            child = subprocess.run(
                [sys.executable, __file__, "--runs", str(args.runs), "--max-tokens",
                 str(args.max_tokens), "--child", f"{spec}\n{prompt_file}"],
                capture_output=True, text=True, check=False,
            )
            if child.returncode != 0:
                print(f"{name:<14} failed: {child.stderr.strip().splitlines()[-1:]}")
                continue
            result = json.loads(child.stdout.strip().splitlines()[-1])
            meets = (result["first_token_s"] <= TARGET_FIRST_TOKEN_S
                     and result["tokens_per_s"] >= TARGET_TOKENS_PER_S)
            print(f"{name:<14} {result['prompt_tokens']:>10} {result['load_s']:>7.1f} "
                  f"{result['first_token_s']:>8.2f} {result['tokens_per_s']:>6.1f} "
                  f"{result['answer_tokens']:>6.0f} {result['peak_rss_mib']:>8.0f}  "
                  f"{'yes' if meets else 'no'}", flush=True)
            answers[name] = result["answer"]
    finally:
        prompt_file.unlink(missing_ok=True)
    print(f"\nquestion: {QUESTION}")
    for name, answer in answers.items():
        print(f"\n--- {name}:\n{answer.strip()}")


if __name__ == "__main__":
    main()
