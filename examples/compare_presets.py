"""Ask the three embedding presets the same question and see their top passages.

    python examples/compare_presets.py
    python examples/compare_presets.py "What does the characteristic of a light mean?"

The video is indexed once with MiniLM; the other presets embed it from the
transcript cache (no refetching). A preset whose weights cannot be had (no
network, not under $YTQA_MODELS_DIR) is reported and the others still run.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ytqa import VideoIndex, compare_models

EXAMPLE = Path(__file__).with_name("lighthouse-talk.srt")


def main() -> None:
    question = sys.argv[1] if len(sys.argv) > 1 else "How did sailors tell lighthouses apart?"
    VideoIndex("minilm").add(str(EXAMPLE))

    comparison = compare_models(question, ["minilm", "mpnet", "multi-qa-dot"], k=2)
    for result in comparison.results:
        print(f"== {result.model} ({result.similarity or 'unknown similarity'})")
        if result.error is not None:
            print(f"   not available: {result.error}")
        for passage in result.passages:
            score = f"score {passage.score:.3f}"
            print(f"   {passage.rank}. [{passage.timestamp}] {score}  {passage.url}")


if __name__ == "__main__":
    main()
