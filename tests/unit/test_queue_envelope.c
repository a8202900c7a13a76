/*
 * The queue_v1 request envelope parser and the codec beside it: what a
 * gateway writes is accepted exactly; anything a hostile file could use to
 * smuggle a request (dot segments, CR/LF, escaped NUL, duplicate keys,
 * sloppy base64, oversized bodies) is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "kh_test.h"
#include "qcodec.h"
#include "queue_envelope.h"

static const struct qenv_limits lim = { 64, 8 };

static int
parse(const char *json, struct qenv *e)
{
	const char *why;
	int st = qenv_parse((const uint8_t *)json, strlen(json), &lim, e, &why);
	return st;
}

static int
parse_free(const char *json)
{
	struct qenv e;
	int st = parse(json, &e);
	qenv_free(&e);
	return st;
}

#define ENV(fields) "{\"id\":\"r1\",\"method\":\"POST\",\"path\":\"/api/x\"," \
	"\"query\":\"\",\"headers\":{},\"body\":\"\"" fields "}"

int
main(void)
{
	struct qenv e;

	/* envelope_accepts_what_paperclips_gateway_writes */
	CHECK_EQ_INT(parse("{\"id\":\"0b6c8f4e-1d2a-4c1b-9e7f-3a5b6c7d8e9f\","
	    "\"method\":\"PATCH\",\"path\":\"/api/issues/i%7e1\",\"query\":\"?a=b\","
	    "\"headers\":{\"content-type\":\"application/json\",\"if-match\":\"\\\"v\\\"\"},"
	    "\"body\":\"{\\\"x\\\":\\\"\\u00e9\\\"}\",\"createdAt\":\"2026-01-01T00:00:00Z\","
	    "\"future\":[1,2]}", &e), 0);
	CHECK_EQ_STR(e.method, "PATCH");
	CHECK_EQ_STR(e.path, "/api/issues/i~1");
	CHECK(e.has_query);
	CHECK_EQ_STR(e.query, "a=b");
	CHECK_EQ_INT(e.nheaders, 2);
	CHECK_EQ_INT(e.body_len, 10);
	CHECK(memcmp(e.body, "{\"x\":\"\xc3\xa9\"}", 10) == 0);
	qenv_free(&e);

	/* envelope_base64_body_decoded_strictly */
	CHECK_EQ_INT(parse(ENV(",\"body\":\"eyJhIjoxfQ==\",\"bodyEncoding\":\"base64\"")
	    , &e), 400);	/* duplicate "body" key */
	qenv_free(&e);
	CHECK_EQ_INT(parse("{\"id\":\"r\",\"method\":\"POST\",\"path\":\"/a\","
	    "\"body\":\"eyJhIjoxfQ==\",\"bodyEncoding\":\"base64\"}", &e), 0);
	CHECK_EQ_INT(e.body_len, 7);
	CHECK(memcmp(e.body, "{\"a\":1}", 7) == 0);
	qenv_free(&e);
	static const char *bad64[] = { "eyJhIjoxfQ=", "eyJhIjoxfR==", "eyJh\nIjoxfQ==",
	    "=yJhIjoxfQ==", "eyJhIjoxfQ=A", "ey-hIjoxfQ==" };
	for (size_t i = 0; i < sizeof(bad64) / sizeof(bad64[0]); i++) {
		char buf[256];
		snprintf(buf, sizeof(buf), "{\"id\":\"r\",\"method\":\"POST\","
		    "\"path\":\"/a\",\"body\":\"%s\",\"bodyEncoding\":\"base64\"}",
		    bad64[i]);
		CHECK_EQ_INT(parse_free(buf), 400);
	}

	/* envelope_refuses_smuggling */
	static const char *bad[] = {
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a/../b\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a/%2e%2E/b\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a/.%2e;x/b\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\\u0000/../b\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"//evil/a\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"http://evil/a\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"query\":\"?a#b\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"headers\":{\"accept\":\"a\\r\\nb: c\"},\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"headers\":{\"acc ept\":\"a\"},\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"headers\":{\"accept\":\"a\",\"accept\":\"b\"},\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"headers\":{\"a\":\"1\",\"b\":\"1\",\"c\":\"1\",\"d\":\"1\",\"e\":\"1\",\"f\":\"1\",\"g\":\"1\",\"h\":\"1\",\"i\":\"1\"},\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"path\":\"/b\",\"body\":\"\"}",
		"{\"id\":\"r/x\",\"method\":\"GET\",\"path\":\"/a\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"TRACE\",\"path\":\"/a\",\"body\":\"\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\"}",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"body\":\"\"} x",
		"{\"id\":\"r\",\"method\":\"GET\",\"path\":\"/a\",\"body\":\"\"}\x01",
		"[]", "", "null",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = parse_free(bad[i]);
		if (st != 400)
			fprintf(stderr, "case %zu: %d\n", i, st);
		CHECK_EQ_INT(st, 400);
	}
	/* an escaped backslash before u0000 is text, not a NUL */
	CHECK_EQ_INT(parse_free("{\"id\":\"r\",\"method\":\"POST\",\"path\":\"/a\","
	    "\"body\":\"\\\\u0000\"}"), 0);

	/* envelope_body_limit_is_on_decoded_bytes */
	char big[512];
	snprintf(big, sizeof(big), "{\"id\":\"r\",\"method\":\"POST\",\"path\":\"/a\","
	    "\"body\":\"%065d\"}", 0);
	CHECK_EQ_INT(parse_free(big), 413);
	snprintf(big, sizeof(big), "{\"id\":\"r\",\"method\":\"POST\",\"path\":\"/a\","
	    "\"body\":\"%064d\"}", 0);
	CHECK_EQ_INT(parse_free(big), 0);

	/* codec_base64_round_trip_and_iso_time */
	for (size_t n = 0; n < 40; n++) {
		uint8_t in[40], out[40];
		struct sbuf s;
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(i * 37 + n);
		sbuf_init(&s, 1024);
		sbuf_add_b64(&s, in, n);
		CHECK_EQ_INT(s.len, qc_b64_len(n));
		CHECK_EQ_INT(qc_b64_decode(s.buf ? s.buf : "", s.len, out, n), (long long)n);
		CHECK(n == 0 || memcmp(in, out, n) == 0);
		if (n > 0)
			CHECK_EQ_INT(qc_b64_decode(s.buf, s.len, out, n - 1), -2);
		sbuf_free(&s);
	}
	char when[JSON_ISO_LEN];
	json_iso8601(0, 0, when);
	CHECK_EQ_STR(when, "1970-01-01T00:00:00.000Z");
	json_iso8601(951782400 + 86399, 999999999, when);
	CHECK_EQ_STR(when, "2000-02-29T23:59:59.999Z");
	json_iso8601(4102444800LL, 5000000, when);
	CHECK_EQ_STR(when, "2100-01-01T00:00:00.005Z");
	CHECK(qc_utf8_valid((const uint8_t *)"h\xc3\xa9", 3));
	CHECK(!qc_utf8_valid((const uint8_t *)"\xc0\xaf", 2));
	CHECK(!qc_utf8_valid((const uint8_t *)"\xed\xa0\x80", 3));
	CHECK(!qc_text_plain((const uint8_t *)"a\0b", 3));
	TEST_DONE();
}
