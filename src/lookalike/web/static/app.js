// The page is a client of the public JSON API (/api/v1): nothing here the API does not offer.
"use strict";
const API = "/api/v1";
const state = { files: {}, pairId: null, pairName: null };

function $(id) { return document.getElementById(id); }

function show(el, on) { el.hidden = !on; }

function percent(similarity) {
  // as the CLI prints it: one decimal, never rounded up to 100% unless exactly 1
  if (similarity >= 1) return "100%";
  return Math.min(similarity * 100, 99.9).toFixed(1) + "%";
}

async function call(path, options) {
  let response;
  try {
    response = await fetch(API + path, options);
  } catch (e) {
    throw new Error("the server cannot be reached");
  }
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const message = body && body.error ? body.error.message : "request failed (" + response.status + ")";
    throw new Error(message);
  }
  return body;
}

function setError(id, error) {
  const el = $(id);
  el.textContent = error ? error.message : "";
  show(el, !!error);
}

// -- drop zones: a dropped file or a chosen one --------------------------------------------------
function dropZone(zoneId, inputId, onChange) {
  const zone = $(zoneId), input = $(inputId);
  const preview = zone.querySelector(".preview");
  const take = (files) => {
    state.files[inputId] = input.multiple ? Array.from(files) : files[0];
    const first = input.multiple ? files[0] : files[0];
    const text = zone.querySelector(".drop-text");
    if (input.multiple) text.textContent = files.length + " image(s) chosen";
    else text.textContent = first ? first.name : text.textContent;
    if (preview && first) { preview.src = URL.createObjectURL(first); preview.hidden = false; }
    if (onChange) onChange();
  };
  input.addEventListener("change", () => { if (input.files.length) take(input.files); });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault(); zone.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) take(e.dataTransfer.files);
  });
}

// -- compare -------------------------------------------------------------------------------------
function showScores(document_) {
  const body = $("compare-scores").querySelector("tbody");
  body.replaceChildren();
  for (const [name, value] of Object.entries(document_.metrics)) {
    const row = body.insertRow();
    row.insertCell().textContent = name;
    const cell = row.insertCell();
    cell.className = "value";
    cell.dataset.metric = name;
    const infinite = (document_.infinite || {})["metrics/" + name];
    cell.textContent = infinite ? (infinite === "+inf" ? "∞" : "−∞")
      : typeof value === "number" ? value.toPrecision(6) : "–";
  }
  show($("compare-scores"), true);
  if (document_.difference) { $("difference").src = document_.difference; show($("difference-figure"), true); }
}

function showMatch(m) {
  const dl = $("match-summary");
  dl.replaceChildren();
  const rows = [["method", m.method], ["keypoints", m.keypoints.join(" / ")], ["matches", m.matches],
                ["inliers", m.inliers], ["similarity", percent(m.similarity)]];
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = v; dd.dataset.field = k;
    dl.append(dt, dd);
  }
  show(dl, true);
  if (m.drawing) { $("matches").src = m.drawing; show($("matches-figure"), true); }
}

async function runCompare() {
  setError("compare-error", null);
  for (const id of ["compare-scores", "match-summary", "difference-figure", "matches-figure"]) show($(id), false);
  const a = state.files["file-a"], b = state.files["file-b"];
  if (!a || (!b && state.pairId === null)) { setError("compare-error", new Error("choose two images first")); return; }
  const form = () => {
    const f = new FormData();
    f.append("a", a);
    if (b) f.append("b", b); else f.append("b_id", String(state.pairId));
    return f;
  };
  const button = $("compare-button");
  button.disabled = true;
  try {
    const f = form();
    f.append("metrics", $("metrics").value || "ssim,psnr,mse");
    f.append("resize", "smaller");
    showScores(await call("/compare", { method: "POST", body: f }));
    if ($("do-match").checked) showMatch(await call("/match", { method: "POST", body: form() }));
  } catch (e) {
    setError("compare-error", e);
  } finally {
    button.disabled = false;
  }
}

// -- search --------------------------------------------------------------------------------------
function openPair(hit) {
  // the query against this result, in the compare section
  state.files["file-a"] = state.files["file-q"];
  state.files["file-b"] = null;
  state.pairId = hit.id;
  $("drop-a").querySelector(".drop-text").textContent = state.files["file-q"].name;
  $("drop-b").querySelector(".drop-text").textContent = hit.name + " (from the index)";
  const previewA = $("drop-a").querySelector(".preview");
  previewA.src = URL.createObjectURL(state.files["file-q"]); previewA.hidden = false;
  const previewB = $("drop-b").querySelector(".preview");
  previewB.src = hit.thumbnail; previewB.hidden = false;
  $("compare-title").scrollIntoView({ behavior: "smooth" });
  $("compare-button").focus({ preventScroll: true });
  runCompare();
}

async function runSearch() {
  setError("search-error", null);
  const list = $("results");
  const query = state.files["file-q"];
  if (!query) { setError("search-error", new Error("choose a query image first")); return; }
  const f = new FormData();
  f.append("image", query);
  f.append("top", $("top").value);
  f.append("kind", $("kind").value);
  const button = $("search-button");
  button.disabled = true;
  $("search-status").textContent = "searching…";
  try {
    const doc = await call("/search", { method: "POST", body: f });
    list.replaceChildren();
    for (const hit of doc.results) {  // the API returns them best first
      const li = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      open.setAttribute("aria-label", "Compare with " + hit.name + ", " + percent(hit.similarity) + " similar");
      const img = document.createElement("img");
      img.src = hit.thumbnail; img.alt = ""; img.loading = "lazy";
      const pct = document.createElement("span"); pct.className = "pct"; pct.textContent = percent(hit.similarity);
      pct.dataset.similarity = String(hit.similarity);
      const name = document.createElement("span"); name.className = "name"; name.textContent = hit.name;
      open.append(img, pct, name);
      open.addEventListener("click", () => openPair(hit));
      li.append(open);
      list.append(li);
    }
    $("search-status").textContent = doc.results.length + " result(s), most similar first";
    showLabel(query);
  } catch (e) {
    $("search-status").textContent = "";
    setError("search-error", e);
  } finally {
    button.disabled = false;
  }
}

async function showLabel(query) {
  // the query's label when the index is of a labelled folder (POST /classify answers 409 otherwise)
  const out = $("search-label");
  show(out, false);
  if (state.noLabels) return;
  const f = new FormData();
  f.append("image", query);
  const response = await fetch(API + "/classify", { method: "POST", body: f }).catch(() => null);
  if (!response || !response.ok) {
    if (response && response.status === 409) state.noLabels = true;
    return;
  }
  const [prediction] = (await response.json()).predictions;
  out.textContent = "Label: " + prediction.label + " (" + percent(prediction.confidence) + " of the votes of its "
    + prediction.neighbours.length + " nearest labelled images)";
  show(out, true);
}

// -- add images (a job; progress from its server-sent events) ------------------------------------
function follow(job) {
  const bar = $("add-progress"), status = $("add-status");
  show(bar, true);
  return new Promise((resolve) => {
    const source = new EventSource(job.events);
    const update = (event) => {
      const j = JSON.parse(event.data);
      bar.max = Math.max(j.total, 1); bar.value = j.done;
      status.textContent = j.status === "done"
        ? "added " + j.result.added + " image(s); the index holds " + j.result.files
        : j.status === "failed" ? "failed: " + j.error : (j.label || "queued") + " " + j.done + " / " + j.total;
      if (event.type === "end") { source.close(); resolve(j); refreshHealth(); }
    };
    source.addEventListener("progress", update);
    source.addEventListener("end", update);
    source.onerror = () => { source.close(); resolve(null); };
  });
}

async function runAdd() {
  const files = state.files["file-add"] || [];
  if (!files.length) { $("add-status").textContent = "choose images first"; return; }
  const f = new FormData();
  for (const file of files) f.append("images", file);
  const button = $("add-button");
  button.disabled = true;
  try {
    const job = await call("/index/images", { method: "POST", body: f, headers: { "X-API-Key": $("api-key").value } });
    await follow(job);
  } catch (e) {
    $("add-status").textContent = e.message;
  } finally {
    button.disabled = false;
  }
}

// -- status --------------------------------------------------------------------------------------
async function refreshHealth() {
  try {
    const h = await fetch(API + "/health").then((r) => r.json());
    $("health").textContent = h.index
      ? (h.index.available ? h.index.files + " images indexed" : "the index is unavailable")
      : "no index: compare only";
    show($("add-section"), !!h.writes);
    $("search-button").disabled = !(h.index && h.index.available);
  } catch (e) {
    $("health").textContent = "the server cannot be reached";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  dropZone("drop-a", "file-a");
  dropZone("drop-b", "file-b", () => { state.pairId = null; });
  dropZone("drop-q", "file-q");
  dropZone("drop-add", "file-add");
  $("compare-form").addEventListener("submit", (e) => { e.preventDefault(); runCompare(); });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(); });
  $("add-form").addEventListener("submit", (e) => { e.preventDefault(); runAdd(); });
  refreshHealth();
});
