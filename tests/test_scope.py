"""Naming videos restricts the search to them: build_retriever, build_chain, ytqa search/ask.

Two real transcripts are indexed, and the question matches the one that is not
named: a scoped search must still answer from the named video only, and leave
the other one indexed. Real MiniLM, real Chroma; only YouTube's HTTP (and, for
the playlist, yt-dlp's network) and the LLM are stand-ins.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yt_dlp
from click.testing import CliRunner, Result
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from pydantic import Field

from tests.youtube_support import VIDEO, fake_youtube
from ytqa import ChainConfigurationError, VideoIndex, build_chain, build_retriever
from ytqa.cli import cli

pytestmark = pytest.mark.slow  # real model, real Chroma

TESLA = "-NtSZQHRc-I"  # Biographics: Nikola Tesla
BEES = "GqA42M4RtxE"  # Kurzgesagt: honeybee decline
EGYPT = "3FrqxC6OTAw"  # Nerdwriter: modern history of Egypt
TESLA_QUESTION = "Did Nikola Tesla do military service?"


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory, transcripts_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("talks")
    for video_id in (TESLA, BEES, EGYPT):
        shutil.copy(transcripts_dir / f"{video_id}.srt", folder)
    return folder


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, talks: Path, minilm: Path) -> Path:
    """An index folder that holds the Tesla biography and the honeybee video."""
    folder = tmp_path_factory.mktemp("index")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YTQA_MODELS_DIR", str(minilm.parent))
        report = VideoIndex(persist_directory=folder).add_many(
            [talks / f"{TESLA}.srt", talks / f"{BEES}.srt"]
        )
    assert report.ok and len(report.added) == 2
    return folder


@pytest.fixture
def index_copy(indexed: Path, tmp_path: Path) -> Path:
    """A copy of the module's index, for tests that add to it."""
    return Path(shutil.copytree(indexed, tmp_path / "index"))


def _videos(documents: list[Any]) -> set[str]:
    return {document.metadata["video_id"] for document in documents}


def test_unscoped_search_finds_the_matching_video(indexed: Path) -> None:
    """The premise of the tests below: the question matches the Tesla biography."""
    retriever = build_retriever(persist_directory=indexed, k=3)
    assert _videos(retriever.invoke(TESLA_QUESTION)) == {TESLA}


def test_build_retriever_searches_only_the_videos_named(indexed: Path, talks: Path) -> None:
    retriever = build_retriever([talks / f"{BEES}.srt"], persist_directory=indexed, k=4)

    found = retriever.invoke(TESLA_QUESTION)
    assert found and _videos(found) == {BEES}
    # The other video stays indexed, and an unscoped retriever still finds it.
    index = VideoIndex(persist_directory=indexed)
    assert {record.video_id for record in index.videos()} == {TESLA, BEES}
    assert _videos(build_retriever(index=index, k=3).invoke(TESLA_QUESTION)) == {TESLA}


def test_scope_holds_every_video_named_added_or_already_indexed(
    index_copy: Path, talks: Path
) -> None:
    # BEES is indexed already (skipped), EGYPT is new (added): both are searched.
    retriever = build_retriever(
        [talks / f"{BEES}.srt", str(talks / f"{EGYPT}.srt")], persist_directory=index_copy, k=8
    )
    assert retriever.video_ids is not None and set(retriever.video_ids) == {BEES, EGYPT}
    assert _videos(retriever.invoke(TESLA_QUESTION)) <= {BEES, EGYPT}
    egypt = retriever.invoke("Egypt revolution and the army")
    assert egypt[0].metadata["video_id"] == EGYPT and _videos(egypt) <= {BEES, EGYPT}


def test_a_folder_scopes_the_search_to_its_videos(
    index_copy: Path, talks: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "two"
    folder.mkdir()
    for video_id in (BEES, EGYPT):
        shutil.copy(talks / f"{video_id}.srt", folder)
    retriever = build_retriever([folder], persist_directory=index_copy, k=6)
    assert _videos(retriever.invoke(TESLA_QUESTION)) <= {BEES, EGYPT}


def test_video_ids_narrow_the_videos_named(indexed: Path, talks: Path) -> None:
    both = [talks / f"{TESLA}.srt", talks / f"{BEES}.srt"]
    retriever = build_retriever(both, video_ids=[BEES], persist_directory=indexed, k=4)
    assert _videos(retriever.invoke(TESLA_QUESTION)) == {BEES}

    with pytest.raises(ChainConfigurationError, match=r"video_ids=.*not one of the videos"):
        build_retriever([talks / f"{BEES}.srt"], video_ids=[TESLA], persist_directory=indexed)


def test_an_empty_list_of_videos_is_refused(indexed: Path) -> None:
    with pytest.raises(ChainConfigurationError, match="videos= is empty"):
        build_retriever([], persist_directory=indexed)


def test_build_chain_answers_from_the_videos_named(indexed: Path, talks: Path) -> None:
    llm = FakeListChatModel(responses=["The excerpts do not say [00:10]."])
    chain = build_chain([talks / f"{BEES}.srt"], llm=llm, persist_directory=indexed, k=3)

    result = chain.invoke({"query": TESLA_QUESTION})
    assert result["source_documents"] and _videos(result["source_documents"]) == {BEES}


def test_a_playlist_scopes_the_search_to_its_videos(
    index_copy: Path, youtube_responses: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A playlist (listed by yt-dlp, whose network is the stand-in) expands to its videos."""

    def extract_info(downloader: yt_dlp.YoutubeDL, url: str, download: bool = True,
                     **kwargs: Any) -> dict[str, Any]:
        entry = {"_type": "url", "ie_key": "Youtube", "id": VIDEO,
                 "url": f"https://www.youtube.com/watch?v={VIDEO}"}
        return {"_type": "playlist", "id": "PLxyz", "entries": [entry]}

    monkeypatch.setattr(yt_dlp.YoutubeDL, "extract_info", extract_info)
    with fake_youtube(youtube_responses):
        retriever = build_retriever(
            ["https://www.youtube.com/playlist?list=PLxyz0123456789"],
            persist_directory=index_copy,
            k=4,
        )
    assert retriever.video_ids == [VIDEO]
    assert _videos(retriever.invoke(TESLA_QUESTION)) == {VIDEO}


# --- the CLI --------------------------------------------------------------------


def run(*args: str, home: Path) -> Result:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], prog_name="ytqa")
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@pytest.fixture
def home(indexed: Path, tmp_path: Path) -> Path:
    """A ytqa home whose index is a copy of the module's (Tesla and honeybees)."""
    shutil.copytree(indexed, tmp_path / "home" / "index")
    return tmp_path / "home"


def test_cli_search_searches_only_the_sources_named(home: Path, talks: Path) -> None:
    result = run("search", str(talks / f"{BEES}.srt"), TESLA_QUESTION, "--json", home=home)

    assert result.exit_code == 0, result.output
    found = json.loads(result.output)["results"]
    assert found and {passage["video_id"] for passage in found} == {BEES}
    # Unscoped, the same question finds Tesla: the other video is still indexed.
    everything = json.loads(run("search", TESLA_QUESTION, "--json", "-k", "2", home=home).output)
    assert {passage["video_id"] for passage in everything["results"]} == {TESLA}


class _RecordingLLM(FakeListChatModel):
    """A stand-in for a remote LLM that keeps the prompts it was sent."""

    prompts: list[str] = Field(default_factory=list)

    def _call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
        self.prompts.append("\n".join(str(message.content) for message in messages))
        return super()._call(messages, *args, **kwargs)

    def _stream(self, messages: Any, *args: Any, **kwargs: Any) -> Any:
        # ytqa's chains stream the answer (ytqa ask prints it as it comes).
        self.prompts.append("\n".join(str(message.content) for message in messages))
        return super()._stream(messages, *args, **kwargs)


@pytest.fixture
def recording_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[_RecordingLLM]:
    import ytqa.chain

    llm = _RecordingLLM(responses=["Nothing about Tesla here [00:05]."])
    # build_chain resolves the LLM (after indexing the sources): the remote boundary.
    monkeypatch.setattr(ytqa.chain, "resolve_llm", lambda *args, **kwargs: llm)
    yield llm


def test_cli_ask_answers_from_the_sources_named(
    home: Path, talks: Path, recording_llm: _RecordingLLM
) -> None:
    result = run("ask", str(talks / f"{BEES}.srt"), TESLA_QUESTION, "--json", home=home)

    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["answer"] == "Nothing about Tesla here [00:05]."
    assert {source["video_id"] for source in payload["sources"]} == {BEES}
    (prompt,) = recording_llm.prompts
    assert BEES in prompt and TESLA not in prompt  # excerpts name their video
