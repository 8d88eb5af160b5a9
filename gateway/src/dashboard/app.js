// Tessera dashboard: polls /dashboard/state every second and updates the page in place (text
// of existing elements; the card grid is built once), so nothing on the page moves.
"use strict";

const POLL_MS = 1000;
const STALE_MS = 4000;

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en");

let chaosEnabled = false;
let lastOk = 0;
let points = [];
let timelineKey = "";
const cards = new Map();

function text(el, value) {
  const s = String(value);
  if (el.textContent !== s) el.textContent = s;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, u = 0;
  while (v >= 1024 && u + 1 < units.length) { v /= 1024; u++; }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}

// The share first: it is what says a disk is about to fill. Under 10% is marked, as the
// TesseraDataDirFilling alert does (deploy/prometheus/alerts.yml).
function renderDisk(el, disk) {
  let shown = "–", low = false;
  if (disk && disk.size > 0) {
    const share = Math.floor((disk.available / disk.size) * 100);
    shown = `${share}% · ${bytes(disk.available)}`;
    low = disk.available / disk.size < 0.1;
  }
  text(el, shown);
  el.classList.toggle("low", low);
}

function card(id) {
  let c = cards.get(id);
  if (c) return c;
  const node = $("replica-template").content.firstElementChild.cloneNode(true);
  node.dataset.replica = String(id);
  node.querySelectorAll("[data-action]").forEach((b) => {
    b.addEventListener("click", () => inject(id, b.dataset.action, b));
  });
  $("replicas").appendChild(node);
  const field = (name) => node.querySelector(`[data-field="${name}"]`);
  c = {
    node,
    id: field("id"),
    implementation: field("implementation"),
    state: field("state"),
    applied: field("applied"),
    lag: field("lag"),
    digest: field("digest"),
    faults: field("faults"),
    faultsBar: field("faults-bar"),
    replacements: field("replacements"),
    transfers: field("transfers"),
    disk: field("disk"),
    chaos: field("chaos"),
    lastState: null,
    lastGeneration: null,
  };
  cards.set(id, c);
  return c;
}

function renderReplica(r) {
  const c = card(r.id);
  text(c.id, r.id);
  text(c.implementation, r.implementation);
  text(c.state, r.state);
  if (c.node.dataset.state !== r.state) c.node.dataset.state = r.state;
  text(c.applied, r.applied == null ? "–" : fmt.format(r.applied));
  text(c.lag, r.lag == null ? "–" : fmt.format(r.lag));
  const d = r.checkpoint;
  let digest = "–";
  let cls = "";
  if (d) {
    if (d.agrees === true) { digest = `✓ agrees at ${fmt.format(d.seq)}`; cls = "agree"; }
    else if (d.agrees === false) { digest = `✗ differs at ${fmt.format(d.seq)}`; cls = "differ"; }
    else { digest = `… at ${fmt.format(d.seq)}`; }
  }
  text(c.digest, digest);
  c.digest.className = cls;
  const faults = r.consecutive_faults;
  text(c.faults, faults == null ? "–" : String(faults));
  c.faultsBar.dataset.n = String(Math.min(faults || 0, 3));
  text(c.replacements, r.replacements == null ? "–" : String(r.replacements));
  let transfers = r.transfers == null ? "–" : String(r.transfers);
  if (r.last_transfer) {
    const t = r.last_transfer;
    transfers = `${r.transfers} · last ${bytes(t.bytes)} in ${fmt.format(t.millis)} ms`;
  }
  text(c.transfers, transfers);
  renderDisk(c.disk, r.disk);
  c.chaos.hidden = !chaosEnabled;
  // A replacement or a state change draws the eye once.
  if ((c.lastGeneration != null && r.replacements != null && r.replacements !== c.lastGeneration) ||
      (c.lastState != null && c.lastState !== r.state)) {
    c.node.classList.remove("flash");
    void c.node.offsetWidth;
    c.node.classList.add("flash");
  }
  c.lastState = r.state;
  if (r.replacements != null) c.lastGeneration = r.replacements;
}

function clock(ms) {
  const d = new Date(ms);
  return d.toLocaleTimeString("en-GB", { hour12: false });
}

function renderTimeline(events) {
  const key = events.map((e) => e.id).join(",");
  if (key === timelineKey) return;
  timelineKey = key;
  const list = $("timeline");
  const items = events.slice().reverse().map((e) => {
    const li = document.createElement("li");
    li.dataset.kind = e.kind;
    if (e.replica != null) li.dataset.replica = String(e.replica);
    li.dataset.id = e.id;
    const t = document.createElement("time");
    t.dateTime = new Date(e.at_ms).toISOString();
    t.textContent = clock(e.at_ms);
    const k = document.createElement("span");
    k.className = "kind";
    k.title = e.kind;
    const s = document.createElement("span");
    s.className = "text";
    s.textContent = e.text;
    li.append(t, k, s);
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "Nothing has happened yet. Try tessera demo, or a fault button.";
    items.push(li);
  }
  list.replaceChildren(...items);
  text($("timeline-count"), `${events.length} recent`);
}

// ---- chart ----

function niceMax(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawChart() {
  const canvas = $("chart");
  const box = canvas.parentElement.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.floor(box.width));
  const h = Math.max(1, Math.floor(box.height));
  if (canvas.width !== w * dpr || canvas.height !== h * dpr) {
    canvas.width = w * dpr;
    canvas.height = h * dpr;
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const left = 52, right = 52, top = 10, bottom = 24;
  const pw = w - left - right, ph = h - top - bottom;
  const now = Date.now();
  const span = 5 * 60 * 1000;
  const x = (ms) => left + pw * (1 - (now - ms) / span);
  const recent = points.filter((p) => now - p.at_ms <= span);
  const maxCalls = niceMax(Math.max(1, ...recent.map((p) => p.calls)));
  const maxMs = niceMax(Math.max(1, ...recent.map((p) => p.p99_ms || 0)));
  g.font = "11px system-ui, sans-serif";
  g.lineWidth = 1;
  // Grid and axes.
  g.strokeStyle = color("--line");
  g.fillStyle = color("--muted");
  for (let i = 0; i <= 4; i++) {
    const y = top + ph * (i / 4);
    g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + pw, y + 0.5); g.stroke();
    g.textAlign = "right";
    g.fillText(fmt.format(Math.round(maxCalls * (1 - i / 4))), left - 6, y + 4);
    g.textAlign = "left";
    const ms = maxMs * (1 - i / 4);
    g.fillText(ms >= 10 ? `${Math.round(ms)} ms` : `${ms.toFixed(1)} ms`, left + pw + 6, y + 4);
  }
  g.textAlign = "center";
  for (let m = 0; m <= 5; m++) {
    const ms = now - m * 60 * 1000;
    g.fillText(m === 0 ? "now" : `-${m} min`, x(ms), h - 6);
  }
  if (recent.length === 0) {
    g.fillText("no calls yet", left + pw / 2, top + ph / 2);
    return;
  }
  const yCalls = (v) => top + ph * (1 - v / maxCalls);
  const yMs = (v) => top + ph * (1 - Math.min(v, maxMs) / maxMs);
  // Calls per second: a filled area.
  g.beginPath();
  g.moveTo(x(recent[0].at_ms), top + ph);
  for (const p of recent) g.lineTo(x(p.at_ms), yCalls(p.calls));
  g.lineTo(x(recent[recent.length - 1].at_ms), top + ph);
  g.closePath();
  g.fillStyle = "rgba(77, 163, 255, 0.22)";
  g.fill();
  g.beginPath();
  recent.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, x(p.at_ms), yCalls(p.calls)));
  g.strokeStyle = color("--calls");
  g.lineWidth = 1.5;
  g.stroke();
  // Latency quantiles: lines, broken where a second had no calls.
  for (const [key, name] of [["p50_ms", "--p50"], ["p99_ms", "--p99"]]) {
    g.beginPath();
    let drawing = false;
    for (const p of recent) {
      const v = p[key];
      if (v == null) { drawing = false; continue; }
      if (drawing) g.lineTo(x(p.at_ms), yMs(v)); else g.moveTo(x(p.at_ms), yMs(v));
      drawing = true;
    }
    g.strokeStyle = color(name);
    g.lineWidth = 1.5;
    g.stroke();
  }
}

// ---- state ----

function render(state) {
  chaosEnabled = !!state.chaos;
  points = state.chart || [];
  const cluster = state.cluster;
  if (cluster && Array.isArray(cluster.replicas)) {
    for (const r of cluster.replicas) renderReplica(r);
    const seq = cluster.sequencer;
    text($("next-seq"), seq && seq.next_seq != null ? fmt.format(seq.next_seq) : "down");
    renderDisk($("sequencer-disk"), seq && seq.disk);
    renderTimeline(cluster.timeline || []);
  }
  const last = points.length ? points[points.length - 1] : null;
  text($("rate"), last ? fmt.format(last.calls) : "–");
  text($("p99"), last && last.p99_ms != null ? `${last.p99_ms.toFixed(1)} ms` : "–");
  drawChart();
  $("page").dataset.ready = "true";
}

function setLive() {
  const live = $("live");
  const state = lastOk === 0 ? "connecting" : Date.now() - lastOk < STALE_MS ? "live" : "stale";
  if (live.dataset.live !== state) live.dataset.live = state;
  text($("live-text"), state);
}

async function poll() {
  try {
    const res = await fetch("/dashboard/state", { cache: "no-store", credentials: "same-origin" });
    if (res.ok) {
      render(await res.json());
      lastOk = Date.now();
    }
  } catch (_) {
    // The gateway restarts or the network is down: shown as stale, tried again.
  }
  setLive();
  setTimeout(poll, POLL_MS);
}

let toastTimer = 0;
function toast(message, error) {
  const t = $("toast");
  t.textContent = message;
  t.classList.toggle("error", !!error);
  t.classList.add("show");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.remove("show"), 3500);
}

async function inject(replica, action, button) {
  button.disabled = true;
  try {
    const res = await fetch("/dashboard/chaos", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ replica, action }),
    });
    const body = await res.json().catch(() => ({}));
    toast(body.detail || `${action} on replica ${replica}: HTTP ${res.status}`, !res.ok);
  } catch (e) {
    toast(`${action} on replica ${replica} failed: ${e}`, true);
  } finally {
    button.disabled = false;
  }
}

new ResizeObserver(() => drawChart()).observe($("chart").parentElement);
setInterval(setLive, 1000);
poll();
