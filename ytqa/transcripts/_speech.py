"""Speech-to-text: audio and video files, and YouTube videos without captions, as transcripts.

The engine is faster-whisper (CTranslate2), the optional ``ytqa[asr]`` extra.
PyAV, which comes with it, decodes every format of :data:`MEDIA_SUFFIXES`
without an ffmpeg binary; yt-dlp downloads a YouTube video's audio stream as
it is (no post-processing, so no ffmpeg either).

A recording becomes a :class:`~ytqa.Transcript` like any other: Whisper's
word timestamps are grouped into cues of at most a sentence or
:data:`MAX_CUE_SECONDS`, the transcript records ``captions == "asr"`` and the
Whisper model (``asr_model``), and it is cached per video and Whisper model,
so a second load never transcribes again. The cache entry is written once the
whole recording is transcribed: a run stopped part-way leaves nothing behind.

The settings (:class:`SpeechToText`) come from arguments, else from
``$YTQA_ASR``, ``$YTQA_ASR_MODEL``, ``$YTQA_ASR_DEVICE``,
``$YTQA_ASR_COMPUTE_TYPE`` and ``$YTQA_ASR_MAX_DURATION``. faster-whisper,
PyAV, numpy and yt-dlp are imported inside the functions that use them.
"""


from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from ytqa.embeddings import (
    _looks_like_path,  # the embedding models' rule for "a folder"
    models_dir_folder,
)
from ytqa.errors import (
    AudioDownloadError,
    AudioTooLongError,
    MediaFileError,
    MissingDependencyError,
    NoCaptionsError,
    NoTranscriptFoundError,
    SpeechToTextError,
    TranscriptError,
    TranscriptsDisabledError,
)
from ytqa.transcripts._audio_download import download_audio
from ytqa.transcripts._cache import _cache_path, _read_cache_file, _save_quietly
from ytqa.transcripts._files import _names_from_file_name, _title_from_file_name
from ytqa.transcripts._media import _ASR_EXTRA, SAMPLE_RATE, decode_audio, probe_media
from ytqa.transcripts._model import Segment, Transcript, _custom_video_id

if TYPE_CHECKING:
    import numpy as np
    from faster_whisper import WhisperModel
    from youtube_transcript_api.proxies import ProxyConfig

logger = logging.getLogger(__name__)


AsrMode = Literal["auto", "always", "never"]
ASR_MODES: tuple[AsrMode, ...] = ("auto", "always", "never")
"""``auto``: YouTube's captions when a video has them, else speech-to-text;
``always``: speech-to-text even when captions exist; ``never``: captions only."""

WHISPER_MODELS = {
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en",
    "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en",
    "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en",
    "medium": "Systran/faster-whisper-medium",
    "large-v3": "Systran/faster-whisper-large-v3",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}
"""Whisper models by name, and the CTranslate2 conversions on the Hugging Face hub.
Offline, a model loads from ``$YTQA_MODELS_DIR/<last part of the hub name>``
(``faster-whisper-tiny.en``), the rule of the embedding models."""

DEFAULT_CPU_MODEL = "base"
"""Multilingual and about 10-15x faster than real time on two laptop cores (int8)."""
DEFAULT_GPU_MODEL = "turbo"
"""large-v3-turbo: near large-v3 quality at several times its speed on a GPU."""

DEFAULT_MAX_DURATION = 4 * 3600.0
"""Seconds of audio transcribed at most (the decoded audio is held in memory, 64 kB/s)."""

MAX_CUE_SECONDS = 10.0
"""A cue ends at a sentence end, at a pause, or before it grows past this many seconds."""
CUE_PAUSE_SECONDS = 1.0
"""A silence this long between two words ends a cue (Whisper may drop punctuation)."""
LANGUAGE_PROBABILITY = 0.1
"""A listed language at least this probable is taken over Whisper's detected one."""


CPU_BEAM_SIZE = 1
"""Greedy decoding on a CPU: 1.7x faster than a beam of 5 on the espeak script
(benchmarks/asr.py: tiny.en 25x against 13.5x real time), for a WER of 8 % against 6 %."""
GPU_BEAM_SIZE = 5
"""faster-whisper's own default, where the GPU makes the beam cheap."""
ASR_ENV = "YTQA_ASR"
ASR_MODEL_ENV = "YTQA_ASR_MODEL"
ASR_DEVICE_ENV = "YTQA_ASR_DEVICE"
ASR_COMPUTE_TYPE_ENV = "YTQA_ASR_COMPUTE_TYPE"
ASR_MAX_DURATION_ENV = "YTQA_ASR_MAX_DURATION"


_SENTENCE_END = re.compile(r"[.!?…。！？]['\"’”)\]]*$")

Progress = Callable[[float, float], None]
"""Called with (audio seconds transcribed, audio seconds in all): 0 first, the total last."""


@dataclass(frozen=True)
class SpeechToText:
    """How speech-to-text runs; every field left ``None`` takes its environment default.

    >>> SpeechToText("always", model="small", progress=lambda done, total: None)  # doctest: +SKIP

    ``mode`` is one of :data:`ASR_MODES` (``$YTQA_ASR``, else ``auto``);
    ``model`` a Whisper model name of :data:`WHISPER_MODELS`, a hub name or a
    folder (``$YTQA_ASR_MODEL``, else ``base`` on a CPU and ``turbo`` on a
    GPU); ``device`` ``auto``, ``cpu`` or ``cuda`` (``$YTQA_ASR_DEVICE``);
    ``compute_type`` a CTranslate2 type (``$YTQA_ASR_COMPUTE_TYPE``, else
    ``int8`` on a CPU and ``float16`` on a GPU); ``max_duration`` the most
    seconds of audio to transcribe (``$YTQA_ASR_MAX_DURATION``, else 4 hours);
    ``vad`` filters out the parts without speech; ``progress`` is called as
    the transcription advances, with (seconds done, seconds in all).
    """

    mode: AsrMode | None = None
    model: str | None = None
    device: str | None = None
    compute_type: str | None = None
    max_duration: float | None = None
    vad: bool = True
    progress: Progress | None = field(default=None, compare=False, repr=False)

    @property
    def model_name(self) -> str:
        """The Whisper model to use: the one asked for, else the default for the device."""
        if self.model:
            return self.model
        return DEFAULT_GPU_MODEL if self.device_name == "cuda" else DEFAULT_CPU_MODEL

    @property
    def device_name(self) -> str:
        """``cpu`` or ``cuda`` (``auto``: CUDA when CTranslate2 sees a GPU)."""
        device = (self.device or "auto").strip().lower()
        if device != "auto":
            return device
        return "cuda" if _cuda_devices() > 0 else "cpu"

    @property
    def compute_type_name(self) -> str:
        if self.compute_type:
            return self.compute_type
        return "float16" if self.device_name == "cuda" else "int8"

    @property
    def duration_limit(self) -> float:
        return DEFAULT_MAX_DURATION if self.max_duration is None else float(self.max_duration)


def speech_to_text(
    asr: AsrMode | SpeechToText | None = None, asr_model: str | os.PathLike[str] | None = None
) -> SpeechToText:
    """The speech-to-text settings of ``asr=`` and ``asr_model=``, environment defaults filled.

    Raises:
        SpeechToTextError: an unknown mode, or an environment variable that is not valid.
    """
    if asr is not None and not isinstance(asr, (str, SpeechToText)):
        raise SpeechToTextError(
            f"asr must be 'auto', 'always', 'never' or a SpeechToText, not {type(asr).__name__}."
        )
    settings = asr if isinstance(asr, SpeechToText) else SpeechToText(mode=asr)
    mode = settings.mode or os.environ.get(ASR_ENV, "").strip().lower() or "auto"
    if mode not in ASR_MODES:
        where = "asr=" if settings.mode else ASR_ENV
        raise SpeechToTextError(
            f"{where} {mode!r} is not a speech-to-text mode: use 'auto' (captions when YouTube "
            "has them), 'always' or 'never'."
        )
    model = asr_model if asr_model is not None else settings.model
    model = os.fspath(model).strip() if model is not None else None
    model = model or os.environ.get(ASR_MODEL_ENV, "").strip() or None
    if model is not None and _looks_like_path(model):
        model = str(Path(model).expanduser().resolve())
    return dataclasses.replace(
        settings,
        mode=mode,
        model=model,
        device=settings.device or os.environ.get(ASR_DEVICE_ENV, "").strip() or None,
        compute_type=settings.compute_type
        or os.environ.get(ASR_COMPUTE_TYPE_ENV, "").strip()
        or None,
        max_duration=_max_duration(settings.max_duration),
    )


def _max_duration(given: float | None) -> float:
    if given is not None:
        if not given > 0:
            raise SpeechToTextError(
                f"max_duration must be a positive number of seconds, not {given}."
            )
        return float(given)
    text = os.environ.get(ASR_MAX_DURATION_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_DURATION
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise SpeechToTextError(
            f"{ASR_MAX_DURATION_ENV}={text!r} is not a positive number of seconds; "
            "set it like YTQA_ASR_MAX_DURATION=21600 (six hours), or unset it."
        )
    return value


# ---------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------

_engines: dict[tuple[str, str, str], WhisperModel] = {}
_engines_lock = threading.Lock()


def _cuda_devices() -> int:
    try:
        import ctranslate2
    except ImportError:
        return 0
    try:
        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # a broken CUDA install: run on the CPU
        return 0


def whisper_location(model: str) -> str:
    """Where the Whisper *model* loads from: its folder, else ``$YTQA_MODELS_DIR/<base
    name>``, else its Hugging Face hub name (faster-whisper downloads it there).

    Raises:
        SpeechToTextError: *model* is neither a known name, a hub name nor a model folder.
    """
    if _looks_like_path(model):
        folder = Path(model).expanduser()
        if not (folder / "model.bin").is_file():
            raise SpeechToTextError(
                f"The Whisper model folder {folder} holds no model.bin. Pass a folder of a "
                "CTranslate2 (faster-whisper) model, or a model name such as 'base'."
            )
        return str(folder)
    repository = WHISPER_MODELS.get(model) or (model if "/" in model else None)
    if repository is None:
        raise SpeechToTextError(
            f"Unknown Whisper model {model!r}. Use one of {', '.join(WHISPER_MODELS)}, a "
            "Hugging Face name of a CTranslate2 conversion (e.g. Systran/faster-whisper-small), "
            "or a folder."
        )
    local = models_dir_folder(repository.rstrip("/").rsplit("/", 1)[-1])
    return str(local) if local is not None else repository


def whisper_model(settings: SpeechToText | None = None) -> WhisperModel:
    """The faster-whisper model of *settings*, loaded once per process, model and device.

    Raises:
        MissingDependencyError: faster-whisper is not installed.
        SpeechToTextError: the model cannot be found or loaded.
    """
    settings = settings or speech_to_text()
    try:
        from faster_whisper import WhisperModel
    except ImportError as exc:
        raise MissingDependencyError("Speech-to-text", _ASR_EXTRA) from exc
    name = settings.model_name
    location = whisper_location(name)
    device, compute_type = settings.device_name, settings.compute_type_name
    key = (location, device, compute_type)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            return engine
        try:
            engine = WhisperModel(
                location, device=device, compute_type=compute_type, cpu_threads=_cpu_threads()
            )
        except Exception as exc:  # hub errors, OSError, CTranslate2's RuntimeError/ValueError
            raise SpeechToTextError(
                f"Could not load Whisper model {name!r} from {location!r} on {device} "
                f"({compute_type}): {type(exc).__name__}: {str(exc).rstrip('. ')}. "
                f"{_model_advice(name, location)}"
            ) from exc
        _engines[key] = engine
        return engine


def _model_advice(name: str, location: str) -> str:
    if Path(location).is_dir():
        return (
            "Check the folder holds a complete CTranslate2 Whisper model, or set "
            "YTQA_ASR_DEVICE=cpu if the GPU libraries (CUDA, cuDNN) are missing."
        )
    base = location.rsplit("/", 1)[-1]
    return (
        "Connect to the internet once so that it downloads from the Hugging Face hub (and "
        f"check HF_HUB_OFFLINE is not set), or copy the model into $YTQA_MODELS_DIR/{base}, "
        f"or pick another with asr_model= (e.g. {DEFAULT_CPU_MODEL!r})."
    )


def _cpu_threads() -> int:
    # CTranslate2 takes 4 threads by default: too many on a 2-core laptop, too few on 16.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 4


def _choose_language(
    engine: WhisperModel, audio: np.ndarray, languages: Sequence[str], vad: bool
) -> str | None:
    """The language to transcribe in: English for an English-only model; else the
    detected one, unless a language of *languages* is plausible (a wrong guess on
    a short or noisy start); None lets Whisper detect it."""
    if not engine.model.is_multilingual:
        return "en"
    wanted = [code.split("-")[0].split("_")[0].lower() for code in languages]
    if not wanted:
        return None
    detected, _, probabilities = engine.detect_language(audio, vad_filter=vad)
    if detected in wanted:
        return str(detected)
    chances = dict(probabilities)
    best = max(wanted, key=lambda code: chances.get(code, 0.0))
    return best if chances.get(best, 0.0) >= LANGUAGE_PROBABILITY else str(detected)


class _Cues:
    """Whisper's timed words grouped into cues: a sentence, up to a pause or ~10 s."""

    def __init__(self) -> None:
        self.cues: list[Segment] = []
        self._words: list[tuple[str, float, float]] = []

    def add(self, text: str, start: float, end: float) -> None:
        if not text.strip():
            return
        too_long = bool(self._words) and end - self._words[0][1] > MAX_CUE_SECONDS
        if too_long or (self._words and start - self._words[-1][2] >= CUE_PAUSE_SECONDS):
            self.flush()
        self._words.append((text, start, max(start, end)))
        if _SENTENCE_END.search(text.strip()):
            self.flush()

    def flush(self) -> None:
        if not self._words:
            return
        text = " ".join("".join(word for word, _, _ in self._words).split())
        start, end = self._words[0][1], max(e for _, _, e in self._words)
        self._words = []
        if text:
            self.cues.append(Segment(text, round(start, 3), round(end - start, 3)))


def _transcribe(
    engine: WhisperModel, audio: np.ndarray, languages: Sequence[str], settings: SpeechToText
) -> tuple[list[Segment], str]:
    """Cues and language code of *audio*; progress reported as segments come."""
    total = audio.shape[0] / SAMPLE_RATE
    report = settings.progress or (lambda done, all_: None)
    report(0.0, total)
    language = _choose_language(engine, audio, languages, settings.vad)
    segments, info = engine.transcribe(
        audio,
        language=language,
        beam_size=GPU_BEAM_SIZE if settings.device_name == "cuda" else CPU_BEAM_SIZE,
        vad_filter=settings.vad,
        word_timestamps=True,
    )
    cues = _Cues()
    for segment in segments:  # a generator: the work happens as it is consumed
        words = segment.words or []
        if words:
            for word in words:
                cues.add(word.word, float(word.start), float(word.end))
        else:
            cues.add(" " + segment.text, float(segment.start), float(segment.end))
        report(min(float(segment.end), total), total)
    cues.flush()
    report(total, total)
    return cues.cues, str(info.language)


def _cache_key(model: str, languages: Sequence[str]) -> str:
    return json.dumps({"asr_model": model, "languages": list(languages)}, sort_keys=True)


def _file_video_id(file: Path, video_id: str | None) -> str:
    if video_id is not None:
        return _custom_video_id(video_id)
    name_id, _ = _names_from_file_name(file.name)  # yt-dlp's "Title [ID].webm"
    if name_id:
        return name_id
    digest = hashlib.sha256()
    try:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise MediaFileError(
            file, f"cannot read it ({exc.strerror or exc})", "Check the path and its permissions."
        ) from exc
    return "local-" + digest.hexdigest()[:10]


def transcribe_file(
    path: str | os.PathLike[str],
    *,
    languages: Sequence[str] = (),
    video_id: str | None = None,
    asr: AsrMode | SpeechToText | None = None,
    asr_model: str | os.PathLike[str] | None = None,
    refresh: bool = False,
) -> Transcript:
    """Transcribe the recording at *path*, or read its transcript from the cache.

    The video ID is *video_id*, else the YouTube ID in a yt-dlp file name
    (``Title [ID].webm``), else ``local-`` and a hash of the file's bytes, so
    that a renamed copy is still the same recording. Cached per video, Whisper
    model and *languages*; ``refresh=True`` transcribes again.

    Raises:
        MediaFileError: no audio stream, undecodable or truncated, or no speech in it.
        AudioTooLongError: longer than the settings' ``max_duration``.
        SpeechToTextError: the Whisper model cannot be loaded; ``asr='never'``.
        MissingDependencyError: the ``ytqa[asr]`` extra is not installed.
    """
    settings = speech_to_text(asr, asr_model)
    file = Path(path)
    if settings.mode == "never":
        raise SpeechToTextError(
            f"{file} is a recording, which needs speech-to-text, but asr='never' (or "
            f"{ASR_ENV}=never) turns it off. Use asr='auto', or pass its transcript file."
        )
    info = probe_media(file)  # a bad file fails here, before any model loads
    if info.duration is not None and info.duration > settings.duration_limit:
        raise AudioTooLongError(str(file), info.duration, settings.duration_limit)
    vid = _file_video_id(file, video_id)
    model = settings.model_name
    key = _cache_key(model, languages)
    source = str(file.resolve())
    if not refresh:
        cached = _read_cache_file(_cache_path(vid, key), vid)
        if cached is not None:
            logger.debug("transcript of %s read from the cache", file)
            return cached if cached.source == source else dataclasses.replace(cached, source=source)
    engine = whisper_model(settings)
    audio = decode_audio(file, max_duration=settings.duration_limit)
    cues, language = _transcribe(engine, audio, languages, settings)
    if not cues:
        raise MediaFileError(
            file,
            "no speech was recognised in it",
            "Check that it holds speech; very quiet recordings may need asr=SpeechToText("
            "vad=False).",
        )
    transcript = Transcript(
        video_id=vid,
        segments=tuple(cues),
        language=language,
        language_code=language,
        is_generated=True,
        title=info.title or _title_from_file_name(file.name),
        channel=info.artist,
        source=source,
        asr_model=model,
    )
    # Written only now, atomically: a run stopped part-way leaves no partial transcript.
    _save_quietly(transcript, key)
    return transcript


# ---------------------------------------------------------------------------
# YouTube videos
# ---------------------------------------------------------------------------


def has_no_captions(error: TranscriptError) -> bool:
    """Whether *error* says the video has no captions at all (not just none in a language)."""
    if isinstance(error, TranscriptsDisabledError):
        return True
    return isinstance(error, NoTranscriptFoundError) and not error.available


def cached_youtube_transcript(
    video_id: str, languages: Sequence[str], settings: SpeechToText
) -> Transcript | None:
    """The cached speech-to-text transcript of a YouTube video, or None."""
    key = _cache_key(settings.model_name, languages)
    return _read_cache_file(_cache_path(video_id, key), video_id)


def transcribe_youtube(
    video_id: str,
    *,
    languages: Sequence[str] = (),
    proxy: str | ProxyConfig | None = None,
    asr: AsrMode | SpeechToText | None = None,
    asr_model: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    captions_error: TranscriptError | None = None,
    cookies: str | os.PathLike[str] | None = None,
) -> Transcript:
    """Transcribe a YouTube video from its audio (downloaded with yt-dlp), or read the cache.

    *cookies* (a Netscape ``cookies.txt``) go to yt-dlp with the download.

    *captions_error* is why its captions could not be used (``asr='auto'``):
    without the ``ytqa[asr]`` extra, the error then says how to get it.

    Raises:
        NoCaptionsError: *captions_error* is given and faster-whisper is missing.
        MissingDependencyError: faster-whisper or yt-dlp is missing.
        AudioDownloadError, RequestBlockedError, NetworkError, VideoUnavailableError:
            the audio could not be downloaded (the message says why and what to do).
        AudioTooLongError, MediaFileError, SpeechToTextError: as :func:`transcribe_file`.
    """
    settings = speech_to_text(asr, asr_model)
    if not refresh:
        cached = cached_youtube_transcript(video_id, languages, settings)
        if cached is not None:
            return cached
    try:
        engine = whisper_model(settings)  # before the download: a bad model fails fast
    except MissingDependencyError as exc:
        if captions_error is not None:
            raise NoCaptionsError(video_id) from captions_error
        raise MissingDependencyError("Speech-to-text of YouTube videos", _ASR_EXTRA) from exc
    import tempfile

    with tempfile.TemporaryDirectory(prefix="ytqa-audio-") as folder:
        audio_file, info = download_audio(
            video_id, Path(folder), proxy=proxy, max_duration=settings.duration_limit,
            cookies=cookies,
        )
        audio = decode_audio(audio_file, max_duration=settings.duration_limit)
    cues, language = _transcribe(engine, audio, languages, settings)
    if not cues:
        raise AudioDownloadError(
            video_id,
            "no speech was recognised in its audio",
            "Check that the video has speech; pass a transcript file otherwise.",
        )

    def text(name: str) -> str | None:
        value = info.get(name)
        return value.strip() or None if isinstance(value, str) else None

    transcript = Transcript(
        video_id=video_id,
        segments=tuple(cues),
        language=language,
        language_code=language,
        is_generated=True,
        title=text("title"),
        channel=text("channel") or text("uploader"),
        source="youtube",
        asr_model=settings.model_name,
    )
    _save_quietly(transcript, _cache_key(settings.model_name, languages))
    return transcript
