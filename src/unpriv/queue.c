/*
 * keyhole-net queue_v1 transport: Paperclip's file queue, host side.
 *
 * A gateway inside the sandbox writes requests/<id>.json (as <id>.json.tmp
 * then a rename) and waits for responses/<id>.json.  Every request file is
 * hostile: the sandbox may put anything under that name (a symlink to a
 * secret, a FIFO, a directory, a 1 GiB sparse file, a file it keeps
 * writing).  The parent opened the three directories once (fds 13-15, see
 * child_config.h); the child touches nothing else, and its seccomp filter
 * allows openat/renameat/unlinkat only relative to those fds (and, with
 * Landlock, the kernel confines them beneath those directories).
 *
 * One request file, in order:
 *   1. the name is <id>.json with a valid id (qc_id_valid), else ignored
 *      (the gateway's own <id>.json.tmp files live here too);
 *   2. capacity: with max_inflight requests upstream nothing more is
 *      claimed, so the gateway's own queue-depth limit applies;
 *   3. claim: renameat2(RENAME_NOREPLACE) into processing/, BEFORE any
 *      byte is read or forwarded.  From here on, a crash or restart finds
 *      it in processing/ and answers it (503 for GET/HEAD/OPTIONS, 409
 *      indeterminate otherwise) without forwarding it: at most once;
 *   4. in processing/: an O_PATH|O_NOFOLLOW handle first (a symlink, FIFO
 *      or device is never opened for reading), regular file with one link
 *      only, size checked against the envelope bound before reading, then
 *      opened O_NOFOLLOW|O_NONBLOCK, the same inode, read to exactly the
 *      size fstat gave, and fstat again: a file that changed is refused;
 *   5. qenv_parse (queue_envelope.c), the id must be the file's stem; the
 *      policy (403), body rules (400/415) and the header allowlist as on
 *      the HTTP transport; then one MSG_REQUEST to the parent, which
 *      re-checks it exactly as an HTTP request;
 *   6. the answer (the parent's MSG_RESPONSE, or the child's own error) is
 *      written responses/<id>.json.tmp (O_CREAT|O_EXCL|O_NOFOLLOW) then
 *      renamed into place, and only then is processing/<id>.json removed.
 *
 * New files are noticed through an inotify instance the parent set up on
 * requests/ (fd 16; the child needs no inotify syscall), with a full
 * rescan every KH_QUEUE_RESCAN_MS; without inotify, a scan every poll
 * interval.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "net.h"
#include "qcodec.h"
#include "queue_envelope.h"
#include "queue_file.h"
#include "util.h"

#define QUEUE_NAME_MAX (KH_QUEUE_ID_MAX + sizeof(".json.tmp"))

struct qitem {
	char id[KH_QUEUE_ID_MAX + 1];
	char name[QUEUE_NAME_MAX];	/* <id>.json */
};

struct queue {
	struct net *net;
	struct event *notify_ev;	/* inotify fd readable */
	struct event *scan_ev;		/* periodic scan */
	struct event *kick_ev;		/* scan again soon: capacity freed */
	bool deferred;			/* a file waits for capacity */
	bool stopped;			/* shutting down: claim nothing */
	uint64_t envelope_max;		/* request file bytes */
	struct qenv_limits lim;
};

struct queue_dirent {			/* struct linux_dirent64 */
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static const char queue_msg_invalid[] = "Invalid bridge request payload.";

#define queue_fstat queue_file_fstat

/* "<id>.json" with a valid id: copies the id out. */
static bool
queue_name_id(const char *name, char id[KH_QUEUE_ID_MAX + 1])
{
	size_t n = strlen(name);

	if (n <= 5 || strcmp(name + n - 5, ".json") != 0 ||
	    !qc_id_valid(name, n - 5))
		return false;
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	return true;
}

static void
queue_unclaim(const char *name)
{
	if (unlinkat(KH_CHILD_FD_QPROC, name, 0) == 0 || errno == ENOENT)
		return;
	if (errno == EISDIR &&
	    unlinkat(KH_CHILD_FD_QPROC, name, AT_REMOVEDIR) == 0)
		return;
	log_warn("queue: cannot remove processing/%s: %s", name,
	    strerror(errno));
}

static int
queue_write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
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
	if (queue_write_all(fd, s->buf, s->len) < 0) {
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
static int
queue_write_response(const char *id, int status, const char *const *names,
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

/* The child's own answer: {"error": message} (+ the indeterminate-outcome
 * fields), then the claim is released. */
static void
queue_answer(const char *id, const char *name, int status, const char *message,
    bool indeterminate, const struct qenv *e, const char *reason)
{
	char peer[64];

	/* Every answer the child makes itself is logged by the parent. */
	snprintf(peer, sizeof(peer), "queue:%s", id);
	link_send_access(kh_net, peer, e != NULL ? e->method : "",
	    e != NULL ? e->path : "", status, reason != NULL ? reason : message,
	    0, strlen(message));

	struct sbuf b;
	const char *names[2] = { "content-type", "x-paperclip-bridge-outcome" };
	const char *values[2] = { "application/json", "indeterminate" };
	size_t vlens[2] = { 16, 13 };

	sbuf_init(&b, 4 * KH_PATH_MAX);
	sbuf_adds(&b, "{\"error\":");
	sbuf_add_jstr(&b, (const uint8_t *)message, strlen(message));
	if (indeterminate)
		sbuf_adds(&b, ",\"outcome\":\"indeterminate\",\"retryable\":false");
	sbuf_adds(&b, "}");
	if (!b.failed)
		(void)queue_write_response(id, status, names, values, vlens,
		    indeterminate ? 2 : 1, (const uint8_t *)b.buf, b.len);
	sbuf_free(&b);
	if (name != NULL)
		queue_unclaim(name);
}

static int
queue_read_claimed(const struct queue *q, const char *name, uint8_t **out,
    size_t *len, const char **why)
{
	return queue_file_read(KH_CHILD_FD_QPROC, name, q->envelope_max, out,
	    len, why);
}

static const char *
queue_status_message(int status)
{
	switch (status) {
	case 413: return "Bridge request envelope exceeded the configured size limit.";
	case 503: return "Bridge is out of memory.";
	default: return queue_msg_invalid;
	}
}

/* Step 5: the decision on one parsed envelope, and its MSG_REQUEST.
 * Returns 0 when forwarded, else answers and returns the status. */
static int
queue_gate(struct queue *q, const struct qitem *it, struct qenv *e)
{
	struct net *n = q->net;
	const char *ctype = NULL;
	size_t ctlen = 0, nfwd = 0, idx[KH_FWD_HEADERS_MAX];
	char msg[64 + KH_PATH_MAX];
	struct wbuf w;
	struct pending *p;
	struct qitem *keep;

	if (policy_match(&n->policy, e->method, e->path, e->path_len) < 0) {
		log_info("queue %s: %s %s -> 403 no rule", it->id, e->method,
		    e->path);
		snprintf(msg, sizeof(msg), "Route not allowed: %s %s", e->method,
		    e->path);
		queue_answer(it->id, it->name, 403, msg, false, e, "no rule");
		return 403;
	}
	for (size_t i = 0; i < e->nheaders; i++)
		if (strcmp(e->headers[i].name, "content-type") == 0) {
			ctype = e->headers[i].value;
			ctlen = e->headers[i].vlen;
		}
	if (e->body_len > 0 && (strcmp(e->method, "GET") == 0 ||
	    strcmp(e->method, "HEAD") == 0)) {
		log_info("queue %s: body on %s -> 400", it->id, e->method);
		queue_answer(it->id, it->name, 400, queue_msg_invalid, false, e,
		    "body on GET or HEAD");
		return 400;
	}
	if (e->body_len > 0 && !gate_ctype_is_json(ctype, ctlen)) {
		queue_answer(it->id, it->name, 415,
		    "Bridge only accepts JSON request bodies.", false, e, NULL);
		return 415;
	}
	if (e->body_len > 0) {
		cJSON *j = cJSON_ParseWithLength((const char *)e->body,
		    e->body_len);
		if (j == NULL) {
			queue_answer(it->id, it->name, 400,
			    "Request body is not valid JSON.", false, e, NULL);
			return 400;
		}
		cJSON_Delete(j);
	}
	/* The header allowlist, re-applied here: whatever the file says, only
	 * the policy's request headers travel (the rest is dropped, as on the
	 * HTTP transport). */
	for (size_t i = 0; i < e->nheaders; i++) {
		const struct qenv_header *h = &e->headers[i];
		if (!policy_req_header_allowed(&n->policy, h->name, h->nlen) ||
		    policy_header_forbidden(h->name, h->nlen)) {
			log_debug("queue %s: header %s dropped", it->id, h->name);
			continue;
		}
		if (nfwd == KH_FWD_HEADERS_MAX) {
			queue_answer(it->id, it->name, 431,
			    "Request header fields too large.", false, NULL, NULL);
			return 431;
		}
		idx[nfwd++] = i;
	}
	p = calloc(1, sizeof(*p));
	keep = malloc(sizeof(*keep));
	if (p == NULL || keep == NULL) {
		free(p);
		free(keep);
		queue_answer(it->id, it->name, 503, "Bridge is out of memory.",
		    false, NULL, NULL);
		return 503;
	}
	*keep = *it;
	p->id = ++n->next_id;
	p->qitem = keep;
	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, p->id);
	msg_put_cstr(&w, e->method);
	msg_put_str(&w, e->path, e->path_len);
	msg_put_u8(&w, e->has_query ? 1 : 0);
	msg_put_str(&w, e->query, e->query_len);
	snprintf(msg, sizeof(msg), "queue:%s", it->id);
	msg_put_cstr(&w, msg);
	msg_put_u16(&w, (uint16_t)nfwd);
	for (size_t k = 0; k < nfwd; k++) {
		const struct qenv_header *h = &e->headers[idx[k]];
		msg_put_str(&w, h->name, h->nlen);
		msg_put_str(&w, h->value, h->vlen);
	}
	msg_put_blob(&w, e->body, e->body_len);
	link_send(n, &w);
	p->next = n->pending;
	n->pending = p;
	n->npending++;
	return 0;
}

/* Steps 4-5 for a file already claimed into processing/. */
static void
queue_process(struct queue *q, const struct qitem *it)
{
	uint8_t *buf;
	size_t len;
	const char *why = NULL;
	struct qenv e;
	int st;

	st = queue_read_claimed(q, it->name, &buf, &len, &why);
	if (st != 0) {
		log_info("queue %s: refused (%s) -> %d", it->id, why, st);
		queue_answer(it->id, it->name, st, queue_status_message(st),
		    false, NULL, why);
		return;
	}
	st = qenv_parse(buf, len, &q->lim, &e, &why);
	free(buf);
	if (st == 0 && strcmp(e.id, it->id) != 0) {
		st = 400;
		why = "id differs from the file name";
	}
	if (st != 0) {
		log_info("queue %s: refused (%s) -> %d", it->id, why, st);
		queue_answer(it->id, it->name, st, st == 413 ?
		    "Request body too large." : queue_msg_invalid, false, &e, why);
		qenv_free(&e);
		return;
	}
	(void)queue_gate(q, it, &e);
	qenv_free(&e);
}

/* Steps 1-3 for one directory entry of requests/.  create_only: the name
 * came from IN_CREATE, which for a regular file means "being written":
 * wait for its IN_CLOSE_WRITE or IN_MOVED_TO (or the rescan). */
static void
queue_consider(struct queue *q, const char *name, bool create_only)
{
	struct net *n = q->net;
	struct qitem it;
	struct stat st;

	if (q->stopped || !queue_name_id(name, it.id))
		return;
	if (n->npending >= n->cfg.max_inflight) {
		q->deferred = true;
		return;
	}
	snprintf(it.name, sizeof(it.name), "%s", name);
	/* What is it?  O_PATH opens nothing for reading: a FIFO cannot block
	 * us, a device is never opened, a symlink is looked at, not
	 * followed. */
	int pfd = openat(KH_CHILD_FD_QREQ, name, O_PATH | O_NOFOLLOW |
	    O_CLOEXEC);
	if (pfd < 0)
		return;
	int r = queue_fstat(pfd, &st);
	close(pfd);
	if (r < 0)
		return;
	if (!S_ISREG(st.st_mode)) {
		/* Refused where it lies (it is never forwarded, so it needs no
		 * claim; Landlock would not let a symlink or a directory be
		 * moved into processing/ anyway).  Answered once: a directory
		 * that cannot be removed (not empty) keeps its answer. */
		int rfd = openat(KH_CHILD_FD_QRESP, name, O_PATH | O_NOFOLLOW |
		    O_CLOEXEC);
		if (rfd >= 0) {
			close(rfd);
			return;
		}
		log_info("queue %s: refused (not a regular file: %s) -> 400",
		    it.id, S_ISLNK(st.st_mode) ? "symlink" :
		    S_ISDIR(st.st_mode) ? "directory" : S_ISFIFO(st.st_mode) ?
		    "FIFO" : "special file");
		queue_answer(it.id, NULL, 400, queue_msg_invalid, false, NULL,
		    "not a regular file");
		if (unlinkat(KH_CHILD_FD_QREQ, name, S_ISDIR(st.st_mode) ?
		    AT_REMOVEDIR : 0) < 0)
			log_warn("queue %s: cannot remove requests/%s: %s", it.id,
			    name, strerror(errno));
		return;
	}
	if (create_only)
		return;
	/* The claim.  NOREPLACE: a second file under an id still in
	 * processing/ must not overwrite the first one's claim. */
	if (syscall(SYS_renameat2, KH_CHILD_FD_QREQ, name, KH_CHILD_FD_QPROC,
	    name, RENAME_NOREPLACE) < 0) {
		if (errno == ENOENT)
			return;		/* gone: taken back by its writer */
		if (errno == EEXIST) {
			log_warn("queue %s: a request with this id is already "
			    "being processed; the duplicate is removed", it.id);
			if (unlinkat(KH_CHILD_FD_QREQ, name, 0) < 0 &&
			    errno == EISDIR)
				(void)unlinkat(KH_CHILD_FD_QREQ, name,
				    AT_REMOVEDIR);
			return;
		}
		log_error("queue %s: cannot claim: %s", it.id, strerror(errno));
		return;
	}
	queue_process(q, &it);
}

/* One pass over requests/, resuming where the last one stopped so a
 * directory flooded with junk cannot starve the entries behind it. */
static void
queue_scan(struct queue *q)
{
	char buf[8192] __attribute__((aligned(8)));
	size_t seen = 0;
	bool wrapped = false;

	while (!q->stopped) {
		long n = syscall(SYS_getdents64, KH_CHILD_FD_QREQ, buf,
		    sizeof(buf));
		if (n < 0) {
			log_error("queue: cannot list requests/: %s",
			    strerror(errno));
			return;
		}
		if (n == 0) {
			(void)lseek(KH_CHILD_FD_QREQ, 0, SEEK_SET);
			if (wrapped)
				return;
			wrapped = true;
			continue;
		}
		for (long off = 0; off < n;) {
			const struct queue_dirent *d =
			    (const struct queue_dirent *)(buf + off);
			off += d->d_reclen;
			queue_consider(q, d->d_name, false);
			if (++seen >= KH_QUEUE_SCAN_MAX || q->deferred) {
				(void)lseek(KH_CHILD_FD_QREQ, d->d_off,
				    SEEK_SET);
				return;
			}
		}
	}
}

static void
queue_scan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	(void)fd;
	(void)what;
	q->deferred = false;
	queue_scan(q);
}

static void
queue_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;
	char buf[16384] __attribute__((aligned(8)));

	(void)what;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (ssize_t off = 0; off < n;) {
			const struct inotify_event *ev =
			    (const struct inotify_event *)(buf + off);
			off += (ssize_t)(sizeof(*ev) + ev->len);
			if (ev->mask & IN_Q_OVERFLOW) {
				queue_scan(q);
				continue;
			}
			if (ev->len == 0 || memchr(ev->name, '\0', ev->len) == NULL)
				continue;
			if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE))
				queue_consider(q, ev->name, false);
			else if (ev->mask & IN_CREATE)
				queue_consider(q, ev->name, true);
		}
	}
}

/*
 * At start: requests a previous child (or keyhole process) claimed but did
 * not answer.  It may have forwarded them, so they are never forwarded
 * again: answered 503 when retrying is harmless (GET, HEAD, OPTIONS), 409
 * with the indeterminate outcome otherwise.  A request whose answer was
 * already written is only released.
 */
static void
queue_recover(struct queue *q)
{
	char buf[8192] __attribute__((aligned(8)));
	size_t done = 0;

	(void)lseek(KH_CHILD_FD_QPROC, 0, SEEK_SET);
	for (;;) {
		long n = syscall(SYS_getdents64, KH_CHILD_FD_QPROC, buf,
		    sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			const struct queue_dirent *d =
			    (const struct queue_dirent *)(buf + off);
			struct qitem it;
			uint8_t *body;
			size_t len;
			const char *why;
			struct qenv e;
			off += d->d_reclen;
			if (!queue_name_id(d->d_name, it.id))
				continue;
			snprintf(it.name, sizeof(it.name), "%s", d->d_name);
			int rfd = openat(KH_CHILD_FD_QRESP, it.name, O_PATH |
			    O_NOFOLLOW | O_CLOEXEC);
			if (rfd >= 0) {
				close(rfd);
				queue_unclaim(it.name);
				continue;
			}
			int st = queue_read_claimed(q, it.name, &body, &len, &why);
			if (st != 0) {
				queue_answer(it.id, it.name, st,
				    queue_status_message(st), false, NULL, NULL);
				continue;
			}
			st = qenv_parse(body, len, &q->lim, &e, &why);
			free(body);
			if (st != 0) {
				/* Never valid, so never forwarded. */
				queue_answer(it.id, it.name, st, st == 413 ?
				    "Request body too large." :
				    queue_msg_invalid, false, NULL, NULL);
			} else if (util_method_safe(e.method)) {
				log_warn("queue %s: claimed before a restart; "
				    "answering 503", it.id);
				queue_answer(it.id, it.name, 503, "Bridge "
				    "restarted before the request was answered.",
				    false, &e, "claimed before a restart");
			} else {
				log_warn("queue %s: claimed before a restart "
				    "and maybe sent; answering 409 "
				    "indeterminate", it.id);
				queue_answer(it.id, it.name, 409, "Bridge "
				    "restarted after the request was claimed; "
				    "it may have taken effect.", true, &e,
				    "claimed before a restart");
			}
			qenv_free(&e);
			done++;
		}
	}
	if (done > 0)
		log_warn("queue: answered %zu request(s) left in processing/ "
		    "by a previous run", done);
}

void
queue_start(struct net *n)
{
	struct queue *q = calloc(1, sizeof(*q));
	struct timeval tv;
	uint32_t ms;

	if (q == NULL) {
		log_error("queue: out of memory");
		_exit(1);
	}
	q->net = n;
	q->envelope_max = KH_QUEUE_ENVELOPE_MAX(n->max_body);
	q->lim.max_body = n->max_body;
	q->lim.max_headers = n->cfg.max_headers;
	n->queue = q;
	queue_recover(q);
	ms = n->cfg.queue_inotify ? KH_QUEUE_RESCAN_MS : n->cfg.queue_poll_ms;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	q->scan_ev = event_new(n->base, -1, EV_PERSIST, queue_scan_cb, q);
	q->kick_ev = event_new(n->base, -1, 0, queue_scan_cb, q);
	if (q->scan_ev == NULL || q->kick_ev == NULL ||
	    event_add(q->scan_ev, &tv) < 0) {
		log_error("queue: cannot set up timers");
		_exit(1);
	}
	if (n->cfg.queue_inotify) {
		q->notify_ev = event_new(n->base, KH_CHILD_FD_QNOTIFY,
		    EV_READ | EV_PERSIST, queue_notify_cb, q);
		if (q->notify_ev == NULL || event_add(q->notify_ev, NULL) < 0) {
			log_error("queue: cannot watch the inotify fd");
			_exit(1);
		}
	}
	queue_scan(q);
}

void
queue_shutdown(struct net *n)
{
	struct queue *q = n->queue;

	if (q == NULL)
		return;
	q->stopped = true;
	event_del(q->scan_ev);
	event_del(q->kick_ev);
	if (q->notify_ev != NULL)
		event_del(q->notify_ev);
}

/* The parent's answer to a queue request (step 6). */
void
queue_deliver(struct net *n, struct qitem *it, int status,
    const char *const *names, const char *const *values, const size_t *vlens,
    size_t nh, const uint8_t *body, size_t blen)
{
	struct queue *q = n->queue;

	if (queue_write_response(it->id, status, names, values, vlens, nh,
	    body, blen) < 0)
		log_error("queue %s: the answer (status %d) could not be "
		    "written; the claim stays in processing/", it->id, status);
	else
		queue_unclaim(it->name);
	free(it);
	if (q != NULL && q->deferred && !q->stopped) {
		q->deferred = false;
		event_active(q->kick_ev, EV_TIMEOUT, 0);
	}
}
