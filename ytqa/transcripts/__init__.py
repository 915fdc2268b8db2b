"""Transcripts: everything a user can name a video by, turned into a :class:`Transcript`.

* a video ID or URL is fetched from YouTube with youtube-transcript-api (languages,
  uploaded vs generated captions, translation, proxies, cookies, retries; a run's
  requests paced by a :class:`RequestPacer`), every upstream
  failure turned into a :class:`ytqa.YtqaError` that says what to do;
* a playlist or channel URL is listed by yt-dlp, a folder becomes its files;
* a ``.srt``, ``.vtt`` or youtube-transcript-api ``.json`` file is parsed,
  including YouTube's auto-caption VTT with rolling, duplicated lines;
* a recording, or a video with no captions, goes through speech-to-text (Whisper,
  the ``ytqa[asr]`` extra);
* what was fetched, read or transcribed is kept in an on-disk cache under the ytqa
  home, so that a second load needs no network at all.

The package's private modules hold one job each: ``_model`` (the data model),
``_sources`` (what a source names, and dispatch), ``_youtube`` (fetching captions),
``_playlists`` (yt-dlp listings), ``_files`` (transcript files), ``_cache``,
``_speech`` (speech-to-text), ``_media`` (decoding recordings) and
``_audio_download`` (a video's audio through yt-dlp). Heavy or network libraries
(requests, youtube-transcript-api, yt-dlp, faster-whisper, PyAV, numpy) are
imported inside the functions that use them, so ``import ytqa`` stays fast.
"""

from __future__ import annotations

from ytqa.transcripts._audio_download import download_audio
from ytqa.transcripts._cache import (
    cached_transcripts,
    cached_video_ids,
    load_cached,
    save_cached,
    video_cache_dir,
)
from ytqa.transcripts._files import TRANSCRIPT_SUFFIXES, read_transcript_file, transcript_files
from ytqa.transcripts._media import (
    MEDIA_SUFFIXES,
    MediaInfo,
    decode_audio,
    is_media_file,
    media_files,
    probe_media,
)
from ytqa.transcripts._model import CAPTIONS, Captions, Segment, Transcript, video_link
from ytqa.transcripts._sources import expand_sources, load_transcript
from ytqa.transcripts._speech import (
    ASR_MODES,
    WHISPER_MODELS,
    AsrMode,
    SpeechToText,
    cached_youtube_transcript,
    has_no_captions,
    speech_to_text,
    transcribe_file,
    transcribe_youtube,
    whisper_location,
    whisper_model,
)
from ytqa.transcripts._youtube import REQUEST_INTERVAL, RequestPacer, load_cookies, pacing

__all__ = [
    "ASR_MODES",
    "CAPTIONS",
    "MEDIA_SUFFIXES",
    "REQUEST_INTERVAL",
    "TRANSCRIPT_SUFFIXES",
    "WHISPER_MODELS",
    "AsrMode",
    "Captions",
    "MediaInfo",
    "RequestPacer",
    "Segment",
    "SpeechToText",
    "Transcript",
    "cached_transcripts",
    "cached_video_ids",
    "cached_youtube_transcript",
    "decode_audio",
    "download_audio",
    "expand_sources",
    "has_no_captions",
    "is_media_file",
    "load_cached",
    "load_cookies",
    "load_transcript",
    "media_files",
    "pacing",
    "probe_media",
    "read_transcript_file",
    "save_cached",
    "speech_to_text",
    "transcribe_file",
    "transcribe_youtube",
    "transcript_files",
    "video_cache_dir",
    "video_link",
    "whisper_location",
    "whisper_model",
]
