"""ytqa.evaluate and ``ytqa eval``: real transcripts, real MiniLM, real Chroma."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ytqa import EvaluationError, evaluate
from ytqa.cli import cli
from ytqa.transcripts import read_transcript_file

# Three real videos: two with uploaded and auto captions, one with uploaded only.
VIDEOS = ("9P6rdqiybaw", "GqA42M4RtxE", "S1l9oDiSiEQ")
AFTER_END = 1000.0  # seconds past a video's last cue: no passage can reach a span there


def _qa_line(item_id: str, video_id: str, question: str, start: float, end: float) -> str:
    return json.dumps(
        {"id": item_id, "video_id": video_id, "question": question, "start": start, "end": end}
    )


@pytest.fixture(scope="module")
def corpus(transcripts_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder linking to the shared transcripts of VIDEOS (links, not copies)."""
    folder = tmp_path_factory.mktemp("eval-transcripts")
    for video_id in VIDEOS:
        for source in transcripts_dir.glob(f"{video_id}.*"):
            (folder / source.name).symlink_to(source)
    return folder


@pytest.fixture(scope="module")
def qa_file(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Hand-checkable questions built from real cues.

    * ``exact-*``: a run of three cues, asked verbatim, with their true span:
      the top passage must contain it and its link must open on it.
    * ``wrong-*``: the same words with a span after the video's end: no
      passage can overlap it, so it is a miss at every k.
    """
    lines = []
    for video_id in VIDEOS[:2]:
        segments = read_transcript_file(corpus / f"{video_id}.srt").segments
        middle = len(segments) // 2
        run = segments[middle : middle + 3]
        text = " ".join(segment.text for segment in run)
        start, end = run[0].start, run[-1].start + run[-1].duration
        lines.append(_qa_line(f"exact-{video_id}", video_id, text, start, end))
        far = segments[-1].start + segments[-1].duration + AFTER_END
        lines.append(_qa_line(f"wrong-{video_id}", video_id, text, far, far + 5.0))
    path = tmp_path_factory.mktemp("eval-qa") / "qa.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(minilm: Path, corpus: Path, qa_file: Path) -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        return evaluate(qa_file, corpus, model="minilm", k=(1, 3, 5))


@pytest.mark.slow
def test_metrics_are_counted_per_question(report: dict[str, Any]) -> None:
    # Two exact questions land at rank 1; the two far spans are never hit.
    assert report["n"] == 4
    assert report["videos"] == 3
    assert report["model"] == "minilm"
    for k in (1, 3, 5):
        assert report[f"hit@{k}"] == 0.5
        assert report[f"land@{k}"] == 0.5
    assert report["mrr@5"] == 0.5
    assert sorted(miss.item.id for miss in report["misses"]) == [
        f"wrong-{VIDEOS[0]}",
        f"wrong-{VIDEOS[1]}",
    ]


@pytest.mark.slow
def test_misses_show_what_came_back(report: dict[str, Any]) -> None:
    miss = report["misses"][0]
    assert miss.hit_rank is None and miss.land_rank is None
    record = miss.to_dict()
    assert record["expected"] == [miss.item.start, miss.item.end]
    assert len(record["results"]) == 5
    top = record["results"][0]
    # The verbatim question finds its own video, at a moment far from the wrong span.
    assert top["video_id"] == miss.item.video_id
    assert top["start"] <= top["cited"] <= top["end"]
    assert f"t={int(top['cited'])}" in top["url"]


@pytest.mark.slow
def test_cli_json_prints_the_metrics(minilm: Path, corpus: Path, qa_file: Path) -> None:
    result = CliRunner().invoke(
        cli, ["eval", "--qa", str(qa_file), "--transcripts", str(corpus), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    for key in ("n", "hit@1", "hit@3", "hit@5", "land@1", "land@3", "mrr@5", "model"):
        assert key in payload, key
    assert payload["n"] == 4 and payload["model"] == "minilm"
    assert payload["hit@1"] == 0.5


@pytest.mark.slow
def test_cli_rerank_measures_the_reranked_retriever(
    minilm: Path, mpnet: Path, corpus: Path, qa_file: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["eval", "--qa", str(qa_file), "--transcripts", str(corpus), "--json",
              "--rerank", "mpnet"]
    )
    assert result.exit_code == 0, result.output
    expected = evaluate(qa_file, corpus, rerank="mpnet").to_dict()
    assert json.loads(result.stdout) == expected


def test_a_rerank_that_cannot_work_is_one_line_with_exit_code_2(
    minilm: Path, qa_file: Path, corpus: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["eval", "--qa", str(qa_file), "--transcripts", str(corpus), "--rerank", "minilm"]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --rerank minilm is the index's own model")


def test_bad_qa_file_is_an_evaluation_error(corpus: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "q1", "video_id": "9P6rdqiybaw", "question": "x"}\n')
    with pytest.raises(EvaluationError, match=r"bad.jsonl:1.*'start' and 'end'"):
        evaluate(bad, corpus)
    bad.write_text("not json\n")
    with pytest.raises(EvaluationError, match="not valid JSON"):
        evaluate(bad, corpus)


def test_empty_folder_is_an_evaluation_error(qa_file: Path, tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="holds no transcript files"):
        evaluate(qa_file, tmp_path)
    with pytest.raises(EvaluationError, match="not a folder of transcripts"):
        evaluate(qa_file, tmp_path / "missing")


def test_question_about_a_video_without_transcript(corpus: Path, tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text(_qa_line("q1", "dQw4w9WgXcQ", "Who sings?", 1.0, 2.0) + "\n")
    with pytest.raises(EvaluationError, match="dQw4w9WgXcQ"):
        evaluate(qa, corpus)


def test_cli_errors_are_one_line_with_exit_code_2(qa_file: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["eval", "--qa", str(qa_file), "--transcripts", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    bad_k = CliRunner().invoke(
        cli, ["eval", "--qa", str(qa_file), "--transcripts", str(tmp_path), "--k", "0,x"]
    )
    assert bad_k.exit_code == 2 and "positive whole numbers" in bad_k.stderr
