// pixmux playground and admin pages. Plain ES module, no build step, no third-party host:
// every request goes to this gateway's public routes with the key the person typed.

const KEY_SLOT = "pixmux.key";
const $ = (selector, root = document) => root.querySelector(selector);
const state = { models: [], info: new Map() };

// ---------------------------------------------------------------- talking to the gateway

function authHeaders() {
  const key = sessionStorage.getItem(KEY_SLOT);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

class GatewayError extends Error {}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) { /* not JSON: keep the status line */ }
  return new GatewayError(message);
}

async function api(path, { method = "GET", json, form } = {}) {
  const headers = authHeaders();
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  const response = await fetch(path, { method, headers, body, credentials: "omit" });
  if (!response.ok) throw await errorOf(response);
  return response;
}

// Reads a text/event-stream answer, calling onEvent(type, data) per event and onNote(json) per
// "pixmux" comment (cost and deployment, which OpenAI's events have no field for).
async function readEvents(response, onEvent, onNote) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let type = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(": pixmux ")) {
          try { onNote(JSON.parse(line.slice(9))); } catch (_) { /* ignore */ }
        } else if (line.startsWith("event:")) {
          type = line.slice(6).trim();
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).replace(/^ /, ""));
        }
      }
      if (!data.length) continue;
      const parsed = JSON.parse(data.join("\n"));
      if (type === "error" || parsed.error) throw new GatewayError(parsed.error ? parsed.error.message : "stream failed");
      onEvent(parsed.type || type, parsed);
    }
  }
}

// ---------------------------------------------------------------- status line

function say(message, kind = "error") {
  const box = $("#status");
  box.textContent = message;
  box.className = kind === "error" ? "status" : "status info";
  box.hidden = !message;
}

async function guarded(button, work) {
  if (button) button.disabled = true;
  say("");
  try {
    await work();
  } catch (error) {
    say(error instanceof GatewayError ? error.message : `Something went wrong: ${error.message}`);
  } finally {
    if (button) button.disabled = false;
  }
}

// ---------------------------------------------------------------- views

function show(view) {
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== view;
  for (const button of document.querySelectorAll("#views [data-view]")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  const heading = $(`#${view} h2`);
  if (heading) { heading.tabIndex = -1; heading.focus(); }
  if (view === "admin") refreshAdmin();
}

async function signIn(key) {
  if (key) sessionStorage.setItem(KEY_SLOT, key); else sessionStorage.removeItem(KEY_SLOT);
  try {
    const models = await (await api("/v1/models")).json();
    state.models = models.data.map((m) => m.id);
    const info = await (await api("/model/info")).json();
    state.info = new Map(info.data.map((entry) => [entry.model_name, entry.model_info.pixmux]));
  } catch (error) {
    sessionStorage.removeItem(KEY_SLOT);
    throw error;
  }
  fillModelPickers();
  $("#views").hidden = false;
  show("play");
}

// ---------------------------------------------------------------- the parameter form

function option(value, label = value) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = label;
  return element;
}

function fillModelPickers() {
  const play = $("#play-model");
  const edit = $("#edit-model");
  play.replaceChildren(...state.models.map((m) => option(m)));
  const editors = state.models.filter((m) => (state.info.get(m)?.operations || []).includes("edit"));
  edit.replaceChildren(...(editors.length ? editors : state.models).map((m) => option(m)));
  const checks = $("#compare-models");
  checks.replaceChildren(...state.models.map((m, i) => {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = m;
    box.id = `compare-${i}`;
    box.checked = i < 2;
    label.append(box, document.createTextNode(m));
    return label;
  }));
  buildParams();
}

function field(name, labelText, control) {
  const wrap = document.createElement("div");
  wrap.className = "row";
  const label = document.createElement("label");
  control.id = `param-${name}`;
  control.name = name;
  label.htmlFor = control.id;
  label.textContent = labelText;
  wrap.append(label, control);
  return wrap;
}

function choice(values, withDefault = true) {
  const select = document.createElement("select");
  if (withDefault) select.append(option("", "provider default"));
  for (const value of values) select.append(option(String(value)));
  return select;
}

function numberInput(low, high, step) {
  const input = document.createElement("input");
  input.type = "number";
  if (low !== undefined && low !== null) input.min = String(low);
  if (high !== undefined && high !== null) input.max = String(high);
  input.step = step;
  return input;
}

function buildParams() {
  const model = $("#play-model").value;
  const info = state.info.get(model) || {};
  const box = $("#play-params");
  const legend = box.querySelector("legend");
  box.replaceChildren(legend);
  const note = [];
  if (info.description) note.push(info.description);
  note.push(info.streaming ? "Streams partial images." : "Streams as one final image.");
  $("#play-model-note").textContent = note.join(" ");
  const some = (values) => Array.isArray(values) && values.length > 0;
  if (some(info.sizes)) box.append(field("size", "Size", choice(info.sizes)));
  else if (!Array.isArray(info.sizes)) box.append(field("size", "Size (WIDTHxHEIGHT)", Object.assign(document.createElement("input"), { placeholder: "1024x1024", pattern: "\\d+x\\d+|auto" })));
  if (some(info.qualities)) box.append(field("quality", "Quality", choice(info.qualities)));
  if (some(info.styles)) box.append(field("style", "Style", choice(info.styles)));
  const n = numberInput(1, info.max_n || 10, 1);
  n.value = "1";
  box.append(field("n", `Images (1 to ${info.max_n || 10})`, n));
  const values = info.param_values || {};
  const ranges = info.param_ranges || {};
  for (const name of info.params || []) {
    if (["n", "size", "quality", "style", "response_format", "user", "stream", "partial_images"].includes(name)) continue;
    let control;
    let label = name;
    if (values[name]) control = choice(values[name]);
    else if (ranges[name]) {
      const [low, high] = ranges[name];
      control = numberInput(low, high, Number.isInteger(low) && Number.isInteger(high) ? 1 : "any");
      label = `${name} (${low} to ${high})`;
    } else control = document.createElement("input");
    box.append(field(name, label, control));
  }
  if (info.streaming) {
    const partial = choice([0, 1, 2, 3], false);
    partial.value = "2";
    box.append(field("partial_images", "Partial images", partial));
  }
}

function formParams() {
  const params = {};
  for (const control of $("#play-params").querySelectorAll("input, select")) {
    if (control.value === "") continue;
    if (control.type === "number" || control.name === "partial_images") {
      if (!control.checkValidity()) throw new GatewayError(`${control.name}: ${control.validationMessage}`);
      params[control.name] = Number(control.value);
    } else {
      const allowed = control.tagName === "SELECT" ? [...control.options].map((o) => o.value) : null;
      const value = allowed && allowed.every((v) => v === "" || !Number.isNaN(Number(v))) ? Number(control.value) : control.value;
      params[control.name] = value;
    }
  }
  return params;
}

// ---------------------------------------------------------------- showing images

function imageCard(list, { b64, caption, partial = false }) {
  const item = document.createElement("li");
  fillCard(item, { b64, caption, partial });
  list.prepend(item);
  return item;
}

function fillCard(item, { b64, caption, partial = false, format = "png" }) {
  const img = document.createElement("img");
  img.src = `data:image/${format};base64,${b64}`;
  img.alt = partial ? `Partial preview: ${caption}` : caption;
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = caption;
  item.className = partial ? "partial" : "";
  item.replaceChildren(img, meta);
  if (!partial) {
    const link = document.createElement("a");
    link.href = img.src;
    link.download = `pixmux-${Date.now()}.${format}`;
    link.textContent = "Download";
    item.append(link);
  }
}

function money(value) {
  return value === null || value === undefined || Number.isNaN(value) ? "cost unknown" : `$${Number(value).toFixed(4)}`;
}

// One call: JSON, or a stream whose partial images replace each other in place.
async function generate({ path, model, json, form, list, label }) {
  const started = performance.now();
  const streaming = json ? json.stream : form.get("stream") === "true";
  const response = await api(path, { method: "POST", json, form });
  if (!streaming) {
    const body = await response.json();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const cost = response.headers.get("x-pixmux-cost");
    const each = cost === null ? null : Number(cost) / body.data.length;
    for (const image of body.data) {
      const b64 = image.b64_json || null;
      const item = document.createElement("li");
      if (b64) fillCard(item, { b64, caption: `${label || model} · ${seconds} s · ${money(each)}`, format: body.output_format || "png" });
      else { item.textContent = `${label || model}: ${image.url}`; }
      list.prepend(item);
    }
    return;
  }
  let card = null;
  let note = {};
  let first = null;
  await readEvents(response, (type, event) => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (type.endsWith("partial_image")) {
      if (first === null) first = seconds;
      const caption = `${label || model} · partial ${event.partial_image_index + 1} at ${seconds} s`;
      if (card) fillCard(card, { b64: event.b64_json, caption, partial: true, format: event.output_format });
      else card = imageCard(list, { b64: event.b64_json, caption, partial: true });
    } else if (type.endsWith("completed")) {
      const caption = `${label || model} · ${seconds} s${first ? ` (first preview ${first} s)` : ""} · ${money(note.cost)}`;
      const target = card || document.createElement("li");
      fillCard(target, { b64: event.b64_json, caption, format: event.output_format });
      if (!card) list.prepend(target);
      card = null;
    }
  }, (found) => { note = found; });
}

// ---------------------------------------------------------------- playground and compare

async function onPlay(event) {
  event.preventDefault();
  await guarded($("#play-go"), async () => {
    const model = $("#play-model").value;
    const json = { model, prompt: $("#play-prompt").value, response_format: "b64_json", ...formParams() };
    if ($("#play-stream").checked) json.stream = true; else delete json.partial_images;
    await generate({ path: "/v1/images/generations", model, json, list: $("#gallery") });
  });
}

async function onCompare(event) {
  event.preventDefault();
  const picked = [...document.querySelectorAll("#compare-models input:checked")].map((box) => box.value);
  if (picked.length < 2) { say("Pick two or more models to compare."); return; }
  const button = event.submitter || $("#compare-form button");
  await guarded(button, async () => {
    const list = $("#compare-results");
    list.replaceChildren();
    const prompt = $("#compare-prompt").value;
    const results = await Promise.allSettled(picked.map((model) =>
      generate({ path: "/v1/images/generations", model, json: { model, prompt, response_format: "b64_json" }, list })));
    const failed = results.map((r, i) => [r, picked[i]]).filter(([r]) => r.status === "rejected");
    if (failed.length) say(failed.map(([r, m]) => `${m}: ${r.reason.message}`).join("; "));
  });
}

// ---------------------------------------------------------------- the edit view and its mask

const mask = { canvas: null, layer: null, image: null, painted: false, cursor: { x: 0, y: 0 } };

function drawMaskView() {
  const view = $("#mask-canvas");
  const context = view.getContext("2d");
  context.clearRect(0, 0, view.width, view.height);
  if (mask.image) context.drawImage(mask.image, 0, 0, view.width, view.height);
  // painted pixels are transparent in the layer: show them in red over the image
  const overlay = document.createElement("canvas");
  overlay.width = view.width;
  overlay.height = view.height;
  const o = overlay.getContext("2d");
  o.fillStyle = "rgba(220, 30, 60, 0.55)";
  o.fillRect(0, 0, overlay.width, overlay.height);
  o.globalCompositeOperation = "destination-out";
  o.drawImage(mask.layer, 0, 0);
  context.drawImage(overlay, 0, 0);
  context.strokeStyle = "#f5a623";
  context.strokeRect(mask.cursor.x - brush() / 2, mask.cursor.y - brush() / 2, brush(), brush());
}

function brush() { return Number($("#brush").value); }

function resetMask(width, height) {
  const view = $("#mask-canvas");
  view.width = width;
  view.height = height;
  mask.layer = document.createElement("canvas");
  mask.layer.width = width;
  mask.layer.height = height;
  const context = mask.layer.getContext("2d");
  context.fillStyle = "#000";
  context.fillRect(0, 0, width, height);
  mask.painted = false;
  mask.cursor = { x: width / 2, y: height / 2 };
  drawMaskView();
}

function paintAt(x, y) {
  const context = mask.layer.getContext("2d");
  context.globalCompositeOperation = "destination-out";
  context.beginPath();
  context.arc(x, y, brush() / 2, 0, Math.PI * 2);
  context.fill();
  context.globalCompositeOperation = "source-over";
  mask.painted = true;
  mask.cursor = { x, y };
  drawMaskView();
}

function canvasPoint(event) {
  const view = $("#mask-canvas");
  const box = view.getBoundingClientRect();
  return { x: (event.clientX - box.left) * (view.width / box.width), y: (event.clientY - box.top) * (view.height / box.height) };
}

function setUpMask() {
  const view = $("#mask-canvas");
  view.tabIndex = 0;
  resetMask(view.width, view.height);
  let down = false;
  view.addEventListener("pointerdown", (event) => { down = true; view.setPointerCapture(event.pointerId); const p = canvasPoint(event); paintAt(p.x, p.y); });
  view.addEventListener("pointermove", (event) => { if (down) { const p = canvasPoint(event); paintAt(p.x, p.y); } });
  view.addEventListener("pointerup", () => { down = false; });
  view.addEventListener("keydown", (event) => {
    const step = Math.max(8, brush() / 2);
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[event.key]) {
      event.preventDefault();
      mask.cursor.x = Math.min(view.width, Math.max(0, mask.cursor.x + moves[event.key][0]));
      mask.cursor.y = Math.min(view.height, Math.max(0, mask.cursor.y + moves[event.key][1]));
      drawMaskView();
    } else if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      paintAt(mask.cursor.x, mask.cursor.y);
    }
  });
  $("#mask-clear").addEventListener("click", () => resetMask(view.width, view.height));
  $("#edit-images").addEventListener("change", async () => {
    const file = $("#edit-images").files[0];
    if (!file) return;
    const bitmap = await createImageBitmap(file);
    mask.image = bitmap;
    resetMask(bitmap.width, bitmap.height);
  });
}

async function onEdit(event) {
  event.preventDefault();
  const button = event.submitter || $("#edit-form button[type=submit]");
  await guarded(button, async () => {
    const files = [...$("#edit-images").files];
    if (!files.length) throw new GatewayError("Choose at least one image.");
    const model = $("#edit-model").value;
    const form = new FormData();
    form.append("model", model);
    form.append("prompt", $("#edit-prompt").value);
    form.append("response_format", "b64_json");
    for (const file of files) form.append(files.length > 1 ? "image[]" : "image", file, file.name);
    if (mask.painted) {
      const blob = await new Promise((resolve) => mask.layer.toBlob(resolve, "image/png"));
      form.append("mask", blob, "mask.png");
    }
    if ($("#edit-stream").checked) form.append("stream", "true");
    await generate({ path: "/v1/images/edits", model, form, list: $("#edit-results") });
  });
}

// ---------------------------------------------------------------- admin

function cell(row, text, numeric = false) {
  const td = document.createElement("td");
  td.textContent = text;
  if (numeric) td.className = "num";
  row.append(td);
  return td;
}

async function refreshKeys() {
  const body = await (await api("/key/list?return_full_object=true")).json();
  const rows = (body.keys || []).map((key) => {
    const row = document.createElement("tr");
    const alias = key.key_alias || "-";
    cell(row, alias);
    cell(row, key.key_name || key.token || "");
    cell(row, (key.models || []).join(", ") || "all");
    cell(row, money(key.spend), true);
    cell(row, key.max_budget === null || key.max_budget === undefined ? "none" : money(key.max_budget), true);
    cell(row, key.expires || "never");
    const actions = cell(row, "");
    const revoke = document.createElement("button");
    revoke.type = "button";
    revoke.textContent = "Revoke";
    revoke.setAttribute("aria-label", `Revoke key ${alias}`);
    revoke.addEventListener("click", () => guarded(revoke, async () => {
      await api("/key/delete", { method: "POST", json: { keys: [key.token] } });
      await refreshKeys();
      say(`Key ${alias} revoked.`, "info");
    }));
    actions.append(revoke);
    return row;
  });
  $("#keys-table tbody").replaceChildren(...rows);
}

async function onCreateKey(event) {
  event.preventDefault();
  await guarded(event.submitter, async () => {
    const body = {};
    const alias = $("#key-alias").value.trim();
    if (alias) body.key_alias = alias;
    const models = $("#key-models").value.split(",").map((m) => m.trim()).filter(Boolean);
    if (models.length) body.models = models;
    if ($("#key-budget").value) body.max_budget = Number($("#key-budget").value);
    if ($("#key-duration").value) body.budget_duration = $("#key-duration").value;
    if ($("#key-rpm").value) body.rpm_limit = Number($("#key-rpm").value);
    const created = await (await api("/key/generate", { method: "POST", json: body })).json();
    $("#key-created").textContent = `New key (shown once): ${created.key}`;
    await refreshKeys();
  });
}

function drawChart(rows) {
  const svg = $("#spend-chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const most = Math.max(...rows.map((r) => r.spend), 0);
  const width = 600 / Math.max(rows.length, 1);
  rows.forEach((row, i) => {
    const height = most > 0 ? (row.spend / most) * 180 : 0;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", String(i * width + 4));
    bar.setAttribute("y", String(190 - height));
    bar.setAttribute("width", String(Math.max(width - 8, 1)));
    bar.setAttribute("height", String(height));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${row.group}: ${money(row.spend)}`;
    bar.append(title);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", String(i * width + 4));
    label.setAttribute("y", "210");
    label.textContent = String(row.group).slice(0, 12);
    svg.append(bar, label);
  });
}

async function refreshSpend() {
  const group = $("#spend-group").value;
  const body = await (await api(`/spend/report?group_by=${encodeURIComponent(group)}`)).json();
  const found = Array.isArray(body) ? body : body.data || [];
  const rows = found.map((row) => ({
    group: row[group] ?? "-",
    requests: row.requests ?? 0,
    images: row.images ?? 0,
    spend: Number(row.spend ?? 0),
  }));
  drawChart(rows);
  $("#spend-table tbody").replaceChildren(...rows.map((row) => {
    const tr = document.createElement("tr");
    cell(tr, String(row.group));
    cell(tr, String(row.requests), true);
    cell(tr, String(row.images), true);
    cell(tr, money(row.spend), true);
    return tr;
  }));
}

async function refreshHealth() {
  const body = await (await api("/health/deployments")).json();
  $("#health-table tbody").replaceChildren(...body.deployments.map((d) => {
    const tr = document.createElement("tr");
    cell(tr, d.model_name);
    cell(tr, d.model);
    cell(tr, d.cooling_down ? `cooling down, ${Math.ceil(d.cooldown_left)} s left` : "healthy");
    cell(tr, String(d.in_flight), true);
    cell(tr, String(d.successes), true);
    cell(tr, String(d.failures), true);
    return tr;
  }));
}

function refreshAdmin() {
  guarded(null, async () => {
    const results = await Promise.allSettled([refreshKeys(), refreshSpend(), refreshHealth()]);
    const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
    if (failed.length) throw new GatewayError(failed.join("; "));
  });
}

// ---------------------------------------------------------------- start

function start() {
  $("#login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(event.submitter, () => signIn($("#login-key").value.trim()));
  });
  $("#logout").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_SLOT);
    $("#views").hidden = true;
    for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== "login";
    $("#login-key").value = "";
    $("#login-key").focus();
  });
  for (const button of document.querySelectorAll("#views [data-view]")) {
    button.addEventListener("click", () => show(button.dataset.view));
  }
  $("#play-model").addEventListener("change", buildParams);
  $("#play-form").addEventListener("submit", onPlay);
  $("#compare-form").addEventListener("submit", onCompare);
  $("#edit-form").addEventListener("submit", onEdit);
  $("#key-form").addEventListener("submit", onCreateKey);
  $("#spend-refresh").addEventListener("click", (event) => guarded(event.currentTarget, refreshSpend));
  $("#spend-group").addEventListener("change", () => guarded(null, refreshSpend));
  setUpMask();
  if (sessionStorage.getItem(KEY_SLOT) !== null) {
    guarded(null, () => signIn(sessionStorage.getItem(KEY_SLOT)));
  } else {
    $("#login-key").focus();
  }
}

start();
