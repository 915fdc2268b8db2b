"""``ytqa serve`` as a real process: a real uvicorn on a free loopback port, real
concurrent clients, a CLI ingest in another process, and a stop by SIGTERM.

Real transcripts from the shared data, the real MiniLM model, a persistent
Chroma index under a temporary ytqa home. Nothing is mocked.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web app needs: pip install 'ytqa[serve]'")

import httpx

from tests.web_support import parse_sse
from ytqa import VideoIndex

pytestmark = pytest.mark.slow

ROBOTS, ARTS, TESLA = "DHyUYg8X31c", "-82gNL8XeWg", "-NtSZQHRc-I"
YTQA = [sys.executable, "-m", "ytqa.cli"]


class Server:
    """A ``ytqa serve`` process and its address."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=120)

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.client.get(path, **options)

    def upload(self, path: Path) -> dict[str, Any]:
        response = self.client.post(
            "/api/uploads", files={"transcript": (path.name, path.read_bytes())}
        )
        assert response.status_code == 202, response.text
        return dict(response.json())

    def follow(self, job: dict[str, Any]) -> list[dict[str, Any]]:
        with self.client.stream("GET", "/" + job["events_url"]) as response:
            return [data for _, data in parse_sse(response.read().decode())]


def environment(home: Path) -> dict[str, str]:
    return {**os.environ, "YTQA_HOME": str(home), "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def server(home: Path, minilm: Path) -> Iterator[Server]:
    process = subprocess.Popen(
        [*YTQA, "serve", "--port", "0"],
        env=environment(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # the address, printed once the socket listens
    match = re.match(r"ytqa serve: (http://127\.0\.0\.1:\d+/)$", line.strip())
    if match is None:
        process.kill()
        pytest.fail(f"ytqa serve printed {line!r}; stderr: {process.communicate()[1]}")
    served = Server(process, match[1])
    deadline = time.monotonic() + 120
    while True:  # the app is created (index opened) before it answers
        try:
            if served.get("/api/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "ytqa serve did not answer"
        time.sleep(0.2)
    yield served
    served.client.close()
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=60)


def search_concurrently(server: Server, count: int) -> tuple[list[int], list[BaseException]]:
    """*count* searches at once, each from its own connection: their statuses and failures."""
    statuses: list[int] = []
    failures: list[BaseException] = []

    def search(number: int) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=180) as client:
                response = client.get("/api/search", params={"q": f"robot rights {number}"})
                statuses.append(response.status_code)
                assert response.json()["results"], response.text
        except BaseException as exc:  # collected and reported by the caller
            failures.append(exc)

    threads = [threading.Thread(target=search, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(240)
    return statuses, failures


def test_twenty_concurrent_searches_while_the_server_ingests(
    server: Server, transcripts_dir: Path
) -> None:
    first = server.upload(transcripts_dir / f"{ROBOTS}.srt")
    assert server.follow(first)[-1]["added"] == 1
    job = server.upload(transcripts_dir / f"{TESLA}.srt")
    statuses, failures = search_concurrently(server, 20)
    assert failures == [] and statuses == [200] * 20
    assert server.follow(job)[-1]["added"] == 1
    listed = {v["video_id"] for v in server.get("/api/videos").json()["videos"]}
    assert listed == {ROBOTS, TESLA}


def test_videos_added_by_the_cli_are_listed_without_a_restart(
    server: Server, home: Path, transcripts_dir: Path
) -> None:
    before = server.get("/api/health").json()["library_version"]
    cli = subprocess.run(
        [*YTQA, "ingest", str(transcripts_dir / f"{ARTS}.srt")],
        env=environment(home), capture_output=True, text=True, timeout=300,
    )
    assert cli.returncode == 0, cli.stderr
    health = server.get("/api/health").json()
    assert health["videos"] == 1 and health["library_version"] != before  # the page's cue
    (video,) = server.get("/api/videos").json()["videos"]
    assert video["video_id"] == ARTS and video["duration"] > 0


def test_videos_added_by_the_cli_appear_without_a_restart(
    server: Server, home: Path, transcripts_dir: Path
) -> None:
    first = server.upload(transcripts_dir / f"{ROBOTS}.srt")
    assert server.follow(first)[-1]["added"] == 1
    # Another process adds a video while the server ingests one and answers searches.
    cli = subprocess.Popen(
        [*YTQA, "ingest", str(transcripts_dir / f"{ARTS}.srt")],
        env=environment(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    job = server.upload(transcripts_dir / f"{TESLA}.srt")
    statuses, failures = search_concurrently(server, 20)
    _, err = cli.communicate(timeout=300)
    assert cli.returncode == 0, err
    assert server.follow(job)[-1]["added"] == 1
    assert failures == [] and statuses == [200] * 20

    # The CLI's video is there without a restart: listed, and found by searches.
    listed = {v["video_id"] for v in server.get("/api/videos").json()["videos"]}
    assert listed == {ROBOTS, ARTS, TESLA}
    found = server.get("/api/search", params={"q": "ethics in the performing arts",
                                              "video": ARTS})
    assert found.status_code == 200, found.text
    assert found.json()["results"][0]["video_id"] == ARTS
    statuses, failures = search_concurrently(server, 20)
    assert failures == [] and statuses == [200] * 20


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_stop_finishes_the_video_being_written_then_exits(
    server: Server, home: Path, transcripts_dir: Path, monkeypatch: pytest.MonkeyPatch,
    stop: signal.Signals,
) -> None:
    job = server.upload(transcripts_dir / f"{TESLA}.srt")
    deadline = time.monotonic() + 120
    while not any(e.get("stage") == "indexing"
                  for e in server.get(f"/api/jobs/{job['id']}").json()["events"]):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # A reader follows the job as the stop comes: its stream must end, not hang.
    with server.client.stream("GET", "/" + job["events_url"]) as stream:
        server.process.send_signal(stop)
        list(stream.iter_bytes())
    _, err = server.process.communicate(timeout=120)
    assert server.process.returncode == 0, err
    assert err.strip().endswith("Stopped.")
    assert "Traceback" not in err

    # Nothing half-indexed: no pending video, and the one being written is complete.
    monkeypatch.setenv("YTQA_HOME", str(home))
    index = VideoIndex("minilm")
    assert index.pending() == []
    (record,) = index.videos()
    assert record.video_id == TESLA
    assert len(index.vectorstore.get(where={"video_id": TESLA})["ids"]) == record.chunks


def test_serve_refuses_to_open_the_index_to_the_network_without_a_token(home: Path) -> None:
    refused = subprocess.run(
        [*YTQA, "serve", "--host", "0.0.0.0", "--port", "0"],
        env={k: v for k, v in environment(home).items() if k != "YTQA_TOKEN"},
        capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == 2
    assert "--host 0.0.0.0 lets other machines reach the index: pass --token" in refused.stderr
    weak = subprocess.run(
        [*YTQA, "serve", "--host", "0.0.0.0", "--port", "0", "--token", "short"],
        env=environment(home), capture_output=True, text=True, timeout=60,
    )
    assert weak.returncode == 2 and "16 characters or more" in weak.stderr
