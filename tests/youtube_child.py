"""``python -m tests.youtube_child ARGS...``: the ``ytqa`` command in a child process, with
YouTube and yt-dlp's listing mocked at their boundaries as in the tests (not a test module).

``$YTQA_TEST_YOUTUBE`` is a JSON object: ``assets`` (the recorded responses), ``log``
(a file that gets a line per watch-page request), ``latency`` (seconds per request)
and ``videos`` (the IDs that the channel lists, in its ``/videos`` tab).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yt_dlp

from tests.youtube_support import channel_tab, flat_video, many_videos

SETTINGS_ENV = "YTQA_TEST_YOUTUBE"


def main() -> None:
    settings = json.loads(os.environ[SETTINGS_ENV])
    videos = settings["videos"]

    def extract_info(
        downloader: yt_dlp.YoutubeDL, url: str, download: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        return channel_tab("videos", [flat_video(video_id) for video_id in videos])

    yt_dlp.YoutubeDL.extract_info = extract_info  # type: ignore[method-assign]
    with many_videos(
        Path(settings["assets"]), latency=settings["latency"], log=Path(settings["log"])
    ):
        from ytqa.cli import main as ytqa_main

        sys.argv = ["ytqa", *sys.argv[1:]]
        ytqa_main()


if __name__ == "__main__":
    main()
