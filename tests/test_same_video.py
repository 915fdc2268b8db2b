"""One video from several files in one run: one documented choice, reported as it happened.

The rule (docs/python-api.md, "Several transcripts of one video"): uploaded
captions win over auto-captions (``captions="generated"``, ``--captions auto``:
the reverse); between two of the same kind, the later source wins. The choice
is made before anything is written, and the report says what the index held
before: ``added``, ``replaced (srt → en.vtt)``, ``skipped``, ``ignored``.

Real shared transcripts (a Kurzgesagt video with uploaded ``.srt`` and
auto-caption ``.en.vtt``), real MiniLM, real Chroma.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.store_support import CountingEmbeddings
from ytqa import VideoIndex, get_embeddings
from ytqa.cli import cli

pytestmark = pytest.mark.slow  # real model, real Chroma

ROBOTS = "DHyUYg8X31c"  # do robots deserve rights? (.srt uploaded, .en.vtt auto-captions)
ARTS = "-82gNL8XeWg"


@pytest.fixture
def files(tmp_path: Path, transcripts_dir: Path) -> Path:
    folder = tmp_path / "talks"
    folder.mkdir()
    for name in (f"{ROBOTS}.srt", f"{ROBOTS}.en.vtt", f"{ARTS}.srt"):
        shutil.copy(transcripts_dir / name, folder)
    return folder


@pytest.fixture
def index(tmp_path: Path, minilm: Path) -> VideoIndex:
    return VideoIndex(persist_directory=tmp_path / "index")


def _held(index: VideoIndex, video_id: str = ROBOTS) -> str:
    (record,) = [r for r in index.videos() if r.video_id == video_id]
    return record.transcript


def test_uploaded_captions_win_whatever_the_order_and_however_often(
    index: VideoIndex, files: Path
) -> None:
    srt, vtt = files / f"{ROBOTS}.srt", files / f"{ROBOTS}.en.vtt"
    first = index.add_many([vtt, srt])
    assert [(a.video_id, a.transcript, a.replaced) for a in first.added] == [(ROBOTS, "srt", None)]
    assert [(i.source, i.video_id, i.used, i.rule) for i in first.ignored] == [
        (str(vtt), ROBOTS, str(srt), "uploaded")
    ]
    assert _held(index) == "srt"

    for sources in ([vtt, srt], [srt, vtt], [vtt, srt]):
        again = index.add_many(sources)
        assert again.added == [], "nothing is written again"
        assert [s.video_id for s in again.skipped] == [ROBOTS]
        assert [i.source for i in again.ignored] == [str(vtt)]
        assert _held(index) == "srt"


def test_captions_generated_prefers_auto_captions_and_reports_the_replacement(
    index: VideoIndex, files: Path
) -> None:
    srt, vtt = files / f"{ROBOTS}.srt", files / f"{ROBOTS}.en.vtt"
    index.add(srt)

    report = index.add_many([vtt, srt], captions="generated")
    assert [(a.video_id, a.transcript, a.replaced) for a in report.added] == [
        (ROBOTS, "en.vtt", "srt")
    ]
    assert [(i.source, i.rule) for i in report.ignored] == [(str(srt), "generated")]
    assert _held(index) == "en.vtt"


def test_between_files_of_one_kind_the_later_source_wins(
    index: VideoIndex, files: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    # The same video's uploaded captions, without their first cue: another transcript.
    text = (files / f"{ROBOTS}.srt").read_text(encoding="utf-8-sig")
    (other / f"{ROBOTS}.srt").write_text(text.split("\n\n", 1)[1], encoding="utf-8")
    first, second = files / f"{ROBOTS}.srt", other / f"{ROBOTS}.srt"

    report = index.add_many([first, second])
    assert [i.rule for i in report.ignored] == ["later"]
    (record,) = index.videos()
    assert record.source == str(second.resolve())

    swapped = index.add_many([second, first])
    assert [(a.transcript, a.replaced) for a in swapped.added] == [("srt", "srt")]
    (record,) = index.videos()
    assert record.source == str(first.resolve())


def test_the_choice_is_made_before_anything_is_written(files: Path, tmp_path: Path) -> None:
    """The file that loses is never embedded nor written."""
    counting = CountingEmbeddings(get_embeddings("minilm"))
    index = VideoIndex(persist_directory=tmp_path / "index", embeddings=counting)
    report = index.add_many([files / f"{ROBOTS}.srt", files / f"{ROBOTS}.en.vtt"])

    (record,) = index.videos()
    assert [a.chunks for a in report.added] == [record.chunks]
    assert counting.texts == record.chunks
    collection = index.client.get_collection(index.collection_name)
    assert len(collection.get(where={"video_id": ROBOTS}, include=[])["ids"]) == record.chunks


# --- the CLI --------------------------------------------------------------------


def run(*args: str, home: Path) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_cli_ingest_of_two_files_of_one_video_three_times(
    files: Path, tmp_path: Path, minilm: Path
) -> None:
    home = tmp_path / "home"
    srt, vtt = str(files / f"{ROBOTS}.srt"), str(files / f"{ROBOTS}.en.vtt")

    first = run("ingest", "--verbose", vtt, srt, home=home)
    assert first.exit_code == 0, first.output
    assert re.search(rf"^added\s+{ROBOTS}\s+\d+ chunks\s+\(srt\)", first.output, re.M)
    assert re.search(rf"^ignored\s+{ROBOTS}\s+{re.escape(vtt)}: {re.escape(srt)} is used",
                     first.output, re.M)
    assert "1 added, 0 skipped, 1 ignored, 0 failed" in first.output

    for _ in range(2):
        again = run("ingest", "--verbose", vtt, srt, home=home)
        assert re.search(rf"^skipped\s+{ROBOTS}\s+\(already indexed\)", again.output, re.M)
        assert "replaced" not in again.output and not re.search("^added", again.output, re.M)
        assert "0 added, 1 skipped, 1 ignored, 0 failed" in again.output

    auto = run("ingest", "--verbose", "--captions", "auto", vtt, srt, home=home)
    assert re.search(rf"^replaced\s+{ROBOTS}\s+\d+ chunks\s+\(srt → en\.vtt\)", auto.output, re.M)
    assert "0 added, 1 replaced, 0 skipped, 1 ignored, 0 failed" in auto.output

    # Re-ingesting the folder takes its uploaded captions, and says so.
    folder = run("ingest", "--verbose", str(files), home=home)
    assert re.search(rf"^replaced\s+{ROBOTS}\s+\d+ chunks\s+\(en\.vtt → srt\)", folder.output,
                     re.M)
    assert re.search(rf"^added\s+{ARTS}\s+\d+ chunks\s+\(srt\)", folder.output, re.M)
    quiet = run("ingest", "--verbose", str(files), home=home)
    assert "0 added, 2 skipped, 0 failed" in quiet.output


def test_cli_list_shows_the_transcript_each_preset_holds(
    files: Path, tmp_path: Path, minilm: Path
) -> None:
    home = tmp_path / "home"
    # A second index: the same weights opened by path are another preset, another collection.
    other = str(minilm)
    assert run("ingest", "--verbose", str(files / f"{ROBOTS}.srt"), home=home).exit_code == 0
    assert run("ingest", "--verbose", "--captions", "auto", "--model", other,
               str(files / f"{ROBOTS}.en.vtt"), home=home).exit_code == 0

    listed = json.loads(run("list", "--json", home=home).output)
    (record,) = listed
    assert record["transcript"] == "srt"
    assert list(record["transcripts"].values()) == ["srt", "en.vtt"]
    assert record["transcripts"]["minilm"] == "srt"

    text = run("list", home=home).output
    assert re.search(r"minilm \(srt\), \S+ \(en\.vtt\)", text)
