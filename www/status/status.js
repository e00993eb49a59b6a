/* The live status page: a WebSocket to the same URL (protocol
 * "lws-server-status") brings a JSON snapshot every update-ms; rates come
 * from the difference between two snapshots.  When the connection drops,
 * the page dims, says so, and reconnects. */
"use strict";

const HISTORY = 90;
const $ = (id) => document.getElementById(id);
const hist = { rps: [], conns: [], codes: [] };
let last = null;
let retry = 500;

function fmt(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n));
}

function bytes(n) {
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

function push(arr, v) {
  arr.push(v);
  if (arr.length > HISTORY) arr.shift();
}

function canvas(id) {
  const c = $(id), ratio = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.clientHeight;
  if (c.width !== w * ratio) { c.width = w * ratio; c.height = h * ratio; }
  const g = c.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  g.strokeStyle = css("--grid");
  g.lineWidth = 1;
  for (let y = 0; y <= 4; y++) {
    g.beginPath(); g.moveTo(0, 4 + y * (h - 8) / 4); g.lineTo(w, 4 + y * (h - 8) / 4); g.stroke();
  }
  return { g, w, h };
}

function line(id, data, color) {
  const { g, w, h } = canvas(id);
  const max = Math.max(1, ...data);
  g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
  data.forEach((v, i) => {
    const x = w - (data.length - 1 - i) * (w / (HISTORY - 1));
    const y = h - 4 - (v / max) * (h - 8);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
  g.fillStyle = css("--muted"); g.font = "11px system-ui"; g.fillText(fmt(max), 4, 12);
}

function stacked(id, rows) {
  const { g, w, h } = canvas(id);
  const colors = ["--c2", "--c3", "--c4", "--c5"].map(css);
  const max = Math.max(1, ...rows.map((r) => r.reduce((a, b) => a + b, 0)));
  const bw = w / HISTORY;
  rows.forEach((r, i) => {
    let y = h - 4;
    const x = w - (rows.length - i) * bw;
    r.forEach((v, k) => {
      const bh = (v / max) * (h - 8);
      g.fillStyle = colors[k]; g.fillRect(x, y - bh, Math.max(1, bw - 1), bh); y -= bh;
    });
  });
  g.fillStyle = css("--muted"); g.font = "11px system-ui"; g.fillText(fmt(max), 4, 12);
}

function bars(id, bounds, counts) {
  const { g, w, h } = canvas(id);
  const max = Math.max(1, ...counts);
  const bw = w / counts.length;
  const every = Math.ceil(44 / bw); /* labels that fit */
  g.font = "10px system-ui";
  counts.forEach((v, i) => {
    const bh = (v / max) * (h - 24);
    g.fillStyle = css("--accent"); g.fillRect(i * bw + 1, h - 16 - bh, bw - 2, bh);
    if (i % every) return;
    const b = i < bounds.length ? bounds[i] : Infinity;
    const label = b === Infinity ? ">5s" : b < 1 ? "≤" + (b * 1000) + "ms" : "≤" + b + "s";
    g.fillStyle = css("--muted"); g.fillText(label, i * bw + 2, h - 3);
  });
}

function table(s, prev, dt) {
  const tbody = $("series").querySelector("tbody");
  const before = new Map((prev ? prev.series : []).map((x) => [x.vhost + "\0" + x.mount, x]));
  tbody.replaceChildren(...s.series.filter((x) => x.vhost).map((x) => {
    const p = before.get(x.vhost + "\0" + x.mount);
    const rate = p && dt > 0 ? (x.requests - p.requests) / dt : 0;
    const tr = document.createElement("tr");
    [x.vhost, x.mount || "(no mount)", fmt(x.requests), rate.toFixed(1), fmt(x.errors), bytes(x.bytes)]
      .forEach((t) => { const td = document.createElement("td"); td.textContent = t; tr.append(td); });
    return tr;
  }));
}

function upstreams(list) {
  $("upstreams-section").hidden = list.length === 0;
  $("upstreams").querySelector("tbody").replaceChildren(...list.map((u) => {
    const tr = document.createElement("tr");
    [u.name, "", fmt(u.busy), fmt(u.idle), fmt(u.queued), ""].forEach((t) => {
      const td = document.createElement("td"); td.textContent = t; tr.append(td);
    });
    return tr;
  }));
}

function show(s) {
  const dt = last ? s.time - last.time : 0;
  const rps = dt > 0 ? (s.requests - last.requests) / dt : 0;
  const bps = dt > 0 ? (s.bytes_out - last.bytes_out) / dt : 0;
  const conns = s.connections.http1 + s.connections.h2;
  $("version").textContent = s.version;
  $("rps").textContent = rps.toFixed(1);
  $("requests").textContent = fmt(s.requests);
  $("conns").textContent = fmt(conns);
  $("conns-split").textContent = "HTTP/1.1 " + s.connections.http1 + " · h2 " + s.connections.h2;
  $("bytes").textContent = bytes(s.bytes_out);
  $("bps").textContent = bytes(bps) + "/s";
  $("bytes-in").textContent = bytes(s.bytes_in);
  $("bps-in").textContent = bytes(dt > 0 ? (s.bytes_in - last.bytes_in) / dt : 0) + "/s";
  upstreams(s.upstreams);
  $("tls").textContent = fmt(s.tls_handshakes);
  $("latency").textContent = s.requests ? (1000 * s.seconds / s.requests).toFixed(2) + " ms" : "–";
  push(hist.rps, rps);
  push(hist.conns, conns);
  const codes = ["2xx", "3xx", "4xx", "5xx"].map((k) => dt > 0 ? (s.codes[k] - last.codes[k]) / dt : 0);
  push(hist.codes, codes);
  line("chart-rps", hist.rps, css("--accent"));
  line("chart-conns", hist.conns, css("--c3"));
  stacked("chart-codes", hist.codes);
  bars("chart-latency", s.latency.bounds, s.latency.counts);
  table(s, last, dt);
  last = s;
}

function connect() {
  const url = location.href.replace(/^http/, "ws").replace(/[#?].*$/, "");
  const ws = new WebSocket(url, "lws-server-status");
  ws.onopen = () => {
    retry = 500;
    document.body.classList.remove("offline");
    $("state").textContent = "live";
  };
  ws.onmessage = (e) => show(JSON.parse(e.data));
  ws.onclose = () => {
    document.body.classList.add("offline");
    $("state").textContent = "connection to the server lost — reconnecting…";
    last = null;
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  };
}

connect();
