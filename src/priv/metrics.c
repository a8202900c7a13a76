/*
 * keyhole parent: the operator's metrics (metrics.h).  Counting costs a
 * few additions per request; rendering happens only when the operator
 * scrapes (the child asks with MSG_METRICS, monitor.c answers with the
 * text).  Names, types and labels are keyhole(8)'s METRICS section.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "policy_table.h"
#include "priv.h"
#include "sha256.h"
#include "wire.h"

#define M_TRANSPORTS 2		/* http, queue */
#define M_CLASSES 6		/* none (no answer), 1xx .. 5xx */

/* Upstream latency buckets, seconds (Prometheus's defaults, to 30 s: the
 * default --upstream-timeout-ms). */
static const double m_buckets[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
};
#define M_NBUCKETS (sizeof(m_buckets) / sizeof(m_buckets[0]))

struct m_slot {				/* one policy line, or "none" */
	uint32_t line;			/* 0: none */
	uint64_t n[M_TRANSPORTS][M_CLASSES];
};

struct metrics {
	struct m_slot *slots;		/* [0] none, then by line, ascending */
	size_t nslots;
	char policy_sha[2 * SHA256_LEN + 1];
	uint64_t lat[M_NBUCKETS + 1];	/* non-cumulative; last: +Inf */
	uint64_t lat_count;
	double lat_sum;
	uint64_t bytes_in, bytes_out;
	uint64_t restarts, violations, stuck;
	uint64_t limits[ML_END][MB_END];
	uint64_t reloads_ok, reloads_failed;
	int64_t started;		/* unix seconds */
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	if ((m->slots = calloc(1, sizeof(*m->slots))) == NULL) {
		free(m);
		return NULL;
	}
	m->nslots = 1;
	m->started = (int64_t)time(NULL);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m != NULL)
		free(m->slots);
	free(m);
}

static int
metrics_line_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct m_slot *)a)->line;
	uint32_t y = ((const struct m_slot *)b)->line;

	return x < y ? -1 : x > y;
}

static struct m_slot *
metrics_slot(const struct metrics *m, uint32_t line)
{
	struct m_slot key = { .line = line };
	struct m_slot *s;

	if (line == 0 || m->nslots < 2)
		return &m->slots[0];
	s = bsearch(&key, m->slots + 1, m->nslots - 1, sizeof(*s),
	    metrics_line_cmp);
	return s != NULL ? s : &m->slots[0];
}

int
metrics_policy(struct metrics *m, const struct policy *pol,
    const uint8_t *text, size_t len)
{
	struct m_slot *s;
	size_t n = 1;

	if (m == NULL)
		return 0;
	if ((s = calloc(pol->nrules + 1, sizeof(*s))) == NULL)
		return -1;
	s[0] = m->slots[0];
	for (size_t i = 0; i < pol->nrules; i++) {
		uint32_t line = pol->rules[i].line;
		struct m_slot *old = metrics_slot(m, line);
		s[n].line = line;
		if (old->line == line)
			memcpy(s[n].n, old->n, sizeof(s[n].n));
		n++;
	}
	qsort(s + 1, n - 1, sizeof(*s), metrics_line_cmp);
	free(m->slots);
	m->slots = s;
	m->nslots = n;
	sha256_hex(text, len, m->policy_sha);
	return 0;
}

static int
metrics_transport(const char *peer, size_t len)
{
	return len >= 6 && memcmp(peer, "queue:", 6) == 0;
}

static int
metrics_class(int status)
{
	return status >= 100 && status <= 599 ? status / 100 : 0;
}

void
metrics_answered(struct metrics *m, const char *peer, uint32_t line,
    int status, uint64_t bytes_in, uint64_t bytes_out, int64_t upstream_ms)
{
	struct m_slot *s;

	if (m == NULL)
		return;
	s = metrics_slot(m, line);
	s->n[metrics_transport(peer, strlen(peer))][metrics_class(status)]++;
	m->bytes_in += bytes_in;
	if (status != 0)
		m->bytes_out += bytes_out;
	if (upstream_ms >= 0 && status != 0) {
		double sec = (double)upstream_ms / 1000.0;
		size_t b = 0;
		while (b < M_NBUCKETS && sec > m_buckets[b])
			b++;
		m->lat[b]++;
		m->lat_count++;
		m->lat_sum += sec;
	}
}

void
metrics_child_answered(struct metrics *m, const char *peer, size_t peer_len,
    int status, const char *reason, size_t reason_len)
{
	static const char rate[] = "rate limit", budget[] = "Mutation budget";

	if (m == NULL)
		return;
	m->slots[0].n[metrics_transport(peer, peer_len)][metrics_class(status)]++;
	if (status != 429)
		return;
	if (reason_len == sizeof(rate) - 1 && memcmp(reason, rate,
	    reason_len) == 0)
		m->limits[ML_RATE][MB_CHILD]++;
	else if (reason_len >= sizeof(budget) - 1 &&
	    memcmp(reason, budget, sizeof(budget) - 1) == 0)
		m->limits[ML_MAX][MB_CHILD]++;
}

void
metrics_limit(struct metrics *m, enum metrics_limit l, enum metrics_by by)
{
	if (m != NULL && l < ML_END && by < MB_END)
		m->limits[l][by]++;
}

void
metrics_child_restart(struct metrics *m)
{
	if (m != NULL)
		m->restarts++;
}

void
metrics_child_violation(struct metrics *m)
{
	if (m != NULL)
		m->violations++;
}

void
metrics_child_stuck(struct metrics *m)
{
	if (m != NULL)
		m->stuck++;
}

void
metrics_reload(struct metrics *m, bool ok)
{
	if (m != NULL) {
		if (ok)
			m->reloads_ok++;
		else
			m->reloads_failed++;
	}
}

/* ---- rendering ---- */

struct mout {
	char *p;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3)))
mout_printf(struct mout *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = true;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = o->cap * 2 + (size_t)n + 1;
		char *np = ncap <= KH_MSG_MAX ? realloc(o->p, ncap) : NULL;
		if (np == NULL) {
			o->failed = true;
			return;
		}
		o->p = np;
		o->cap = ncap;
	}
}

static void
mout_head(struct mout *o, const char *name, const char *type,
    const char *help)
{
	mout_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
mout_one(struct mout *o, const char *name, const char *type,
    const char *help, uint64_t v)
{
	mout_head(o, name, type, help);
	mout_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void
metrics_render_requests(struct mout *o, const struct metrics *m)
{
	static const char *const tr[M_TRANSPORTS] = { "http", "queue" };
	static const char *const cl[M_CLASSES] = { "none", "1xx", "2xx",
	    "3xx", "4xx", "5xx" };

	mout_head(o, "keyhole_requests_total", "counter", "Requests answered, "
	    "by transport, the policy line that allowed them (none: refused "
	    "before a rule allowed them, by keyhole-net) and status class "
	    "(none: no answer, the child was gone).");
	for (size_t i = 0; i < m->nslots; i++)
		for (int t = 0; t < M_TRANSPORTS; t++)
			for (int c = 0; c < M_CLASSES; c++) {
				const struct m_slot *s = &m->slots[i];
				char rule[16];
				if (s->n[t][c] == 0)
					continue;
				if (s->line == 0)
					strcpy(rule, "none");
				else
					snprintf(rule, sizeof(rule), "%u", s->line);
				mout_printf(o, "keyhole_requests_total{transport="
				    "\"%s\",rule=\"%s\",class=\"%s\"} %llu\n", tr[t],
				    rule, cl[c], (unsigned long long)s->n[t][c]);
			}
}

static void
metrics_render_latency(struct mout *o, const struct metrics *m)
{
	uint64_t cum = 0;

	mout_head(o, "keyhole_upstream_latency_seconds", "histogram",
	    "Time from the upstream request's start to its end, for requests "
	    "the upstream (or its failure) answered.");
	for (size_t b = 0; b < M_NBUCKETS; b++) {
		cum += m->lat[b];
		mout_printf(o, "keyhole_upstream_latency_seconds_bucket"
		    "{le=\"%g\"} %llu\n", m_buckets[b], (unsigned long long)cum);
	}
	mout_printf(o, "keyhole_upstream_latency_seconds_bucket{le=\"+Inf\"} "
	    "%llu\n", (unsigned long long)m->lat_count);
	mout_printf(o, "keyhole_upstream_latency_seconds_sum %.6f\n",
	    m->lat_sum);
	mout_printf(o, "keyhole_upstream_latency_seconds_count %llu\n",
	    (unsigned long long)m->lat_count);
}

static void
metrics_render_child(struct mout *o, const uint64_t child[KH_METRICS_CHILD_N])
{
	mout_one(o, "keyhole_connections_open", "gauge", "Client connections "
	    "keyhole-net holds now (as it reports).", child[MC_CONNS_OPEN]);
	mout_one(o, "keyhole_connections_accepted_total", "counter", "Client "
	    "connections accepted by the current keyhole-net.",
	    child[MC_CONNS_ACCEPTED]);
	mout_one(o, "keyhole_connections_refused_total", "counter", "Client "
	    "connections refused 503 by the current keyhole-net (all busy, "
	    "per-peer cap, shutting down).", child[MC_CONNS_REFUSED]);
	mout_one(o, "keyhole_connections_evicted_total", "counter", "Client "
	    "connections the current keyhole-net closed to make room for a "
	    "newer one.", child[MC_CONNS_EVICTED]);
	mout_one(o, "keyhole_queue_depth", "gauge", "Requests keyhole-net "
	    "accepted and is waiting to answer (both transports): the "
	    "bridge's queue, at most keyhole_queue_depth_max.",
	    child[MC_PENDING]);
	mout_one(o, "keyhole_queue_answers_kept", "gauge", "queue_v1 answers "
	    "keyhole-net keeps in memory because responses/ is full.",
	    child[MC_QUEUE_KEPT]);
}

char *
metrics_render(const struct parent *p, const struct metrics *m,
    const uint64_t child[KH_METRICS_CHILD_N], size_t *len)
{
	static const char *const lim[ML_END] = { "rate", "max" };
	static const char *const by[MB_END] = { "parent", "child" };
	struct mout o = { NULL, 0, 16384, false };

	if (m == NULL || (o.p = malloc(o.cap)) == NULL)
		return NULL;
	mout_head(&o, "keyhole_build_info", "gauge", "keyhole's version and "
	    "wire protocol version.");
	mout_printf(&o, "keyhole_build_info{version=\"%s\",wire=\"%u\"} 1\n",
	    KH_VERSION, (unsigned)KH_WIRE_VERSION);
	mout_one(&o, "keyhole_start_time_seconds", "gauge", "When the parent "
	    "started, in seconds since the epoch.", (uint64_t)m->started);
	mout_head(&o, "keyhole_policy_info", "gauge", "The policy in force: "
	    "the SHA-256 of its text.");
	mout_printf(&o, "keyhole_policy_info{sha256=\"%s\"} 1\n",
	    m->policy_sha[0] != '\0' ? m->policy_sha : "none");
	metrics_render_requests(&o, m);
	metrics_render_latency(&o, m);
	mout_one(&o, "keyhole_request_bytes_total", "counter", "Request body "
	    "bytes the parent forwarded upstream.", m->bytes_in);
	mout_one(&o, "keyhole_response_bytes_total", "counter", "Response "
	    "body bytes the parent returned for forwarded requests.",
	    m->bytes_out);
	mout_one(&o, "keyhole_requests_in_flight", "gauge", "Requests the "
	    "parent has upstream now (every child's: after a reload the "
	    "replaced one finishes its own).", (uint64_t)supervise_inflight(p));
	mout_one(&o, "keyhole_queue_depth_max", "gauge", "Requests in flight "
	    "keyhole accepts before it answers 503 (--max-inflight).",
	    p->cfg->max_inflight);
	mout_head(&o, "keyhole_limit_refusals_total", "counter", "Requests "
	    "refused 429 by the policy's rate or the run's max mutations, by "
	    "who refused them (the parent's own buckets, or keyhole-net).");
	/* The parent answers `max` itself only after a reload: a replaced
	 * child still finishing may send a mutation the new one spent the
	 * budget for (monitor.c, mon_budget_refused); over its own count it
	 * is a protocol violation (request_check). */
	for (int l = 0; l < ML_END; l++)
		for (int b = 0; b < MB_END; b++)
			mout_printf(&o, "keyhole_limit_refusals_total{"
			    "limit=\"%s\",by=\"%s\"} %llu\n", lim[l], by[b],
			    (unsigned long long)m->limits[l][b]);
	mout_one(&o, "keyhole_child_restarts_total", "counter", "keyhole-net "
	    "restarts after it exited, crashed or was killed.", m->restarts);
	mout_one(&o, "keyhole_child_protocol_violations_total", "counter",
	    "keyhole-net processes killed for breaking the protocol.",
	    m->violations);
	mout_one(&o, "keyhole_child_stuck_total", "counter", "keyhole-net "
	    "processes killed for missing the liveness deadline.", m->stuck);
	mout_head(&o, "keyhole_reloads_total", "counter", "Configuration "
	    "reloads (SIGHUP), by result.");
	mout_printf(&o, "keyhole_reloads_total{result=\"success\"} %llu\n"
	    "keyhole_reloads_total{result=\"failure\"} %llu\n",
	    (unsigned long long)m->reloads_ok,
	    (unsigned long long)m->reloads_failed);
	metrics_render_child(&o, child);
	if (o.failed) {
		free(o.p);
		return NULL;
	}
	*len = o.len;
	return o.p;
}
