"""Speech-to-text of YouTube videos: the recorded YouTube answers (captions disabled, ...),
and yt-dlp at its boundary (its info dict and an audio file from disk), real Whisper."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from tests.speech_support import SpokenScript, encode, word_error_rate
from tests.youtube_support import CAPTIONS, PLAYER, VIDEO, FakeYouTube, fake_youtube
from ytqa import (
    AudioDownloadError,
    AudioTooLongError,
    MissingDependencyError,
    NetworkError,
    NoCaptionsError,
    RequestBlockedError,
    SpeechToText,
    SpeechToTextError,
    TranscriptsDisabledError,
    VideoIndex,
    VideoUnavailableError,
    YtqaError,
    load_transcript,
)
from ytqa.cli import cli
from ytqa.config import ytqa_home

pytestmark = pytest.mark.slow  # runs Whisper

DISABLED = "youtube_transcripts_disabled.innertube.json.static"


class FakeYoutubeDL:
    """yt-dlp's ``YoutubeDL`` at its network boundary: the info dict of one video, and its
    audio "downloaded" by copying a file from disk. Records what ytqa asked of it."""

    audio: ClassVar[Path | None] = None
    info: ClassVar[dict[str, Any]] = {}
    error: ClassVar[Exception | None] = None
    instances: ClassVar[list[FakeYoutubeDL]] = []

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.extracted: list[tuple[str, bool]] = []
        self.downloaded = False
        FakeYoutubeDL.instances.append(self)

    def __enter__(self) -> FakeYoutubeDL:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def extract_info(self, url: str, download: bool = True) -> dict[str, Any]:
        self.extracted.append((url, download))
        if self.error is not None:
            raise self.error
        return dict(self.info)

    def process_ie_result(self, info: dict[str, Any], download: bool = True) -> dict[str, Any]:
        assert download and self.audio is not None
        target = Path(self.options["outtmpl"] % {"id": info["id"], "ext": info["ext"]})
        shutil.copyfile(self.audio, target)
        self.downloaded = True
        return {**info, "requested_downloads": [{"filepath": str(target)}]}


@pytest.fixture
def ytdlp(
    short_spoken: SpokenScript, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[type[FakeYoutubeDL]]:
    yt_dlp = pytest.importorskip("yt_dlp")
    # YouTube serves .webm/opus audio: the spoken script, encoded so.
    audio = encode(short_spoken.samples, short_spoken.rate, tmp_path / "served.webm")
    monkeypatch.setattr(FakeYoutubeDL, "audio", audio)
    monkeypatch.setattr(FakeYoutubeDL, "error", None)
    monkeypatch.setattr(FakeYoutubeDL, "instances", [])
    monkeypatch.setattr(
        FakeYoutubeDL,
        "info",
        {
            "id": VIDEO,
            "title": "How languages spread",
            "channel": "A Channel",
            "duration": round(short_spoken.duration),
            "ext": "webm",
            "is_live": False,
        },
    )
    monkeypatch.setattr(yt_dlp, "YoutubeDL", FakeYoutubeDL)
    yield FakeYoutubeDL


@pytest.fixture
def youtube(youtube_responses: Path) -> Iterator[FakeYouTube]:
    with fake_youtube(youtube_responses) as fake:
        yield fake


def test_a_video_without_captions_is_transcribed_from_its_audio(
    youtube: FakeYouTube,
    ytdlp: type[FakeYoutubeDL],
    short_spoken: SpokenScript,
    whisper_tiny_en: str,
) -> None:
    youtube.player(DISABLED)

    transcript = load_transcript(VIDEO, asr_model=whisper_tiny_en)

    assert word_error_rate(short_spoken.text, transcript.text) <= 0.25
    assert abs(transcript.segments[0].start - short_spoken.starts[0]) <= 1.0
    assert (transcript.captions, transcript.asr_model, transcript.source) == (
        "asr", "tiny.en", "youtube",
    )
    assert (transcript.title, transcript.channel) == ("How languages spread", "A Channel")
    assert transcript.link(61) == f"https://www.youtube.com/watch?v={VIDEO}&t=61s"
    # Audio only, as YouTube serves it: no post-processing, so no ffmpeg binary.
    (downloader,) = ytdlp.instances
    assert downloader.options["format"].startswith("bestaudio")
    assert downloader.options["postprocessors"] == [] and downloader.options["fixup"] == "never"
    assert downloader.downloaded and youtube.urls(CAPTIONS) == []

    # The second time comes from the cache: no YouTube, no yt-dlp, no Whisper.
    calls = len(youtube.mock.calls)
    again = load_transcript(VIDEO, asr_model=whisper_tiny_en)
    assert again == transcript
    assert len(youtube.mock.calls) == calls and len(ytdlp.instances) == 1


def test_asr_never_keeps_the_captions_error(
    youtube: FakeYouTube, ytdlp: type[FakeYoutubeDL]
) -> None:
    youtube.player(DISABLED)

    with pytest.raises(TranscriptsDisabledError) as caught:
        load_transcript(VIDEO, asr="never")
    assert not isinstance(caught.value, NoCaptionsError) and ytdlp.instances == []


def test_captions_win_in_auto_and_asr_always_transcribes_anyway(
    youtube: FakeYouTube, ytdlp: type[FakeYoutubeDL], whisper_tiny_en: str
) -> None:
    captions = load_transcript(VIDEO, asr_model=whisper_tiny_en)
    assert captions.captions == "manual" and ytdlp.instances == []

    spoken = load_transcript(VIDEO, asr="always", asr_model=whisper_tiny_en)
    assert spoken.captions == "asr" and len(ytdlp.instances) == 1
    assert len(youtube.urls(CAPTIONS)) == 1  # only the first load fetched captions

    with pytest.raises(SpeechToTextError, match="cannot translate"):
        load_transcript(VIDEO, asr="always", translate_to="de")


def test_cookies_go_to_the_audio_download_and_the_file_is_not_rewritten(
    youtube: FakeYouTube, ytdlp: type[FakeYoutubeDL], whisper_tiny_en: str, tmp_path: Path
) -> None:
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(
        "# Netscape HTTP Cookie File\n"
        ".youtube.com\tTRUE\t/\tTRUE\t4102444800\tSAPISID\tsecret-sapisid\n",
        encoding="utf-8",
    )
    before = cookies.read_bytes()
    youtube.player(DISABLED)

    transcript = load_transcript(VIDEO, asr_model=whisper_tiny_en, cookies=cookies)

    assert transcript.captions == "asr"
    (downloader,) = ytdlp.instances
    given = downloader.options["cookiefile"]
    # A copy in memory: yt-dlp writes its cookies back to a cookie file when it closes.
    assert not isinstance(given, (str, Path)) and "secret-sapisid" in given.getvalue()
    assert cookies.read_bytes() == before
    # Nothing of the cookies is kept beside the transcript.
    home_files = [p for p in ytqa_home().rglob("*") if p.is_file()]
    assert home_files and not any(b"secret-sapisid" in p.read_bytes() for p in home_files)


def test_without_the_extra_a_captionless_video_says_how_to_get_it(
    youtube: FakeYouTube, ytdlp: type[FakeYoutubeDL], monkeypatch: pytest.MonkeyPatch
) -> None:
    youtube.player(DISABLED)
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # as if not installed

    with pytest.raises(NoCaptionsError) as caught:
        load_transcript(VIDEO)

    assert isinstance(caught.value, TranscriptsDisabledError) and caught.value.exit_code == 3
    assert "pip install 'ytqa[asr]'" in str(caught.value) and VIDEO in str(caught.value)
    assert ytdlp.instances == []
    assert len(youtube.urls(PLAYER)) == 1

    result = CliRunner().invoke(cli, ["ingest", VIDEO])  # its one source failed: its status
    assert result.exit_code == 3 and "pip install 'ytqa[asr]'" in result.output
    result = CliRunner().invoke(cli, ["search", VIDEO, "anything"])
    assert result.exit_code == 3 and "ytqa[asr]" in result.output


def test_yt_dlp_missing_says_how_to_get_it(
    youtube: FakeYouTube, whisper_tiny_en: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    youtube.player(DISABLED)
    monkeypatch.setitem(sys.modules, "yt_dlp", None)

    with pytest.raises(MissingDependencyError, match=r"YouTube videos.*ytqa\[asr\]"):
        load_transcript(VIDEO, asr_model=whisper_tiny_en)


@pytest.mark.parametrize(
    ("message", "error_type", "advice"),
    [
        (
            f"ERROR: [youtube] {VIDEO}: Sign in to confirm your age. This video may be "
            "inappropriate for some users. Use --cookies-from-browser or --cookies for the "
            "authentication.",
            AudioDownloadError,
            "--cookies-from-browser",
        ),
        (
            f"ERROR: [youtube] {VIDEO}: Sign in to confirm you’re not a bot. Use "
            "--cookies-from-browser or --cookies for the authentication.",
            RequestBlockedError,
            "proxy",
        ),
        (
            f"ERROR: [youtube] {VIDEO}: web client https formats require a GVS PO Token which "
            "was not provided. They will be skipped as they may yield HTTP Error 403.",
            AudioDownloadError,
            "PO-Token-Guide",
        ),
        (
            "ERROR: unable to download video data: HTTP Error 403: Forbidden",
            AudioDownloadError,
            "proxy",
        ),
        (f"ERROR: [youtube] {VIDEO}: Private video. Sign in if you've been granted access",
         VideoUnavailableError, "Check the ID"),
        (
            f"ERROR: [youtube] {VIDEO}: Unable to download API page: <urlopen error [Errno -3] "
            "Temporary failure in name resolution> (caused by TransportError)",
            NetworkError,
            "internet connection",
        ),
    ],
    ids=["age-gate", "sign-in", "po-token", "http-403", "private", "offline"],
)
def test_a_refused_download_is_a_ytqa_error_that_says_what_to_do(
    youtube: FakeYouTube,
    ytdlp: type[FakeYoutubeDL],
    whisper_tiny_en: str,
    message: str,
    error_type: type[YtqaError],
    advice: str,
) -> None:
    from yt_dlp.utils import DownloadError

    youtube.player(DISABLED)
    ytdlp.error = DownloadError(message)  # undone by the fixture's monkeypatch

    with pytest.raises(error_type) as caught:
        load_transcript(VIDEO, asr_model=whisper_tiny_en)

    assert advice in str(caught.value) and VIDEO in str(caught.value)
    assert isinstance(caught.value.__cause__, DownloadError)


def test_a_video_too_long_or_live_is_refused_before_downloading(
    youtube: FakeYouTube, ytdlp: type[FakeYoutubeDL], whisper_tiny_en: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    youtube.player(DISABLED)
    monkeypatch.setitem(ytdlp.info, "duration", 5 * 3600)

    with pytest.raises(AudioTooLongError, match="has 5:00:00 of audio") as caught:
        load_transcript(VIDEO, asr_model=whisper_tiny_en)
    assert "max_duration" in str(caught.value)

    monkeypatch.setitem(ytdlp.info, "duration", 60)
    monkeypatch.setitem(ytdlp.info, "is_live", True)
    with pytest.raises(AudioDownloadError, match="live stream"):
        load_transcript(VIDEO, asr=SpeechToText(model=whisper_tiny_en))
    assert not any(downloader.downloaded for downloader in ytdlp.instances)


def test_the_index_keeps_the_kind_of_transcript_and_respects_the_setting(
    youtube: FakeYouTube, ytdlp: type[FakeYoutubeDL], whisper_tiny_en: str, minilm: Path,
    tmp_path: Path,
) -> None:
    youtube.player(DISABLED)
    index = VideoIndex(persist_directory=tmp_path / "index")

    assert index.add(VIDEO, asr_model=whisper_tiny_en) > 0
    (record,) = index.videos()
    assert (record.captions, record.asr_model, record.source) == ("asr", "tiny.en", "youtube")
    (hit,) = index.as_retriever(search_kwargs={"k": 1}).invoke("Which fund buys every stock?")
    assert (hit.metadata["captions"], hit.metadata["asr_model"]) == ("asr", "tiny.en")

    # Indexed as asked: nothing is fetched, downloaded or transcribed again.
    calls = len(youtube.mock.calls)
    assert index.add(VIDEO, asr_model=whisper_tiny_en) == 0
    assert len(youtube.mock.calls) == calls and len(ytdlp.instances) == 1

    # asr="never" asks for captions, which this video has not.
    with pytest.raises(TranscriptsDisabledError):
        index.add(VIDEO, asr="never")
    assert index.has_video(VIDEO)


def test_the_cli_transcribes_a_captionless_video(
    youtube: FakeYouTube, ytdlp: type[FakeYoutubeDL], whisper_tiny_en: str, minilm: Path
) -> None:
    youtube.player(DISABLED)
    runner = CliRunner()

    result = runner.invoke(cli, ["ingest", "--verbose", VIDEO, "--asr-model", whisper_tiny_en])
    assert result.exit_code == 0, result.output
    assert "1 added" in result.output
    listed = runner.invoke(cli, ["list"])
    assert f"{VIDEO}" in listed.output and "speech-to-text tiny.en" in listed.output

    never = runner.invoke(cli, ["ingest", VIDEO, "--asr", "never"])
    assert never.exit_code == 3 and "captions disabled" in never.output
