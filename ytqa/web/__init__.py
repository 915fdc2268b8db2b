"""ytqa's web app: a page where clicking a citation plays the video at that moment,
and an HTTP API for other programs. ``ytqa serve`` runs it; so can any ASGI server:

>>> from ytqa.web import create_app
>>> app = create_app(llm="openai:gpt-4o-mini")          # doctest: +SKIP
>>> # uvicorn.run(app, host="127.0.0.1", port=8765)

Needs the ``serve`` extra (FastAPI, uvicorn, python-multipart):
``pip install 'ytqa[serve]'``. See ``docs/web.md``.
"""

from __future__ import annotations

import importlib.util

from ytqa.errors import MissingDependencyError

for _module in ("fastapi", "uvicorn", "python_multipart", "fastapi_offline"):
    if importlib.util.find_spec(_module) is None:
        raise MissingDependencyError("ytqa's web app (ytqa serve)", "pip install 'ytqa[serve]'")

from ytqa.web._app import DEFAULT_MAX_UPLOAD_BYTES, LOOPBACK_HOSTS, create_app  # noqa: E402
from ytqa.web._server import listen, serve  # noqa: E402

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "LOOPBACK_HOSTS", "create_app", "listen", "serve"]
