/*
 * keyhole parent: the operator's metrics listener (--metrics unix:PATH
 * or tcp:HOST:PORT; off by default).  Made like the sandbox's listeners
 * (a Unix socket bound privately, given its mode, renamed into place)
 * but never one of them: it is always in keyhole's own network namespace
 * (never --netns), its mode is --metrics-mode (default 0600: root, or
 * keyhole's user, only), and the child gets it at its own fd 18, where
 * it answers GET /metrics and nothing else (src/unpriv/metrics_serve.c).
 * The parent only creates it: it never reads a byte from it.
 */
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "priv.h"

static struct listener metrics_l = { .fd = -1, .dirfd = -1 };

int
metrics_listen_open(struct parent *p)
{
	const struct kh_config *cfg = p->cfg;

	p->metrics_fd = -1;
	if (!cfg->metrics_on)
		return 0;
	for (size_t i = 0; i < p->nlisteners; i++) {
		const struct listen_spec *s = &p->listeners[i].spec;
		if (s->is_unix == cfg->metrics.is_unix && (s->is_unix ?
		    strcmp(s->path, cfg->metrics.path) == 0 :
		    strcmp(s->host, cfg->metrics.host) == 0 &&
		    s->port == cfg->metrics.port && s->port != 0)) {
			log_fatal("--metrics is one of the sandbox's listeners: "
			    "give the operator an address of its own");
			return -1;
		}
	}
	if (listen_one(&metrics_l, &cfg->metrics, cfg->metrics_mode) < 0)
		return -1;
	p->metrics_fd = metrics_l.fd;
	if (metrics_l.spec.is_unix)
		log_info("metrics on unix:%s (GET /metrics, mode %04o)",
		    metrics_l.spec.path, cfg->metrics_mode);
	else
		log_info("metrics on http://%s%s%s:%u/metrics",
		    strchr(metrics_l.spec.host, ':') ? "[" : "",
		    metrics_l.spec.host,
		    strchr(metrics_l.spec.host, ':') ? "]" : "",
		    metrics_l.spec.port);
	return 0;
}

void
metrics_listen_close(struct parent *p)
{
	listen_close(&metrics_l, 1);
	p->metrics_fd = -1;
}
