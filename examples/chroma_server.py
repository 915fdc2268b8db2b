"""Keep the index on a Chroma server, so several machines share one index.

    chroma run --path ./chroma-data --port 8000        # on the server
    python examples/chroma_server.py --host chroma.internal --port 8000

``--start-server`` starts a throw-away local ``chroma run`` for a demo. The
``ytqa`` command takes the same server with ``--chroma-server URL`` or
``$YTQA_CHROMA_SERVER``.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ytqa import VideoIndex, build_retriever

EXAMPLE = Path(__file__).with_name("lighthouse-talk.srt")


@contextlib.contextmanager
def local_server() -> Iterator[int]:
    """A ``chroma run`` on a free loopback port, stopped on exit."""
    chroma = shutil.which("chroma")
    if chroma is None:
        raise SystemExit("The `chroma` command is missing: pip install chromadb")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [chroma, "run", "--path", data, "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.2)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=30)


def run(host: str, port: int, question: str) -> None:
    index = VideoIndex.from_server(host, port, model="minilm")
    added = index.add(str(EXAMPLE))
    print(f"{added} chunks added; the server holds {[v.video_id for v in index.videos()]}")
    retriever = build_retriever(index=index, k=2)
    for document in retriever.invoke(question):
        print(f"[{document.metadata['timestamp']}] {document.metadata['url']}")
        print("   ", document.page_content[:80], "...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--start-server", action="store_true", help="start a local demo server")
    parser.add_argument("--question", default="Why did keepers disappear?")
    args = parser.parse_args()
    if args.start_server:
        with local_server() as port:
            run("127.0.0.1", port, args.question)
    else:
        run(args.host, args.port, args.question)


if __name__ == "__main__":
    main()
