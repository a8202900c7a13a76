/*
 * keyhole-net queue_v1 answers: responses/<id>.json, for the parent's
 * answer and for the child's own (see queue_answer.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "decide.h"
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

/* responses/<id>.json via <id>.json.tmp + rename.  A stale tmp name (a
 * crash, or the sandbox planting a symlink there) is unlinked — the link
 * itself, never its target — and creation retried once. */
static int
queue_write_file(const char *id, const struct sbuf *s)
{
	char tmp[QUEUE_NAME_MAX], fin[QUEUE_NAME_MAX];
	int fd = -1;

	snprintf(tmp, sizeof(tmp), "%s.json.tmp", id);
	snprintf(fin, sizeof(fin), "%s.json", id);
	for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
		fd = openat(KH_CHILD_FD_QRESP, tmp, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
		if (fd < 0 && errno == EEXIST && attempt == 0)
			(void)unlinkat(KH_CHILD_FD_QRESP, tmp, 0);
	}
	if (fd < 0) {
		log_error("queue: cannot create responses/%s: %s", tmp,
		    strerror(errno));
		return -1;
	}
	if (util_write_all(fd, s->buf, s->len) < 0) {
		log_error("queue: cannot write responses/%s: %s", tmp,
		    strerror(errno));
		close(fd);
		(void)unlinkat(KH_CHILD_FD_QRESP, tmp, 0);
		return -1;
	}
	close(fd);
	if (renameat(KH_CHILD_FD_QRESP, tmp, KH_CHILD_FD_QRESP, fin) < 0) {
		log_error("queue: cannot rename responses/%s into place: %s",
		    tmp, strerror(errno));
		(void)unlinkat(KH_CHILD_FD_QRESP, tmp, 0);
		return -1;
	}
	return 0;
}

/* {"id","status","headers":{…},"body", "bodyEncoding"?, "completedAt"}:
 * the body as a plain string when that is cheap and exact (valid UTF-8,
 * no control but TAB/LF/CR), else base64 (Paperclip's gateway decodes
 * both). */
int
queue_answer_write(const char *id, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t nh,
    const uint8_t *body, size_t blen)
{
	struct sbuf s;
	char when[QC_ISO_LEN];
	bool plain = qc_text_plain(body, blen);
	int rc;

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
	qc_iso8601_now(when);
	sbuf_addf(&s, ",\"completedAt\":\"%s\"}\n", when);
	if (s.failed) {
		log_error("queue: response for %s too large to write", id);
		sbuf_free(&s);
		return -1;
	}
	rc = queue_write_file(id, &s);
	sbuf_free(&s);
	return rc;
}

/* The child's own answer: a JSON body with content-type application/json
 * and at most one more header, then the claim is released. */
static void
queue_answer_json(const char *id, const char *name, int status,
    const char *json, const char *xname, const char *xvalue,
    const struct qenv *e, const char *reason)
{
	const char *names[2] = { "content-type", xname };
	const char *values[2] = { "application/json", xvalue };
	size_t vlens[2] = { 16, xvalue != NULL ? strlen(xvalue) : 0 };
	char peer[64];

	/* Every answer the child makes itself is logged by the parent. */
	snprintf(peer, sizeof(peer), "queue:%s", id);
	link_send_access(kh_net, peer, e != NULL ? e->method : "",
	    e != NULL ? e->path : "", status, reason, 0, strlen(json));
	(void)queue_answer_write(id, status, names, values, vlens,
	    xname != NULL ? 2 : 1, (const uint8_t *)json, strlen(json));
	if (name != NULL)
		queue_answer_release(name);
}

/* {"error": message} (+ the indeterminate-outcome fields). */
void
queue_answer_error(const char *id, const char *name, int status,
    const char *message, bool indeterminate, const struct qenv *e,
    const char *reason)
{
	static const char oom[] = "{\"error\":\"Bridge error.\"}";
	struct sbuf b;

	sbuf_init(&b, 4 * KH_PATH_MAX);
	sbuf_adds(&b, "{\"error\":");
	sbuf_add_jstr(&b, (const uint8_t *)message, strlen(message));
	if (indeterminate)
		sbuf_adds(&b, ",\"outcome\":\"indeterminate\",\"retryable\":false");
	sbuf_adds(&b, "}");
	queue_answer_json(id, name, status, b.failed ? oom : b.buf,
	    indeterminate ? "x-paperclip-bridge-outcome" : NULL,
	    "indeterminate", e, reason != NULL ? reason : message);
	sbuf_free(&b);
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
	snprintf(ra, sizeof(ra), "%u", v->retry_after);
	queue_answer_json(id, name, v->status, json != NULL ? json :
	    "{\"error\":\"Bridge error.\"}", v->retry_after ? "retry-after" :
	    NULL, ra, e, decide_reason(v));
	cJSON_free(json);
}
