// Process helpers: identity by (pid, start time), /proc scans, and running
// a command with a deadline and bounded output.  No Paperclip knowledge here.
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

// Output kept per stream of one exec (bytes).  Paperclip downloads a
// workspace in 3 MiB chunks, base64-encoded (4 MiB): 64 MiB leaves room.
export const EXEC_OUTPUT_MAX = 64 * 1024 * 1024;

// Field 22 of /proc/PID/stat (start time in clock ticks since boot): with
// the pid it names one process for the machine's uptime, so a recycled pid
// is never mistaken for the process we started.
export function procStart(pid) {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, "latin1");
    const rest = st.slice(st.lastIndexOf(")") + 2).split(" ");
    if (rest[0] === "Z" || rest[0] === "X") return null;
    return rest[19];
  } catch {
    return null;
  }
}

export function procAlive(pid, start) {
  return Number.isInteger(pid) && pid > 1 && start != null && procStart(pid) === start;
}

function numericDirs() {
  try {
    return readdirSync("/proc").filter((n) => /^[0-9]+$/.test(n)).map(Number);
  } catch {
    return [];
  }
}

// Live processes whose real, effective, saved or filesystem uid is uid.
export function pidsOfUid(uid) {
  const out = [];
  for (const pid of numericDirs()) {
    let st;
    try {
      st = readFileSync(`/proc/${pid}/status`, "latin1");
    } catch {
      continue;
    }
    const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(st);
    const state = /^State:\s+(\S)/m.exec(st);
    if (!m || (state && (state[1] === "Z" || state[1] === "X"))) continue;
    if (m.slice(1).some((u) => Number(u) === uid)) out.push(pid);
  }
  return out;
}

// Live processes in process group pgid.
export function pidsOfGroup(pgid) {
  const out = [];
  for (const pid of numericDirs()) {
    try {
      const st = readFileSync(`/proc/${pid}/stat`, "latin1");
      const rest = st.slice(st.lastIndexOf(")") + 2).split(" ");
      if (rest[0] !== "Z" && rest[0] !== "X" && Number(rest[2]) === pgid) out.push(pid);
    } catch {
      /* gone */
    }
  }
  return out;
}

export function killQuiet(pid, sig) {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Poll pred until it is true or ms pass; returns the last value.
export async function waitFor(pred, ms, every = 25) {
  const end = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v || Date.now() >= end) return v;
    await sleep(every);
  }
}

// Run argv[0] with argv[1..], stdin written then closed, stdout and stderr
// kept (each at most EXEC_OUTPUT_MAX bytes), killed with its whole process
// group after timeoutMs.  Resolves to Paperclip's execute result shape.
export function runCapture(argv, { env, cwd = "/", stdin = null, timeoutMs = 0, onSpawn } = {}) {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(argv[0], argv.slice(1), {
        cwd, env, detached: true, stdio: ["pipe", "pipe", "pipe"],
      });
    } catch (e) {
      resolve({ exitCode: 127, signal: null, timedOut: false, stdout: "", stderr: `${e.message}\n` });
      return;
    }
    const out = { stdout: [], stderr: [], n: { stdout: 0, stderr: 0 }, cut: { stdout: false, stderr: false } };
    const take = (which) => (buf) => {
      const room = EXEC_OUTPUT_MAX - out.n[which];
      if (room <= 0) {
        out.cut[which] = true;
        return;
      }
      const part = buf.length > room ? buf.subarray(0, room) : buf;
      if (part.length < buf.length) out.cut[which] = true;
      out[which].push(part);
      out.n[which] += part.length;
    };
    child.stdout.on("data", take("stdout"));
    child.stderr.on("data", take("stderr"));
    let timedOut = false;
    // On timeout the group's members die first, so that their parent (our
    // child, e.g. nsenter) reaps them and exits; the leader goes last.
    const timer = timeoutMs > 0 ? setTimeout(() => {
      timedOut = true;
      for (const pid of pidsOfGroup(child.pid)) if (pid !== child.pid) killQuiet(pid, "SIGKILL");
      setTimeout(() => killQuiet(-child.pid, "SIGKILL"), 300).unref();
    }, timeoutMs) : null;
    if (onSpawn && child.pid) onSpawn(child.pid);
    child.on("error", (e) => {
      if (timer) clearTimeout(timer);
      resolve({ exitCode: 127, signal: null, timedOut: false, stdout: "", stderr: `${e.message}\n` });
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      let stderr = Buffer.concat(out.stderr).toString("utf8");
      if (out.cut.stdout || out.cut.stderr) {
        stderr += `keyhole-sandbox: output over ${EXEC_OUTPUT_MAX} bytes was cut\n`;
      }
      resolve({
        exitCode: timedOut ? null : code,
        signal: signal ?? null,
        timedOut,
        stdout: Buffer.concat(out.stdout).toString("utf8"),
        stderr,
      });
    });
    child.stdin.on("error", () => {});
    if (stdin != null) child.stdin.end(stdin);
    else child.stdin.end();
  });
}
