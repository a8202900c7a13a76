/*
 * keyhole audit log (parent only): one hash-chained JSON record per
 * decision and lifecycle event, signed checkpoints, crash-safe, written
 * only by the parent.  The record format: audit_format.h and
 * docs/keyhole-audit.5; the verifier: keyhole-audit (src/audit/).
 *
 *   audit.c         the state, appending, the flush at the end of each
 *                   loop turn (write, fdatasync, then the answers it
 *                   describes are released), failures, the event API
 *   audit_record.c  the records: requests, events, checkpoints
 *   audit_file.c    opening, resuming after a crash (a torn last line),
 *                   rotation (SIGUSR1, --audit-max-bytes)
 *   audit_reload.c  reloads: the swap, a failed attempt
 *   audit_crypto.c  the Ed25519 key and its signatures (OpenSSL's
 *                   libcrypto; SHA-256 is sha256.c's)
 *
 * Every function here does nothing when --audit-log is not given, so the
 * hooks in the rest of the parent are one call each.  Nothing here ever
 * writes a body, the bridge token or the credential: a request's query
 * and bodies are recorded as SHA-256 digests and sizes.
 */
#ifndef KH_AUDIT_H
#define KH_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "upstream.h"

struct parent;
struct child;
struct relay_record;
struct evbuffer;
struct kh_gen;

/* Lifecycle events ("event" of a record of type "event"). */
enum audit_ev {
	AUDIT_START,		/* keyhole serving begins: key, policy, config */
	AUDIT_STOP,		/* keyhole stops (followed by the final checkpoint) */
	AUDIT_DRAIN,		/* SIGTERM/SIGINT: draining */
	AUDIT_RELOAD,		/* a reload: swapped, or failed (audit_reload*) */
	AUDIT_CHILD_START,	/* a keyhole-net started */
	AUDIT_CHILD_EXIT,	/* ... exited or was killed */
	AUDIT_CHILD_RESTART,	/* ... will be restarted after a back-off */
	AUDIT_CHILD_STUCK,	/* ... missed its liveness deadline */
	AUDIT_VIOLATION,	/* ... broke the protocol (killed) */
	AUDIT_BUDGET,		/* the run's `max` mutations are spent */
	AUDIT_RECOVER,		/* resumed a file keyhole did not close */
	AUDIT_ROTATE,		/* the first record of a rotated-to file */
	AUDIT_DROPPED,		/* records not written (see kh_limits.h) */
	AUDIT_EV_COUNT
};

/* One field of an event record: a name (a JSON key keyhole chooses) and
 * a string, an integer or a boolean. */
enum audit_ftype { AF_T_END = 0, AF_T_STR, AF_T_INT, AF_T_BOOL };
struct audit_field {
	const char *name;
	enum audit_ftype type;
	const char *s;		/* AF_T_STR: NUL-terminated, may be NULL (null) */
	long long i;		/* AF_T_INT, AF_T_BOOL */
};
#define AF_STR(k, v)	((struct audit_field){ (k), AF_T_STR, (v), 0 })
#define AF_INT(k, v)	((struct audit_field){ (k), AF_T_INT, NULL, \
			    (long long)(v) })
#define AF_BOOL(k, v)	((struct audit_field){ (k), AF_T_BOOL, NULL, \
			    (v) ? 1 : 0 })

/* Record a lifecycle event with at least one field, e.g.
 *   audit_event(AUDIT_RELOAD, AF_STR("policy", hex), AF_BOOL("ok", ok));
 * Strings are made printable and escaped; at most a few hundred bytes
 * each are kept. */
#define audit_event(ev, ...) audit_event_v((ev), (const struct audit_field[]) \
	{ __VA_ARGS__, { NULL, AF_T_END, NULL, 0 } })
void audit_event_v(enum audit_ev ev, const struct audit_field *f);

/* serve.c: open (or resume) the log, load the key, write the start
 * record and make it durable.  Returns 0 (also when --audit-log is not
 * given), or -1 after log_fatal. */
int audit_open(struct parent *p);
/* serve.c: the stop record and the final checkpoint, made durable. */
void audit_close(const char *why, int exit_code);
bool audit_enabled(void);
/* The audit log cannot be written now: the parent refuses new requests
 * (503 PC_AUDIT_UNAVAILABLE) rather than forward what it cannot record. */
bool audit_failing(void);

/* monitor.c: a request the parent is about to forward, checked under
 * generation g (its query's digest and g's policy digest, kept in r:
 * the record names the policy that decided, also when the request ends
 * after a reload). */
void audit_begin(struct up_req *r, const struct kh_gen *g,
    const struct req_checked *ck);
/* answer.c: SHA-256 of a body the child will get (before a frame takes
 * it over). */
void audit_digest(const uint8_t *p, size_t n, uint8_t out[32]);
/* answer.c: the answer to a forwarded request: how the transfer ended,
 * the status and the body's size and digest the child got (status 0:
 * nobody could be answered, the child was gone). */
void audit_forwarded(const struct up_req *r, enum up_result res, int status,
    size_t resp_len, const uint8_t resp_sha[32]);
/* answer.c: the parent answered a checked request itself (why: "rate",
 * "queue-full", "shutting-down", "audit-unavailable", "upstream-start").
 * Returns true when its answer must wait for the record (audit_hold):
 * it was recorded and the log is not failing. */
bool audit_refused(const struct kh_gen *g, uint64_t id,
    const struct req_checked *ck, int status, const char *why,
    const uint8_t *body, size_t blen);
/* monitor.c: a request the child answered itself (MSG_ACCESS): the
 * child's claims, recorded as such ("source":"child"), at most
 * KH_AUDIT_CHILD_PER_S a second (the rest counted). */
void audit_child(const struct kh_gen *g, const struct relay_record *a);

/* reload.c: generation `to` serves from now on instead of `from` (the
 * swap; took_ms since the SIGHUP); an attempt failed and `serving` goes
 * on (audit_reload.c). */
void audit_reload_swap(const struct kh_gen *from, const struct kh_gen *to,
    int64_t took_ms);
void audit_reload_failed(const struct kh_gen *serving, const char *why,
    int64_t took_ms);

/* answer.c: where an answer frame to c goes: an evbuffer the parent
 * holds until the records appended so far are written, at the end of
 * this turn of the event loop, and with sync (the answer to a mutation;
 * every answer with --audit-sync all) until they are also fdatasync'ed.
 * c's own output when the log is off. */
struct evbuffer *audit_hold(struct child *c, bool sync);
/* supervise.c: c is freed; what was held for it is dropped. */
void audit_child_gone(struct child *c);

#endif
