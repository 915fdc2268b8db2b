"""The ``ytqa`` command: ask, chat, search, ingest, list, remove, models, eval, reindex,
doctor, compare.

The command is a thin layer over the library: every command calls public
ytqa functions and only formats their results. Heavy libraries load inside the
commands, so ``ytqa --help`` starts fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ytqa.embeddings import DEFAULT_MODEL, EMBEDDING_MODELS, is_available_locally
from ytqa.errors import IndexCorruptError, YtqaError
from ytqa.terminal import PrintableStream, cli_message, configure_logging, printable, to_json
from ytqa.terminal import one_line as _one_line

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from rich.console import Console
    from rich.text import Text

    from ytqa.embeddings import EmbeddingPreset
    from ytqa.index import IngestProgress, IngestReport, VideoIndex
    from ytqa.ingest import FetchOptions
    from ytqa.transcripts import Captions

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {
    0: "success",
    1: "a ytqa error not listed below, some sources failed to ingest (when all failed "
    "alike, their own status), or a video to remove is not in the index",
    2: "bad input: unknown option, invalid video ID or URL, bad transcript, media or QA file",
    3: "YouTube has no usable transcript (unavailable video, captions disabled, language), "
    "or the audio of a video without captions cannot be downloaded",
    4: "YouTube could not be reached or blocked the request (see --proxy)",
    5: "a model or optional package is missing or misconfigured",
    6: "the index cannot be used as asked (built with another model, or damaged: ytqa doctor)",
    130: "interrupted (Ctrl-C)",
}
"""Exit statuses of the ``ytqa`` command (also in docs/cli.md)."""

F = TypeVar("F", bound=Callable[..., Any])
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
MODEL_CHOICES = ", ".join(EMBEDDING_MODELS)


class YtqaGroup(click.Group):
    """Turns ytqa errors into one ``Error: ...`` line and a documented exit status;
    gives every command a ``--debug`` of its own (``ytqa search ... --debug``)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not any(param.name == "debug" for param in cmd.params):
            cmd.params.append(
                click.Option(["--debug"], is_flag=True, expose_value=False,
                             callback=_debug_option_given, help=DEBUG_HELP)
            )
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except YtqaError as error:
            if _debug_requested(ctx):
                raise
            click.echo(f"Error: {cli_message(error)}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


DEBUG_HELP = "Show tracebacks for errors, and each retry of the model hub."


def _debug_option_given(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["ytqa.debug"] = True  # shared with the group's context
        configure_logging(debug=True)


def _debug_requested(ctx: click.Context) -> bool:
    return (
        bool(ctx.params.get("debug"))
        or bool(ctx.meta.get("ytqa.debug"))
        or os.environ.get("YTQA_DEBUG", "") not in ("", "0")
    )


def _console() -> Console:
    """The console of every human-readable output. It interprets no rich markup and
    no emoji codes (titles may hold "[bold]" or ":smile:"); data printed on it
    still goes through :func:`printable` (or ``_one_line``), and links through
    :func:`_link`."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, markup=False, emoji=False)


def _link(url: str) -> Text:
    """*url* shown as itself, and clickable where the terminal supports links."""
    from rich.style import Style
    from rich.text import Text

    shown = printable(url)
    return Text(shown, style=Style(link=shown))


def _echo_json(value: Any) -> None:
    click.echo(to_json(value))


# Options shared by several commands, each with help and an environment fallback.
def model_option(f: F) -> F:
    return click.option(
        "-m",
        "--model",
        default=DEFAULT_MODEL,
        show_default=True,
        envvar="YTQA_MODEL",
        show_envvar=True,
        help=f"Embedding preset ({MODEL_CHOICES}) or any sentence-transformers model name or path.",
    )(f)


def rerank_option(f: F) -> F:
    return click.option(
        "--rerank",
        metavar="MODEL",
        envvar="YTQA_RERANK",
        show_envvar=True,
        help="Re-score each question's best matches with a larger embedding preset too "
        "(mpnet over the default minilm index): more answers found and opened at, about "
        "1.3 s more a question on two CPU cores once the model is loaded "
        "(docs/evaluation.md) [default: the index's model alone].",
    )(f)


def _check_rerank(rerank: str | None, index_preset: EmbeddingPreset) -> None:
    """Say that a --rerank cannot work before anything is indexed, loaded or served."""
    if rerank is not None:
        from ytqa.passages import check_options

        check_options(rerank=rerank, index_preset=index_preset)


def server_option(f: F) -> F:
    return click.option(
        "--chroma-server",
        "chroma_server",
        metavar="URL",
        envvar="YTQA_CHROMA_SERVER",
        show_envvar=True,
        help="Use a Chroma server (e.g. http://localhost:8000) instead of the local index.",
    )(f)


def fetch_options(f: F) -> F:
    options = [
        click.option(
            "-l",
            "--language",
            "languages",
            multiple=True,
            default=("en",),
            show_default=True,
            envvar="YTQA_LANGUAGES",
            show_envvar=True,
            help="Transcript language code, in order of preference (repeatable).",
        ),
        click.option(
            "--translate-to",
            metavar="LANG",
            help="Have YouTube translate the transcript into this language code.",
        ),
        click.option(
            "--proxy",
            metavar="URL",
            envvar="YTQA_PROXY",
            show_envvar=True,
            help="HTTP(S) proxy for YouTube, e.g. http://user:pass@host:port "
            "(for blocked IPs; see docs/troubleshooting.md).",
        ),
        click.option(
            "--captions",
            type=click.Choice(["any", "manual", "auto"]),
            metavar="KIND",
            default="any",
            show_default=True,
            help="Captions: any (uploaded first, then auto-captions), manual (uploaded only) or "
            "auto (auto-captions first). When several files or sources are the same video, "
            "uploaded captions (e.g. .srt) are used over auto-captions (e.g. YouTube's "
            ".en.vtt), auto-captions first with 'auto'; between two of a kind, the later one.",
        ),
        # Speech-to-text (ytqa[asr]): see docs/speech-to-text.md.
        click.option(
            "--asr",
            "asr",
            type=click.Choice(["auto", "always", "never"]),
            default="auto",
            show_default=True,
            envvar="YTQA_ASR",
            show_envvar=True,
            help="Speech-to-text of YouTube videos: when they have no captions (auto), "
            "instead of captions (always), or not at all (never). Audio and video files "
            "are always transcribed.",
        ),
        click.option(
            "--asr-model",
            metavar="NAME|PATH",
            envvar="YTQA_ASR_MODEL",
            show_envvar=True,
            help="Whisper model of speech-to-text: tiny.en, base, small, medium, large-v3, "
            "turbo, or a folder [default: base on a CPU, turbo on a GPU].",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


class _SpeechProgress:
    """A progress bar over audio seconds, with an ETA, while speech-to-text runs (stderr)."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _SpeechProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, done: float, total: float) -> None:
        if not self._enabled:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("speech-to-text"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} s of audio"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("speech-to-text", total=total)
        if done == 0:  # a new recording begins
            self._progress.reset(self._task, total=total, completed=0)
        else:
            self._progress.update(self._task, total=total, completed=done)
        if done >= total:  # this recording is done: no bar while its chunks are embedded
            self._progress.stop()
            self._progress = None

    def settings(self, asr: str, asr_model: str | None) -> Any:
        """The library's speech-to-text settings of --asr and --asr-model, with this bar."""
        from ytqa.transcripts import SpeechToText

        return SpeechToText(asr, model=asr_model, progress=self)  # type: ignore[arg-type]


def answer_options(f: F) -> F:
    """The options of commands that answer with an LLM: ``--llm``, ``-o``, ``-k``,
    ``--window``."""
    options = [
        click.option(
            "--llm",
            envvar="YTQA_LLM",
            show_envvar=True,
            help="LLM: 'provider:model' (e.g. openai:gpt-4o-mini, ollama:llama3.2), "
            "'llamacpp:<file>.gguf' (pip install 'ytqa[local]'), 'hf:<model id or path>', "
            "or 'py:module:attribute' (a model of your own code) [default: a small local "
            "model run by llama.cpp].",
        ),
        click.option(
            "-o",
            "--llm-option",
            "llm_options",
            multiple=True,
            metavar="KEY=VALUE",
            help="An option of the LLM (repeatable), e.g. -o max_new_tokens=64 or "
            "-o temperature=0 for local hf: models, -o base_url=http://host:11434 for "
            "providers.",
        ),
        click.option("-k", "k", type=click.IntRange(1, 50), default=4, show_default=True,
                     help="Number of transcript passages given to the LLM."),
        click.option("--window", type=click.IntRange(0, 50), metavar="N",
                     help="Chunks on each side of each matching chunk in a passage "
                     "[default: 5; 0 for an LLM on this machine, which reads its prompt at "
                     "CPU speed: more context, a later first word]."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _window(window: int | None) -> dict[str, Any]:
    """``window=`` for the chain when --window was given (else the chain chooses)."""
    return {} if window is None else {"window": window}


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


@click.group(cls=YtqaGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="YTQA_HOME",
    show_envvar=True,
    help="Folder for the index and the transcript cache [default: per-user data folder].",
)
@click.option("--debug", is_flag=True, envvar="YTQA_DEBUG", help=DEBUG_HELP)
@click.version_option(package_name="ytqa", message="ytqa %(version)s")
def cli(home: Path | None, debug: bool) -> None:
    """Ask questions of YouTube videos; answers cite the moment in the video.

    \b
    ytqa ask https://youtu.be/VIDEO_ID "What is the main argument?"
    ytqa search talk.srt "lens"           # no LLM needed
    """
    if home is not None:
        os.environ["YTQA_HOME"] = str(home)
    configure_logging(debug=debug)


def _captions(choice: str) -> Captions:
    """``--captions`` as the library's ``captions=``."""
    named: dict[str, Captions] = {"any": "any", "manual": "manual", "auto": "generated"}
    return named[choice]


def _fetch(
    languages: Sequence[str],
    translate_to: str | None,
    proxy: str | None,
    captions: str,
    asr: Any,
    refresh: bool = False,
    **run: Any,
) -> FetchOptions:
    """The library's fetch options of the command's options (``--captions auto`` is
    ``captions="generated"``); *run* holds those of ``ingest`` alone (``limit``...)."""
    from ytqa.ingest import FetchOptions

    return FetchOptions(
        languages=tuple(languages), translate_to=translate_to, proxy=proxy,
        captions=_captions(captions), asr=asr, refresh=refresh, **run,
    )


def _open_index(model: str, chroma_server: str | None) -> VideoIndex:
    from ytqa.index import VideoIndex

    if chroma_server:
        return VideoIndex.from_url(chroma_server, model=model)
    return VideoIndex(model)


_LONG_RUN = 10
"""Videos from which ``ingest`` says at the start how many are indexed already."""


class _IngestBar:
    """The library's ingest progress (a callback) as a rich bar on stderr."""

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._progress: Any = None
        self._videos: Any = None
        self._chunks: Any = None
        self._said_start = False

    def __enter__(self) -> _IngestBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, state: IngestProgress) -> None:
        if not self._enabled:
            return
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True, highlight=False, markup=False, emoji=False),
                transient=True,
            )
            self._progress.start()
        total = state.videos_total
        if total is not None and (state.already or total >= _LONG_RUN) and not self._said_start:
            # Said once, at the start: how much of a long run (a channel) is done already.
            self._said_start = True
            todo = total - state.already
            self._progress.console.print(
                f"{total} videos: {state.already} indexed already, "
                f"{todo} to fetch and embed."
            )
        if state.videos_total is not None:
            label = f"videos ({state.video})" if state.video else "videos"
            if self._videos is None:
                self._videos = self._progress.add_task(label, total=state.videos_total)
            self._progress.update(self._videos, description=label, completed=state.videos_done)
        if state.chunks_total is not None:
            if self._chunks is None:
                self._chunks = self._progress.add_task("chunks", total=state.chunks_total)
            self._progress.update(
                self._chunks, total=state.chunks_total, completed=state.chunks_done
            )


def _source_lines(documents: Sequence[Document]) -> list[tuple[str, str]]:
    """``(label, url)`` per source: ``[mm:ss] title`` and the link that opens there."""
    from ytqa.passages import source_label

    return [(label, url or "") for label, url in map(source_label, documents)]


def _print_sources(console: Console, documents: Sequence[Document]) -> None:
    from rich.text import Text

    for label, url in _source_lines(documents):
        console.print(Text.assemble(_one_line(label), " — ", _link(url)))


def _parse_llm_options(pairs: Sequence[str]) -> dict[str, Any]:
    """``["max_new_tokens=64", "base_url=http://x"]`` -> ``{"max_new_tokens": 64, ...}``."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="'-o'")
        try:
            value: Any = json.loads(text)  # numbers, true/false, null
        except ValueError:
            value = text
        options[key.strip()] = value
    return options


def _document_json(document: Document) -> dict[str, Any]:
    return {"text": document.page_content, **document.metadata}


@cli.command()
@click.argument("sources", nargs=-1, required=False)
@click.argument("question")
@model_option
@answer_options
@rerank_option
@server_option
@fetch_options
@json_option
def ask(
    sources: tuple[str, ...],
    question: str,
    model: str,
    llm: str | None,
    llm_options: tuple[str, ...],
    k: int,
    window: int | None,
    rerank: str | None,
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    asr: str,
    asr_model: str | None,
    captions: str,
    as_json: bool,
) -> None:
    """Answer QUESTION from the videos SOURCES only (or from everything indexed).

    SOURCES are video URLs or IDs, playlist URLs, transcript files, audio or
    video files, or folders; those not indexed yet are indexed first. The
    index's other videos stay indexed. The answer is printed as it is written,
    then its sources: the [mm:ss] moments it cites, each checked to lie in a
    passage the LLM was given (the passages, when it cites none).
    """
    from ytqa.rag import build_rag_chain

    # The LLM loads once the sources are indexed: a source that cannot be had
    # (YouTube unreachable, a bad file) is reported before a minute of loading.
    with _SpeechProgress(not as_json) as speech:
        chain = build_rag_chain(
            list(sources) or None,
            model=model,
            llm=llm,
            llm_options=_parse_llm_options(llm_options),
            k=k,
            **_window(window),
            rerank=rerank,
            index=_open_index(model, chroma_server),
            fetch=_fetch(languages, translate_to, proxy, captions, speech.settings(asr, asr_model)),
        )
    if as_json:
        result = chain.invoke(question)
        _echo_json({"question": question, "answer": result["answer"],
                    "sources": [_document_json(d) for d in result["sources"]],
                    "context": [_document_json(d) for d in result["context"]]})
        return
    sources_cited = _stream_answer(chain.stream(question))
    _print_answer_sources(sources_cited)


def _stream_answer(chunks: Iterable[dict[str, Any]]) -> list[Document]:
    """Print the answer of a ytqa chain's stream as it comes; return its sources."""
    stream = PrintableStream()
    sources: list[Document] = []
    started = False
    try:
        for chunk in chunks:
            piece = stream.feed(chunk.get("answer", ""))
            if not started:  # models often open with blank lines
                piece = piece.lstrip()
                started = bool(piece)
            if piece:
                click.echo(piece, nl=False)
            sources = chunk.get("sources", sources)
    finally:
        click.echo(stream.flush().rstrip() if started else "")
    return sources


def _print_answer_sources(documents: Sequence[Document]) -> None:
    if documents:
        console = _console()
        console.print("\nSources:")
        _print_sources(console, documents)


CHAT_COMMANDS = {
    "/sources": "the sources of the last answer",
    "/videos": "the videos this chat answers from",
    "/clear": "forget the conversation (the next question starts afresh)",
    "/help": "this list",
    "exit": "leave (also /exit, quit, Ctrl-D); Ctrl-C stops an answer",
}
"""What ``ytqa chat`` understands besides questions."""


@cli.command()
@click.argument("sources", nargs=-1, required=False)
@model_option
@answer_options
@rerank_option
@server_option
@fetch_options
def chat(
    sources: tuple[str, ...],
    model: str,
    llm: str | None,
    llm_options: tuple[str, ...],
    k: int,
    window: int | None,
    rerank: str | None,
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    asr: str,
    asr_model: str | None,
    captions: str,
) -> None:
    """Talk with the videos SOURCES (or everything indexed): ask, then follow up.

    Follow-up questions ("what came next?") are rewritten with the conversation
    into a standalone question before the transcripts are searched. Answers
    stream as they are written and end with their sources. Commands: /sources
    (of the last answer), /videos (in scope), /clear (forget the conversation),
    /help. Ctrl-C stops an answer, Ctrl-D or exit leaves. The model and the
    index stay loaded for the whole session. SOURCES are read as by ytqa ask.
    """
    from ytqa.conversation import build_chat_chain
    from ytqa.ingest import ingest_or_raise

    index = _open_index(model, chroma_server)
    _check_rerank(rerank, index.preset)
    with _SpeechProgress(True) as speech:
        fetch = _fetch(languages, translate_to, proxy, captions, speech.settings(asr, asr_model))
        scope = ingest_or_raise(index, list(sources), fetch) if sources else None
    click.echo("Loading the LLM ...", err=True)
    chain = build_chat_chain(
        None, model=model, llm=llm, llm_options=_parse_llm_options(llm_options), k=k,
        **_window(window), rerank=rerank, index=index, video_ids=scope,
    )
    _Chat(chain, index, scope, debug=_debug_requested(click.get_current_context())).run()


class _Chat:
    """The session of ``ytqa chat``: the history, the last sources, the commands."""

    def __init__(
        self, chain: Any, index: VideoIndex, scope: list[str] | None, *, debug: bool
    ) -> None:
        self.chain = chain
        self.index = index
        self.scope = scope
        self.debug = debug
        self.history: list[tuple[str, str]] = []
        self.sources: list[Document] = []

    def run(self) -> None:
        if sys.stdin.isatty():
            with contextlib.suppress(ImportError):  # line editing where the platform has it
                import readline  # noqa: F401
        videos = len(self._videos())
        click.echo(f"ytqa chat: {_count(videos, 'video')}. Ask a question; /help for the "
                   "commands, Ctrl-D or exit to leave.", err=True)
        while True:
            try:
                line = input("> ")
            except EOFError:
                click.echo()
                return
            except KeyboardInterrupt:  # at the prompt: a fresh line, as in a shell
                click.echo()
                continue
            text = line.strip()
            if text.lower() in ("exit", "quit", "/exit", "/quit"):
                return
            if text.startswith("/"):
                self.command(text)
            elif text:
                self.ask(text)

    def command(self, text: str) -> None:
        name = text.split()[0].lower()
        if name == "/sources":
            if self.sources:
                _print_sources(_console(), self.sources)
            else:
                click.echo("No answer yet.")
        elif name == "/videos":
            for record in self._videos():
                click.echo(f"{record.video_id}  {_one_line(record.title or '')}")
        elif name == "/clear":
            self.history.clear()
            self.sources = []
            click.echo("The conversation is cleared.")
        else:
            if name != "/help":
                click.echo(f"Unknown command {_one_line(name)}.")
            for command, meaning in CHAT_COMMANDS.items():
                click.echo(f"  {command:<9} {meaning}")

    def ask(self, question: str) -> None:
        answer: list[str] = []

        def chunks() -> Iterator[dict[str, Any]]:
            for chunk in self.chain.stream({"question": question, "history": self.history}):
                answer.append(chunk.get("answer", ""))
                yield chunk

        try:
            sources = _stream_answer(chunks())
        except KeyboardInterrupt:
            click.echo("[stopped]")
            return
        except Exception as error:  # the session goes on: one line, as the group says it
            if self.debug:
                raise
            message = cli_message(error) if isinstance(error, YtqaError) else _one_line(error)
            click.echo(f"Error: {message}", err=True)
            return
        self.history += [("human", question), ("ai", "".join(answer))]
        self.sources = sources
        _print_answer_sources(sources)

    def _videos(self) -> list[Any]:
        records = self.index.videos()
        if self.scope is None:
            return list(records)
        return [record for record in records if record.video_id in self.scope]


@cli.command()
@click.argument("sources", nargs=-1, required=False)
@click.argument("query")
@model_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Number of passages to show.")
@rerank_option
@server_option
@fetch_options
@json_option
def search(
    sources: tuple[str, ...],
    query: str,
    model: str,
    k: int,
    rerank: str | None,
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    asr: str,
    asr_model: str | None,
    captions: str,
    as_json: bool,
) -> None:
    """Show the passages of SOURCES only (or of everything indexed) that best match QUERY.

    Retrieval only: no LLM is needed. Each passage comes with its timestamp,
    a link to that moment and its similarity score.
    """
    # ytqa.passages, not build_retriever: LangChain's retriever would double the start-up.
    from ytqa.passages import retrieve_passages, searchable_videos

    index = _open_index(model, chroma_server)
    _check_rerank(rerank, index.preset)
    with _SpeechProgress(not as_json) as speech:
        video_ids = searchable_videos(
            index,
            list(sources) or None,
            fetch=_fetch(languages, translate_to, proxy, captions, speech.settings(asr, asr_model)),
        )
    documents = retrieve_passages(index, query, k=k, video_ids=video_ids, rerank=rerank)
    if as_json:
        _echo_json({"query": query, "results": [_document_json(d) for d in documents]})
        return
    console = _console()
    if not documents:
        console.print("No passages found. Index videos first: ytqa ingest SOURCE...")
        return
    from rich.text import Text

    lines = _source_lines(documents)
    for rank, (document, (label, url)) in enumerate(zip(documents, lines, strict=True), 1):
        score = document.metadata.get("score")
        score_text = f"  (score {score:.3f})" if isinstance(score, float) else ""
        console.print(Text.assemble(f"{rank}. ", _one_line(label), score_text, "\n   ", _link(url)))
        # The matching words; --json has the whole passage around them.
        shown = document.metadata.get("matched_text") or document.page_content
        console.print("   " + _one_line(shown))


@cli.command()
@click.argument("sources", nargs=-1, required=False)
@model_option
@server_option
@fetch_options
@click.option("--refresh", is_flag=True, help="Fetch transcripts again instead of using the cache.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="At most N videos of each playlist or channel (a channel's newest first).")
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Only the videos of a channel uploaded on or after this date (channel "
              "listings date videos roughly, e.g. '3 weeks ago'; playlists give no dates, "
              "so their videos are all kept).")
@click.option("--concurrency", type=click.IntRange(1, 16), default=2, show_default=True,
              envvar="YTQA_CONCURRENCY", show_envvar=True, metavar="N",
              help="Videos fetched at the same time (more is faster, and blocked sooner).")
@click.option("--request-interval", type=click.FloatRange(min=0), envvar="YTQA_REQUEST_INTERVAL",
              show_envvar=True, metavar="SECONDS",
              help="Seconds between the starts of two requests to YouTube in the run (a "
              "video takes four), which caps a run at about one video a second; lower is "
              "faster, and blocked sooner [default: 0.25].")
@click.option("--cookies", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              envvar="YTQA_COOKIES", show_envvar=True,
              help="Netscape-format cookies.txt of a browser signed in to YouTube, for "
              "age-restricted and sign-in-gated videos (never logged or stored).")
@click.option("--retry-failed", is_flag=True,
              help="Also add the sources that failed in earlier runs on this index (kept "
              "in a file under the ytqa home; the closing line names it).")
@click.option("-v", "--verbose", is_flag=True, help="Print a line per video.")
@json_option
def ingest(
    sources: tuple[str, ...],
    model: str,
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    asr: str,
    asr_model: str | None,
    captions: str,
    refresh: bool,
    limit: int | None,
    since: Any,
    concurrency: int,
    request_interval: float | None,
    cookies: Path | None,
    retry_failed: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    """Index SOURCES: video URLs or IDs, playlist or channel URLs (/@handle,
    /channel/ID, /c/NAME, /user/NAME, or a tab: .../videos, .../streams, .../shorts),
    transcript files, audio or video files (speech-to-text), or folders of them.

    Videos already indexed with the same model are skipped, so a run stopped
    part-way resumes where it was; a video indexed from another transcript is
    replaced. Videos are fetched a few at a time, paced; when YouTube keeps
    blocking, the run stops (exit 4). The closing table counts the outcomes
    (--verbose: a line per video); the sources that failed are kept for
    --retry-failed. One failing video does not stop the others; the exit status
    is 1 if some failed, that of their kind of error if all failed alike (e.g. 2
    for bad files).
    """
    from ytqa.ingest import failed_sources, record_failures
    from ytqa.ingest import ingest as ingest_sources

    if not sources and not retry_failed:
        raise click.UsageError("Give SOURCES to add, or --retry-failed.")
    index = _open_index(model, chroma_server)
    retried = failed_sources(index) if retry_failed else []
    if retry_failed and not retried and not sources:
        click.echo(f"Nothing to retry: no source failed in earlier runs on the "
                   f"{_one_line(model)} index.")
        return
    with _SpeechProgress(not as_json) as speech, _IngestBar(not as_json) as bar:
        options = _fetch(
            languages, translate_to, proxy, captions, speech.settings(asr, asr_model), refresh,
            limit=limit, since=since.date() if since is not None else None,
            concurrency=concurrency, cookies=cookies,
            **({} if request_interval is None else {"request_interval": request_interval}),
        )
        report = ingest_sources(index, [*sources, *retried], options, progress=bar)
    _raise_if_corrupt(report)
    kept = record_failures(index, report)
    if as_json or verbose:
        _print_report(report, model, as_json=as_json, skipped="skipped", list_skipped=True)
    else:
        _print_summary(report, model)
    if not as_json:
        _print_closing(report, model, kept)
    if report.stopped is not None:
        raise report.stopped
    if report.failed:
        sys.exit(_ingest_status(report))


def _print_summary(report: IngestReport, model: str) -> None:
    """The outcomes of an add as a table of counts, failures by kind with one example."""
    console = _console()
    console.print(f"{'outcome':<12}{'videos':>6}  ({_one_line(model)} index)")
    replaced = sum(item.replaced is not None for item in report.added)
    rows = [
        ("added", len(report.added) - replaced, ""),
        ("replaced", replaced, "another transcript before"),
        ("skipped", len(report.skipped), "indexed already"),
        ("ignored", len(report.ignored), "another source of the same video is used"),
    ]
    for label, count, note in rows:
        if count or label == "added":
            console.print(f"{label:<12}{count:>6}  {note}".rstrip())
    kinds: dict[str, list[Any]] = {}
    for failure in report.failed:
        kinds.setdefault(type(failure.error).__name__, []).append(failure)
    for same in kinds.values():
        first = same[0]
        console.print(f"{'failed':<12}{len(same):>6}  e.g. {_one_line(first.source)}: "
                      f"{cli_message(first.error)}")
    if report.not_fetched:
        console.print(f"{'not fetched':<12}{len(report.not_fetched):>6}  "
                      "the run stopped before them")


def _print_closing(report: IngestReport, model: str, kept: Path | None) -> None:
    """Where the sources to retry are (the file is per index), and how to retry them."""
    retry = len(report.to_retry)
    if not retry or kept is None:
        return
    again = "ytqa ingest --retry-failed" + (
        f" --model {_one_line(model)}" if model != DEFAULT_MODEL else ""
    )
    _console().print(
        f"{retry} sources to retry are listed in {printable(str(kept))}; "
        f"run `{again}` (with the same options) to try them again."
    )


def _ingest_status(report: IngestReport) -> int:
    """1 when some sources failed; when all did, alike, the status of their kind of error
    (2 for bad input, 4 for YouTube blocking...), as one failing command would exit."""
    statuses = {getattr(failure.error, "exit_code", 1) for failure in report.failed}
    everything_failed = not (report.added or report.skipped)
    return statuses.pop() if everything_failed and len(statuses) == 1 else 1


def _raise_if_corrupt(report: IngestReport) -> None:
    """A damaged index fails every source alike: say it once (exit 6), not per source."""
    for failure in report.failed:
        if isinstance(failure.error, IndexCorruptError):
            raise failure.error


def _print_report(
    report: IngestReport, model: str, *, as_json: bool, skipped: str, list_skipped: bool
) -> None:
    """What ``ingest`` and ``reindex`` did: a line per video, then the counts."""
    if as_json:
        _echo_json(report.to_dict())
        return
    console = _console()
    for item in report.added:
        if item.replaced is None:
            action, kind = "added   ", f"({item.transcript})"
        else:
            action, kind = "replaced", f"({item.replaced} → {item.transcript})"
        console.print(
            f"{action} {_one_line(item.video_id)}  {item.chunks:>5} chunks  "
            f"{_one_line(kind)}  {_one_line(item.title or '')}"
        )
    if list_skipped:
        for video in report.skipped:
            console.print(f"skipped  {_one_line(video.video_id)}  (already indexed)  "
                          f"{_one_line(video.title or '')}")
    for ignored in report.ignored:
        why = {
            "uploaded": "uploaded captions first; --captions auto prefers auto-captions",
            "generated": "auto-captions first, as --captions auto asks",
            "later": "the later of two of a kind",
        }[ignored.rule]
        console.print(
            f"ignored  {_one_line(ignored.video_id)}  {_one_line(ignored.source)}: "
            f"{_one_line(ignored.used)} is used ({why})"
        )
    for failure in report.failed:
        console.print(f"failed   {_one_line(failure.source)}: {cli_message(failure.error)}")
    replaced = sum(item.replaced is not None for item in report.added)
    counts = [f"{len(report.added) - replaced} added"]
    counts += [f"{replaced} replaced"] if replaced else []
    counts += [f"{len(report.skipped)} {skipped}"]
    counts += [f"{len(report.ignored)} ignored"] if report.ignored else []
    counts += [f"{len(report.failed)} failed"]
    console.print(f"{', '.join(counts)} ({_one_line(model)}).")


@cli.command(name="list")
@model_option
@server_option
@json_option
def list_videos(model: str, chroma_server: str | None, as_json: bool) -> None:
    """List the videos in the index of a model, with the presets whose indexes hold each.

    Beside each preset, the transcript its index holds: srt, en.vtt, json (files),
    youtube manual or youtube auto (YouTube's uploaded or auto-captions).
    """
    from ytqa.index import known_videos, videos_elsewhere

    index = _open_index(model, chroma_server)
    records = index.videos()
    known = known_videos(index.client)
    # Per video, the transcript each preset's index holds: {"minilm": "srt", ...}.
    held = {video_id: dict(zip(video.presets, video.transcripts, strict=True))
            for video_id, video in known.items()}
    if as_json:
        _echo_json(
            [{**record.to_dict(), "presets": list(held.get(record.video_id, {})),
              "transcripts": held.get(record.video_id, {})}
             for record in records]
        )
        return
    console = _console()
    if not records:
        console.print(f"The {_one_line(model)} index is empty. Add videos with: "
                      "ytqa ingest SOURCE...")
    columns = {
        record.video_id: ", ".join(
            f"{preset} ({kind})" for preset, kind in held.get(record.video_id, {}).items()
        )
        for record in records
    }
    width = max((len(column) for column in columns.values()), default=0)
    for record in records:
        kind = "auto" if record.is_generated else "uploaded"
        if record.asr_model:
            kind = f"speech-to-text {record.asr_model}"
        console.print(
            f"{_one_line(record.video_id)}  {record.chunks:>5} chunks  "
            f"{_one_line(record.language)} ({_one_line(kind)})  "
            f"{_one_line(columns[record.video_id]):<{width}}  "
            f"{_one_line(record.title or record.source)}"
        )
    elsewhere = len(videos_elsewhere(index))
    if elsewhere:
        console.print(f"{elsewhere} more video(s) in other presets' indexes: "
                      f"ytqa reindex --model {_one_line(model)}")


@cli.command()
@click.argument("videos", nargs=-1, required=True)
@model_option
@server_option
def remove(videos: tuple[str, ...], model: str, chroma_server: str | None) -> None:
    """Remove VIDEOS (IDs, URLs or the transcript files they came from) from the index
    of a model. The exit status is 1 if any of them is not in that index."""
    index = _open_index(model, chroma_server)
    pending = set(index.pending())
    missing = False
    for video in videos:
        video_id = _video_id_to_remove(index, video, pending)
        if not (index.has_video(video_id) or video_id in pending):
            click.echo(f"Error: {_one_line(video_id)} is not in the {_one_line(model)} index, so "
                       "nothing was removed; ytqa list shows what it holds.", err=True)
            missing = True
            continue
        click.echo(f"{_one_line(video_id)}: removed {index.remove(video_id)} chunks")
    if missing:
        sys.exit(1)


def _video_id_to_remove(index: VideoIndex, video: str, pending: set[str]) -> str:
    """The video that *video* names: an indexed video's ID (YouTube's, ``local-…`` or one
    of one's own), a transcript file (its video as ``ingest`` named it, or the indexed
    video that came from that file), or a YouTube ID or URL."""
    from ytqa.video import parse_video_id

    text = video.strip()
    if index.has_video(text) or text in pending:
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        return parse_video_id(text)
    from ytqa.transcripts import read_transcript_file

    try:
        video_id: str | None = read_transcript_file(path).video_id
    except YtqaError:  # unreadable now: the file it came from still names it
        video_id = None
    if video_id is not None and index.has_video(video_id):
        return video_id
    source = str(path.resolve())
    from_file = [record.video_id for record in index.videos() if record.source == source]
    return from_file[0] if from_file else video_id or source


@cli.command()
@json_option
def models(as_json: bool) -> None:
    """List the embedding presets and whether each is available on this machine."""

    rows = [
        {
            "preset": preset.key,
            "model": preset.model_name,
            "dimension": preset.dimension,
            "max_tokens": preset.max_tokens,
            "similarity": preset.similarity,
            "available_locally": is_available_locally(preset),
        }
        for preset in EMBEDDING_MODELS.values()
    ]
    if as_json:
        _echo_json(rows)
        return
    from rich.table import Table

    table = Table("preset", "model", "dim", "window", "similarity", "local")
    for row in rows:
        table.add_row(
            _one_line(row["preset"]), _one_line(row["model"]), str(row["dimension"]),
            str(row["max_tokens"]), _one_line(row["similarity"]),
            "yes" if row["available_locally"] else "no (downloads on first use)",
        )
    _console().print(table)


@cli.command()
@model_option
@click.option(
    "--from",
    "from_model",
    metavar="MODEL",
    help="Take only the videos of this preset's index [default: those of every preset].",
)
@server_option
@json_option
def reindex(model: str, from_model: str | None, chroma_server: str | None, as_json: bool) -> None:
    """Embed with MODEL the videos that other presets' indexes hold and its index lacks.

    Transcripts come from the ytqa cache: nothing is fetched again. The exit
    status is 1 if any video failed (its cached transcript is gone, ...).
    """
    index = _open_index(model, chroma_server)
    with _IngestBar(not as_json) as bar:
        report = index.sync(from_model, progress=bar)
    _raise_if_corrupt(report)
    _print_report(
        report, model, as_json=as_json, skipped="already there", list_skipped=False
    )
    if report.failed:
        sys.exit(1)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


@cli.command()
@click.option("--repair", is_flag=True,
              help="Repair what is found, from the transcript cache (nothing is fetched).")
@click.option(
    "--index-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The index folder to check [default: the index under --home].",
)
@json_option
def doctor(repair: bool, index_dir: Path | None, as_json: bool) -> None:
    """Check the local index for damage; with --repair, repair it.

    Finds damaged files, tampered metadata, videos left pending by a stopped
    ingest, ready videos with missing chunks, and stray chunks. A damaged
    folder is kept aside as <folder>.corrupt-<time> and rebuilt from the
    transcript cache. The exit status is 6 while problems remain, and 1 when
    the repair could not add every video again (each is listed with the command
    that gets it back).
    """
    from ytqa.index import check_index, repair_index

    report = repair_index(index_dir) if repair else check_index(index_dir)
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        console = _console()
        console.print(f"Index: {report.folder} ({_count(len(report.collections), 'collection')}, "
                      f"{_count(report.videos, 'video')} checked)", markup=False)
        for problem in report.problems:
            console.print(f"problem   {problem.kind}: {problem.message}", markup=False)
        for line in report.repaired:
            console.print(f"repaired  {line}", markup=False)
        for video in report.lost:
            console.print(f"lost      {video.video_id} ({video.reason}): {video.command}",
                          markup=False)
        if repair:
            for problem in report.remaining:
                console.print(f"remains   {problem.kind}: {problem.message}", markup=False)
        if report.healthy:
            console.print("The index is healthy.", markup=False)
        elif repair:
            console.print(f"{_count(len(report.remaining), 'problem')} left.", markup=False)
        else:
            where = "" if index_dir is None else f" --index-dir {index_dir}"
            console.print(f"{_count(len(report.problems), 'problem')} found. Repair with: "
                          f"ytqa doctor --repair{where}", markup=False)
    if not report.healthy:
        sys.exit(6)
    if report.lost:
        sys.exit(1)


@cli.command()
@click.argument("question", required=False)
@click.option(
    "--models",
    default=",".join(EMBEDDING_MODELS),
    show_default=True,
    envvar="YTQA_COMPARE_MODELS",
    show_envvar=True,
    help="Comma-separated embedding presets (or model names) to compare.",
)
@click.option("-k", "--k", "k", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Passages to show per preset.")
@click.option(
    "--qa",
    "qa_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Evaluate each preset on this QA file (JSON Lines) instead of asking QUESTION.",
)
@click.option(
    "--transcripts",
    "transcripts_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of the transcripts the --qa questions are about (all are indexed).",
)
@json_option
def compare(
    question: str | None,
    models: str,
    k: int,
    qa_file: Path | None,
    transcripts_dir: Path | None,
    as_json: bool,
) -> None:
    """Show the top passages of each embedding preset for QUESTION, side by side.

    Each preset first embeds, from the transcript cache, the videos that other
    presets have indexed. A preset that cannot run (weights not available...)
    is reported, and the others still run. With --qa and --transcripts, prints
    one table of retrieval metrics (hit@k, land@k, MRR@5) per preset instead.
    """
    from ytqa.compare import compare_evaluations, compare_models

    if qa_file is not None:
        if transcripts_dir is None:
            raise click.UsageError("--qa needs --transcripts DIR, the folder of the videos.")
        rows = compare_evaluations(qa_file, transcripts_dir, models)
        if as_json:
            _echo_json({"qa": str(qa_file), "results": rows})
        else:
            _print_metrics_table(rows)
        if all("error" in row for row in rows):
            sys.exit(1)
        return
    if question is None:
        raise click.UsageError("Give a QUESTION, or --qa FILE --transcripts DIR.")
    comparison = compare_models(question, models, k=k)
    if not any(result.ok for result in comparison.results):
        raise comparison.results[0].error or YtqaError("No preset could run.")
    if as_json:
        _echo_json(comparison.to_dict())
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=True)
    for result in comparison.results:
        header = f"{result.model} ({result.similarity})" if result.similarity else result.model
        table.add_column(Text(_one_line(header)), overflow="fold")
    for rank in range(max(1, *(len(result.passages) for result in comparison.results))):
        cells: list[Text | str] = []
        for result in comparison.results:
            if not result.ok:
                cells.append("not available (see below)" if rank == 0 else "")
            elif rank < len(result.passages):
                p = result.passages[rank]
                cells.append(Text.assemble(
                    f"{rank + 1}. ", _one_line(f"[{p.timestamp}] {p.title}"),
                    f"\nscore {p.score:.3f}\n", _link(p.url), "\n", _one_line(p.text)[:160],
                ))
            else:
                cells.append("")
        table.add_row(*cells)
    console = _console()
    console.print(table)
    for result in comparison.results:
        if result.error is not None:
            console.print(f"{_one_line(result.model)}: {cli_message(result.error)}")


def _print_metrics_table(rows: list[dict[str, Any]]) -> None:
    """One column per preset, one row per metric (as the passages of ``compare``)."""
    from rich.table import Table

    names = next((list(r) for r in rows if "error" not in r), [])
    table = Table("metric", *(_one_line(row["model"]) for row in rows))
    for position, name in enumerate(n for n in names if n != "model"):
        cells = []
        for row in rows:
            if "error" in row:
                cells.append("not available" if position == 0 else "")
            else:
                value = row[name]
                cells.append(f"{value:.3f}" if isinstance(value, float) else _one_line(value))
        table.add_row(_one_line(name), *cells)
    console = _console()
    console.print(table)
    for row in rows:
        if "error" in row:
            console.print(f"{_one_line(row['model'])}: {cli_message(row['error'])}")


def _parse_ks(text: str) -> tuple[int, ...]:
    """``"1,3,5"`` -> ``(1, 3, 5)``; anything else is a usage error (exit status 2)."""
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise click.BadParameter(
            f"{text!r}: pass positive whole numbers separated by commas, e.g. 1,3,5.",
            param_hint="'--k'",
        )
    return values


@cli.command(name="eval")
@click.option(
    "--qa",
    "qa_file",
    required=True,
    type=click.Path(path_type=Path),
    help="Questions as JSON Lines: id, video_id, question, start, end (seconds of the answer).",
)
@click.option(
    "--transcripts",
    "transcripts_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder of <VIDEO_ID>.srt/.vtt/.en.vtt/.json transcripts; all are indexed.",
)
@model_option
@click.option("--k", "ks", default="1,3,5", show_default=True, metavar="K,K,...",
              help="Cut-offs of hit@k and land@k, comma-separated.")
@click.option(
    "--captions",
    type=click.Choice(["manual", "auto"]),
    default="manual",
    show_default=True,
    help="Which file to index when a video has several: uploaded .srt or auto-captions.",
)
@click.option("--misses/--no-misses", default=True, show_default=True,
              help="List the questions whose top result does not land on the answer.")
@rerank_option
@json_option
def eval_command(
    qa_file: Path,
    transcripts_dir: Path,
    model: str,
    ks: str,
    captions: str,
    misses: bool,
    rerank: str | None,
    as_json: bool,
) -> None:
    """Measure retrieval quality: hit@k, land@k and MRR@5 on a set of questions.

    Every transcript in --transcripts goes into a fresh temporary index (the
    other videos act as distractors), and each question goes through the same
    retriever that `ytqa ask` uses. See docs/evaluation.md.
    """
    from ytqa.evaluation import evaluate

    report = evaluate(
        qa_file, transcripts_dir, model=model, k=_parse_ks(ks),
        captions="generated" if _captions(captions) == "generated" else "manual",
        rerank=rerank,
    )
    if as_json:
        _echo_json(report.to_dict() if misses else report.figures())
        return
    _print_metrics_table([report.figures()])
    if misses and report.misses:
        console = _console()
        console.print(f"\nQuestions whose top result does not land ({len(report.misses)}):")
        for miss in report.misses:
            top = miss.results[0] if miss.results else None
            got = (f"got {top.video_id} at {_format_moment(top.cited)}" if top
                   else "got nothing")
            console.print("  " + _one_line(
                f"{miss.item.id}: {miss.item.question!r} — expected {miss.item.video_id} "
                f"{_format_moment(miss.item.start)}-{_format_moment(miss.item.end)}, {got}"
            ))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="YTQA_HOST",
              show_envvar=True, help="Address to listen on; any but loopback needs --token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              envvar="YTQA_PORT", show_envvar=True, help="Port to listen on (0: a free one).")
@model_option
@click.option(
    "--llm",
    envvar="YTQA_LLM",
    show_envvar=True,
    help="LLM that answers on the page: 'provider:model' or 'hf:<model id or path>' "
    "[default: none; the page shows the matching passages].",
)
@click.option("-o", "--llm-option", "llm_options", multiple=True, metavar="KEY=VALUE",
              help="An option of the LLM (repeatable), as for ytqa ask.")
@rerank_option
@server_option
@fetch_options
@click.option("--token", envvar="YTQA_TOKEN", show_envvar=True, metavar="SECRET",
              help="Require 'Authorization: Bearer SECRET' on every API request "
              "(16 characters or more; the page takes it from #token=SECRET).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="Let pages of this origin (e.g. http://localhost:3000) call the API "
              "(repeatable) [default: none].")
@click.option("--max-upload-mb", type=click.IntRange(1, 100_000), default=512, show_default=True,
              help="Largest upload (transcript and media file together), in MiB.")
def serve(
    host: str,
    port: int,
    model: str,
    llm: str | None,
    llm_options: tuple[str, ...],
    rerank: str | None,
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    captions: str,
    asr: str,
    asr_model: str | None,
    token: str | None,
    cors_origins: tuple[str, ...],
    max_upload_mb: int,
) -> None:
    """Serve the web page and the HTTP API (see docs/web.md) until Ctrl-C.

    The page adds videos (URLs, playlists, uploaded transcripts and media),
    answers questions, and plays the video at the moment a citation names.
    The API is documented at /docs. Binds to 127.0.0.1 unless told otherwise.
    """
    import ipaddress

    from ytqa.web import LOOPBACK_HOSTS, create_app, listen
    from ytqa.web import serve as run_server

    token = token or None
    try:
        loopback = host in LOOPBACK_HOSTS or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and token is None:
        raise click.UsageError(
            f"--host {host} lets other machines reach the index: pass --token SECRET "
            "(or set YTQA_TOKEN) to require it on every request, e.g. --token "
            '"$(python -c \'import secrets; print(secrets.token_urlsafe())\')".'
        )
    if token is not None and len(token) < 16:
        raise click.BadParameter("use 16 characters or more.", param_hint="'--token'")
    from ytqa.embeddings import resolve_preset

    _check_rerank(rerank, resolve_preset(model))
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise click.UsageError(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}): pass another --port "
            "(or --port 0 for a free one), or stop what uses it."
        ) from exc
    llm_model = None
    if llm:
        from ytqa.llm import resolve_llm

        click.echo(f"Loading the LLM {llm} ...", err=True)
        llm_model = resolve_llm(llm, **_parse_llm_options(llm_options))
    app = create_app(
        _open_index(model, chroma_server),
        llm=llm_model,
        token=token,
        cors_origins=cors_origins,
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        languages=languages,
        translate_to=translate_to,
        proxy=proxy,
        captions=_captions(captions),
        asr=asr,  # type: ignore[arg-type]  # click.Choice of AsrMode's values
        asr_model=asr_model,
        rerank=rerank,
    )
    bound_port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host}:{bound_port}/"
    click.echo(f"ytqa serve: {address}{f'#token={token}' if token else ''}")
    click.echo(f"API docs: {address}docs   (Ctrl-C to stop)", err=True)
    run_server(app, sock)
    click.echo("Stopped.", err=True)


def _format_moment(seconds: float | None) -> str:
    from ytqa.video import format_timestamp

    return "?" if seconds is None else format_timestamp(seconds)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ytqa`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="ytqa")


if __name__ == "__main__":  # pragma: no cover
    main()
