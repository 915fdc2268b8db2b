"""How many garbled pages of ``chroma.sqlite3`` ``ytqa doctor --repair`` repairs.

    python benchmarks/corruption_sweep.py            # every page of a two-video index
    python benchmarks/corruption_sweep.py --step 4   # every fourth page

Builds a real MiniLM index of two shared transcripts once, then, for each page
in turn, copies it, overwrites that page with junk (as a bad sector would),
and runs :func:`ytqa.check_index`, :func:`ytqa.repair_index`, a second check
and a search. Prints, for the pages tried: how many SQLite itself calls
damaged, how many the doctor found, how many it repaired to a healthy index
that holds both videos again and answers a search. Baseline: before
``ytqa doctor`` there was no repair (0), and ``ytqa remove`` + add again
failed on the same error.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

from _common import setup_offline, transcript_paths

VIDEOS = ("DHyUYg8X31c", "-82gNL8XeWg")


def _damaged(database: Path) -> bool:
    try:
        connection = sqlite3.connect(database)
        try:
            return bool(connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok")
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=1, help="try every STEP-th page")
    step = parser.parse_args().step
    setup_offline()
    from ytqa import VideoIndex, build_retriever, check_index, repair_index

    work = Path(tempfile.mkdtemp(prefix="ytqa-sweep-"))
    base = work / "base"
    os.environ["YTQA_HOME"] = str(base)
    files = [p for p in transcript_paths() if p.name.split(".")[0] in VIDEOS]
    index = VideoIndex("minilm")
    assert index.add_many(files).ok
    index.client.close()
    database = base / "index" / "chroma.sqlite3"
    connection = sqlite3.connect(database)
    size = connection.execute("PRAGMA page_size").fetchone()[0]
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.close()

    counts = {"tried": 0, "damaged": 0, "found": 0, "repaired": 0, "searchable": 0}
    for page in range(0, pages, step):
        home = work / f"page-{page}"
        shutil.copytree(base, home)
        os.environ["YTQA_HOME"] = str(home)
        with (home / "index" / "chroma.sqlite3").open("r+b") as file:
            file.seek(page * size)
            file.write(b"\xde\xad\xbe\xef" * (size // 4))
        counts["tried"] += 1
        counts["damaged"] += _damaged(home / "index" / "chroma.sqlite3")
        if check_index().healthy:
            shutil.rmtree(home)
            continue
        counts["found"] += 1
        report = repair_index()
        if report.healthy and check_index().healthy:
            counts["repaired"] += 1
            held = {video.video_id for video in VideoIndex().videos()}
            if held == set(VIDEOS):
                found = build_retriever(index=VideoIndex(), k=3).invoke("robots and the arts")
                counts["searchable"] += bool(found)
            else:
                print(f"page {page}: repaired, holds {sorted(held)}: {report.repaired}")
        else:
            print(f"page {page}: not repaired: {[p.message for p in report.remaining]}")
        shutil.rmtree(home)
    shutil.rmtree(work)
    print(f"pages of a {pages}-page index, every {step}: " + ", ".join(
        f"{name} {value}" for name, value in counts.items()
    ))
    print("baseline (before ytqa doctor): repaired 0")


if __name__ == "__main__":
    main()
