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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ytqa.errors import (
    AudioDownloadError,
    AudioTooLongError,
    MediaFileError,
    MissingDependencyError,
    NetworkError,
    NoCaptionsError,
    RequestBlockedError,
    SpeechToTextError,
    TranscriptError,
    VideoUnavailableError,
    VideoUnplayableError,
    YtqaError,
)
from ytqa.models import _looks_like_path  # the embedding models' rule for "a folder"
from ytqa.video import format_timestamp, watch_url

if TYPE_CHECKING:
    import numpy as np
    from faster_whisper import WhisperModel
    from youtube_transcript_api.proxies import ProxyConfig

    from ytqa.transcripts import Segment, Transcript

__all__ = [
    "ASR_MODES",
    "MEDIA_SUFFIXES",
    "WHISPER_MODELS",
    "AsrMode",
    "MediaInfo",
    "SpeechToText",
    "cached_youtube_transcript",
    "decode_audio",
    "download_audio",
    "has_no_captions",
    "is_media_file",
    "media_files",
    "probe_media",
    "speech_to_text",
    "transcribe_file",
    "transcribe_youtube",
    "whisper_location",
    "whisper_model",
]

logger = logging.getLogger(__name__)

MEDIA_SUFFIXES = (
    ".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus",
    ".webm", ".mp4", ".mkv", ".mov",
)
"""File name endings read as recordings to transcribe (audio or video with sound)."""

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

SAMPLE_RATE = 16_000
BEAM_SIZE = 5
ASR_ENV = "YTQA_ASR"
ASR_MODEL_ENV = "YTQA_ASR_MODEL"
ASR_DEVICE_ENV = "YTQA_ASR_DEVICE"
ASR_COMPUTE_TYPE_ENV = "YTQA_ASR_COMPUTE_TYPE"
ASR_MAX_DURATION_ENV = "YTQA_ASR_MAX_DURATION"

_ASR_EXTRA = "pip install 'ytqa[asr]'"
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
    from ytqa.models import models_dir_folder

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


# ---------------------------------------------------------------------------
# Media files
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaInfo:
    """What a media file declares about its first audio stream."""

    duration: float | None
    """Seconds of audio the file declares (None when it does not say)."""
    codec: str
    title: str | None = None
    artist: str | None = None


def is_media_file(path: str | os.PathLike[str]) -> bool:
    """Whether *path*'s name ends with one of :data:`MEDIA_SUFFIXES`."""
    return Path(path).suffix.lower() in MEDIA_SUFFIXES


def media_files(folder: str | os.PathLike[str], *, besides: Iterable[Path] = ()) -> list[Path]:
    """The recordings in *folder*, sorted by name, but none of a video that *besides*
    (its transcript files) holds already: a transcript beats transcribing again."""
    from ytqa.transcripts import _base_name

    taken = {_base_name(file.name) for file in besides}
    found = [
        file
        for file in Path(folder).iterdir()
        if not file.name.startswith(".")
        and is_media_file(file)
        and file.is_file()
        and _base_name(file.name) not in taken
    ]
    return sorted(found, key=lambda file: file.name)


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise MissingDependencyError("Transcribing audio and video files", _ASR_EXTRA) from exc
    return av


def _open(path: Path) -> Any:
    av = _av()
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise MediaFileError(
            path,
            "it cannot be decoded as audio or video; it may be damaged or incomplete "
            f"({_ffmpeg_reason(exc)})",
        ) from exc
    except OSError as exc:
        raise MediaFileError(
            path, f"cannot read it ({exc.strerror or exc})", "Check the path and its permissions."
        ) from exc


def _ffmpeg_reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())[:160] or type(exc).__name__


def _audio_stream(container: Any, path: Path) -> Any:
    stream = next(iter(container.streams.audio), None)
    if stream is None:
        kinds = "only video" if container.streams.video else "no audio or video"
        raise MediaFileError(
            path,
            f"it has no audio stream ({kinds})",
            "Pass the recording with its sound track, or its transcript file.",
        )
    return stream


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000
    return None


def _wav_share(path: Path) -> float | None:
    """For a WAV file whose header declares more audio than the file holds, the share of
    it that is there; else None. (FFmpeg quietly takes the file's size instead.)"""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(12)
            if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk, length = handle.read(4), int.from_bytes(handle.read(4), "little")
                if chunk == b"data":
                    if length in (0, 0xFFFFFFFF):  # written by a stream: no size known
                        return None
                    present = size - position - 8
                    return present / length if present < length else None
                position += 8 + length + (length & 1)
    except OSError:
        return None
    return None


def probe_media(path: str | os.PathLike[str]) -> MediaInfo:
    """Read what *path* declares (duration, codec, title and artist tags), decoding nothing.

    Raises:
        MediaFileError: the file cannot be opened, or it has no audio stream.
        MissingDependencyError: PyAV (installed with ``ytqa[asr]``) is missing.
    """
    file = Path(path)
    with _open(file) as container:
        stream = _audio_stream(container, file)
        tags = {str(k).lower(): str(v).strip() for k, v in (container.metadata or {}).items()}
        return MediaInfo(
            duration=_declared_duration(container, stream),
            codec=str(stream.codec_context.name),
            title=tags.get("title") or None,
            artist=tags.get("artist") or tags.get("album_artist") or None,
        )


def decode_audio(path: str | os.PathLike[str], *, max_duration: float | None = None) -> np.ndarray:
    """The first audio stream of *path* as 16 kHz mono float32 samples.

    Damaged packets are skipped, as players do; a file that decodes to
    clearly less than it declares (cut off by a crash or an interrupted
    copy) is an error rather than half a transcript.

    Raises:
        MediaFileError: no audio stream, nothing decodable, or truncated.
        AudioTooLongError: more than *max_duration* seconds of audio.
    """
    import numpy as np

    av = _av()
    file = Path(path)
    limit = None if max_duration is None else int(max_duration * SAMPLE_RATE)
    pieces: list[np.ndarray] = []
    samples = 0
    broken_at: float | None = None
    with _open(file) as container:
        stream = _audio_stream(container, file)
        declared = _declared_duration(container, stream)
        if max_duration is not None and declared is not None and declared > max_duration:
            raise AudioTooLongError(str(file), declared, max_duration)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

        def keep(frames: Iterable[Any]) -> None:
            nonlocal samples
            for frame in frames:
                for out in resampler.resample(frame):
                    array = out.to_ndarray().reshape(-1)
                    pieces.append(array)
                    samples += array.shape[0]
            if limit is not None and samples > limit:
                raise AudioTooLongError(str(file), samples / SAMPLE_RATE, limit / SAMPLE_RATE)

        try:
            for packet in container.demux(stream):
                try:
                    keep(packet.decode())
                except av.error.InvalidDataError:
                    continue  # one damaged packet: skip it
            for out in resampler.resample(None):  # what the resampler still holds
                array = out.to_ndarray().reshape(-1)
                pieces.append(array)
                samples += array.shape[0]
        except av.FFmpegError as exc:
            if not samples:
                raise MediaFileError(
                    file, f"its audio cannot be decoded ({_ffmpeg_reason(exc)})"
                ) from exc
            broken_at = samples / SAMPLE_RATE
    decoded = samples / SAMPLE_RATE
    if not samples:
        raise MediaFileError(file, "no audio could be decoded from it")
    share = _wav_share(file)
    if share is not None:
        declared = decoded / share
    missing = (declared - decoded) if declared is not None else 0.0
    if broken_at is not None or missing > max(2.0, 0.1 * (declared or 0.0)):
        said = f"it declares {format_timestamp(declared)} of audio, but" if declared else "but"
        raise MediaFileError(
            file,
            f"it is truncated or damaged: {said} decoding stops at {format_timestamp(decoded)}",
            "Copy or download it again (an interrupted download or recording leaves such "
            "files), or cut it at that point with an audio editor and pass that file.",
        )
    return np.concatenate(pieces).astype(np.float32, copy=False)


# ---------------------------------------------------------------------------
# Transcribing
# ---------------------------------------------------------------------------


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
        from ytqa.transcripts import Segment

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
        beam_size=BEAM_SIZE,
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
    from ytqa.transcripts import _custom_video_id, _names_from_file_name

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
    from ytqa.transcripts import (
        Transcript,
        _cache_path,
        _read_cache_file,
        _save_quietly,
        _title_from_file_name,
    )

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
    from ytqa.errors import NoTranscriptFoundError, TranscriptsDisabledError

    if isinstance(error, TranscriptsDisabledError):
        return True
    return isinstance(error, NoTranscriptFoundError) and not error.available


def cached_youtube_transcript(
    video_id: str, languages: Sequence[str], settings: SpeechToText
) -> Transcript | None:
    """The cached speech-to-text transcript of a YouTube video, or None."""
    from ytqa.transcripts import _cache_path, _read_cache_file

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
) -> Transcript:
    """Transcribe a YouTube video from its audio (downloaded with yt-dlp), or read the cache.

    *captions_error* is why its captions could not be used (``asr='auto'``):
    without the ``ytqa[asr]`` extra, the error then says how to get it.

    Raises:
        NoCaptionsError: *captions_error* is given and faster-whisper is missing.
        MissingDependencyError: faster-whisper or yt-dlp is missing.
        AudioDownloadError, RequestBlockedError, NetworkError, VideoUnavailableError:
            the audio could not be downloaded (the message says why and what to do).
        AudioTooLongError, MediaFileError, SpeechToTextError: as :func:`transcribe_file`.
    """
    from ytqa.transcripts import Transcript, _save_quietly

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
            video_id, Path(folder), proxy=proxy, max_duration=settings.duration_limit
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


def _proxy_url(proxy: str | ProxyConfig | None) -> str | None:
    from ytqa.transcripts import _resolve_proxy

    config = _resolve_proxy(proxy)
    if config is None:
        return None
    proxies = config.to_requests_dict()
    return proxies.get("https") or proxies.get("http")


def download_audio(
    video_id: str,
    folder: Path,
    *,
    proxy: str | ProxyConfig | None = None,
    max_duration: float | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Download the best audio-only stream of a YouTube video into *folder* with yt-dlp.

    No post-processing runs (no ffmpeg needed): the file is the stream as
    YouTube serves it (usually .webm/opus or .m4a). Returns the file and
    yt-dlp's info dict. The duration is checked before anything downloads.

    Raises:
        MissingDependencyError: yt-dlp is not installed.
        AudioTooLongError: the video is longer than *max_duration*.
        AudioDownloadError, RequestBlockedError, NetworkError, VideoUnavailableError,
        VideoUnplayableError: yt-dlp could not download it (the message says what to do).
    """
    try:
        import yt_dlp
    except ImportError as exc:
        raise MissingDependencyError("Speech-to-text of YouTube videos", _ASR_EXTRA) from exc
    from ytqa.transcripts import HTTP_TIMEOUT, _YtDlpLogger

    options: dict[str, Any] = {
        "format": "bestaudio/best",
        "outtmpl": str(folder / "%(id)s.%(ext)s"),
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "postprocessors": [],
        "fixup": "never",  # the fix-ups run ffmpeg; PyAV reads the stream as it is
        "cachedir": False,
        "socket_timeout": HTTP_TIMEOUT[1],
        "retries": 3,
        "logger": _YtDlpLogger(),
    }
    proxy_url = _proxy_url(proxy)
    if proxy_url:
        options["proxy"] = proxy_url
    try:
        with yt_dlp.YoutubeDL(options) as downloader:
            info = downloader.extract_info(watch_url(video_id), download=False)
            if not isinstance(info, dict):
                raise AudioDownloadError(video_id, "yt-dlp returned no video information")
            if info.get("is_live") or info.get("live_status") in ("is_live", "is_upcoming"):
                raise AudioDownloadError(
                    video_id,
                    "it is a live stream (or has not started yet)",
                    "Transcribe it once the stream has ended and YouTube has processed it.",
                )
            duration = float(info.get("duration") or 0.0)
            if max_duration is not None and duration > max_duration:  # before any download
                raise AudioTooLongError(f"Video {video_id}", duration, max_duration)
            info = downloader.process_ie_result(info, download=True)
    except YtqaError:
        raise
    except Exception as exc:  # yt-dlp raises DownloadError and friends
        raise _download_error(exc, video_id, proxy_url is not None) from exc
    downloads = info.get("requested_downloads") or [info]
    paths = [Path(str(d["filepath"])) for d in downloads if d.get("filepath")]
    path = next((p for p in paths if p.is_file()), None)
    if path is None:
        raise AudioDownloadError(video_id, "yt-dlp reported no downloaded file")
    return path, info


_PO_TOKEN_GUIDE = "https://github.com/yt-dlp/yt-dlp/wiki/PO-Token-Guide"


def _download_error(exc: Exception, video_id: str, proxied: bool) -> YtqaError:
    """The ytqa error for a failed yt-dlp download, from yt-dlp's message."""
    message = " ".join(str(exc).replace("ERROR:", "").split())
    text = message.lower().replace("’", "'")
    yourself = (
        "or download the audio yourself (yt-dlp -f bestaudio --cookies-from-browser BROWSER "
        f"{watch_url(video_id)}) and pass the file"
    )
    if "confirm your age" in text or "age-restricted" in text or "inappropriate for some" in text:
        return AudioDownloadError(
            video_id,
            "the video is age-restricted, so YouTube serves it only to signed-in users",
            f"Download the audio signed in ({yourself[3:]}).",
        )
    if "not a bot" in text or "sign in to confirm" in text or "captcha" in text:
        detail = "while downloading the audio, YouTube asked to sign in to confirm it is not a bot"
        if proxied:
            detail += ", even through the proxy"
        return RequestBlockedError(video_id, detail)
    if "po token" in text or "po_token" in text:
        return AudioDownloadError(
            video_id,
            "YouTube asks for a PO token to serve the audio",
            f"Upgrade yt-dlp (pip install -U yt-dlp), see {_PO_TOKEN_GUIDE}, {yourself}.",
        )
    if "http error 429" in text or "too many requests" in text or "rate-limited" in text:
        return RequestBlockedError(video_id, "HTTP 429 while downloading the audio")
    if "http error 403" in text or "forbidden" in text:
        return AudioDownloadError(
            video_id,
            "YouTube refused the audio download (HTTP 403; it may want a PO token, or block "
            "this IP)",
            f"Upgrade yt-dlp (pip install -U yt-dlp), retry through a proxy (proxy=...), "
            f"{yourself}.",
        )
    if "not available in your country" in text or "geo restrict" in text:
        return VideoUnplayableError(video_id, message[:200] or None)
    if "members" in text and ("only" in text or "join this channel" in text):
        return AudioDownloadError(
            video_id, "the video is for channel members only", f"Sign in as a member: {yourself}."
        )
    if (
        "private video" in text
        or "video unavailable" in text
        or "has been removed" in text
        or "does not exist" in text
    ):
        return VideoUnavailableError(video_id)
    if "requested format is not available" in text or "only images are available" in text:
        return AudioDownloadError(
            video_id,
            "YouTube offers no audio stream that yt-dlp can download here",
            f"Upgrade yt-dlp (pip install -U yt-dlp), {yourself}.",
        )
    if any(
        hint in text
        for hint in (
            "timed out", "urlopen error", "connection", "name or service not known",
            "temporary failure in name resolution", "network is unreachable", "unable to download",
        )
    ):
        return NetworkError(video_id, f"downloading the audio failed ({message[:200]})")
    return AudioDownloadError(video_id, message[:300] or type(exc).__name__)
