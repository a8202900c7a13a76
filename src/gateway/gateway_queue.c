/*
 * keyhole-gateway, the files: exactly Paperclip's gateway protocol.
 *
 *   requests/<uuid>.json   {"id","method","path","query","headers","body",
 *                          "bodyEncoding"?,"createdAt"}, written as
 *                          <uuid>.json.tmp then renamed
 *   responses/<uuid>.json  read (bounded, unchanged while read), deleted,
 *                          and answered: status (409 when the host says
 *                          x-paperclip-bridge-outcome: indeterminate),
 *                          string headers but content-length, body decoded
 *   deadline               PAPERCLIP_BRIDGE_RESPONSE_TIMEOUT_MS: the
 *                          request file is removed (the host's sign that
 *                          nobody waits any more) and the client gets 502,
 *                          or 409 indeterminate for a method that may have
 *                          taken effect
 *   queue depth            *.json regular files in requests/; at the limit,
 *                          request files older than the deadline + 2 s are
 *                          swept first (orphans of a killed writer)
 *
 * Responses are noticed by polling every PAPERCLIP_BRIDGE_POLL_INTERVAL_MS
 * as Paperclip's gateway does, and at once through inotify on responses/
 * where the kernel has it (KEYHOLE_GATEWAY_INOTIFY=0 turns that off).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>

#include "gateway.h"
#include "gateway_envelope.h"
#include "gateway_response.h"
#include "notify.h"
#include "json_out.h"
#include "qcodec.h"
#include "ready_file.h"
#include "util.h"

static uint64_t
gw_envelope_limit(const struct gw *g)
{
	return KH_QUEUE_ENVELOPE_MAX(g->max_body);
}

static int
gw_request_owner(const struct gw *g, int fd)
{
	struct stat st;

	if (geteuid() != 0)
		return 0;
	if (fstat(g->reqfd, &st) < 0)
		return -1;
	if (st.st_uid == 0)
		return 0;
	return fchown(fd, st.st_uid, st.st_gid);
}

static bool
gw_is_request_name(const char *name)
{
	size_t n = strlen(name);
	return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Count *.json regular files (Node's entry.isFile()); sweep: unlink those
 * older than the deadline + KH_GW_STALE_SLACK_MS first. */
static uint32_t
gw_queue_count(struct gw *g, bool sweep)
{
	int fd = dup(g->reqfd);
	DIR *d;
	struct dirent *e;
	uint32_t n = 0;
	struct timespec now;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	rewinddir(d);
	clock_gettime(CLOCK_REALTIME, &now);
	int64_t stale = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 -
	    g->timeout_ms - KH_GW_STALE_SLACK_MS;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (!gw_is_request_name(e->d_name))
			continue;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(g->reqfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (sweep && (int64_t)st.st_mtim.tv_sec * 1000 +
		    st.st_mtim.tv_nsec / 1000000 < stale) {
			(void)unlinkat(g->reqfd, e->d_name, 0);
			continue;
		}
		n++;
	}
	closedir(d);
	return n;
}

static bool
gw_queue_full(struct gw *g)
{
	if (gw_queue_count(g, false) < g->max_depth)
		return false;
	/* Reclaim orphaned request files before refusing. */
	return gw_queue_count(g, true) >= g->max_depth;
}

static void
gw_uuid(char out[40])
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void gw_req_finish(struct gw_req *q);

static bool
gw_ctype_has(const struct http_req *r, const char *what)
{
	const struct http_field *f = http_req_field(r, "content-type");
	size_t wl = strlen(what);

	if (f == NULL)
		return false;
	for (size_t i = 0; i + wl <= f->vlen; i++)
		if (strncasecmp((const char *)f->value + i, what, wl) == 0)
			return true;
	return false;
}

/* Paperclip's one non-JSON route: POST
 * /api/companies/X/issues/Y/attachments with multipart/form-data. */
static bool
gw_multipart_attachment(const struct http_req *r)
{
	static const char *const want[] = { "api", "companies", NULL, "issues",
	    NULL, "attachments" };
	const struct http_field *f = http_req_field(r, "content-type");
	const char *p = r->path;

	if (strcmp(r->method, "POST") != 0 || f == NULL || f->vlen < 19 ||
	    strncasecmp((const char *)f->value, "multipart/form-data", 19) != 0 ||
	    (f->vlen > 19 && f->value[19] != ';'))
		return false;
	for (size_t i = 0; i < 6; i++) {
		if (*p++ != '/')
			return false;
		size_t l = strcspn(p, "/");
		if (l == 0 || (want[i] != NULL && (strlen(want[i]) != l ||
		    strncmp(p, want[i], l) != 0)))
			return false;
		p += l;
	}
	return *p == '\0';
}

/* Paperclip's queue gateway, after the token: the queue depth (503),
 * then a method other than GET/HEAD without a JSON content type
 * (multipart only for issue attachments: 415). */
static int
gw_queue_gate(struct gw_conn *c)
{
	const struct http_req *r = &c->req;

	if (gw_queue_full(c->gw))
		return PC_QUEUE_FULL;
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
	    !gw_ctype_has(r, "json") && !gw_multipart_attachment(r))
		return PC_JSON_ONLY;
	return -1;
}

/* The request ends without the host's answer: status and message (a
 * PC_GW_* entry of paperclip.h), or 409 indeterminate when its file was
 * written and its method may change something (PC_MAYBE_409). */
static void
gw_req_fail(struct gw_req *q, int status, const char *message)
{
	bool uncertain = q->dispatched && strcmp(q->method, "GET") != 0 &&
	    strcmp(q->method, "HEAD") != 0 && strcmp(q->method, "OPTIONS") != 0 &&
	    strcmp(q->method, "TRACE") != 0;

	if (q->conn != NULL)
		gw_answer_error(q->conn, uncertain ? 409 : status, message,
		    uncertain);
	gw_req_finish(q);
}

static void
gw_req_fail_id(struct gw_req *q, enum pc_id id)
{
	gw_req_fail(q, pc_table[id].status, pc_table[id].text);
}

static void
gw_req_finish(struct gw_req *q)
{
	struct gw *g = q->gw;

	if (q->prev != NULL)
		q->prev->next = q->next;
	else if (g->waiting == q)
		g->waiting = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	if (q->conn != NULL)
		q->conn->wait = NULL;
	if (q->poll != NULL)
		event_free(q->poll);
	free(q);
	gw_maybe_done(g);
}

/* The response file, parsed: answer the client.  Returns an error message
 * or NULL when answered. */
static const char *
gw_deliver(struct gw_req *q, const uint8_t *text, size_t len)
{
	struct gw_response r;
	const char *err = gw_response_parse(text, len, q->gw->max_body, &r);

	if (err != NULL)
		return err;
	if (q->conn != NULL)
		gw_answer(q->conn, r.status, r.names, r.values, r.vlens, r.nh,
		    r.body, r.blen);
	gw_response_free(&r);
	return NULL;
}

/* Look for responses/<id>.json.  Returns true when the request is done
 * (answered or failed). */
static bool
gw_try_response(struct gw_req *q)
{
	struct gw *g = q->gw;
	char name[64];
	struct stat st;
	uint8_t *buf;
	const char *err = NULL;

	snprintf(name, sizeof(name), "%s.json", q->id);
	int fd = openat(g->respfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return false;
	if (fd < 0) {
		err = pc_table[PC_GW_RESP_OPEN].text;
	} else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		err = pc_table[PC_GW_RESP_NOT_FILE].text;
	} else if ((uint64_t)st.st_size > gw_envelope_limit(g)) {
		err = pc_table[PC_GW_RESP_TOO_LARGE].text;
	} else if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		err = pc_table[PC_GW_RESP_OUT_OF_MEMORY].text;
	} else {
		/* One byte more than fstat promised: getting it means the
		 * file grew. */
		ssize_t got = util_read_upto(fd, buf, (size_t)st.st_size + 1);
		if (got != (ssize_t)st.st_size)
			err = pc_table[PC_GW_RESP_CHANGED].text;
		else
			err = gw_deliver(q, buf, (size_t)got);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	(void)unlinkat(g->respfd, name, 0);
	/* Every text here and of gw_response_parse is a PC_GW_RESP_* or
	 * PC_GW_BODY_* entry: 502, 409 for a mutation. */
	if (err != NULL)
		gw_req_fail(q, pc_table[PC_GW_RESP_JSON].status, err);
	else
		gw_req_finish(q);
	return true;
}

static void
gw_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_req *q = arg;

	(void)fd;
	(void)what;
	if (gw_try_response(q))
		return;
	if (util_now_ms() >= q->deadline_ms) {
		char name[64];
		/* Nobody waits any more: tell the host by removing the request
		 * (its answer write is guarded on the request file). */
		snprintf(name, sizeof(name), "%s.json", q->id);
		(void)unlinkat(q->gw->reqfd, name, 0);
		gw_req_fail_id(q, PC_GW_TIMEOUT);
		return;
	}
	int64_t left = q->deadline_ms - util_now_ms();
	uint32_t ms = left < q->gw->poll_ms ? (uint32_t)left : q->gw->poll_ms;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	evtimer_add(q->poll, &tv);
}

/* One inotify event on responses/ (notify.c): the request it answers. */
static bool
gw_notify_event(void *arg, uint32_t mask, const char *name)
{
	struct gw *g = arg;

	(void)mask;
	if (name == NULL)
		return true;
	for (struct gw_req *q = g->waiting; q != NULL; q = q->next) {
		size_t il = strlen(q->id);
		if (strncmp(name, q->id, il) == 0 &&
		    strcmp(name + il, ".json") == 0) {
			(void)gw_try_response(q);
			break;
		}
	}
	return true;
}

static void
gw_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)what;
	notify_read(fd, gw_notify_event, arg);
}

void
gw_queue_watch(struct gw *g)
{
	const char *v = getenv("KEYHOLE_GATEWAY_INOTIFY");
	int fd;

	g->notify_fd = -1;
	if (v != NULL && strcmp(v, "0") == 0)
		return;
	if ((fd = notify_watch(g->respfd, IN_MOVED_TO | IN_CLOSE_WRITE)) < 0)
		return;		/* polling alone, like Paperclip's gateway */
	g->notify_fd = fd;
	g->notify_ev = event_new(g->base, fd, EV_READ | EV_PERSIST,
	    gw_notify_cb, g);
	if (g->notify_ev == NULL || event_add(g->notify_ev, NULL) < 0) {
		close(fd);
		g->notify_fd = -1;
	}
}

static void
gw_queue_submit(struct gw_conn *c, const uint8_t *body, size_t blen,
    bool base64)
{
	struct gw *g = c->gw;
	const struct http_req *r = &c->req;
	struct gw_req *q = calloc(1, sizeof(*q));
	struct sbuf s;
	char name[64], tmp[72], when[JSON_ISO_LEN];
	int fd;

	if (q == NULL) {
		gw_answer_id(c, PC_GW_OUT_OF_MEMORY);
		return;
	}
	q->gw = g;
	gw_uuid(q->id);
	snprintf(q->method, sizeof(q->method), "%s", r->method);
	q->conn = c;
	q->poll = evtimer_new(g->base, gw_poll_cb, q);
	q->deadline_ms = util_now_ms() + g->timeout_ms;
	q->next = g->waiting;
	if (g->waiting != NULL)
		g->waiting->prev = q;
	g->waiting = q;
	c->wait = q;
	if (q->poll == NULL) {
		gw_req_fail_id(q, PC_GW_OUT_OF_MEMORY);
		return;
	}
	json_iso8601_now(when);
	sbuf_init(&s, gw_envelope_limit(g));
	gw_envelope_build(&s, q->id, r, body, blen, base64, when);
	if (s.failed) {
		sbuf_free(&s);
		gw_req_fail_id(q, PC_GW_BODY_EXCEEDED);
		return;
	}
	snprintf(name, sizeof(name), "%s.json", q->id);
	snprintf(tmp, sizeof(tmp), "%s.json.tmp", q->id);
	/* 0600: the body is nobody else's business.  A root gateway gives
	 * the file to whoever owns requests/ (keyhole's host side runs as its
	 * own user and must read it); a gateway that is not root shares its
	 * user with the host side, or the files cannot be read there. */
	fd = openat(g->reqfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600);
	if (fd < 0 || gw_request_owner(g, fd) < 0 ||
	    util_write_all(fd, s.buf, s.len) < 0) {
		if (fd >= 0)
			close(fd);
		(void)unlinkat(g->reqfd, tmp, 0);
		sbuf_free(&s);
		gw_req_fail_id(q, PC_GW_WRITE);
		return;
	}
	close(fd);
	sbuf_free(&s);
	q->dispatched = true;
	if (renameat(g->reqfd, tmp, g->reqfd, name) < 0) {
		(void)unlinkat(g->reqfd, tmp, 0);
		gw_req_fail_id(q, PC_GW_WRITE);
		return;
	}
	struct timeval tv = { g->poll_ms / 1000, (g->poll_ms % 1000) * 1000 };
	evtimer_add(q->poll, &tv);
}

static void
gw_queue_conn_gone(struct gw_conn *c)
{
	/* The request keeps waiting so its response file is consumed (as
	 * Paperclip's gateway does); the answer is dropped. */
	if (c->wait != NULL)
		c->wait->conn = NULL;
	c->wait = NULL;
}

static void
gw_queue_submit_conn(struct gw_conn *c)
{
	size_t blen = evbuffer_get_length(c->body);
	const uint8_t *body = blen ? evbuffer_pullup(c->body, -1) : NULL;

	gw_queue_submit(c, body, blen, gw_multipart_attachment(&c->req));
}

static bool
gw_queue_idle(struct gw *g)
{
	return g->waiting == NULL;
}

static void
gw_queue_finish(struct gw *g)
{
	event_base_loopbreak(g->base);
}

const struct gw_ops gw_queue_ops = {
	gw_queue_gate, gw_queue_submit_conn, gw_queue_conn_gone, gw_queue_idle,
	gw_queue_finish,
};

/* ready.json (ready_file.c: an unpredictable temporary name created
 * O_EXCL|O_NOFOLLOW, renamed into place; nothing planted at a name is
 * followed, truncated or written through). */
int
gw_write_ready(struct gw *g)
{
	struct ready_info r = { g->host, g->port, NULL, NULL, NULL, NULL };

	return ready_file_write(g->qfd, "ready.json", &r);
}
