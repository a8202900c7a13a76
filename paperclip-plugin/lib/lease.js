// Lease state on disk, so that a restarted worker (or a restarted
// Paperclip) finds every sandbox and keyhole again:
//
//   ROOT/                     0711 root
//   ROOT/uids/<uid>           a directory per uid in use (mkdir = allocate)
//   ROOT/logs/<lease>.keyhole.log  keyhole's log (JSON lines, access lines
//                             included; never a token or credential), kept
//   ROOT/leases/<lease>/      0711 root
//     host/                   0700 root: state.json, keyhole's ready file,
//                             bubblewrap's stderr -- never visible inside
//     etc/                    0755 root: passwd and group of the sandbox
//     workspace/              0700 the lease's uid: /workspace inside
import { randomUUID } from "node:crypto";
import {
  chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync,
  renameSync, rmSync, writeFileSync,
} from "node:fs";
import path from "node:path";
import { killQuiet, pidsOfUid, procStart, waitFor } from "./proc.js";
import { passwdFiles, sandboxAlive, startSandbox } from "./sandbox.js";
import { stopKeyhole } from "./keyhole.js";

const LEASE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Wait for every process of a lease's uid to be gone after its sandbox is
// killed (ms): the kernel reaps a pid namespace in milliseconds.
const TEARDOWN_WAIT_MS = 10000;

export function dirs(host, id) {
  const lease = path.join(host.rootDir, "leases", id);
  return {
    lease,
    host: path.join(lease, "host"),
    etc: path.join(lease, "etc"),
    workspace: path.join(lease, "workspace"),
    state: path.join(lease, "host", "state.json"),
    keyholeReady: path.join(lease, "host", "keyhole-ready.json"),
    bwrapLog: path.join(lease, "host", "bwrap.log"),
    keyholeLog: path.join(host.rootDir, "logs", `${id}.keyhole.log`),
  };
}

function ensureRoot(host) {
  for (const [d, mode] of [[host.rootDir, 0o711], [path.join(host.rootDir, "leases"), 0o711],
    [path.join(host.rootDir, "uids"), 0o700], [path.join(host.rootDir, "logs"), 0o700]]) {
    mkdirSync(d, { recursive: true, mode });
    chmodSync(d, mode);
  }
}

// The lowest uid of the host's range with no lock directory.  Single
// threaded JavaScript makes check-then-mkdir race-free within the worker;
// mkdir makes it so across workers.
function allocUid(host) {
  const locks = path.join(host.rootDir, "uids");
  for (let u = host.uidBase; u < host.uidBase + host.uidCount; u++) {
    try {
      mkdirSync(path.join(locks, String(u)), { mode: 0o700 });
    } catch (e) {
      if (e.code === "EEXIST") continue;
      throw e;
    }
    if (pidsOfUid(u).length > 0) continue; // a stray process: leave that uid alone
    return u;
  }
  throw new Error(`no free sandbox uid in ${host.uidBase}..${host.uidBase + host.uidCount - 1}`);
}

export function loadState(host, id) {
  if (typeof id !== "string" || !LEASE_ID.test(id)) return null;
  try {
    return JSON.parse(readFileSync(dirs(host, id).state, "utf8"));
  } catch {
    return null;
  }
}

export function saveState(host, st) {
  const d = dirs(host, st.id);
  const tmp = `${d.state}.tmp`;
  writeFileSync(tmp, JSON.stringify(st), { mode: 0o600 });
  renameSync(tmp, d.state);
}

// Create the lease: directories, uid, sandbox.  seconds = its lifetime.
export async function createLease(host, { env, runId, issueId, agentId, companyId, environmentId, seconds, reusable }) {
  ensureRoot(host);
  const id = randomUUID();
  const d = dirs(host, id);
  const uid = allocUid(host);
  try {
    mkdirSync(d.lease, { mode: 0o711 });
    mkdirSync(d.host, { mode: 0o700 });
    mkdirSync(d.etc, { mode: 0o755 });
    mkdirSync(d.workspace, { mode: 0o700 });
    chmodSync(d.lease, 0o711);
    chmodSync(d.etc, 0o755);
    chownSync(d.workspace, uid, uid);
    const pw = passwdFiles(uid);
    writeFileSync(path.join(d.etc, "passwd"), pw.passwd, { mode: 0o644 });
    writeFileSync(path.join(d.etc, "group"), pw.group, { mode: 0o644 });
    const expiresAt = new Date(Date.now() + seconds * 1000).toISOString();
    const st = {
      id, uid, createdAt: new Date().toISOString(), expiresAt, seconds,
      runId: runId ?? null, issueId: issueId ?? null, agentId: agentId ?? null,
      companyId: companyId ?? null, environmentId: environmentId ?? null,
      env, reusable: !!reusable, sandbox: null, keyhole: null,
    };
    saveState(host, st);
    const logFd = openSync(d.bwrapLog, "a", 0o600);
    try {
      st.sandbox = await startSandbox({
        uid, workspaceDir: d.workspace, etcDir: d.etc, roBinds: host.roBinds, seconds,
      }, { logFd });
    } finally {
      closeSync(logFd);
    }
    st.sandbox.uid = uid;
    saveState(host, st);
    return st;
  } catch (e) {
    await teardown(host, { id, uid, sandbox: null, keyhole: null }).catch(() => {});
    let why = "";
    try {
      why = readFileSync(d.bwrapLog, "utf8").trim();
    } catch { /* none */ }
    throw new Error(`${e.message}${why ? `: ${why}` : ""}`);
  }
}

export function leaseAlive(st) {
  return !!st && !!st.sandbox && sandboxAlive(st.sandbox) && Date.parse(st.expiresAt) > Date.now();
}

// Kill everything of the lease and remove its files; resolves to true
// once no process of its uid and none of its keyhole is left.
export async function teardown(host, st) {
  if (!st) return true;
  let ok = true;
  if (st.keyhole) ok = (await stopKeyhole(st.keyhole)) && ok;
  const sb = st.sandbox;
  if (sb) {
    if (procStart(sb.initPid) === sb.initStart) killQuiet(sb.initPid, "SIGKILL");
    if (procStart(sb.bwrapPid) === sb.bwrapStart) killQuiet(sb.bwrapPid, "SIGKILL");
  }
  if (Number.isInteger(st.uid)) {
    // Anything still running as the lease's uid (an exec's process that
    // left the sandbox's process group but not its pid namespace cannot:
    // the namespace is gone with pid 1) is killed and waited for.
    for (const pid of pidsOfUid(st.uid)) killQuiet(pid, "SIGKILL");
    ok = (await waitFor(() => pidsOfUid(st.uid).length === 0, TEARDOWN_WAIT_MS)) && ok;
  }
  if (!ok) return false;
  const d = dirs(host, st.id);
  rmSync(d.lease, { recursive: true, force: true });
  if (Number.isInteger(st.uid)) rmSync(path.join(host.rootDir, "uids", String(st.uid)), { recursive: true, force: true });
  return !existsSync(d.lease);
}

export function listLeases(host) {
  try {
    return readdirSync(path.join(host.rootDir, "leases")).filter((n) => LEASE_ID.test(n));
  } catch {
    return [];
  }
}
