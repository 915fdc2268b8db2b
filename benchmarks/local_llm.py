"""Local LLMs on one fixed prompt of five excerpts: first token, tokens/s, peak memory.

    python benchmarks/local_llm.py [--runs 3] [--max-tokens 128] [--models qwen-0.5b,gemma-hf]

The prompt is ytqa's real one (``DEFAULT_PROMPT``, ``k=5`` excerpts that the
default retriever returns for a fixed question about one shared transcript).
Each model runs in a child process of its own (so that peak memory is its own):
it is loaded once, then streams the answer ``--runs`` times through its LangChain
chat model (``stream``); the figures are medians. llama.cpp's evaluated prompt is
dropped before each run (it would otherwise reuse it, and a repeated prompt
would cost nothing), so each run evaluates the whole prompt: ``first s``. Then
``next s``: the first token of a second question's answer in the same process
(``ytqa chat``, ``ytqa serve``), where llama.cpp reuses the prompt's shared head.
Excerpts are as chains give them to a local model (``--window``, default
``ytqa.chain.LOCAL_MODEL_WINDOW``). Rows:

- ``qwen-0.5b``: Qwen2.5-Coder-0.5B-Instruct Q4_K_M by llama.cpp, the packaged
  stand-in for the default LLM (Qwen2.5-0.5B-Instruct Q4_K_M: same architecture,
  size and quantisation);
- ``qwen-0.5b-cited``: the same, held to the moments of the given lines as ytqa's
  chains hold a llama.cpp model (``cite_given_moments``, ``ytqa.chain.citing_options``:
  decoding under a grammar);
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
NEXT_QUESTION = "How long would it take to colonise the galaxy?"
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
        "qwen-0.5b-cited": llamacpp(om.QWEN_CODER_05B),
        "qwen-1.5b": llamacpp(om.QWEN_CODER_15B),
        "smollm2-135m": llamacpp(om.SMOLLM2_135M),
        "gemma-270m": f"llamacpp:{gemma}" if gemma else None,
        "gemma-hf": f"hf:{gemma}" if gemma else None,
    }


def fixed_prompts(window: int) -> list[list[dict[str, str]]]:
    """ytqa's prompts with five excerpts for QUESTION and NEXT_QUESTION, as role/content
    pairs (JSON for the children)."""
    from ytqa.chain import DEFAULT_PROMPT, format_excerpts
    from ytqa.index import VideoIndex
    from ytqa.retrieval import build_retriever

    source = shared_data_dir() / "transcripts" / TRANSCRIPT
    retriever = build_retriever([str(source)], index=VideoIndex(in_memory=True), k=5,
                                window=window)
    prompts = []
    for question in (QUESTION, NEXT_QUESTION):
        documents = retriever.invoke(question)
        messages = DEFAULT_PROMPT.format_messages(context=format_excerpts(documents),
                                                  question=question)
        prompts.append([{"role": message.type, "content": message.text} for message in messages])
    return prompts


def measure(
    spec: str, prompts: list[list[dict[str, str]]], runs: int, max_tokens: int, cited: bool
) -> dict[str, Any]:
    """In the child: load *spec*, stream the first prompt's answer *runs* times, then
    the second prompt's once without dropping the first (a follow-up in one process).
    *cited*: with the generation options ytqa's chains give the model for its prompt."""
    from langchain_core.messages import HumanMessage, SystemMessage

    from ytqa import resolve_llm
    from ytqa.chain import citing_options

    kinds = {"system": SystemMessage, "human": HumanMessage}
    messages, follow_up = (
        [kinds[item["role"]](item["content"]) for item in prompt] for prompt in prompts
    )
    began = time.perf_counter()
    llm = resolve_llm(spec, max_new_tokens=max_tokens)
    load_s = time.perf_counter() - began
    options = citing_options(llm, None) if cited else {}
    prompt_tokens = llm.get_num_tokens_from_messages(messages)
    firsts, rates, answers, counts = [], [], [], []
    for _ in range(runs):
        # llama.cpp reuses the evaluated prompt when the next one starts alike: the
        # same prompt again would cost nothing. Every run here pays for its prompt.
        runtime = getattr(llm, "client", None)
        if hasattr(runtime, "reset"):
            runtime.reset()
        began = time.perf_counter()
        first = None
        pieces = []
        for chunk in llm.stream(messages, **options):
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
    # The next question in the same process: llama.cpp reuses the evaluated prefix
    # (the system message and the prompt's head), as in `ytqa chat` or `ytqa serve`.
    began = time.perf_counter()
    next(iter(llm.stream(follow_up, **options)))
    next_first = time.perf_counter() - began
    return {
        "load_s": load_s,
        "prompt_tokens": prompt_tokens,
        "next_first_token_s": next_first,
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
    parser.add_argument("--window", type=int, default=None,
                        help="neighbouring chunks on each side of each excerpt (default: "
                        "what chains give a local model, ytqa.chain.LOCAL_MODEL_WINDOW)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_offline()
    if args.child:
        name, spec, prompt_file = args.child.split("\n", 2)
        prompts = json.loads(Path(prompt_file).read_text())
        cited = name.endswith("-cited")
        print(json.dumps(measure(spec, prompts, args.runs, args.max_tokens, cited)))
        return

    rows = models()
    chosen = args.models.split(",") if args.models else list(rows)
    from ytqa.chain import LOCAL_MODEL_WINDOW

    window = LOCAL_MODEL_WINDOW if args.window is None else args.window
    prompts = fixed_prompts(window)
    prompt_file = Path(os.environ.get("TMPDIR", "/tmp")) / f"ytqa-llm-prompt-{os.getpid()}.json"
    prompt_file.write_text(json.dumps(prompts))
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
          f" on {os.cpu_count()} cores; {args.runs} runs, up to {args.max_tokens} tokens; "
          f"five excerpts of window {window}; "
          f"targets: first token <= {TARGET_FIRST_TOKEN_S} s, >= {TARGET_TOKENS_PER_S} tokens/s")
    print(f"{'model':<16} {'prompt tok':>10} {'load s':>7} {'first s':>8} {'next s':>7} "
          f"{'tok/s':>6} {'tokens':>6} {'peak MiB':>8}  meets")
    answers = {}
    try:
        for name in chosen:
            spec = rows.get(name)
            if spec is None:
                print(f"{name:<16} (not installed: see README, Development)")
                continue
            child = subprocess.run(
                [sys.executable, __file__, "--runs", str(args.runs), "--max-tokens",
                 str(args.max_tokens), "--child", f"{name}\n{spec}\n{prompt_file}"],
                capture_output=True, text=True, check=False,
            )
            if child.returncode != 0:
                print(f"{name:<16} failed: {child.stderr.strip().splitlines()[-1:]}")
                continue
            result = json.loads(child.stdout.strip().splitlines()[-1])
            meets = (result["first_token_s"] <= TARGET_FIRST_TOKEN_S
                     and result["tokens_per_s"] >= TARGET_TOKENS_PER_S)
            print(f"{name:<16} {result['prompt_tokens']:>10} {result['load_s']:>7.1f} "
                  f"{result['first_token_s']:>8.2f} {result['next_first_token_s']:>7.2f} "
                  f"{result['tokens_per_s']:>6.1f} "
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
