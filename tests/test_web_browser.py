"""The page in a real browser: Debian's headless Chromium, driven by Playwright.

A real uvicorn serves the app (real MiniLM, in-memory Chroma) in a thread; the
only fakes are the LLM (a scripted LangChain fake chat model) and the YouTube
IFrame API, which cannot load offline: its script address is answered with a
stub that records what the page's own player code asks of it. Every other
request outside the server is refused, so the page is shown to work offline.

Set ``YTQA_UPDATE_SCREENSHOT=1`` to rewrite ``docs/web-screenshot.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the web app needs: pip install 'ytqa[serve]'")
pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install playwright")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from playwright.sync_api import sync_playwright

from tests.web_support import make_webm, server_thread, srt, transcript
from ytqa import VideoIndex
from ytqa.web import create_app

pytestmark = pytest.mark.slow

CHROMIUM = Path(os.environ.get("YTQA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "web-screenshot.png"
YOUTUBE_API = "https://www.youtube.com/iframe_api"
HOSTILE = "<img src=x onerror=alert(1)>"

# The stand-in for YouTube's IFrame API: the same names, recording each call.
YOUTUBE_STUB = """
window.__yt = { calls: [], time: null, videoId: null };
window.YT = { Player: class {
  constructor(element, options) {
    window.__yt.calls.push(["new", options.videoId, options.playerVars.start]);
    window.__yt.videoId = options.videoId;
    const frame = document.createElement("iframe");
    frame.title = "YouTube player (test stand-in)";
    element.replaceWith(frame);
    setTimeout(() => options.events.onReady({ target: this }), 0);
  }
  seekTo(seconds) { window.__yt.calls.push(["seekTo", seconds]); window.__yt.time = seconds; }
  playVideo() { window.__yt.calls.push(["playVideo"]); }
  loadVideoById(o) {
    window.__yt.calls.push(["loadVideoById", o.videoId, o.startSeconds]);
    window.__yt.videoId = o.videoId; window.__yt.time = o.startSeconds;
  }
  destroy() {}
}};
if (typeof window.onYouTubeIframeAPIReady === "function") window.onYouTubeIframeAPIReady();
"""

KEEPER_LINES = [
    "Welcome to the lighthouse, a tower on the rocks above the harbour.",
    "For centuries a keeper lived here with the family, far from town.",
    "Every evening the keeper climbed the stairs and lit the lamp by hand.",
    "Today the light runs by itself and nobody lives in the tower.",
]
NOTES_LINES = [f"Note {n}: the committee discussed item {n} of the agenda." for n in range(40)]
NOTES_LINES[30] = "Note 30: the budget for the new bridge was finally approved."


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.is_file() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    return CHROMIUM if CHROMIUM.is_file() else Path(str(shutil.which("chromium")))


@pytest.fixture
def index(minilm: Path) -> Iterator[VideoIndex]:
    with VideoIndex("minilm", in_memory=True) as opened:
        yield opened


def wait_for(page: Any, script: str, arg: Any = None) -> Any:
    return page.wait_for_function(script, arg=arg, timeout=60_000).json_value()


def ask(page: Any, scope_label: str, question: str) -> None:
    """Choose the video, then ask with the keyboard alone: '/' focuses the box, Enter asks."""
    page.select_option("#scope", label=scope_label)
    page.locator("body").click(position={"x": 5, "y": 5})  # leave the select, as a user would
    page.keyboard.press("/")
    page.keyboard.type(question)
    page.keyboard.press("Enter")


def test_the_page_plays_the_cited_moment(
    chromium: Path, index: VideoIndex, tmp_path: Path
) -> None:
    index.add(transcript("hostile0001", HOSTILE, [
        "<script>alert('transcript')</script> welcome to the show",
        "The river floods every spring and the farmers move uphill.",
        "After the flood the fields are rich and green again.",
    ], channel='"><svg onload=alert(2)>'))
    index.add(transcript("local-minutes", "Committee minutes", NOTES_LINES, channel=None))
    talk = tmp_path / "Lighthouse keeper.srt"
    talk.write_text(srt(KEEPER_LINES), encoding="utf-8")
    clip = make_webm(tmp_path / "keeper.webm", 24)
    llm = GenericFakeChatModel(messages=iter([
        AIMessage("Every evening the keeper lit the lamp by hand [00:12], not at [09:59]."),
        AIMessage("The farmers move uphill when the river floods [00:06]."),
        AIMessage("The bridge budget was approved [03:00]."),
    ]))
    app = create_app(index, llm=llm, sync_on_start=False)

    youtube = {"reachable": False, "requests": 0}
    outside: list[str] = []
    dialogs: list[str] = []
    errors: list[str] = []

    with server_thread(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})

        def route(request_route: Any) -> None:
            address = request_route.request.url
            if address.startswith(url):
                request_route.continue_()
            elif address == YOUTUBE_API:
                youtube["requests"] += 1
                if youtube["reachable"]:
                    request_route.fulfill(status=200, content_type="text/javascript",
                                          body=YOUTUBE_STUB)
                else:
                    request_route.abort()
            else:
                outside.append(address)
                request_route.abort()

        page.route("**/*", route)
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url + "/")

        # Hostile title and channel are shown as text, never as markup.
        hostile_item = page.locator("#videos li", has_text=HOSTILE)
        hostile_item.wait_for(timeout=60_000)
        assert page.locator("#videos img, #videos svg, #videos script").count() == 0
        assert '"><svg onload=alert(2)>' in hostile_item.inner_text()

        # Upload a transcript and its video file; progress shows as it happens.
        page.set_input_files("#transcript-file", str(talk))
        page.set_input_files("#media-file", str(clip))
        page.get_by_role("button", name="Upload").click()
        page.locator("#jobs li.stage-added", has_text="Lighthouse keeper").wait_for(
            timeout=120_000)
        page.locator("#videos li", has_text="Lighthouse keeper").wait_for()
        assert "video file" in page.locator("#videos li", has_text="Lighthouse keeper").inner_text()

        # Ask; the answer streams in; its citation is a button; press it with the keyboard.
        ask(page, "Lighthouse keeper", "When is the lamp lit?")
        cite = page.locator("#answer").get_by_role("button", name="Play at 00:12")
        cite.wait_for(timeout=60_000)
        # The sources listed are the moment the answer cites.
        assert page.locator("#passages").get_by_role("button", name="Play at 00:12").count() == 1
        # A mark that no passage holds (the model invented it) stays text, unlinked.
        assert "not at [09:59]" in page.locator("#answer").inner_text()
        assert page.get_by_role("button", name="Play at 09:59").count() == 0
        cite.focus()
        page.keyboard.press("Enter")
        current = wait_for(page, """() => {
            const media = document.querySelector("#player video");
            return media && media.readyState >= 1 && !media.seeking && media.currentTime > 0
                ? media.currentTime : null; }""")
        assert abs(current - 12) <= 1
        line = page.locator("#transcript li.current")
        assert "lit the lamp by hand" in line.inner_text()
        assert page.locator("#now-playing").inner_text() == "Lighthouse keeper — 00:12"
        page.locator("#player video").evaluate("media => media.pause()")
        page.screenshot(path=str(tmp_path / "page.png"))
        assert (tmp_path / "page.png").stat().st_size > 10_000
        if os.environ.get("YTQA_UPDATE_SCREENSHOT"):
            page.screenshot(path=str(SCREENSHOT))

        # A YouTube video: with the IFrame API unreachable, the page still works...
        ask(page, HOSTILE, "What do the farmers do?")
        page.locator("#answer").get_by_role("button", name="Play at 00:06").click()
        fallback = page.locator("#player a.watch-link")
        fallback.wait_for(timeout=30_000)
        assert fallback.get_attribute("href") == (
            "https://www.youtube.com/watch?v=hostile0001&t=6s")
        page.locator("#player", has_text="could not load").wait_for(timeout=30_000)
        # The new video's transcript loads after the player: wait for its current line.
        current = page.locator("#transcript li.current", has_text="farmers move uphill")
        current.wait_for(timeout=30_000)
        assert "farmers move uphill" in current.inner_text()
        first_line = page.locator("#transcript li").first.inner_text()
        assert "<script>alert('transcript')</script>" in first_line
        # ...and with it, the page's own player code seeks the YouTube player.
        youtube["reachable"] = True
        page.locator("#answer").get_by_role("button", name="Play at 00:06").click()
        calls = wait_for(page, """() => window.__yt && window.__yt.time !== null
            ? window.__yt.calls : null""")
        assert calls[0] == ["new", "hostile0001", 6]
        assert ["seekTo", 6] in calls and ["playVideo"] in calls
        assert youtube["requests"] == 2

        # A transcript with no media: the transcript scrolls to the cited line.
        ask(page, "Committee minutes", "Was the bridge budget approved?")
        page.locator("#answer").get_by_role("button", name="Play at 03:00").click()
        page.locator("#transcript li.current", has_text="Note 30").wait_for(timeout=30_000)
        assert page.locator("#player", has_text="No video or audio file").count() == 1
        visible = page.evaluate("""() => {
            const list = document.querySelector("#transcript");
            const line = list.querySelector("li.current").getBoundingClientRect();
            const box = list.getBoundingClientRect();
            return list.scrollTop > 0 && line.top >= box.top && line.bottom <= box.bottom; }""")
        assert visible

        # Readable on a phone: one column, nothing wider than the screen.
        page.set_viewport_size({"width": 375, "height": 800})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        browser.close()

    assert dialogs == []  # no injected script ever ran
    assert errors == []
    assert outside == []  # the page asked nothing of any other server


def test_the_page_takes_the_token_from_its_address_or_asks(
    chromium: Path, index: VideoIndex
) -> None:
    token = "a-token-of-sixteen-or-more"
    app = create_app(index, token=token, sync_on_start=False)
    with server_thread(app) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        # Opened with #token=...: used, kept for the tab, and gone from the address bar.
        page = browser.new_page()
        page.goto(f"{url}/#token={token}")
        page.locator("#status", has_text="0 videos").wait_for(timeout=30_000)
        assert page.url == url + "/"
        assert page.evaluate("sessionStorage.getItem('ytqa-token')") == token
        # Opened without it: the page asks, and goes on with the answer.
        asked: list[str] = []
        other = browser.new_page()
        other.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.accept(token)))
        other.goto(url + "/")
        other.locator("#status", has_text="0 videos").wait_for(timeout=30_000)
        assert asked == ["prompt"]
        # Dismissed: the page says what is missing, and does not ask again at every poll.
        dismissed: list[str] = []
        third = browser.new_page()
        third.on("dialog", lambda dialog: (dismissed.append(dialog.type), dialog.dismiss()))
        third.goto(url + "/")
        third.locator("#status", has_text="needs its token").wait_for(timeout=30_000)
        third.wait_for_timeout(6_000)  # past the next poll
        assert dismissed == ["prompt"]
        browser.close()
