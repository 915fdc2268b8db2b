"""Spoken test audio for speech-to-text: a script read by espeak-ng, every sentence at a
known moment, and the same audio in other formats (encoded with PyAV). Not a test module;
the benchmarks use it too.

Each sentence is spoken to its own clip, and the clips are joined with silences between
them, so that the moment each sentence's speech starts is known to the sample.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SCRIPT = (
    "Bees carry pollen from one flower to the next, and many of the crops that farmers "
    "grow would fail without their help.",
    "The deepest part of the ocean is a dark and narrow trench, where the weight of the "
    "water above is enormous.",
    "A wormhole would be a kind of tunnel through space, a short path that links two "
    "places very far apart.",
    "Some languages have no known relatives at all, and nobody can say for sure where the "
    "people who spoke them came from.",
    "An index fund simply buys every stock in the market, instead of paying experts who "
    "try to pick the winners.",
    "The inventor spent his nights working on electric motors, and he dreamed of sending "
    "power through the air without any wires.",
    "Melting old cans down to make new metal saves most of the energy that digging fresh "
    "ore out of the ground would need.",
    "Every evening the lighthouse keeper climbed the long stairs to the top of the tower "
    "to light the great lamp.",
)
"""Eight sentences on eight topics, each one retrieval chunk long (about 30 tokens)."""

QUESTIONS = {
    "Why would farms struggle if insects disappeared?": 0,
    "Where is the sea at its deepest?": 1,
    "How does a passive investment fund choose its shares?": 4,
    "What did the man who looked after the beacon do each night?": 7,
}
"""Paraphrased questions, and the sentence of :data:`SCRIPT` that answers each."""

VOICE = "en-us"
WORDS_PER_MINUTE = 150
LEAD_SECONDS = 1.0
GAP_SECONDS = 1.5
TAIL_SECONDS = 1.0
_ONSET = 300  # |sample| above which a clip's speech has begun (16-bit samples)


@dataclass(frozen=True)
class SpokenScript:
    """A script spoken into one recording."""

    wav: Path
    sentences: tuple[str, ...]
    starts: tuple[float, ...]
    """Second at which each sentence's speech starts."""
    ends: tuple[float, ...]
    duration: float
    samples: Any  # int16 numpy array, mono
    rate: int

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def espeak_missing() -> str | None:
    """Why spoken audio cannot be made here, or None."""
    if shutil.which("espeak-ng") is None:
        return "espeak-ng is not installed (apt-get install espeak-ng; .ci/run installs it)"
    return None


def speak(text: str) -> tuple[np.ndarray, int]:
    """*text* spoken by espeak-ng: 16-bit mono samples and their rate."""
    import av

    wav = subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    with av.open(io.BytesIO(wav)) as container:
        stream = container.streams.audio[0]
        frames = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(frames).astype(np.int16), int(stream.rate)


def spoken_script(
    folder: Path, sentences: tuple[str, ...] = SCRIPT, *, repeat: int = 1, name: str = "talk"
) -> SpokenScript:
    """Speak *sentences* (*repeat* times over) into ``folder/<name>.wav``, silences between."""
    clips = [speak(sentence) for sentence in sentences]
    rate = clips[0][1]
    pieces: list[np.ndarray] = [np.zeros(int(LEAD_SECONDS * rate), np.int16)]
    starts: list[float] = []
    ends: list[float] = []
    position = len(pieces[0])
    for turn in range(repeat):
        for index, (clip, _) in enumerate(clips):
            if turn or index:
                gap = np.zeros(int(GAP_SECONDS * rate), np.int16)
                pieces.append(gap)
                position += len(gap)
            loud = np.flatnonzero(np.abs(clip.astype(np.int32)) > _ONSET)
            starts.append((position + int(loud[0])) / rate)
            ends.append((position + int(loud[-1])) / rate)
            pieces.append(clip)
            position += len(clip)
    pieces.append(np.zeros(int(TAIL_SECONDS * rate), np.int16))
    samples = np.concatenate(pieces)
    wav = folder / f"{name}.wav"
    encode(samples, rate, wav)
    return SpokenScript(
        wav, tuple(sentences) * repeat, tuple(starts), tuple(ends), len(samples) / rate,
        samples, rate,
    )


# How each format is written: (codec, sample rate or None for the source's, container).
FORMATS: dict[str, tuple[str, int | None, str | None]] = {
    ".wav": ("pcm_s16le", None, None),
    ".mp3": ("libmp3lame", None, None),
    ".m4a": ("aac", None, "ipod"),
    ".webm": ("libopus", 48_000, None),
    ".ogg": ("libopus", 48_000, None),
    ".flac": ("flac", None, None),
    ".mp4": ("aac", None, None),  # with a video stream too, as a screen recording has
}


def encode(samples: np.ndarray, rate: int, path: Path, *, video: bool | None = None) -> Path:
    """Write 16-bit mono *samples* to *path* in the format its ending names (:data:`FORMATS`).

    An ``.mp4`` also gets a small video stream (``video=False`` leaves it out);
    ``video=True`` with no samples writes a video with no sound at all.
    """
    import av

    codec, out_rate, container_format = FORMATS[path.suffix.lower()]
    with_video = path.suffix.lower() == ".mp4" if video is None else video
    with av.open(str(path), "w", format=container_format) as out:
        audio = None
        if len(samples):
            audio = out.add_stream(codec, rate=out_rate or rate, layout="mono")
        picture = None
        if with_video:
            picture = out.add_stream("mpeg4", rate=1)
            picture.width = picture.height = 64
            picture.pix_fmt = "yuv420p"
        if audio is not None:
            context = audio.codec_context
            resampler = av.AudioResampler(
                format=context.format.name,
                layout="mono",
                rate=context.sample_rate,
                frame_size=context.frame_size or None,
            )
            step = rate  # one second of source samples per frame given to the resampler
            for begin in range(0, len(samples), step):
                frame = av.AudioFrame.from_ndarray(
                    samples[begin : begin + step].reshape(1, -1), format="s16", layout="mono"
                )
                frame.rate = rate
                for piece in resampler.resample(frame):
                    out.mux(audio.encode(piece))
            for piece in resampler.resample(None):
                out.mux(audio.encode(piece))
            out.mux(audio.encode(None))
        if picture is not None:
            seconds = max(1, int(len(samples) / rate) if len(samples) else 3)
            for second in range(seconds):
                image = av.VideoFrame.from_ndarray(
                    np.full((64, 64, 3), (second * 20) % 256, np.uint8), format="rgb24"
                )
                image.pts = second
                out.mux(picture.encode(image.reformat(format="yuv420p")))
            out.mux(picture.encode(None))
    return path


def words(text: str) -> list[str]:
    """Lowercase words without punctuation, the form word error rates are counted in."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer

    return float(jiwer.wer(" ".join(words(reference)), " ".join(words(hypothesis))))
