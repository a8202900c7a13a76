// Paperclip plugin manifest (PaperclipPluginManifestV1): one sandbox
// provider, driver key "keyhole".
export default {
  id: "keyhole.sandbox",
  apiVersion: 1,
  version: "0.1.0",
  displayName: "keyhole sandbox",
  description: "Runs each lease in a bubblewrap sandbox on this host with nothing but loopback; " +
    "the agent reaches Paperclip only through a keyhole bound to its run, which holds the run's credential outside the sandbox.",
  author: "keyhole",
  categories: ["workspace"],
  // events.subscribe: agent.run.cancelled, to end a cancelled run's sandbox
  // at once (Paperclip does not stop a plugin's exec in flight).
  capabilities: ["environment.drivers.register", "events.subscribe"],
  entrypoints: { worker: "./worker.js" },
  environmentDrivers: [
    {
      driverKey: "keyhole",
      kind: "sandbox_provider",
      displayName: "keyhole sandbox (local, bubblewrap)",
      description: "A sandbox per lease: own user, pid, mount and network namespaces (loopback only), " +
        "a private /workspace; Paperclip's API only through keyhole, bound to the run's issue.",
      sandboxCapabilities: { reusableLeases: true },
      configSchema: {
        type: "object",
        properties: {
          policy: {
            type: "string", default: "paperclip",
            description: "Name of a keyhole policy in the host's policy directory (host.json policyDir), without .policy.",
          },
          passEnv: {
            type: "array", items: { type: "string" }, default: [],
            description: "The agent's own variables (from its adapter config) that may enter the sandbox: names, or prefixes ending in *. Secrets never do.",
          },
          port: { type: "integer", default: 4180, description: "keyhole's port on 127.0.0.1 inside each sandbox." },
          timeoutMs: { type: "integer", default: 300000, description: "Default exec timeout (ms)." },
          reuseLease: { type: "boolean", default: false, description: "Keep the sandbox for the agent's next run (keyhole is per run either way)." },
        },
      },
    },
  ],
};
