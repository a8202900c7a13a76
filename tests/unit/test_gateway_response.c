/*
 * keyhole-gateway's response-file parser (src/parse/gateway_response.c):
 * what keyhole's host and Paperclip's host write is answered as written;
 * a file that could break the client's HTTP framing (a 1xx or absurd
 * status, CR/LF in a header, framing headers, non-JSON) or exceed the body
 * limit is refused with the message the client's 502/409 carries.
 */
#include <stdio.h>
#include <string.h>

#include "gateway_response.h"
#include "kh_test.h"

static const char *
parse(const char *text, uint64_t max_body, struct gw_response *r)
{
	return gw_response_parse((const uint8_t *)text, strlen(text), max_body,
	    r);
}

/* The status of an accepted file, or -1 with the refusal in *why. */
static int
status_of(const char *text, const char **why)
{
	struct gw_response r;
	*why = parse(text, 1024, &r);
	if (*why != NULL)
		return -1;
	int st = r.status;
	gw_response_free(&r);
	return st;
}

#define BAD_STATUS "Bridge response has an invalid status."
#define BAD_HEADER "Bridge response has an invalid header."
#define NOT_JSON "Bridge response is not valid JSON."

int
main(void)
{
	struct gw_response r;
	const char *why;
	char big[4096];

	/* what keyhole's host writes (queue_answer.c) */
	CHECK(parse("{\"id\":\"r1\",\"status\":200,\"headers\":{\"content-type\":"
	    "\"application/json\",\"etag\":\"W/\\\"1\\\"\"},\"body\":\"{\\\"id\\\":1}\","
	    "\"completedAt\":\"2026-01-01T00:00:00.000Z\"}", 1024, &r) == NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(r.nh, 2);
	CHECK_EQ_STR(r.names[1], "etag");
	CHECK_EQ_STR(r.values[1], "W/\"1\"");
	CHECK_EQ_INT(r.vlens[1], 5);
	CHECK_EQ_INT(r.blen, 8);
	CHECK(memcmp(r.body, "{\"id\":1}", 8) == 0);
	gw_response_free(&r);

	/* base64 bodies decode to the bytes */
	CHECK(parse("{\"status\":201,\"headers\":{},\"body\":\"AAECAwT/\","
	    "\"bodyEncoding\":\"base64\"}", 1024, &r) == NULL);
	CHECK_EQ_INT(r.status, 201);
	CHECK_EQ_INT(r.blen, 6);
	CHECK(memcmp(r.body, "\0\1\2\3\4\xff", 6) == 0);
	gw_response_free(&r);

	/* the host's indeterminate outcome is a 409 whatever the status says */
	CHECK_EQ_INT(status_of("{\"status\":504,\"headers\":{\"x-paperclip-bridge-"
	    "outcome\":\"indeterminate\"},\"body\":\"\"}", &why), 409);
	/* no numeric status: 200, as Paperclip's gateway */
	CHECK_EQ_INT(status_of("{\"headers\":{},\"body\":\"\"}", &why), 200);
	CHECK_EQ_INT(status_of("{\"status\":\"404\",\"body\":\"\"}", &why), 200);
	CHECK_EQ_INT(status_of("{\"status\":599,\"body\":\"\"}", &why), 599);
	CHECK_EQ_INT(status_of("{\"status\":2.04e2,\"body\":\"\"}", &why), 204);

	/* statuses that are no final HTTP answer, or no integer at all (1e300
	 * would be undefined behaviour if converted to int) */
	const char *bad_status[] = { "101", "100", "199", "600", "-1", "0",
	    "1e300", "-1e300", "200.5", "2147483848", NULL };
	for (const char **s = bad_status; *s != NULL; s++) {
		snprintf(big, sizeof(big), "{\"status\":%s,\"body\":\"\"}", *s);
		CHECK_EQ_INT(status_of(big, &why), -1);
		CHECK_EQ_STR(why, BAD_STATUS);
	}

	/* framing and hop-by-hop headers are dropped, not forwarded */
	CHECK(parse("{\"status\":204,\"headers\":{\"Content-Length\":\"99\","
	    "\"Transfer-Encoding\":\"chunked\",\"connection\":\"close\","
	    "\"upgrade\":\"h2c\",\"x-ok\":\"1\",\"x-num\":7},\"body\":\"\"}", 1024,
	    &r) == NULL);
	CHECK_EQ_INT(r.nh, 1);
	CHECK_EQ_STR(r.names[0], "x-ok");
	gw_response_free(&r);

	/* header injection */
	CHECK_EQ_INT(status_of("{\"headers\":{\"x-a\":\"1\\r\\nset-cookie: a=b\"},"
	    "\"body\":\"\"}", &why), -1);
	CHECK_EQ_STR(why, BAD_HEADER);
	CHECK_EQ_INT(status_of("{\"headers\":{\"x a:\":\"1\"},\"body\":\"\"}", &why),
	    -1);
	CHECK_EQ_STR(why, BAD_HEADER);
	CHECK_EQ_INT(status_of("{\"headers\":{\"\":\"1\"},\"body\":\"\"}", &why), -1);
	CHECK_EQ_STR(why, BAD_HEADER);

	/* at most KH_FWD_HEADERS_MAX headers */
	for (unsigned n = KH_FWD_HEADERS_MAX; n <= KH_FWD_HEADERS_MAX + 1; n++) {
		size_t len = (size_t)snprintf(big, sizeof(big), "{\"headers\":{");
		for (unsigned i = 0; i < n; i++)
			len += (size_t)snprintf(big + len, sizeof(big) - len,
			    "%s\"x-h%u\":\"v\"", i ? "," : "", i);
		snprintf(big + len, sizeof(big) - len, "},\"body\":\"\"}");
		CHECK_EQ_INT(status_of(big, &why), n == KH_FWD_HEADERS_MAX ? 200 : -1);
	}

	/* body rules: Paperclip's decodeSandboxBridgeBody, and the limit */
	CHECK(parse("{\"body\":\"x\"}", 0, &r) != NULL);
	CHECK(parse("{\"body\":\"xxxx\"}", 4, &r) == NULL);
	gw_response_free(&r);
	CHECK_EQ_STR(parse("{\"body\":\"xxxxx\"}", 4, &r),
	    "Bridge body exceeded the configured size limit.");
	CHECK_EQ_STR(parse("{\"body\":\"eHh4eHg=\",\"bodyEncoding\":\"base64\"}", 4,
	    &r), "Bridge body exceeded the configured size limit.");
	CHECK_EQ_STR(parse("{\"body\":\"AAE\",\"bodyEncoding\":\"base64\"}", 64, &r),
	    "Invalid bridge base64 body.");
	CHECK_EQ_STR(parse("{\"body\":\"AB==\",\"bodyEncoding\":\"base64\"}", 64, &r),
	    "Invalid bridge base64 body.");	/* non-zero unused bits */
	CHECK_EQ_STR(parse("{\"body\":\"\",\"bodyEncoding\":\"hex\"}", 64, &r),
	    "Unsupported bridge body encoding.");
	CHECK_EQ_STR(parse("{\"status\":200}", 64, &r), "Invalid bridge body.");
	CHECK_EQ_STR(parse("{\"body\":7}", 64, &r), "Invalid bridge body.");

	/* one strict JSON object, nothing else (cJSON alone takes the first
	 * three) */
	CHECK_EQ_STR(parse("\xef\xbb\xbf{\"body\":\"\"}", 64, &r), NOT_JSON);
	CHECK_EQ_STR(gw_response_parse((const uint8_t *)"{\"body\":\"\"}\0junk", 16,
	    64, &r), NOT_JSON);
	CHECK_EQ_STR(parse("{\"body\":\"\"} {}", 64, &r), NOT_JSON);
	CHECK_EQ_STR(parse("[1,2]", 64, &r), NOT_JSON);
	CHECK_EQ_STR(parse("", 64, &r), NOT_JSON);
	CHECK_EQ_STR(parse("{\"body\":'x'}", 64, &r), NOT_JSON);
	/* where cJSON and JSON.parse would disagree: an escaped NUL (cJSON
	 * cuts the string there), a repeated key (cJSON reads the first) */
	CHECK_EQ_STR(parse("{\"body\":\"a\\u0000b\"}", 64, &r), NOT_JSON);
	CHECK_EQ_STR(parse("{\"body\":\"\",\"status\":200,\"status\":500}", 64,
	    &r), NOT_JSON);
	CHECK_EQ_STR(parse("{\"body\":\"\",\"headers\":{\"x-a\":\"1\",\"x-a\":"
	    "\"2\"}}", 64, &r), BAD_HEADER);
	/* an escaped backslash before "u0000" is text, not a NUL */
	CHECK(parse("{\"body\":\"a\\\\u0000\"}", 64, &r) == NULL);
	CHECK_EQ_INT(r.blen, 7);
	gw_response_free(&r);
	/* a refusal leaves nothing behind */
	CHECK(r.json == NULL && r.body == NULL && r.nh == 0);
	TEST_DONE();
}
