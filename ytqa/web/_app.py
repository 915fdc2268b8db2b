"""The FastAPI app of ``ytqa serve``: the page, the JSON API, server-sent events.

:func:`create_app` builds it around an open :class:`~ytqa.VideoIndex`; see
``docs/web.md`` for the page and the API, and :mod:`ytqa.web._service` for
what happens behind the routes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import (
    APIRouter,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    UploadFile,
)
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ytqa import __version__
from ytqa.config import uploads_dir
from ytqa.embeddings import DEFAULT_MODEL
from ytqa.errors import YtqaError
from ytqa.terminal import one_line
from ytqa.transcripts import TRANSCRIPT_SUFFIXES
from ytqa.web._media import (
    MEDIA_SUFFIXES,
    find_media,
    media_signature,
    safe_file_name,
    stem_of,
)
from ytqa.web._service import Service, SourceToAdd, document_json

if TYPE_CHECKING:
    from langchain_core.language_models import BaseLanguageModel

    from ytqa.embeddings import EmbeddingPreset
    from ytqa.index import VideoIndex
    from ytqa.transcripts import AsrMode, Captions, SpeechToText

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "LOOPBACK_HOSTS", "create_app"]

STATIC = Path(__file__).resolve().parent / "static"

DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""Largest upload (transcript and media together) unless told otherwise."""

MAX_BODY_BYTES = 1024 * 1024
"""Largest body of any other request (JSON)."""

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

# HTTP status per ytqa error kind (the CLI's exit statuses, see docs/cli.md).
_STATUS_BY_EXIT = {2: 400, 3: 422, 4: 502, 5: 503, 6: 409}

_VIDEO_ID = r"^[\w.:-]{1,128}$"
# Module level: FastAPI reads the routes' annotations from the module's names.
_BEARER = HTTPBearer(auto_error=False, description="The server's token (ytqa serve --token).")
VideoId = Annotated[str, PathParam(pattern=_VIDEO_ID, description="A video ID in the index")]

# Only the page's own files, the YouTube player, and its thumbnails: no inline
# script, so an injected string could not run even if it reached the markup.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self' https://www.youtube.com; "
    "frame-src https://www.youtube.com https://www.youtube-nocookie.com; "
    "img-src 'self' data: https://i.ytimg.com; media-src 'self'; style-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)


class _TooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"The request is larger than the limit of {_size(limit)}. Upload a smaller "
            "file, or start ytqa serve with a larger --max-upload-mb.",
        )


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.0f} MiB" if count >= 1024 * 1024 else f"{count} bytes"


class _Guard:
    """Size limits, the cross-site rule and security headers, before any route runs.

    * a body larger than its limit (uploads: ``max_upload_bytes``; anything
      else: :data:`MAX_BODY_BYTES`) is refused with 413, by its declared length
      or as it streams in;
    * a request that changes something (not GET/HEAD/OPTIONS) and comes from a
      page of another origin (``Origin`` header) is refused with 403 unless
      that origin was allowed with ``cors_origins``: another site cannot add
      or remove videos through the user's browser;
    * every response says ``nosniff``; the page gets :data:`PAGE_POLICY`.
    """

    def __init__(
        self, app: ASGIApp, *, upload_limit: int, cors_origins: Sequence[str]
    ) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.cors_origins = set(cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        limit = self.upload_limit if path == "/api/uploads" else MAX_BODY_BYTES
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            own = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"
            if origin is not None and origin != own and origin not in self.cors_origins:
                await _send_json(send, 403, {
                    "detail": f"Requests from pages of {origin} are refused: this server only "
                    "takes changes from its own page. Start ytqa serve with --cors-origin "
                    f"{origin} to allow that site."
                })
                return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, {"detail": _TooLarge(limit).detail})
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
            return message

        page = path == "/" or path.startswith("/static/")

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"strict-origin-when-cross-origin")]
                if page:
                    extra.append((b"content-security-policy", PAGE_POLICY.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, limited_receive, secured_send)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode())],
    })
    await send({"type": "http.response.body", "body": payload})


# --- request and response shapes (they document the API on /docs) ---------------------


class AddVideos(BaseModel):
    """Videos to add: YouTube URLs or IDs, playlist or channel URLs."""

    sources: list[Annotated[str, Field(min_length=1, max_length=2000)]] = Field(
        min_length=1, max_length=100
    )
    languages: list[str] | None = Field(
        None, description="Transcript language codes by preference (default: the server's)."
    )
    translate_to: str | None = Field(None, description="Have YouTube translate the transcript.")


class Ask(BaseModel):
    """A question about the indexed videos."""

    question: str = Field(min_length=1, max_length=2000)
    k: int = Field(4, ge=1, le=20, description="Passages given to the LLM.")
    video: str | None = Field(None, description="Ask only about this video (its ID).")


class Health(BaseModel):
    status: str
    version: str
    model: str
    videos: int
    chunks: int
    library_version: str = Field(description="Changes whenever the set of videos changes.")
    llm: str | None
    max_upload_bytes: int


class VideoList(BaseModel):
    videos: list[dict[str, Any]]
    library_version: str


class SearchResults(BaseModel):
    query: str
    results: list[dict[str, Any]] = Field(
        description="Passages, best first: text, video_id, title, start, end, url "
        "(opening at the cited moment), score, timestamp, cited_start, ..."
    )


class JobView(BaseModel):
    id: str
    kind: str
    description: str
    created_at: float
    done: bool
    events: list[dict[str, Any]]
    events_url: str


def create_app(
    index: VideoIndex | None = None,
    *,
    model: str | EmbeddingPreset = DEFAULT_MODEL,
    llm: BaseLanguageModel[Any] | str | None = None,
    token: str | None = None,
    cors_origins: Sequence[str] = (),
    allowed_hosts: Sequence[str] | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    languages: Sequence[str] = ("en",),
    translate_to: str | None = None,
    proxy: str | None = None,
    captions: Captions = "any",
    asr: AsrMode | SpeechToText | None = None,
    asr_model: str | None = None,
    sync_on_start: bool = True,
    rerank: str | None = None,
) -> FastAPI:
    """The web app over *index*: the page at ``/``, the API under ``/api``, docs at ``/docs``.

    Args:
        index: The index to serve (default: ``VideoIndex(model)``, the embedded
            index under the ytqa home).
        model: Embedding preset of the default index.
        llm: The LLM that answers (a LangChain model, or any form
            :func:`ytqa.resolve_llm` takes); ``None``: no LLM, and questions are
            answered with the matching passages.
        token: Every API request must carry ``Authorization: Bearer <token>``.
        cors_origins: Origins whose pages may call the API (none by default).
        allowed_hosts: ``Host`` headers accepted (default: the loopback names
            without a token, any with one); guards against DNS rebinding.
        max_upload_bytes: Largest upload.
        languages, translate_to, proxy, captions, asr, asr_model: How transcripts of
            added videos are fetched, as for :meth:`ytqa.VideoIndex.add_many`.
        sync_on_start: Embed, in a background job, the videos that other presets'
            indexes hold and this one lacks (as ``ytqa search`` does).
        rerank: An embedding preset larger than the index's model that re-scores
            each question's best matches (see :attr:`ytqa.VideoRetriever.rerank`).

    Raises:
        ChainConfigurationError: *rerank* cannot re-rank this index.
    """
    from ytqa.index import VideoIndex
    from ytqa.ingest import FetchOptions
    from ytqa.llm import resolve_llm

    if token is not None and not token.strip():
        raise ValueError("token must not be empty")
    opened = index if index is not None else VideoIndex(model)
    service = Service(
        opened,
        llm=None if llm is None else resolve_llm(llm),
        rerank=rerank,
        fetch_options=FetchOptions(
            languages=tuple(languages),
            translate_to=translate_to,
            proxy=proxy,
            captions=captions,
            asr=asr,
            asr_model=asr_model,
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if sync_on_start:
            service.start_sync()
        yield
        # Each job finishes the video it is writing, then stops.
        service.jobs.begin_shutdown()
        await run_in_threadpool(service.jobs.wait)

    from fastapi_offline import FastAPIOffline

    app = FastAPIOffline(
        title="ytqa",
        version=__version__,
        description="Ask questions of YouTube videos; answers cite the moment. "
        "The page is at /; the API is under /api (see docs/web.md).",
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(_Guard, upload_limit=max_upload_bytes, cors_origins=cors_origins)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    hosts = list(allowed_hosts) if allowed_hosts is not None else (
        ["*"] if token else list(LOOPBACK_HOSTS)
    )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)

    @app.exception_handler(YtqaError)
    async def ytqa_error(request: Request, error: YtqaError) -> JSONResponse:
        status = _STATUS_BY_EXIT.get(error.exit_code, 500)
        return JSONResponse(
            {"detail": one_line(str(error)), "type": type(error).__name__}, status_code=status
        )

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
        # Still logged with its traceback by the server; the client gets JSON, not a page.
        detail = one_line(str(error)) or type(error).__name__
        return JSONResponse(
            {"detail": f"Unexpected error: {detail}", "type": type(error).__name__},
            status_code=500,
        )

    def token_matches(credentials: HTTPAuthorizationCredentials | None) -> bool:
        return token is None or (
            credentials is not None
            and hmac.compare_digest(credentials.credentials.encode(), token.encode())
        )

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        if not token_matches(credentials):
            raise HTTPException(
                401,
                "This server needs its token: send Authorization: Bearer <token> "
                "(the page asks for it, or open it with #token=<token>).",
                headers={"WWW-Authenticate": "Bearer"},
            )

    api = APIRouter(prefix="/api", dependencies=[Depends(require_token)])

    def known(video_id: str) -> Any:
        record = service.record(video_id)
        if record is None:
            raise HTTPException(
                404,
                f"Video {video_id} is not in the index. Add it first (POST /api/videos, "
                "or ytqa ingest).",
            )
        return record

    def video_json(record: Any) -> dict[str, Any]:
        shown = service.describe(record)
        if shown["has_media"]:
            url = f"api/videos/{record.video_id}/media"
            if token is not None:
                url += f"?sig={media_signature(token, record.video_id)}"
            shown["media_url"] = url
        else:
            shown["media_url"] = None
        return shown

    def job_json(job: Any) -> dict[str, Any]:
        return {**job.snapshot(), "events_url": f"api/jobs/{job.id}/events"}

    @api.get("/health", response_model=Health, summary="Health and what is served")
    async def health() -> dict[str, Any]:
        records = await run_in_threadpool(service.records)
        return {
            "status": "ok",
            "version": __version__,
            "model": opened.preset.key,
            "videos": len(records),
            "chunks": sum(r.chunks for r in records),
            "library_version": service.library_version(records),
            "llm": service.llm_name(),
            "max_upload_bytes": max_upload_bytes,
        }

    @api.get("/videos", response_model=VideoList, summary="The indexed videos")
    async def list_videos() -> dict[str, Any]:
        def listing() -> dict[str, Any]:
            records = service.records()
            return {
                "videos": [video_json(r) for r in records],
                "library_version": service.library_version(records),
            }

        return await run_in_threadpool(listing)

    @api.get("/videos/{video_id}", summary="One indexed video")
    async def get_video(video_id: VideoId) -> dict[str, Any]:
        return await run_in_threadpool(lambda: video_json(known(video_id)))

    @api.delete("/videos/{video_id}", summary="Remove a video from the index")
    async def remove_video(video_id: VideoId) -> dict[str, Any]:
        def removal() -> dict[str, Any]:
            known(video_id)
            return {"video_id": video_id, "removed_chunks": service.remove(video_id)}

        return await run_in_threadpool(removal)

    @api.get("/videos/{video_id}/transcript", summary="The transcript of an indexed video")
    async def get_transcript(video_id: VideoId) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            transcript = service.transcript(known(video_id))
            if transcript is None:
                raise HTTPException(
                    404,
                    f"The transcript of {video_id} is not in this machine's transcript cache "
                    "(it was indexed elsewhere). Add the video again here to cache it.",
                )
            return {
                "video_id": video_id,
                "language": transcript.language_code,
                "segments": [
                    {"start": s.start, "end": s.end, "text": s.text} for s in transcript.segments
                ],
            }

        return await run_in_threadpool(read)

    @api.post("/videos", status_code=202, response_model=JobView,
              summary="Add videos (a job; follow its events)")
    async def add_videos(request: AddVideos) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if request.languages:
            options["languages"] = tuple(request.languages)
        if request.translate_to:
            options["translate_to"] = request.translate_to
        sources = [SourceToAdd(_remote_source(text), text.strip()) for text in request.sources]
        description = ", ".join(s.label for s in sources[:3]) + (
            f" and {len(sources) - 3} more" if len(sources) > 3 else ""
        )
        job = service.start_add(sources, description, options)
        return job_json(job)

    @api.post("/uploads", status_code=202, response_model=JobView,
              summary="Upload a transcript file, a media file, or both (a job)")
    async def upload(
        transcript: Annotated[UploadFile | None, File(description=".srt, .vtt or .json")] = None,
        media: Annotated[UploadFile | None, File(description="The video or audio file")] = None,
        video: Annotated[str | None, Form(description="The video it is the transcript of "
                                                     "(a YouTube URL or ID), if any")] = None,
    ) -> dict[str, Any]:
        transcript = transcript if transcript is not None and transcript.filename else None
        media = media if media is not None and media.filename else None
        if transcript is None and media is None:
            raise HTTPException(400, "Upload a transcript file (.srt, .vtt or .json), a media "
                                     "file, or both (the media of that transcript).")
        for upload_file, allowed, what in (
            (transcript, TRANSCRIPT_SUFFIXES, "a transcript"),
            (media, MEDIA_SUFFIXES, "a media file"),
        ):
            if upload_file is None:
                continue
            suffix = Path(upload_file.filename or "").suffix.lower()
            if suffix not in allowed:
                raise HTTPException(
                    400, f"{upload_file.filename!r} is not {what}: use a file ending in "
                         f"{', '.join(allowed)}.")
        saved = await run_in_threadpool(_save_upload, transcript, media)
        label = (transcript or media).filename or "upload"  # type: ignore[union-attr]
        if saved.transcript is None:
            # Media alone: ytqa's own source handling reads it (or says why it cannot);
            # if it cannot, the file goes.
            assert saved.media is not None
            source = SourceToAdd(saved.media, label, discard_on_failure=saved.folder)
        else:
            source = SourceToAdd(await run_in_threadpool(_read_upload, saved, label, video), label)
        job = service.start_add([source], label, {})
        return job_json(job)

    @api.get("/jobs", summary="Recent jobs")
    async def list_jobs() -> dict[str, Any]:
        return {"jobs": [job_json(job) for job in service.jobs.all()]}

    def find_job(job_id: str) -> Any:
        job = service.jobs.get(job_id)
        if job is None:
            raise HTTPException(404, f"No job {job_id} (finished jobs are kept for a while).")
        return job

    @api.get("/jobs/{job_id}", response_model=JobView, summary="A job and its events so far")
    async def get_job(job_id: str) -> dict[str, Any]:
        return job_json(find_job(job_id))

    @api.post("/jobs/{job_id}/cancel", response_model=JobView,
              summary="Stop a job after the video it is writing")
    async def cancel_job(job_id: str) -> dict[str, Any]:
        job = find_job(job_id)
        job.cancelled.set()
        return job_json(job)

    @api.get("/jobs/{job_id}/events", summary="A job's events, as server-sent events",
             response_class=StreamingResponse)
    async def job_events(
        job_id: str,
        request: Request,
        after: Annotated[int, Query(ge=0, description="Skip events up to this id")] = 0,
    ) -> StreamingResponse:
        job = find_job(job_id)
        resume = request.headers.get("last-event-id", "")
        start = int(resume) if resume.isdigit() else after

        async def stream() -> AsyncIterator[bytes]:
            async for event in job.follow(start, stopping=service.jobs.stopping.is_set):
                if event is None:
                    yield b": keep-alive\n\n"
                else:
                    yield _sse(str(event["type"]), event, event["id"])

        return _event_stream(stream())

    @api.get("/search", response_model=SearchResults, summary="The passages that best match")
    async def search(
        q: Annotated[str, Query(min_length=1, max_length=2000, description="The query")],
        k: Annotated[int, Query(ge=1, le=50, description="Number of passages")] = 5,
        video: Annotated[str | None, Query(description="Search only this video (its ID)")] = None,
    ) -> dict[str, Any]:
        if video is not None:
            await run_in_threadpool(known, video)
        documents = await service.search(q, k, video)
        return {"query": q, "results": [document_json(d) for d in documents]}

    @api.post("/ask", summary="Answer a question, as server-sent events: tokens, then sources",
              response_class=StreamingResponse)
    async def ask(request: Ask) -> StreamingResponse:
        if request.video is not None:
            await run_in_threadpool(known, request.video)
        documents = await service.search(request.question, request.k, request.video)

        async def stream() -> AsyncIterator[bytes]:
            try:
                async for event, data in service.answer(request.question, documents):
                    yield _sse(event, data)
            except Exception as exc:  # the LLM failed mid-answer: say so, in the stream
                detail = one_line(str(exc)) or type(exc).__name__
                yield _sse("error", {"detail": f"The LLM failed: {detail}",
                                     "type": type(exc).__name__})

        return _event_stream(stream())

    app.include_router(api)

    @app.get("/api/videos/{video_id}/media", summary="The media file of a video",
             response_class=FileResponse, tags=["media"])
    async def video_media(
        video_id: VideoId,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        sig: Annotated[str | None, Query(description="Signature from media_url")] = None,
    ) -> FileResponse:
        signed = token is not None and sig is not None and hmac.compare_digest(
            sig.encode(), media_signature(token, video_id).encode()
        )
        if not (signed or token_matches(credentials)):
            raise HTTPException(401, "Use the media_url that GET /api/videos gives.")
        record = await run_in_threadpool(known, video_id)
        path = await run_in_threadpool(find_media, record.source)
        if path is None:
            raise HTTPException(404, f"Video {video_id} has no media file on this machine.")
        return FileResponse(path, content_disposition_type="inline")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    return app


def _remote_source(text: str) -> str:
    """*text* as a YouTube video ID or a collection URL; never a path on this machine.

    Local files reach the server as uploads: a path typed into a request must
    not make the server read its own files.
    """
    from ytqa.errors import InvalidVideoIdError
    from ytqa.video import parse_video_id

    stripped = text.strip()
    try:
        return parse_video_id(stripped)
    except InvalidVideoIdError as error:
        lowered = stripped.lower()
        if lowered.startswith(("https://", "http://")):
            return stripped
        if lowered.startswith(("youtube.com/", "www.youtube.com/", "m.youtube.com/")):
            return "https://" + stripped  # playlist or channel, with no scheme
        raise HTTPException(
            400,
            f"{one_line(str(error))} Files on this machine are not read from a request: "
            "upload the transcript instead (POST /api/uploads).",
        ) from error


# --- uploads -----------------------------------------------------------------------------


class _SavedUpload:
    def __init__(self, folder: Path, transcript: Path | None, media: Path | None) -> None:
        self.folder = folder
        self.transcript = transcript
        self.media = media


def _copy(upload_file: UploadFile, target: Path) -> str:
    """Copy *upload_file* to *target*; return its SHA-256. Empty files are bad uploads."""
    digest = hashlib.sha256()
    upload_file.file.seek(0)
    with target.open("wb") as out:
        while block := upload_file.file.read(1024 * 1024):
            digest.update(block)
            out.write(block)
    if target.stat().st_size == 0:
        raise HTTPException(400, f"{upload_file.filename!r} is empty.")
    return digest.hexdigest()


def _save_upload(transcript: UploadFile | None, media: UploadFile | None) -> _SavedUpload:
    """Write the uploaded files into their folder under the ytqa home.

    The folder is named after the content (``u-`` + hash of the transcript, or
    of the media alone), so uploading the same transcript again finds the video
    already indexed instead of indexing a copy; a media file uploaded with it
    replaces the one it had.
    """
    root = uploads_dir()
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".upload-", dir=root))
    try:
        first = transcript or media
        assert first is not None
        name = safe_file_name(first.filename, "upload" + Path(first.filename or "").suffix)
        digest = _copy(first, scratch / name)
        folder = scratch.parent / f"u-{digest[:24]}"
        if transcript is not None:
            transcript_name = name
            if folder.is_dir():
                # The same transcript again: keep the file the index already names.
                existing = [p for p in folder.iterdir()
                            if p.suffix.lower() in TRANSCRIPT_SUFFIXES]
                transcript_name = existing[0].name if existing else name
            media_name = None
            if media is not None:
                media_name = stem_of(transcript_name) + Path(media.filename or "").suffix.lower()
                _copy(media, scratch / media_name)
            folder.mkdir(exist_ok=True)
            if not (folder / transcript_name).exists():
                (scratch / name).replace(folder / transcript_name)
            if media_name is not None:
                for old in folder.iterdir():
                    if old.suffix.lower() in MEDIA_SUFFIXES and old.name != media_name:
                        old.unlink()
                (scratch / media_name).replace(folder / media_name)
            return _SavedUpload(
                folder, folder / transcript_name, folder / media_name if media_name else None
            )
        folder.mkdir(exist_ok=True)
        if not (folder / name).exists():
            (scratch / name).replace(folder / name)
        return _SavedUpload(folder, None, folder / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _read_upload(saved: _SavedUpload, label: str, video: str | None) -> Any:
    """Parse the uploaded transcript now, so that a bad file is a 400 with ytqa's message."""
    from ytqa.transcripts import load_transcript

    assert saved.transcript is not None
    try:
        return load_transcript(saved.transcript, video_id=video.strip() if video else None)
    except YtqaError as error:
        # A file that is not a transcript is dropped; its folder too if nothing else is in it.
        saved.transcript.unlink(missing_ok=True)
        if saved.media is not None:
            saved.media.unlink(missing_ok=True)
        if not any(saved.folder.iterdir()):
            saved.folder.rmdir()
        message = one_line(str(error)).replace(str(saved.transcript.resolve()), label)
        raise HTTPException(400, message) from error


# --- server-sent events ----------------------------------------------------------------


def _sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False))
    return ("\n".join(lines) + "\n\n").encode()


def _event_stream(body: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

