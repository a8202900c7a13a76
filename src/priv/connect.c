/*
 * keyhole http2_v1, the parent's side (connect.h): the launcher, one
 * session per child.
 *
 * A session is one run of CMD and lives exactly as long as the child that
 * holds its pipes: an HTTP/2 session's state (HPACK tables, streams) is in
 * that child and cannot move.  supervise.c asks for a session before it
 * starts a child (connect_open: a fresh nonce, CMD started by the
 * launcher, its pipes at fds 19-21 of the child) and stops CMD when the
 * child is gone (connect_stop); the child ends when the session
 * does, so the usual restart with back-off (100 ms doubling to 30 s)
 * reconnects.
 *
 * A reload (src/priv/reload.c) never runs two sessions at once (the
 * gateway in the sandbox binds one fixed port): its candidate child gets
 * no session (connect_blank), only compiles the new policy; once that is
 * accepted, the old child sends GOAWAY and finishes its streams, and when
 * it has exited the new generation's child starts with a new session (a
 * new nonce, a new run of CMD, the new token).
 *
 * What CMD gets (SECURITY.md, "http2_v1"): `/bin/sh -c CMD`, its own
 * process group, fds 0-2 pipes, no other fd, and an environment built
 * here from nothing: PATH, the --connect-keep-env names the operator
 * chose, and the gateway's settings (PAPERCLIP_API_BRIDGE_MODE,
 * PAPERCLIP_BRIDGE_TOKEN, _HOST, _PORT, _NONCE, _MAX_BODY_BYTES) — or,
 * with --gateway-cmd, those settings in a script on CMD's stdin, never
 * in an argv.  Never the credential: the launcher was started before it
 * was loaded, by exec, and none of keyhole's own environment reaches CMD.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "connect.h"
#include "log.h"
#include "priv.h"
#include "util.h"

#define CONNECT_MSG_MAX (64u * 1024)
#define CONNECT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct cbuf {
	uint8_t b[CONNECT_MSG_MAX];
	size_t len;
	bool failed;
};

static void
cbuf_u32(struct cbuf *c, uint32_t v)
{
	if (c->len + 4 > sizeof(c->b)) {
		c->failed = true;
		return;
	}
	c->b[c->len++] = (uint8_t)(v >> 24);
	c->b[c->len++] = (uint8_t)(v >> 16);
	c->b[c->len++] = (uint8_t)(v >> 8);
	c->b[c->len++] = (uint8_t)v;
}

static void
cbuf_str(struct cbuf *c, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	cbuf_u32(c, (uint32_t)n);
	if (c->failed || n > sizeof(c->b) - c->len) {
		c->failed = true;
		return;
	}
	if (n > 0)		/* an unset option is NULL: no memcpy from it */
		memcpy(c->b + c->len, s, n);
	c->len += n;
}

/* "NAME=value" for the message. */
static void
cbuf_env(struct cbuf *c, const char *name, const char *value)
{
	char kv[KH_CONNECT_CMD_MAX + KH_TOKEN_MAX + 64];

	if ((size_t)snprintf(kv, sizeof(kv), "%s=%s", name, value) >=
	    sizeof(kv)) {
		c->failed = true;
		return;
	}
	cbuf_str(c, kv);
	explicit_bzero(kv, sizeof(kv));
}

int
connect_init(struct parent *p)
{
	int sv[2];
	pid_t pid;

	p->connect_sock = -1;
	for (int i = 0; i < 3; i++)
		p->connect_fds[i] = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		log_fatal("connect: socketpair: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		log_fatal("connect: fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { "keyhole", "connect-launcher", NULL };
		char *const envp[] = { NULL };
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		syscall(SYS_close_range, 4, ~0U, 0);
		/* A fresh address space: nothing of this process (and none
		 * of its environment) survives. */
		execve("/proc/self/exe", argv, envp);
		_exit(127);
	}
	close(sv[1]);
	p->connect_sock = sv[0];
	p->connect_launcher = pid;
	return 0;
}

/*
 * The launcher's 'X': a command has exited.  Read here, or by
 * connect_reply when it comes while a new session is starting; either
 * way it is logged with its status and forgets the session.
 */
static void
connect_exit_report(struct parent *p, const uint8_t *buf, size_t n)
{
	if (n != 9 || buf[0] != 'X') {
		log_warn("connect: malformed report from the launcher");
		return;
	}
	uint32_t pid = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
	    (uint32_t)buf[3] << 8 | buf[4];
	uint32_t st = (uint32_t)buf[5] << 24 | (uint32_t)buf[6] << 16 |
	    (uint32_t)buf[7] << 8 | buf[8];
	int status = (int)st;

	if (WIFEXITED(status))
		log_warn("connect: command pid=%u exited (status %d)",
		    pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_warn("connect: command pid=%u killed by signal %d",
		    pid, WTERMSIG(status));
	if (p->child != NULL && p->child->session == (pid_t)pid)
		p->child->session = 0;
	for (struct child *c = p->retired; c != NULL; c = c->next_retired)
		if (c->session == (pid_t)pid)
			c->session = 0;
	/* A reload's next session waits for this one's CMD (this only
	 * arms a timer: safe while connect_open is waiting). */
	if (p->connect_old == (pid_t)pid) {
		p->connect_old = 0;
		reload_connect_next(p);
	}
}

static void
connect_report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct parent *p = arg;
	uint8_t buf[64];
	ssize_t n;

	(void)what;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_error("connect: the launcher is gone; no session can be "
		    "started any more");
		p->exit_code = 1;
		event_base_loopbreak(p->base);
		return;
	}
	connect_exit_report(p, buf, (size_t)n);
	/* A late 'P' or 'E' cannot come: connect_open waits for its reply. */
}

int
connect_attach(struct parent *p)
{
	p->connect_ev = event_new(p->base, p->connect_sock,
	    EV_READ | EV_PERSIST, connect_report_cb, p);
	return p->connect_ev != NULL && event_add(p->connect_ev, NULL) == 0 ?
	    0 : -1;
}

static void
connect_nonce(char out[KH_H2_NONCE_LEN + 1])
{
	uint8_t r[KH_H2_NONCE_LEN / 2];
	static const char hex[] = "0123456789abcdef";

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		log_fatal("getrandom failed");
	for (size_t i = 0; i < sizeof(r); i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[KH_H2_NONCE_LEN] = '\0';
}

/* Wait (blocking, bounded) for the launcher's answer to 'S'. */
static int
connect_reply(struct parent *p, int fds[3], pid_t *session)
{
	uint8_t buf[600];
	struct iovec iov = { buf, sizeof(buf) };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(3 * sizeof(int))];
	} cm;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = cm.b, .msg_controllen = sizeof(cm.b) };
	ssize_t n;

	for (;;) {
		n = recvmsg(p->connect_sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_error("connect: no answer from the launcher");
			return -1;
		}
		if (buf[0] != 'X')
			break;
		/* An exit report of an earlier session: log it, go on. */
		mh.msg_controllen = sizeof(cm.b);
		connect_exit_report(p, buf, (size_t)n);
	}
	if (n >= 5 && buf[0] == 'E') {
		uint32_t l = (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 |
		    (uint32_t)buf[3] << 8 | buf[4];
		if (l > (size_t)n - 5)
			l = (uint32_t)(n - 5);
		log_error("connect: cannot start the command: %.*s", (int)l,
		    (const char *)buf + 5);
		return -1;
	}
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	if (n != 5 || buf[0] != 'P' || c == NULL ||
	    c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(3 * sizeof(int))) {
		log_error("connect: malformed answer from the launcher");
		return -1;
	}
	memcpy(fds, CMSG_DATA(c), 3 * sizeof(int));
	*session = (pid_t)((uint32_t)buf[1] << 24 |
	    (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | buf[4]);
	return 0;
}

int
connect_open(struct parent *p, const struct secret *token, pid_t *session)
{
	static struct cbuf c;
	const struct kh_config *cfg = p->cfg;
	char port[8], maxb[24];
	uint32_t ncmd = 1 + (uint32_t)cfg->connect_nkeep;

	c.len = 0;
	c.failed = false;
	connect_nonce(p->ccfg.h2_nonce);
	snprintf(port, sizeof(port), "%u", cfg->gateway_port);
	snprintf(maxb, sizeof(maxb), "%llu",
	    (unsigned long long)cfg->max_body);
	c.b[c.len++] = 'S';
	cbuf_str(&c, cfg->connect);
	cbuf_str(&c, cfg->gateway_cmd);
	cbuf_str(&c, cfg->gateway_upload);
	cbuf_str(&c, cfg->gateway_path);
	/* CMD's own environment: PATH and what the operator named. */
	cbuf_u32(&c, ncmd);
	cbuf_env(&c, "PATH", CONNECT_PATH);
	for (size_t i = 0; i < cfg->connect_nkeep; i++) {
		const char *v = getenv(cfg->connect_keep[i]);
		cbuf_env(&c, cfg->connect_keep[i], v ? v : "");
	}
	/* The gateway's settings, as Paperclip's host gives them. */
	cbuf_u32(&c, 6);
	cbuf_env(&c, "PAPERCLIP_API_BRIDGE_MODE", "http2_v1");
	cbuf_env(&c, "PAPERCLIP_BRIDGE_TOKEN", token->buf);
	cbuf_env(&c, "PAPERCLIP_BRIDGE_HOST", cfg->gateway_host);
	cbuf_env(&c, "PAPERCLIP_BRIDGE_PORT", port);
	cbuf_env(&c, "PAPERCLIP_BRIDGE_NONCE", p->ccfg.h2_nonce);
	cbuf_env(&c, "PAPERCLIP_BRIDGE_MAX_BODY_BYTES", maxb);
	if (c.failed) {
		explicit_bzero(c.b, sizeof(c.b));
		log_error("connect: the command's settings are too long");
		return -1;
	}
	ssize_t n = send(p->connect_sock, c.b, c.len, MSG_NOSIGNAL);
	explicit_bzero(c.b, c.len);
	if (n != (ssize_t)c.len) {
		log_error("connect: cannot reach the launcher: %s",
		    strerror(errno));
		return -1;
	}
	if (connect_reply(p, p->connect_fds, session) < 0)
		return -1;
	log_info("connect: started command pid=%ld", (long)*session);
	return 0;
}

int
connect_blank(struct parent *p)
{
	int sv[2];

	/* One end of a socketpair whose other end is closed at once, as
	 * fds 19-21: nothing ever arrives, nothing written is read; the
	 * child reads them only once it serves, which this one never does. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("connect: socketpair: %s", strerror(errno));
		return -1;
	}
	close(sv[0]);
	p->connect_fds[0] = sv[1];
	p->connect_fds[1] = fcntl(sv[1], F_DUPFD_CLOEXEC, 0);
	p->connect_fds[2] = fcntl(sv[1], F_DUPFD_CLOEXEC, 0);
	if (p->connect_fds[1] < 0 || p->connect_fds[2] < 0) {
		log_error("connect: dup: %s", strerror(errno));
		connect_close_fds(p);
		return -1;
	}
	connect_nonce(p->ccfg.h2_nonce);	/* well-formed, never used */
	return 0;
}

void
connect_close_fds(struct parent *p)
{
	for (int i = 0; i < 3; i++) {
		if (p->connect_fds[i] >= 0)
			close(p->connect_fds[i]);
		p->connect_fds[i] = -1;
	}
}

void
connect_stop(struct parent *p, pid_t session)
{
	uint8_t msg[5];
	uint32_t pid = (uint32_t)session;

	if (p->connect_sock < 0 || session <= 0)
		return;
	msg[0] = 'K';
	msg[1] = (uint8_t)(pid >> 24);
	msg[2] = (uint8_t)(pid >> 16);
	msg[3] = (uint8_t)(pid >> 8);
	msg[4] = (uint8_t)pid;
	(void)send(p->connect_sock, msg, sizeof(msg), MSG_NOSIGNAL);
	log_info("connect: stopping command pid=%ld", (long)session);
}
