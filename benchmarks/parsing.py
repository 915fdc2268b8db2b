"""Parsing and chunking time against input size, for the two shapes that were quadratic.

    python benchmarks/parsing.py [--sizes 1 2 4 8] [--baseline-sizes 0.03125 0.0625 0.125]

* **rolling VTT lines**: a WebVTT file of 4 cues, each showing the same long run of
  ``[Music]`` lines and then a last line of its own (a display that repeats what it
  shows), read with :func:`ytqa.read_transcript_file`: the rolling-caption
  de-duplication compares each cue with the one before;
* **spaceless CJK cue**: one cue of Japanese text without a space, cut with
  :func:`ytqa.chunk_transcript` and the MiniLM tokenizer (``max_tokens=40``): the
  cue is one "word" longer than a chunk, cut by characters.

Each size (MB of UTF-8 text) runs once, after one small warm-up; the script prints
seconds, seconds per MB and the growth of seconds per MB from the first size to the
last (1.0 means linear; quadratic work doubles it with each doubling of the size).

The baseline is the code these replaced (``QUADRATIC_*`` below, as of commit
7f21639), run on smaller sizes because it grows with the square of the input.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _common import setup_offline

MB = 1_000_000
CJK_SENTENCE = "日本語の文章には単語の間に空白がありません"


def rolling_vtt(size: int) -> str:
    """About *size* bytes of WebVTT: 4 cues repeating the same run of lines, then their own."""
    lines_per_cue = max(1, size // 4 // len("[Music]\n"))
    run = "\n".join(["[Music]"] * lines_per_cue)
    cues = [
        f"00:00:{n:02}.000 --> 00:00:{n + 1:02}.000\n{run}\nline {n} of its own\n"
        for n in range(4)
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def cjk_text(size: int) -> str:
    """About *size* bytes (UTF-8) of Japanese text without a space."""
    characters = size // 3
    repeats = characters // len(CJK_SENTENCE) + 1
    return (CJK_SENTENCE * repeats)[:characters]


def time_rolling(size: int, folder: Path) -> float:
    from ytqa import read_transcript_file

    path = folder / f"rolling-{size}.vtt"
    path.write_text(rolling_vtt(size), encoding="utf-8")
    began = time.perf_counter()
    transcript = read_transcript_file(path)
    elapsed = time.perf_counter() - began
    assert len(transcript.segments) == 4, "every cue adds its own last line"
    return elapsed


def time_cjk(size: int, folder: Path) -> float:
    from ytqa import Segment, Transcript, chunk_transcript

    text = cjk_text(size)
    transcript = Transcript("dQw4w9WgXcQ", (Segment(text, 0.0, 3600.0),), "ja", "ja", False)
    began = time.perf_counter()
    documents = chunk_transcript(transcript, model="minilm", max_tokens=40)
    elapsed = time.perf_counter() - began
    assert "".join(d.page_content for d in documents) == text
    return elapsed


# --- the replaced code, verbatim, as the baseline --------------------------------


def QUADRATIC_NEW_LINES(previous: list[str], current: list[str]) -> list[str]:  # noqa: N802
    for overlap in range(min(len(previous), len(current)), 0, -1):
        if previous[-overlap:-1] != current[: overlap - 1]:
            continue
        shown, line = previous[-1], current[overlap - 1]
        if line == shown:
            return current[overlap:]
        if line.startswith(shown + " "):
            return [line[len(shown) :].strip(), *current[overlap:]]
    return current


def QUADRATIC_CUT_CHARACTERS(  # noqa: N802
    unit: Any, a: int, b: int, tokenizer: Any, budget: int
) -> list[Any]:
    from ytqa.chunking import _interpolated, _token_counts

    pieces = []
    while a < b:
        size = b - a
        while size > 1:
            count = _token_counts(tokenizer, [unit.text[a : a + size]], special=False)[0]
            if count <= budget:
                break
            size = max(1, size * budget // (count + 1))
        text = unit.text[a : a + size]
        count = _token_counts(tokenizer, [text], special=False)[0]
        pieces.append(_interpolated(unit, a, a + size, text, count))
        a += size
    return pieces


@contextmanager
def baseline() -> Iterator[None]:
    """The old de-duplication and character cutting in place of the current ones."""
    import ytqa.chunking as chunking
    import ytqa.transcripts._files as transcripts

    saved = transcripts._new_lines, chunking._cut_characters
    transcripts._new_lines = QUADRATIC_NEW_LINES
    chunking._cut_characters = QUADRATIC_CUT_CHARACTERS
    try:
        yield
    finally:
        transcripts._new_lines, chunking._cut_characters = saved


def measure(
    name: str, run: Callable[[int, Path], float], sizes: list[float], folder: Path
) -> None:
    per_mb = []
    for size in sizes:
        seconds = run(int(size * MB), folder)
        per_mb.append(seconds / size)
        print(f"  {name:<22} {size:>8.4g} MB {seconds:>9.3f} s {per_mb[-1]:>9.3f} s/MB")
    growth = per_mb[-1] / per_mb[0] if per_mb[0] else float("nan")
    print(
        f"  {name:<22} growth of s/MB from {sizes[0]:g} to {sizes[-1]:g} MB "
        f"(x{sizes[-1] / sizes[0]:g} input): {growth:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument(
        "--baseline-sizes", type=float, nargs="*", default=[1 / 32, 1 / 16, 1 / 8],
        help="sizes (MB) for the replaced quadratic code; none to skip it",
    )
    args = parser.parse_args()
    setup_offline()
    from ytqa.embeddings import get_tokenizer

    get_tokenizer("minilm")  # loaded once, outside the timings
    shapes = [("rolling VTT lines", time_rolling), ("spaceless CJK cue", time_cjk)]
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for _, run in shapes:
            run(10_000, folder)  # warm-up
        print("current code:")
        for shape, run in shapes:
            measure(shape, run, args.sizes, folder)
        if args.baseline_sizes:
            print("baseline (the replaced quadratic code, commit 7f21639):")
            with baseline():
                for shape, run in shapes:
                    measure(shape, run, args.baseline_sizes, folder)


if __name__ == "__main__":
    main()
