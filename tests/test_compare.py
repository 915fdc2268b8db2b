"""Comparing presets side by side: real MiniLM and MPNet models, a real Chroma index.

multi-qa-dot has no packaged weights: offline, it must be reported, not crash the rest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import responses
from click.testing import CliRunner, Result

from tests.store_support import shared_transcript
from ytqa import compare_models
from ytqa.cli import cli
from ytqa.config import ytqa_home
from ytqa.embeddings import is_available_locally
from ytqa.index import VideoIndex

pytestmark = pytest.mark.slow

BEES, ROBOTS = "GqA42M4RtxE", "DHyUYg8X31c"  # Kurzgesagt: honeybee decline, robot rights
QUESTION = "Why are the bees dying?"


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(ytqa_home()), *args], prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def indexed(transcripts_dir: Path, minilm: Path, mpnet: Path) -> None:
    """Two short real talks in the MiniLM index of the test's ytqa home (none in MPNet's)."""
    index = VideoIndex("minilm")
    for video_id in (BEES, ROBOTS):
        index.add(shared_transcript(transcripts_dir, f"{video_id}.srt", cues=30))


def test_compare_prints_one_column_per_preset_and_json(indexed: None) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        result = run("compare", QUESTION, "--models", "minilm,mpnet,multi-qa-dot", "-k", "2")
        assert len(mock.calls) == 0

    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "minilm (cosine)" in line)
    assert header.index("minilm (cosine)") < header.index("mpnet (cosine)")
    assert header.index("mpnet (cosine)") < header.index("multi-qa-dot")
    assert result.output.count("1. [") == 2 + is_available_locally("multi-qa-dot")
    assert result.output.count("score ") == 4 + 2 * is_available_locally("multi-qa-dot")
    if not is_available_locally("multi-qa-dot"):
        assert "not available" in result.output
        assert "multi-qa-dot: Could not load embedding model" in result.output

    # The same comparison as JSON (MPNet's index holds the carried videos now).
    result = run("compare", QUESTION, "--models", "minilm,mpnet,multi-qa-dot", "--k", "2", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["question"] == QUESTION and data["k"] == 2
    by_model = {item["model"]: item for item in data["results"]}
    assert list(by_model) == ["minilm", "mpnet", "multi-qa-dot"]
    for key in ("minilm", "mpnet"):
        passages = by_model[key]["passages"]
        assert by_model[key]["error"] is None and by_model[key]["similarity"] == "cosine"
        assert [p["rank"] for p in passages] == [1, 2]
        assert passages[0]["video_id"] == BEES
        assert passages[0]["url"].startswith(f"https://www.youtube.com/watch?v={BEES}&t=")
        assert -1.0 <= passages[1]["score"] <= passages[0]["score"] <= 1.0
    assert VideoIndex("mpnet").has_video(ROBOTS)
    dot = by_model["multi-qa-dot"]
    if not is_available_locally("multi-qa-dot"):
        assert dot["error_type"] == "EmbeddingModelError" and dot["passages"] == []
        # A preset without weights leaves no empty collection behind.
        names = {c.name for c in VideoIndex("minilm").client.list_collections()}
        assert not any("multi-qa" in name for name in names)


def test_compare_models_api_and_unknown_model(indexed: None) -> None:
    comparison = compare_models(QUESTION, "minilm, ./no-such-model", k=1)

    minilm, missing = comparison.results
    assert minilm.ok and minilm.passages[0].video_id == BEES
    assert minilm.passages[0].timestamp and minilm.passages[0].text
    assert not missing.ok and missing.model == "./no-such-model"
    assert "no-such-model" in str(missing.error)


def test_compare_fails_with_one_line_when_no_preset_runs(indexed: None) -> None:
    result = run("compare", QUESTION, "--models", "./no-such-model")
    assert result.exit_code == 5, result.output
    assert result.output.startswith("Error: ") and len(result.output.splitlines()) == 1


def test_compare_with_a_qa_file_prints_one_table(
    tmp_path: Path, transcripts_dir: Path, shared_data: Path, minilm: Path
) -> None:
    # The five dev questions on the bees video, against that video and one distractor.
    folder = tmp_path / "transcripts"
    folder.mkdir()
    for video_id in (BEES, ROBOTS):
        shutil.copy(transcripts_dir / f"{video_id}.srt", folder)
    lines = (shared_data / "qa-dev.jsonl").read_text(encoding="utf-8").splitlines()
    qa = tmp_path / "qa.jsonl"
    qa.write_text("\n".join(line for line in lines if BEES in line) + "\n", encoding="utf-8")

    result = run(
        "compare",
        "--qa",
        str(qa),
        "--transcripts",
        str(folder),
        "--models",
        "minilm,multi-qa-dot",
        "--json",
    )
    assert result.exit_code == 0, result.output
    minilm_row, dot_row = json.loads(result.stdout)["results"]
    assert minilm_row["model"] == "minilm" and minilm_row["n"] == 5
    assert 0.0 <= minilm_row["hit@1"] <= minilm_row["hit@5"] <= 1.0
    assert "misses" not in minilm_row
    if not is_available_locally("multi-qa-dot"):
        assert dot_row["error_type"] == "EmbeddingModelError"

    table = run(
        "compare", "--qa", str(qa), "--transcripts", str(folder), "--models", "minilm,multi-qa-dot"
    ).output
    header = next(line for line in table.splitlines() if "metric" in line)
    assert header.index("minilm") < header.index("multi-qa-dot")
    for metric in ("hit@1", "hit@5", "land@1", "mrr@5"):
        row = next(line for line in table.splitlines() if f" {metric} " in line)
        assert f"{minilm_row[metric]:.3f}" in row


def test_compare_qa_needs_transcripts(tmp_path: Path) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("{}\n")
    result = run("compare", "--qa", str(qa))
    assert result.exit_code == 2 and "--transcripts" in result.output
