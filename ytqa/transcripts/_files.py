"""Transcript files: SRT, WebVTT and youtube-transcript-api JSON read into a :class:`Transcript`.

Reading is careful about what it opens (regular files only, a size limit,
no blocking on pipes), decodes UTF-8/16/32 and Windows-1252, and turns
YouTube's rolling auto-caption VTT into each spoken line once. No network, no cache.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import hashlib
import html
import json
import math
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ytqa.config import MAX_TRANSCRIPT_BYTES_ENV, max_transcript_bytes
from ytqa.errors import TranscriptFileError
from ytqa.transcripts._model import (
    _OWN_ID_RULE,
    Captions,
    Segment,
    Transcript,
    _clean_text,
    _custom_video_id,
    _is_valid_video_id,
    check_captions,
)

TRANSCRIPT_SUFFIXES = (".srt", ".vtt", ".json")
"""File name endings :func:`transcript_files` and :func:`load_transcript` read."""


def read_transcript_file(
    path: str | os.PathLike[str], *, video_id: str | None = None
) -> Transcript:
    """Read a transcript file: youtube-transcript-api JSON, SRT or WebVTT.

    The format follows the file name ending (else the content). YouTube's
    auto-caption VTT, with inline word timings and rolling lines repeated from
    cue to cue, comes out as each spoken line once, in order, timed by the cue
    that first shows it.

    The video ID is *video_id* when given (an ID, a video URL, or a name of
    your own), else the file name's when it is one (``<ID>.srt``,
    ``<ID>.en.vtt``, yt-dlp's ``Title [<ID>].en.vtt``), else a stable
    ``local-<hash>`` derived from the file's bytes. The language code comes from
    the name (``.en.``), the VTT header or the JSON, else ``"und"``. No network,
    no cache: :func:`load_transcript` adds the caching.

    Only regular files (or links to them) are read, up to
    ``$YTQA_MAX_TRANSCRIPT_BYTES`` (default 50 MB). Text is UTF-8, or UTF-16
    or UTF-32 with a byte order mark; a file with no UTF-8 in it at all is
    read as Windows-1252. Control characters are dropped from the text.

    Raises:
        TranscriptFileError: the file cannot be read, is not a regular file, is
            too large, empty or malformed (the message names the file and,
            where one is at fault, the line).
    """
    file = Path(path)
    data = _read_regular_file(file)
    text = _decode(file, data)
    if not text.strip():
        raise TranscriptFileError(file, "the file is empty")
    parsed = _PARSERS[_detect_format(file, text)](text, file)
    if not parsed.segments:
        raise TranscriptFileError(file, "it holds no caption text")

    name_id, name_language = _names_from_file_name(file.name)
    if video_id is not None:
        vid = _custom_video_id(video_id)
    else:
        vid = name_id or parsed.video_id or "local-" + hashlib.sha256(data).hexdigest()[:10]
    code = name_language or parsed.language_code or "und"
    language = parsed.language if parsed.language and not name_language else code
    return Transcript(
        video_id=vid,
        segments=tuple(parsed.segments),
        language=language,
        language_code=code,
        is_generated=parsed.is_generated,
        title=parsed.title or _title_from_file_name(file.name),
        channel=parsed.channel,
        source=str(file.resolve()),
    )


def _title_from_file_name(name: str) -> str | None:
    """``My talk.srt`` -> ``My talk``; yt-dlp's ``Title [ID].en.vtt`` -> ``Title``.

    None when the name is only the video ID: citations then fall back to the ID.
    """
    if _FILE_NAME.fullmatch(name):
        return None
    title = _clean_text(_YT_DLP_NAME.sub("", _base_name(name)))
    return title or None


def _read_regular_file(file: Path) -> bytes:
    """The bytes of *file*, which must be a regular file within the size limit.

    The file is opened without blocking, so that a named pipe cannot hang the
    read, and its kind and size are checked on the opened descriptor, so that
    nothing can swap it between the check and the read.
    """
    limit = max_transcript_bytes()
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        descriptor = os.open(file, flags)
    except OSError as exc:
        raise TranscriptFileError(file, _os_problem(file, exc)) from exc
    except ValueError as exc:  # a NUL character, or text the file system cannot encode
        raise TranscriptFileError(file, f"the system cannot take this path ({exc})") from exc
    chunks: list[bytes] = []
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise TranscriptFileError(file, _not_regular(file, status.st_mode))
        if status.st_size > limit:
            raise TranscriptFileError(file, _too_large(status.st_size, limit))
        remaining = limit + 1  # one byte more shows a file that grew past the limit
        while remaining > 0:
            chunk = os.read(descriptor, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as exc:
        raise TranscriptFileError(file, _os_problem(file, exc)) from exc
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > limit:
        raise TranscriptFileError(file, _too_large(len(data), limit))
    return data


def _os_problem(file: Path, exc: OSError) -> str:
    """What the system's refusal to open or read *file* means, and what to do."""
    if exc.errno == errno.ELOOP:
        return (
            "it is a symbolic link loop (its links lead back to themselves, never to a "
            "file); point the link at the transcript file, or pass the file itself"
        )
    if exc.errno == errno.ENAMETOOLONG:
        return (
            f"the path is too long for the file system ({len(str(file))} characters, or a "
            "part of it over 255 bytes); rename the file or move it to a shorter path"
        )
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        with contextlib.suppress(OSError):
            if os.path.islink(file):
                return f"it is a symbolic link to {os.readlink(file)}, which does not exist"
        return "no such file"
    if exc.errno == errno.EISDIR:
        return "it is a folder"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; make the file readable (chmod +r) or copy it somewhere readable"
    if exc.errno == errno.ENXIO:
        return "it is a socket, not a file; save the captions to a file first"
    return f"cannot read it ({exc.strerror or exc})"


def _not_regular(file: Path, mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a folder"
    kind = (
        "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
        else "a character device" if stat.S_ISCHR(mode)
        else "a block device" if stat.S_ISBLK(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "not a regular file"
    )
    target = os.path.realpath(file)
    linked = f" (it links to {target})" if os.path.islink(file) else ""
    return (
        f"it is {kind}{linked}, and only regular files are read; save the captions "
        "to a regular file and pass that"
    )


def _too_large(size: int, limit: int) -> str:
    return (
        f"it is {size:,} bytes, more than the limit of {limit:,} bytes for transcript "
        f"files; if it really is a transcript, raise the limit with "
        f"{MAX_TRANSCRIPT_BYTES_ENV} (in bytes)"
    )


def transcript_files(
    folder: str | os.PathLike[str], *, prefer: Captions = "manual"
) -> list[Path]:
    """Return the transcript files in *folder*, one per video, sorted by name.

    When a video has several files, ``prefer="manual"`` (or ``"any"``, uploaded
    first as ``captions="any"`` is) takes uploaded captions (``<ID>.srt``) over
    ``.json`` and auto-caption ``.vtt`` files; ``prefer="generated"`` takes
    ``.vtt`` first. Hidden files and other endings are left out; sub-folders
    are not searched.

    Raises:
        TranscriptFileError: *folder* is not a folder.
    """
    check_captions(prefer, "prefer")
    directory = Path(folder)
    if not directory.is_dir():
        raise TranscriptFileError(directory, "not a folder of transcript files")
    order = (".vtt", ".json", ".srt") if prefer == "generated" else (".srt", ".json", ".vtt")
    groups: dict[str, list[Path]] = {}
    for file in directory.iterdir():
        suffix = file.suffix.lower()
        if file.name.startswith(".") or suffix not in TRANSCRIPT_SUFFIXES or not file.is_file():
            continue
        name_id, _ = _names_from_file_name(file.name)
        groups.setdefault(name_id or _base_name(file.name), []).append(file)
    chosen = [
        min(files, key=lambda f: (order.index(f.suffix.lower()), f.name))
        for files in groups.values()
    ]
    return sorted(chosen, key=lambda f: f.name)


def _is_folder(path: Path) -> bool:
    # Not Path.is_dir(): it raises for a name too long instead of answering.
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):  # ValueError: a NUL character in the path
        return False


def _no_such_file(path: Path, problem: str) -> TranscriptFileError:
    """The error for a path that names nothing; says so when the system refused the name."""
    try:
        os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return TranscriptFileError(path, _os_problem(path, exc))
    except ValueError as exc:
        return TranscriptFileError(path, f"the system cannot take this path ({exc})")
    return TranscriptFileError(path, problem)


_LANGUAGE_PART = r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*"
_FILE_NAME = re.compile(
    rf"(?P<id>[A-Za-z0-9_-]{{11}})(?:\.(?P<lang>{_LANGUAGE_PART}))?\.(?:srt|vtt|json)",
    re.IGNORECASE,
)
_YT_DLP_NAME = re.compile(r"\[(?P<id>[A-Za-z0-9_-]{11})\]")
_LANGUAGE_SUFFIX = re.compile(rf"\.(?P<lang>{_LANGUAGE_PART})\.(?:srt|vtt|json)$", re.IGNORECASE)


def _names_from_file_name(name: str) -> tuple[str | None, str | None]:
    """Return the (video ID, language code) that a transcript file name holds."""
    match = _FILE_NAME.fullmatch(name)
    if match:
        return match["id"], match["lang"]
    language = _LANGUAGE_SUFFIX.search(name)
    code = language["lang"] if language else None
    bracketed = _YT_DLP_NAME.search(name)
    return (bracketed["id"] if bracketed else None), code


def _base_name(name: str) -> str:
    """``talk.en.vtt`` and ``talk.srt`` -> ``talk`` (one video, several files)."""
    language = _LANGUAGE_SUFFIX.search(name)
    if language:
        return name[: language.start()]
    return name.rsplit(".", 1)[0]


@dataclass
class _ParsedFile:
    segments: list[Segment]
    is_generated: bool = False
    language_code: str | None = None
    language: str | None = None
    video_id: str | None = None
    title: str | None = None
    channel: str | None = None


@dataclass
class _Cue:
    start: float
    end: float
    line: int
    lines: list[str] = field(default_factory=list)


_TIMESTAMP = r"(?:([0-9]{1,9}):)?([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]{1,9}))?"
_TIMING_LINE = re.compile(rf"\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(?:[ \t].*)?")
_CUE_NUMBER = re.compile(r"[0-9]+")
_TAG = re.compile(r"<[^>\n]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}\n]*\}")
# YouTube's auto-captions time each word: "word<00:00:01.500><c> next</c>".
_WORD_TIMING = re.compile(r"<(?:[0-9]+:)?[0-9]{2}:[0-9]{2}\.[0-9]{3}>")
_VTT_SKIPPED_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:\s|$)")
_VTT_LANGUAGE = re.compile(r"Language:\s*(" + _LANGUAGE_PART + r")\s*$", re.IGNORECASE)


# UTF-32's byte order marks begin with UTF-16's: they are tested first.
_BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# A well-formed multi-byte UTF-8 character.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _decode(path: Path, data: bytes) -> str:
    """The text of a transcript file: UTF-8; UTF-16/32 with a BOM; else Windows-1252.

    A file that is not valid UTF-8 is read as Windows-1252 (what old subtitle
    tools wrote) only when it holds no more well-formed UTF-8 characters than
    invalid bytes: a UTF-8 file with damaged bytes is an error naming the
    line, never silently turned into mojibake.
    """
    for mark, encoding in _BYTE_ORDER_MARKS:
        if data.startswith(mark):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise TranscriptFileError(
                    path, f"broken {encoding.upper()} text at byte {exc.start}"
                ) from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        utf8 = len(_UTF8_MULTIBYTE.findall(data))
        invalid = data.decode("utf-8", "replace").count("\ufffd") - data.count(b"\xef\xbf\xbd")
        if utf8 <= invalid:
            with contextlib.suppress(UnicodeDecodeError):
                return data.decode("cp1252")
        raise TranscriptFileError(
            path,
            f"not UTF-8 text (byte {exc.start} is invalid); convert the file to UTF-8, "
            "e.g. iconv -f ENCODING -t UTF-8",
            line,
        ) from exc


def _detect_format(path: Path, text: str) -> Literal["srt", "vtt", "json"]:
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("WEBVTT"):
        return "vtt"
    suffix = path.suffix.lower()
    if suffix in (".srt", ".vtt", ".json"):
        return "srt" if suffix == ".srt" else "vtt" if suffix == ".vtt" else "json"
    if head.startswith(("[", "{")):
        return "json"
    if "-->" in head:
        return "srt"
    raise TranscriptFileError(path, "unknown transcript format; use .srt, .vtt or .json")


def _split_lines(text: str) -> list[str]:
    # Not str.splitlines(): it also splits on form feeds and Unicode separators,
    # which would make the line numbers in error messages disagree with editors.
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _seconds(groups: Sequence[str | None], path: Path, line: int) -> float:
    hours, minutes, secs, fraction = groups
    if int(secs or 0) >= 60 or (hours is not None and int(minutes or 0) >= 60):
        raise TranscriptFileError(path, "minutes and seconds must be below 60", line)
    value = int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(secs or 0)
    return round(value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0), 3)


def _parse_cues(lines: list[str], first: int, path: Path, *, vtt: bool) -> list[_Cue]:
    """Group *lines* (from index *first*) into timed cues.

    Lenient where real files are sloppy: cue numbers/identifiers are optional,
    a blank line inside a cue's text does not end it (the text that follows
    still belongs to it), whitespace-only lines are blank.
    """
    cues: list[_Cue] = []
    current: _Cue | None = None
    after_blank = True
    skipping = False
    for index in range(first, len(lines)):
        number = index + 1
        stripped = lines[index].strip()
        if not stripped:
            after_blank, skipping = True, False
            continue
        if skipping:
            continue
        if "-->" in stripped:
            match = _TIMING_LINE.fullmatch(stripped)
            if match is None:
                example = (
                    "00:00:01.000 --> 00:00:04.000" if vtt else "00:00:01,000 --> 00:00:04,000"
                )
                raise TranscriptFileError(
                    path, f"unreadable timing line {stripped[:60]!r}; expected '{example}'", number
                )
            start = _seconds(match.groups()[:4], path, number)
            end = _seconds(match.groups()[4:], path, number)
            current = _Cue(start, max(start, end), number)
            cues.append(current)
            after_blank = False
            continue
        if vtt and after_blank and _VTT_SKIPPED_BLOCK.match(stripped):
            skipping = True
            continue
        if index + 1 < len(lines) and "-->" in lines[index + 1]:
            continue  # a cue number (SRT) or cue identifier (VTT)
        if current is None:
            if vtt or _CUE_NUMBER.fullmatch(stripped):
                continue  # VTT ignores text outside cues
            raise TranscriptFileError(
                path,
                f"expected a cue number or a timing line, found {stripped[:60]!r}",
                number,
            )
        current.lines.append(lines[index])
        after_blank = False
    return cues


def _clean_line(line: str) -> str:
    text = _remove(_ASS_OVERRIDE, "}", _remove(_TAG, ">", line))
    return _clean_text(html.unescape(text))


def _remove(pattern: re.Pattern[str], closing: str, line: str) -> str:
    """``pattern.sub("", line)`` for a pattern that ends with its first *closing* character.

    Only the part up to the last *closing* is searched: after it no match can
    end, and trying every opening there ("<<<<...") would take quadratic time.
    """
    end = line.rfind(closing) + 1
    return pattern.sub("", line[:end]) + line[end:] if end else line


def _new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of *current* that *previous* did not already show.

    YouTube's auto-captions roll: each cue repeats the line before it (and
    short "snapshot" cues repeat the whole display), so a cue whose first lines
    are the previous cue's last lines only adds what follows them. The longest
    such overlap wins; its last line may also have grown word by word.
    """
    if not previous or not current:
        return current
    shown = previous[-1]
    grown = shown + " "
    # Overlaps of k lines: previous[-k:-1] == current[:k-1], and current[k-1]
    # shows previous[-1] (or grows it), longest first.
    for repeated in _suffix_prefix_overlaps(previous[:-1], current, len(current) - 1):
        line = current[repeated]
        if line == shown:
            return current[repeated + 1 :]
        if line.startswith(grown):
            # The last line grew word by word: keep only the words it added.
            return [line[len(shown) :].strip(), *current[repeated + 1 :]]
    return current


def _suffix_prefix_overlaps(before: list[str], after: list[str], limit: int) -> Iterator[int]:
    """Every n <= *limit* with ``before[len(before) - n:] == after[:n]``, largest first (0 last).

    The Knuth-Morris-Pratt failure function of ``after[:limit]``, then a scan of
    *before*: linear in the two lengths, where comparing every overlap would be
    quadratic (a cue of 10,000 repeated lines).
    """
    pattern = after[: max(0, min(limit, len(before)))]
    failure = [0] * len(pattern)
    matched = 0
    for index in range(1, len(pattern)):
        while matched and pattern[index] != pattern[matched]:
            matched = failure[matched - 1]
        if pattern[index] == pattern[matched]:
            matched += 1
        failure[index] = matched
    matched = 0
    # Only the last len(pattern) lines of *before* can take part in an overlap.
    for line in before[len(before) - len(pattern) :] if pattern else ():
        while matched and (matched == len(pattern) or line != pattern[matched]):
            matched = failure[matched - 1]
        if line == pattern[matched]:
            matched += 1
    while matched:
        yield matched
        matched = failure[matched - 1]
    yield 0


def _segments_from_cues(cues: list[_Cue]) -> tuple[list[Segment], int]:
    """Turn cues into segments, each shown line once; also return the count of rolling cues."""
    segments: list[Segment] = []
    previous: list[str] = []
    rolling = 0
    for cue in cues:
        texts = [text for text in map(_clean_line, cue.lines) if text]
        if not texts:
            continue
        new = _new_lines(previous, texts)
        if new != texts:
            rolling += 1
        previous = texts
        if new:
            # Rounded to the millisecond, the precision of the timestamps themselves.
            segments.append(Segment(" ".join(new), cue.start, round(cue.end - cue.start, 3)))
    segments.sort(key=lambda segment: segment.start)  # stable: file order within a time
    return segments, rolling


def _looks_rolling(rolling: int, cues: int) -> bool:
    # Auto-captions repeat lines in most cues; uploaded captions almost never do.
    return rolling >= 2 and rolling >= 0.25 * cues


def _parse_srt(text: str, path: Path) -> _ParsedFile:
    cues = _parse_cues(_split_lines(text), 0, path, vtt=False)
    if not cues:
        raise TranscriptFileError(
            path, "no cues found (no line like '00:00:01,000 --> 00:00:04,000')"
        )
    segments, rolling = _segments_from_cues(cues)
    return _ParsedFile(segments, is_generated=_looks_rolling(rolling, len(cues)))


def _parse_vtt(text: str, path: Path) -> _ParsedFile:
    lines = _split_lines(text.lstrip("\ufeff"))
    first = 0
    language = None
    if lines[0].startswith("WEBVTT") and lines[0][6:7] in ("", " ", "\t"):
        # The header runs to the first blank line ("Kind: captions", "Language: en").
        first = 1
        while first < len(lines) and lines[first].strip() and "-->" not in lines[first]:
            found = _VTT_LANGUAGE.match(lines[first].strip())
            language = found[1] if found else language
            first += 1
    cues = _parse_cues(lines, first, path, vtt=True)
    if not cues:
        header = "" if first else " and no 'WEBVTT' header"
        raise TranscriptFileError(
            path, f"no cues found (no line like '00:00:01.000 --> 00:00:04.000'){header}"
        )
    segments, rolling = _segments_from_cues(cues)
    timed = any(_WORD_TIMING.search(line) for cue in cues for line in cue.lines)
    return _ParsedFile(
        segments, is_generated=timed or _looks_rolling(rolling, len(cues)), language_code=language
    )


def _json_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _parse_json(text: str, path: Path) -> _ParsedFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFileError(path, f"not valid JSON ({exc.msg})", exc.lineno) from exc
    except (ValueError, RecursionError) as exc:
        raise TranscriptFileError(path, f"not valid JSON ({exc})") from exc
    expected = (
        "expected youtube-transcript-api's list of {\"text\", \"start\", \"duration\"} "
        "objects, or an object with a \"segments\" list"
    )
    meta: dict[str, Any] = {}
    if isinstance(data, dict):
        meta = data
        items = data.get("segments", data.get("snippets"))
    else:
        items = data
    if not isinstance(items, list):
        raise TranscriptFileError(path, expected)
    segments = []
    for position, item in enumerate(items, 1):
        if not isinstance(item, dict) or not isinstance(item.get("text"), str):
            raise TranscriptFileError(path, f"item {position} has no \"text\" string; {expected}")
        start = _json_number(item.get("start"))
        duration = _json_number(item.get("duration", item.get("dur", 0.0)))
        if start is None or duration is None:
            raise TranscriptFileError(
                path,
                f"item {position} needs a \"start\" and \"duration\" in seconds (numbers >= 0)",
            )
        words = _clean_text(item["text"])
        if words:
            segments.append(Segment(words, start, duration))
    segments.sort(key=lambda segment: segment.start)

    def text_field(name: str) -> str | None:
        value = meta.get(name)
        return _clean_text(value) or None if isinstance(value, str) else None

    generated = meta.get("is_generated")
    return _ParsedFile(
        segments,
        is_generated=generated if isinstance(generated, bool) else False,
        language_code=text_field("language_code"),
        language=text_field("language"),
        video_id=_declared_video_id(meta.get("video_id"), path),
        title=text_field("title"),
        channel=text_field("channel"),
    )


def _declared_video_id(value: Any, path: Path) -> str | None:
    """The ``video_id`` field of a JSON transcript, which must be a valid ID when present."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and _is_valid_video_id(value.strip()):
        return value.strip()
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise TranscriptFileError(
        path,
        f'its "video_id" field, {shown}, is not a video ID: use an 11-character YouTube '
        f"ID, or an ID of your own ({_OWN_ID_RULE}), or remove the field to have ytqa "
        "derive one",
    )


_PARSERS = {"srt": _parse_srt, "vtt": _parse_vtt, "json": _parse_json}
