"""Query latency through ytqa's retriever at 100k-1M chunks, embedded and on a Chroma server.

    python benchmarks/query_latency.py                          # 100k, 300k, 1M chunks
    python benchmarks/query_latency.py --sizes 1000,10000 --rounds 5
    python benchmarks/query_latency.py --modes embedded         # no Chroma server

The index is a normal persistent ytqa index (MiniLM preset, default chunking),
filled by ``VideoIndex.add_transcripts`` with the shared ``.srt`` transcripts,
repeated under new video IDs until each size is reached. To build it cheaply
the index gets ``embeddings=CacheBackedEmbeddings(<the MiniLM model>, file store)``
(LangChain's caching wrapper, files under ``--cache``): each distinct chunk
text is embedded by MiniLM once, the copies reuse its vector. Questions are not cached:
``embed_query`` runs the real model every time.

Built indexes are kept in ``--cache`` (default ``.cache/bench/query-latency``,
gitignored), one folder per preset and size, with the build's figures in
``bench.json``: a later run reuses them, and a bigger size starts from a copy
of the biggest smaller one. An interrupted build resumes where it stopped
(ytqa writes whole videos), if Chroma's files survived the interruption; a
process killed in the middle of a write can leave Chroma refusing further
writes (``IndexCorruptError``): delete ``<size>.building`` then. ``--rebuild``
starts afresh.

Each size is measured twice, each time in a fresh process (so its peak
memory is that of searching, not of building; it is taken after the
``retriever`` timings, before the benchmark opens its second index): ``embedded`` opens the folder
with ytqa's embedded client; ``server`` starts ``chroma run --path <folder>
--host 127.0.0.1 --port <free port>`` and opens it with
``VideoIndex.from_url`` (the CLI's ``--chroma-server``); the server is stopped
at the end of its measurement and its own peak memory (``VmHWM``) printed.
Timed, per dev-set question (``--rounds`` times each):

* ``retriever``: ``retriever.invoke(question)`` on the ``VideoRetriever`` that
  ``build_retriever`` returns (defaults: k=4, window=5): pending check, question
  embedding, Chroma search, neighbour fetch, manifest check, citation. No LLM.
* ``no blend``: the same with ``neighbour_weight=0`` (matches ranked by their own
  score, no neighbour vectors read): the cost of the neighbour blend;
* ``no embed``: the same retriever on an index whose embeddings return the
  questions' vectors computed beforehand: everything but the model;
* ``embed query``: the index's ``embed_query`` alone (the model's share; numpy,
  :mod:`ytqa.preset_embeddings`);
* ``chroma query``: the raw collection query with a precomputed vector, as many
  results as the retriever asks for (the store's own floor);
* parts of ``no embed`` beyond it: ``where`` (version file and pending read),
  ``neighbours`` (the one ``get`` of the matches' windows), ``manifest`` (the
  matches' video records). ``no embed`` minus ``chroma query`` is ytqa's own cost.

``--threads 1`` (the default) keeps torch from spawning threads that wait on
each other when other processes share the CPU.

Target: retriever p50 <= 30 ms at 1M chunks, embedded.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from _common import (
    REPO_ROOT,
    load_transcripts,
    median,
    peak_rss_mib,
    percentile,
    repeated_transcripts,
    setup_offline,
    shared_data_dir,
)

TARGET_P50_MS = 30.0
DEFAULT_CACHE = REPO_ROOT / ".cache" / "bench" / "query-latency"
GROUP = 200
"""Videos per ``add_transcripts`` call while building (each call streams in write batches)."""


def cached_embeddings(model: str, folder: Path) -> Any:
    """The preset's model behind LangChain's cache (files in *folder*, kept between runs):
    repeated chunk texts are embedded once."""
    from langchain_classic.embeddings import CacheBackedEmbeddings
    from langchain_classic.storage import LocalFileStore

    from ytqa.embeddings import get_embeddings

    return CacheBackedEmbeddings.from_bytes_store(
        get_embeddings(model), LocalFileStore(folder), namespace=model, key_encoder="sha256"
    )


def timings_ms(function: Callable[[Any], Any], inputs: Sequence[Any], rounds: int) -> list[float]:
    values = []
    for _ in range(rounds):
        for value in inputs:
            began = time.perf_counter()
            function(value)
            values.append((time.perf_counter() - began) * 1000)
    return values


# -- building (cached) --------------------------------------------------------


def built_index(cache: Path, model: str, size: int, state: dict[str, Any]) -> dict[str, Any]:
    """The figures of the cached index folder of *size* chunks, building it first if needed.

    *state* keeps the transcripts and the caching embeddings across sizes.
    """
    folder = cache / f"{model}-{size}"
    info_file = folder / "bench.json"
    if info_file.exists():
        info: dict[str, Any] = json.loads(info_file.read_text())
        info["cached"] = True
        return info
    from ytqa import VideoIndex

    built = (
        (int(path.parent.name.rsplit("-", 1)[1]), path.parent)
        for path in cache.glob(f"{model}-*/bench.json")
        if path.parent.name.rsplit("-", 1)[1].isdigit()
    )
    smaller = sorted((chunks, path) for chunks, path in built if chunks < size)
    work = cache / f"{model}-{size}.building"
    progress = work / "bench-progress.json"
    if progress.exists():  # an interrupted build: every video in it is complete
        info = json.loads(progress.read_text())
        print(f"  {size}: resuming at {info['chunks']} chunks", flush=True)
    elif smaller:
        shutil.rmtree(work, ignore_errors=True)
        base = smaller[-1][1]
        began = time.perf_counter()
        shutil.copytree(base, work)
        info = json.loads((work / "bench.json").read_text())
        (work / "bench.json").unlink()
        print(f"  {size}: from a copy of {base.name} ({time.perf_counter() - began:.0f} s)",
              flush=True)
    else:
        shutil.rmtree(work, ignore_errors=True)
        info = {"chunks": 0, "videos": 0, "build_s": 0.0}
    if "transcripts" not in state:
        state["transcripts"] = load_transcripts("srt")
        state["embeddings"] = cached_embeddings(model, cache / "vectors")
    transcripts = state["transcripts"]
    index = VideoIndex(model, persist_directory=work, embeddings=state["embeddings"])
    source = itertools.islice(repeated_transcripts(transcripts), info["videos"], None)
    chunks, videos = int(info["chunks"]), int(info["videos"])
    began = time.perf_counter()
    while chunks < size:
        per_video = chunks / videos if videos else 50.0
        group = max(1, min(GROUP, int((size - chunks) / per_video) + 1))
        report = index.add_transcripts(list(itertools.islice(source, group)))
        if not report.ok:
            raise SystemExit(f"building {size}: {report}")
        chunks += sum(row.chunks for row in report.added)
        # Skipped: written before an interruption, after the last progress file.
        chunks += sum(index.video(row.video_id).chunks for row in report.skipped)  # type: ignore[union-attr]
        videos += len(report.added) + len(report.skipped)
        spent = info["build_s"] + time.perf_counter() - began
        progress.write_text(json.dumps({"chunks": chunks, "videos": videos, "build_s": spent}))
        if videos % 1000 < group:
            print(f"  {size}: {chunks} chunks, {videos} videos, {spent:.0f} s, "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
    index.close()
    info = {
        "chunks": chunks,
        "videos": videos,
        "build_s": info["build_s"] + time.perf_counter() - began,
        "build_peak_mib": peak_rss_mib(),
        "load": os.getloadavg()[0],
    }
    (work / "bench.json").write_text(json.dumps(info))
    progress.unlink()
    work.rename(folder)
    info["cached"] = False
    return info


# -- measuring (in a fresh process) ---------------------------------------------


class PrecomputedEmbeddings:
    """LangChain ``Embeddings`` that return vectors computed beforehand (no model)."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[text] for text in texts]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Time the retriever and its parts on the index at ``--folder`` or ``--url``."""
    import torch
    from langchain_core.embeddings import Embeddings

    from ytqa import VideoIndex, build_retriever
    from ytqa.embeddings import get_embeddings
    from ytqa.evaluation import load_qa
    from ytqa.index import chunk_key

    torch.set_num_threads(args.threads)
    questions = [item.question for item in load_qa(shared_data_dir() / "qa-dev.jsonl")]
    model = get_embeddings(args.model)
    vectors = {q: model.embed_query(q) for q in questions}
    Embeddings.register(PrecomputedEmbeddings)

    def open_index(embeddings: Any = None) -> Any:
        if args.url:
            return VideoIndex.from_url(args.url, model=args.model, embeddings=embeddings)
        return VideoIndex(args.model, persist_directory=args.folder, embeddings=embeddings)

    index = open_index()
    retriever = build_retriever(index=index, model=args.model)
    for question in questions[:3]:  # warm caches (HNSW pages, tokenizer)
        retriever.invoke(question)
    rounds = args.rounds
    total = timings_ms(retriever.invoke, questions, rounds)
    # The peak of one index and the model; the second index below (an embedded one
    # loads its own copy of the vectors) is the benchmark's, not a user's.
    peak = peak_of(os.getpid())  # not ru_maxrss: a child starts with its parent's
    bare = open_index(PrecomputedEmbeddings(vectors))
    no_embed = build_retriever(index=bare, model=args.model)
    for question in questions[:3]:
        no_embed.invoke(question)
    collection = index.client.get_collection(index.collection_name)
    depth = retriever.k * (2 * retriever.window + 1)  # what the retriever asks Chroma for
    matches = {
        q: collection.query(query_embeddings=[vectors[q]], n_results=depth,
                            include=["metadatas"])["metadatas"][0]
        for q in questions
    }

    def neighbours(question: str) -> Any:
        # The ids of the first k windows, as VideoRetriever._passages asks for them.
        ids: set[str] = set()
        from ytqa.index import chunk_id

        for meta in matches[question][: retriever.k]:
            key = chunk_key(meta)
            if key is not None:
                video_id, fingerprint, i = key
                span = range(max(0, i - retriever.window), i + retriever.window + 1)
                ids.update(chunk_id(video_id, fingerprint, j) for j in span)
        return index.vectorstore.get(ids=sorted(ids), include=["documents", "metadatas"])

    from langchain_core.documents import Document

    found_docs = {
        q: [Document(page_content="", metadata=dict(m)) for m in matches[q][: retriever.k]]
        for q in questions
    }
    # The same retriever ranking matches by their own score alone: the neighbour blend's cost.
    unblended = build_retriever(index=index, model=args.model, neighbour_weight=0)
    figures = {
        "retriever": total,
        "no_blend": timings_ms(unblended.invoke, questions, rounds),
        "no_embed": timings_ms(no_embed.invoke, questions, rounds),
        # The index's own question embeddings (ytqa.preset_embeddings: numpy, no torch).
        "embed": timings_ms(index.embeddings.embed_query, questions, rounds),
        "chroma": timings_ms(
            lambda q: collection.query(query_embeddings=[vectors[q]], n_results=depth),
            questions, rounds,
        ),
        "where": timings_ms(lambda q: index.where(), questions, rounds),
        "neighbours": timings_ms(neighbours, questions, rounds),
        "manifest": timings_ms(lambda q: index.resolve_documents(found_docs[q]), questions,
                               rounds),
    }
    result: dict[str, Any] = {
        name: {"p50": median(values), "p95": percentile(values, 95), "min": min(values)}
        for name, values in figures.items()
    }
    result["peak_mib"] = peak
    result["threads"] = torch.get_num_threads()
    result["questions"] = len(questions)
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_of(pid: int) -> float:
    """Peak resident memory (``VmHWM``) of process *pid* and its children, in MiB.

    Linux only; unlike ``ru_maxrss``, it starts afresh with each ``exec``."""
    total = 0.0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        pass
    for each in pids:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


class ChromaServer:
    """``chroma run`` on *folder*, on a free loopback port, until :meth:`stop`."""

    def __init__(self, folder: Path, log: Path) -> None:
        import chromadb

        cli = Path(sys.executable).with_name("chroma")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("wb")
        began = time.perf_counter()
        self.process = subprocess.Popen(
            [str(cli), "run", "--path", str(folder), "--host", "127.0.0.1",
             "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                chromadb.HttpClient(host="127.0.0.1", port=self.port).heartbeat()
                break
            except Exception:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"chroma run did not start: {log.read_text()}") from None
                time.sleep(0.2)
        self.start_s = time.perf_counter() - began

    def stop(self) -> float:
        """Stop the server; return its peak memory in MiB."""
        peak = peak_of(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
        return peak


def run_child(args: argparse.Namespace, folder: Path, url: str | None) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--measure", "--model", args.model,
        "--rounds", str(args.rounds), "--threads", str(args.threads),
        "--folder", str(folder),
    ]
    if url:
        command += ["--url", url]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"measuring {folder} failed:\n{done.stdout}\n{done.stderr}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100000,300000,1000000", help="chunk counts")
    parser.add_argument("--modes", default="embedded,server",
                        help="embedded, server, or both (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the dev questions")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="folder of the built indexes, kept between runs")
    parser.add_argument("--rebuild", action="store_true", help="build the indexes afresh")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]

    setup_offline()
    scratch = Path(tempfile.mkdtemp(prefix="ytqa-bench-query-"))
    os.environ["YTQA_HOME"] = str(scratch / "home")  # keep the user's cache untouched
    try:
        if args.measure:
            print(json.dumps(measure(args)))
            return
        run(args, sizes, modes, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(args: argparse.Namespace, sizes: list[int], modes: list[str], scratch: Path) -> None:
    if args.rebuild:
        for size in sizes:
            shutil.rmtree(args.cache / f"{args.model}-{size}", ignore_errors=True)
    args.cache.mkdir(parents=True, exist_ok=True)
    print(
        f"query latency: preset {args.model}, persistent index, torch threads {args.threads}, "
        f"{args.rounds} rounds of the dev questions per size and mode, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start",
        flush=True,
    )
    state: dict[str, Any] = {}
    rows = []
    results: dict[tuple[int, str], float] = {}
    for size in sizes:
        info = built_index(args.cache, args.model, size, state)
        folder = args.cache / f"{args.model}-{size}"
        for mode in modes:
            server_peak = start_s = None
            if mode == "server":
                server = ChromaServer(folder, scratch / f"server-{size}.log")
                try:
                    figures = run_child(args, folder, server.url)
                finally:
                    server_peak = server.stop()
                start_s = server.start_s
            else:
                figures = run_child(args, folder, None)
            results[(size, mode)] = figures["retriever"]["p50"]
            row = (
                f"| {info['chunks']} | {info['videos']} | {mode} | {info['build_s']:.0f}"
                f"{' (cached)' if info['cached'] else ''} "
                f"| {figures['retriever']['p50']:.1f} | {figures['retriever']['p95']:.1f} "
                f"| {figures['no_blend']['p50']:.1f} "
                f"| {figures['no_embed']['p50']:.1f} | {figures['embed']['p50']:.1f} "
                f"| {figures['chroma']['p50']:.1f} | {figures['where']['p50']:.1f} "
                f"| {figures['neighbours']['p50']:.1f} | {figures['manifest']['p50']:.1f} "
                f"| {figures['peak_mib']:.0f} "
                f"| {'-' if server_peak is None else f'{server_peak:.0f}'} "
                f"| {'-' if start_s is None else f'{start_s:.1f}'} "
                f"| {os.getloadavg()[0]:.1f} |"
            )
            rows.append(row)
            print(row, flush=True)
    print()
    print("p50/p95 in ms; peaks in MiB; build s cumulative from the first chunk")
    print(
        "| chunks | videos | mode | build s | retriever p50 | p95 | no blend p50 | no embed p50 "
        "| embed query p50 | chroma query p50 | where | neighbours | manifest "
        "| query process peak | server peak | server start s | load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    top = sizes[-1]
    if (top, "embedded") in results:
        p50 = results[(top, "embedded")]
        verdict = "met" if p50 <= TARGET_P50_MS else "NOT met"
        print(
            f"target: retriever p50 <= {TARGET_P50_MS:.0f} ms at {top} chunks embedded; "
            f"measured {p50:.1f} ms -> {verdict} (load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} CPUs at the end)"
        )


if __name__ == "__main__":
    main()
