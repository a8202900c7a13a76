/*
 * keyhole parent: what follows a child's first accepted policy table.
 * monitor.c's mon_policy only checks the table and acts on the protocol;
 * the run's own state and the operator's signs of readiness are here:
 *
 *   ready_policy   a generation's first table: the parent keeps it, with
 *                  its own `rate` buckets, and logs what it accepted
 *   ready_write    the ready file, rewritten after every reload attempt
 *                  with its reload members (reload.c)
 *   ready_serving  a child serves: the first time, the listeners and the
 *                  queue are logged, the ready file (--ready-file) is
 *                  written and systemd is told READY=1; a restarted child
 *                  only updates systemd's STATUS
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "ready_file.h"
#include "sdnotify.h"
#include "util.h"

int
ready_policy(struct parent *p, struct kh_gen *g, struct policy *pol)
{
	char vars[512] = "";
	size_t n = 0;

	/* The operator's metrics follow the table that serves: this one,
	 * the run's first or a reload's (swapped in as soon as it is
	 * accepted); first, so a failure leaves nothing half taken. */
	if (metrics_policy(p->metrics, pol, g->text, g->len) < 0)
		return -1;
	/* The parent's own rate buckets, for the generation (max is
	 * counted by request_check against p->mutations_used); after a
	 * reload they continue the current generation's (gen.c). */
	if (gen_accept_policy(g, pol, (uint64_t)util_now_ms()) < 0)
		return -1;
	/* The audit trail says what {variables} mean for this run (the
	 * parent's own values; they are operator input). */
	for (size_t i = 0; i < pol->nvars && n < sizeof(vars); i++)
		n += (size_t)snprintf(vars + n, sizeof(vars) - n, "%s%s=%s",
		    i ? ", " : "; variables: ", pol->vars[i].name,
		    pol->vars[i].bound ? pol->vars[i].value : "(unbound)");
	if (pol->max_mutations != 0)
		log_info("policy accepted (generation %llu): %zu rules%s; at "
		    "most %u mutations per run", (unsigned long long)g->number,
		    pol->nrules, vars, pol->max_mutations);
	else
		log_info("policy accepted (generation %llu): %zu rules%s",
		    (unsigned long long)g->number, pol->nrules, vars);
	return 0;
}

void
ready_write(struct parent *p)
{
	/* The first listener, else the queue (ready_file.h). */
	struct ready_info r = { NULL, 0, NULL, NULL, NULL, NULL };
	char extra[1024];

	if (p->cfg->ready_file == NULL || !p->ready_written)
		return;
	if (p->cfg->connect != NULL) {
		/* http2_v1: where the agent connects, in the sandbox */
		r.host = p->cfg->gateway_host;
		r.port = p->cfg->gateway_port;
	} else if (p->nlisteners == 0) {
		r.queue_dir = p->cfg->queue_dir;
	} else if (p->listeners[0].spec.is_unix) {
		r.socket_path = p->listeners[0].spec.path;
	} else {
		r.host = p->listeners[0].spec.host;
		r.port = p->listeners[0].spec.port;
	}
	if (p->reload.started_at[0] == '\0')
		json_iso8601_now(p->reload.started_at);
	r.started_at = p->reload.started_at;
	reload_ready_fields(p, extra, sizeof(extra));
	r.extra = extra;
	if (ready_file_write(-1, p->cfg->ready_file, &r) < 0)
		log_error("cannot write ready file %s: %s",
		    p->cfg->ready_file, strerror(errno));
}

void
ready_serving(struct parent *p)
{
	if (p->ready_written) {
		sdnotify_send("STATUS=serving (child restarted)");
		return;
	}
	p->ready_written = true;
	for (size_t i = 0; i < p->nlisteners; i++) {
		const struct listen_spec *s = &p->listeners[i].spec;
		if (s->is_unix)
			log_info("serving on unix:%s", s->path);
		else
			log_info("serving on http://%s%s%s:%u",
			    strchr(s->host, ':') ? "[" : "", s->host,
			    strchr(s->host, ':') ? "]" : "", s->port);
	}
	if (p->cfg->connect != NULL)
		log_info("serving http2_v1 over: %s (the gateway on %s:%u in "
		    "the sandbox)", p->cfg->connect, p->cfg->gateway_host,
		    p->cfg->gateway_port);
	if (p->cfg->queue_dir != NULL)
		log_info("serving queue_v1 in %s (%s)", p->cfg->queue_dir,
		    p->ccfg.queue_inotify ? "inotify" : "polling");
	ready_write(p);
	sdnotify_send("READY=1\nSTATUS=serving");
}
