// keyhole for one run of one lease: `keyhole serve` on the host, its
// listener created inside the sandbox's network namespace (--netns), bound
// to the run's issue and run id, holding the run's credential; it ends at
// the lease's deadline even if nobody stops it (timeout(1)).
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import { killQuiet, pidsOfGroup, procStart, runCapture, waitFor } from "./proc.js";

const TIMEOUT = "/usr/bin/timeout";
// How long keyhole may take to report ready (ms): it compiles the policy in
// its child and creates its listener; ~50 ms on an idle machine.
const READY_MS = 15000;
// Drain granted on stop (ms), and the wait for its exit after it.
const DRAIN_MS = 2000;
const STOP_WAIT_MS = 5000;

function lastLines(file, n = 6) {
  try {
    const lines = readFileSync(file, "utf8").trim().split("\n").slice(-40);
    const msgs = [];
    for (const l of lines) {
      try {
        const o = JSON.parse(l);
        if (o.level === "fatal" || o.level === "error" || o.level === "warn") msgs.push(o.msg);
      } catch {
        if (l.trim()) msgs.push(l.trim());
      }
    }
    return msgs.slice(-n).join("; ");
  } catch {
    return "";
  }
}

// Start keyhole; resolves to {pid, start, pgid, token, url, runId, issueId}
// or rejects with keyhole's own words.
export async function startKeyhole({ host, policy, upstream, runId, issueId, credential, sandboxPid,
  port, seconds, logFile, readyFile }) {
  const token = randomBytes(32).toString("hex");
  rmSync(readyFile, { force: true });
  const argv = [TIMEOUT, "-k", "5", String(seconds), host.keyhole, "serve",
    "--policy", policy, "--upstream", upstream, "--run-id", runId,
    "--netns", `/proc/${sandboxPid}/ns/net`, "--listen", `tcp:127.0.0.1:${port}`,
    "--ready-file", readyFile, "--log-format", "json", "--drain-ms", String(DRAIN_MS),
    ...host.keyholeArgs];
  if (issueId) argv.push("--var", `issue=${issueId}`);
  const logFd = openSync(logFile, "a", 0o600);
  let child;
  try {
    child = spawn(argv[0], argv.slice(1), {
      cwd: "/", detached: true, stdio: ["ignore", logFd, logFd],
      // keyhole wipes both from its memory and environment as it reads them.
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8",
        KEYHOLE_CREDENTIAL: credential, PAPERCLIP_BRIDGE_TOKEN: token },
    });
  } finally {
    closeSync(logFd);
  }
  let exited = null;
  child.on("exit", (code, sig) => { exited = sig ?? code; });
  child.on("error", (e) => { exited = e.message; });
  const ok = await waitFor(() => exited !== null || existsSync(readyFile), READY_MS, 20);
  if (exited !== null || !ok) {
    killQuiet(-child.pid, "SIGKILL");
    const why = lastLines(logFile) || (exited !== null ? `exited (${exited})` : "no ready file");
    throw new Error(`keyhole failed to start: ${why}`);
  }
  let ready;
  try {
    ready = JSON.parse(readFileSync(readyFile, "utf8"));
  } catch (e) {
    killQuiet(-child.pid, "SIGKILL");
    throw new Error(`keyhole failed to start: unreadable ready file (${e.message})`);
  }
  child.unref();
  return {
    pid: child.pid, start: procStart(child.pid), pgid: child.pid, keyholePid: ready.pid,
    keyholeStart: procStart(ready.pid), token, url: `http://127.0.0.1:${port}`, runId,
    issueId: issueId ?? null,
  };
}

// Stop it: SIGTERM (keyhole drains), then SIGKILL to its whole process
// group; resolves once nothing of the group is left.
export async function stopKeyhole(kh) {
  if (!kh) return true;
  if (procStart(kh.pid) === kh.start) killQuiet(kh.pid, "SIGTERM");
  let gone = await waitFor(() => pidsOfGroup(kh.pgid).length === 0 &&
    procStart(kh.keyholePid) !== kh.keyholeStart, DRAIN_MS + 1500, 25);
  if (!gone) {
    killQuiet(-kh.pgid, "SIGKILL");
    if (procStart(kh.keyholePid) === kh.keyholeStart) killQuiet(kh.keyholePid, "SIGKILL");
    gone = await waitFor(() => pidsOfGroup(kh.pgid).length === 0 &&
      procStart(kh.keyholePid) !== kh.keyholeStart, STOP_WAIT_MS, 25);
  }
  return !!gone;
}

export function keyholeAlive(kh) {
  return !!kh && procStart(kh.keyholePid) === kh.keyholeStart;
}

// `keyhole check-policy FILE`: null when it compiles, else keyhole's words.
export async function checkPolicy(host, file) {
  const r = await runCapture([host.keyhole, "check-policy", file], {
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" }, timeoutMs: 15000,
  });
  if (r.exitCode === 0) return null;
  return (r.stderr || r.stdout || `exit ${r.exitCode}`).trim().split("\n").slice(0, 5).join("; ");
}

