"""Running the app with uvicorn: the listening socket, signals, a clean stop."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["GRACEFUL_SECONDS", "listen", "serve"]

GRACEFUL_SECONDS = 30
"""How long a stop waits for open requests (a streaming answer) before cutting them."""


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app when a stop begins (Ctrl-C, SIGTERM)."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler must not take locks the interrupted code may hold:
        # the app is told from a thread of its own.
        threading.Thread(target=self._on_stop, name="ytqa-stop", daemon=True).start()
        super().handle_exit(sig, frame)


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on *host*:*port* (port 0: a free one).

    Raises:
        OSError: the address is in use, or not one of this machine's.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(app: Any, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Serve *app* on the listening *sock* until Ctrl-C or SIGTERM.

    On either, the server stops taking connections, lets open requests end
    (at most :data:`GRACEFUL_SECONDS`), and each running job finishes the video
    it is writing before the app shuts down; then this returns normally. A
    second Ctrl-C stops waiting for the video being written (it stays hidden,
    and is completed when added again).
    """
    service = getattr(app.state, "service", None)
    stops = 0

    def on_stop() -> None:
        nonlocal stops
        stops += 1
        if service is None:
            return
        if stops == 1:
            service.jobs.begin_shutdown()
        else:  # asked twice: stop waiting for the video being written
            service.jobs.abandon()

    config = uvicorn.Config(
        app,
        log_level=log_level,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        lifespan="on",
    )
    server = _Server(config, on_stop)
    # uvicorn raises the signal again once stopped, with the handler found
    # before it started: this no-op, so that a stop asked for is a normal
    # return (exit status 0), not a kill or a KeyboardInterrupt.
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()
    previous = {number: signal.getsignal(number) for number in stop_signals}
    if in_main:
        for number in stop_signals:
            signal.signal(number, lambda number, frame: None)
    try:
        server.run(sockets=[sock])
    finally:
        if in_main:
            for number, handler in previous.items():
                signal.signal(number, handler)
