/*
 * keyhole audit log: the file.  Opened once at start (and again at a
 * rotation), always relative to its directory's fd, O_NOFOLLOW; created
 * 0600; the directory may be written by nobody but root or keyhole's
 * user (SECURITY.md I11: another user could plant a link there).
 *
 * Resuming.  A file that exists is continued, never rewritten.  Its last
 * whole line must be a keyhole record (it begins AUDIT_PREFIX): its
 * digest is the next record's "prev" and its seq + 1 the next seq.  A
 * last line that is not whole (keyhole or the machine died in the middle
 * of a write: no '\n' at the end) is kept as it is, ended with a '\n',
 * and the next record, "event":"recover", gives its size and SHA-256:
 * the verifier takes a broken line followed by the recover record that
 * describes it exactly as the trace of a crash, and nothing else.  A file
 * whose last record is not the final checkpoint keyhole writes when it
 * stops also gets a recover record (keyhole was killed, or crashed).
 * Anything else (a last line that is not a record, one longer than
 * KH_AUDIT_LINE_MAX, a file of another user) stops keyhole at start: the
 * operator moves the file aside.
 *
 * Rotation continues the chain: the current file is closed by a signed
 * checkpoint, and the first record of the next file, "event":"rotate",
 * links to it.
 *   --audit-max-bytes  keyhole renames FILE to FILE.<seq of its first
 *                      record, 12 digits> (so `ls FILE.* FILE` lists the
 *                      files in order) in three steps that leave FILE
 *                      whole at every moment: a hard link FILE.<seq> to
 *                      the current file, the new file written as FILE.new
 *                      and renamed over FILE.
 *   SIGUSR1            the operator (logrotate without copytruncate) has
 *                      moved FILE away: keyhole finishes the old file and
 *                      creates FILE anew.  If FILE is still the file
 *                      keyhole writes, only the checkpoint is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_int.h"
#include "log.h"
#include "util.h"

/* What the file's end says (audit_file_scan). */
struct audit_tail {
	bool have_last;			/* a whole record line */
	uint64_t last_seq;
	uint8_t last_hash[AUDIT_HASH_LEN];
	bool clean;			/* it is the final checkpoint */
	size_t torn_len;		/* bytes after the last '\n' */
	uint8_t torn_hash[AUDIT_HASH_LEN];
};

/* seq of a record line (audit_format.h), never 0.  -1 if it is not. */
static int
audit_line_seq(const char *p, size_t n, uint64_t *seq)
{
	uint64_t v;

	if (audit_seq_parse(p, n, &v) < 0 || v == 0)
		return -1;
	*seq = v;
	return 0;
}

/* Does the line end as keyhole's final checkpoint does? */
static bool
audit_line_final(const char *p, size_t n)
{
	size_t fl = sizeof(AUDIT_FINAL_FIELD) - 1, sl = AUDIT_SIG_TAIL_LEN;

	return n > fl + sl && memcmp(p + n - sl - fl, AUDIT_FINAL_FIELD,
	    fl) == 0 && memcmp(p + n - sl, AUDIT_SIG_FIELD,
	    sizeof(AUDIT_SIG_FIELD) - 1) == 0 && memcmp(p + n - 2, "\"}", 2) == 0;
}

/* Read the last KH_AUDIT_LINE_MAX * 2 bytes of the file: the last whole
 * line and what follows it. */
static int
audit_file_scan(int fd, uint64_t size, struct audit_tail *t)
{
	size_t win = 2 * KH_AUDIT_LINE_MAX + 2, end, start;
	char *buf;
	ssize_t n;

	memset(t, 0, sizeof(*t));
	if (size == 0)
		return 0;
	if (win > size)
		win = (size_t)size;
	if ((buf = malloc(win)) == NULL)
		return -1;
	n = pread(fd, buf, win, (off_t)(size - win));
	if (n != (ssize_t)win) {
		free(buf);
		return -1;
	}
	end = win;
	while (end > 0 && buf[end - 1] != '\n')
		end--;
	t->torn_len = win - end;
	if ((end == 0 && win < size) || t->torn_len >= KH_AUDIT_LINE_MAX) {
		free(buf);
		return -2;		/* a tail no crash of keyhole leaves */
	}
	if (t->torn_len > 0)
		sha256(buf + end, t->torn_len, t->torn_hash);
	if (end > 0) {
		start = end - 1;
		while (start > 0 && buf[start - 1] != '\n')
			start--;
		if ((start == 0 && win < size) ||
		    audit_line_seq(buf + start, end - 1 - start,
		    &t->last_seq) < 0) {
			free(buf);
			return -2;
		}
		t->have_last = true;
		sha256(buf + start, end - 1 - start, t->last_hash);
		t->clean = audit_line_final(buf + start, end - 1 - start);
	}
	free(buf);
	return 0;
}

/* The seq of the file's first record (for the name it gets when rotated
 * by size); the next record's when there is none. */
static uint64_t
audit_file_first_seq(int fd)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	uint64_t seq;

	if (n > 0 && audit_line_seq(buf, (size_t)n, &seq) == 0)
		return seq;
	return audit_g.seq;
}

/* FILE's directory: opened once; writable by root or keyhole's user
 * only. */
static int
audit_file_dir(const char *path)
{
	struct audit *A = &audit_g;
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (slash == NULL) {
		snprintf(A->dir, sizeof(A->dir), ".");
		snprintf(A->name, sizeof(A->name), "%s", path);
	} else {
		snprintf(A->dir, sizeof(A->dir), "%.*s",
		    slash == path ? 1 : (int)(slash - path), path);
		snprintf(A->name, sizeof(A->name), "%s", slash + 1);
	}
	if (A->name[0] == '\0' || strcmp(A->name, ".") == 0 ||
	    strcmp(A->name, "..") == 0 || strlen(slash ? slash + 1 : path) >=
	    sizeof(A->name) - 20 || strlen(path) >= sizeof(A->dir)) {
		log_fatal("--audit-log %s: give the path of a file", path);
		return -1;
	}
	A->dirfd = open(A->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (A->dirfd < 0 || fstat(A->dirfd, &st) < 0) {
		log_fatal("--audit-log: cannot open the directory %s: %s",
		    A->dir, strerror(errno));
		return -1;
	}
	if ((st.st_uid != 0 && st.st_uid != geteuid()) ||
	    (st.st_mode & 022) != 0) {
		log_fatal("--audit-log: the directory %s may be written by "
		    "another user (owner uid %ld, mode %04o): it could plant "
		    "a link there; use a directory only root or keyhole's user "
		    "can write", A->dir, (long)st.st_uid,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* A file keyhole may write: regular, its user's, no one else may write
 * it. */
static int
audit_file_check(int fd, const char *name)
{
	struct stat st;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_uid != geteuid() || (st.st_mode & 022) != 0) {
		log_fatal("--audit-log %s/%s must be a regular file of "
		    "keyhole's user that no one else may write", audit_g.dir,
		    name);
		return -1;
	}
	return 0;
}

/* Open (creating) name in the directory for appending. */
static int
audit_file_create(const char *name, int extra)
{
	return openat(audit_g.dirfd, name, O_RDWR | O_APPEND | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC | extra, 0600);
}

int
audit_file_open(const char *path)
{
	struct audit *A = &audit_g;
	struct audit_tail t;
	struct stat st;
	int rc;

	if (audit_file_dir(path) < 0)
		return -1;
	A->fd = audit_file_create(A->name, 0);
	if (A->fd < 0) {
		log_fatal("--audit-log %s: %s", path, strerror(errno));
		return -1;
	}
	if (audit_file_check(A->fd, A->name) < 0 || fstat(A->fd, &st) < 0)
		return -1;
	A->size = (uint64_t)st.st_size;
	rc = audit_file_scan(A->fd, A->size, &t);
	if (rc < 0) {
		log_fatal("--audit-log %s: %s", path, rc == -2 ?
		    "its end is not a keyhole audit record (nor a record cut "
		    "short by a crash): move the file aside" :
		    "cannot read its end");
		return -1;
	}
	A->seq = t.have_last ? t.last_seq + 1 : 1;
	if (t.have_last)
		memcpy(A->head, t.last_hash, AUDIT_HASH_LEN);
	A->file_first_seq = audit_file_first_seq(A->fd);
	if (t.torn_len > 0) {
		/* The broken line stays; a '\n' ends it. */
		if (util_write_all(A->fd, "\n", 1) < 0) {
			log_fatal("--audit-log %s: %s", path, strerror(errno));
			return -1;
		}
		A->size++;
	}
	if (t.torn_len > 0 || (t.have_last && !t.clean)) {
		char th[2 * AUDIT_HASH_LEN + 1];
		hex_lower(t.torn_hash, AUDIT_HASH_LEN, th);
		log_warn("audit log %s was not closed by keyhole (a crash, or "
		    "kill -9)%s; recording the recovery", path, t.torn_len ?
		    ", its last line is cut short" : "");
		audit_event(AUDIT_RECOVER, AF_INT("lastSeq", A->seq - 1),
		    AF_INT("tornBytes", (long long)t.torn_len),
		    AF_STR("tornSha256", t.torn_len ? th : NULL));
	}
	return 0;
}

/* Make newfd, a fresh file, the one written: its first record is the
 * rotate record (which links to the checkpoint closing the old file). */
static int
audit_file_switch(int newfd, const char *why, const char *previous)
{
	struct audit *A = &audit_g;
	int oldfd = A->fd;

	A->fd = newfd;
	A->size = 0;
	A->file_first_seq = A->seq;
	audit_event(AUDIT_ROTATE, AF_STR("reason", why),
	    AF_STR("previous", previous));
	close(oldfd);
	return audit_flush_now(true);
}

/* Close the current file with a checkpoint, written and synced. */
static int
audit_file_finish(void)
{
	if (audit_checkpoint(false) < 0 || audit_flush_now(true) < 0)
		return -1;
	return 0;
}

void
audit_file_rotate(bool by_size)
{
	struct audit *A = &audit_g;
	char old[300], tmp[300];
	struct stat a, b;
	int fd;

	(void)by_size;
	if (audit_file_finish() < 0)
		return;
	snprintf(old, sizeof(old), "%.236s.%012llu", A->name,
	    (unsigned long long)A->file_first_seq);
	snprintf(tmp, sizeof(tmp), "%.236s.new", A->name);
	if (linkat(A->dirfd, A->name, A->dirfd, old, 0) < 0 &&
	    !(errno == EEXIST && fstatat(A->dirfd, old, &a,
	    AT_SYMLINK_NOFOLLOW) == 0 && fstat(A->fd, &b) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)) {
		log_error("audit: cannot link %s/%s to %s (%s): not rotated; "
		    "no longer rotating by size", A->dir, A->name, old,
		    strerror(errno));
		A->max_bytes = 0;
		return;
	}
	/* A FILE.new left by a crash in the middle of a rotation holds
	 * nothing the chain needs (its record was never linked to). */
	(void)unlinkat(A->dirfd, tmp, 0);
	fd = audit_file_create(tmp, O_EXCL);
	if (fd < 0) {
		log_error("audit: cannot create %s/%s (%s): not rotated",
		    A->dir, tmp, strerror(errno));
		A->max_bytes = 0;
		return;
	}
	(void)audit_file_switch(fd, "size", old);
	if (renameat(A->dirfd, tmp, A->dirfd, A->name) < 0)
		log_error("audit: cannot rename %s/%s to %s (%s): the log goes "
		    "on in %s", A->dir, tmp, A->name, strerror(errno), tmp);
	else
		log_info("audit: %s/%s rotated to %s", A->dir, A->name, old);
}

void
audit_file_usr1(evutil_socket_t sig, short what, void *arg)
{
	struct audit *A = &audit_g;
	struct stat a, b;
	int fd;

	(void)sig;
	(void)what;
	(void)arg;
	if (!A->on || A->closed || A->failing)
		return;
	if (audit_file_finish() < 0)
		return;
	if (fstatat(A->dirfd, A->name, &a, AT_SYMLINK_NOFOLLOW) == 0) {
		if (fstat(A->fd, &b) == 0 && a.st_ino == b.st_ino &&
		    a.st_dev == b.st_dev)
			log_info("audit: SIGUSR1, but %s/%s was not moved: "
			    "going on with it", A->dir, A->name);
		else
			log_error("audit: SIGUSR1: %s/%s is another file than "
			    "the one keyhole writes: going on with the old "
			    "one", A->dir, A->name);
		return;
	}
	fd = audit_file_create(A->name, O_EXCL);
	if (fd < 0 || audit_file_check(fd, A->name) < 0) {
		log_error("audit: SIGUSR1: cannot create %s/%s (%s): going on "
		    "with the old file", A->dir, A->name, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	(void)audit_file_switch(fd, "signal", NULL);
	log_info("audit: SIGUSR1: %s/%s reopened", A->dir, A->name);
}
