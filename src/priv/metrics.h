/*
 * keyhole parent: the operator's metrics (metrics.c).  Counters live
 * where the events happen: the parent counts what it forwards, answers
 * and refuses, its children's restarts and violations, and the requests
 * its child answered itself (MSG_ACCESS); the child's connection table
 * and queue arrive with each scrape (MSG_METRICS).  The parent never
 * parses HTTP to serve them: the child serves GET /metrics on the
 * operator's listener and asks the parent for the text (docs/design.md,
 * "Metrics").  Every metric is documented in keyhole(8).
 */
#ifndef KH_METRICS_H
#define KH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics_wire.h"

struct parent;
struct policy;
struct metrics;

enum metrics_limit { ML_RATE = 0, ML_MAX, ML_END };
enum metrics_by { MB_PARENT = 0, MB_CHILD, MB_END };

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);
/* The policy in force: its rules (the `rule` label) and the SHA-256 of
 * its text (keyhole_policy_info).  Counters of a rule line kept across
 * a policy change.  Returns 0, or -1 (memory). */
int metrics_policy(struct metrics *m, const struct policy *pol,
    const uint8_t *text, size_t len);
/* A request the parent answered (forwarded, or refused itself): its
 * peer (the transport: "queue:..." or an HTTP client), the policy line
 * that allowed it, the status it got (0: none, the child was gone), body
 * bytes each way and, when it went upstream, the upstream's time. */
void metrics_answered(struct metrics *m, const char *peer, uint32_t line,
    int status, uint64_t bytes_in, uint64_t bytes_out, int64_t upstream_ms);
/* A request the child answered itself (MSG_ACCESS). */
void metrics_child_answered(struct metrics *m, const char *peer,
    size_t peer_len, int status, const char *reason, size_t reason_len);
void metrics_limit(struct metrics *m, enum metrics_limit l,
    enum metrics_by by);
void metrics_child_restart(struct metrics *m);
void metrics_child_violation(struct metrics *m);
void metrics_child_stuck(struct metrics *m);
/* The reload helper's events (keyhole_reloads_total{result}). */
void metrics_reload(struct metrics *m, bool ok);
/* The whole exposition (Prometheus text format 0.0.4), malloc'd, with
 * the child's counters as it reported them.  NULL when out of memory. */
char *metrics_render(const struct parent *p, const struct metrics *m,
    const uint64_t child[KH_METRICS_CHILD_N], size_t *len);

/* metrics_listen.c: the listener (--metrics), before the parent confines
 * itself.  Returns 0, or -1 after a fatal line. */
int metrics_listen_open(struct parent *p);
void metrics_listen_close(struct parent *p);

#endif
