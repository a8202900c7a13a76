// Two sources of configuration, kept apart on purpose.
//
// host.json, next to this plugin, written by the operator (install.sh):
// everything that decides what runs as root on the host -- the keyhole
// binary, the policy directory, where lease state lives, which host paths a
// sandbox may see, the uid range.  It must be owned by the worker's user and
// writable by nobody else, like the directory it is in.
//
// The environment's config, written through Paperclip's API by any board
// user: only choices that cannot widen what the host runs or shows -- which
// policy of the policy directory, which of the agent's own variables reach
// it, keyhole's port inside the sandbox.  A board user must not become root
// on the host by editing an environment.
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const HOST_CONFIG = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "host.json");

export const DEFAULTS = Object.freeze({
  keyhole: "/usr/local/bin/keyhole",
  policyDir: "/usr/local/share/keyhole/policy",
  rootDir: "/var/lib/keyhole-paperclip",
  roBinds: [],
  // Sandbox users: one uid per lease, never shared, never a real account.
  uidBase: 1500000000,
  uidCount: 4096,
  // A lease (sandbox and keyhole) ends at the latest this long after it was
  // acquired, whatever Paperclip does: 6 h.
  maxLeaseSeconds: 21600,
  path: "/usr/local/bin:/usr/bin:/bin",
  paperclipUrl: null,
  keyholeArgs: [],
});

// keyhole options an operator may add (limits and TLS); everything that
// binds keyhole to a run or a sandbox is the plugin's.
const KEYHOLE_ARGS_OK = new Set([
  "--max-body", "--max-response", "--max-inflight", "--upstream-timeout-ms",
  "--ca-file", "--drain-ms", "--user", "--chroot", "--child-timeout-ms",
]);

function absPath(v, what) {
  if (typeof v !== "string" || !path.isAbsolute(v) || v.includes("\0") || path.normalize(v) !== v) {
    throw new Error(`${what} must be a normalised absolute path`);
  }
  return v;
}

function privateOwned(p, uid) {
  const st = statSync(p);
  if (st.uid !== uid) throw new Error(`${p} must be owned by uid ${uid} (is ${st.uid})`);
  if (st.mode & 0o022) throw new Error(`${p} must not be writable by group or others (mode ${(st.mode & 0o7777).toString(8)})`);
}

export function loadHostConfig(file = HOST_CONFIG) {
  const uid = process.geteuid();
  let raw;
  try {
    privateOwned(path.dirname(file), uid);
    privateOwned(file, uid);
    raw = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    if (e.code === "ENOENT") raw = {};
    else throw new Error(`keyhole plugin host config ${file}: ${e.message}`);
  }
  const c = { ...DEFAULTS, ...raw };
  absPath(c.keyhole, "host.json keyhole");
  absPath(c.policyDir, "host.json policyDir");
  absPath(c.rootDir, "host.json rootDir");
  if (!Array.isArray(c.roBinds)) throw new Error("host.json roBinds must be a list of paths");
  c.roBinds.forEach((b) => absPath(b, "host.json roBinds entry"));
  for (const k of ["uidBase", "uidCount", "maxLeaseSeconds"]) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new Error(`host.json ${k} must be a positive integer`);
  }
  if (c.uidBase < 65536 || c.uidBase + c.uidCount > 4294967294) {
    throw new Error("host.json uidBase..uidBase+uidCount must lie in 65536..4294967294");
  }
  if (typeof c.path !== "string" || !c.path.split(":").every((d) => path.isAbsolute(d))) {
    throw new Error("host.json path must be a list of absolute directories");
  }
  if (c.paperclipUrl !== null && !/^https?:\/\/[^/?#@\s]+\/?$/.test(c.paperclipUrl)) {
    throw new Error("host.json paperclipUrl must be http(s)://HOST[:PORT]");
  }
  if (!Array.isArray(c.keyholeArgs)) throw new Error("host.json keyholeArgs must be a list");
  for (let i = 0; i < c.keyholeArgs.length; i += 2) {
    if (!KEYHOLE_ARGS_OK.has(c.keyholeArgs[i]) || typeof c.keyholeArgs[i + 1] !== "string") {
      throw new Error(`host.json keyholeArgs: '${c.keyholeArgs[i]}' is not one of ${[...KEYHOLE_ARGS_OK].join(" ")} followed by its value`);
    }
  }
  return Object.freeze(c);
}

// The environment's config (board-controlled).  Returns {errors, config}.
export function parseEnvConfig(cfg, host) {
  const errors = [];
  const c = {
    policy: "paperclip",
    passEnv: [],
    port: 4180,
    timeoutMs: 300000,
    reuseLease: false,
  };
  const src = cfg && typeof cfg === "object" ? cfg : {};
  if (src.policy !== undefined) {
    if (typeof src.policy !== "string" || !/^[a-z0-9][a-z0-9._-]{0,63}$/.test(src.policy) || src.policy.includes("..")) {
      errors.push("policy must be the name of a policy in the host's policy directory (e.g. paperclip)");
    } else c.policy = src.policy;
  }
  if (src.passEnv !== undefined) {
    if (!Array.isArray(src.passEnv) || !src.passEnv.every((p) => typeof p === "string" && /^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(p))) {
      errors.push("passEnv must be a list of variable names, each optionally ending in * (a prefix)");
    } else c.passEnv = [...src.passEnv];
  }
  if (src.port !== undefined) {
    if (!Number.isInteger(src.port) || src.port < 1 || src.port > 65535) errors.push("port must be 1..65535");
    else c.port = src.port;
  }
  if (src.timeoutMs !== undefined) {
    if (!Number.isInteger(src.timeoutMs) || src.timeoutMs < 1000) errors.push("timeoutMs must be an integer >= 1000");
    else c.timeoutMs = src.timeoutMs;
  }
  if (src.reuseLease !== undefined) c.reuseLease = src.reuseLease === true;
  if (host && errors.length === 0) {
    const file = policyFile(host, c.policy);
    try {
      statSync(file);
    } catch {
      errors.push(`policy '${c.policy}': ${file} does not exist`);
    }
  }
  return { errors, config: c };
}

export function policyFile(host, name) {
  return path.join(host.policyDir, `${name}.policy`);
}
