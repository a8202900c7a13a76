// A test gateway for keyhole's http2_v1 host side: like Paperclip's, but it
// forwards what the agent sent as it is (the raw request target, the
// agent's own Authorization, every header but the connection's), so a
// test reaches keyhole's checks of each stream directly (the token, the
// path in any spelling), which Paperclip's gateway would have normalised
// or answered itself.  Environment as Paperclip's gateway.
import http from "node:http";
import http2 from "node:http2";
import { Duplex } from "node:stream";

const env = process.env;
const port = Number(env.PAPERCLIP_BRIDGE_PORT);
const stdio = new Duplex({
  read() {},
  write(chunk, enc, cb) { process.stdout.write(chunk, cb); },
});
process.stdin.on("data", (d) => stdio.push(d));
process.stdin.on("end", () => process.exit(0));

const skip = new Set(["host", "connection", "keep-alive", "transfer-encoding",
  "content-length", "upgrade", "proxy-connection", "te"]);
let session = null;
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const h = { ":method": req.method, ":path": req.url };
    for (const [k, v] of Object.entries(req.headers))
      if (!skip.has(k)) h[k] = v;
    const s = session.request(h, { endStream: body.length === 0 });
    let status = 502, hdrs = {};
    const out = [];
    s.on("response", (rh) => { status = rh[":status"]; hdrs = rh; });
    s.on("data", (c) => out.push(c));
    s.on("end", () => {
      const o = {};
      for (const [k, v] of Object.entries(hdrs)) if (!k.startsWith(":")) o[k] = v;
      res.writeHead(status, o);
      res.end(Buffer.concat(out));
    });
    s.on("error", (e) => { if (!res.headersSent) { res.writeHead(502); res.end(String(e)); } });
    if (body.length) s.end(body);
  });
});
server.listen(port, env.PAPERCLIP_BRIDGE_HOST || "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ version: 2, type: "ready",
    nonce: env.PAPERCLIP_BRIDGE_NONCE || "" }) + "\n");
  session = http2.connect("http://bridge.internal", { createConnection: () => stdio });
  session.on("goaway", () => process.stderr.write("test gateway: GOAWAY\n"));
  session.on("error", (e) => process.stderr.write("test gateway: " + e + "\n"));
});
