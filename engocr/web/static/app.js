// engocr serve: search as you type, cards, timelines, the player. Plain JavaScript, no build
// step. Every text from the library goes into the page as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const input = $("q"), statusLine = $("status"), cardsList = $("cards"), filesList = $("files");
const pager = $("pager"), viewer = $("viewer"), player = $("player"), frame = $("frame");
const state = { q: "", page: 1, file: null, playing: null, controller: null, timer: 0 };

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role") {
      node.setAttribute(key, value);
    } else node[key] = value;
  }
  for (const child of children) node.append(child);  // strings become text nodes
  return node;
}

function stamp(seconds) {
  const ms = Math.round(seconds * 1000), pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${pad(Math.floor(ms / 3600000))}:${pad(Math.floor(ms / 60000) % 60)}:` +
    `${pad(Math.floor(ms / 1000) % 60)}.${pad(ms % 1000, 3)}`;
}

function plural(n, word) { return `${n} ${word}${n === 1 ? "" : "s"}`; }

function say(text, error = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
}

function remember() {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  if (state.page > 1) params.set("page", state.page);
  if (state.file !== null) params.set("file", state.file);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
}

async function search() {
  if (state.controller) state.controller.abort();
  remember();
  if (!state.q.trim()) {
    cardsList.replaceChildren(); filesList.replaceChildren(); pager.replaceChildren();
    say("");
    return;
  }
  const controller = state.controller = new AbortController();
  const params = new URLSearchParams({ q: state.q, page: state.page });
  if (state.file !== null) params.set("file", state.file);
  say("Searching…");
  let response, body;
  try {
    response = await fetch(`/api/search?${params}`, { signal: controller.signal });
    body = await response.json();
  } catch (error) {
    if (error.name !== "AbortError") say("The server cannot be reached.", true);
    return;
  }
  if (controller !== state.controller) return;  // a newer search is on its way
  if (!response.ok) { say(body.error || `Error ${response.status}`, true); return; }
  show(body);
}

function show(result) {
  state.page = result.page;
  state.file = result.file;
  remember();
  const files = result.files.length;
  let text = result.total ? `${plural(result.total, "hit")} in ${plural(files, "file")}` +
    (result.capped ? " (the first ones only: narrow the search for the rest)" : "") : "No hits.";
  if (result.file !== null) text += `; showing ${result.shown} in one file`;
  say(text);
  filesList.replaceChildren(...result.files.map((f) => fileRow(f, result)));
  cardsList.replaceChildren(...result.hits.map(card));
  pager.replaceChildren();
  if (result.pages > 1) {
    const go = (page) => () => { state.page = page; search(); };
    pager.append(
      el("button", { type: "button", disabled: result.page <= 1, onclick: go(result.page - 1) },
        "← Previous"),
      el("span", {}, `Page ${result.page} of ${result.pages}`),
      el("button", { type: "button", disabled: result.page >= result.pages,
        onclick: go(result.page + 1) }, "Next →"));
  }
  markCurrent();
}

function fileRow(file, result) {
  const chosen = result.file === file.id;
  const name = el("button", { type: "button", class: "file-name", title: file.path,
    "aria-pressed": String(chosen),
    onclick: () => { state.file = chosen ? null : file.id; state.page = 1; search(); } },
  file.name);
  const timeline = el("div", { class: "timeline", role: "group",
    "aria-label": `Where the query appears in ${file.name}`, "data-file": file.id });
  const length = file.duration_s || 1;
  for (const mark of file.marks) {
    const button = el("button", { type: "button", class: "mark", tabIndex: -1,
      title: `${stamp(mark.t)} ${mark.text}`, "aria-label": `${mark.text} at ${stamp(mark.t)}`,
      onclick: () => play({ id: mark.id, text: mark.text, time: stamp(mark.t), time_s: mark.t,
        start_s: Math.max(0, mark.t - 1), file_id: file.id, name: file.name, kind: file.kind,
        frame: `/frame/${mark.id}.jpg`,
        video: file.kind === "video" ? `/video/${file.id}` : null }) });
    button.style.left = `${Math.min(100, (100 * mark.t) / length)}%`;
    timeline.append(button);
  }
  if (file.kind === "video") timeline.append(el("span", { class: "playhead", hidden: true }));
  return el("li", { class: "file" },
    el("div", { class: "file-head" }, name, el("span", { class: "count" },
      `${plural(file.count, "hit")} · ` +
      (file.kind === "video" ? `video, ${stamp(file.duration_s).slice(0, 8)}` : "image"))),
    timeline);
}

function card(hit) {
  const text = el("span", { class: "text" }, hit.text);
  if (hit.fuzzy) text.append(el("span", { class: "fuzzy", title: "one letter off" }, "≈"));
  const button = el("button", { type: "button", class: "card", "data-id": hit.id,
    "aria-label": `${hit.text}, ${hit.name} at ${hit.time}: play`, onclick: () => play(hit) },
  el("img", { src: hit.thumb, alt: "", loading: "lazy" }), text,
  el("span", { class: "where", title: hit.path }, `${hit.name} · ${hit.time}`));
  return el("li", {}, button, el("a", { class: "frame-link", href: hit.frame, target: "_blank",
    rel: "noopener", "aria-label": `Frame of ${hit.text} in ${hit.name} at ${hit.time}` },
  "Frame with the box"));
}

function markCurrent() {
  for (const node of cardsList.querySelectorAll(".card")) {
    node.setAttribute("aria-current", String(state.playing !== null &&
      node.dataset.id === String(state.playing.id)));
  }
}

function play(hit) {
  state.playing = hit;
  viewer.hidden = false;
  $("now").textContent = `${hit.text} — ${hit.name} at ${hit.time}`;
  frame.src = hit.frame;
  frame.alt = `Frame of ${hit.name} at ${hit.time} with the box of ${hit.text}`;
  $("frame-caption").textContent = `The frame where “${hit.text}” was read best, its box drawn.`;
  player.hidden = !hit.video;
  if (hit.video) {
    const go = () => {
      player.currentTime = hit.start_s;
      const started = player.play();
      if (started) started.catch(() => {});  // autoplay refused: the controls still work
    };
    if (player.dataset.file !== String(hit.file_id)) {
      player.dataset.file = hit.file_id;
      player.src = hit.video;
      player.addEventListener("loadedmetadata", go, { once: true });
    } else if (player.readyState >= 1) go();
    else player.addEventListener("loadedmetadata", go, { once: true });
  } else {
    player.pause();
  }
  markCurrent();
  if (viewer.getBoundingClientRect().top > window.innerHeight) viewer.scrollIntoView();
}

player.addEventListener("timeupdate", () => {
  for (const head of document.querySelectorAll(".playhead")) {
    const timeline = head.parentElement, mine = timeline.dataset.file === player.dataset.file;
    head.hidden = !mine || !player.duration;
    if (mine && player.duration) {
      head.style.left = `${(100 * player.currentTime) / player.duration}%`;
    }
  }
});

input.addEventListener("input", () => {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    state.q = input.value; state.page = 1; state.file = null; search();
  }, 150);
});

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(state.timer);
  state.q = input.value; state.page = 1; state.file = null; search();
});

document.addEventListener("keydown", (event) => {
  const typing = event.target === input;
  if (event.key === "/" && !typing) { event.preventDefault(); input.focus(); input.select(); }
  else if (event.key === "Escape" && typing) { input.value = ""; state.q = ""; search(); }
  else if (event.key === "ArrowDown" && typing) {
    const first = cardsList.querySelector(".card");
    if (first) { event.preventDefault(); first.focus(); }
  } else if (event.target.classList && event.target.classList.contains("card") &&
      ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"].includes(event.key)) {
    const cards = [...cardsList.querySelectorAll(".card")], at = cards.indexOf(event.target);
    const across = Math.max(1, Math.round(cardsList.clientWidth / event.target.offsetWidth));
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -across, ArrowDown: across }[event.key];
    const next = cards[at + step];
    event.preventDefault();
    if (next) next.focus();
    else if (at + step < 0) input.focus();
  }
});

async function start() {
  try {
    const counts = await (await fetch("/api/library")).json();
    if (counts.files !== undefined) {
      $("library").textContent = `${plural(counts.files, "file")} and ` +
        `${plural(counts.words, "text track")} in the library` +
        (counts.failed ? `; ${plural(counts.failed, "file")} could not be read` : "") + ".";
    }
  } catch (error) { /* the search says so if the server is gone */ }
  const params = new URLSearchParams(location.search);
  state.q = input.value = params.get("q") || "";
  state.page = Number(params.get("page")) || 1;
  state.file = params.has("file") ? Number(params.get("file")) : null;
  if (state.q) search();
  input.focus();
}

start();
