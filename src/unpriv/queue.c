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
 *      claimed, so the gateway's own queue-depth limit applies (beside
 *      HTTP listeners a quarter of the slots stays theirs: queue_slots);
 *   3. claim: renameat2(RENAME_NOREPLACE) into processing/, BEFORE any
 *      byte is read or forwarded.  From here on, a crash or restart finds
 *      it in processing/ and answers it (503 for GET/HEAD/OPTIONS, 409
 *      indeterminate otherwise) without forwarding it: at most once;
 *   4. in processing/: an O_PATH|O_NOFOLLOW handle first (a symlink, FIFO
 *      or device is never opened for reading), regular file with one link
 *      only, size checked against the envelope bound before reading, then
 *      opened O_NOFOLLOW|O_NONBLOCK, the same inode, read to exactly the
 *      size fstat gave, and fstat again: a file that changed is refused;
 *   5. qenv_parse (queue_envelope.c), the id must be the file's stem;
 *      then the same decision as for an HTTP request (decide.c: policy
 *      with its variables, the rule's query/body/media type/size rules,
 *      `keys`, rate and `max`, headers reduced to the global allowlist
 *      plus the rule's own), with the same answers; then one MSG_REQUEST
 *      to the parent, which re-checks it exactly as an HTTP request;
 *   6. the answer (the parent's MSG_RESPONSE, or the child's own error) is
 *      written responses/<id>.json.tmp (O_CREAT|O_EXCL|O_NOFOLLOW) then
 *      renamed into place, and only then is processing/<id>.json removed
 *      (queue_answer.c).  An answer that cannot be written (a full disk)
 *      is kept and written again later, its claim kept meanwhile; while
 *      any is kept, step 2 claims nothing.
 *
 * A scan, or a batch of inotify events, yields to the event loop after
 * KH_QUEUE_SLICE_MS (and continues at once after it), so the parent's
 * liveness pings and the clients are served between files.
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

#include "decide.h"
#include "net.h"
#include "notify.h"
#include "qcodec.h"
#include "queue_answer.h"
#include "queue_envelope.h"
#include "queue_file.h"
#include "util.h"

struct qitem {
	char id[KH_QUEUE_ID_MAX + 1];
	char name[QUEUE_NAME_MAX];	/* <id>.json */
};

struct queue {
	struct net *net;
	struct event *notify_ev;	/* inotify fd readable */
	struct event *scan_ev;		/* periodic scan */
	struct event *kick_ev;		/* scan again at the next turn of the
					   loop: capacity freed, or a slice
					   used up */
	bool deferred;			/* a file waits for capacity */
	bool stopped;			/* shutting down: claim nothing */
	uint64_t envelope_max;		/* request file bytes */
	int64_t batch_t0;		/* this batch of inotify events began */
	struct qenv_limits lim;
};

struct queue_dirent {			/* struct linux_dirent64 */
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

#define queue_fstat queue_file_fstat

static void queue_deliver(struct net *, struct pending *,
    const struct link_answer *);

/* Scan again after the loop has polled (a zero timeout, not
 * event_active, which would run before it). */
static void
queue_continue(struct queue *q)
{
	struct timeval zero = { 0, 0 };

	q->deferred = false;
	evtimer_add(q->kick_ev, &zero);
}

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

static int
queue_read_claimed(const struct queue *q, const char *name, uint8_t **out,
    size_t *len, const char **why)
{
	return queue_file_read(KH_CHILD_FD_QPROC, name, q->envelope_max, out,
	    len, why);
}

/* The answer to a file queue_file_read refused with status. */
static enum pc_id
queue_read_refusal(int status)
{
	switch (status) {
	case 413: return PC_Q_ENVELOPE;
	case 503: return PC_OUT_OF_MEMORY;
	default: return PC_Q_INVALID;
	}
}

/* The answer to an envelope qenv_parse refused with status. */
static enum pc_id
queue_parse_refusal(int status)
{
	return status == 413 ? PC_HTTP_TOO_LARGE : PC_Q_INVALID;
}

void
queue_describe(const struct qenv *e, const char *peer, struct decide_req *r,
    struct decide_hdr *h)
{
	for (size_t i = 0; i < e->nheaders; i++) {
		h[i].name = e->headers[i].name;
		h[i].nlen = e->headers[i].nlen;
		h[i].value = e->headers[i].value;
		h[i].vlen = e->headers[i].vlen;
	}
	memset(r, 0, sizeof(*r));
	r->method = e->method;
	r->path = e->path;
	r->path_len = e->path_len;
	r->has_query = e->has_query;
	r->query = e->query;
	r->query_len = e->query_len;
	r->peer = peer;
	r->hdrs = h;
	r->nhdrs = e->nheaders;
	r->has_body = e->body_len > 0;
	r->len_known = true;
	r->len = e->body_len;
	r->body = e->body;
	r->body_len = e->body_len;
}

/* Step 5: the decision on one parsed envelope (decide.c, exactly as for
 * an HTTP request but for the bridge token: the gateway authenticated
 * it), and its MSG_REQUEST.  Returns 0 when forwarded, else answers and
 * returns the status. */
static int
queue_gate(struct queue *q, const struct qitem *it, struct qenv *e)
{
	struct net *n = q->net;
	struct decide_hdr h[KH_HEADERS_MAX];
	struct decide_req r;
	struct decide_verdict v;
	struct pending *p;
	struct qitem *keep;
	char peer[sizeof("queue:") + KH_QUEUE_ID_MAX];

	/* What the HTTP parser refuses before any rule is consulted. */
	if (e->body_len > 0 && (strcmp(e->method, "GET") == 0 ||
	    strcmp(e->method, "HEAD") == 0)) {
		log_info("queue %s: body on %s -> 400", it->id, e->method);
		queue_answer_error(it->id, it->name, PC_Q_INVALID, e,
		    "body on GET or HEAD");
		return 400;
	}
	snprintf(peer, sizeof(peer), "queue:%s", it->id);
	queue_describe(e, peer, &r, h);
	if (decide_head(n, &r, &v) != 0 || decide_body(n, &r, &v) != 0) {
		queue_answer_verdict(it->id, it->name, e, &v);
		return v.status;
	}
	if ((keep = malloc(sizeof(*keep))) == NULL) {
		queue_answer_error(it->id, it->name, PC_OUT_OF_MEMORY, e, NULL);
		return 503;
	}
	*keep = *it;
	p = decide_forward(n, &r, e->body, &v);
	e->body = NULL;			/* the frame's now, or freed */
	if (p == NULL) {
		free(keep);
		queue_answer_verdict(it->id, it->name, e, &v);
		return v.status;
	}
	p->done = queue_deliver;
	p->owner = keep;
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
		queue_answer_error(it->id, it->name, queue_read_refusal(st), NULL,
		    why);
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
		queue_answer_error(it->id, it->name, queue_parse_refusal(st), &e,
		    why);
		qenv_free(&e);
		return;
	}
	(void)queue_gate(q, it, &e);
	qenv_free(&e);
}

/* Steps 1-3 for one directory entry of requests/.  create_only: the name
 * came from IN_CREATE, which for a regular file means "being written":
 * wait for its IN_CLOSE_WRITE or IN_MOVED_TO (or the rescan). */
/* Requests in flight up to which a file may be claimed. */
static size_t
queue_slots(const struct net *n)
{
	size_t cap = n->cfg.max_inflight;

	if (n->nlisteners > 0 && cap >= 2)
		cap -= cap / KH_QUEUE_HTTP_SHARE > 0 ? cap / KH_QUEUE_HTTP_SHARE :
		    1;
	return cap;
}

static void
queue_consider(struct queue *q, const char *name, bool create_only)
{
	struct net *n = q->net;
	struct qitem it;
	struct stat st;

	if (q->stopped || !queue_name_id(name, it.id))
		return;
	/* Kept answers count in npending; while there are any, the disk is
	 * full: nothing new is claimed (queue_answer.c). */
	if (n->npending >= queue_slots(n) || queue_answer_held() > 0) {
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
		queue_answer_error(it.id, NULL, PC_Q_INVALID, NULL,
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
	uint64_t t0 = (uint64_t)util_now_ms();

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
			if ((uint64_t)util_now_ms() - t0 >= KH_QUEUE_SLICE_MS) {
				(void)lseek(KH_CHILD_FD_QREQ, d->d_off,
				    SEEK_SET);
				queue_continue(q);
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

/* One inotify event (notify.c); false stops the batch: its time slice
 * is used up, and the scan that follows finds the files of the events
 * left. */
static bool
queue_notify_event(void *arg, uint32_t mask, const char *name)
{
	struct queue *q = arg;

	if (util_now_ms() - q->batch_t0 >= KH_QUEUE_SLICE_MS) {
		queue_continue(q);
		return false;
	}
	if (mask & IN_Q_OVERFLOW)
		queue_scan(q);
	else if (name == NULL)
		return true;
	else if (mask & (IN_MOVED_TO | IN_CLOSE_WRITE))
		queue_consider(q, name, false);
	else if (mask & IN_CREATE)
		queue_consider(q, name, true);
	return true;
}

static void
queue_notify_cb(evutil_socket_t fd, short what, void *arg)
{
	struct queue *q = arg;

	(void)what;
	q->batch_t0 = util_now_ms();
	notify_read(fd, queue_notify_event, q);
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
				queue_answer_release(it.name);
				continue;
			}
			int st = queue_read_claimed(q, it.name, &body, &len, &why);
			if (st != 0) {
				queue_answer_error(it.id, it.name,
				    queue_read_refusal(st), NULL, NULL);
				continue;
			}
			st = qenv_parse(body, len, &q->lim, &e, &why);
			free(body);
			if (st != 0) {
				/* Never valid, so never forwarded. */
				queue_answer_error(it.id, it.name,
				    queue_parse_refusal(st), NULL, NULL);
			} else if (util_method_safe(e.method)) {
				log_warn("queue %s: claimed before a restart; "
				    "answering 503", it.id);
				queue_answer_error(it.id, it.name,
				    PC_Q_RESTARTED, &e,
				    "claimed before a restart");
			} else {
				log_warn("queue %s: claimed before a restart "
				    "and maybe sent; answering 409 "
				    "indeterminate", it.id);
				queue_answer_error(it.id, it.name,
				    PC_Q_RESTARTED_SENT, &e,
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

	if (q == NULL)
		link_fatal("queue: out of memory");
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
	    event_add(q->scan_ev, &tv) < 0)
		link_fatal("queue: cannot set up timers");
	if (n->cfg.queue_inotify) {
		q->notify_ev = event_new(n->base, KH_CHILD_FD_QNOTIFY,
		    EV_READ | EV_PERSIST, queue_notify_cb, q);
		if (q->notify_ev == NULL || event_add(q->notify_ev, NULL) < 0)
			link_fatal("queue: cannot watch the inotify fd");
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

/* Capacity was freed: scan for what waited for it. */
void
queue_kick(struct net *n)
{
	struct queue *q = n->queue;

	if (q != NULL && q->deferred && !q->stopped)
		queue_continue(q);
}

/* A queue request's completion callback (step 6): the parent's answer,
 * checked by link.c, as its response file. */
static void
queue_deliver(struct net *n, struct pending *p, const struct link_answer *a)
{
	struct qitem *it = p->owner;

	queue_answer_file(it->id, it->name, a->status, a->names, a->values,
	    a->vlens, a->nh, a->body, a->blen);
	free(it);
	queue_kick(n);
}
