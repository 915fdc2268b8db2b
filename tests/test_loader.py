"""YouTubeTranscriptLoader: one LangChain Document per video."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document

from ytqa import VideoUnavailableError, YouTubeTranscriptLoader
from ytqa.transcripts import read_transcript_file

VIDEO = "GJLlxj_dtq8"
PLAYER = "https://www.youtube.com/youtubei/v1/player"


@pytest.fixture
def youtube(youtube_responses: Path) -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(
            "https://www.youtube.com/watch",
            body=(youtube_responses / "youtube.html.static").read_bytes(),
        )
        mock.post(
            PLAYER,
            body=(youtube_responses / "youtube.innertube.json.static").read_bytes(),
            content_type="application/json",
        )
        mock.get(
            "https://www.youtube.com/api/timedtext",
            body=(youtube_responses / "transcript.xml.static").read_bytes(),
        )
        mock.get(
            "https://www.youtube.com/oembed",
            json={"title": "A test video", "author_name": "Some Channel"},
        )
        yield mock


def test_one_document_per_video_with_metadata(youtube: responses.RequestsMock) -> None:
    loader = YouTubeTranscriptLoader(f"https://youtu.be/{VIDEO}", languages=["de", "en"])

    assert isinstance(loader, BaseLoader)
    (document,) = loader.load()

    assert isinstance(document, Document)
    assert document.page_content == (
        "Hey, this is just a test this is not the original transcript "
        "just something shorter, I made up for testing"
    )
    assert document.metadata == {
        "video_id": VIDEO,
        "source": f"https://www.youtube.com/watch?v={VIDEO}",
        "url": f"https://www.youtube.com/watch?v={VIDEO}",
        "start": 0.0,
        "end": 8.939,
        "title": "A test video",
        "channel": "Some Channel",
        "language": "German",
        "language_code": "de",
        "is_generated": False,
        "captions": "manual",
    }
    assert all(isinstance(v, (str, int, float, bool)) for v in document.metadata.values())


def test_translation_is_recorded(youtube: responses.RequestsMock) -> None:
    (document,) = YouTubeTranscriptLoader([VIDEO], translate_to="ar").load()

    assert document.metadata["language_code"] == "ar"
    assert document.metadata["translated_from"] == "en"
    assert document.metadata["is_generated"] is True  # machine-translated


def test_files_and_folders(transcripts_dir: Path) -> None:
    documents = YouTubeTranscriptLoader([transcripts_dir]).load()

    assert len(documents) == len(list(transcripts_dir.glob("*.srt"))) >= 36  # one per video
    first = documents[0]
    transcript = read_transcript_file(transcripts_dir / "-82gNL8XeWg.srt")
    assert first.page_content == transcript.text
    assert first.metadata["video_id"] == "-82gNL8XeWg"
    assert first.metadata["source"] == "https://www.youtube.com/watch?v=-82gNL8XeWg"
    assert first.metadata["end"] == transcript.duration
    assert "title" not in first.metadata  # unknown, so absent (Chroma takes no None)


def test_lazy_and_failures(youtube: responses.RequestsMock, transcripts_dir: Path,
                           youtube_responses: Path) -> None:
    youtube.replace(
        responses.POST,
        PLAYER,
        body=(youtube_responses / "youtube_video_unavailable.innertube.json.static").read_bytes(),
    )
    sources = [transcripts_dir / "1fQkVqno-uI.srt", VIDEO, transcripts_dir / "9P6rdqiybaw.srt"]

    documents = YouTubeTranscriptLoader(sources).lazy_load()
    assert next(documents).metadata["video_id"] == "1fQkVqno-uI"  # before the failure
    with pytest.raises(VideoUnavailableError):
        next(documents)

    sources.insert(1, transcripts_dir / "missing.srt")
    kept = YouTubeTranscriptLoader(sources, continue_on_failure=True).load()
    assert [d.metadata["video_id"] for d in kept] == ["1fQkVqno-uI", "9P6rdqiybaw"]
