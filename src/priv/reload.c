/*
 * keyhole parent: reload (SIGHUP; `keyhole reload`; systemd ExecReload=).
 *
 * The configuration is read again as at start, with the same checks, and
 * nothing is swapped until a new child has compiled the new policy in its
 * sandbox and the parent has accepted its table.  Until then, and for
 * ever if anything fails, the current child serves on.
 *
 *  1. reload_request: never while draining; one attempt at a time (a
 *     SIGHUP during one asks for one more after it, which reads the files
 *     again).  systemd is told RELOADING=1 (with MONOTONIC_USEC).
 *  2. reload_start reads the policy file (bytes), the bindings (--var,
 *     --var-file, $KEYHOLE_VAR_*: gen.c), the token file and the
 *     credential file (or $CREDENTIALS_DIRECTORY's), each as serve.c and
 *     secret.c do at start.  A token or credential that came from the
 *     environment was wiped from it at start and is kept.  Any error ends
 *     the attempt here, before a process is started.
 *  3. A candidate child of the new generation starts (supervise_spawn:
 *     fork + exec, its own memfd with the new text, MSG_CONFIG with the
 *     new token and bindings).  It never accepts a connection before its
 *     table is accepted (POLICY_OK).  The parent decodes the table with
 *     the new bindings (policy_decode re-validates every field).  A
 *     compile error (the child's first error line, FILE:LINE:COL:
 *     message), a table the parent refuses, a child that exits or sends
 *     no table within --child-timeout-ms: the attempt fails.
 *  4. reload_swap: the new generation becomes current; its `rate` buckets
 *     continue those of the same routes (gen.c), `max` is the parent's
 *     own count (MSG_CONFIG carried it to the new child); a new
 *     credential is used by every transfer started from now on, the old
 *     one wiped when the transfers that carry it end (upstream_cred.c);
 *     the new child gets POLICY_OK and accepts on the shared listeners;
 *     the old one gets MSG_RETIRE (with the new token) and finishes
 *     (src/unpriv/conn_drain.c), re-checked against its own generation
 *     until it exits (reload_retire.c: MSG_RETIRED, the deadline, the
 *     queue handed over once it has exited).
 *  5. reload_finish (once the old child has closed its listeners, or is
 *     gone): counters, the log, systemd READY=1 and STATUS=, the
 *     ready file's reload members (what `keyhole reload` waits for), the
 *     observers (metrics, audit).
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/bufferevent.h>

#include "audit.h"
#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "sdnotify.h"
#include "util.h"

static void reload_start(struct parent *p);

static int64_t
reload_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* One line for systemd's STATUS= (no newline: a new field would start). */
static void __attribute__((format(printf, 2, 3)))
reload_status(const char *ready, const char *fmt, ...)
{
	char msg[768], text[640];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_sanitize(text, strlen(text));
	snprintf(msg, sizeof(msg), "%sSTATUS=%s", ready, text);
	sdnotify_send(msg);
}

void
reload_finish(struct parent *p, bool ok, const char *why)
{
	struct reload *rl = &p->reload;
	struct reload_event ev;
	int64_t took = util_now_ms() - rl->started_ms;

	rl->running = false;
	rl->last_ok = ok;
	rl->last_started_us = rl->started_us;
	json_iso8601_now(rl->last_at);
	if (ok) {
		rl->ok++;
		rl->last_error[0] = '\0';
		log_info("reload: generation %llu serves (policy %s; %lld ms)",
		    (unsigned long long)p->gen->number, p->cfg->policy_file,
		    (long long)took);
		reload_status("READY=1\n", "serving generation %llu (reloaded "
		    "%s)", (unsigned long long)p->gen->number, rl->last_at);
	} else {
		rl->failed++;
		snprintf(rl->last_error, sizeof(rl->last_error), "%s", why);
		log_sanitize(rl->last_error, strlen(rl->last_error));
		log_error("reload failed: %s; generation %llu serves on, "
		    "unchanged", rl->last_error,
		    (unsigned long long)p->gen->number);
		audit_reload_failed(p->gen, rl->last_error, took);
		reload_status("READY=1\n", "reload failed: %s; serving "
		    "generation %llu", rl->last_error,
		    (unsigned long long)p->gen->number);
	}
	/* keyhole_reloads_total{result}; the policy's hash (keyhole_policy_
	 * info) followed the swap already (ready_policy). */
	metrics_reload(p->metrics, ok);
	ready_write(p);
	ev.ok = ok;
	ev.generation = p->gen->number;
	ev.error = ok ? "" : rl->last_error;
	ev.policy_text = p->gen->text;
	ev.policy_len = p->gen->len;
	ev.took_ms = took;
	for (size_t i = 0; i < rl->nobservers; i++)
		rl->observers[i].fn(&ev, rl->observers[i].arg);
	if (rl->again && !p->draining) {
		rl->again = false;
		reload_start(p);
	}
}

/* The attempt fails: the candidate (if any) goes, nothing changed. */
void
reload_fail(struct parent *p, const char *why)
{
	struct reload *rl = &p->reload;

	if (p->candidate != NULL)
		supervise_discard(p, p->candidate);
	upstream_cred_drop(rl->cred);
	rl->cred = NULL;
	reload_finish(p, false, why);
}

void
reload_note_error(struct parent *p, const char *fmt, ...)
{
	struct reload *rl = &p->reload;
	va_list ap;

	if (rl->error[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(rl->error, sizeof(rl->error), fmt, ap);
	va_end(ap);
}

void
reload_note_line(struct parent *p, struct child *c, enum log_level level,
    const char *line, size_t len)
{
	struct reload *rl = &p->reload;

	if (c != p->candidate || level != LOG_ERROR || rl->error[0] != '\0')
		return;
	if (len >= sizeof(rl->error))
		len = sizeof(rl->error) - 1;
	memcpy(rl->error, line, len);
	rl->error[len] = '\0';
	log_sanitize(rl->error, len);
}

void
reload_candidate_gone(struct parent *p, const char *how)
{
	struct reload *rl = &p->reload;

	if (!rl->running)
		return;
	reload_note_error(p, "the new child %s before its policy table was "
	    "accepted", how != NULL ? how : "was ended");
	reload_fail(p, rl->error);
}

/* Read what a reload reads, into g and rl->cred.  Returns 0, or -1 with
 * rl->error set. */
static int
reload_read(struct parent *p, struct kh_gen *g)
{
	struct reload *rl = &p->reload;
	const struct kh_config *cfg = p->cfg;
	const char *why;
	struct secret s;

	if (gen_read_policy(g, cfg->policy_file, rl->error,
	    sizeof(rl->error)) < 0 ||
	    gen_bindings(g, cfg, rl->error, sizeof(rl->error)) < 0)
		return -1;
	if (rl->token_from_env && p->gen->token.page == NULL) {
		/* queue_v1 alone: no token at start (serve.c), none now. */
		memset(&g->token, 0, sizeof(g->token));
	} else if (rl->token_from_env ? secret_dup(&g->token, &p->gen->token) :
	    secret_load_token(cfg, &g->token)) {
		reload_note_error(p, "%s", rl->token_from_env ? "out of memory" :
		    secret_error());
		return -1;
	}
	if (log_redact(g->token.buf, g->token.len) < 0) {
		secret_free(&g->token);
		reload_note_error(p, "internal: no room to redact the token");
		return -1;
	}
	if (rl->cred_from_env)
		return 0;
	if (secret_load_credential(cfg, &s) < 0) {
		reload_note_error(p, "%s", secret_error());
		return -1;
	}
	if (upstream_credential_is(p->up, &s)) {
		secret_free(&s);
		return 0;
	}
	if (upstream_credentials(p->up) >= KH_CRED_LIVE_MAX) {
		secret_free(&s);
		reload_note_error(p, "the credential changed, but %zu earlier "
		    "ones are still used by requests in flight (at most %u): "
		    "try again when they have ended",
		    upstream_credentials(p->up) - 1, KH_CRED_LIVE_MAX - 1);
		return -1;
	}
	if ((rl->cred = upstream_cred_new(p->up, &s, &why)) == NULL) {
		secret_free(&s);
		reload_note_error(p, "the new credential: %s", why);
		return -1;
	}
	return 0;
}

static void
reload_start(struct parent *p)
{
	struct reload *rl = &p->reload;
	struct kh_gen *g;
	char msg[96];

	rl->running = true;
	rl->started_ms = util_now_ms();
	rl->started_us = reload_mono_us();
	rl->error[0] = '\0';
	snprintf(msg, sizeof(msg), "RELOADING=1\nSTATUS=reloading\n"
	    "MONOTONIC_USEC=%lld", (long long)rl->started_us);
	sdnotify_send(msg);
	log_info("reload: reading the configuration again (policy %s)",
	    p->cfg->policy_file);
	if (p->gen->policy == NULL) {
		reload_fail(p, "keyhole does not serve yet (its first policy "
		    "table is not accepted)");
		return;
	}
	if (p->nretired >= KH_RETIRING_MAX) {
		snprintf(rl->error, sizeof(rl->error), "%zu children of earlier "
		    "reloads are still finishing their requests (at most %u): "
		    "try again when they have", p->nretired, KH_RETIRING_MAX);
		reload_fail(p, rl->error);
		return;
	}
	g = gen_new(p->gen->number + 1);
	if (g == NULL) {
		reload_fail(p, "out of memory");
		return;
	}
	if (reload_read(p, g) < 0) {
		gen_unref(g);
		reload_fail(p, rl->error);
		return;
	}
	if (supervise_spawn(p, g, CHILD_CANDIDATE) < 0) {
		gen_unref(g);
		reload_fail(p, "cannot start the new child (see the log)");
		return;
	}
	gen_unref(g);		/* the candidate holds it */
}

void
reload_request(struct parent *p)
{
	if (p->draining) {
		log_info("SIGHUP while stopping: no reload");
		return;
	}
	if (p->reload.running) {
		log_info("SIGHUP during a reload: another one follows it");
		p->reload.again = true;
		return;
	}
	reload_start(p);
}

void
reload_swap(struct parent *p, struct child *c)
{
	struct reload *rl = &p->reload;
	struct kh_gen *g = c->gen, *old = p->gen;
	struct child *oldc = p->child;

	if (rl->cred != NULL) {
		upstream_cred_use(p->up, rl->cred);
		rl->cred = NULL;
	}
	p->candidate = NULL;
	p->backoff_ms = KH_RESTART_MIN_MS;
	evtimer_del(p->restart_ev);
	p->gen = gen_ref(g);
	gen_make_current(g);
	audit_reload_swap(old, g, util_now_ms() - rl->started_ms);
	if (p->cfg->connect != NULL) {
		/* http2_v1: one session at a time (reload_connect.c). */
		reload_connect_swap(p, c, oldc);
	} else {
		c->role = CHILD_CURRENT;
		p->child = c;
		p->child_started_ms = c->started_ms;
		monitor_send_simple(c, MSG_POLICY_OK);
		if (oldc != NULL) {
			if (oldc->state == CS_SERVING)
				reload_retire(p, oldc, g);
			else
				supervise_discard(p, oldc);	/* was restarting */
		}
	}
	/* No child of the old generation is ever started again. */
	if (old->token.page != NULL) {
		log_unredact(old->token.buf);
		secret_free(&old->token);
	}
	gen_unref(old);
	if (p->cfg->connect != NULL)
		return;		/* done when the new session's child serves */
	reload_queue_start(p, c);
	/* Done once the old child no longer accepts (MSG_RETIRED), so that
	 * whoever waits for the outcome (keyhole reload, systemd) knows
	 * every new connection is the new child's. */
	if (oldc != NULL && oldc->role == CHILD_RETIRED) {
		rl->awaiting = oldc;
		return;
	}
	reload_finish(p, true, NULL);
}

void
reload_ready_fields(const struct parent *p, char *out, size_t cap)
{
	const struct reload *rl = &p->reload;
	size_t off = 0;
	char num[160];
	int n;

	n = snprintf(num, sizeof(num), ",\"generation\":%llu,\"reloads\":%llu,"
	    "\"reloadsFailed\":%llu", (unsigned long long)p->gen->number,
	    (unsigned long long)(rl->ok + rl->failed),
	    (unsigned long long)rl->failed);
	json_put(out, cap, &off, num, (size_t)n);
	if (rl->ok + rl->failed > 0) {
		n = snprintf(num, sizeof(num), ",\"reloadOk\":%s,"
		    "\"reloadStartedUs\":%lld,\"reloadedAt\":",
		    rl->last_ok ? "true" : "false",
		    (long long)rl->last_started_us);
		json_put(out, cap, &off, num, (size_t)n);
		json_put_str(out, cap, &off, rl->last_at, strlen(rl->last_at));
		if (!rl->last_ok) {
			json_put(out, cap, &off, ",\"reloadError\":", 15);
			json_put_str(out, cap, &off, rl->last_error,
			    strlen(rl->last_error));
		}
	}
	if (off >= cap)
		off = 0;	/* never half a member */
	out[off] = '\0';
}

int
reload_observe(struct parent *p, reload_observer_fn fn, void *arg)
{
	struct reload *rl = &p->reload;

	if (rl->nobservers == KH_RELOAD_OBSERVERS)
		return -1;
	rl->observers[rl->nobservers].fn = fn;
	rl->observers[rl->nobservers].arg = arg;
	rl->nobservers++;
	return 0;
}

uint64_t
reload_count_ok(const struct parent *p)
{
	return p->reload.ok;
}

uint64_t
reload_count_failed(const struct parent *p)
{
	return p->reload.failed;
}

uint64_t
reload_generation(const struct parent *p)
{
	return p->gen != NULL ? p->gen->number : 0;
}
