"""Recordings: which files are media, probing and decoding them to 16 kHz mono with PyAV
(installed with the ``ytqa[asr]`` extra; no ffmpeg binary). PyAV and numpy load lazily."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ytqa.errors import AudioTooLongError, MediaFileError, MissingDependencyError
from ytqa.transcripts._files import _base_name
from ytqa.video import format_timestamp

if TYPE_CHECKING:
    import numpy as np


MEDIA_SUFFIXES = (
    ".mp3", ".m4a", ".aac", ".wav", ".flac", ".ogg", ".opus",
    ".webm", ".mp4", ".mkv", ".mov",
)
"""File name endings read as recordings to transcribe (audio or video with sound)."""


SAMPLE_RATE = 16_000


_ASR_EXTRA = "pip install 'ytqa[asr]'"


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
