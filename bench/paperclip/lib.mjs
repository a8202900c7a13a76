// Shared helpers for the h2 interop scripts: locate the Paperclip package,
// a tiny recording upstream, a tiny HTTP/1.1 agent client, and an HTTP/2
// frame tracer (frame headers only; HPACK blocks are not decoded).
import http from "node:http";
import path from "node:path";
import { pathToFileURL } from "node:url";

export const PKG_DIST = process.env.PAPERCLIP_ADAPTER_UTILS_DIST ||
  "build/paperclip-npm/2026.916.1/node_modules/@paperclipai/adapter-utils/dist";  // set by scripts/h2_latency.py

export async function importPaperclip(file) {
  return import(pathToFileURL(path.join(PKG_DIST, file)).href);
}

export const log = (...a) => console.log(...a);

// ---------------------------------------------------------------------------
// Recording upstream ("the Paperclip API"). Routes:
//   GET  /api/agents/me                 -> 200 {"id":"agent-1"}  (etag, last-modified, x-extra)
//   POST /api/issues/:id/comments       -> 201 {"id":"c-<n>", "echo":<body text>}
//   GET  /api/issues/slow-<ms>          -> 200 after <ms> ms
//   POST /api/issues/:id/checkout       -> sleeps ?sleep=<ms> then 200
//   GET|POST .../big-<n> (agents/big-<n>, issues/x/comments?big=<n>) -> n-byte body
//   anything else                       -> 404
// Every request is recorded: {method,url,headers,body(hex|utf8)}.
// ---------------------------------------------------------------------------
export function startUpstream({ port = 0 } = {}) {
  const requests = [];
  let inFlight = 0, maxInFlight = 0, n = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url, "http://upstream");
      const rec = { method: req.method, url: req.url, headers: { ...req.headers }, body: body.toString("utf8") };
      requests.push(rec);
      inFlight++; maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const sleep = Number(url.searchParams.get("sleep") || 0);
        let m;
        if ((m = /^\/api\/issues\/slow-(\d+)$/.exec(url.pathname))) await delay(Number(m[1]));
        else if (sleep) await delay(sleep);
        const big = Number(url.searchParams.get("big") || 0);
        if (big) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(Buffer.alloc(big, 0x61));
        } else if (req.method === "GET" && url.pathname === "/api/agents/me") {
          res.writeHead(200, {
            "content-type": "application/json; charset=utf-8",
            etag: 'W/"abc"',
            "last-modified": "Tue, 01 Sep 2026 00:00:00 GMT",
            "x-extra-upstream-header": "should-not-reach-agent",
            "set-cookie": "sid=1",
          });
          res.end(JSON.stringify({ id: "agent-1" }));
        } else if (req.method === "POST" && /^\/api\/issues\/[^/]+\/comments$/.test(url.pathname)) {
          res.writeHead(201, { "content-type": "application/json" });
          res.end(JSON.stringify({ id: `c-${++n}`, echoBytes: body.length }));
        } else if (/^\/api\/issues\/[^/]+(\/checkout)?$/.test(url.pathname)) {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true, method: req.method, path: url.pathname }));
        } else if (url.pathname === "/api/companies/c1/issues") {
          res.writeHead(503, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "upstream says 503" }));
        } else {
          res.writeHead(404, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: "not found upstream", path: url.pathname }));
        }
      } finally {
        inFlight--;
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(port, "127.0.0.1", () => {
      const { port: p } = server.address();
      resolve({
        url: `http://127.0.0.1:${p}`,
        requests,
        get maxInFlight() { return maxInFlight; },
        resetMax() { maxInFlight = 0; },
        close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(() => r()); }),
      });
    });
  });
}

export function delay(ms) { return new Promise((r) => setTimeout(r, ms)); }

// Minimal HTTP/1.1 agent request (no fetch, so nothing is added implicitly
// beyond host/connection/content-length).
export function agentRequest(baseUrl, { method = "GET", path: p, headers = {}, body } = {}) {
  return new Promise((resolve) => {
    const u = new URL(baseUrl);
    const req = http.request({ host: u.hostname, port: u.port, method, path: p, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", (e) => resolve({ status: 0, error: String(e) }));
    });
    req.on("error", (e) => resolve({ status: 0, error: `${e.code || ""} ${e.message}` }));
    if (Array.isArray(body)) { for (const c of body) req.write(c); req.end(); } // chunked transfer coding
    else if (body !== undefined) req.end(body); else req.end();
  });
}

// ---------------------------------------------------------------------------
// HTTP/2 frame tracer: feed it the raw bytes of one direction.
// ---------------------------------------------------------------------------
const FRAME_TYPES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE", "CONTINUATION"];
const SETTINGS_NAMES = { 1: "HEADER_TABLE_SIZE", 2: "ENABLE_PUSH", 3: "MAX_CONCURRENT_STREAMS", 4: "INITIAL_WINDOW_SIZE", 5: "MAX_FRAME_SIZE", 6: "MAX_HEADER_LIST_SIZE", 8: "ENABLE_CONNECT_PROTOCOL" };
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
export function createFrameTracer(label, out = (s) => process.stderr.write(s + "\n"), { expectPreface = false } = {}) {
  let buf = Buffer.alloc(0);
  let needPreface = expectPreface;
  return (chunk) => {
    buf = Buffer.concat([buf, Buffer.from(chunk)]);
    if (needPreface) {
      // Skip everything before the 24-octet client preface (the READY line),
      // showing what was skipped, as the Paperclip host's preface scan does.
      const at = buf.indexOf(PREFACE);
      if (at === -1) return;
      if (at > 0) out(`[h2 ${label}] ${at} bytes before the preface: ${JSON.stringify(buf.subarray(0, at).toString("latin1"))}`);
      out(`[h2 ${label}] client connection preface (24 octets)`);
      buf = buf.subarray(at + PREFACE.length);
      needPreface = false;
    }
    while (buf.length >= 9) {
      const len = buf.readUIntBE(0, 3), type = buf[3], flags = buf[4], sid = buf.readUInt32BE(5) & 0x7fffffff;
      if (buf.length < 9 + len) return;
      const payload = buf.subarray(9, 9 + len);
      buf = buf.subarray(9 + len);
      const name = FRAME_TYPES[type] ?? `type${type}`;
      let detail = "";
      if (type === 4) {
        if (flags & 1) detail = "ACK";
        else { const kv = []; for (let i = 0; i + 6 <= payload.length; i += 6) kv.push(`${SETTINGS_NAMES[payload.readUInt16BE(i)] ?? payload.readUInt16BE(i)}=${payload.readUInt32BE(i + 2)}`); detail = kv.join(" ") || "(empty)"; }
      } else if (type === 8) detail = `increment=${payload.readUInt32BE(0) & 0x7fffffff}`;
      else if (type === 7) detail = `lastStreamId=${payload.readUInt32BE(0) & 0x7fffffff} error=${payload.readUInt32BE(4)}${payload.length > 8 ? " debug=" + JSON.stringify(payload.subarray(8).toString("utf8")) : ""}`;
      else if (type === 3) detail = `error=${payload.readUInt32BE(0)}`;
      else if (type === 6) detail = `${flags & 1 ? "ACK " : ""}opaque=${payload.toString("hex")}`;
      else {
        const f = [];
        if (flags & 1) f.push("END_STREAM");
        if (flags & 4) f.push("END_HEADERS");
        if (flags & 8) f.push("PADDED");
        if (flags & 0x20) f.push("PRIORITY");
        detail = f.join("|");
      }
      out(`[h2 ${label}] ${name} stream=${sid} len=${len} ${detail}`);
    }
  };
}
