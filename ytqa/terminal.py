"""What the ``ytqa`` command writes to a terminal, made safe and put in its own words.

* :func:`printable` — text from transcripts, titles, files and errors without
  anything that drives a terminal (escape sequences, C0/C1 controls, bidi
  overrides); :func:`to_json` — JSON with those characters escaped, values exact.
* :func:`cli_message` — an error message for one line, naming the command's
  options (``--llm``) where the library names Python arguments (``llm=``).
* :func:`configure_logging` — the Hugging Face hub's retries said once, each
  attempt only with ``--debug``.

Light on purpose: ``ytqa --help`` imports this module.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import shlex
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "PrintableStream",
    "cli_message",
    "configure_logging",
    "one_line",
    "printable",
    "to_json",
]

# Whole escape sequences first, so that no visible remainder ("[2J") is left.
_ESCAPE_SEQUENCE = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]                 # CSI: cursor moves, colours, clearing the screen
    | \x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?   # OSC: window title, hyperlinks
    | \x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?      # DCS, SOS, PM, APC strings
    | \x1b[ -/]*[0-~]?                      # the other escapes (and a lone ESC)
    | \x9b[0-?]*[ -/]*[@-~]                 # 8-bit CSI
    | [\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x9c)?  # 8-bit string controls
    """,
    re.VERBOSE,
)
# What is left to drop: C0 controls but tab and newline, DEL, C1 controls, and the
# bidi embeddings, overrides, isolates and marks that reorder the text shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Line breaks that move the cursor: a lone CR would let text overwrite the line.
_LINE_BREAK = re.compile("\r\n?|[\u2028\u2029]")
# The same characters, escaped in JSON (which itself escapes only those below U+0020).
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]")


def printable(text: object) -> str:
    """``str(text)`` without escape sequences, controls (but tab and newline) or bidi
    overrides, so that printing it cannot move the cursor, clear the screen, set
    the window title or reorder what is shown."""
    cleaned = _LINE_BREAK.sub("\n", str(text))
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", cleaned))


# The end of streamed text that may be the start of an escape sequence (or of a CR LF)
# cut between two tokens: held back until the next token says what it is.
_UNFINISHED = re.compile(
    r"""
    (?: \x1b\[[0-?]*[ -/]*                  # CSI without its final byte
      | \x1b[\]PX^_][^\x07\x1b\x9c]*         # a string not yet terminated
      | \x1b[ -/]*                         # a lone ESC, or with intermediates
      | \x9b[0-?]*[ -/]*
      | [\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*
      | \r
    )\Z
    """,
    re.VERBOSE,
)
_HOLD_LIMIT = 4096


class PrintableStream:
    """:func:`printable` for text that arrives in pieces (an answer streamed token by
    token): an escape sequence cut between two pieces is removed whole, as
    :func:`printable` removes it from the whole text.

    >>> stream = PrintableStream()
    >>> stream.feed("red \x1b[3") + stream.feed("1mtext") + stream.flush()
    'red text'
    """

    def __init__(self) -> None:
        self._held = ""

    def feed(self, text: str) -> str:
        """What of the text so far can be shown now."""
        text = self._held + text
        self._held = ""
        starts = [text.rfind(mark) for mark in "\x1b\x9b\x90\x98\x9d\x9e\x9f\r"]
        cut = max(starts)
        if cut >= 0 and len(text) - cut <= _HOLD_LIMIT and _UNFINISHED.match(text, cut):
            text, self._held = text[:cut], text[cut:]
        return printable(text)

    def flush(self) -> str:
        """The rest, at the end of the text."""
        text, self._held = self._held, ""
        return printable(text)


def one_line(text: object) -> str:
    """:func:`printable` text with every run of whitespace (newlines too) as one space."""
    return " ".join(printable(text).split())


def to_json(value: Any) -> str:
    """``json.dumps`` that keeps every character of *value* and prints none raw that a
    terminal would obey (JSON escapes only those below U+0020 by itself)."""
    text = json.dumps(value, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# --- messages in the command's words -------------------------------------------------

_CLI_NAMES = {
    "model": "--model",
    "llm": "--llm",
    "rerank": "--rerank",
    "languages": "--language",
    "translate_to": "--translate-to",
    "proxy": "--proxy",
    "captions": "--captions",
    "cookies": "--cookies",
    "concurrency": "--concurrency",
    "limit": "--limit",
    "since": "--since",
    "persist_directory": "--home",
    "videos": "SOURCES",
}
"""Python arguments named in library messages -> what the command calls them."""

_ARGUMENT = re.compile(
    r"(?<![\w.$-])(?P<name>" + "|".join(_CLI_NAMES) + r")"
    r"(?:=(?P<value>'[^']*'|\"[^\"]*\"|\[\.\.\.\]|\.\.\.)?"
    # Bare names too, where they cannot be a plain word ("drop translate_to").
    r"|(?<=translate_to)|(?<=persist_directory))(?![\w=])"
)
# Messages that already name both ("`proxy='...'` in Python, `--proxy URL` or ...").
_NAMED_FOR_PYTHON = re.compile(r"`? in Python\b")


def _as_option(match: re.Match[str]) -> str:
    option, value = _CLI_NAMES[match["name"]], match["value"]
    if _NAMED_FOR_PYTHON.match(match.string, match.end()):
        return match.group()
    if not value:  # a bare name, "llm=" alone, or a value this cannot read
        following = match.string[match.end() : match.end() + 1]
        return f"{option} " if following and following not in " .,;:)" else option
    if value in ("...", "[...]"):
        return f"{option} ..." if option.startswith("-") else option
    try:
        text = str(ast.literal_eval(value))
    except (ValueError, SyntaxError):  # a quote inside the value: show it as written
        text = value[1:-1]
    return f"{option} {shlex.quote(text)}"


# Python calls named in library messages -> the command that does the same.
_QUOTED = r"'[^']*'|\"[^\"]*\""
_REPAIR_CALL = re.compile(rf"ytqa\.repair_index\((?P<folder>{_QUOTED}|DIR)?\)")
_ADD_CALL = re.compile(rf"ytqa\.VideoIndex\(\)\.add\((?P<source>{_QUOTED})\)")


def _repair_command(match: re.Match[str]) -> str:
    from ytqa.config import index_dir

    folder = match["folder"]
    if folder is None:
        return "ytqa doctor --repair"
    if folder != "DIR":
        folder = str(ast.literal_eval(folder))
        if Path(folder) == index_dir():
            return "ytqa doctor --repair"
    return f"ytqa doctor --repair --index-dir {shlex.quote(folder)}"


def _add_command(match: re.Match[str]) -> str:
    return f"ytqa ingest {shlex.quote(str(ast.literal_eval(match['source'])))}"


def cli_message(error: object) -> str:
    """The message of *error* on one printable line in the command's words (the
    library's messages name Python arguments and calls): ``model='mpnet'`` as
    ``--model mpnet``, ``ytqa.repair_index(...)`` as ``ytqa doctor --repair``,
    ``ytqa.VideoIndex().add(ID)`` as ``ytqa ingest ID``."""
    text = _REPAIR_CALL.sub(_repair_command, one_line(error))
    text = _ADD_CALL.sub(_add_command, text)
    return _ARGUMENT.sub(_as_option, text)


# --- the hub's retries ------------------------------------------------------------------

_HUB_LOGGERS = ("huggingface_hub.utils._http", "huggingface_hub.hf_api")
_RETRY_LINE = re.compile(r"^(?:Retrying in |Rate limited\. Waiting )")
_FAILED_TRY = re.compile(r"^(?P<error>.+) thrown while requesting (?P<request>.+)$")


class _RetriesSaidOnce(logging.Filter):
    """Lets through the first of the hub's retry warnings, reworded to say what is
    retried and how to see more; drops the others. ``debug`` lets all of them through."""

    def __init__(self) -> None:
        super().__init__()
        self.debug = False
        self.said = False

    def filter(self, record: logging.LogRecord) -> bool:
        if self.debug:
            return True
        message = record.getMessage()
        failed = _FAILED_TRY.match(message)
        if failed is None:
            return _RETRY_LINE.match(message) is None
        if self.said:
            return False
        self.said = True
        record.msg = (
            f"The Hugging Face hub did not answer {failed['request']} "
            f"({failed['error'].strip(chr(39))}); retrying for up to half a minute per file. "
            "--debug shows every attempt; HF_HUB_OFFLINE=1 skips the hub."
        )
        record.args = ()
        return True


_retries = _RetriesSaidOnce()
_debug_handler = logging.StreamHandler()
_debug_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))


def configure_logging(*, debug: bool) -> None:
    """Set up what the command logs: with *debug*, ytqa's own records (fetch retries,
    cache reads) and every hub attempt; without, each hub retry said once."""
    _retries.debug = debug
    _retries.said = False
    for name in _HUB_LOGGERS:
        logger = logging.getLogger(name)
        if _retries not in logger.filters:
            logger.addFilter(_retries)
    ytqa_logger = logging.getLogger("ytqa")
    if debug:
        _debug_handler.setStream(sys.stderr)  # the stderr of now (a test may swap it)
        if _debug_handler not in ytqa_logger.handlers:
            ytqa_logger.addHandler(_debug_handler)
        ytqa_logger.setLevel(logging.DEBUG)
    elif _debug_handler in ytqa_logger.handlers:
        ytqa_logger.removeHandler(_debug_handler)
        ytqa_logger.setLevel(logging.NOTSET)
