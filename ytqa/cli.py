"""The ``ytqa`` command: ask, search, ingest, list, remove, models, eval, reindex, doctor, compare.

The command is a thin layer over the library: every command calls public
ytqa functions and only formats their results. Heavy libraries load inside the
commands, so ``ytqa --help`` starts fast.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ytqa.errors import YtqaError
from ytqa.models import DEFAULT_MODEL, EMBEDDING_MODELS

if TYPE_CHECKING:
    from langchain_core.documents import Document
    from rich.console import Console

    from ytqa.store import IngestReport, VideoIndex

__all__ = ["EXIT_CODES", "main"]

EXIT_CODES = {
    0: "success",
    1: "a ytqa error not listed below, or some sources failed to ingest",
    2: "bad input: unknown option, invalid video ID or URL, bad transcript or QA file",
    3: "YouTube has no usable transcript (unavailable video, captions disabled, language)",
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
    """Turns ytqa errors into one ``Error: ...`` line and a documented exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except YtqaError as error:
            if _debug_requested(ctx):
                raise
            click.echo(f"Error: {_one_line(str(error))}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(130)


def _debug_requested(ctx: click.Context) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("YTQA_DEBUG", "") not in ("", "0")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


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
    ]
    for option in reversed(options):
        f = option(f)
    return f


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
@click.option("--debug", is_flag=True, envvar="YTQA_DEBUG", help="Show tracebacks for errors.")
@click.version_option(package_name="ytqa", message="ytqa %(version)s")
def cli(home: Path | None, debug: bool) -> None:
    """Ask questions of YouTube videos; answers cite the moment in the video.

    \b
    ytqa ask https://youtu.be/VIDEO_ID "What is the main argument?"
    ytqa search talk.srt "lens"           # no LLM needed
    """
    if home is not None:
        os.environ["YTQA_HOME"] = str(home)


def _open_index(model: str, chroma_server: str | None) -> VideoIndex:
    from ytqa.store import VideoIndex

    if chroma_server:
        from urllib.parse import urlsplit

        parts = urlsplit(chroma_server if "://" in chroma_server else f"http://{chroma_server}")
        return VideoIndex.from_server(
            parts.hostname or "localhost",
            parts.port or 8000,
            ssl=parts.scheme == "https",
            model=model,
        )
    return VideoIndex(model)


def _source_lines(documents: Sequence[Document]) -> list[tuple[str, str]]:
    """``(label, url)`` per source: ``[mm:ss] title`` and the link that opens there."""
    from ytqa.video import format_timestamp

    lines = []
    for document in documents:
        meta = document.metadata
        title = meta.get("title") or meta.get("video_id", "")
        # The retriever's timestamp is the cited moment, which the url opens at.
        moment = meta.get("timestamp") or format_timestamp(float(meta.get("start", 0)))
        lines.append((f"[{moment}] {title}", meta["url"]))
    return lines


def _print_sources(console: Console, documents: Sequence[Document]) -> None:
    from rich.markup import escape

    for label, url in _source_lines(documents):
        # rich turns [link=...] into a clickable link where the terminal supports it.
        console.print(f"{escape(label)} — [link={url}]{escape(url)}[/link]")


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
@click.option(
    "--llm",
    envvar="YTQA_LLM",
    show_envvar=True,
    help="LLM: 'provider:model' (e.g. openai:gpt-4o-mini, ollama:llama3.2) or "
    "'hf:<model id or path>' [default: a small local model].",
)
@click.option(
    "-o",
    "--llm-option",
    "llm_options",
    multiple=True,
    metavar="KEY=VALUE",
    help="An option of the LLM (repeatable), e.g. -o max_new_tokens=64 or -o temperature=0 "
    "for local hf: models, -o base_url=http://host:11434 for providers.",
)
@click.option("-k", "k", type=click.IntRange(1, 50), default=4, show_default=True,
              help="Number of transcript passages given to the LLM.")
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
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the videos SOURCES (or from everything indexed).

    SOURCES are video URLs or IDs, playlist URLs, transcript files or folders;
    those not indexed yet are indexed first.
    """
    from ytqa.chain import build_chain
    from ytqa.llm import resolve_llm

    chain = build_chain(
        list(sources) or None,
        model=model,
        llm=resolve_llm(llm, **_parse_llm_options(llm_options)),
        k=k,
        index=_open_index(model, chroma_server),
        languages=languages,
        translate_to=translate_to,
        proxy=proxy,
    )
    result = chain.invoke({"query": question})
    documents = result.get("source_documents", [])
    if as_json:
        click.echo(
            json.dumps(
                {"question": question, "answer": result["result"],
                 "sources": [_document_json(d) for d in documents]},
                ensure_ascii=False,
            )
        )
        return
    console = _console()
    console.print(str(result["result"]).strip(), markup=False)
    if documents:
        console.print("\nSources:")
        _print_sources(console, documents)


@cli.command()
@click.argument("sources", nargs=-1, required=False)
@click.argument("query")
@model_option
@click.option("-k", "k", type=click.IntRange(1, 100), default=5, show_default=True,
              help="Number of passages to show.")
@server_option
@fetch_options
@json_option
def search(
    sources: tuple[str, ...],
    query: str,
    model: str,
    k: int,
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    as_json: bool,
) -> None:
    """Show the passages of SOURCES (or of everything indexed) that best match QUERY.

    Retrieval only: no LLM is needed. Each passage comes with its timestamp,
    a link to that moment and its similarity score.
    """
    from ytqa.chain import build_retriever

    retriever = build_retriever(
        list(sources) or None,
        model=model,
        k=k,
        index=_open_index(model, chroma_server),
        languages=languages,
        translate_to=translate_to,
        proxy=proxy,
    )
    documents = retriever.invoke(query)
    if as_json:
        click.echo(json.dumps({"query": query, "results": [_document_json(d) for d in documents]},
                              ensure_ascii=False))
        return
    console = _console()
    if not documents:
        console.print("No passages found. Index videos first: ytqa ingest SOURCE...")
        return
    lines = _source_lines(documents)
    for rank, (document, (label, url)) in enumerate(zip(documents, lines, strict=True), 1):
        score = document.metadata.get("score")
        score_text = f"  (score {score:.3f})" if isinstance(score, float) else ""
        from rich.markup import escape

        console.print(f"{rank}. {escape(label)}{score_text}\n   [link={url}]{escape(url)}[/link]")
        # The matching words; --json has the whole passage around them.
        shown = document.metadata.get("matched_text") or document.page_content
        console.print("   " + _one_line(str(shown)), markup=False)


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@model_option
@server_option
@fetch_options
@click.option("--refresh", is_flag=True, help="Fetch transcripts again instead of using the cache.")
@json_option
def ingest(
    sources: tuple[str, ...],
    model: str,
    chroma_server: str | None,
    languages: tuple[str, ...],
    translate_to: str | None,
    proxy: str | None,
    refresh: bool,
    as_json: bool,
) -> None:
    """Index SOURCES: video URLs or IDs, playlist URLs, transcript files or folders.

    Videos already indexed with the same model are skipped. One failing video
    does not stop the others; the exit status is 1 if any failed.
    """
    index = _open_index(model, chroma_server)
    report = index.add_many(
        list(sources),
        languages=languages,
        translate_to=translate_to,
        proxy=proxy,
        refresh=refresh,
        progress=not as_json,
    )
    _raise_if_corrupt(report)
    _print_report(report, model, as_json=as_json, skipped="skipped", list_skipped=True)
    if report.failed:
        sys.exit(1)


def _raise_if_corrupt(report: IngestReport) -> None:
    """A damaged index fails every source alike: say it once (exit 6), not per source."""
    from ytqa.errors import IndexCorruptError

    for failure in report.failed:
        if isinstance(failure.error, IndexCorruptError):
            raise failure.error


def _print_report(
    report: IngestReport, model: str, *, as_json: bool, skipped: str, list_skipped: bool
) -> None:
    """What ``ingest`` and ``reindex`` did: a line per video, then the counts."""
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    console = _console()
    for item in report.added:
        console.print(f"added    {item.video_id}  {item.chunks:>5} chunks  {item.title or ''}",
                      markup=False)
    if list_skipped:
        for video in report.skipped:
            console.print(f"skipped  {video.video_id}  (already indexed)  {video.title or ''}",
                          markup=False)
    for failure in report.failed:
        console.print(f"failed   {failure.source}: {_one_line(str(failure.error))}", markup=False)
    console.print(
        f"{len(report.added)} added, {len(report.skipped)} {skipped}, "
        f"{len(report.failed)} failed ({model}).",
        markup=False,
    )


@cli.command(name="list")
@model_option
@server_option
@json_option
def list_videos(model: str, chroma_server: str | None, as_json: bool) -> None:
    """List the videos in the index of a model, with the presets whose indexes hold each."""
    from ytqa._sync import known_videos

    index = _open_index(model, chroma_server)
    records = index.videos()
    known = known_videos(index.client)
    presets = {video_id: list(video.presets) for video_id, video in known.items()}
    if as_json:
        click.echo(json.dumps(
            [{**record.to_dict(), "presets": presets.get(record.video_id, [])}
             for record in records],
            ensure_ascii=False,
        ))
        return
    console = _console()
    if not records:
        console.print(f"The {model} index is empty. Add videos with: ytqa ingest SOURCE...")
    width = max((len(", ".join(presets.get(r.video_id, []))) for r in records), default=0)
    for record in records:
        kind = "auto" if record.is_generated else "uploaded"
        held_by = ", ".join(presets.get(record.video_id, []))
        console.print(
            f"{record.video_id}  {record.chunks:>5} chunks  {record.language} ({kind})  "
            f"{held_by:<{width}}  {record.title or record.source}",
            markup=False,
        )
    elsewhere = len(known.keys() - {record.video_id for record in records} - index._removed())
    if elsewhere:
        console.print(
            f"{elsewhere} more video(s) in other presets' indexes: ytqa reindex --model {model}",
            markup=False,
        )


@cli.command()
@click.argument("videos", nargs=-1, required=True)
@model_option
@server_option
def remove(videos: tuple[str, ...], model: str, chroma_server: str | None) -> None:
    """Remove VIDEOS (IDs or URLs) from the index of a model."""
    from ytqa.video import is_video_id, parse_video_id

    index = _open_index(model, chroma_server)
    for video in videos:
        is_id = video.startswith("local-") or is_video_id(video)
        video_id = video if is_id else parse_video_id(video)
        removed = index.remove(video_id)
        state = f"removed {removed} chunks" if removed else "not in the index"
        click.echo(f"{video_id}: {state}")


@cli.command()
@json_option
def models(as_json: bool) -> None:
    """List the embedding presets and whether each is available on this machine."""
    from ytqa.models import is_available_locally

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
        click.echo(json.dumps(rows))
        return
    from rich.table import Table

    table = Table("preset", "model", "dim", "window", "similarity", "local")
    for row in rows:
        table.add_row(
            str(row["preset"]), str(row["model"]), str(row["dimension"]),
            str(row["max_tokens"]), str(row["similarity"]),
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
    report = index.sync(from_model, progress=not as_json)
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
    from ytqa.doctor import check_index, repair_index

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
            click.echo(json.dumps({"qa": str(qa_file), "results": rows}, ensure_ascii=False))
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
        click.echo(json.dumps(comparison.to_dict(), ensure_ascii=False))
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_lines=True)
    for result in comparison.results:
        header = f"{result.model} ({result.similarity})" if result.similarity else result.model
        table.add_column(escape(header), overflow="fold")
    for rank in range(max(1, *(len(result.passages) for result in comparison.results))):
        cells = []
        for result in comparison.results:
            if not result.ok:
                cells.append("not available (see below)" if rank == 0 else "")
            elif rank < len(result.passages):
                p = result.passages[rank]
                cells.append(
                    f"{rank + 1}. {escape(f'[{p.timestamp}] {p.title}')}\nscore {p.score:.3f}\n"
                    f"[link={p.url}]{escape(p.url)}[/link]\n{escape(_one_line(p.text)[:160])}"
                )
            else:
                cells.append("")
        table.add_row(*cells)
    console = _console()
    console.print(table)
    for result in comparison.results:
        if result.error is not None:
            console.print(f"{result.model}: {_one_line(str(result.error))}", markup=False)


def _print_metrics_table(rows: list[dict[str, Any]]) -> None:
    """One column per preset, one row per metric (as the passages of ``compare``)."""
    from rich.markup import escape
    from rich.table import Table

    names = next((list(r) for r in rows if "error" not in r), [])
    table = Table("metric", *(escape(str(row["model"])) for row in rows))
    for position, name in enumerate(n for n in names if n != "model"):
        cells = []
        for row in rows:
            if "error" in row:
                cells.append("not available" if position == 0 else "")
            else:
                value = row[name]
                cells.append(f"{value:.3f}" if isinstance(value, float) else str(value))
        table.add_row(name, *cells)
    console = _console()
    console.print(table)
    for row in rows:
        if "error" in row:
            console.print(f"{row['model']}: {_one_line(str(row['error']))}", markup=False)


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
@json_option
def eval_command(
    qa_file: Path,
    transcripts_dir: Path,
    model: str,
    ks: str,
    captions: str,
    misses: bool,
    as_json: bool,
) -> None:
    """Measure retrieval quality: hit@k, land@k and MRR@5 on a set of questions.

    Every transcript in --transcripts goes into a fresh temporary index (the
    other videos act as distractors), and each question goes through the same
    retriever that `ytqa ask` uses. See docs/evaluation.md.
    """
    from ytqa.evaluation import evaluate, metrics_only

    report = evaluate(
        qa_file, transcripts_dir, model=model, k=_parse_ks(ks),
        captions="auto" if captions == "auto" else "manual",
    )
    if as_json:
        payload = metrics_only(report)
        if misses:
            payload["misses"] = [miss.to_dict() for miss in report["misses"]]
        click.echo(json.dumps(payload, ensure_ascii=False))
        return
    _print_metrics_table([metrics_only(report)])
    if misses and report["misses"]:
        console = _console()
        console.print(f"\nQuestions whose top result does not land ({len(report['misses'])}):")
        for miss in report["misses"]:
            top = miss.results[0] if miss.results else None
            got = (f"got {top.video_id} at {_format_moment(top.cited)}" if top
                   else "got nothing")
            console.print(
                f"  {miss.item.id}: {miss.item.question!r} — expected {miss.item.video_id} "
                f"{_format_moment(miss.item.start)}-{_format_moment(miss.item.end)}, {got}",
                markup=False,
            )


def _format_moment(seconds: float | None) -> str:
    from ytqa.video import format_timestamp

    return "?" if seconds is None else format_timestamp(seconds)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ytqa`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="ytqa")


if __name__ == "__main__":  # pragma: no cover
    main()
