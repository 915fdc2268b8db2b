"""The web app's HTTP API through FastAPI's test client: every endpoint and its errors.

The index is real (MiniLM, in-memory Chroma), transcripts are parsed by ytqa,
YouTube is the recorded responses served by ``responses``; only the LLM is a
scripted LangChain fake (a remote boundary).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web app needs: pip install 'ytqa[serve]'")

from fastapi.testclient import TestClient
from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from tests.web_support import LOOPBACK, job_events, parse_sse, srt, transcript
from tests.youtube_support import VIDEO, fake_youtube
from ytqa import ChainConfigurationError, VideoIndex, build_chain, build_retriever
from ytqa.config import uploads_dir
from ytqa.web import create_app

REPO = Path(__file__).resolve().parent.parent
STATIC = REPO / "ytqa" / "web" / "static"
LIGHTHOUSE = REPO / "examples" / "lighthouse-talk.srt"
TOKEN = "s3cret-token-for-tests"
HOSTILE = "<img src=x onerror=alert(1)>"

BEES = transcript("honeybees01", "Why honeybees are dying", [
    "Honeybees pollinate a third of the food crops that people eat.",
    "Since 2006 beekeepers have lost about a third of their hives every winter.",
    "Neonicotinoid pesticides damage the bees' sense of direction.",
    "Varroa mites suck the fat bodies of bees and spread deadly viruses.",
])


@pytest.fixture
def index(minilm: Path) -> Iterator[VideoIndex]:
    with VideoIndex("minilm", in_memory=True) as opened:
        yield opened


@pytest.fixture
def serve(index: VideoIndex) -> Iterator[Callable[..., TestClient]]:
    """``serve(**create_app options)``: a test client of an app over the test's index."""
    clients: list[TestClient] = []

    def start(**options: Any) -> TestClient:
        options.setdefault("sync_on_start", False)
        client = TestClient(create_app(index, **options), base_url=LOOPBACK)
        client.__enter__()
        clients.append(client)
        return client

    yield start
    for client in clients:
        client.__exit__(None, None, None)


def upload(client: TestClient, **files: tuple[str, bytes]) -> Any:
    return client.post("/api/uploads", files=files)


def added(client: TestClient, response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 202, response.text
    return job_events(client, response.json())


# --- the page ----------------------------------------------------------------------------


def test_page_is_static_and_locked_down(serve: Callable[..., TestClient]) -> None:
    client = serve()
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self' https://www.youtube.com;" in policy
    assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert client.get("/static/style.css").status_code == 200
    # The OpenAPI page works offline: its assets are served by the app itself.
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn." not in docs.text
    assert client.get("/openapi.json").json()["paths"]["/api/search"]


def test_page_code_never_turns_data_into_markup() -> None:
    """Titles, transcripts and answers reach the page as text only (see app.js's rule)."""
    code = (STATIC / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function"):
        assert sink not in code, sink
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert "<script>" not in html  # the one script is the module, loaded by src
    assert re.search(r"\son\w+=", html) is None  # no inline handlers
    assets = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert assets and all(a.startswith(("static/", "#")) for a in assets)  # no CDN


# --- videos: add, list, remove ---------------------------------------------------------


def test_add_youtube_video_reports_progress_then_lists_it(
    serve: Callable[..., TestClient], youtube_responses: Path
) -> None:
    client = serve()
    with fake_youtube(youtube_responses):
        events = added(client, client.post(
            "/api/videos", json={"sources": [f"https://www.youtube.com/watch?v={VIDEO}&t=5"]}
        ))
    stages = [e.get("stage", e["type"]) for e in events]
    assert stages == ["started", "fetching", "indexing", "added", "done"]
    assert [e["id"] for e in events] == [1, 2, 3, 4, 5]
    assert events[3]["video_id"] == VIDEO and events[3]["chunks"] > 0
    assert events[-1] == {"id": 5, "type": "done", "added": 1, "skipped": 0, "failed": 0,
                          "cancelled": False}

    (video,) = client.get("/api/videos").json()["videos"]
    assert video["video_id"] == VIDEO
    assert video["player"] == "youtube" and video["media_url"] is None
    assert video["from_youtube"] is True and video["captions"] == "uploaded"
    assert video["duration"] == pytest.approx(5.7 + 3.239)
    assert video["url"] == f"https://www.youtube.com/watch?v={VIDEO}"
    assert client.get(f"/api/videos/{VIDEO}").json() == video

    # Adding it again is a no-op, reported as such (the cache answers: no HTTP).
    with fake_youtube(youtube_responses) as fake:
        again = added(client, client.post("/api/videos", json={"sources": [VIDEO]}))
        assert fake.urls("https://www.youtube.com") == []
    assert [e.get("stage") for e in again if e["type"] == "video"][-1] == "skipped"


def test_missing_captions_fail_with_ytqa_message(
    serve: Callable[..., TestClient], youtube_responses: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Speech-to-text would step in for a captionless video (tests/test_asr_youtube.py).
    monkeypatch.setenv("YTQA_ASR", "never")
    client = serve()
    with fake_youtube(youtube_responses) as fake:
        fake.player("youtube_transcripts_disabled.innertube.json.static")
        events = added(client, client.post("/api/videos", json={"sources": [VIDEO]}))
    (failure,) = [e for e in events if e.get("stage") == "failed"]
    assert failure["error_type"] == "TranscriptsDisabledError"
    assert VIDEO in failure["error"] and "\n" not in failure["error"]
    assert events[-1]["failed"] == 1
    assert client.get("/api/videos").json()["videos"] == []


@pytest.mark.parametrize("source", ["not a video", "/etc/passwd", "./talk.srt", "   "])
def test_bad_sources_are_refused_before_any_job(
    serve: Callable[..., TestClient], source: str
) -> None:
    client = serve()
    response = client.post("/api/videos", json={"sources": [source]})
    assert response.status_code in (400, 422)
    assert client.get("/api/jobs").json()["jobs"] == []


def test_a_path_is_never_read_from_a_request(
    serve: Callable[..., TestClient], tmp_path: Path
) -> None:
    local = tmp_path / "secret.srt"
    local.write_text(srt(["the secret words"]), encoding="utf-8")
    response = serve().post("/api/videos", json={"sources": [str(local)]})
    assert response.status_code == 400
    assert "upload the transcript instead" in response.json()["detail"]


def test_a_url_of_another_site_fails_in_its_job(
    serve: Callable[..., TestClient], youtube_responses: Path
) -> None:
    client = serve()
    with fake_youtube(youtube_responses):
        events = added(client, client.post(
            "/api/videos", json={"sources": ["https://vimeo.com/76979871"]}
        ))
    (failure,) = [e for e in events if e.get("stage") == "failed"]
    assert failure["error_type"] == "InvalidVideoIdError"
    assert "not a YouTube address" in failure["error"]


def test_upload_transcript_with_its_media(serve: Callable[..., TestClient]) -> None:
    client = serve()
    media = bytes(range(256)) * 40
    events = added(client, upload(
        client,
        transcript=("Lighthouse talk.srt", LIGHTHOUSE.read_bytes()),
        media=("../../whatever.WEBM", media),
    ))
    assert events[-1]["added"] == 1
    (video,) = client.get("/api/videos").json()["videos"]
    assert video["title"] == "Lighthouse talk"
    assert video["player"] == "video" and video["has_media"] is True
    assert video["from_youtube"] is False

    # Saved under the ytqa home, in a folder of its own, never where the name pointed.
    saved = Path(video["source"])
    assert saved.parent.parent == uploads_dir()
    assert sorted(p.name for p in saved.parent.iterdir()) == [
        "Lighthouse talk.srt", "Lighthouse talk.webm"
    ]

    whole = client.get("/" + video["media_url"])
    assert whole.status_code == 200 and whole.content == media
    assert whole.headers["content-type"] == "video/webm"
    part = client.get("/" + video["media_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == media[100:200]

    lines = client.get(f"/api/videos/{video['video_id']}/transcript").json()["segments"]
    assert lines[1] == {
        "start": 9.44, "end": pytest.approx(16.4),
        "text": "The oldest lighthouse we know much about is the Pharos of Alexandria, "
                "finished around 280 BC.",
    }

    # The same transcript again: found already indexed, no second copy on disk.
    again = added(client, upload(client, transcript=("copy.srt", LIGHTHOUSE.read_bytes())))
    assert [e["stage"] for e in again if e["type"] == "video"][-1] == "skipped"
    assert len(list(uploads_dir().iterdir())) == 1


def test_an_uploaded_transcript_can_name_its_youtube_video(
    serve: Callable[..., TestClient],
) -> None:
    client = serve()
    response = client.post(
        "/api/uploads", files={"transcript": ("captions.srt", LIGHTHOUSE.read_bytes())},
        data={"video": "https://youtu.be/dQw4w9WgXcQ?t=3"},
    )
    assert added(client, response)[-1]["added"] == 1
    (video,) = client.get("/api/videos").json()["videos"]
    assert video["video_id"] == "dQw4w9WgXcQ" and video["player"] == "youtube"


@pytest.mark.parametrize("media_name", ["talk.m4a", "talk.en.mp3"])
def test_media_beside_an_ingested_transcript_plays(
    serve: Callable[..., TestClient], index: VideoIndex, tmp_path: Path, media_name: str
) -> None:
    """A file indexed by ytqa ingest plays from the media file of the same name beside it."""
    from ytqa import load_transcript

    (tmp_path / "talk.en.vtt").write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\nhello from the talk\n", encoding="utf-8")
    (tmp_path / media_name).write_bytes(b"audio bytes")
    (tmp_path / "other.mp3").write_bytes(b"not this one")
    index.add(load_transcript(tmp_path / "talk.en.vtt"))
    client = serve()
    (video,) = client.get("/api/videos").json()["videos"]
    assert video["player"] == "audio"
    assert client.get("/" + video["media_url"]).content == b"audio bytes"
    (tmp_path / media_name).unlink()
    assert client.get("/" + video["media_url"]).status_code == 404


def test_upload_names_cannot_escape_the_uploads_folder(serve: Callable[..., TestClient]) -> None:
    client = serve()
    events = added(client, upload(
        client, transcript=("../../../../etc/cron.d/..evil.srt", srt(["hello there"]).encode())
    ))
    assert events[-1]["added"] == 1
    (video,) = client.get("/api/videos").json()["videos"]
    saved = Path(video["source"])
    assert saved.parent.parent == uploads_dir() and saved.name == "evil.srt"


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "Upload a transcript file"),
        ({"transcript": ("notes.txt", b"hello")}, "is not a transcript"),
        ({"media": ("clip.exe", b"MZ")}, "is not a media file"),
        ({"transcript": ("empty.srt", b"")}, "is empty"),
        ({"transcript": ("broken.srt", b"1\nnot a time line\nhello\n")}, "Bad transcript file"),
        ({"transcript": ("binary.srt", bytes(range(128, 256)) * 4)}, "Bad transcript file"),
    ],
)
def test_bad_uploads_are_refused_with_a_reason(
    serve: Callable[..., TestClient], files: dict[str, tuple[str, bytes]], message: str
) -> None:
    client = serve()
    response = upload(client, **files)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert message in detail
    assert str(uploads_dir()) not in detail  # the user's own file name, not the server's path
    assert client.get("/api/videos").json()["videos"] == []
    leftovers = list(uploads_dir().iterdir()) if uploads_dir().is_dir() else []
    assert leftovers == []


def test_media_alone_goes_through_ytqa_source_handling(serve: Callable[..., TestClient]) -> None:
    """ytqa reads transcripts from files; a media file alone is its call (and its message)."""
    client = serve()
    events = added(client, upload(client, media=("talk.mp3", b"ID3" + bytes(300))))
    (failure,) = [e for e in events if e.get("stage") == "failed"]
    assert "talk.mp3" in failure["error"] and str(uploads_dir()) not in failure["error"]
    assert list(uploads_dir().iterdir()) == []  # nothing kept for a file that was not added


def test_oversized_uploads_are_refused(serve: Callable[..., TestClient]) -> None:
    client = serve(max_upload_bytes=4096)
    big = srt(["a long line of captions that goes on"] * 200).encode()
    assert len(big) > 4096
    declared = upload(client, transcript=("big.srt", big))
    assert declared.status_code == 413
    assert "limit of 4096 bytes" in declared.json()["detail"]

    # A body that does not declare its length is cut off as it streams in.
    boundary = "ytqa-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"transcript\"; "
            f"filename=\"big.srt\"\r\n\r\n").encode() + big + f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    streamed = client.post(
        "/api/uploads", content=chunks(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert streamed.status_code == 413
    assert client.get("/api/videos").json()["videos"] == []

    small = upload(client, transcript=("small.srt", srt(["short"]).encode()))
    assert small.status_code == 202


def test_json_bodies_have_a_limit_too(serve: Callable[..., TestClient]) -> None:
    response = serve().post("/api/ask", json={"question": "x" * 2_000_000})
    assert response.status_code == 413


def test_unknown_video_is_404_everywhere(serve: Callable[..., TestClient]) -> None:
    client = serve()
    unknown = "dQw4w9WgXcQ"
    for method, path in [
        ("GET", f"/api/videos/{unknown}"),
        ("DELETE", f"/api/videos/{unknown}"),
        ("GET", f"/api/videos/{unknown}/transcript"),
        ("GET", f"/api/videos/{unknown}/media"),
        ("GET", f"/api/search?q=bees&video={unknown}"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert unknown in response.json()["detail"]
    asked = client.post("/api/ask", json={"question": "bees?", "video": unknown})
    assert asked.status_code == 404
    assert client.get("/api/videos/..%2F..%2Fetc").status_code in (404, 422)
    assert client.get("/api/jobs/nope").status_code == 404


def test_remove_a_video(serve: Callable[..., TestClient], index: VideoIndex) -> None:
    client = serve()
    added(client, upload(client, transcript=("talk.srt", LIGHTHOUSE.read_bytes()),
                         media=("talk.mp4", b"\0" * 64)))
    (video,) = client.get("/api/videos").json()["videos"]
    folder = Path(video["source"]).parent
    response = client.delete(f"/api/videos/{video['video_id']}")
    assert response.status_code == 200
    assert response.json() == {"video_id": video["video_id"],
                               "removed_chunks": video["chunks"]}
    assert client.get("/api/videos").json()["videos"] == []
    assert client.get("/api/search", params={"q": "lighthouse"}).json()["results"] == []
    assert not folder.exists()  # an upload's files go with it
    assert not index.has_video(video["video_id"])


# --- search and ask --------------------------------------------------------------------


def test_rerank_orders_the_pages_search_as_the_reranked_retriever_does(
    serve: Callable[..., TestClient], index: VideoIndex, mpnet: Path
) -> None:
    index.add(BEES)
    index.add(transcript("wormholes01", "What is a wormhole?", [
        "A wormhole is a tunnel that connects two distant places in spacetime.",
        "Exotic matter would need negative energy density, which nobody has seen.",
    ]))
    question = "Why do bee colonies die?"
    expected = build_retriever(index=index, k=3, rerank="mpnet").invoke(question)
    plain = build_retriever(index=index, k=3).invoke(question)
    assert [d.metadata["score"] for d in expected] != [d.metadata["score"] for d in plain]

    found = serve(rerank="mpnet").get("/api/search", params={"q": question, "k": 3}).json()
    assert [(r["video_id"], r["cited_start"], r["score"]) for r in found["results"]] == [
        (d.metadata["video_id"], d.metadata["cited_start"], pytest.approx(d.metadata["score"]))
        for d in expected
    ]
    with pytest.raises(ChainConfigurationError, match="index's own model"):
        create_app(index, rerank="minilm", sync_on_start=False)


def test_search_returns_the_retrievers_fields(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    index.add(BEES)
    index.add(transcript("wormholes01", "What is a wormhole?", [
        "A wormhole is a tunnel that connects two distant places in spacetime.",
        "Exotic matter would need negative energy density, which nobody has seen.",
    ]))
    client = serve()
    body = client.get("/api/search", params={"q": "mites that spread viruses", "k": 2}).json()
    assert body["query"] == "mites that spread viruses"
    first = body["results"][0]
    assert first["video_id"] == "honeybees01" and first["title"] == "Why honeybees are dying"
    assert "Varroa mites" in first["text"]
    assert {"start", "end", "score", "url", "timestamp", "cited_start"} <= first.keys()
    assert first["url"].startswith("https://www.youtube.com/watch?v=honeybees01&t=")
    assert len(body["results"]) == 2

    scoped = client.get(
        "/api/search", params={"q": "mites", "video": "wormholes01"}
    ).json()["results"]
    assert {r["video_id"] for r in scoped} == {"wormholes01"}

    assert client.get("/api/search", params={"q": ""}).status_code == 422
    assert client.get("/api/search", params={"q": "x", "k": 0}).status_code == 422


class RecordingChat(BaseChatModel):
    """Answers with a fixed text and keeps the messages it was sent."""

    answer: str = "Varroa mites spread viruses [00:18]."
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recording"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.answer))])


def ask(client: TestClient, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    with client.stream("POST", "/api/ask", json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return parse_sse("".join(response.iter_text()))


def test_ask_streams_tokens_then_sources(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    index.add(BEES)
    answer = ("Varroa mites spread deadly viruses [00:18], and pesticides confuse bees [00:12]"
              " (not [42:00]).")
    client = serve(llm=GenericFakeChatModel(messages=iter([AIMessage(answer)])))
    events = ask(client, question="What do varroa mites do?", k=2)
    names = [name for name, _ in events]
    tokens = names.count("token")
    assert tokens > 5 and names == ["token"] * tokens + ["sources", "done"]
    assert "".join(data["text"] for name, data in events if name == "token") == answer
    assert events[-1][1] == {"answer": answer}
    sources = events[-2][1]["sources"]
    assert sources and all(s["video_id"] == "honeybees01" for s in sources)
    assert {"text", "start", "end", "url", "score", "timestamp"} <= sources[0].keys()
    # The sources are the moments the answer cites, linked at that second; the
    # invented [42:00] lies in no passage given and is dropped.
    assert [(s["timestamp"], s["url"]) for s in sources] == [
        ("00:18", "https://www.youtube.com/watch?v=honeybees01&t=18s"),
        ("00:12", "https://www.youtube.com/watch?v=honeybees01&t=12s"),
    ]


def test_ask_sends_the_chains_own_prompt(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    """The streamed answer comes from the same fenced prompt as build_chain's answer."""
    index.add(BEES)
    recorder = RecordingChat()
    client = serve(llm=recorder)
    question = "Why are the hives dying?"
    events = ask(client, question=question, k=3)
    assert events[-1][1] == {"answer": recorder.answer}
    chain = build_chain(index=index, llm=recorder, k=3)
    assert chain.invoke({"query": question})["result"] == recorder.answer
    streamed, chained = recorder.seen
    assert [m.type for m in streamed] == ["system", "human"]
    assert [m.content for m in streamed] == [m.content for m in chained]
    assert '<excerpt video="Why honeybees are dying" start="' in str(streamed[1].content)


def test_ask_without_an_llm_gives_the_passages(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    index.add(BEES)
    client = serve()
    assert client.get("/api/health").json()["llm"] is None
    events = ask(client, question="pesticides", k=2)
    assert [name for name, _ in events] == ["sources", "done"]
    assert events[1][1]["answer"] is None and "No LLM" in events[1][1]["detail"]
    assert "Neonicotinoid" in " ".join(s["text"] for s in events[0][1]["sources"])


def test_ask_on_an_empty_index(serve: Callable[..., TestClient]) -> None:
    client = serve(llm=RecordingChat())
    events = ask(client, question="anything?")
    assert events == [("sources", {"sources": []}),
                      ("done", {"answer": None,
                                "detail": "No passages found: the index holds no videos yet."})]


class BrokenChat(RecordingChat):
    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        raise ConnectionError("the provider hung up\nmid-answer")


def test_an_llm_failure_ends_the_stream_with_an_error(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    index.add(BEES)
    events = ask(serve(llm=BrokenChat()), question="bees?")
    assert events == [("error", {"detail": "The LLM failed: the provider hung up mid-answer",
                                 "type": "ConnectionError"})]


# --- hostile text --------------------------------------------------------------------------


def test_hostile_titles_and_text_come_back_as_plain_json(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    index.add(transcript("hostile0001", HOSTILE, [
        "<script>alert('transcript')</script> the bees are fine",
    ], channel='"><svg onload=alert(2)>'))
    client = serve()
    listing = client.get("/api/videos")
    assert listing.headers["content-type"] == "application/json"
    assert listing.headers["x-content-type-options"] == "nosniff"
    (video,) = listing.json()["videos"]
    assert video["title"] == HOSTILE and video["channel"] == '"><svg onload=alert(2)>'
    (result,) = client.get("/api/search", params={"q": "bees", "k": 1}).json()["results"]
    assert result["text"].startswith("<script>alert('transcript')</script>")
    assert HOSTILE not in client.get("/").text  # the page holds no data; app.js shows it as text


# --- jobs ------------------------------------------------------------------------------------


def test_jobs_can_be_listed_followed_and_cancelled(
    serve: Callable[..., TestClient], youtube_responses: Path
) -> None:
    client = serve()
    service = client.app.state.service  # type: ignore[attr-defined]
    with fake_youtube(youtube_responses):
        service.write_lock.acquire()  # another writer holds the index: the job waits at its write
        try:
            job = client.post("/api/videos", json={
                "sources": [VIDEO, "https://www.youtube.com/watch?v=F1xioXWb8CY"]
            }).json()
            deadline = time.monotonic() + 30
            while not any(e.get("stage") == "indexing"
                          for e in client.get(f"/api/jobs/{job['id']}").json()["events"]):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            cancelled = client.post(f"/api/jobs/{job['id']}/cancel")
            assert cancelled.status_code == 200
        finally:
            service.write_lock.release()
        events = job_events(client, job)
    kinds = [(e["type"], e.get("stage")) for e in events]
    # Cancelled while waiting to write: nothing of it is written, nothing more is fetched.
    assert kinds[-3:] == [("video", "indexing"), ("cancelled", None), ("done", None)]
    assert events[-1]["cancelled"] is True and events[-2]["remaining"] == 2
    assert client.get("/api/videos").json()["videos"] == []
    # Resuming after an event replays only what came later.
    with client.stream("GET", f"/api/jobs/{job['id']}/events",
                       headers={"Last-Event-ID": str(events[-2]["id"])}) as response:
        resumed = parse_sse("".join(response.iter_text()))
    assert [name for name, _ in resumed] == ["done"]
    listed = client.get("/api/jobs").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and listed[0]["done"] is True


def test_startup_carries_videos_over_as_a_job(serve: Callable[..., TestClient]) -> None:
    client = serve(sync_on_start=True)
    (job,) = client.get("/api/jobs").json()["jobs"]
    assert job["kind"] == "sync"
    assert job_events(client, job)[-1] == {"id": 2, "type": "done", "added": 0, "skipped": 0,
                                           "failed": 0}


# --- who may call --------------------------------------------------------------------------


def test_a_token_guards_every_api_route(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    client = serve(token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        for method, path in [("GET", "/api/health"), ("GET", "/api/videos"),
                             ("GET", "/api/search?q=x"), ("POST", "/api/videos"),
                             ("POST", "/api/ask"), ("GET", "/api/jobs")]:
            response = client.request(method, path, headers=headers, json={"sources": ["x"]})
            assert response.status_code == 401, (method, path, headers)
            assert response.headers["www-authenticate"] == "Bearer"
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/health", headers=good).status_code == 200
    assert client.get("/").status_code == 200  # the page holds no data: it asks for the token

    response = client.post("/api/uploads", headers=good, files={
        "transcript": ("t.srt", LIGHTHOUSE.read_bytes()), "media": ("t.webm", b"\1" * 32)})
    assert response.status_code == 202
    job_id = response.json()["id"]
    with client.stream("GET", f"/api/jobs/{job_id}/events", headers=good) as stream:
        "".join(stream.iter_text())
    (video,) = client.get("/api/videos", headers=good).json()["videos"]
    media_path = f"/api/videos/{video['video_id']}/media"
    # A <video> element cannot send the header: its link carries a signature instead.
    assert video["media_url"].startswith(media_path[1:] + "?sig=")
    assert TOKEN not in video["media_url"]
    assert client.get("/" + video["media_url"]).content == b"\1" * 32
    assert client.get(media_path).status_code == 401
    assert client.get(media_path + "?sig=" + "0" * 32).status_code == 401
    assert client.get(media_path, headers=good).status_code == 200


def test_without_a_token_only_loopback_host_names_are_served(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    """A page of another site whose name points at 127.0.0.1 (DNS rebinding) gets nothing."""
    app = serve().app
    for host in ("127.0.0.1", "localhost"):
        assert TestClient(app, base_url=f"http://{host}:8765").get("/api/health").status_code == 200
    rebound = TestClient(app, base_url="http://attacker.example:8765")
    assert rebound.get("/api/health").status_code == 400


def test_other_sites_cannot_change_anything(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    client = serve()
    index.add(BEES)
    evil = {"Origin": "https://evil.example"}
    assert client.delete("/api/videos/honeybees01", headers=evil).status_code == 403
    assert client.post("/api/uploads", headers=evil,
                       files={"transcript": ("t.srt", b"x")}).status_code == 403
    assert index.has_video("honeybees01")
    # No CORS unless asked: a preflight from another origin gets no allowance.
    preflight = client.options("/api/search", headers={
        **evil, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    # The page's own origin may.
    own = client.delete("/api/videos/honeybees01", headers={"Origin": LOOPBACK})
    assert own.status_code == 200


def test_cors_origins_given_are_allowed(serve: Callable[..., TestClient]) -> None:
    client = serve(cors_origins=["http://localhost:3000"])
    origin = {"Origin": "http://localhost:3000"}
    preflight = client.options("/api/ask", headers={
        **origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert client.get("/api/health", headers=origin).headers[
        "access-control-allow-origin"] == "http://localhost:3000"
    assert client.post("/api/ask", headers=origin, json={"question": "x"}).status_code == 200


# --- many at once ----------------------------------------------------------------------------


def test_concurrent_searches_while_a_video_is_added(
    serve: Callable[..., TestClient], index: VideoIndex
) -> None:
    index.add(BEES)
    client = serve()
    results: list[int] = []
    errors: list[BaseException] = []

    def search() -> None:
        try:
            response = client.get("/api/search", params={"q": "pesticides", "k": 2})
            results.append(response.status_code)
        except BaseException as exc:  # reported below
            errors.append(exc)

    job = upload(client, transcript=("Lighthouse talk.srt", LIGHTHOUSE.read_bytes())).json()
    threads = [threading.Thread(target=search) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and results == [200] * 20
    assert job_events(client, job)[-1]["added"] == 1
    assert {v["title"] for v in client.get("/api/videos").json()["videos"]} == {
        "Why honeybees are dying", "Lighthouse talk"}
