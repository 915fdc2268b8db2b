"""Citation marks: lines marked for the prompt, and the moments an answer cites,
checked against the passages it was given (ytqa.citations)."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document

from ytqa.citations import (
    PART_STARTS,
    Mark,
    cite_moments,
    find_marks,
    line_marks,
    marked_text,
)

VIDEO = "dQw4w9WgXcQ"
TEXT = "The lens was new. It threw a beam twenty miles. Keepers wound the clockwork."


def passage(
    video_id: str = VIDEO, start: float = 40.0, end: float = 75.5, **extra: object
) -> Document:
    """A retrieved passage as the retriever returns it: three chunks joined."""
    url = (f"https://www.youtube.com/watch?v={video_id}&t={int(start)}s" if len(video_id) == 11
           else f"file:///talks/{video_id}.srt#t={int(start)}")
    metadata = {"video_id": video_id, "start": start, "end": end, "title": "Talk",
                "url": url, "source": url, "timestamp": "00:40", "cited_start": start,
                PART_STARTS: [[0, start], [18, start + 12.3], [48, start + 25.0]], **extra}
    return Document(TEXT, metadata=metadata)


@pytest.mark.parametrize(
    ("answer", "marks"),
    [
        ("It was new [1:02].", [Mark(62.0)]),
        ("Past the hour [01:02:03] and [1:02:03].", [Mark(3723.0), Mark(3723.0)]),
        ("A range [00:10–00:20], another [00:10 - 00:20].", [Mark(10.0, 20.0), Mark(10.0, 20.0)]),
        ("Written as two marks [00:30]–[00:41].", [Mark(30.0, 41.0)]),
        ("Several in one [00:05, 00:07; 1:10].", [Mark(5.0), Mark(7.0), Mark(70.0)]),
        ("Minutes past sixty [75:10].", [Mark(4510.0)]),
        ("No marks: [link=x], [05:12 in the talk], 3:10 bare, [5:99].", []),
    ],
)
def test_marks_in_many_formats(answer: str, marks: list[Mark]) -> None:
    assert find_marks(answer) == marks


def test_each_line_of_a_passage_carries_its_moment() -> None:
    assert marked_text(passage()).split("\n") == [
        "[00:40] The lens was new.",
        "[00:52] It threw a beam twenty miles.",
        "[01:05] Keepers wound the clockwork.",
    ]
    # A document without part starts gets one line at its start; without a start, none.
    single = Document("Just one chunk.", metadata={"start": 3725.2})
    assert marked_text(single) == "[1:02:05] Just one chunk."
    assert marked_text(Document("No times at all.")) == "No times at all."


def test_the_marks_heading_lines_are_what_a_prompt_offers_to_cite() -> None:
    long = Document("Just one chunk.", metadata={"start": 3725.2})
    prompt = f"Question? [09:99] no\n{marked_text(passage())}\n\n{marked_text(long)}\n"
    prompt += "[00:52] a repeat\n say [02:00] mid-line\n[5:00]no space"
    assert line_marks(prompt) == ["00:40", "00:52", "01:05", "1:02:05"]
    assert line_marks("No marks here.") == []


def test_marks_inside_a_given_passage_are_linked_at_that_second() -> None:
    given = [passage()]
    cited = cite_moments("It threw a beam twenty miles [00:52]; the keepers [01:05].", given)

    assert [d.metadata["cited_start"] for d in cited] == [52.0, 65.0]
    assert [d.metadata["timestamp"] for d in cited] == ["00:52", "01:05"]
    assert [d.metadata["url"] for d in cited] == [
        f"https://www.youtube.com/watch?v={VIDEO}&t=52s",
        f"https://www.youtube.com/watch?v={VIDEO}&t=65s",
    ]
    assert all(d.metadata["source"] == d.metadata["url"] for d in cited)
    assert all(d.page_content == TEXT for d in cited)
    # The given passage is left as it was.
    assert given[0].metadata["cited_start"] == 40.0


def test_invented_marks_are_dropped_never_linked() -> None:
    cited = cite_moments("True [00:52]. Invented [09:59], [40:00] and [1:00:00].", [passage()])
    assert [d.metadata["timestamp"] for d in cited] == ["00:52"]
    assert not any("t=599" in d.metadata["url"] or "t=3600" in d.metadata["url"] for d in cited)


def test_an_answer_citing_nothing_falls_back_to_the_passages() -> None:
    given = [passage(), passage("local-talk-2", start=100.0, end=130.0)]
    assert cite_moments("I don't know.", given) == given
    # Only invented marks: nothing is linked to them, the passages are the sources.
    assert cite_moments("Somewhere [59:00].", given) == given
    assert cite_moments("Anything [00:52].", []) == []


def test_repeats_are_listed_once_in_the_order_cited() -> None:
    cited = cite_moments("[01:05] first, then [00:52], again [01:05] and [1:05].", [passage()])
    assert [d.metadata["timestamp"] for d in cited] == ["01:05", "00:52"]


def test_a_range_is_cited_at_its_start_with_its_end() -> None:
    (cited,) = cite_moments("From the lens to the beam [00:40–00:58].", [passage()])
    assert cited.metadata["cited_start"] == 40.0
    assert cited.metadata["cited_end"] == 58.0
    (two_marks,) = cite_moments("See [00:52]-[01:10].", [passage()])
    assert (two_marks.metadata["cited_start"], two_marks.metadata["cited_end"]) == (52.0, 70.0)


def test_a_mark_belongs_to_the_passage_that_holds_it() -> None:
    first = passage()
    second = passage("local-talk-2", start=300.0, end=340.0, title="Other")
    cited = cite_moments("Other talk [05:12], first talk [00:41].", [first, second])

    assert [(d.metadata["video_id"], d.metadata["timestamp"]) for d in cited] == [
        ("local-talk-2", "05:12"), (VIDEO, "00:41"),
    ]
    # A file's link opens at the second too (#t=).
    assert cited[0].metadata["url"] == "file:///talks/local-talk-2.srt#t=312"


def test_of_two_passages_holding_a_second_the_one_marked_there_wins() -> None:
    wide = passage("local-talk-2", start=30.0, end=90.0)
    exact = passage()  # has a line marked [00:52]
    (cited,) = cite_moments("The beam [00:52].", [wide, exact])
    assert cited.metadata["video_id"] == VIDEO
