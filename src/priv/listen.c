/*
 * keyhole listening sockets.  The parent binds them (it may need privilege
 * or a network namespace to do so) and hands them to every child at fixed
 * fd numbers; they survive child restarts, so clients never see the port
 * close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "listen.h"

static int
listen_tcp(struct listen_spec *s)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s->host, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(s->port);
		sl = sizeof(*sin);
	} else if (inet_pton(AF_INET6, s->host,
	    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(s->port);
		sl = sizeof(*sin6);
	} else {
		fprintf(stderr, "keyhole: listen address '%s' is not a numeric "
		    "IPv4 or IPv6 address\n", s->host);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 511) < 0) {
		fprintf(stderr, "keyhole: cannot listen on %s:%u: %s\n", s->host,
		    s->port, strerror(errno));
		close(fd);
		return -1;
	}
	sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		s->port = ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

static int
listen_unix(struct listen_spec *s)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, s->path, strlen(s->path));
	/* Replace a stale socket, never any other kind of file. */
	if (lstat(s->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr, "keyhole: %s exists and is not a socket; "
			    "remove it or choose another path\n", s->path);
			return -1;
		}
		unlink(s->path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 511) < 0) {
		fprintf(stderr, "keyhole: cannot listen on unix:%s: %s\n",
		    s->path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
listen_open(const struct kh_config *cfg, struct listener *out, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < cfg->nlisten; i++) {
		out[i].spec = cfg->listen[i];
		out[i].fd = out[i].spec.is_unix ? listen_unix(&out[i].spec) :
		    listen_tcp(&out[i].spec);
		if (out[i].fd < 0) {
			listen_close(out, i);
			return -1;
		}
		*n = i + 1;
	}
	return 0;
}

void
listen_close(struct listener *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (l[i].fd >= 0)
			close(l[i].fd);
		if (l[i].spec.is_unix)
			unlink(l[i].spec.path);
		l[i].fd = -1;
	}
}

int
listen_write_ready(const char *path, const struct listener *l)
{
	char tmp[4096], when[64], url[256];
	time_t now = time(NULL);
	struct tm tm;
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -1;
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	if (l->spec.is_unix)
		snprintf(url, sizeof(url), "http://localhost");
	else if (strchr(l->spec.host, ':') != NULL)
		snprintf(url, sizeof(url), "http://[%s]:%u", l->spec.host,
		    l->spec.port);
	else
		snprintf(url, sizeof(url), "http://%s:%u", l->spec.host,
		    l->spec.port);
	f = fopen(tmp, "we");
	if (f == NULL)
		return -1;
	/* host/path come from the operator's own options and are checked to
	 * be numeric addresses or absolute paths; no JSON escaping needed
	 * beyond refusing quotes and backslashes. */
	if (strpbrk(l->spec.is_unix ? l->spec.path : l->spec.host, "\"\\")) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if (l->spec.is_unix)
		fprintf(f, "{\"pid\":%ld,\"socketPath\":\"%s\",\"host\":\"localhost\","
		    "\"port\":0,\"baseUrl\":\"%s\",\"startedAt\":\"%s\"}\n",
		    (long)getpid(), l->spec.path, url, when);
	else
		fprintf(f, "{\"pid\":%ld,\"host\":\"%s\",\"port\":%u,"
		    "\"baseUrl\":\"%s\",\"startedAt\":\"%s\"}\n", (long)getpid(),
		    l->spec.host, l->spec.port, url, when);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	fclose(f);
	return rename(tmp, path);
}
