/*
 * keyhole connect-launcher: runs the operator's command for http2_v1
 * (connect.h has the protocol).  Started by the parent before it loads
 * the credential, by fork + exec of keyhole itself with an empty
 * environment: this process never held a byte of the credential.  It
 * holds the bridge token only in the moment it builds a session (the
 * token is the sandbox's anyway); it is not dumpable.
 *
 * It reads no byte CMD writes: CMD's stdout, stdin and stderr go to the
 * parent (and from there to keyhole-net) the moment CMD is started.
 *
 * CMD runs as `/bin/sh -c CMD` in a session (and process group) of its
 * own, with exactly the environment the parent sent, fds 0-2 the three
 * pipes and nothing else open.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "connect.h"
#include "kh_limits.h"
#include "sha256.h"
#include "util.h"

#define CL_SOCK 3
#define CL_MSG_MAX (64u * 1024)
#define CL_SESSIONS_MAX 8
/* The upload's file, bytes (a static gateway is a few MiB). */
#define CL_UPLOAD_MAX (64u * 1024 * 1024)

struct cl_session {
	pid_t pid;			/* 0: free slot */
	int64_t kill_at;		/* SIGKILL deadline, 0: none */
};

static struct cl_session cl_sess[CL_SESSIONS_MAX];

struct cl_reader {
	const uint8_t *p;
	size_t left;
	int failed;
};

static uint32_t
cl_u32(struct cl_reader *r)
{
	uint32_t v;

	if (r->left < 4) {
		r->failed = 1;
		return 0;
	}
	v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	    (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->left -= 4;
	return v;
}

/* A string, copied NUL-terminated (no NUL inside); NULL on error. */
static char *
cl_str(struct cl_reader *r)
{
	uint32_t n = cl_u32(r);
	char *s;

	if (r->failed || n > r->left || memchr(r->p, '\0', n) != NULL) {
		r->failed = 1;
		return NULL;
	}
	if ((s = malloc(n + 1)) == NULL) {
		r->failed = 1;
		return NULL;
	}
	memcpy(s, r->p, n);
	s[n] = '\0';
	r->p += n;
	r->left -= n;
	return s;
}

static void
cl_send(const void *buf, size_t len, const int *fds, int nfds)
{
	struct msghdr mh;
	struct iovec iov = { (void *)buf, len };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(3 * sizeof(int))];
	} cm;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.b;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	while (sendmsg(CL_SOCK, &mh, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void
cl_put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* 'E' and why (what failed, and errno's text). */
static void
cl_error(const char *what)
{
	uint8_t msg[512];
	int n = snprintf((char *)msg + 5, sizeof(msg) - 5, "%s: %s", what,
	    strerror(errno));

	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(msg) - 5)
		n = (int)(sizeof(msg) - 5);
	msg[0] = 'E';
	cl_put_u32(msg + 1, (uint32_t)n);
	cl_send(msg, 5 + (size_t)n, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* The script on CMD's stdin (script mode). */

struct cl_buf {
	char *p;
	size_t len, cap;
	int failed;
};

static void
cl_add(struct cl_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->len < n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (q == NULL) {
			b->failed = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void
cl_adds(struct cl_buf *b, const char *s)
{
	cl_add(b, s, strlen(s));
}

/* s as one single-quoted shell word. */
static void
cl_quote(struct cl_buf *b, const char *s)
{
	cl_adds(b, "'");
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			cl_adds(b, "'\"'\"'");
		else
			cl_add(b, s, 1);
	}
	cl_adds(b, "'");
}

static void
cl_base64(struct cl_buf *b, const uint8_t *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t ll = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		line[ll++] = tab[v >> 18 & 63];
		line[ll++] = tab[v >> 12 & 63];
		line[ll++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		line[ll++] = i + 2 < n ? tab[v & 63] : '=';
		if (ll >= 76) {
			line[ll++] = '\n';
			cl_add(b, line, ll);
			ll = 0;
		}
	}
	if (ll > 0) {
		line[ll++] = '\n';
		cl_add(b, line, ll);
	}
}

static int
cl_read_file(const char *path, uint8_t **out, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)CL_UPLOAD_MAX) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	*out = malloc((size_t)st.st_size + 1);
	if (*out == NULL) {
		close(fd);
		return -1;
	}
	ssize_t n = util_read_upto(fd, *out, (size_t)st.st_size + 1);
	close(fd);
	if (n < 0 || (size_t)n != (size_t)st.st_size) {
		free(*out);
		errno = n < 0 ? errno : EAGAIN;
		return -1;
	}
	*len = (size_t)n;
	return 0;
}

/* The upload, as Paperclip's syncRemoteTextFileWithHashSkip does it: the
 * file is written only when the sandbox's copy has another hash, under a
 * temporary name, verified, made executable, renamed into place.
 * Unlike Paperclip, the bytes always travel (inside the script): knowing
 * the sandbox's hash first would mean reading CMD's output here. */
static int
cl_script_upload(struct cl_buf *b, const char *src, const char *dest)
{
	uint8_t *data;
	size_t len;
	char hex[2 * SHA256_LEN + 1], tag[40];

	if (cl_read_file(src, &data, &len) < 0) {
		fprintf(stderr, "keyhole connect-launcher: cannot read %s: %s\n",
		    src, strerror(errno));
		return -1;
	}
	sha256_hex(data, len, hex);
	/* A here-document end no line of base64 can be. */
	snprintf(tag, sizeof(tag), "KH_UPLOAD_END_%.16s", hex);
	cl_adds(b, "kh_dest=");
	cl_quote(b, dest);
	cl_adds(b, "\nkh_want=");
	cl_adds(b, hex);
	cl_adds(b, "\n"
	    "kh_hash() {\n"
	    "  if command -v sha256sum >/dev/null 2>&1; then sha256sum \"$1\" "
	    "| cut -d' ' -f1\n"
	    "  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "
	    "\"$1\" | cut -d' ' -f1\n"
	    "  else return 127; fi\n"
	    "}\n"
	    "mkdir -p \"$(dirname \"$kh_dest\")\"\n"
	    "kh_have=$(kh_hash \"$kh_dest\" 2>/dev/null || true)\n"
	    "if [ \"$kh_have\" != \"$kh_want\" ]; then\n"
	    "  kh_tmp=\"$kh_dest.partial.$$\"\n"
	    "  rm -f \"$kh_tmp\"\n"
	    "  base64 -d > \"$kh_tmp\" <<'");
	cl_adds(b, tag);
	cl_adds(b, "'\n");
	cl_base64(b, data, len);
	cl_adds(b, tag);
	cl_adds(b, "\n"
	    "  if kh_got=$(kh_hash \"$kh_tmp\"); then\n"
	    "    if [ \"$kh_got\" != \"$kh_want\" ]; then rm -f \"$kh_tmp\"; "
	    "echo 'keyhole: uploaded gateway: hash mismatch' >&2; exit 1; fi\n"
	    "  else echo 'keyhole: no sha256sum or shasum in the sandbox: "
	    "upload not verified' >&2; fi\n"
	    "  chmod 0700 \"$kh_tmp\"\n"
	    "  mv -f \"$kh_tmp\" \"$kh_dest\"\n"
	    "  echo 'keyhole: gateway uploaded' >&2\n"
	    "else echo 'keyhole: gateway up to date' >&2; fi\n");
	free(data);
	return 0;
}

/* set -eu, the settings exported (single-quoted), the upload, exec. */
static int
cl_script(struct cl_buf *b, char **gw_env, uint32_t m,
    const char *script_cmd, const char *upload_src, const char *upload_dest)
{
	cl_adds(b, "set -eu\numask 077\n");
	for (uint32_t i = 0; i < m; i++) {
		const char *eq = strchr(gw_env[i], '=');
		if (eq == NULL)
			continue;
		cl_adds(b, "export ");
		cl_add(b, gw_env[i], (size_t)(eq - gw_env[i]));
		cl_adds(b, "=");
		cl_quote(b, eq + 1);
		cl_adds(b, "\n");
	}
	if (upload_src[0] != '\0' &&
	    cl_script_upload(b, upload_src, upload_dest) < 0)
		return -1;
	/* The gateway replaces the shell (its stdin and stdout are the
	 * channel); a command that says exec itself is left as it is. */
	if (strncmp(script_cmd, "exec ", 5) != 0)
		cl_adds(b, "exec ");
	if (script_cmd[0] != '\0')
		cl_adds(b, script_cmd);
	else
		cl_quote(b, upload_dest);
	cl_adds(b, "\n");
	return b->failed ? -1 : 0;
}

/* Write the script in a process of its own (it may be megabytes, and
 * CMD takes it at the channel's pace), then exit. */
static void
cl_feed(int fd, const struct cl_buf *b)
{
	pid_t pid = fork();

	if (pid != 0)
		return;			/* the feeder is reaped with the rest */
	signal(SIGPIPE, SIG_IGN);
	(void)util_write_all(fd, b->p, b->len);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* Sessions. */

static void
cl_start(struct cl_reader *r)
{
	char *cmd = cl_str(r), *script_cmd = cl_str(r), *usrc = cl_str(r),
	    *udest = cl_str(r);
	char *cenv[KH_CONNECT_ENV_MAX + 1], *genv[KH_CONNECT_ENV_MAX + 1];
	uint32_t n = 0, m = 0;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
	struct cl_buf script = { 0 };
	struct cl_session *slot = NULL;
	pid_t pid;

	memset(cenv, 0, sizeof(cenv));
	memset(genv, 0, sizeof(genv));
	if (!r->failed && (n = cl_u32(r)) <= KH_CONNECT_ENV_MAX)
		for (uint32_t i = 0; i < n; i++)
			cenv[i] = cl_str(r);
	else
		r->failed = 1;
	if (!r->failed && (m = cl_u32(r)) <= KH_CONNECT_ENV_MAX)
		for (uint32_t i = 0; i < m; i++)
			genv[i] = cl_str(r);
	else
		r->failed = 1;
	for (size_t i = 0; i < CL_SESSIONS_MAX; i++)
		if (cl_sess[i].pid == 0)
			slot = &cl_sess[i];
	errno = EINVAL;
	if (r->failed || r->left != 0 || slot == NULL) {
		cl_error("malformed request or too many sessions");
		goto out;
	}
	if (script_cmd[0] != '\0' || usrc[0] != '\0') {
		if (cl_script(&script, genv, m, script_cmd, usrc, udest) < 0) {
			cl_error("cannot build the gateway script");
			goto out;
		}
	} else {
		/* Environment mode: the gateway's settings in CMD's own. */
		for (uint32_t i = 0; i < m && n < KH_CONNECT_ENV_MAX; i++) {
			cenv[n++] = genv[i];
			genv[i] = NULL;
		}
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 ||
	    pipe2(err, O_CLOEXEC) < 0) {
		cl_error("pipe");
		goto out;
	}
	if ((pid = fork()) < 0) {
		cl_error("fork");
		goto out;
	}
	if (pid == 0) {
		char *argv[] = { "sh", "-c", cmd, NULL };
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		setsid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0U, 0);
		execve("/bin/sh", argv, cenv);
		_exit(127);
	}
	slot->pid = pid;
	slot->kill_at = 0;
	close(in[0]);
	close(out[1]);
	close(err[1]);
	in[0] = out[1] = err[1] = -1;
	if (script.len > 0)
		cl_feed(in[1], &script);
	uint8_t msg[5];
	int fds[3] = { out[0], in[1], err[0] };
	msg[0] = 'P';
	cl_put_u32(msg + 1, (uint32_t)pid);
	cl_send(msg, sizeof(msg), fds, 3);
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	if (script.p != NULL) {
		explicit_bzero(script.p, script.len);
		free(script.p);
	}
	for (size_t i = 0; i < KH_CONNECT_ENV_MAX; i++) {
		if (cenv[i] != NULL)
			explicit_bzero(cenv[i], strlen(cenv[i]));
		if (genv[i] != NULL)
			explicit_bzero(genv[i], strlen(genv[i]));
		free(cenv[i]);
		free(genv[i]);
	}
	free(cmd);
	free(script_cmd);
	free(usrc);
	free(udest);
}

static void
cl_stop(pid_t pid)
{
	for (size_t i = 0; i < CL_SESSIONS_MAX; i++)
		if (cl_sess[i].pid == pid && pid > 0 && cl_sess[i].kill_at == 0) {
			kill(-pid, SIGTERM);
			kill(pid, SIGTERM);
			cl_sess[i].kill_at = util_now_ms() +
			    KH_CONNECT_KILL_GRACE_MS;
		}
}

static void
cl_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (size_t i = 0; i < CL_SESSIONS_MAX; i++) {
			if (cl_sess[i].pid != pid)
				continue;
			uint8_t msg[9];
			msg[0] = 'X';
			cl_put_u32(msg + 1, (uint32_t)pid);
			cl_put_u32(msg + 5, (uint32_t)status);
			cl_send(msg, sizeof(msg), NULL, 0);
			/* What else ran in its process group goes too. */
			kill(-pid, SIGKILL);
			cl_sess[i].pid = 0;
			cl_sess[i].kill_at = 0;
		}
	}
}

static void
cl_deadlines(void)
{
	int64_t now = util_now_ms();

	for (size_t i = 0; i < CL_SESSIONS_MAX; i++)
		if (cl_sess[i].pid > 0 && cl_sess[i].kill_at != 0 &&
		    now >= cl_sess[i].kill_at) {
			kill(-cl_sess[i].pid, SIGKILL);
			kill(cl_sess[i].pid, SIGKILL);
			cl_sess[i].kill_at = now + 60000;
		}
}

static int
cl_any(void)
{
	for (size_t i = 0; i < CL_SESSIONS_MAX; i++)
		if (cl_sess[i].pid > 0)
			return 1;
	return 0;
}

int
connect_launcher_main(void)
{
	static uint8_t buf[CL_MSG_MAX];
	struct stat st;
	int type = 0;
	socklen_t tl = sizeof(type);
	bool open = true;

	if (fstat(CL_SOCK, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(CL_SOCK, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr, "keyhole connect-launcher is started by "
		    "keyhole serve --connect\n");
		return 2;
	}
	prctl(PR_SET_DUMPABLE, 0);
	/* exec'd as /proc/self/exe: "exe" would be its name in ps. */
	prctl(PR_SET_NAME, "keyhole-connect");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);	/* the parent decides; a ^C reaches
					   keyhole, which drains */
	signal(SIGTERM, SIG_IGN);
	while (open || cl_any()) {
		struct pollfd pfd = { CL_SOCK, POLLIN, 0 };
		int rc = poll(&pfd, open ? 1 : 0, 100);
		if (rc > 0 && (pfd.revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = recv(CL_SOCK, buf, sizeof(buf), 0);
			if (n == 0 || (n < 0 && errno != EINTR &&
			    errno != EAGAIN)) {
				/* The parent is gone: stop everything. */
				open = false;
				for (size_t i = 0; i < CL_SESSIONS_MAX; i++)
					cl_stop(cl_sess[i].pid);
			} else if (n > 0) {
				struct cl_reader r = { buf + 1, (size_t)n - 1,
				    0 };
				if (buf[0] == 'S') {
					cl_start(&r);
				} else if (buf[0] == 'K') {
					uint32_t pid = cl_u32(&r);
					if (!r.failed)
						cl_stop((pid_t)pid);
				}
			}
		}
		cl_reap();
		cl_deadlines();
	}
	return 0;
}
