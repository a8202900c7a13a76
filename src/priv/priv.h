/*
 * keyhole parent: shared state of the serving process.
 *
 *   serve.c      start-up, signals, drain, main loop
 *   supervise.c  fork+exec of the child, reaping, restart with back-off
 *   liveness.c   the child's deadlines: ready in time, answers pings;
 *                systemd's watchdog
 *   monitor.c    the protocol endpoint: every frame from the child through
 *                one dispatch table, each handler checks and then acts
 *   request_check.c  a child's MSG_REQUEST re-checked (pure)
 *                (these two, with the files SECURITY.md's audit map
 *                lists, are everything that decides what the parent
 *                accepts from its child)
 *   relay.c      the child's log and access lines written, rate-limited
 *   ready.c      what follows the first accepted policy: the run's rate
 *                buckets, the ready file, systemd's READY=1
 *   answer.c     answers to forwarded requests, their access-log lines
 *   audit*.c     the audit log (--audit-log): audit.h
 *   upstream.c   libcurl forwarding (upstream_req.c: a request's data and
 *                header list; upstream_recv.c: what comes back;
 *                upstream_mem.c: memory and credential copies)
 *   sandbox_priv.c  the parent's own confinement
 *   queue_dirs.c the queue_v1 transport's directories (opened once)
 *   inject.c     what it writes upstream itself (the credential's header,
 *                the run id, fixed headers), forbidden to the sandbox
 *   metrics.c    the operator's counters and their text (metrics_listen.c:
 *                the listener, served by the child)
 */
#ifndef KH_PRIV_H
#define KH_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <event2/bufferevent.h>
#include <event2/event.h>

#include "budget.h"
#include "child_config.h"
#include "config.h"
#include "listen.h"
#include "log.h"
#include "paperclip.h"
#include "policy_table.h"
#include "secret.h"
#include "upstream.h"

/* Child states, as bits so the dispatch table can name several. */
#define CS_WAIT_POLICY 0x1u	/* exec'd, config sent, no policy yet */
#define CS_SERVING     0x2u	/* policy accepted, requests permitted */
#define CS_DRAINING    0x4u	/* shutdown sent, in-flight finishing */
#define CS_ANY         (CS_WAIT_POLICY | CS_SERVING | CS_DRAINING)
#define CS_GONE        0x8u	/* exited: its last log frames only */

/* The child binary's fd in the parent: above every fixed child fd. */
#define KH_EXE_FD 99

struct child {
	pid_t pid;
	struct bufferevent *bev;	/* parent's end of the socketpair */
	unsigned state;
	bool fatal;			/* sent MSG_FATAL */
	struct up_req *inflight;	/* list of requests upstream */
	size_t ninflight;
	struct event_base *base;
	/* liveness.c */
	struct event *live_ev;		/* its tick, every quarter deadline */
	struct evbuffer_cb_entry *live_in;	/* watches bytes from it */
	int64_t started_ms;		/* exec'd */
	bool pinging;			/* serving: pings started */
	uint64_t ping_id;		/* outstanding MSG_PING's nonce, or 0 */
	unsigned ping_ticks;		/* ticks since it was sent */
	int64_t last_pong_ms;		/* last MSG_PONG (or serving start) */
	int64_t last_io_ms;		/* last byte from it */
	/* Reading stopped: the child has not read KH_CHILD_OUT_HIGH bytes
	 * of our output yet (monitor.c). */
	bool paused;
	/* audit.c: answers held until their records are written ([0]) and
	 * also fdatasync'ed ([1]), and the list of children with such
	 * answers. */
	struct evbuffer *audit_held[2];
	struct child *audit_next;
	bool audit_listed;
};

/* Lines relayed for the child: a token bucket (tokens * 1000) and what
 * was dropped since the last summary (relay.c). */
struct relay_bucket {
	uint64_t level;
	int64_t last_ms;
	uint64_t dropped;
};

struct parent {
	struct kh_config *cfg;
	struct event_base *base;
	struct listener listeners[KH_LISTENERS_MAX];
	size_t nlisteners;
	struct secret credential;
	struct secret token;
	uint8_t *policy_text;		/* bytes only: never parsed here */
	size_t policy_len;
	struct policy *policy;		/* validated table from the 1st child */
	struct upstream *up;
	int exe_fd;			/* the child binary, opened at start */
	struct child_config ccfg;
	struct child *child;		/* current child or NULL */
	pid_t dead_pid;			/* killed, not yet reaped */
	bool ever_served;
	bool child_served;		/* the last child ended got to serve */
	uint32_t backoff_ms;
	int64_t child_started_ms;
	struct event *restart_ev;
	bool draining;
	struct event *drain_ev;
	bool ready_written;
	/* Mutations forwarded this run, across child restarts: the parent's
	 * own count against the policy's `max N`, sent to every new child. */
	uint32_t mutations_used;
	/* The parent's own `rate` buckets (KH_RATE_SLACK_MS larger than the
	 * child's), from the first accepted policy on, across restarts. */
	struct budget rate;
	bool rate_ready;
	/* The child's log and access lines: buckets, the pid they came from,
	 * and the timer that writes what was dropped. */
	struct relay_bucket relay_log, relay_access;
	long relay_pid;
	struct event *relay_ev;
	int exit_code;
	/* queue_v1: requests/, processing/, responses/, inotify, the queue
	 * directory; -1 when absent (child_config.h's fds 13-17). */
	int queue_fds[5];
	/* --metrics: the operator's listener (child's fd 18), or -1. */
	int metrics_fd;
	struct metrics *metrics;	/* metrics.c: the parent's counters */
	/* http2_v1 (connect.c): the launcher's socket and its reports, the
	 * next child's pipes (19-21), the command of the current session. */
	int connect_sock;
	struct event *connect_ev;
	pid_t connect_launcher;
	int connect_fds[3];
	pid_t connect_pid;
};

extern struct parent *kh_parent;

/* supervise.c */
int supervise_spawn(struct parent *p);
void supervise_reap(struct parent *p);
void supervise_kill(struct parent *p, struct child *c, const char *why);
/* Kill c (SIGKILL), forget it and cancel its requests; the reap restarts
 * it.  The caller has logged why. */
void supervise_end(struct parent *p, struct child *c);
int64_t supervise_now_ms(void);
struct event *supervise_restart_event(struct parent *p);

/* monitor.c */
void monitor_attach(struct parent *p, struct child *c);
void monitor_send_config(struct parent *p, struct child *c);
void monitor_send_simple(struct child *c, enum msg_type type);
void monitor_final_read(struct child *c);

/* answer.c */
/* The parent answers a request it checked (ck) itself, instead of
 * forwarding it: status, headers and body copied (the rate's 429).  why
 * names the cause in the access log ("policy:LINE why") and the audit
 * log. */
void answer_refused_with(struct child *c, uint64_t id,
    const struct req_checked *ck, int status, const struct up_hdr *hdrs,
    size_t nhdrs, const uint8_t *body, size_t blen, const char *why);
/* The same with an answer of the contract (overload, shutdown, upstream
 * failures, the audit log): its status and body (paperclip.h). */
void answer_refused(struct child *c, uint64_t id,
    const struct req_checked *ck, enum pc_id pid, const char *why);
/* up_req.done for every forwarded request: answer, log, free. */
void monitor_upstream_done(struct up_req *r, enum up_result res);
/* End c's requests in flight: answered (drain deadline) or, the child
 * being gone, logged as unanswered. */
void monitor_abort_inflight(struct parent *p, struct child *c, bool answer);
/* Status and JSON body (into json[cap]) for a request the upstream did
 * not answer normally: the 409 of a mutation that may have taken effect
 * (*indeterminate), or the plain answer. */
int answer_error_for(enum up_result res, bool safe, bool sent, char *json,
    size_t cap, bool *indeterminate);

/* relay.c: what monitor.c accepted of the child's log, written within
 * the relay limits (KH_RELAY_*), drops counted and reported. */
struct relay_record {			/* MSG_ACCESS's fields, into the frame */
	const char *peer, *method, *path, *reason;
	size_t peer_len, method_len, path_len, reason_len;
	uint16_t status;
	uint64_t bytes_in, bytes_out;
};
/* Take a token from b (per_s a second, at most burst); false: none
 * left, counted in b->dropped. */
bool relay_take(struct relay_bucket *b, unsigned per_s, unsigned burst,
    int64_t now_ms);
void relay_log(struct parent *p, struct child *c, enum log_level level,
    const char *line, size_t len);
void relay_access(struct parent *p, struct child *c,
    const struct relay_record *r);
/* The first MSG_FATAL of a child is always written. */
void relay_fatal(struct parent *p, struct child *c, const char *line,
    size_t len);
/* Write the summary of dropped lines now, if any were dropped. */
void relay_flush(struct parent *p);

/* ready.c: after the first accepted policy table */
/* The first table is the run's (p->policy, its rate buckets).  Returns 0,
 * or -1 (out of memory: nothing kept). */
int ready_policy(struct parent *p, struct policy *pol);
/* A child serves: ready file, READY=1 the first time. */
void ready_serving(struct parent *p);

/* liveness.c */
int liveness_attach(struct parent *p, struct child *c);
void liveness_detach(struct child *c);

/* sandbox_priv.c */
int sandbox_priv_enter(struct parent *p);

/* run.c */
int run_main(int argc, char **argv);
/* queue_dirs.c */
int queue_dirs_open(struct parent *p);

/* serve.c */
int serve_main(int argc, char **argv);
void serve_child_gone(struct parent *p);

#endif
