// What reaches the sandbox of Paperclip's exec environments, and the run's
// credential, which never does.
//
// Paperclip hands an exec the variables it wants added, and some execs get
// far more than that: the `command -v` probe of the agent command carries
// the server's whole environment (PAPERCLIP_AGENT_JWT_SECRET, the key that
// signs every agent's token, among it) and the run's JWT; the bridge launch
// carries the bridge token; the agent command the GitHub broker's token.
// Nothing goes in by default: a variable reaches the sandbox only when its
// name is on the list below or on the environment's passEnv, and even then
// not when its name or its value says it is a secret.

// Paperclip's run context, git/gh neutralisation, the Claude runtime: none
// of them secret.
const ALLOW = new Set([
  "PATH", "LANG", "LC_ALL", "TZ", "TERM",
  "PAPERCLIP_AGENT_ID", "PAPERCLIP_COMPANY_ID", "PAPERCLIP_RUN_ID", "PAPERCLIP_TASK_ID",
  "PAPERCLIP_ISSUE_WORK_MODE", "PAPERCLIP_WAKE_REASON", "PAPERCLIP_WAKE_PAYLOAD_JSON",
  "PAPERCLIP_WAKE_COMMENT_ID", "PAPERCLIP_APPROVAL_ID", "PAPERCLIP_APPROVAL_STATUS",
  "PAPERCLIP_LINKED_ISSUE_IDS", "PAPERCLIP_WORKSPACE_CWD", "PAPERCLIP_WORKSPACE_SOURCE",
  "PAPERCLIP_WORKSPACE_STRATEGY", "PAPERCLIP_WORKSPACE_ID", "PAPERCLIP_GIT_METADATA_ROOTS",
  "PAPERCLIP_GITHUB_AUTH_MODE", "PAPERCLIP_GITHUB_LAUNCHER_DIR", "PAPERCLIP_GITHUB_OPERATION_ACTIVE",
  "PAPERCLIP_RUNNER_NETWORK_ROOTS", "AGENT_HOME",
  "CLAUDE_CONFIG_DIR", "ANTHROPIC_CUSTOM_HEADERS", "ZDOTDIR", "BASH_ENV", "GH_CONFIG_DIR",
  "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_COUNT",
  "GIT_TERMINAL_PROMPT", "GIT_SSH_COMMAND", "GIT_ASKPASS", "SSH_ASKPASS", "SSH_AUTH_SOCK",
  "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
  // Set to "" by Paperclip to switch host credentials off; a non-empty
  // value is dropped by SECRET_NAME below.
  "GH_TOKEN", "GITHUB_TOKEN", "GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN", "PAPERCLIP_GIT_TOKEN",
]);

// Never, whatever passEnv says: the API endpoint and key (the plugin sets
// keyhole's), Paperclip's server secrets and configuration, its bridge and
// its GitHub broker (a direct channel to the real server), keyhole's own.
const DENY = new Set([
  "PAPERCLIP_API_KEY", "PAPERCLIP_API_URL", "PAPERCLIP_AGENT_JWT_SECRET",
  "PAPERCLIP_TOOL_ACTION_SIGNING_SECRET", "PAPERCLIP_API_BRIDGE_MODE", "PAPERCLIP_HOME",
  "PAPERCLIP_CONFIG", "PAPERCLIP_INSTANCE_ID", "PAPERCLIP_SANDBOX_EXEC_CHANNEL",
  "PAPERCLIP_RUNNER_NETWORK_ACCESS",
]);
const DENY_PREFIX = ["PAPERCLIP_SECRETS_", "PAPERCLIP_BRIDGE_", "PAPERCLIP_GITHUB_BROKER_",
  "PAPERCLIP_RUNTIME_API_", "PAPERCLIP_LISTEN_", "KEYHOLE_", "DATABASE_"];
const SECRET_NAME = /(SECRET|TOKEN|PASSW|CREDENTIAL|PRIVATE|API_?KEY|AUTH)/i;
// A JWT anywhere in a value (three base64url parts, the first a JSON object).
const JWT_IN = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/;
export const JWT_RE = /^eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function passes(name, patterns) {
  return patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) : name === p));
}

// The environment of one exec in the sandbox: base, then what Paperclip
// sent that passes, then the keyhole endpoint when there is one.  secrets
// are values never to pass whatever their name (the run JWT, the bridge
// token Paperclip generated).  Returns {env, dropped: [names]}.
export function sandboxEnv(sent, { base, passEnv = [], secrets = [], keyhole = null }) {
  const env = { ...base };
  const dropped = [];
  for (const [k, v] of Object.entries(sent || {})) {
    if (typeof v !== "string") continue;
    const wanted = ALLOW.has(k) || passes(k, passEnv);
    const denied = DENY.has(k) || DENY_PREFIX.some((p) => k.startsWith(p)) ||
      (v !== "" && SECRET_NAME.test(k)) || JWT_IN.test(v) ||
      secrets.some((s) => s && v.includes(s)) || k.includes("=") || v.includes("\0");
    if (wanted && !denied) env[k] = v;
    else dropped.push(k);
  }
  if (keyhole) {
    env.PAPERCLIP_API_URL = keyhole.url;
    env.PAPERCLIP_API_KEY = keyhole.token;
  }
  return { env, dropped };
}

// The claims of a JWT (not verified: the plugin cannot and must not hold
// the signing key; it only decides whether Paperclip handed it this run's
// token).  null when it is not one.
export function jwtClaims(token) {
  if (typeof token !== "string" || !JWT_RE.test(token) || token.length > 8192) return null;
  try {
    const body = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const claims = JSON.parse(Buffer.from(body, "base64").toString("utf8"));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

// Is token the JWT of run runId of agent agentId in company companyId,
// valid now?  Returns a reason string when not.
export function runTokenMismatch(claims, { runId, agentId, companyId, now = Date.now() }) {
  if (!claims) return "not a JWT";
  if (claims.iss !== "paperclip" || claims.aud !== "paperclip-api") return "not a Paperclip agent token";
  if (!runId || claims.run_id !== runId) return `issued for run ${claims.run_id}, not ${runId}`;
  if (agentId && claims.sub !== agentId) return `issued to agent ${claims.sub}, not ${agentId}`;
  if (companyId && claims.company_id !== companyId) return "issued for another company";
  if (typeof claims.exp === "number" && claims.exp * 1000 <= now) return "expired";
  return null;
}

// One path segment keyhole will accept for --run-id / --var issue=.
export function safeId(v) {
  return typeof v === "string" && /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(v) ? v : null;
}
