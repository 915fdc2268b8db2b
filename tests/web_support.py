"""Helpers for the web app tests (API, real server, browser): not a test module."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

from ytqa.transcripts import Segment, Transcript

LOOPBACK = "http://127.0.0.1"


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """The ``(event, data)`` pairs of a server-sent event stream's text."""
    found = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event, data = "message", []
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        if data:
            found.append((event, json.loads("\n".join(data))))
    return found


def job_events(client: Any, job: dict[str, Any]) -> list[dict[str, Any]]:
    """Follow *job* (as the API returned it) to its end; return its events."""
    with client.stream("GET", "/" + job["events_url"]) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        text = "".join(response.iter_text())
    return [data for _, data in parse_sse(text)]


def transcript(video_id: str, title: str, lines: list[str], *, step: float = 6.0,
               channel: str | None = "ytqa tests") -> Transcript:
    """A transcript whose line *n* is spoken from second ``n * step``."""
    segments = tuple(Segment(text, step * n, step - 0.5) for n, text in enumerate(lines))
    return Transcript(video_id, segments, "English", "en", False, title=title, channel=channel)


def srt(lines: list[str], *, step: float = 6.0) -> str:
    """SRT text whose cue *n* starts at second ``n * step``."""

    def stamp(seconds: float) -> str:
        whole = int(seconds)
        millis = round((seconds - whole) * 1000)
        return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d},{millis:03d}"

    cues = [
        f"{n + 1}\n{stamp(step * n)} --> {stamp(step * n + step - 0.5)}\n{text}\n"
        for n, text in enumerate(lines)
    ]
    return "\n".join(cues)


def make_webm(path: Path, seconds: int, *, size: tuple[int, int] = (64, 48), fps: int = 10) -> Path:
    """A real, small WebM video (VP8 frames of changing colour, a silent Opus track)."""
    import av
    import numpy as np

    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libvpx", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("libopus", rate=48000)
        audio.layout = "mono"
        for index in range(seconds * fps):
            image = np.full((size[1], size[0], 3), (index * 7) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                container.mux(packet)
        samples = 960
        for index in range(seconds * 48000 // samples):
            frame = av.AudioFrame.from_ndarray(
                np.zeros((1, samples), dtype=np.float32), format="flt", layout="mono"
            )
            frame.sample_rate = 48000
            frame.pts = index * samples
            for packet in audio.encode(frame):
                container.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode(None):
                container.mux(packet)
    return path


@contextmanager
def server_thread(app: Any) -> Iterator[str]:
    """Serve *app* with a real uvicorn on a free loopback port, in a thread; yield its URL."""
    import uvicorn

    from ytqa.web import listen

    sock = listen("127.0.0.1", 0)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        app.state.service.jobs.begin_shutdown()
        server.should_exit = True
        thread.join(30)
        sock.close()
