"""``ytqa chat`` and the streaming ``ytqa ask``: through click's runner, and as real
processes (a pipe, and a pseudo-terminal where Ctrl-C is typed).

The index is real (the example talk, MiniLM, Chroma under a temporary home); the
LLM, the one remote boundary, is the scripted model of tests/scripted_llm.py, which
the command loads through ``--llm py:tests.scripted_llm:from_script -o script=PATH``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers.context import register_configure_hook

from tests.scripted_llm import Step, recorded_calls, write_script
from ytqa.cli import cli

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "lighthouse-talk.srt"
SCRIPTED = "py:tests.scripted_llm:from_script"
LINK = re.compile(r"\[(\d\d:\d\d)\] lighthouse-talk — file://\S+lighthouse-talk\.srt#t=(\d+)")
REWRITTEN = "What did Fresnel's new lens do with the light?"

pytestmark = pytest.mark.slow


class Queries(BaseCallbackHandler):
    """What the retriever was asked, seen through LangChain's callbacks."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def on_retriever_start(self, serialized: Any, query: str, **kwargs: Any) -> None:
        self.queries.append(query)


# LangChain's hook for handlers that every run in this context gets (as tracers do).
_watching: ContextVar[Queries | None] = ContextVar("ytqa_test_queries", default=None)
register_configure_hook(_watching, inheritable=True)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, minilm: Path) -> Path:
    """A ytqa home whose index holds the example talk."""
    home = tmp_path_factory.mktemp("chat-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        result = CliRunner().invoke(cli, ["--home", str(home), "ingest", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    return home


def run(home: Path, *args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], input=input, prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def script(tmp_path: Path, replies: list[list[Step]]) -> tuple[Path, Path]:
    record = tmp_path / "calls.jsonl"
    return write_script(tmp_path / "script.json", replies, record), record


# --- chat through click's runner ------------------------------------------------------


def test_chat_rewrites_follow_ups_streams_and_lists_sources(home: Path, tmp_path: Path) -> None:
    path, record = script(tmp_path, [
        ["Augustin ", "Fresnel ", "designed ", "it ", "[00:45]."],
        [REWRITTEN],
        ["It ", "bent ", "the ", "light ", "into ", "one ", "beam ", "[00:52], ", "not ",
         "[42:00]."],
        ["Twenty nautical miles [01:01]."],  # after /clear: no rewriting
    ])
    session = "\n".join([
        "Who designed the new lens?", "What came next?", "/sources", "/videos", "/clear",
        "How far did the beam reach?", "/help", "/nonsense", "exit",
    ]) + "\n"
    queries = Queries()
    token = _watching.set(queries)
    try:
        result = run(home, "chat", "--llm", SCRIPTED, "-o", f"script={path}", "-k", "2",
                     input=session)
    finally:
        _watching.reset(token)

    assert result.exit_code == 0, result.output
    # The follow-up reached the retriever rewritten with the conversation; the first
    # question and the one after /clear went as asked.
    assert queries.queries == ["Who designed the new lens?", REWRITTEN,
                               "How far did the beam reach?"]
    calls = recorded_calls(record)
    assert len(calls) == 4  # answer, rewrite + answer, answer
    rewrite = calls[1]
    assert ("human", "Who designed the new lens?") in rewrite
    assert ("ai", "Augustin Fresnel designed it [00:45].") in rewrite
    assert "Follow-up question: What came next?" in rewrite[-1][1]
    assert f"Question: {REWRITTEN}" in calls[2][-1][1]
    assert "Question: How far did the beam reach?" in calls[3][-1][1]

    out = result.output
    assert "Augustin Fresnel designed it [00:45]." in out
    assert "It bent the light into one beam [00:52], not [42:00]." in out
    # Each answer ends with its sources: the moments it cites, the invented one dropped.
    blocks = out.split("Sources:\n")
    assert [LINK.findall(block.split("\n> ")[0]) for block in blocks[1:4]] == [
        [("00:45", "45")], [("00:52", "52")], [("01:01", "61")],
    ]
    after_second = blocks[2]
    assert after_second.count("lighthouse-talk.srt#t=52") == 2  # the answer's, then /sources
    assert re.search(r"^> local-\w+  lighthouse-talk$", out, re.M)  # /videos
    assert "The conversation is cleared." in out
    assert "  /sources  the sources of the last answer" in out
    assert "Unknown command /nonsense." in out


def test_chat_leaves_on_end_of_input_and_keeps_going_after_an_error(
    home: Path, tmp_path: Path
) -> None:
    path, _ = script(tmp_path, [["Fine [00:45]."]])
    # The script has one reply: the second question's model call fails, the session goes on.
    result = run(home, "chat", "--llm", SCRIPTED, "-o", f"script={path}",
                 input="Who designed the new lens?\nAnd then?\n/sources\n")
    assert result.exit_code == 0, result.output
    assert "Fine [00:45]." in result.output
    assert "Error: the script has 1 replies, no more" in result.output
    assert result.output.count("#t=45") == 2  # the answer's sources, and /sources after it


def test_chat_reports_an_llm_that_cannot_be_had(home: Path) -> None:
    result = run(home, "chat", "--llm", "py:tests.no_such_module:model", input="exit\n")
    assert result.exit_code == 5
    assert result.output.splitlines() == [
        "Loading the LLM ...",
        "Error: --llm py:tests.no_such_module:model cannot be imported (No module named "
        "'tests.no_such_module'): check the module name, that it is on the Python path "
        "(PYTHONPATH), and the attribute.",
    ]


# --- ask --------------------------------------------------------------------------------


def test_ask_json_lists_the_cited_moments_and_the_passages(home: Path, tmp_path: Path) -> None:
    path, _ = script(tmp_path, [["Twenty ", "nautical miles [01:01]; ", "lit in [50:00]."]])
    result = run(home, "ask", "How far did the beam reach?", "--llm", SCRIPTED,
                 "-o", f"script={path}", "-k", "2", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)  # one object
    assert out["answer"] == "Twenty nautical miles [01:01]; lit in [50:00]."
    assert [(s["timestamp"], s["url"].rsplit("#t=", 1)[1]) for s in out["sources"]] == [
        ("01:01", "61")]
    assert len(out["context"]) == 2 and all("text" in p for p in out["context"])


def test_ask_window_sets_how_much_context_each_passage_has(home: Path, tmp_path: Path) -> None:
    contexts = []
    for window in ("0", "2"):
        folder = tmp_path / window
        folder.mkdir()
        path, _ = script(folder, [["Twenty nautical miles [01:01]."]])
        result = run(home, "ask", "How far did the beam reach?", "--llm", SCRIPTED,
                     "-o", f"script={path}", "-k", "1", "--window", window, "--json")
        assert result.exit_code == 0, result.output
        contexts.append(json.loads(result.output)["context"][0]["text"])
    narrow, wide = contexts
    assert narrow in wide and len(wide) > 2 * len(narrow)  # the chunk, then it and 2 + 2 more


def test_ask_rerank_gives_the_llm_the_passages_of_a_reranked_search(
    home: Path, tmp_path: Path, mpnet: Path
) -> None:
    question = "How far did the beam reach?"
    path, _ = script(tmp_path, [["Twenty nautical miles [01:01]."]])
    asked = run(home, "ask", question, "--llm", SCRIPTED, "-o", f"script={path}", "-k", "2",
                "--rerank", "mpnet", "--json")
    assert asked.exit_code == 0, asked.output
    searched = run(home, "search", question, "-k", "2", "--rerank", "mpnet", "--json")
    plain = run(home, "search", question, "-k", "2", "--json")

    def moments(output: str, key: str) -> list[tuple[str, float]]:
        return [(p["timestamp"], round(p["score"], 4)) for p in json.loads(output)[key]]

    assert moments(asked.output, "context") == moments(searched.output, "results")
    assert moments(searched.output, "results") != moments(plain.output, "results")

    said = (
        "Error: --rerank minilm is the index's own model: it would score the same chunks the "
        "same way. Re-rank with a larger model (minilm indexes: 'mpnet'), or leave --rerank out."
    )
    # Said before anything is indexed, the LLM loaded or a port taken.
    for command in (("search", question), ("chat", str(EXAMPLE)), ("serve", "--port", "0")):
        refused = run(home, *command, "--rerank", "minilm", input="exit\n")
        assert refused.exit_code == 2, (command, refused.output)
        assert refused.output.strip().splitlines() == [said], command


def environment(home: Path) -> dict[str, str]:
    """The child's environment: this worktree's ytqa and tests, the test's home."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "YTQA_HOME": str(home), "PYTHONUNBUFFERED": "1",
            "TERM": "dumb", "COLUMNS": "200"}


class Reader:
    """Reads what a child process writes to a file descriptor, waiting for a pattern."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = ""

    def until(self, pattern: str, timeout: float = 180.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.text)
            if match:
                return match
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} in:\n{self.text}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:  # the terminal closed with the child
                    data = b""
                if not data:
                    raise AssertionError(f"output ended before {pattern!r}:\n{self.text}")
                self.text += data.decode("utf-8", "replace").replace("\r\n", "\n")


def test_ask_prints_the_answer_while_the_model_writes_it(home: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    path, _ = script(tmp_path, [["The ", "beam ", {"wait_for": str(go)}, "reached ",
                                 "twenty nautical miles [01:01]."]])
    process = subprocess.Popen(
        [sys.executable, "-m", "ytqa.cli", "ask", "How far did the beam reach?",
         "--llm", SCRIPTED, "-o", f"script={path}", "-k", "2"],
        env=environment(home), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        reader = Reader(process.stdout.fileno())
        reader.until(r"The beam ")
        # The model is blocked mid-answer: what it wrote so far is already out.
        time.sleep(0.5)
        assert process.poll() is None and "reached" not in reader.text
        go.touch()
        reader.until(r"Sources:\n.*#t=61\n")
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
    assert "The beam reached twenty nautical miles [01:01].\n\nSources:\n" in reader.text


# --- chat in a real terminal ------------------------------------------------------------


@pytest.fixture
def terminal_chat(home: Path, tmp_path: Path) -> Iterator[tuple[int, int, Reader, Path]]:
    """Start ``ytqa chat`` on a pseudo-terminal (its controlling terminal, so that
    typing Ctrl-C there sends SIGINT); yield (pid, master fd, reader, scratch folder)."""
    import pty

    go = tmp_path / "go"
    path, _ = script(tmp_path, [
        ["Augustin ", "Fresnel ", {"wait_for": str(go)}, "designed ", "it ", "[00:45]."],
        [REWRITTEN],
        ["Rings ", "of ", "prisms ", {"hang": True}, "never shown"],
        ["How far could a first-order Fresnel lens throw its beam?"],
        ["Twenty ", "nautical ", "miles ", "[01:01]."],
    ])
    argv = [sys.executable, "-m", "ytqa.cli", "chat", "--llm", SCRIPTED, "-o", f"script={path}",
            "-k", "2"]
    env = environment(home)
    pid, master = pty.fork()
    if pid == 0:  # the child: the terminal's session leader, running ytqa chat
        # Ctrl-C as in a terminal, even when pytest was started in the background by a
        # shell (SIGINT ignored there, and ignored signals are inherited).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execve(sys.executable, argv, env)
    try:
        yield pid, master, Reader(master), tmp_path
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
        os.close(master)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def exit_status(pid: int, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    raise AssertionError("ytqa chat did not exit")


def test_chat_in_a_terminal_streams_stops_on_ctrl_c_and_leaves_on_ctrl_d(
    terminal_chat: tuple[int, int, Reader, Path],
) -> None:
    pid, master, reader, scratch = terminal_chat
    reader.until(r"\n> $")

    os.write(master, b"Who designed the new lens?\n")
    reader.until(r"Augustin Fresnel ")
    time.sleep(0.5)
    assert "designed it" not in reader.text.split("Who designed the new lens?")[-1]
    (scratch / "go").touch()  # let the model finish: the rest arrives, in order
    reader.until(r"Augustin Fresnel designed it \[00:45\]\.\n\nSources:\n.*#t=45\n> $")

    os.write(master, b"What came next?\n")
    reader.until(r"Rings of prisms ")
    os.write(master, b"\x03")  # Ctrl-C, typed: the terminal sends SIGINT
    reader.until(r"\[stopped\]\n> $")
    assert "never shown" not in reader.text

    # The session goes on; the stopped answer is not part of the conversation.
    os.write(master, b"How far did the beam reach?\n")
    reader.until(r"Twenty nautical miles \[01:01\]\.\n\nSources:\n.*#t=61\n> $")
    rewrite = recorded_calls(scratch / "calls.jsonl")[3]
    assert ("ai", "Augustin Fresnel designed it [00:45].") in rewrite
    assert not any("Rings of prisms" in text for _, text in rewrite)

    os.write(master, b"\x04")  # Ctrl-D at the prompt leaves
    assert exit_status(pid) == 0
