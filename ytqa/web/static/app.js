// ytqa's page: a plain ES module, no build step, no third-party code.
//
// Safety rule: data from the server (titles, channels, transcript text,
// answers, error messages) reaches the page only as text (textContent, text
// nodes) or as attribute values set one by one; never as markup.

const TOKEN_KEY = "ytqa-token";
const POLL_MS = 5000;
const YOUTUBE_API = "https://www.youtube.com/iframe_api";
const YOUTUBE_TIMEOUT_MS = 8000;

const state = {
  token: null,
  askedForToken: false,
  health: null,
  videos: new Map(), // video_id -> video (as GET /api/videos lists it)
  libraryVersion: null,
  sources: [], // the passages of the last answer or search
  current: null, // video_id shown in the player
  transcripts: new Map(), // video_id -> segments, or null when unavailable
  media: null, // the <video>/<audio> element
  yt: { player: null, video: null, ready: false, pending: null },
};

const $ = (selector) => document.querySelector(selector);

/** An element with properties, listeners and children (strings become text nodes). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

// --- time ------------------------------------------------------------------------

export function formatTime(seconds) {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

export function parseTime(stamp) {
  return stamp.split(":").reduce((total, part) => total * 60 + Number(part), 0);
}

// --- the API ------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

function readToken() {
  // #token=... keeps the token out of server logs and Referer headers; it is
  // kept for this tab only and removed from the address bar.
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
  } catch {
    // not JSON: fall through
  }
  return `${response.status} ${response.statusText}`;
}

async function api(path, options = {}, mayAsk = true) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
  const response = await fetch(new URL(path, document.baseURI), { ...options, headers });
  if (response.status === 401 && mayAsk && !state.askedForToken) {
    // Asked once per page load: a dismissed prompt must not come back every poll.
    state.askedForToken = true;
    const given = window.prompt("This ytqa server needs its token (ytqa serve --token):");
    if (given && given.trim()) {
      state.token = given.trim();
      sessionStorage.setItem(TOKEN_KEY, state.token);
      state.askedForToken = false; // a wrong token may be corrected once more
      return api(path, options, false);
    }
  }
  if (!response.ok) throw new ApiError(await errorText(response), response.status);
  return response;
}

const getJson = async (path) => (await api(path)).json();

/** The server-sent events of a streamed response, as {event, data} objects. */
async function* serverEvents(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

// --- status and notes ---------------------------------------------------------------

function setStatus(text, isError = false) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function describeHealth(health) {
  const llm = health.llm ? `LLM ${health.llm}` : "no LLM: questions show the matching passages";
  const count = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
  return `${count(health.videos, "video")} · ${count(health.chunks, "chunk")} · `
    + `model ${health.model} · ${llm}`;
}

async function poll() {
  if (document.hidden) return;
  try {
    const health = await getJson("api/health");
    state.health = health;
    setStatus(describeHealth(health));
    if (health.library_version !== state.libraryVersion) await refreshVideos();
  } catch (error) {
    const reason = error instanceof ApiError ? error.message : `The server does not answer (${error.message}).`;
    setStatus(error.status === 401 ? `${reason} Reload the page to enter it.` : reason, true);
  }
}

// --- videos -------------------------------------------------------------------------

function captionText(video) {
  if (video.from_youtube) return `YouTube, ${video.captions} captions`;
  return video.is_generated ? "transcript file (auto-generated)" : "transcript file";
}

function videoItem(video) {
  const title = video.title || video.video_id;
  const facts = [
    video.channel,
    video.duration !== null && video.duration !== undefined ? formatTime(video.duration) : null,
    captionText(video),
    video.has_media ? `${video.player} file` : null,
    `${video.chunks} chunk${video.chunks === 1 ? "" : "s"}`,
  ].filter(Boolean);
  return el(
    "li",
    { class: "video", dataset: { video: video.video_id } },
    el("span", { class: "title", text: title }),
    el("span", { class: "facts", text: facts.join(" · ") }),
    el(
      "span",
      { class: "actions" },
      el("button", {
        type: "button",
        text: "Play",
        "aria-label": `Play ${title}`,
        onclick: () => play(video.video_id, 0),
      }),
      removeButton(video, title),
    ),
  );
}

function removeButton(video, title) {
  // Two steps, no dialog: the first press asks, the second removes.
  let timer = null;
  const button = el("button", { type: "button", class: "remove", text: "Remove",
    "aria-label": `Remove ${title}` });
  button.addEventListener("click", async () => {
    if (!timer) {
      button.textContent = "Really remove?";
      timer = setTimeout(() => {
        button.textContent = "Remove";
        timer = null;
      }, 4000);
      return;
    }
    clearTimeout(timer);
    button.disabled = true;
    try {
      await api(`api/videos/${encodeURIComponent(video.video_id)}`, { method: "DELETE" });
      state.transcripts.delete(video.video_id);
      await refreshVideos();
    } catch (error) {
      button.disabled = false;
      addJobNote(`Could not remove ${title}: ${error.message}`);
    }
  });
  return button;
}

async function refreshVideos() {
  const listing = await getJson("api/videos");
  state.libraryVersion = listing.library_version;
  state.videos = new Map(listing.videos.map((video) => [video.video_id, video]));
  const list = $("#videos");
  if (!listing.videos.length) {
    list.replaceChildren(el("li", { class: "note",
      text: "No videos yet: add one above, or run ytqa ingest." }));
  } else {
    list.replaceChildren(...listing.videos.map(videoItem));
  }
  const scope = $("#scope");
  const chosen = scope.value;
  scope.replaceChildren(
    el("option", { value: "", text: "every video" }),
    ...listing.videos.map((video) =>
      el("option", { value: video.video_id, text: video.title || video.video_id })),
  );
  scope.value = state.videos.has(chosen) ? chosen : "";
}

// --- adding videos: jobs and their progress -------------------------------------------

function addJobNote(text) {
  $("#jobs").prepend(el("li", { class: "job error", role: "alert", text }));
}

const STAGES = {
  fetching: () => "fetching the transcript…",
  indexing: () => "indexing…",
  added: (data) => `added, ${data.chunks} chunks`,
  skipped: () => "already indexed",
  failed: (data) => data.error,
};

async function followJob(job) {
  const rows = el("ul", { class: "job-videos" });
  const summary = el("span", { class: "job-summary", text: "started" });
  const item = el("li", { class: "job" },
    el("span", { class: "job-title", text: job.description }), " — ", summary, rows);
  $("#jobs").prepend(item);
  const byKey = new Map();
  try {
    const response = await api(job.events_url, { headers: { Accept: "text/event-stream" } });
    for await (const { event, data } of serverEvents(response)) {
      if (event === "video") {
        const key = String(data.position ?? data.source);
        let row = byKey.get(key);
        if (!row) {
          row = el("li");
          byKey.set(key, row);
          rows.append(row);
        }
        const label = data.title || data.source;
        row.textContent = `${label}: ${(STAGES[data.stage] || (() => data.stage))(data)}`;
        row.className = `stage-${data.stage}`;
        if (data.stage === "added") await refreshVideos();
      } else if (event === "expanded") {
        summary.textContent = `${data.source}: ${data.videos} videos`;
      } else if (event === "cancelled") {
        summary.textContent = `stopped, ${data.remaining} not added`;
      } else if (event === "done") {
        const parts = ["added", "skipped", "failed"]
          .filter((name) => data[name]).map((name) => `${data[name]} ${name}`);
        summary.textContent = data.error || `done${parts.length ? `: ${parts.join(", ")}` : ""}`;
        item.classList.add("done");
      }
    }
  } catch (error) {
    summary.textContent = error.message;
    item.classList.add("error");
  }
  await refreshVideos();
}

async function addVideos(event) {
  event.preventDefault();
  const input = $("#source");
  const source = input.value.trim();
  if (!source) return;
  try {
    const response = await api("api/videos", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ sources: [source] }),
    });
    input.value = "";
    followJob(await response.json());
  } catch (error) {
    addJobNote(error.message);
  }
}

async function uploadFiles(event) {
  event.preventDefault();
  const transcript = $("#transcript-file").files[0];
  const media = $("#media-file").files[0];
  if (!transcript && !media) {
    addJobNote("Choose a transcript file, a media file, or both.");
    return;
  }
  const size = (transcript?.size || 0) + (media?.size || 0);
  const limit = state.health?.max_upload_bytes;
  if (limit && size > limit) {
    addJobNote(`The files are larger than this server's limit of ${Math.floor(limit / 1048576)} MiB.`);
    return;
  }
  const form = new FormData();
  if (transcript) form.append("transcript", transcript);
  if (media) form.append("media", media);
  try {
    const response = await api("api/uploads", { method: "POST", body: form });
    event.target.reset();
    followJob(await response.json());
  } catch (error) {
    addJobNote(error.message);
  }
}

// --- questions, answers, citations ----------------------------------------------------

const BRACKETS = /\[([0-9:,;\s–-]+)\]/g;
const STAMP = /\d{1,2}(?::\d{2}){1,2}/g;

/** Render *text* into *container*, each [mm:ss] citation that a source of the answer
 * holds a button that plays that moment (a mark no passage holds stays text). */
export function renderAnswer(container, text) {
  container.replaceChildren();
  let last = 0;
  for (const match of text.matchAll(BRACKETS)) {
    const stamps = match[1].match(STAMP);
    if (!stamps) continue;
    container.append(text.slice(last, match.index), "[");
    stamps.forEach((stamp, position) => {
      if (position) container.append(", ");
      const held = sourceFor(parseTime(stamp), stamp);
      container.append(held ? citationButton(stamp, () => playCitation(stamp)) : stamp);
    });
    container.append("]");
    last = match.index + match[0].length;
  }
  container.append(text.slice(last));
}

function citationButton(stamp, action) {
  return el("button", { type: "button", class: "cite", text: stamp,
    "aria-label": `Play at ${stamp}`, onclick: action });
}

const citedAt = (source) => source.cited_start ?? source.start ?? 0;

/** The source a citation points into: the one cited there, else the passage holding it.
 * The server lists the moments the answer cites, each checked against the passages. */
function sourceFor(seconds, stamp) {
  const sources = state.sources;
  return (
    sources.find((s) => s.timestamp === stamp) ||
    sources.find((s) => s.start - 1 <= seconds && seconds <= s.end + 1) ||
    null
  );
}

function playCitation(stamp) {
  const seconds = parseTime(stamp);
  const source = sourceFor(seconds, stamp);
  const videoId = source ? source.video_id : state.current;
  if (!videoId) {
    $("#answer-note").textContent = `No passage holds ${stamp}.`;
    return;
  }
  play(videoId, seconds, source);
}

function passageText(source) {
  const text = source.text || "";
  const matched = source.matched_text;
  const at = matched ? text.indexOf(matched) : -1;
  if (at < 0) return el("p", { class: "passage-text", text });
  return el("p", { class: "passage-text" }, text.slice(0, at),
    el("mark", { text: matched }), text.slice(at + matched.length));
}

function renderPassages(sources) {
  $("#passages").replaceChildren(...sources.map((source) => {
    const stamp = source.timestamp || formatTime(citedAt(source));
    const score = typeof source.score === "number" ? ` · score ${source.score.toFixed(3)}` : "";
    return el("li", { class: "passage" },
      el("div", { class: "passage-head" },
        citationButton(stamp, () => play(source.video_id, citedAt(source), source)),
        el("span", { class: "title", text: ` ${source.title || source.video_id}${score}` })),
      passageText(source));
  }));
}

async function ask(event) {
  event.preventDefault();
  const question = $("#question").value.trim();
  if (!question) return;
  const answer = $("#answer");
  const note = $("#answer-note");
  const button = event.target.querySelector("button[type=submit]");
  answer.hidden = true;
  answer.replaceChildren();
  $("#passages").replaceChildren();
  note.textContent = "Searching…";
  note.classList.remove("error");
  state.sources = [];
  button.disabled = true;
  let text = "";
  try {
    const response = await api("api/ask", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({
        question,
        k: state.health && !state.health.llm ? 5 : 4,
        video: $("#scope").value || null,
      }),
    });
    for await (const { event: name, data } of serverEvents(response)) {
      if (name === "token") {
        text += data.text;
        answer.hidden = false;
        note.textContent = "";
        renderAnswer(answer, text);
      } else if (name === "sources") {
        state.sources = data.sources;
        renderPassages(data.sources);
      } else if (name === "done") {
        note.textContent = data.detail || "";
        if (typeof data.answer === "string") renderAnswer(answer, data.answer);
      } else if (name === "error") {
        note.textContent = data.detail;
        note.classList.add("error");
      }
    }
  } catch (error) {
    note.textContent = error.message;
    note.classList.add("error");
  } finally {
    button.disabled = false;
  }
}

// --- the player -----------------------------------------------------------------------

async function videoById(videoId) {
  if (!state.videos.has(videoId)) {
    state.videos.set(videoId, await getJson(`api/videos/${encodeURIComponent(videoId)}`));
  }
  return state.videos.get(videoId);
}

/** Show *videoId* at *seconds*: seek its player and play, and show the line it says there. */
async function play(videoId, seconds, passage = null) {
  let video;
  try {
    video = await videoById(videoId);
  } catch (error) {
    $("#answer-note").textContent = error.message;
    return;
  }
  state.current = videoId;
  $("#now-playing").textContent = `${video.title || video.video_id} — ${formatTime(seconds)}`;
  if (video.player === "video" || video.player === "audio") playMedia(video, seconds);
  else if (video.player === "youtube") playYouTube(video, seconds);
  else showPlayerNote("No video or audio file for this transcript: the transcript below "
    + "is scrolled to the moment.");
  await showTranscript(video, seconds, passage);
}

function clearPlayer() {
  if (state.yt.player && typeof state.yt.player.destroy === "function") state.yt.player.destroy();
  state.yt = { player: null, video: null, ready: false, pending: null };
  state.media = null;
}

function showPlayerNote(text, ...extra) {
  clearPlayer();
  $("#player").replaceChildren(el("p", { class: "note", text }), ...extra);
}

function playMedia(video, seconds) {
  let media = state.media;
  if (!media || media.dataset.video !== video.video_id) {
    clearPlayer();
    media = el(video.player, { controls: true, preload: "auto", class: "media",
      dataset: { video: video.video_id } });
    media.src = new URL(video.media_url, document.baseURI).href;
    media.addEventListener("timeupdate", () => highlightAt(video.video_id, media.currentTime));
    $("#player").replaceChildren(media);
    state.media = media;
  }
  const seek = () => {
    media.currentTime = seconds;
    media.play().catch(() => {}); // a browser may refuse to start sound; the seek stands
  };
  if (media.readyState >= 1) seek();
  else media.addEventListener("loadedmetadata", seek, { once: true });
}

let youtubeApi = null;

/** The YouTube IFrame API, loaded on first use; rejects when it cannot load (offline). */
function loadYouTubeApi() {
  if (window.YT && window.YT.Player) return Promise.resolve(window.YT);
  if (!youtubeApi) {
    youtubeApi = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("timed out")), YOUTUBE_TIMEOUT_MS);
      const previous = window.onYouTubeIframeAPIReady;
      window.onYouTubeIframeAPIReady = () => {
        clearTimeout(timer);
        if (typeof previous === "function") previous();
        resolve(window.YT);
      };
      const script = el("script", { src: YOUTUBE_API, async: true });
      script.addEventListener("error", () => {
        clearTimeout(timer);
        reject(new Error("unreachable"));
      });
      document.head.append(script);
    }).catch((error) => {
      youtubeApi = null; // try again on the next click
      throw error;
    });
  }
  return youtubeApi;
}

function watchLink(video, seconds) {
  const url = new URL("https://www.youtube.com/watch");
  url.searchParams.set("v", video.video_id);
  url.searchParams.set("t", `${Math.floor(seconds)}s`);
  return el("a", { href: url.href, target: "_blank", rel: "noopener noreferrer",
    class: "watch-link", text: `Open on YouTube at ${formatTime(seconds)}` });
}

async function playYouTube(video, seconds) {
  const start = Math.floor(seconds);
  const yt = state.yt;
  if (yt.player && yt.video === video.video_id) {
    if (yt.ready) {
      yt.player.seekTo(start, true);
      yt.player.playVideo();
    } else {
      yt.pending = start;
    }
    return;
  }
  if (yt.player && yt.ready) {
    yt.player.loadVideoById({ videoId: video.video_id, startSeconds: start });
    yt.video = video.video_id;
    return;
  }
  showPlayerNote("Loading the YouTube player…", watchLink(video, seconds));
  let YT;
  try {
    YT = await loadYouTubeApi();
  } catch {
    showPlayerNote("The YouTube player could not load (offline?). The transcript below is at "
      + "the moment; the link opens it on YouTube.", watchLink(video, seconds));
    return;
  }
  if (state.current !== video.video_id) return; // another video was chosen meanwhile
  const holder = el("div", { id: "youtube-player" });
  clearPlayer();
  $("#player").replaceChildren(el("div", { class: "frame" }, holder), watchLink(video, seconds));
  const fresh = { player: null, video: video.video_id, ready: false, pending: start };
  state.yt = fresh;
  fresh.player = new YT.Player(holder, {
    videoId: video.video_id,
    playerVars: { start, autoplay: 1, playsinline: 1, rel: 0 },
    events: {
      onReady: (ready) => {
        fresh.ready = true;
        ready.target.seekTo(fresh.pending ?? start, true);
        ready.target.playVideo();
        fresh.pending = null;
      },
    },
  });
}

// --- the transcript beside the player ---------------------------------------------------

async function transcriptOf(videoId) {
  if (!state.transcripts.has(videoId)) {
    try {
      const body = await getJson(`api/videos/${encodeURIComponent(videoId)}/transcript`);
      state.transcripts.set(videoId, body.segments);
    } catch {
      state.transcripts.set(videoId, null);
    }
  }
  return state.transcripts.get(videoId);
}

async function showTranscript(video, seconds, passage) {
  const list = $("#transcript");
  const lines = await transcriptOf(video.video_id);
  if (!lines) {
    list.dataset.video = "";
    list.replaceChildren(el("li", { class: "note",
      text: "The transcript is not on this machine; the passage is shown instead." }),
    ...(passage ? [el("li", { class: "current" }, passageText(passage))] : []));
    return;
  }
  if (list.dataset.video !== video.video_id) {
    list.replaceChildren(...lines.map((line) => el("li", {},
      el("button", { type: "button", class: "line", onclick: () => play(video.video_id, line.start) },
        el("span", { class: "stamp", text: formatTime(line.start) }), " ", line.text))));
    list.dataset.video = video.video_id;
  }
  highlightAt(video.video_id, seconds);
}

/** Mark the line spoken at *seconds* and scroll the transcript (not the page) to it. */
function highlightAt(videoId, seconds) {
  const lines = state.transcripts.get(videoId);
  const list = $("#transcript");
  if (!lines || list.dataset.video !== videoId || !lines.length) return;
  let index = 0;
  for (let i = 0; i < lines.length && lines[i].start <= seconds + 0.25; i += 1) index = i;
  const item = list.children[index];
  const previous = list.querySelector("li.current");
  if (previous === item) return;
  if (previous) {
    previous.classList.remove("current");
    previous.removeAttribute("aria-current");
  }
  item.classList.add("current");
  item.setAttribute("aria-current", "true");
  list.scrollTop = item.offsetTop - list.clientHeight / 3;
}

// --- start ------------------------------------------------------------------------------

function start() {
  readToken();
  $("#ask-form").addEventListener("submit", ask);
  $("#add-form").addEventListener("submit", addVideos);
  $("#upload-form").addEventListener("submit", uploadFiles);
  document.addEventListener("keydown", (event) => {
    // "/" jumps to the question, as on many sites, unless typing somewhere already.
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      $("#question").focus();
    }
  });
  document.addEventListener("visibilitychange", poll);
  poll();
  setInterval(poll, POLL_MS);
}

start();
