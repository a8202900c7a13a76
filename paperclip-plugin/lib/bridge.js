// Paperclip's own callback bridge, neutralised.
//
// Without a duplex channel Paperclip bridges the agent's API calls through
// files: it starts paperclip-bridge-server.mjs under node in the sandbox
// (the "launch" exec, with its bridge token in the environment), waits for
// its ready.json, and then polls requests/*.json through execs, forwarding
// each request it finds to the real server with the run's JWT under its own
// route list -- which lets an agent patch any issue of its company.  Every
// such exec carries PAPERCLIP_SANDBOX_EXEC_CHANNEL=bridge.
//
// In a keyhole sandbox the agent's one way out is keyhole, so:
//   - the bridge server is never started (the launch is answered by the
//     plugin; the token it carries never enters the sandbox); instead the
//     plugin writes a ready.json naming keyhole's address, which Paperclip
//     then gives the agent as PAPERCLIP_API_URL;
//   - the queue polls are answered "no request" by the plugin, so a request
//     file the agent writes itself is never read, let alone forwarded;
//   - reading, answering or deleting a request file, or any bridge exec not
//     recognised below, is refused: a later Paperclip that changes its
//     plumbing fails visibly instead of reopening the queue.
// Bridge execs that only move Paperclip's own files (uploads of its helper
// scripts, the queue's mkdir, the run-log tail, the ready wait) run in the
// sandbox like any other exec: the sandbox is the boundary, not the script.

function script(params) {
  const cmd = String(params.command || "");
  const args = Array.isArray(params.args) ? params.args : [];
  if (!/(^|\/)(sh|bash|dash)$/.test(cmd) || args[0] !== "-c" || typeof args[1] !== "string") return null;
  return args[1];
}

const SQ = "'[^'\\n]*'";

// -> {kind: "launch", queueDir} | {kind: "empty"} | {kind: "run"} | {kind: "refuse", why}
export function classifyBridgeExec(params) {
  const env = params.env || {};
  if ("PAPERCLIP_BRIDGE_TOKEN" in env || "PAPERCLIP_API_BRIDGE_MODE" in env || "PAPERCLIP_BRIDGE_QUEUE_DIR" in env) {
    const q = env.PAPERCLIP_BRIDGE_QUEUE_DIR;
    if (typeof q !== "string" || !q.startsWith("/") || q.includes("\0") || q.split("/").includes("..")) {
      return { kind: "refuse", why: "bridge launch without a usable queue directory" };
    }
    return { kind: "launch", queueDir: q };
  }
  const s = script(params);
  if (s === null) return { kind: "refuse", why: "bridge exec that is not a shell script" };
  // The poll: list requests/*.json.  Answered "no requests".
  if (/\/requests'?\/\*\.json/.test(s) && /basename "\$file"/.test(s)) return { kind: "empty" };
  // Stopping the bridge server: there is none.
  if (/server\.pid/.test(s) && /kill "\$pid"/.test(s) && !/requests|responses/.test(s)) return { kind: "empty" };
  // mkdir -p of the queue directories (quoted paths only, nothing else).
  if (new RegExp(`^mkdir -p( ${SQ})+$`).test(s.trim())) return { kind: "run" };
  if (/requests|responses/.test(s)) return { kind: "refuse", why: "bridge request queue access" };
  // The run-log tail (reads the agent command's own output files).
  if (s.includes("__PAPERCLIP_RUN_LOG_STDOUT__")) return { kind: "run" };
  // The ready wait: cats the ready.json the plugin wrote.
  if (s.includes("ready.json") && s.includes("Timed out waiting for bridge readiness.")) return { kind: "run" };
  // A checked file upload (GitHub launchers, the bridge server's source).
  if (/^set -eu\nremote_dir=/.test(s) && s.includes("expected_sha=")) return { kind: "run" };
  return { kind: "refuse", why: "unrecognised bridge exec" };
}

// The exec that stands in for the bridge launch: creates the queue
// directories and a ready.json naming keyhole, in the sandbox, as the
// sandbox's user (so a link planted there gains nothing).  $1 queue dir, $2
// the JSON.
export const LAUNCH_STANDIN = [
  "set -eu",
  'mkdir -p "$1/requests" "$1/responses" "$1/logs"',
  'rm -f "$1/ready.json" "$1/server.pid"',
  "printf '%s\\n' \"$2\" > \"$1/ready.json.tmp\"",
  'mv -f "$1/ready.json.tmp" "$1/ready.json"',
].join("\n");

export function readyJson(port) {
  return JSON.stringify({
    pid: 0, host: "127.0.0.1", port, baseUrl: `http://127.0.0.1:${port}`,
    startedAt: new Date().toISOString(), keyhole: true,
  });
}
