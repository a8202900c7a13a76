/*
 * parse_bench: requests per second through keyhole's strict HTTP/1.1
 * parser (src/parse/http_parse.c, src/check/path.c) on one core, for
 * the typical Paperclip agent requests.  Not a test: a measurement.
 *
 *   build/parse_bench [SECONDS_PER_CASE]      (default 1)
 *   build/parse_bench -n N                    exactly N requests per case,
 *                                             e.g. under `perf stat -e
 *                                             instructions:u` (the machine
 *                                             is noisy; instructions are not)
 *
 * Each iteration does what the child does with a request's bytes once
 * they are in its input buffer: find the end of the head
 * (http_head_end), parse and check it (http_head_parse: request line,
 * canonical path, fields, Host, framing, Expect, Connection), then take
 * the body: one copy of a Content-Length body (conn_read.c's only copy),
 * or the chunked decoder feeding the same copy.  Token check, policy
 * match and JSON validation (gate.c) are not included.  Times are the
 * thread's CPU time, so other load on the machine does not lower the
 * figure (much: caches are still shared).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_parse.h"
#include "kh_limits.h"

#define TOKEN "KHTOKEN-3f9d2a7c41b86e05d1c9a4f27b3e8d60"
/* A progress comment: 90 bytes; in chunks of 0x30 and 0x2a bytes. */
#define BODY1 "{\"body\":\"Ran the test suite: 214 passed, 0 faile"
#define BODY2 "d. Opened PR #88 with the fix for BRI-7.\"}"

static const char req_post[] =
    "POST /api/issues/BRI-7/comments HTTP/1.1\r\n"
    "Host: 127.0.0.1:41827\r\n"
    "Authorization: Bearer " TOKEN "\r\n"
    "Content-Type: application/json\r\n"
    "Accept: application/json\r\n"
    "User-Agent: paperclip-agent/0.9 node/20.11.1\r\n"
    "Content-Length: 90\r\n"
    "\r\n"
    BODY1 BODY2;

static const char req_get[] =
    "GET /api/agents/me HTTP/1.1\r\n"
    "Host: 127.0.0.1:41827\r\n"
    "Authorization: Bearer " TOKEN "\r\n"
    "Accept: application/json\r\n"
    "User-Agent: paperclip-agent/0.9 node/20.11.1\r\n"
    "\r\n";

static const char req_chunked[] =
    "POST /api/issues/BRI-7/comments HTTP/1.1\r\n"
    "Host: 127.0.0.1:41827\r\n"
    "Authorization: Bearer " TOKEN "\r\n"
    "Content-Type: application/json\r\n"
    "Accept: application/json\r\n"
    "User-Agent: paperclip-agent/0.9 node/20.11.1\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "30\r\n" BODY1 "\r\n"
    "2a\r\n" BODY2 "\r\n"
    "0\r\n\r\n";

static volatile size_t bench_sink;

static double
bench_now(void)
{
	struct timespec ts;

	/* CPU time of this thread, not wall time: on a shared machine the
	 * figure then does not depend on how often the bench was scheduled. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One request through the parser; returns 0 or exits on a parse error
 * (the bench must measure the accepting path, not an early reject). */
static void
bench_one(const uint8_t *buf, size_t len, const struct http_limits *lim,
    struct http_req *req, uint8_t *body)
{
	struct http_chunked ch;
	size_t hl = 0, off, blen = 0;
	int r;

	if (http_head_end(buf, len, lim, &hl) != HTTP_OK ||
	    http_head_parse(buf, hl, lim, req) != HTTP_OK) {
		fprintf(stderr, "parse_bench: the sample request does not parse\n");
		exit(1);
	}
	off = hl;
	if (req->body == HTTP_BODY_LENGTH) {
		if (req->content_length != len - off) {
			fprintf(stderr, "parse_bench: Content-Length is wrong\n");
			exit(1);
		}
		memcpy(body, buf + off, (size_t)req->content_length);
		blen = (size_t)req->content_length;
	} else if (req->body == HTTP_BODY_CHUNKED) {
		http_chunked_init(&ch, lim);
		do {
			const uint8_t *data;
			size_t used, dlen;

			r = http_chunked_feed(&ch, buf + off, len - off, &used,
			    &data, &dlen);
			memcpy(body + blen, data, dlen);
			blen += dlen;
			off += used;
		} while (r == HTTP_NEED_MORE && off < len);
		if (r != HTTP_OK) {
			fprintf(stderr, "parse_bench: the chunked sample fails\n");
			exit(1);
		}
	}
	bench_sink += req->path_len + req->nfields + blen;
}

static void
bench_case(const char *name, const char *s, double seconds,
    unsigned long count)
{
	static const struct http_limits lim = {
		KH_DEF_HEAD, KH_DEF_HEADERS, KH_DEF_BODY,
	};
	static struct http_req req;
	static uint8_t body[4096];
	const uint8_t *buf = (const uint8_t *)s;
	size_t len = strlen(s);
	unsigned long n = 0, batch = 1000;
	double t0, t;

	if (count > 0) {
		t0 = bench_now();
		for (n = 0; n < count; n++)
			bench_one(buf, len, &lim, &req, body);
		t = bench_now() - t0;
		printf("%-34s %lu requests in %.3f s\n", name, n, t);
		return;
	}
	for (int i = 0; i < 10000; i++)		/* warm caches */
		bench_one(buf, len, &lim, &req, body);
	t0 = bench_now();
	do {
		for (unsigned long i = 0; i < batch; i++)
			bench_one(buf, len, &lim, &req, body);
		n += batch;
		t = bench_now() - t0;
	} while (t < seconds);
	printf("%-34s %4zu B  %10.0f req/s  %7.1f ns/req  %7.1f MB/s\n", name,
	    len, (double)n / t, t * 1e9 / (double)n,
	    (double)n * (double)len / t / 1e6);
}

int
main(int argc, char **argv)
{
	double seconds = 1.0;
	unsigned long count = 0;

	if (argc == 3 && strcmp(argv[1], "-n") == 0)
		count = strtoul(argv[2], NULL, 10);
	else if (argc == 2)
		seconds = atof(argv[1]);
	if (seconds <= 0 || (argc == 3 && count == 0) || argc > 3) {
		fprintf(stderr, "usage: parse_bench [SECONDS] | -n COUNT\n");
		return 2;
	}
	bench_case("POST comment (Content-Length)", req_post, seconds, count);
	bench_case("GET /api/agents/me", req_get, seconds, count);
	bench_case("POST comment (chunked)", req_chunked, seconds, count);
	return 0;
}
