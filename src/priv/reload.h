/*
 * keyhole parent: reload (SIGHUP, `keyhole reload`, systemd's
 * ExecReload=).  See reload.c for the sequence and docs/design.md,
 * "Reload", for why it is safe.
 *
 * The API other parts of the parent use (metrics, audit): the counters
 * and an observer called once per finished attempt.
 */
#ifndef KH_RELOAD_H
#define KH_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "json_out.h"
#include "kh_limits.h"
#include "log.h"
#include "secret.h"

struct parent;
struct child;
struct up_cred;

/* One finished reload attempt, for observers.  Pointers valid during the
 * call only. */
struct reload_event {
	bool ok;
	uint64_t generation;		/* serving now (the new one if ok) */
	const char *error;		/* why it failed ("" when ok) */
	const uint8_t *policy_text;	/* the serving generation's policy */
	size_t policy_len;
	int64_t took_ms;		/* SIGHUP to the swap (or the failure) */
};
typedef void (*reload_observer_fn)(const struct reload_event *ev, void *arg);
#define KH_RELOAD_OBSERVERS 4

struct reload {
	bool running;			/* an attempt is under way */
	/* Swapped; the attempt ends when this retired child has closed its
	 * listeners (MSG_RETIRED) or is gone: only then does every new
	 * connection reach the new child. */
	struct child *awaiting;
	bool again;			/* SIGHUP meanwhile: reload once more */
	/* http2_v1: swapped; the attempt ends when the new generation's
	 * child, with its new session, serves (reload_connect.c). */
	bool connect_wait;
	int64_t started_ms;		/* util_now_ms() */
	int64_t started_us;		/* CLOCK_MONOTONIC, for keyhole reload */
	struct up_cred *cred;		/* a rotated credential, until the swap */
	char error[512];		/* the attempt's first error */
	/* Finished attempts. */
	uint64_t ok, failed;
	bool last_ok;
	int64_t last_started_us;
	char last_error[512];
	char last_at[JSON_ISO_LEN];
	/* Where the credential and token came from: the environment is
	 * wiped at start, so a reload keeps what it gave. */
	bool cred_from_env, token_from_env;
	/* queue_v1: pids of retired children that held the queue, until
	 * reaped; the current child gets MSG_QUEUE_START only after. */
	pid_t queue_holders[KH_RETIRING_MAX];
	size_t nholders;
	bool queue_waiting;
	char started_at[JSON_ISO_LEN];	/* the ready file's startedAt */
	struct {
		reload_observer_fn fn;
		void *arg;
	} observers[KH_RELOAD_OBSERVERS];
	size_t nobservers;
};

/* SIGHUP. */
void reload_request(struct parent *p);
/* reload.c, for reload_retire.c: the attempt's outcome (counters, log,
 * systemd, ready file, observers); a failure ends the candidate. */
void reload_finish(struct parent *p, bool ok, const char *why);
void reload_fail(struct parent *p, const char *why);
/* reload_retire.c: c (the old current child) gets MSG_RETIRE with g's
 * token and joins p->retired. */
struct kh_gen;
void reload_retire(struct parent *p, struct child *c, const struct kh_gen *g);
/* reload_retire.c: a candidate that only compiled the new policy
 * (http2_v1: reload_connect.c) is told to exit, and ended at --drain-ms
 * if it has not. */
void reload_dismiss(struct parent *p, struct child *c);
/* monitor.c: the candidate's table was accepted (c->gen->policy set):
 * it becomes the current child, the old one is retired. */
void reload_swap(struct parent *p, struct child *c);
/* monitor.c: the current child serves: MSG_QUEUE_START unless a retired
 * child still holds the queue. */
void reload_queue_start(struct parent *p, struct child *c);
/* A log line of the candidate (its first error is the attempt's). */
void reload_note_line(struct parent *p, struct child *c,
    enum log_level level, const char *line, size_t len);
/* Why the candidate is being ended (before supervise_end). */
void reload_note_error(struct parent *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* supervise.c: the candidate is gone before its table was accepted
 * (`how`: how it exited, or NULL when the parent killed it). */
void reload_candidate_gone(struct parent *p, const char *how);
/* supervise.c: a child that was retired (or killed) has been reaped. */
void reload_reaped(struct parent *p, pid_t pid);
/* monitor.c: MSG_RETIRED from c. */
void reload_retired_ack(struct parent *p, struct child *c);
/* supervise.c: c is being freed (its reload state; a swap waiting for
 * it ends). */
void reload_child_free(struct parent *p, struct child *c);
/* monitor.c: c, the current child, serves (its table accepted). */
void reload_child_serves(struct parent *p, struct child *c);
/* reload_connect.c, http2_v1: the candidate (no session) was accepted:
 * it goes, the old child finishes its streams, then the new generation's
 * child starts with a new session. */
void reload_connect_swap(struct parent *p, struct child *c,
    struct child *oldc);
/* supervise.c, connect.c: a retired child or its session's CMD is gone:
 * start the new generation's child if nothing of the old session is left. */
void reload_connect_next(struct parent *p);
/* ready.c: the ready file's reload members (",\"generation\":N,..."). */
void reload_ready_fields(const struct parent *p, char *out, size_t cap);
/* serve.c: SIGTERM: the candidate goes, retired children drain too. */
void reload_drain(struct parent *p);

/* For metrics and audit. */
int reload_observe(struct parent *p, reload_observer_fn fn, void *arg);
uint64_t reload_count_ok(const struct parent *p);
uint64_t reload_count_failed(const struct parent *p);
uint64_t reload_generation(const struct parent *p);

/* reload_cmd.c: `keyhole reload`. */
int reload_cmd_main(int argc, char **argv);

#endif
