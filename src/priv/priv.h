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
 *   ready.c      what follows an accepted policy: the generation's rate
 *                buckets, the ready file, systemd's READY=1
 *   gen.c        configuration generations: policy text, bindings,
 *                token, table and buckets, replaced as one by a reload
 *   reload.c     SIGHUP: a new child with the new configuration, the
 *                swap once its table is accepted (reload_retire.c: the
 *                old child finishing; reload_cmd.c: `keyhole reload`)
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
#include "gen.h"
#include "listen.h"
#include "log.h"
#include "paperclip.h"
#include "policy_table.h"
#include "reload.h"
#include "secret.h"
#include "upstream.h"

/* Child states, as bits so the dispatch table can name several. */
#define CS_WAIT_POLICY 0x1u	/* exec'd, config sent, no policy yet */
#define CS_SERVING     0x2u	/* policy accepted, requests permitted */
#define CS_DRAINING    0x4u	/* shutdown sent, in-flight finishing */
#define CS_RETIRED     0x8u	/* replaced by a reload, finishing */
#define CS_ANY         (CS_WAIT_POLICY | CS_SERVING | CS_DRAINING | \
			CS_RETIRED)
#define CS_GONE        0x10u	/* exited: its last log frames only */

/* A child's place in the parent (supervise.c, reload.c). */
enum child_role {
	CHILD_CURRENT = 0,	/* p->child: restarted when it dies */
	CHILD_CANDIDATE,	/* p->candidate: a reload's new child, not
				   serving before its table is accepted */
	CHILD_RETIRED,		/* on p->retired: finishing, never restarted */
};
/* "current", "candidate", "retired" (the audit log's child records). */
static inline const char *
child_role_name(enum child_role r)
{
	return r == CHILD_CANDIDATE ? "candidate" :
	    r == CHILD_RETIRED ? "retired" : "current";
}

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
	/* Its configuration (a reference): every request it sends is
	 * re-checked against gen->policy. */
	struct kh_gen *gen;
	enum child_role role;
	struct child *next_retired;
	struct event *retire_ev;	/* reload.c: its finishing deadline */
	bool retire_late;		/* that deadline passed once */
	bool retire_acked;		/* sent MSG_RETIRED */
	/* The mutations this child knows of: the count it was told in
	 * MSG_CONFIG and those it forwarded since.  Over `max` by its own
	 * count is an attack; over by the run's only (another child, after
	 * a reload, forwarded some meanwhile) is answered 429. */
	uint32_t mutations_seen;
	/* http2_v1: the pid of its session's CMD (connect.c), or 0 (none:
	 * a reload's candidate, or the command exited). */
	pid_t session;
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
	struct secret credential;	/* until upstream_new takes it */
	/* The current configuration (gen.h): policy text (bytes only,
	 * never parsed here), bindings, token, validated table, buckets. */
	struct kh_gen *gen;
	struct upstream *up;
	int exe_fd;			/* the child binary, opened at start */
	struct child_config ccfg;
	struct child *child;		/* current child or NULL */
	struct child *candidate;	/* a reload's new child, or NULL */
	struct child *retired;		/* replaced children still finishing */
	size_t nretired;
	struct reload reload;		/* reload.h */
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
	/* The child's log and access lines: buckets, the pid they came from,
	 * and the timer that writes what was dropped. */
	struct relay_bucket relay_log, relay_access;
	long relay_pid;
	struct event *relay_ev;
	long pid;			/* getpid() once, for the access lines */
	int exit_code;
	/* queue_v1: requests/, processing/, responses/, inotify, the queue
	 * directory; -1 when absent (child_config.h's fds 13-17). */
	int queue_fds[5];
	/* --metrics: the operator's listener (child's fd 18), or -1. */
	int metrics_fd;
	struct metrics *metrics;	/* metrics.c: the parent's counters */
	/* http2_v1 (connect.c): the launcher's socket and its reports, the
	 * next child's pipes (19-21). */
	int connect_sock;
	struct event *connect_ev;
	pid_t connect_launcher;
	int connect_fds[3];
	/* http2_v1 under a reload (reload.c): the new generation's child
	 * waits until the retired one is gone and its session's CMD has
	 * exited (connect_old: that CMD's pid until the launcher reports it):
	 * one session at a time. */
	bool connect_pending;
	pid_t connect_old;
};

extern struct parent *kh_parent;

/* supervise.c */
/* Start a child of generation g in the given role (current: p->child;
 * candidate: p->candidate).  Returns 0 or -1 (logged). */
int supervise_spawn(struct parent *p, struct kh_gen *g, enum child_role role);
void supervise_reap(struct parent *p);
/* c is the current, the candidate or a retired child (not freed). */
bool supervise_live(const struct parent *p, const struct child *c);
/* Requests upstream, every child together (--max-inflight). */
size_t supervise_inflight(const struct parent *p);
void supervise_kill(struct parent *p, struct child *c, const char *why);
/* Kill c (SIGKILL), forget it and cancel its requests; the reap restarts
 * it.  The caller has logged why. */
void supervise_end(struct parent *p, struct child *c);
/* Kill c and forget it, never restarted, nothing reported (a reload's
 * candidate that failed; a starting child a reload replaced). */
void supervise_discard(struct parent *p, struct child *c);
int64_t supervise_now_ms(void);
struct event *supervise_restart_event(struct parent *p);

/* monitor.c */
void monitor_attach(struct parent *p, struct child *c);
void monitor_send_config(struct parent *p, struct child *c);
void monitor_send_simple(struct child *c, enum msg_type type);
/* c has exited (reaped): take the log, access and fatal frames it wrote
 * before, still in the socket; nothing else of it is acted on. */
void monitor_final_read(struct parent *p, struct child *c);

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

/* ready.c: after an accepted policy table */
/* The first table of generation g is g's (its rate buckets, carried over
 * from the current generation's).  Returns 0, or -1 (out of memory:
 * nothing kept). */
int ready_policy(struct parent *p, struct kh_gen *g, struct policy *pol);
/* A child serves: ready file, READY=1 the first time. */
void ready_serving(struct parent *p);
/* (Re)write the ready file, with the reload fields (reload.c). */
void ready_write(struct parent *p);

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
