/*
 * keyhole child configuration: the payload of MSG_CONFIG, the first frame
 * the parent sends a freshly exec'd child (which has an empty environment
 * and a fixed argv, so everything it needs arrives here).
 *
 * Payload (integers big-endian, str as in wire.h), in this order:
 *   u32 max_conns, u32 max_conns_per_peer (0 = no per-peer cap; else
 *   at most max_conns), u32 max_inflight, u32 max_head, u32 max_headers,
 *   u64 max_body, u32 head_timeout_ms, u32 body_timeout_ms,
 *   u32 idle_timeout_ms, u32 write_timeout_ms, u32 body_min_rate
 *   (bytes/s, 0 = off), u8 nlisteners,
 *   u8 drop_user, u32 uid, u32 gid,   setresgid/setresuid when drop_user
 *   u8 do_chroot, str chroot_dir,     chroot when do_chroot
 *   str token                         the bridge token (NOT the credential:
 *                                     the sandbox holds it anyway); empty
 *                                     only with no listener (the queue
 *                                     alone checks no token)
 *   str policy_name                   the policy's file name, for messages
 *   u8 queue, u8 queue_inotify,       queue_v1 transport: fds 13-15 hold
 *   u32 queue_poll_ms, u8 queue_chroot  requests/, processing/, responses/;
 *                                     fd 16 an inotify instance watching
 *                                     requests/ (when queue_inotify); fd 17
 *                                     the queue directory itself, which
 *                                     the child chroots into and closes
 *                                     (when queue_chroot, i.e. root)
 *   u8 nvars (0..KH_POLICY_VARS_MAX), nvars * ( str name, str value )
 *                                     the run's variable bindings (--var):
 *                                     distinct valid names, each value one
 *                                     canonical path segment
 *   u32 mutations_used                mutations the parent has already
 *                                     forwarded this run, so a restarted
 *                                     child continues the policy's `max N`
 *                                     budget instead of starting afresh
 *   u8 nforbid (0..KH_FORBID_EXTRA_MAX), nforbid * str name
 *                                     header names the parent writes
 *                                     upstream itself by configuration
 *                                     (--auth header:NAME, --run-id-header,
 *                                     --upstream-header): lower-case tokens,
 *                                     distinct; the child forbids them as
 *                                     the parent does (policy_forbid_add)
 *   u8 metrics                        1: fd 18 is the operator's metrics
 *                                     listener (--metrics); 0: none
 *   u8 connect, u32 h2_max_streams,   http2_v1 over a command's stdio:
 *   str h2_nonce                      fds 19 (the command's stdout), 20
 *                                     (its stdin), 21 (its stderr); the
 *                                     streams at once, and the nonce its
 *                                     READY line must carry (32 hex)
 */
#ifndef KH_CHILD_CONFIG_H
#define KH_CHILD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "kh_limits.h"
#include "policy_table.h"
#include "wire.h"

#define KH_LISTENERS_MAX  8u
#define KH_CHILD_FD_PARENT 3	/* socketpair end */
#define KH_CHILD_FD_POLICY 4	/* policy text, read to EOF then closed */
#define KH_CHILD_FD_LISTEN 5	/* first listening socket */
/* queue_v1: fixed numbers above the listener range, so the child's seccomp
 * filter can name them (openat/renameat/unlinkat only relative to these). */
#define KH_CHILD_FD_QREQ   (KH_CHILD_FD_LISTEN + (int)KH_LISTENERS_MAX)	/* 13 */
#define KH_CHILD_FD_QPROC  (KH_CHILD_FD_QREQ + 1)	/* processing/ */
#define KH_CHILD_FD_QRESP  (KH_CHILD_FD_QREQ + 2)	/* responses/ */
#define KH_CHILD_FD_QNOTIFY (KH_CHILD_FD_QREQ + 3)	/* inotify on requests/ */
#define KH_CHILD_FD_QROOT  (KH_CHILD_FD_QREQ + 4)	/* the queue dir (chroot) */
/* The operator's metrics listener (--metrics), never the sandbox's. */
#define KH_CHILD_FD_METRICS (KH_CHILD_FD_QREQ + 5)	/* 18 */
/* http2_v1 over a command's stdio (`--connect`): the pipes the parent's
 * launcher made for the command, every byte of them the sandbox's. */
#define KH_CHILD_FD_H2IN   (KH_CHILD_FD_METRICS + 1)	/* 19: CMD's stdout */
#define KH_CHILD_FD_H2OUT  (KH_CHILD_FD_METRICS + 2)	/* 20: CMD's stdin */
#define KH_CHILD_FD_H2ERR  (KH_CHILD_FD_METRICS + 3)	/* 21: CMD's stderr */
#define KH_CHILD_FD_LAST   KH_CHILD_FD_H2ERR

struct child_config {
	uint32_t max_conns;
	uint32_t max_conns_per_peer;	/* TCP peers; 0 = no cap */
	uint32_t max_inflight;
	uint32_t max_head;
	uint32_t max_headers;
	uint64_t max_body;
	uint32_t head_timeout_ms;
	uint32_t body_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t write_timeout_ms;
	uint32_t body_min_rate;
	uint8_t nlisteners;
	bool drop_user;
	uint32_t uid;
	uint32_t gid;
	bool do_chroot;
	char chroot_dir[256];
	char token[KH_TOKEN_MAX + 1];
	size_t token_len;
	char policy_name[256];
	bool queue;			/* queue_v1 transport on */
	bool queue_inotify;		/* fd 16 is an inotify instance */
	uint32_t queue_poll_ms;		/* scan interval without inotify */
	bool queue_chroot;		/* chroot into fd 17 (root only) */
	struct pol_bindings vars;
	uint32_t mutations_used;
	uint8_t nforbid;
	char forbid[KH_FORBID_EXTRA_MAX][KH_HNAME_MAX + 1];
	bool metrics;			/* fd 18: the metrics listener */
	bool connect;			/* http2_v1 on fds 19-21 */
	uint32_t h2_max_streams;
	char h2_nonce[KH_H2_NONCE_LEN + 1];
};

void child_config_encode(const struct child_config *c, struct wbuf *w);
/* Returns 0 or -1 (malformed, or a value outside its limit). */
int child_config_decode(struct msg_reader *r, struct child_config *c);

#endif
