"""The ``ytqa`` command, through click's runner and through the installed script.

Real transcripts, the real MiniLM model and a real Chroma index; only YouTube's
HTTP is mocked (with ``responses``, from recorded answers).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.youtube_support import fake_youtube
from ytqa.cli import EXIT_CODES, cli
from ytqa.transcripts import _youtube as youtube_fetch

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "lighthouse-talk.srt"
# Two short real talks: Kurzgesagt on robot rights, Big Think on ethics in the arts.
ROBOTS, ARTS = "DHyUYg8X31c", "-82gNL8XeWg"
TIMESTAMPED_LINK = re.compile(r"\[\d\d:\d\d\] .+ — https://www\.youtube\.com/watch\?v=[\w-]{11}&t=\d+s")


def run(*args: str, home: Path) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory, transcripts_dir: Path) -> Path:
    """A folder with two real transcripts (read from the shared data at test time)."""
    folder = tmp_path_factory.mktemp("talks")
    for video_id in (ROBOTS, ARTS):
        shutil.copy(transcripts_dir / f"{video_id}.srt", folder)
    return folder


@pytest.fixture(scope="module")
def indexed_home(tmp_path_factory: pytest.TempPathFactory, talks: Path, minilm: Path) -> Path:
    """A ytqa home whose MiniLM index holds both talks, ingested once for the module."""
    home = tmp_path_factory.mktemp("indexed-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        result = run("ingest", str(talks), home=home)
    assert result.exit_code == 0, result.output
    return home


def test_ingest_twice_skips_what_is_indexed(tmp_path: Path, talks: Path, minilm: Path) -> None:
    first = run("ingest", str(talks / f"{ROBOTS}.srt"), "--verbose", home=tmp_path)
    assert first.exit_code == 0, first.output
    assert re.search(rf"added\s+{ROBOTS}\s+\d+ chunks", first.output)
    assert "1 added, 0 skipped, 0 failed" in first.output

    second = run("ingest", str(talks), "--json", home=tmp_path)
    assert second.exit_code == 0, second.output
    report = json.loads(second.output)
    assert [item["video_id"] for item in report["skipped"]] == [ROBOTS]
    assert [item["video_id"] for item in report["added"]] == [ARTS]
    assert report["failed"] == []


def test_a_failing_source_does_not_stop_the_others(
    tmp_path: Path, talks: Path, minilm: Path
) -> None:
    broken = tmp_path / "broken.srt"
    broken.write_text("1\n00:00:01,000 --> garbage\nhello\n", encoding="utf-8")

    result = run("ingest", str(broken), str(talks / f"{ROBOTS}.srt"), home=tmp_path / "home")

    assert result.exit_code == 1
    # Without --verbose: counts by outcome, one example per kind of failure.
    assert re.search(r"^added\s+1$", result.output, flags=re.M)
    assert re.search(r"^failed\s+1  e\.g\. .*broken\.srt: .*broken\.srt:2: ", result.output,
                     flags=re.M)
    assert not re.search(rf"added\s+{ROBOTS}", result.output)
    # The failed source is kept, per index, under the ytqa home, for --retry-failed.
    (kept,) = (tmp_path / "home" / "failed").iterdir()
    assert kept.name.startswith("ytqa-minilm-") and f"listed in {kept}" in result.output
    assert [line for line in kept.read_text().splitlines() if not line.startswith("#")] == [
        str(broken)
    ]
    listed = json.loads(run("list", "--json", home=tmp_path / "home").output)
    assert [record["video_id"] for record in listed] == [ROBOTS]


def test_search_prints_timestamped_links_and_scores(indexed_home: Path) -> None:
    result = run("search", "Should robots have rights if they can feel pain?", "-k", "3",
                 home=indexed_home)

    assert result.exit_code == 0, result.output
    assert len(re.findall(r"^\d\. \[\d\d:\d\d\] ", result.output, flags=re.M)) == 3
    assert f"https://www.youtube.com/watch?v={ROBOTS}&t=" in result.output.split("\n")[1]
    assert re.search(r"\(score \d\.\d{3}\)", result.output)


def test_search_json_carries_text_times_and_links(indexed_home: Path) -> None:
    result = run("search", "ethics of performing arts", "--json", "-k", "2", home=indexed_home)

    payload = json.loads(result.output)
    assert payload["query"] == "ethics of performing arts"
    assert len(payload["results"]) == 2
    for passage in payload["results"]:
        assert passage["text"]
        assert passage["start"] <= passage["end"]
        assert re.fullmatch(r"https://www\.youtube\.com/watch\?v=[\w-]{11}&t=\d+s", passage["url"])
    assert payload["results"][0]["video_id"] == ARTS


def test_list_and_remove_round_trip(tmp_path: Path, talks: Path, minilm: Path) -> None:
    assert run("ingest", str(talks), home=tmp_path).exit_code == 0
    listed = run("list", home=tmp_path).output
    assert ROBOTS in listed and ARTS in listed

    removed = run("remove", f"https://youtu.be/{ROBOTS}?t=30", home=tmp_path)
    assert removed.exit_code == 0
    assert re.match(rf"{ROBOTS}: removed \d+ chunks", removed.output)
    records = json.loads(run("list", "--json", home=tmp_path).output)
    assert [record["video_id"] for record in records] == [ARTS]
    again = run("remove", ROBOTS, home=tmp_path)
    assert again.exit_code == 1 and "not in the minilm index" in again.output


def test_models_lists_the_presets(minilm: Path, tmp_path: Path) -> None:
    rows = json.loads(run("models", "--json", home=tmp_path).output)

    by_preset = {row["preset"]: row for row in rows}
    assert set(by_preset) == {"minilm", "mpnet", "multi-qa-dot"}
    assert by_preset["minilm"]["dimension"] == 384
    assert by_preset["multi-qa-dot"]["similarity"] == "dot"
    assert by_preset["minilm"]["available_locally"] is True


# --- errors: one line, the documented exit status -----------------------------


def assert_one_line_error(result: Result, exit_code: int, *needles: str) -> None:
    assert result.exit_code == exit_code, result.output
    assert exit_code in EXIT_CODES
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0]


@pytest.fixture
def blocked_youtube(youtube_responses: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(youtube_fetch, "_sleep", lambda seconds: None)
    with fake_youtube(youtube_responses) as youtube:
        youtube.player("youtube_request_blocked.innertube.json.static")
        yield


def test_invalid_url_is_one_line_and_status_2(tmp_path: Path) -> None:
    result = run("search", "https://vimeo.com/123", "anything", home=tmp_path)
    assert_one_line_error(result, 2, "https://vimeo.com/123")


def test_broken_transcript_file_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "talk.srt"
    broken.write_text("1\n00:00:01,000 --> garbage\nhello\n", encoding="utf-8")
    result = run("search", str(broken), "anything", home=tmp_path)
    assert_one_line_error(result, 2, "talk.srt:2:")


def test_blocked_ip_explains_proxies_with_status_4(tmp_path: Path, blocked_youtube: None) -> None:
    result = run("search", "GJLlxj_dtq8", "anything", home=tmp_path)
    assert_one_line_error(result, 4, "--proxy")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "--debug", "search",
                                      "not a video", "q"])
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "InvalidVideoIdError"


def test_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    result = run("search", "--no-such-option", home=tmp_path)
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_cli_reference_is_generated_from_the_real_help() -> None:
    checked = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_cli_docs.py"), "--check"],
        capture_output=True, text=True, check=False,
    )
    assert checked.returncode == 0, checked.stderr


# --- the installed script -----------------------------------------------------


def ytqa_script() -> str:
    script = shutil.which("ytqa", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the ytqa console script is not installed (pip install -e .)")
    return script


def test_installed_script_searches_the_shipped_example(tmp_path: Path, minilm: Path) -> None:
    env = {**os.environ, "YTQA_HOME": str(tmp_path)}
    result = subprocess.run(
        [ytqa_script(), "search", str(EXAMPLE), "Who designed the new kind of lens?", "-k", "2"],
        capture_output=True, text=True, env=env, check=False, timeout=300,
    )

    assert result.returncode == 0, result.stderr
    assert re.search(r"^1\. \[\d\d:\d\d\] lighthouse-talk", result.stdout, flags=re.M)
    assert "lighthouse-talk.srt#t=" in result.stdout
    # The best passage is shown by the words that matched.
    assert "Fresnel designed a new kind of lens" in result.stdout.splitlines()[2]


def test_installed_script_reports_errors_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "YTQA_HOME": str(tmp_path)}
    result = subprocess.run([ytqa_script(), "remove", "nope"], capture_output=True, text=True,
                            env=env, check=False, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("Error: ") and "nope" in result.stderr


def test_ask_answers_with_cited_sources(indexed_home: Path, gemma_llm: str) -> None:
    # A short answer keeps the tiny CPU model quick; its wording is not judged.
    ask = ("ask", "Do robots deserve rights?", "--llm", gemma_llm, "-o", "max_new_tokens=12")
    result = run(*ask, "-k", "2", home=indexed_home)

    assert result.exit_code == 0, result.output
    answer, _, sources = result.output.partition("\nSources:\n")
    assert answer.strip()
    lines = sources.strip().splitlines()
    assert len(lines) == 2
    assert all(TIMESTAMPED_LINK.fullmatch(line) for line in lines), lines

    as_json = json.loads(run(*ask, "-k", "1", "--json", home=indexed_home).stdout)
    assert as_json["question"] == "Do robots deserve rights?" and as_json["answer"].strip()
    assert [s["timestamp"] for s in as_json["sources"]] and all(
        "&t=" in s["url"] for s in as_json["sources"]
    )


def test_llm_options_must_be_key_value(indexed_home: Path) -> None:
    result = run("ask", "q", "--llm", "hf:/no/such/model", "-o", "max_new_tokens",
                 home=indexed_home)
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.output


def test_exit_status_table_of_the_reference_renders() -> None:
    # A Markdown table ends at its first blank line: its rows must be consecutive.
    section = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").split("## Exit statuses\n")[1]
    assert section.strip().splitlines() == [
        "| status | meaning |",
        "|---|---|",
        *(f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()),
    ]


# --- the command's words, --debug anywhere, remove by file ----------------------


def test_debug_works_after_the_subcommand_too(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "search", "not a video", "q",
                                      "--debug"])
    assert type(result.exception).__name__ == "InvalidVideoIdError"


def test_cli_messages_name_options_where_the_library_names_arguments(
    tmp_path: Path, minilm: Path
) -> None:
    from ytqa import LLMConfigurationError, resolve_llm

    with pytest.raises(LLMConfigurationError) as caught:
        resolve_llm("hf:/no/such/model")
    assert "llm='openai:gpt-4o-mini'" in str(caught.value)  # the library names Python's

    result = run("ask", str(EXAMPLE), "Who designed the lens?", "--llm", "hf:/no/such/model",
                 home=tmp_path)
    assert_one_line_error(result, 5, "--llm openai:gpt-4o-mini", "--llm hf:/path/to/local/model")
    assert "llm=" not in result.output


def test_a_mistyped_model_is_refused_at_once_with_the_presets(tmp_path: Path) -> None:
    result = run("search", "--model", "minilml", str(EXAMPLE), "lens", home=tmp_path)
    assert_one_line_error(
        result, 5, "--model minilml is not an embedding preset (minilm, mpnet, multi-qa-dot)",
        "Did you mean 'minilm'?",
    )
    assert "model=" not in result.output


def test_a_preset_without_weights_fails_once_with_status_5(tmp_path: Path, talks: Path) -> None:
    from ytqa.embeddings import is_available_locally

    if is_available_locally("multi-qa-dot"):
        pytest.skip("multi-qa-mpnet-base-dot-v1 is available on this machine")
    # Two videos, one error: the model is missing for all of them alike.
    result = run("ingest", "--model", "multi-qa-dot", str(talks), home=tmp_path)
    assert_one_line_error(result, 5, "'multi-qa-dot'", "--model ...")


def test_ask_checks_its_sources_before_loading_the_llm(
    tmp_path: Path, blocked_youtube: None
) -> None:
    # YouTube's refusal is reported, not the LLM that would load after it.
    result = run("ask", "GJLlxj_dtq8", "q", "--llm", "hf:/no/such/model", home=tmp_path)
    assert_one_line_error(result, 4, "--proxy")


def test_remove_takes_a_transcript_file(tmp_path: Path, minilm: Path) -> None:
    assert run("ingest", str(EXAMPLE), home=tmp_path).exit_code == 0
    (record,) = json.loads(run("list", "--json", home=tmp_path).output)
    assert record["video_id"].startswith("local-")

    removed = run("remove", str(EXAMPLE), home=tmp_path)
    assert removed.exit_code == 0, removed.output
    assert re.match(rf"{record['video_id']}: removed \d+ chunks", removed.output)
    assert json.loads(run("list", "--json", home=tmp_path).output) == []


def test_remove_takes_the_id_of_ones_own_video(tmp_path: Path, minilm: Path) -> None:
    # A JSON transcript may name its video with an ID of one's own (not YouTube's).
    talk = tmp_path / "talk.json"
    talk.write_text(json.dumps({"video_id": "team-sync:2026-12", "segments": [
        {"text": "We agreed to ship the new search on Friday.", "start": 0.0, "duration": 4.0},
    ]}))
    assert run("ingest", str(talk), home=tmp_path).exit_code == 0
    talk.unlink()  # named by its ID alone, not by the file

    removed = run("remove", "team-sync:2026-12", home=tmp_path)
    assert removed.exit_code == 0, removed.output
    assert re.match(r"team-sync:2026-12: removed 1 chunks", removed.output)
    assert json.loads(run("list", "--json", home=tmp_path).output) == []


def test_removing_what_is_not_indexed_exits_1(tmp_path: Path) -> None:
    result = run("remove", "dQw4w9WgXcQ", home=tmp_path)
    assert_one_line_error(result, 1, "dQw4w9WgXcQ is not in the minilm index")


def test_hub_retries_are_said_once_and_each_with_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx
    import huggingface_hub.constants
    from huggingface_hub.utils._http import http_backoff

    # The hub's real retry loop against a closed local port (no sleeping to speak of).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)

    def hub_lines_after(*args: str) -> list[str]:
        assert run(*args, home=tmp_path).exit_code == 0  # the command sets up logging
        caplog.clear()
        with pytest.raises(httpx.ConnectError):
            http_backoff("HEAD", "http://127.0.0.1:9/org/model/config.json", max_retries=3,
                         base_wait_time=0.001, max_wait_time=0.001)
        return [r.getMessage() for r in caplog.records if r.name.startswith("huggingface_hub")]

    (said,) = hub_lines_after("list")
    assert "http://127.0.0.1:9/org/model/config.json" in said
    assert "retrying" in said and "--debug" in said
    # With --debug (before or after the command): every attempt and every wait.
    assert len(hub_lines_after("--debug", "list")) == 4 + 3
    assert len(hub_lines_after("list", "--debug")) == 4 + 3
