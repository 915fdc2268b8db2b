"""What the ``ytqa`` command prints: nothing from a transcript can drive the terminal.

A transcript file whose title, channel and text carry terminal escape sequences
(clear screen, set the window title), C0/C1 controls, bidi overrides, rich markup
and emoji codes goes through every printing command. The human-readable output
shows the words and none of the controls; ``--json`` keeps every character (as
JSON escapes). Real model, real index; only the LLM of ``ask`` is a test double.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from ytqa.cli import cli
from ytqa.errors import (
    IndexCorruptError,
    IndexModelMismatchError,
    NoTranscriptFoundError,
    RequestBlockedError,
    TranslationUnavailableError,
)

VIDEO = "payload0001"
TITLE = "Lens talk \x1b[2J\x1b]0;owned\x07 [bold]loud[/bold] :smile: \u202egnp.exe"
STORED_TITLE = "Lens talk [bold]loud[/bold] :smile: gnp.exe"
CHANNEL = "Evil \x9b31mchannel\x1b[31m"
TEXTS = [
    "Fresnel designed a new kind of lens \x1b[2J\x1b]0;owned\x07 for lighthouses.",
    "The beam \x07rang \x1bPdevice\x1b\\ reached twenty \r\x1b[1Amiles \u202eout\u202c to sea.",
    "Keepers [red]climbed[/red] the tower \x00\x08\x7f\x85 every night.",
]
ANSWER = "The lens [00:00] \x1b]0;owned\x07\x1b[2J was Fresnel's \u2066idea\u2069 [link=x]y[/link]."

# What must never reach a terminal: C0 controls but tab and newline, DEL, C1
# controls, and the bidi overrides/isolates that reorder what is shown.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def run(*args: str, home: Path) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def assert_safe(output: str) -> None:
    found = sorted({f"U+{ord(c):04X}" for c in UNSAFE.findall(output)})
    assert found == [], output


@pytest.fixture(scope="module")
def payload_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("payload") / "payload.json"
    segments = [{"text": text, "start": 6.0 * n, "duration": 5.5} for n, text in enumerate(TEXTS)]
    path.write_text(
        json.dumps({"video_id": VIDEO, "title": TITLE, "channel": CHANNEL, "language_code": "en",
                    "segments": segments}),
        encoding="utf-8",
    )
    return path


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory, payload_file: Path, minilm: Path
) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("payload-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        ingested = run("ingest", "--verbose", str(payload_file), home=folder)
        assert ingested.exit_code == 0, ingested.output
        yield folder


def test_ingest_report_prints_titles_without_controls(home: Path, payload_file: Path) -> None:
    # Indexed already: "skipped ... title".
    result = run("ingest", "--verbose", str(payload_file), home=home)
    assert result.exit_code == 0, result.output
    assert_safe(result.output)
    assert "Lens talk" in result.output and ":smile:" in result.output


def test_list_prints_titles_without_controls(home: Path) -> None:
    result = run("list", home=home)
    assert result.exit_code == 0, result.output
    assert_safe(result.output)
    # Rich markup and emoji codes in a title are shown as written, not interpreted.
    assert "Lens talk" in result.output and "[bold]loud[/bold] :smile:" in result.output


def test_search_prints_passages_without_controls(home: Path) -> None:
    result = run("search", "Who designed the lens?", home=home)
    assert result.exit_code == 0, result.output
    assert_safe(result.output)
    assert "[bold]loud[/bold]" in result.output
    assert "Fresnel designed a new kind of lens for lighthouses. The beam rang" in result.output

    tower = run("search", "Keepers climbed the tower every night", home=home)
    assert_safe(tower.output)
    assert "Keepers [red]climbed[/red] the tower every night." in tower.output


def test_json_keeps_every_character_escaped(home: Path) -> None:
    result = run("search", "Who designed the lens?", "--json", home=home)
    assert result.exit_code == 0, result.output
    # JSON escapes every control: the raw output is safe, the parsed values exact.
    assert_safe(result.output)
    first = json.loads(result.output)["results"][0]
    # Reading the file already dropped the escape sequences (ytqa.transcripts): what
    # JSON carries is exactly what was stored, markup and emoji codes included.
    assert first["title"] == STORED_TITLE and first["channel"] == "Evil channel"
    assert "\x1b" not in first["text"] and "lens for lighthouses" in first["text"]

    listed = run("list", "--json", home=home)
    assert_safe(listed.output)
    assert json.loads(listed.output)[0]["title"] == STORED_TITLE


def test_ask_prints_answer_and_sources_without_controls(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ytqa.chain

    # The LLM is the one remote boundary of ask: a fake that answers with escapes.
    fake = FakeListChatModel(responses=[ANSWER])
    monkeypatch.setattr(ytqa.chain, "resolve_llm", lambda llm=None, **options: fake)
    result = run("ask", "Who designed the lens?", "-k", "2", home=home)
    assert result.exit_code == 0, result.output
    assert_safe(result.output)
    assert "was Fresnel's idea [link=x]y[/link]." in result.output
    # The answer streams a character at a time: escape sequences cut between pieces
    # are still removed whole, leaving nothing of them on screen.
    assert "The lens [00:00]  was Fresnel's" in result.output
    assert "owned" not in result.output and "[2J" not in result.output
    sources = result.output.split("Sources:\n", 1)[1]
    assert "[bold]loud[/bold]" in sources

    monkeypatch.setattr(ytqa.chain, "resolve_llm", lambda llm=None, **options: FakeListChatModel(
        responses=[ANSWER]))
    as_json = run("ask", "Who designed the lens?", "--json", home=home)
    assert_safe(as_json.output)
    assert json.loads(as_json.output)["answer"] == ANSWER


def test_eval_and_compare_print_without_controls(
    home: Path, payload_file: Path, tmp_path: Path
) -> None:
    transcripts = tmp_path / "transcripts"
    transcripts.mkdir()
    (transcripts / f"{VIDEO}.json").write_bytes(payload_file.read_bytes())
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"id": "q\x1b[2J1", "video_id": VIDEO, "start": 100.0, "end": 110.0,
                              "question": "Who \x1b]0;owned\x07 climbed [b]the[/b] tower?"}) + "\n",
                  encoding="utf-8")
    evaluated = run("eval", "--qa", str(qa), "--transcripts", str(transcripts), home=home)
    assert evaluated.exit_code == 0, evaluated.output
    assert_safe(evaluated.output)
    assert "climbed [b]the[/b] tower" in evaluated.output  # the miss is listed

    compared = run("compare", "Who designed the lens?", "--models", "minilm", "-k", "2",
                   home=home)
    assert compared.exit_code == 0, compared.output
    assert_safe(compared.output)
    assert "[bold]" in compared.output


def test_error_lines_carry_no_controls(tmp_path: Path) -> None:
    broken = tmp_path / "broken\x1b[2J\u202e.srt"
    broken.write_text("1\n00:00:01,000 --> garbage\nhello\n", encoding="utf-8")
    reported = run("ingest", "--verbose", str(broken), home=tmp_path)  # the report's "failed" line
    assert reported.exit_code == 2  # its only source failed, as bad input
    assert_safe(reported.output)
    assert "broken" in reported.output and "Bad transcript file" in reported.output

    failed = run("search", str(broken), "q", home=tmp_path)  # the one "Error: ..." line
    assert failed.exit_code == 2
    assert_safe(failed.output)
    assert failed.output.startswith("Error: Bad transcript file")


@pytest.mark.parametrize(
    ("error", "shown", "hidden"),
    [
        (NoTranscriptFoundError("abcdefghijk", ["en"], ["de"], "manual"),
         "with --language ..., or allow any kind with --captions any, or translate with "
         "--translate-to ...", "languages="),
        (TranslationUnavailableError("abcdefghijk", "xx"), "drop --translate-to.", "translate_to"),
        (IndexModelMismatchError("ytqa-mpnet", "mpnet", "minilm"), "Open it with --model mpnet,",
         "model="),
        # Advice that names both already keeps the Python form beside the option.
        (RequestBlockedError("abcdefghijk"), "`proxy='http://user:pass@host:port'` in Python, "
         "`--proxy URL`", "`--proxy http"),
        # The repair is a Python call in the library, the doctor command on the command line.
        (IndexCorruptError("the index in /srv/my index", "damaged", "/srv/my index"),
         "ytqa doctor --repair --index-dir '/srv/my index':", "repair_index"),
        (IndexCorruptError("the Chroma server at http://h:8000", "damaged", server=True),
         "ytqa doctor --repair --index-dir DIR.", "repair_index"),
    ],
)
def test_messages_name_the_command_options(error: Exception, shown: str, hidden: str) -> None:
    from ytqa.terminal import cli_message

    message = cli_message(error)
    assert shown in message and hidden not in message
    assert "\n" not in message
