"""Speech-to-text: speed, word error rate and timestamp error of each packaged Whisper model.

    python benchmarks/asr.py                        # tiny.en and base, the script 4 times over
    python benchmarks/asr.py --repeat 8 --models tiny.en
    python benchmarks/asr.py --device cuda --models base    # on a GPU machine

The audio is the script of ``tests/speech_support.py`` spoken by espeak-ng
(``apt-get install espeak-ng``), repeated ``--repeat`` times, every sentence at a
known moment. Each model runs in a fresh subprocess (so that the peak memory is its
own), through the path a user's file takes: ``ytqa.transcripts.transcribe_file`` (decoding
with PyAV, voice-activity filter, word timestamps, cues), never from the cache.

Printed per model: audio seconds transcribed per wall second (the model loaded
beforehand, the load time beside it), CPU seconds spent per audio second (all
threads; on a shared machine this is steadier than the wall time, and on an idle
one the wall speed is about cores / this), word error rate against the script, the error
of each sentence's first cue against the sentence's true start (mean and max), and
the peak resident memory of the process. Targets on a 2-core CPU: tiny.en at least
20x real time, base at least 10x.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, peak_rss_mib, setup_offline

TARGETS = {"tiny.en": 20.0, "base": 10.0}
MODEL_FOLDERS = {"tiny.en": "faster-whisper-tiny.en", "base": "faster-whisper-base"}


def run_one(model: str, audio: Path, script: Path, device: str | None) -> dict[str, object]:
    """Transcribe *audio* with *model* in this process; the figures as a dict."""
    setup_offline()
    os.environ["YTQA_HOME"] = tempfile.mkdtemp(prefix="ytqa-bench-asr-")
    from tests.speech_support import word_error_rate
    from ytqa.transcripts import SpeechToText, speech_to_text, transcribe_file, whisper_model

    expected = json.loads(script.read_text(encoding="utf-8"))
    settings = speech_to_text(SpeechToText(model=model, device=device))
    started = time.perf_counter()
    whisper_model(settings)
    load = time.perf_counter() - started
    started, cpu_started = time.perf_counter(), time.process_time()
    transcript = transcribe_file(audio, asr=settings, refresh=True)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    starts = [cue.start for cue in transcript.segments]
    errors = [min(abs(s - true) for s in starts) for true in expected["starts"]]
    return {
        "model": model,
        "device": settings.device_name,
        "compute_type": settings.compute_type_name,
        "audio_s": expected["duration"],
        "load_s": load,
        "wall_s": wall,
        "speed": expected["duration"] / wall,
        "cpu_s": cpu,
        "wer": word_error_rate(expected["text"], transcript.text),
        "start_error_mean_s": sum(errors) / len(errors),
        "start_error_max_s": max(errors),
        "cues": len(transcript.segments),
        "peak_rss_mib": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base", help="comma-separated Whisper models")
    parser.add_argument("--repeat", type=int, default=4, help="times the script is spoken")
    parser.add_argument("--device", default=None, help="cpu or cuda [default: auto]")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--audio", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--script", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.audio, args.script, args.device)))
        return

    models_dir = setup_offline()
    from tests.speech_support import espeak_missing, spoken_script

    if reason := espeak_missing():
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory(prefix="ytqa-bench-audio-") as folder:
        spoken = spoken_script(Path(folder), repeat=args.repeat)
        script = Path(folder) / "script.json"
        script.write_text(
            json.dumps({"text": spoken.text, "starts": spoken.starts, "duration": spoken.duration}),
            encoding="utf-8",
        )
        print(
            f"audio: espeak-ng script x{args.repeat}, {spoken.duration:.0f} s, "
            f"{len(spoken.sentences)} sentences; {os.cpu_count()} CPU cores"
        )
        header = (
            f"{'model':<9} {'device':<11} {'speed':>8} {'target':>7} {'CPU s/audio s':>14} "
            f"{'load':>6} {'WER':>6} {'start err mean/max':>19} {'peak RSS':>9}"
        )
        print(header)
        for model in [m.strip() for m in args.models.split(",") if m.strip()]:
            folder_name = MODEL_FOLDERS.get(model)
            if folder_name and not (models_dir / folder_name / "model.bin").is_file():
                print(f"{model:<9} not installed (see tests/offline_models.py)")
                continue
            command = [
                sys.executable, __file__, "--one", model, "--audio", str(spoken.wav),
                "--script", str(script),
            ]
            if args.device:
                command += ["--device", args.device]
            done = subprocess.run(
                command, cwd=REPO_ROOT, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                print(f"{model:<9} failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(done.stdout.strip().splitlines()[-1])
            target = TARGETS.get(model)
            print(
                f"{model:<9} {row['device'] + '/' + row['compute_type']:<11} "
                f"{row['speed']:>7.1f}x {(f'{target:.0f}x' if target else '-'):>7} "
                f"{row['cpu_s'] / row['audio_s']:>14.3f} "
                f"{row['load_s']:>5.1f}s {row['wer']:>6.1%} "
                f"{row['start_error_mean_s']:>8.2f}/{row['start_error_max_s']:.2f} s "
                f"{row['peak_rss_mib']:>6.0f} MiB"
            )


if __name__ == "__main__":
    main()
