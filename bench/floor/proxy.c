/*
 * bench/floor/proxy.c: the floor of keyhole's design, as a bench target.
 *
 * Two processes and a socketpair, as keyhole: a front process accepts
 * HTTP/1.1 keep-alive clients (epoll), finds the end of each request
 * head and sends the path over the socketpair; the back process forwards
 * it with libcurl (one multi handle, socket_action on epoll, easy handles
 * reused, kept-alive connections, keyhole's receive buffer size and
 * CURLOPT_NOSIGNAL) and sends the body back; the front writes a 200
 * with it.  Nothing else: no parse beyond the request line, no token, no
 * policy, no checks, no headers passed on, no log, no limits, no
 * seccomp.  GET only.  What this costs per request is what
 * two processes, one hop each way and libcurl cost together; keyhole
 * can only add to it.  bench/compare.sh --floor runs it next to nginx
 * and keyhole in one run of ../shared/bench/run.sh.
 *
 *   [FLOOR_AUTHORIZATION='Bearer ...'] proxy PORT UPSTREAM_BASE_URL
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#define MAXFD	65536
#define BUFSZ	(512 * 1024)

/* A growable byte buffer: frames both ways, a client's input. */
struct buf {
	char *p;
	size_t len, cap;
};

static void
buf_add(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		if ((b->p = realloc(b->p, cap)) == NULL)
			exit(1);
		b->cap = cap;
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void
buf_drop(struct buf *b, size_t n)
{
	memmove(b->p, b->p + n, b->len - n);
	b->len -= n;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* A whole frame [u32 fd][u32 len][len bytes] at b->p + off: its header
 * in h. */
static int
frame_at(const struct buf *b, size_t off, uint32_t h[2])
{
	if (b->len - off < 8)
		return 0;
	memcpy(h, b->p + off, 8);
	return b->len - off - 8 >= h[1];
}

/* ------------------------------------------------------------------ */
/* The front: clients, and frames [u32 fd][u32 len][path] out,
 * [u32 fd][u32 len][body] back. */

static struct buf cin[MAXFD];

static void
front(int sp, int port)
{
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev, evs[256];
	struct buf toback = { 0 }, fromback = { 0 };
	int ep = epoll_create1(0);

	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(ls, 1024) < 0) {
		perror("listen");
		exit(1);
	}
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	ev.data.fd = sp;
	epoll_ctl(ep, EPOLL_CTL_ADD, sp, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == ls) {
				int c;
				while ((c = accept4(ls, NULL, NULL, 0)) >= 0) {
					if (c >= MAXFD) {
						close(c);
						continue;
					}
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
			} else if (fd == sp) {
				char tmp[BUFSZ];
				ssize_t r = read(sp, tmp, sizeof(tmp));
				if (r <= 0)
					exit(0);
				buf_add(&fromback, tmp, (size_t)r);
				size_t off = 0;
				uint32_t h[2];
				while (frame_at(&fromback, off, h)) {
					char head[128];
					int hl = snprintf(head, sizeof(head),
					    "HTTP/1.1 200 OK\r\nContent-Length: "
					    "%u\r\n\r\n", h[1]);
					struct iovec iov[2] = {
					    { head, (size_t)hl },
					    { fromback.p + off + 8, h[1] } };
					/* Blocking: loopback takes it. */
					(void)writev((int)h[0], iov, 2);
					off += 8 + h[1];
				}
				buf_drop(&fromback, off);
			} else {
				char tmp[16384];
				ssize_t r = read(fd, tmp, sizeof(tmp));
				struct buf *b = &cin[fd];
				if (r <= 0) {
					close(fd);
					b->len = 0;
					continue;
				}
				buf_add(b, tmp, (size_t)r);
				char *e;
				while ((e = memmem(b->p, b->len, "\r\n\r\n",
				    4)) != NULL) {
					char *sp1 = memchr(b->p, ' ', (size_t)(e - b->p));
					char *sp2 = sp1 ? memchr(sp1 + 1, ' ',
					    (size_t)(e - sp1 - 1)) : NULL;
					uint32_t h[2] = { (uint32_t)fd, 0 };
					if (sp2 != NULL) {
						h[1] = (uint32_t)(sp2 - sp1 - 1);
						buf_add(&toback, h, 8);
						buf_add(&toback, sp1 + 1, h[1]);
					}
					buf_drop(b, (size_t)(e + 4 - b->p));
				}
			}
		}
		/* One write to the back per loop turn. */
		if (toback.len > 0) {
			write_all(sp, toback.p, toback.len);
			toback.len = 0;
		}
	}
}

/* ------------------------------------------------------------------ */
/* The back: libcurl. */

struct xfer {
	CURL *e;
	uint32_t fd;
	struct buf body;
	struct xfer *next;
};

static int bep;
static long timeout_ms = -1;
static struct xfer *idle;

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	buf_add(&((struct xfer *)arg)->body, p, size * n);
	return size * n;
}

static CURLM *multi;

static int
on_socket(CURL *e, curl_socket_t s, int what, void *u, void *sp)
{
	(void)u;
	(void)e;
	struct epoll_event ev = { 0 };

	ev.data.fd = s;
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) |
	    (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(bep, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	if (sp == NULL) {
		epoll_ctl(bep, EPOLL_CTL_ADD, s, &ev);
		curl_multi_assign(multi, s, (void *)1);
	} else {
		epoll_ctl(bep, EPOLL_CTL_MOD, s, &ev);
	}
	return 0;
}

static int
on_timer(CURLM *m, long ms, void *u)
{
	(void)m;
	(void)u;
	timeout_ms = ms;
	return 0;
}

static void
back(int sp, const char *base)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[256];
	struct curl_slist *hdrs = NULL;
	struct buf in = { 0 }, out = { 0 };
	char auth[512];
	const char *v = getenv("FLOOR_AUTHORIZATION");
	int running;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 256L);
	snprintf(auth, sizeof(auth), "authorization: %s",
	    v != NULL ? v : "Bearer floor-test");
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Expect:");
	bep = epoll_create1(0);
	ev.data.fd = sp;
	epoll_ctl(bep, EPOLL_CTL_ADD, sp, &ev);
	for (;;) {
		int n = epoll_wait(bep, evs, 256, (int)timeout_ms);
		if (n == 0 || timeout_ms == 0) {
			timeout_ms = -1;
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0,
			    &running);
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd != sp) {
				int m = (evs[i].events & EPOLLIN ?
				    CURL_CSELECT_IN : 0) |
				    (evs[i].events & EPOLLOUT ?
				    CURL_CSELECT_OUT : 0) |
				    (evs[i].events & (EPOLLERR | EPOLLHUP) ?
				    CURL_CSELECT_ERR : 0);
				curl_multi_socket_action(multi, fd, m, &running);
				continue;
			}
			char tmp[65536];
			ssize_t r = read(sp, tmp, sizeof(tmp));
			if (r <= 0)
				exit(0);
			buf_add(&in, tmp, (size_t)r);
			size_t off = 0;
			uint32_t h[2];
			while (frame_at(&in, off, h)) {
				char url[2048];
				snprintf(url, sizeof(url), "%s%.*s", base,
				    (int)h[1], in.p + off + 8);
				off += 8 + h[1];
				struct xfer *x = idle;
				if (x != NULL) {
					idle = x->next;
					curl_easy_reset(x->e);
				} else if ((x = calloc(1, sizeof(*x))) == NULL ||
				    (x->e = curl_easy_init()) == NULL) {
					exit(1);
				}
				x->fd = h[0];
				x->body.len = 0;
				curl_easy_setopt(x->e, CURLOPT_URL, url);
				curl_easy_setopt(x->e, CURLOPT_HTTPHEADER, hdrs);
				curl_easy_setopt(x->e, CURLOPT_WRITEFUNCTION, on_data);
				curl_easy_setopt(x->e, CURLOPT_WRITEDATA, x);
				curl_easy_setopt(x->e, CURLOPT_PRIVATE, x);
				curl_easy_setopt(x->e, CURLOPT_PROXY, "");
				curl_easy_setopt(x->e, CURLOPT_NOSIGNAL, 1L);
				curl_easy_setopt(x->e, CURLOPT_HTTP_VERSION,
				    CURL_HTTP_VERSION_1_1);
				/* keyhole's receive buffer (upstream.c). */
				curl_easy_setopt(x->e, CURLOPT_BUFFERSIZE,
				    64L * 1024 - 64);
				curl_multi_add_handle(multi, x->e);
			}
			buf_drop(&in, off);
		}
		if (timeout_ms == 0) {
			timeout_ms = -1;
			curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0,
			    &running);
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
			struct xfer *x;
			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
			    (char **)&x);
			curl_multi_remove_handle(multi, x->e);
			uint32_t h[2] = { x->fd, (uint32_t)x->body.len };
			buf_add(&out, h, 8);
			buf_add(&out, x->body.p, x->body.len);
			x->next = idle;
			idle = x;
		}
		/* One write to the front per loop turn. */
		if (out.len > 0) {
			write_all(sp, out.p, out.len);
			out.len = 0;
		}
	}
}

int
main(int argc, char **argv)
{
	int sv[2];
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: proxy PORT UPSTREAM_BASE_URL\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 1;
	if ((pid = fork()) < 0)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		front(sv[1], atoi(argv[1]));
		_exit(0);
	}
	close(sv[1]);
	back(sv[0], argv[2]);
	return 0;
}
