"""Reading transcript files: SRT, WebVTT (YouTube's rolling auto-captions too), JSON."""

from __future__ import annotations

import codecs
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from youtube_transcript_api import FetchedTranscript, FetchedTranscriptSnippet

from ytqa import (
    InvalidVideoIdError,
    Segment,
    Transcript,
    TranscriptCacheMissError,
    TranscriptFileError,
    YtqaError,
)
from ytqa.config import DEFAULT_MAX_TRANSCRIPT_BYTES
from ytqa.index import VideoIndex
from ytqa.transcripts import (
    cached_transcripts,
    cached_video_ids,
    expand_sources,
    load_cached,
    load_transcript,
    read_transcript_file,
    transcript_files,
)
from ytqa.transcripts._files import _new_lines

JUNK_VTT = "AQPlREDW-Ro"  # a real, garbled auto-caption file (9 cues)


def words(transcript: Transcript) -> list[str]:
    return re.findall(r"[a-z0-9]+", transcript.text.lower().replace("'", ""))


def repeated_run(tokens: list[str], size: int = 8) -> list[str] | None:
    """The first *size*-word sequence that follows itself immediately, if any."""
    for i in range(len(tokens) - 2 * size + 1):
        if tokens[i : i + size] == tokens[i + size : i + 2 * size]:
            return tokens[i : i + size]
    return None


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def shared_files(transcripts_dir: Path) -> list[Path]:
    return sorted(transcripts_dir.iterdir())


# --- the shared, real transcripts --------------------------------------------


def test_every_shared_transcript_loads(transcripts_dir: Path) -> None:
    files = shared_files(transcripts_dir)
    assert len(files) >= 61  # 36 videos, 25 with auto-captions (data README)
    for path in files:
        transcript = read_transcript_file(path)
        video_id = path.name.split(".")[0]

        assert transcript.video_id == video_id, path
        assert transcript.source == str(path.resolve())
        assert transcript.segments
        assert all(s.text and s.text == s.text.strip() for s in transcript.segments)
        starts = [s.start for s in transcript.segments]
        assert starts == sorted(starts) and starts[0] >= 0
        assert all(s.duration >= 0 for s in transcript.segments)
        assert transcript.duration > 60
        if path.name.endswith(".en.vtt"):
            assert transcript.language_code == "en"
            assert transcript.is_generated is True
        else:
            assert transcript.is_generated is False


def test_auto_captions_match_uploaded_captions(transcripts_dir: Path) -> None:
    """Each spoken word once, in order: the auto-caption words track the uploaded ones."""
    pairs = [
        (vtt, transcripts_dir / vtt.name.replace(".en.vtt", ".srt"))
        for vtt in sorted(transcripts_dir.glob("*.en.vtt"))
        if not vtt.name.startswith(JUNK_VTT)
    ]
    assert len(pairs) >= 24
    for vtt, srt in pairs:
        auto, uploaded = words(read_transcript_file(vtt)), words(read_transcript_file(srt))

        # Measured on these files: 0.93-1.01 (rolling lines kept would give about 2).
        assert 0.9 <= len(auto) / len(uploaded) <= 1.1, vtt.name
        # Same words in the same order, give or take recognition errors (measured >= 0.89).
        similarity = difflib.SequenceMatcher(None, auto, uploaded, autojunk=False).ratio()
        assert similarity >= 0.85, (vtt.name, similarity)
        assert repeated_run(auto) is None, (vtt.name, repeated_run(auto))


def test_auto_caption_cues_are_timed_by_the_cue_that_first_shows_them(
    transcripts_dir: Path,
) -> None:
    with_word_timings = read_transcript_file(transcripts_dir / "1fQkVqno-uI.en.vtt")
    assert with_word_timings.segments[:3] == (
        Segment("there are probably 10,000 stars for", 0.0, 2.24),
        Segment("every grain of sand on earth in the", 2.25, 1.999),
        Segment("observable universe we know that there", 4.259, 2.09),
    )
    rolling_only = read_transcript_file(transcripts_dir / "3ChlJ1pdWlQ.en.vtt")
    assert rolling_only.segments[:3] == (
        Segment("welcome to now you see it this video of", 9.559, 2.791),
        Segment("a train was first screened to a group of", 12.36, 1.76),
        Segment("people in France in January of 1896", 14.13, 2.63),
    )
    # The 10 ms "snapshot" cues that repeat a finished line add nothing.
    assert all(s.duration > 0.1 for s in rolling_only.segments)


def test_junk_auto_captions_load(transcripts_dir: Path) -> None:
    transcript = read_transcript_file(transcripts_dir / f"{JUNK_VTT}.en.vtt")

    assert transcript.video_id == JUNK_VTT
    assert 0 < len(words(transcript)) < 100
    assert repeated_run(words(transcript), 3) is None
    assert transcript.segments[-1].text == "[Music]"


def test_srt_ids_and_times(transcripts_dir: Path) -> None:
    transcript = load_transcript(transcripts_dir / "1fQkVqno-uI.srt")

    assert transcript.video_id == "1fQkVqno-uI"
    assert transcript.segments[0] == Segment(
        "There are probably 10,000 stars for every grain of sand on earth in the", 0.03, 4.23
    )
    assert transcript.segments[1].start == 4.261
    assert transcript.link(4.261) == "https://www.youtube.com/watch?v=1fQkVqno-uI&t=4s"
    assert "\r" not in transcript.text
    # A string path works as well as a Path.
    assert load_transcript(str(transcripts_dir / "-NtSZQHRc-I.srt")).video_id == "-NtSZQHRc-I"


def test_srt_times_match_the_question_set(shared_data: Path, transcripts_dir: Path) -> None:
    """qa-dev.jsonl bounds each answer by caption times of the .srt: they must be cue edges."""
    items = [json.loads(line) for line in (shared_data / "qa-dev.jsonl").read_text().splitlines()]
    assert len(items) == 40
    for item in items:
        transcript = read_transcript_file(transcripts_dir / f"{item['video_id']}.srt")
        starts = {round(s.start, 3) for s in transcript.segments}
        ends = {round(s.end, 3) for s in transcript.segments}
        assert round(item["start"], 3) in starts, item["id"]
        assert round(item["end"], 3) in ends, item["id"]


def test_loaded_files_are_cached_for_later(transcripts_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copy(transcripts_dir / "9tbxDgcv74c.srt", tmp_path / "9tbxDgcv74c.srt")
    loaded = load_transcript(copy)
    Path(copy).unlink()  # the file may be gone when the video is re-embedded

    assert cached_video_ids() == ["9tbxDgcv74c"]
    assert load_cached("9tbxDgcv74c") == loaded


# --- transcript_files ----------------------------------------------------------


def test_transcript_files_one_per_video(transcripts_dir: Path) -> None:
    manual = transcript_files(transcripts_dir)
    generated = transcript_files(transcripts_dir, prefer="generated")

    assert len(manual) == len(generated) == len(list(transcripts_dir.glob("*.srt"))) >= 36
    assert all(path.suffix == ".srt" for path in manual)
    assert manual == sorted(manual, key=lambda p: p.name)
    vtts = {path.name.split(".")[0] for path in transcripts_dir.glob("*.en.vtt")}
    assert {p.name.split(".")[0] for p in generated if p.name.endswith(".en.vtt")} == vtts
    assert {p.name.split(".")[0] for p in manual} == {p.name.split(".")[0] for p in generated}


def test_transcript_files_take_the_captions_words(transcripts_dir: Path) -> None:
    # prefer= speaks captions=' vocabulary: "any" is uploaded first, as for load_transcript.
    assert transcript_files(transcripts_dir, prefer="any") == transcript_files(transcripts_dir)
    with pytest.raises(ValueError, match="prefer must be 'any', 'manual' or 'generated'"):
        transcript_files(transcripts_dir, prefer="auto")  # type: ignore[arg-type]


def test_transcript_files_groups_and_skips(tmp_path: Path) -> None:
    for name in (
        "talk.srt", "talk.en.vtt", "dQw4w9WgXcQ.en.vtt", "dQw4w9WgXcQ.json", ".hidden.srt",
        "notes.txt", "other.vtt",
    ):
        write(tmp_path, name, "x")
    (tmp_path / "sub.srt").mkdir()

    assert [p.name for p in transcript_files(tmp_path)] == [
        "dQw4w9WgXcQ.json", "other.vtt", "talk.srt"
    ]
    assert [p.name for p in transcript_files(tmp_path, prefer="generated")] == [
        "dQw4w9WgXcQ.en.vtt", "other.vtt", "talk.en.vtt"
    ]
    with pytest.raises(TranscriptFileError, match="not a folder"):
        transcript_files(tmp_path / "talk.srt")


# --- SRT -------------------------------------------------------------------------

SRT = (
    "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> there,\r\ngeneral.\r\n\r\n"
    "2\r\n00:00:03,000 --> 00:00:04,000 X1:40 X2:600 Y1:20 Y2:50\r\n{\\an8}Tom &amp; Jerry\r\n\r\n"
    "00:01:00,5 --> 00:01:02,250\r\nno number, short millis\r\n\r\n"
    "3\r\n01:00:00,000 --> 01:00:01,000\r\nfirst part\r\n\r\nafter a blank line\r\n"
)


def test_srt_details(tmp_path: Path) -> None:
    transcript = read_transcript_file(write(tmp_path, "clip.srt", "\ufeff" + SRT))

    assert transcript.segments == (
        Segment("Hello there, general.", 1.0, 1.5),
        Segment("Tom & Jerry", 3.0, 1.0),
        Segment("no number, short millis", 60.5, 1.75),
        Segment("first part after a blank line", 3600.0, 1.0),
    )
    assert transcript.is_generated is False
    assert transcript.language_code == "und"


def test_srt_with_rolling_lines_counts_as_generated(tmp_path: Path) -> None:
    cues = ["alpha beta", "gamma delta", "epsilon zeta", "eta theta"]
    blocks, previous = [], ""
    for n, line in enumerate(cues):
        text = f"{previous}\n{line}" if previous else line
        blocks.append(f"{n + 1}\n00:00:0{n},000 --> 00:00:0{n + 1},000\n{text}\n")
        previous = line
    transcript = read_transcript_file(write(tmp_path, "yt.srt", "\n".join(blocks)))

    assert [s.text for s in transcript.segments] == cues
    assert transcript.is_generated is True


# --- WebVTT ----------------------------------------------------------------------

VTT = """WEBVTT - some title
Kind: captions
Language: de

STYLE
::cue { color: yellow }

NOTE this is a comment
that spans lines

intro
00:01.000 --> 00:02.000 align:start position:0%
<v Roger>Hallo &lt;Welt&gt;</v>

2
00:00:03.000 --> 00:00:04.000
<c.yellow>zwei</c>&nbsp;Zeilen
hier
"""


def test_vtt_details(tmp_path: Path) -> None:
    transcript = read_transcript_file(write(tmp_path, "clip.vtt", VTT))

    assert transcript.segments == (
        Segment("Hallo <Welt>", 1.0, 1.0),
        Segment("zwei Zeilen hier", 3.0, 1.0),
    )
    assert transcript.language_code == "de"
    assert transcript.is_generated is False


# YouTube's layout: the line being spoken carries word timings and sits under
# the previous line; a 10 ms cue then shows the finished line over " ".
YOUTUBE_VTT = "\n".join(
    [
        "WEBVTT",
        "Kind: captions",
        "Language: en",
        "",
        "00:00:00.000 --> 00:00:02.000 align:start position:0%",
        " ",
        "one<00:00:00.500><c> two</c><00:00:01.000><c> three</c>",
        "",
        "00:00:02.000 --> 00:00:02.010 align:start position:0%",
        "one two three",
        " ",
        "",
        "00:00:02.010 --> 00:00:04.000 align:start position:0%",
        "one two three",
        "four<00:00:02.500><c> five</c>",
        "",
        "00:00:04.000 --> 00:00:04.010 align:start position:0%",
        "four five",
        " ",
        "",
        "00:00:04.010 --> 00:00:05.000 align:start position:0%",
        "four five",
        "six",
        "",
        "00:00:05.000 --> 00:00:06.000 align:start position:0%",
        "four five",
        "six seven eight",  # a line that grows from one cue to the next
        "",
    ]
)


def test_youtube_word_timed_vtt_gives_each_word_once(tmp_path: Path) -> None:
    transcript = read_transcript_file(write(tmp_path, "dQw4w9WgXcQ.en.vtt", YOUTUBE_VTT))

    assert transcript.text == "one two three four five six seven eight"
    assert [(s.start, s.end) for s in transcript.segments] == [
        (0.0, 2.0), (2.01, 4.0), (4.01, 5.0), (5.0, 6.0)
    ]
    assert transcript.is_generated is True
    assert (transcript.video_id, transcript.language_code) == ("dQw4w9WgXcQ", "en")


# --- JSON ------------------------------------------------------------------------


def test_youtube_transcript_api_json(tmp_path: Path) -> None:
    fetched = FetchedTranscript(
        snippets=[
            FetchedTranscriptSnippet("Hey,\nthis is a test", 0.0, 1.54),
            FetchedTranscriptSnippet("  ", 1.54, 1.0),
            FetchedTranscriptSnippet("second line", 1.54, 4),
        ],
        video_id="GJLlxj_dtq8",
        language="English",
        language_code="en",
        is_generated=False,
    )
    path = write(tmp_path, "GJLlxj_dtq8.json", json.dumps(fetched.to_raw_data()))

    transcript = read_transcript_file(path)

    assert transcript.segments == (
        Segment("Hey, this is a test", 0.0, 1.54),
        Segment("second line", 1.54, 4.0),
    )
    assert transcript.video_id == "GJLlxj_dtq8"


def test_json_object_with_snippets_or_segments(tmp_path: Path) -> None:
    snippets = {"snippets": [{"text": "a", "start": 1, "duration": 2}]}
    assert read_transcript_file(write(tmp_path, "s.json", json.dumps(snippets))).segments == (
        Segment("a", 1.0, 2.0),
    )
    original = Transcript(
        "dQw4w9WgXcQ", (Segment("x y", 0.5, 1.0),), "English", "en", True, title="T", channel="C"
    )
    exported = write(tmp_path, "export.json", json.dumps(original.to_dict()))

    again = read_transcript_file(exported)

    assert (again.video_id, again.segments, again.title, again.channel, again.is_generated) == (
        "dQw4w9WgXcQ", original.segments, "T", "C", True
    )
    assert (again.language, again.language_code) == ("English", "en")


# --- video IDs -------------------------------------------------------------------


def test_video_id_from_name_argument_or_content(tmp_path: Path) -> None:
    body = "1\n00:00:01,000 --> 00:00:02,000\nhello\n"
    expected_local = "local-" + hashlib.sha256(body.encode()).hexdigest()[:10]

    assert read_transcript_file(write(tmp_path, "dQw4w9WgXcQ.srt", body)).video_id == "dQw4w9WgXcQ"
    yt_dlp_name = read_transcript_file(write(tmp_path, "My talk [dQw4w9WgXcQ].de-DE.srt", body))
    assert (yt_dlp_name.video_id, yt_dlp_name.language_code) == ("dQw4w9WgXcQ", "de-DE")
    local = read_transcript_file(write(tmp_path, "my talk.srt", body))
    assert local.video_id == expected_local
    assert read_transcript_file(write(tmp_path, "copy.srt", body)).video_id == expected_local
    assert local.link(61) == (tmp_path / "my talk.srt").resolve().as_uri() + "#t=61"
    given = read_transcript_file(tmp_path / "my talk.srt", video_id="https://youtu.be/dQw4w9WgXcQ")
    assert given.video_id == "dQw4w9WgXcQ"
    assert read_transcript_file(tmp_path / "copy.srt", video_id="talk-2024").video_id == "talk-2024"
    assert load_transcript(tmp_path / "copy.srt", video_id="talk-2024").video_id == "talk-2024"
    with pytest.raises(InvalidVideoIdError):
        read_transcript_file(tmp_path / "copy.srt", video_id="no spaces/please")


# --- broken files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "problem", "line"),
    [
        ("empty.srt", "", "empty", None),
        ("blank.vtt", " \n\n\t\n", "empty", None),
        ("prose.srt", "Dear diary,\ntoday I wrote no subtitles.\n", "expected a cue number", 1),
        ("time.srt", "1\n00:00:01,000 --> soon\nhello\n", "unreadable timing line", 2),
        ("minutes.srt", "1\n00:61:00,000 --> 00:62:00,000\nhello\n", "below 60", 2),
        ("nocues.vtt", "WEBVTT\n\njust text\n", "no cues found", None),
        ("noheader.vtt", "just text\n", "no 'WEBVTT' header", None),
        ("textless.srt", "1\n00:00:01,000 --> 00:00:02,000\n<i></i>\n", "no caption text", None),
        ("bad.json", '[{"text": "a", "start": 1, "duration": 1},\n oops]', "not valid JSON", 2),
        ("shape.json", '{"text": "a"}', "segments", None),
        ("item.json", '[{"text": "a", "start": -1, "duration": 1}]', "item 1", None),
        ("nan.json", '[{"text": "a", "start": NaN, "duration": 1}]', "item 1", None),
        ("notext.json", '[{"start": 1, "duration": 1}]', "item 1", None),
        ("empty.json", "[]", "no caption text", None),
        ("mystery.txt", "what is this", "unknown transcript format", None),
    ],
)
def test_broken_files_name_file_and_line(
    tmp_path: Path, name: str, content: str, problem: str, line: int | None
) -> None:
    path = write(tmp_path, name, content)

    with pytest.raises(TranscriptFileError) as caught:
        load_transcript(path)

    message = str(caught.value)
    assert problem in message
    assert caught.value.path == path and caught.value.line == line
    assert (f"{path}:{line}" if line else str(path)) in message
    assert "Fix the file" in message


def test_bytes_that_are_no_text(tmp_path: Path) -> None:
    path = write(tmp_path, "binary.srt", b"1\n00:00:01,000 --> 00:00:02,000\n\x81\x8d\x8f\n")

    with pytest.raises(TranscriptFileError, match=r"binary\.srt:3: not UTF-8"):
        read_transcript_file(path)


def test_utf16_and_windows_1252_text(tmp_path: Path) -> None:
    body = "1\n00:00:01,000 --> 00:00:02,000\ncafé\n"
    for encoding in ("utf-16", "cp1252"):
        path = write(tmp_path, f"{encoding}.srt", body.encode(encoding))
        assert read_transcript_file(path).text == "café"


def test_missing_files_and_folders(tmp_path: Path) -> None:
    with pytest.raises(TranscriptFileError, match="no such file"):
        load_transcript(tmp_path / "missing.srt")
    with pytest.raises(TranscriptFileError, match="no such file"):
        load_transcript("subtitles/missing.vtt")
    with pytest.raises(TranscriptFileError, match="folder"):
        load_transcript(tmp_path)
    with pytest.raises(TranscriptFileError, match="folder"):
        read_transcript_file(tmp_path)
    with pytest.raises(InvalidVideoIdError):
        load_transcript("definitely not a video")


def test_import_stays_light() -> None:
    code = (
        "import sys, ytqa, ytqa.transcripts; "
        "heavy = {'requests', 'youtube_transcript_api', 'langchain_core', 'yt_dlp'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


# --- what is not a plain, reasonable transcript file -------------------------------

BODY = "1\n00:00:01,000 --> 00:00:02,000\nhello there\n"


@pytest.mark.timeout(30)  # before the fix, reading a FIFO waited forever for a writer
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "x.srt"
    os.mkfifo(fifo)

    for read in (read_transcript_file, load_transcript, lambda path: load_transcript(str(path))):
        with pytest.raises(TranscriptFileError, match=r"named pipe \(FIFO\).*only regular files"):
            read(fifo)


def test_a_link_to_a_device_is_refused_before_reading(tmp_path: Path) -> None:
    link = tmp_path / "zero.srt"
    link.symlink_to("/dev/zero")  # read to the end, it would fill the memory

    with pytest.raises(TranscriptFileError) as caught:
        load_transcript(str(link))

    assert "it is a character device (it links to /dev/zero)" in str(caught.value)
    assert caught.value.path == link


def test_files_over_the_size_limit_are_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = tmp_path / "huge.srt"
    with huge.open("wb") as handle:
        handle.truncate(DEFAULT_MAX_TRANSCRIPT_BYTES + 1)  # sparse: no disk, no memory
    with pytest.raises(TranscriptFileError) as caught:
        read_transcript_file(huge)
    assert "it is 50,000,001 bytes, more than the limit of 50,000,000 bytes" in str(caught.value)
    assert "YTQA_MAX_TRANSCRIPT_BYTES" in str(caught.value)

    cues = "".join(f"{n}\n00:00:{n:02},000 --> 00:00:{n:02},500\ncue {n:02}\n\n" for n in range(40))
    small = write(tmp_path, "small.srt", cues)
    assert small.stat().st_size == 1_630
    monkeypatch.setenv("YTQA_MAX_TRANSCRIPT_BYTES", "1629")
    with pytest.raises(TranscriptFileError, match="more than the limit of 1,629 bytes"):
        read_transcript_file(small)
    monkeypatch.setenv("YTQA_MAX_TRANSCRIPT_BYTES", "1_630")
    assert len(read_transcript_file(small).segments) == 40
    monkeypatch.setenv("YTQA_MAX_TRANSCRIPT_BYTES", "lots")
    with pytest.raises(YtqaError, match="YTQA_MAX_TRANSCRIPT_BYTES='lots' is not a size in bytes"):
        read_transcript_file(small)


def test_links_that_lead_nowhere_say_so(tmp_path: Path) -> None:
    loop = tmp_path / "loop.srt"
    loop.symlink_to(loop)
    dangling = tmp_path / "dangling.srt"
    dangling.symlink_to(tmp_path / "gone.srt")

    for source in (loop, str(loop)):
        with pytest.raises(TranscriptFileError, match="symbolic link loop"):
            load_transcript(source)
    assert expand_sources([str(loop)]) == [loop]  # a file source, whose reading says why
    with pytest.raises(TranscriptFileError, match=r"symbolic link to .*gone\.srt, which does not"):
        load_transcript(str(dangling))


def test_over_long_names_are_errors_not_crashes(tmp_path: Path) -> None:
    name = str(tmp_path / ("x" * 300 + ".srt"))
    for read in (read_transcript_file, load_transcript, lambda text: expand_sources([text])):
        with pytest.raises(TranscriptFileError, match="the path is too long for the file system"):
            read(name)

    url = "https://www.youtube.com/watch?v=" + "a" * 4096
    for load in (load_transcript, lambda text: expand_sources([text])):
        with pytest.raises(InvalidVideoIdError, match="no video ID in it") as caught:
            load(url)
        assert len(str(caught.value)) < 500  # the message quotes the start of the URL only
    # A long URL that holds an ID still names its video.
    assert expand_sources([f"youtu.be/dQw4w9WgXcQ?si={'b' * 4096}"]) == ["dQw4w9WgXcQ"]


def test_utf32_files_with_a_byte_order_mark(tmp_path: Path) -> None:
    body = "1\n00:00:01,000 --> 00:00:02,000\ncafé ☕ 日本\n"
    for name, data in [
        ("le.srt", codecs.BOM_UTF32_LE + body.encode("utf-32-le")),
        ("be.srt", codecs.BOM_UTF32_BE + body.encode("utf-32-be")),
        ("utf16.srt", body.encode("utf-16")),
    ]:
        assert read_transcript_file(write(tmp_path, name, data)).text == "café ☕ 日本", name


def test_damaged_utf8_is_an_error_not_mojibake(tmp_path: Path) -> None:
    data = (
        "1\n00:00:01,000 --> 00:00:02,000\ncafé crème\n\n2\n00:00:03,000 --> 00:00:04,000\n"
    ).encode() + b"caf\xe9 noir\n"

    with pytest.raises(TranscriptFileError) as caught:
        read_transcript_file(write(tmp_path, "damaged.srt", data))

    assert caught.value.line == 7
    offset = data.index(b"\xe9")
    assert f"not UTF-8 text (byte {offset} is invalid); convert the file to UTF-8" in str(
        caught.value
    )


def test_control_characters_never_reach_the_text(tmp_path: Path) -> None:
    line = "bell\x07 and \x1b[2Jclear\x00NUL &#27;]0;owned\x9b31m\x7f"
    # Whole escape sequences go (an OSC runs to its terminator), controls are dropped.
    expected = "bell and clearNUL"
    srt = read_transcript_file(write(tmp_path, "c.srt", f"1\n00:01,000 --> 00:02,000\n{line}\n"))
    vtt = read_transcript_file(write(tmp_path, "c.vtt", f"WEBVTT\n\n00:01.000 --> 00:02\n{line}"))
    raw = line.replace("&#27;", "\x1b")  # JSON text is not HTML
    exported = {"title": "T\x1b]0;x\x07", "segments": [{"text": raw, "start": 1, "duration": 1}]}
    from_json = read_transcript_file(write(tmp_path, "c.json", json.dumps(exported)))
    named = read_transcript_file(write(tmp_path, "talk\x1b[2J.srt", BODY))

    # In SRT/VTT "&#27;" is an HTML reference to a control, which unescapes to nothing.
    assert [t.text for t in (srt, vtt)] == [f"{expected} ]0;owned"] * 2
    assert from_json.text == expected
    assert from_json.title == "T"
    assert named.title == "talk"


def test_json_video_ids_must_be_video_ids(tmp_path: Path) -> None:
    def exported(video_id: object) -> Path:
        data = {"video_id": video_id, "segments": [{"text": "a", "start": 0, "duration": 1}]}
        return write(tmp_path, "export.json", json.dumps(data))

    for bad in ("é" * 128, "x" * 65, "no spaces", 42):
        with pytest.raises(TranscriptFileError, match=r'"video_id" field, .* is not a video ID'):
            read_transcript_file(exported(bad))
    for good in ("dQw4w9WgXcQ", "local-0123456789", "talk-2024", "a:b.c_d"):
        assert read_transcript_file(exported(good)).video_id == good
    assert read_transcript_file(exported(None)).video_id.startswith("local-")
    with pytest.raises(InvalidVideoIdError, match="at most 64 ASCII letters"):
        read_transcript_file(exported(None), video_id="é" * 128)


@pytest.mark.slow  # embeds two tiny transcripts with the real MiniLM
def test_a_video_the_cache_cannot_hold_breaks_no_other_video(tmp_path: Path, minilm: Path) -> None:
    # A Transcript built in Python may carry any ID; its cache folder name is too long.
    odd = Transcript(
        "é" * 128, (Segment("bees dance to show the way", 0.0, 2.0),), "English", "en", False,
        source=str(tmp_path / "gone.srt"),
    )
    normal = read_transcript_file(write(tmp_path, "dQw4w9WgXcQ.srt", BODY))
    assert VideoIndex("minilm").add_many([odd, normal]).ok

    assert cached_transcripts(odd.video_id) == []
    assert cached_transcripts(normal.video_id) == [normal]
    report = VideoIndex("minilm", collection_name="ytqa-minilm-copy").sync()

    assert [item.video_id for item in report.added] == [normal.video_id]
    assert [failure.source for failure in report.failed] == [odd.video_id]
    assert isinstance(report.failed[0].error, TranscriptCacheMissError)


# --- rolling lines: each shown once, in time linear in the lines -----------------


def overlap_by_definition(previous: list[str], current: list[str]) -> list[str]:
    """The rule, spelt out: the longest k such that current's first k-1 lines are
    previous's last k-1 but one, and current's k-th shows (or grows) previous's last."""
    for k in range(min(len(previous), len(current)), 0, -1):
        if previous[len(previous) - k : -1] == current[: k - 1]:
            shown, line = previous[-1], current[k - 1]
            if line == shown:
                return current[k:]
            if line.startswith(shown + " "):
                return [line[len(shown) :].strip(), *current[k:]]
    return current


@settings(max_examples=400, deadline=None)
@given(
    previous=st.lists(st.sampled_from(["a", "b", "a b", "a b c", "c"]), max_size=8),
    current=st.lists(st.sampled_from(["a", "b", "a b", "a b c", "c"]), max_size=8),
)
def test_rolling_lines_follow_the_rule(previous: list[str], current: list[str]) -> None:
    assert _new_lines(previous, current) == overlap_by_definition(previous, current)


def test_rolling_lines_on_a_display_of_100000_lines(tmp_path: Path) -> None:
    music = "\n".join(["[Music]"] * 100_000)
    vtt = (
        f"WEBVTT\n\n00:00.000 --> 00:01.000\n{music}\nfirst end\n\n"
        f"00:01.000 --> 00:02.000\n{music}\nsecond end\n\n"
        "00:02.000 --> 00:03.000\nsecond end\nthird line\n\n"
        f"00:03.000 --> 00:04.000\nthird line\n{music}\n"
    )

    segments = read_transcript_file(write(tmp_path, "music.vtt", vtt)).segments

    many = " ".join(["[Music]"] * 100_000)
    assert [s.text for s in segments] == [
        f"{many} first end", f"{many} second end", "third line", many
    ]
    assert [s.start for s in segments] == [0.0, 1.0, 2.0, 3.0]


def test_tags_and_unclosed_openings_on_a_long_line(tmp_path: Path) -> None:
    # A tag runs from a '<' to the next '>'; openings that nothing closes are text.
    line = "<a " * 100_000 + "<i>end</i> {\\an8" * 1_000 + "{\\b1}bold <" * 100_000
    vtt = f"WEBVTT\n\n00:00.000 --> 00:01.000\n{line}\n"

    (segment,) = read_transcript_file(write(tmp_path, "tags.vtt", vtt)).segments

    # "{\an8end ... {\b1}" is one override: from its "{\" to the first "}".
    assert segment.text == "end " + "bold <" * 100_000
