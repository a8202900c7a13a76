// One sandbox per lease: bubblewrap, started as the lease's own uid, with
// new user, pid, network (loopback only), ipc, uts and cgroup namespaces,
// no further user namespaces, a tmpfs root holding read-only /usr and a
// few files of /etc, and the lease's workspace at /workspace.  Its pid 1
// lives until the lease's deadline; every exec joins its namespaces with
// nsenter as the same uid, with no supplementary group, no capability and
// no_new_privs.  Killing pid 1 ends every process of the sandbox (the
// kernel kills a pid namespace with its init).
import { spawn } from "node:child_process";
import { existsSync, lstatSync, readFileSync, readlinkSync } from "node:fs";
import { procStart, runCapture, waitFor } from "./proc.js";

export const WORKSPACE = "/workspace";
export const HOME = "/home/agent";

// /etc entries a shell, coreutils, tar, curl and git need; nothing else of
// the host's /etc is visible.
const ETC = ["alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
  "nsswitch.conf", "hosts", "ssl/certs", "mime.types", "protocols", "services"];

const BWRAP = "/usr/bin/bwrap";
const SETPRIV = "/usr/bin/setpriv";
const NSENTER = "/usr/bin/nsenter";

// The top-level directories of a merged-/usr Debian are symlinks into
// /usr; on a split system they are bound read-only.
function rootLinks() {
  const out = [];
  for (const d of ["bin", "sbin", "lib", "lib32", "lib64", "libx32"]) {
    const p = `/${d}`;
    let st;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) out.push("--symlink", readlinkSync(p), p);
    else if (st.isDirectory()) out.push("--ro-bind", p, p);
  }
  return out;
}

export function bwrapArgs({ uid, workspaceDir, etcDir, roBinds, seconds }) {
  const a = [
    "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
    "--unshare-cgroup-try", "--disable-userns", "--new-session",
    "--hostname", "keyhole-sandbox", "--uid", String(uid), "--gid", String(uid),
    "--ro-bind", "/usr", "/usr", ...rootLinks(),
    "--proc", "/proc", "--dev", "/dev",
    "--tmpfs", "/tmp", "--tmpfs", "/run", "--tmpfs", "/var",
    "--dir", "/etc",
  ];
  for (const e of ETC) a.push("--ro-bind-try", `/etc/${e}`, `/etc/${e}`);
  a.push("--ro-bind", `${etcDir}/passwd`, "/etc/passwd", "--ro-bind", `${etcDir}/group`, "/etc/group");
  a.push("--dir", "/home", "--dir", HOME, "--bind", workspaceDir, WORKSPACE);
  for (const b of roBinds) a.push("--ro-bind-try", b, b);
  a.push("--chdir", WORKSPACE, "--info-fd", "3", "--", "/usr/bin/sleep", String(seconds));
  return a;
}

// Start the sandbox; resolves to {bwrapPid, bwrapStart, initPid, initStart,
// pid, start, netns}: bubblewrap outside, its pid 1 inside (killing it ends
// the sandbox), and the sandbox's command (every exec enters its namespaces).
export function startSandbox(opts, { logFd }) {
  const argv = [SETPRIV, `--reuid=${opts.uid}`, `--regid=${opts.uid}`, "--clear-groups",
    "--no-new-privs", "--", BWRAP, ...bwrapArgs(opts)];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd: "/", detached: true, stdio: ["ignore", logFd, logFd, "pipe"],
      env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" },
    });
    let info = "";
    let done = false;
    const finish = (err, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(v);
    };
    const timer = setTimeout(() => finish(new Error("bubblewrap did not report its sandbox within 15 s")), 15000);
    child.on("error", (e) => finish(new Error(`cannot start bubblewrap: ${e.message}`)));
    child.on("exit", (code, sig) => finish(new Error(`bubblewrap exited (${sig ?? code}) before the sandbox was up`)));
    child.stdio[3].on("data", (d) => {
      info += d;
      let j;
      try {
        j = JSON.parse(info);
      } catch {
        return;
      }
      const initPid = j["child-pid"];
      const initStart = procStart(initPid);
      if (!Number.isInteger(initPid) || initStart == null) {
        finish(new Error("bubblewrap reported no live sandbox"));
        return;
      }
      child.unref();
      child.stdio[3].destroy();
      // bubblewrap reports its pid 1 before that has built the sandbox
      // (uid map, mounts, pivot_root): only once its command runs is the
      // sandbox complete, and only then may anything enter it.
      waitFor(() => commandOf(initPid), 10000, 10).then((cmd) => {
        if (!cmd) {
          finish(new Error("the sandbox's command did not start"));
          return;
        }
        finish(null, {
          bwrapPid: child.pid, bwrapStart: procStart(child.pid), initPid, initStart,
          pid: cmd, start: procStart(cmd), netns: j["net-namespace"] ?? null,
        });
      });
    });
  });
}

// The child of the sandbox's pid 1 running its command (sleep), once it
// has exec'd it.
function commandOf(initPid) {
  let kids;
  try {
    kids = readFileSync(`/proc/${initPid}/task/${initPid}/children`, "latin1").trim().split(/\s+/);
  } catch {
    return null;
  }
  for (const k of kids) {
    try {
      if (k && readFileSync(`/proc/${k}/comm`, "latin1").trim() === "sleep") return Number(k);
    } catch {
      /* gone */
    }
  }
  return null;
}

// The namespaces of pid that differ from ours (nsenter refuses to enter a
// namespace twice only for user; we enter exactly what the sandbox has).
function nsFlags(pid) {
  const flags = [];
  const map = { user: "--user", mnt: "--mount", net: "--net", pid: "--pid", ipc: "--ipc", uts: "--uts", cgroup: "--cgroup" };
  for (const [ns, flag] of Object.entries(map)) {
    let theirs;
    let ours;
    try {
      theirs = readlinkSync(`/proc/${pid}/ns/${ns}`);
      ours = readlinkSync(`/proc/self/ns/${ns}`);
    } catch {
      continue;
    }
    if (theirs !== ours) flags.push(flag);
  }
  return flags;
}

// Run one exec in the sandbox.  cwd is a path inside the sandbox.
export function execInSandbox(sb, { argv, cwd, env, stdin, timeoutMs }) {
  if (procStart(sb.pid) !== sb.start) {
    return Promise.resolve({ exitCode: 1, signal: null, timedOut: false, stdout: "",
      stderr: "keyhole-sandbox: the sandbox has ended\n" });
  }
  const flags = nsFlags(sb.pid);
  if (!flags.includes("--user") || !flags.includes("--net") || !flags.includes("--pid") || !flags.includes("--mount")) {
    return Promise.resolve({ exitCode: 1, signal: null, timedOut: false, stdout: "",
      stderr: "keyhole-sandbox: the sandbox's namespaces are gone\n" });
  }
  const wd = typeof cwd === "string" && cwd.startsWith("/") ? cwd : WORKSPACE;
  // nsenter would open --wd=DIR before entering the mount namespace, so
  // the directory change happens inside, in a shell that then execs argv.
  const full = [SETPRIV, "--clear-groups", "--no-new-privs", "--", NSENTER, `--target=${sb.pid}`,
    ...flags, "--root", "--wd", `--setuid=${sb.uid}`, `--setgid=${sb.uid}`, "--",
    "/bin/sh", "-c", 'cd -- "$0" && exec "$@"', wd, ...argv];
  return runCapture(full, { env, cwd: "/", stdin, timeoutMs });
}

export function sandboxAlive(sb) {
  return !!sb && procStart(sb.initPid) === sb.initStart && procStart(sb.pid) === sb.start;
}

export function bwrapAvailable() {
  return existsSync(BWRAP) && existsSync(NSENTER) && existsSync(SETPRIV);
}

export function passwdFiles(uid) {
  return {
    passwd: `agent:x:${uid}:${uid}:keyhole sandbox:${HOME}:/bin/sh\n`,
    group: `agent:x:${uid}:\n`,
  };
}
