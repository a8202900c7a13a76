// Tokens in what Paperclip writes into the sandbox.
//
// Paperclip uploads files into a sandbox as base64 on the stdin of
// `base64 -d >> 'PATH.paperclip-upload.ID'` execs (3 MiB per chunk), then
// `mv -f`s the result into place.  One of them is claude_local's MCP
// configuration, which holds the run's own JWT (the full agent API
// credential, valid 48 h) and a runtime-tools token as Bearer headers for
// Paperclip's MCP endpoints.  The plugin removes every JWT from such
// uploads (and from any other exec's stdin) before the bytes reach the
// sandbox, replacing it with a marker of the same length, so archives keep
// their sizes and JSON stays valid.  A token split across two chunks is
// caught by holding back a chunk's tail that could be the start of one and
// sending it with the next chunk, or before the `mv -f`.

const TOKEN_CHARS = /[A-Za-z0-9_.-]/;
const JWT_G = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g;
// The longest token tail held back between chunks (bytes); a JWT longer
// than this split across chunks would pass (Paperclip's are ~500 bytes).
export const HOLD_MAX = 16384;

const APPEND = /^base64 -d >> '([^'\n]+\.paperclip-upload[^'\n]*)'$/;
const FINALIZE = /^mv -f '([^'\n]+\.paperclip-upload[^'\n]*)' '[^'\n]+'$/;

function marker(n) {
  return ("keyhole-removed-a-token-" + "x".repeat(n)).slice(0, n);
}

// Replace every JWT in buf (latin1-safe: tokens are ASCII).  Returns
// {buf, removed}.
export function scrubBuffer(buf) {
  const s = buf.toString("latin1");
  let removed = 0;
  const out = s.replace(JWT_G, (m) => {
    removed++;
    return marker(m.length);
  });
  return { buf: removed ? Buffer.from(out, "latin1") : buf, removed };
}

// Where the bytes of buf that may be the start of a token cut by the end
// of the chunk begin (buf.length when none).
function holdFrom(buf) {
  const s = buf.toString("latin1");
  const from = Math.max(0, s.length - HOLD_MAX);
  let i = s.lastIndexOf("eyJ");
  while (i >= from) {
    let j = i;
    while (j < s.length && TOKEN_CHARS.test(s[j])) j++;
    if (j === s.length) return i;
    if (i === 0) break;
    i = s.lastIndexOf("eyJ", i - 1);
  }
  return s.length;
}

export function uploadTarget(script) {
  const m = APPEND.exec(script);
  return m ? m[1] : null;
}

export function finalizeSource(script) {
  const m = FINALIZE.exec(script);
  return m ? m[1] : null;
}

// Per lease: tails held back, by upload path.
export class UploadScrubber {
  constructor() {
    this.held = new Map();
  }

  // One chunk (base64 text) for path: returns {stdin, removed}, stdin
  // null when nothing is to be written yet.
  chunk(path, b64) {
    const prev = this.held.get(path) ?? Buffer.alloc(0);
    const data = Buffer.concat([prev, Buffer.from(b64, "base64")]);
    const cut = holdFrom(data);
    const { buf, removed } = scrubBuffer(data.subarray(0, cut));
    this.held.delete(path);
    if (cut < data.length) this.held.set(path, data.subarray(cut));
    return { stdin: buf.length > 0 ? buf.toString("base64") : null, removed };
  }

  // Before path is moved into place: {stdin, removed} of the tail still
  // held, stdin null when none.
  flush(path) {
    const h = this.held.get(path);
    this.held.delete(path);
    if (!h || !h.length) return { stdin: null, removed: 0 };
    const { buf, removed } = scrubBuffer(h);
    return { stdin: buf.toString("base64"), removed };
  }
}
