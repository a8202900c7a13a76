/*
 * At most once, at libcurl's level (SECURITY.md I6): the two
 * mechanisms src/priv/upstream.c relies on, each against the real libcurl
 * and a real socket server in a thread that answers GETs on a kept-alive
 * connection and reads every POST, then closes without a byte of answer.
 *
 *  - control: with neither mechanism, libcurl sends the POST twice (it
 *    went out on the reused connection, which died before a response
 *    byte, so lib/transfer.c Curl_retry_request re-sent it on a new one):
 *    the scenario is real, so the checks below can fail;
 *  - CURLOPT_FRESH_CONNECT: one copy (a new connection is never retried);
 *  - upstream_once_guard alone (on a reused connection): one copy, the
 *    transfer aborted at the second send; a GET is let through.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "kh_test.h"
#include "upstream.h"

static int srv_fd;
static atomic_int srv_posts;
static atomic_int srv_gets;

/* One connection: serve requests until a POST (read whole, then close). */
static void *
srv_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[8192];
	size_t have = 0;

	for (;;) {
		char *end;
		ssize_t n;
		while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
			if (have == sizeof(buf))
				goto out;
			n = read(fd, buf + have, sizeof(buf) - have);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		size_t head = (size_t)(end - buf) + 4, blen = 0;
		char *cl = memmem(buf, head, "Content-Length: ", 16);
		if (cl != NULL)
			blen = strtoul(cl + 16, NULL, 10);
		while (have < head + blen) {
			n = read(fd, buf + have, sizeof(buf) - have);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		bool post = strncmp(buf, "POST ", 5) == 0;
		memmove(buf, buf + head + blen, have - head - blen);
		have -= head + blen;
		if (post) {
			atomic_fetch_add(&srv_posts, 1);
			break;	/* read it, answer nothing, close */
		}
		atomic_fetch_add(&srv_gets, 1);
		static const char ok[] = "HTTP/1.1 200 OK\r\n"
		    "Content-Length: 2\r\n\r\n{}";
		if (write(fd, ok, sizeof(ok) - 1) < 0)
			break;
	}
out:
	close(fd);
	return NULL;
}

static void *
srv_main(void *arg)
{
	(void)arg;
	for (;;) {
		int fd = accept(srv_fd, NULL, NULL);
		if (fd < 0)
			return NULL;
		pthread_t t;
		if (pthread_create(&t, NULL, srv_conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}

static int
srv_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	pthread_t t;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (srv_fd < 0 || bind(srv_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(srv_fd, 16) < 0 ||
	    getsockname(srv_fd, (struct sockaddr *)&sa, &sl) < 0 ||
	    pthread_create(&t, NULL, srv_main, NULL) != 0)
		abort();
	pthread_detach(t);
	return ntohs(sa.sin_port);
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

enum mech { NONE, FRESH, GUARD };

/* GET (pools the connection), then POST on the same easy handle.
 * Returns the POST's result; *copies = POSTs the server read. */
static CURLcode
get_then_post(int port, enum mech m, struct up_req *r, int *copies)
{
	char url[64];
	CURL *e = curl_easy_init();
	CURLcode rc;

	if (e == NULL)
		abort();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
	rc = curl_easy_perform(e);
	CHECK_EQ_INT(rc, CURLE_OK);

	int before = atomic_load(&srv_posts);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, "{\"n\":1}");
	if (m == FRESH)
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
	if (m == GUARD) {
		memset(r, 0, sizeof(*r));
		strcpy(r->method, "POST");
		upstream_once_guard(e, r);
	}
	rc = curl_easy_perform(e);
	usleep(100 * 1000);
	*copies = atomic_load(&srv_posts) - before;
	curl_easy_cleanup(e);
	return rc;
}

static void
libcurl_resends_a_post_on_a_dead_reused_connection(int port)
{
	int copies;
	CURLcode rc = get_then_post(port, NONE, NULL, &copies);

	CHECK(rc != CURLE_OK);
	CHECK_EQ_INT(copies, 2);
}

static void
fresh_connect_sends_a_post_once(int port)
{
	int copies;
	CURLcode rc = get_then_post(port, FRESH, NULL, &copies);

	CHECK_EQ_INT(rc, CURLE_GOT_NOTHING);
	CHECK_EQ_INT(copies, 1);
}

static void
guard_refuses_a_second_send_of_a_post(int port)
{
	struct up_req r;
	int copies;
	CURLcode rc = get_then_post(port, GUARD, &r, &copies);

	CHECK_EQ_INT(rc, CURLE_ABORTED_BY_CALLBACK);
	CHECK_EQ_INT(copies, 1);
	CHECK_EQ_INT(r.sends, 2);
}

static void
guard_lets_gets_through(int port)
{
	char url[64];
	struct up_req r;
	CURL *e = curl_easy_init();

	memset(&r, 0, sizeof(r));
	strcpy(r.method, "GET");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	upstream_once_guard(e, &r);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(curl_easy_perform(e), CURLE_OK);
	CHECK_EQ_INT(r.sends, 3);
	curl_easy_cleanup(e);
}

int
main(void)
{
	int port;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		abort();
	port = srv_start();
	libcurl_resends_a_post_on_a_dead_reused_connection(port);
	fresh_connect_sends_a_post_once(port);
	guard_refuses_a_second_send_of_a_post(port);
	guard_lets_gets_through(port);
	curl_global_cleanup();
	TEST_DONE();
}
