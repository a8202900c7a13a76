/*
 * keyhole-net queue_v1 answers: responses/<id>.json, for the parent's
 * answer and for the child's own (see queue_answer.h).
 *
 * An answer that cannot be written (the disk or the quota is full, or
 * anything else fails) is not dropped: it is kept, serialised, in a list,
 * with its claim left in processing/, and written again every
 * KH_QUEUE_ANSWER_RETRY_MS, oldest first; every answer made meanwhile
 * joins the list behind it.  One line is logged when this starts and one
 * when the list is empty again, never one per retry.  While anything is
 * kept, queue.c claims no new request file, and each kept answer counts
 * in net->npending, as the request it answers did: the child's in-flight
 * limit holds, and a shutdown waits for them (up to the parent's drain
 * deadline).  So at most --max-inflight answers are kept, and a request
 * is never run twice: its claim stays until its answer is on disk.  If
 * the child dies first, the next one answers the claims it finds (503 /
 * 409 indeterminate, queue.c's queue_recover).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "decide.h"
#include "json_out.h"
#include "net.h"
#include "qcodec.h"
#include "queue_answer.h"
#include "queue_envelope.h"
#include "util.h"

void
queue_answer_release(const char *name)
{
	if (unlinkat(KH_CHILD_FD_QPROC, name, 0) == 0 || errno == ENOENT)
		return;
	if (errno == EISDIR &&
	    unlinkat(KH_CHILD_FD_QPROC, name, AT_REMOVEDIR) == 0)
		return;
	log_warn("queue: cannot remove processing/%s: %s", name,
	    strerror(errno));
}

/* An answer not written yet, and the claim to release once it is. */
struct qheld {
	char id[KH_QUEUE_ID_MAX + 1];
	char name[QUEUE_NAME_MAX];	/* processing/<name>, "" = none */
	struct sbuf s;			/* the whole file */
	struct qheld *next;
};

static struct {
	struct qheld *head, **tail;
	size_t n;
	struct event *retry_ev;
	uint64_t since_ms;		/* the first failure of this episode */
} held;

/* responses/<id>.json via <id>.json.tmp + rename.  A stale tmp name (a
 * crash, or the sandbox planting a symlink there) is unlinked — the link
 * itself, never its target — and creation retried once.  Returns 0, or
 * -1 with *what and errno saying what failed (nothing is logged: a kept
 * answer fails again at every retry). */
static int
queue_write_file(const char *id, const struct sbuf *s, const char **what)
{
	char tmp[QUEUE_NAME_MAX], fin[QUEUE_NAME_MAX];
	int fd = -1, e;

	snprintf(tmp, sizeof(tmp), "%s.json.tmp", id);
	snprintf(fin, sizeof(fin), "%s.json", id);
	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		fd = openat(KH_CHILD_FD_QRESP, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd < 0 && errno == EEXIST && attempt == 0)
			(void)unlinkat(KH_CHILD_FD_QRESP, tmp, 0);
	}
	if (fd < 0) {
		*what = "create";
		return -1;
	}
	if (util_write_all(fd, s->buf, s->len) < 0) {
		*what = "write";
		goto fail;
	}
	if (close(fd) < 0) {	/* NFS and quotas may report it only here */
		fd = -1;
		*what = "write";
		goto fail;
	}
	fd = -1;
	if (renameat(KH_CHILD_FD_QRESP, tmp, KH_CHILD_FD_QRESP, fin) < 0) {
		*what = "rename into place";
		goto fail;
	}
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	(void)unlinkat(KH_CHILD_FD_QRESP, tmp, 0);	/* frees its space */
	errno = e;
	return -1;
}

static void
queue_answer_arm(void)
{
	struct timeval tv = { KH_QUEUE_ANSWER_RETRY_MS / 1000,
	    (KH_QUEUE_ANSWER_RETRY_MS % 1000) * 1000 };

	if (held.retry_ev != NULL)
		evtimer_add(held.retry_ev, &tv);
}

/* Write kept answers, oldest first, until one fails (the disk is still
 * full: the rest would fail too) or none is left. */
static void
queue_answer_retry(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = kh_net;
	size_t written = 0;
	const char *failed;

	(void)fd;
	(void)what;
	(void)arg;
	while (held.head != NULL) {
		struct qheld *h = held.head;
		if (queue_write_file(h->id, &h->s, &failed) < 0) {
			queue_answer_arm();
			return;
		}
		if (h->name[0] != '\0')
			queue_answer_release(h->name);
		held.head = h->next;
		if (held.head == NULL)
			held.tail = &held.head;
		held.n--;
		n->npending--;
		sbuf_free(&h->s);
		free(h);
		written++;
	}
	log_warn("queue: %zu held answer(s) written after %llu ms; claiming "
	    "requests again", written,
	    (unsigned long long)((uint64_t)util_now_ms() - held.since_ms));
	queue_kick(n);
	conn_maybe_exit(n);
}

size_t
queue_answer_held(void)
{
	return held.n;
}

/* Keep s (taken over) for a retry; the claim `name` stays until then. */
static void
queue_answer_keep(const char *id, const char *name, struct sbuf *s,
    const char *what, int err)
{
	struct net *n = kh_net;
	struct qheld *h = calloc(1, sizeof(*h));

	if (held.retry_ev == NULL)
		held.retry_ev = evtimer_new(n->base, queue_answer_retry, NULL);
	if (h == NULL || held.retry_ev == NULL) {
		log_error("queue %s: cannot %s responses/%s.json (%s) nor keep "
		    "the answer (out of memory); the claim stays in processing/ "
		    "for the next start", id, what, id, strerror(err));
		free(h);
		sbuf_free(s);
		return;
	}
	snprintf(h->id, sizeof(h->id), "%s", id);
	snprintf(h->name, sizeof(h->name), "%s", name != NULL ? name : "");
	h->s = *s;
	if (held.tail == NULL)
		held.tail = &held.head;
	*held.tail = h;
	held.tail = &h->next;
	if (held.n++ == 0) {
		held.since_ms = (uint64_t)util_now_ms();
		log_warn("queue %s: cannot write the answer (%s responses/: %s); "
		    "keeping it and every later answer in memory, written again "
		    "every %u ms; no new request is claimed until they are",
		    id, what, strerror(err), KH_QUEUE_ANSWER_RETRY_MS);
		queue_answer_arm();
	}
	n->npending++;
}

/* Write s as responses/<id>.json and release the claim `name`, or keep
 * it for a retry.  Takes s over. */
static void
queue_answer_put(const char *id, const char *name, struct sbuf *s)
{
	const char *what = "write";
	int err = 0;

	/* While answers are kept, a new one waits in line behind them. */
	if (held.n == 0) {
		if (queue_write_file(id, s, &what) == 0) {
			sbuf_free(s);
			if (name != NULL)
				queue_answer_release(name);
			return;
		}
		err = errno;
	}
	queue_answer_keep(id, name, s, what, err);
}

/* {"id","status","headers":{…},"body", "bodyEncoding"?, "completedAt"}:
 * the body as a plain string when that is cheap and exact (valid UTF-8,
 * no control but TAB/LF/CR), else base64 (Paperclip's gateway decodes
 * both). */
void
queue_answer_file(const char *id, const char *name, int status,
    const char *const *names, const char *const *values, const size_t *vlens,
    size_t nh, const uint8_t *body, size_t blen)
{
	struct sbuf s;
	char when[JSON_ISO_LEN];
	bool plain = qc_text_plain(body, blen);

	sbuf_init(&s, KH_QUEUE_RESPONSE_FILE_MAX);
	sbuf_adds(&s, "{\"id\":");
	sbuf_add_jstr(&s, (const uint8_t *)id, strlen(id));
	sbuf_addf(&s, ",\"status\":%d,\"headers\":{", status);
	for (size_t i = 0; i < nh; i++) {
		if (i > 0)
			sbuf_adds(&s, ",");
		sbuf_add_jstr(&s, (const uint8_t *)names[i], strlen(names[i]));
		sbuf_adds(&s, ":");
		sbuf_add_jstr(&s, (const uint8_t *)values[i], vlens[i]);
	}
	sbuf_adds(&s, "},\"body\":");
	if (plain) {
		sbuf_add_jstr(&s, body, blen);
	} else {
		sbuf_adds(&s, "\"");
		sbuf_add_b64(&s, body, blen);
		sbuf_adds(&s, "\",\"bodyEncoding\":\"base64\"");
	}
	json_iso8601_now(when);
	sbuf_addf(&s, ",\"completedAt\":\"%s\"}\n", when);
	if (s.failed) {
		/* Out of memory (the size is bounded by what the parent
		 * sends): the claim stays for the next start to answer. */
		log_error("queue %s: cannot build the answer (status %d); the "
		    "claim stays in processing/", id, status);
		sbuf_free(&s);
		return;
	}
	queue_answer_put(id, name, &s);
}

/* The child's own answer: a JSON body with content-type application/json
 * and at most one more header; the claim is released once it is written. */
static void
queue_answer_json(const char *id, const char *name, int status,
    const char *json, const char *xname, const char *xvalue,
    const struct qenv *e, const char *reason)
{
	const char *names[2] = { "content-type", xname };
	const char *values[2] = { "application/json", xvalue };
	size_t vlens[2] = { 16, xvalue != NULL ? strlen(xvalue) : 0 };
	char peer[KH_PEER_MAX + 1];

	/* Every answer the child makes itself is logged by the parent. */
	snprintf(peer, sizeof(peer), "queue:%s", id);
	link_send_access(kh_net, peer, e != NULL ? e->method : "",
	    e != NULL ? e->path : "", status, reason, 0, strlen(json));
	queue_answer_file(id, name, status, names, values, vlens,
	    xname != NULL ? 2 : 1, (const uint8_t *)json, strlen(json));
}

/* An answer of the contract without template fields (paperclip.h),
 * with the indeterminate outcome's fields and header when it has them. */
void
queue_answer_error(const char *id, const char *name, enum pc_id pid,
    const struct qenv *e, const char *reason)
{
	const struct pc_entry *a = &pc_table[pid];
	bool indeterminate = (a->flags & PC_INDETERMINATE) != 0;
	char json[PC_FIXED_BODY_MAX];

	pc_fixed_body(pid, json, sizeof(json));
	queue_answer_json(id, name, a->status, json,
	    indeterminate ? PC_OUTCOME_HEADER : NULL, PC_OUTCOME_VALUE, e,
	    reason != NULL ? reason : a->text);
}

/* The decision's refusal as a response file: the same status, JSON and
 * retry-after as on the HTTP transport. */
void
queue_answer_verdict(const char *id, const char *name, const struct qenv *e,
    const struct decide_verdict *v)
{
	char *json = decide_json(v);
	char ra[16];

	log_info("queue %s: %s %s -> %d %s", id, e->method, e->path,
	    v->status, decide_reason(v));
	if (json == NULL) {
		queue_answer_error(id, name, PC_OUT_OF_MEMORY, e, NULL);
		return;
	}
	snprintf(ra, sizeof(ra), "%u", v->retry_after);
	queue_answer_json(id, name, v->status, json, v->retry_after ?
	    "retry-after" : NULL, ra, e, decide_reason(v));
	free(json);
}
