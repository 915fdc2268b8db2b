"""expand_sources: playlists and channels (yt-dlp), folders, files, IDs."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import responses
import yt_dlp
from click.testing import CliRunner
from yt_dlp.utils import DownloadError

from ytqa import InvalidVideoIdError, MissingDependencyError, PlaylistError, TranscriptFileError
from ytqa.cli import cli
from ytqa.transcripts import expand_sources, load_transcript

PLAYLIST = "https://www.youtube.com/playlist?list=PLxyz0123456789"
CHANNEL = "https://www.youtube.com/@SomeChannel"


class FakeExtractInfo:
    """Stands in for ``YoutubeDL.extract_info``, the network boundary of yt-dlp."""

    def __init__(self, answer: dict[str, Any] | Exception) -> None:
        self.answer = answer
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, downloader: yt_dlp.YoutubeDL, url: str, download: bool = True,
                 **kwargs: Any) -> dict[str, Any]:
        assert download is False
        self.calls.append((url, dict(downloader.params)))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def flat(video_id: str, ie_key: str = "Youtube") -> dict[str, Any]:
    return {"_type": "url", "ie_key": ie_key, "id": video_id,
            "url": f"https://www.youtube.com/watch?v={video_id}"}


@pytest.fixture
def extract(monkeypatch: pytest.MonkeyPatch) -> FakeExtractInfo:
    fake = FakeExtractInfo({"_type": "playlist", "id": "PLxyz", "entries": [
        flat("dQw4w9WgXcQ"), flat("GJLlxj_dtq8"), flat("dQw4w9WgXcQ"),
    ]})

    def extract_info(
        downloader: yt_dlp.YoutubeDL, url: str, download: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        return fake(downloader, url, download, **kwargs)

    monkeypatch.setattr(yt_dlp.YoutubeDL, "extract_info", extract_info)
    return fake


def playlist_data(*video_ids: str) -> dict[str, Any]:
    """A hand-made, minimal ``ytInitialData`` of a playlist page, as yt-dlp reads it."""
    videos = [
        {"playlistVideoRenderer": {"videoId": vid, "title": {"runs": [{"text": f"Video {vid}"}]},
                                   "lengthSeconds": "60", "isPlayable": True}}
        for vid in video_ids
    ]
    section = {"itemSectionRenderer": {"contents": [
        {"playlistVideoListRenderer": {"playlistId": "PLxyz0123456789", "contents": videos}}
    ]}}
    tab = {"tabRenderer": {"selected": True, "title": "Videos",
                           "content": {"sectionListRenderer": {"contents": [section]}}}}
    return {
        "contents": {"twoColumnBrowseResultsRenderer": {"tabs": [tab]}},
        "metadata": {"playlistMetadataRenderer": {"title": "My list"}},
    }


def test_real_yt_dlp_reads_a_playlist_page() -> None:
    """yt-dlp's own code, with only YouTube's HTTP answers mocked."""
    data = playlist_data("dQw4w9WgXcQ", "GJLlxj_dtq8")
    page = f"<html><script>var ytInitialData = {json.dumps(data)};</script></html>"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get("https://www.youtube.com/playlist", body=page)
        # yt-dlp asks the browse API again for the playlist "with unavailable videos".
        mock.post("https://www.youtube.com/youtubei/v1/browse", json=data)

        assert expand_sources([PLAYLIST]) == ["dQw4w9WgXcQ", "GJLlxj_dtq8"]
        assert str(mock.calls[0].request.url) == PLAYLIST


def test_real_yt_dlp_failure_is_a_playlist_error(capsys: pytest.CaptureFixture[str]) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get("https://www.youtube.com/playlist", status=404, body="<html>gone</html>")

        with pytest.raises(PlaylistError, match="Could not list the videos of") as caught:
            expand_sources([PLAYLIST])

    assert isinstance(caught.value.__cause__, DownloadError)
    assert capsys.readouterr().err == ""  # yt-dlp's own error print is routed to the log


def test_playlist_expands_to_video_ids(extract: FakeExtractInfo) -> None:
    assert expand_sources([PLAYLIST]) == ["dQw4w9WgXcQ", "GJLlxj_dtq8"]

    ((url, params),) = extract.calls
    assert url == PLAYLIST
    assert params["extract_flat"] == "in_playlist"  # list entries, never resolve each video
    assert params["quiet"] is True and params["logger"] is not None
    assert "proxy" not in params


def test_a_playlist_on_gaming_youtube_com_expands(extract: FakeExtractInfo) -> None:
    # video.py knew this host, the playlist rule had a list of its own without it.
    url = "https://gaming.youtube.com/playlist?list=PLxyz0123456789"
    assert expand_sources([url]) == ["dQw4w9WgXcQ", "GJLlxj_dtq8"]
    assert [called for called, _ in extract.calls] == [url]


def test_channel_tabs_are_flattened(extract: FakeExtractInfo) -> None:
    extract.answer = {"_type": "playlist", "id": "UC123", "entries": [
        {"_type": "playlist", "id": "UC123-videos", "entries": [flat("F1xioXWb8CY")]},
        {"_type": "playlist", "id": "UC123-shorts", "entries": [
            flat("GJLlxj_dtq8"), flat("UCnotAVideo", ie_key="YoutubeTab"),
        ]},
    ]}

    assert expand_sources([CHANNEL], proxy="http://proxy.example:3128") == [
        "F1xioXWb8CY", "GJLlxj_dtq8"
    ]
    assert extract.calls[0][1]["proxy"] == "http://proxy.example:3128"


def test_failing_playlist_is_a_playlist_error(extract: FakeExtractInfo) -> None:
    extract.answer = DownloadError("ERROR: [youtube:tab] PLxyz: The playlist does not exist.")

    with pytest.raises(PlaylistError, match="playlist does not exist") as caught:
        expand_sources([PLAYLIST])

    assert "in a browser" in str(caught.value)
    assert isinstance(caught.value.__cause__, DownloadError)


def test_empty_playlist_is_a_playlist_error(extract: FakeExtractInfo) -> None:
    extract.answer = {"_type": "playlist", "id": "PLxyz", "entries": []}

    with pytest.raises(PlaylistError, match="lists no videos"):
        expand_sources([PLAYLIST])


def test_playlists_without_yt_dlp_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "yt_dlp", None)  # import yt_dlp now raises ImportError

    with pytest.raises(MissingDependencyError) as caught:
        expand_sources([CHANNEL])

    assert "pip install 'ytqa[playlists]'" in str(caught.value)
    # Single videos never need the extra.
    assert expand_sources(["https://youtu.be/dQw4w9WgXcQ"]) == ["dQw4w9WgXcQ"]


def test_videos_files_and_folders(tmp_path: Path, extract: FakeExtractInfo) -> None:
    folder = tmp_path / "subs"
    folder.mkdir()
    for name in ("GJLlxj_dtq8.srt", "GJLlxj_dtq8.en.vtt", "talk.vtt"):
        (folder / name).write_text("x", encoding="utf-8")
    single = tmp_path / "single.srt"
    single.write_text("x", encoding="utf-8")

    expanded = expand_sources(
        [
            "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s",
            folder,
            str(single),
            PLAYLIST,
            "dQw4w9WgXcQ",
            single,
        ]
    )

    assert expanded == [
        "dQw4w9WgXcQ",
        folder / "GJLlxj_dtq8.srt",
        folder / "talk.vtt",
        single,
        "GJLlxj_dtq8",
    ]
    generated = expand_sources([folder], prefer="generated")
    assert generated == [folder / "GJLlxj_dtq8.en.vtt", folder / "talk.vtt"]
    assert expand_sources("dQw4w9WgXcQ") == ["dQw4w9WgXcQ"]  # one source, not its letters


def test_unknown_sources() -> None:
    with pytest.raises(TranscriptFileError, match="no such file"):
        expand_sources(["missing/transcript.srt"])
    with pytest.raises(InvalidVideoIdError, match="not a YouTube address"):
        expand_sources(["https://vimeo.com/12345"])


def test_an_empty_source_is_an_error_not_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dQw4w9WgXcQ.srt").write_text("x", encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # Path("") is "." : it would ingest this folder

    for empty in ("", "  "):
        with pytest.raises(InvalidVideoIdError, match="an empty source names no video, file"):
            expand_sources([empty])
        with pytest.raises(InvalidVideoIdError, match="empty"):
            load_transcript(empty)


def test_a_folder_without_transcripts_says_what_it_holds(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    named_like_a_file = tmp_path / "x.srt"
    named_like_a_file.mkdir()
    (named_like_a_file / "notes.txt").write_text("x", encoding="utf-8")
    (named_like_a_file / ".hidden.srt").write_text("x", encoding="utf-8")
    (named_like_a_file / "nested").mkdir()
    os.mkfifo(named_like_a_file / "pipe.srt")

    with pytest.raises(TranscriptFileError, match="it is an empty folder") as caught:
        expand_sources([str(empty)])
    assert caught.value.path == empty
    # A folder's advice is about folders, not about re-exporting a transcript file.
    assert "export it again" not in str(caught.value)
    assert "a folder that holds some" in str(caught.value)
    with pytest.raises(TranscriptFileError) as caught:
        expand_sources([named_like_a_file])
    assert caught.value.path == named_like_a_file
    assert "no .srt, .vtt, .json transcript file or recording in it" in str(caught.value)
    assert "it holds .hidden.srt, nested/, notes.txt, pipe.srt (not a regular file)" in str(
        caught.value
    )


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("x" * 300 + ".srt", "the path is too long for the file system"),
        ("https://www.youtube.com/watch?v=" + "a" * 4096, "Not a YouTube video ID or URL"),
        ("", "an empty source names no video, file or folder"),
    ],
    ids=["300-character file name", "4096-character URL", "empty"],
)
def test_cli_refuses_odd_arguments_in_one_line(tmp_path: Path, argument: str, message: str) -> None:
    """No traceback: ``search`` exits 2 on a bad source; ``ingest`` reports it as failed, and
    exits 2 as well since its only source failed as bad input."""
    for command, status in (["search", argument, "a question"], 2), (["ingest", argument], 2):
        result = CliRunner().invoke(cli, ["--home", str(tmp_path), *command], prog_name="ytqa")

        assert isinstance(result.exception, SystemExit), result.exception
        assert result.exit_code == status, result.output
        assert message in result.output
        assert "Traceback" not in result.output
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == (1 if command[0] == "search" else 0), result.output
