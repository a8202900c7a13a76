/* keyhole parent configuration: command line and environment. */
#ifndef KH_CONFIG_H
#define KH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "child_config.h"
#include "inject.h"

struct listen_spec {
	bool is_unix;
	bool activated;		/* inherited from systemd (LISTEN_FDS) */
	char host[64];		/* tcp: numeric address */
	uint16_t port;		/* tcp: 0 = pick a free one */
	char path[108];		/* unix */
};

struct kh_config {
	const char *policy_file;
	const char *upstream;
	const char *credential_file;
	const char *token_file;
	const char *run_id;
	const char *ready_file;
	const char *user;		/* NULL: "nobody" when root */
	const char *chroot_dir;
	const char *ca_file;
	const char *net_binary;		/* NULL: keyhole-net beside keyhole */
	const char *queue_dir;		/* queue_v1 transport, or NULL */
	bool queue_poll;		/* --queue-watch poll: no inotify */
	uint32_t queue_poll_ms;
	size_t nlisten;
	const char *netns;		/* TCP listeners are created in it */
	unsigned unix_mode;		/* Unix socket file mode */
	const char *unix_owner;		/* USER[:GROUP] or NULL */
	struct listen_spec listen[KH_LISTENERS_MAX];
	uint64_t max_body;
	uint64_t max_response;
	uint32_t max_inflight;
	uint32_t max_conns;
	uint32_t max_conns_per_peer;	/* 0 = no per-peer cap */
	uint32_t max_head;
	uint32_t max_headers;
	uint32_t upstream_timeout_ms;
	uint32_t head_timeout_ms;
	uint32_t body_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t write_timeout_ms;
	uint32_t body_min_rate;
	uint32_t drain_ms;
	uint32_t child_timeout_ms;	/* liveness.c: ready / ping deadline */
	struct pol_bindings vars;	/* --var, then KEYHOLE_VAR_* */
	size_t nvars_cli;		/* the first ones, from --var */
	const char *var_file;		/* --var-file (re-read by a reload) */
	struct inject_cfg inject;	/* --auth, --run-id-header, --upstream-header */
	bool metrics_on;		/* --metrics */
	struct listen_spec metrics;	/* the operator's metrics listener */
	unsigned metrics_mode;		/* its Unix socket's mode */
	bool verbose;
	int log_format;			/* enum log_format; -1 = by isatty */
	bool log_syslog;
	/* The audit log (config_audit.c, audit.c, keyhole-audit(5)); NULL:
	 * none. */
	const char *audit_log;
	const char *audit_key;		/* NULL: $CREDENTIALS_DIRECTORY/... */
	uint32_t audit_ckpt_records;
	uint32_t audit_ckpt_secs;
	uint64_t audit_max_bytes;	/* 0: never rotated by size */
	bool audit_sync_all;		/* fdatasync for every answer */
	/* http2_v1 over a command's stdio (config_connect.c) */
	const char *connect;		/* CMD, or NULL */
	const char *gateway_host;
	uint16_t gateway_port;
	const char *gateway_cmd;	/* script mode: the remote command */
	const char *gateway_upload;	/* script mode: a file to install */
	const char *gateway_path;	/* ... here */
	const char *connect_keep[16];	/* names passed to CMD */
	size_t connect_nkeep;
	uint32_t h2_max_streams;
};

/* Parse `keyhole serve` arguments (argv[0] = "serve") and the environment.
 * Prints a message naming the option and exits 2 on a usage error. */
void config_parse_serve(int argc, char **argv, struct kh_config *cfg);
void config_usage(FILE *f);
/* A bad command line: the message, "(see keyhole --help)", exit 2. */
void config_die(const char *fmt, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
/* s as a number in [min, max], or config_die naming the option `what`. */
uint64_t config_num(const char *what, const char *s, uint64_t min,
    uint64_t max);
/* config_connect.c: option (index from OPT_CONNECT) and the final check;
 * both exit 2 on a usage error. */
void config_connect_opt(int which, const char *arg, struct kh_config *cfg);
void config_connect_check(struct kh_config *cfg);
/* config_audit.c: the same for --audit-log and its options (index from
 * OPT_AUDIT_LOG), and the defaults. */
void config_audit_defaults(struct kh_config *cfg);
void config_audit_opt(int which, const char *arg, struct kh_config *cfg);
void config_audit_check(const struct kh_config *cfg);

#endif
