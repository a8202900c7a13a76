/*
 * The http2_v1 READY line keyhole-gateway writes (src/parse/
 * gateway_ready.c): byte for byte what Paperclip's gateway writes
 * (JSON.stringify of {version, type, nonce}, then LF: the bytes its own
 * test asserts, sandbox-callback-bridge.test.js:2712-2716), a nonce with
 * '"' and '\\' escaped as JSON.stringify escapes them, and a nonce that
 * JSON.stringify would write differently (controls, non-ASCII) or that is
 * too long refused, as is a buffer too short (never a cut line).
 */
#include <string.h>

#include "gateway_ready.h"
#include "kh_test.h"

static const char *
line(const char *nonce)
{
	static char out[GW_READY_LINE_MAX];
	size_t n = gw_ready_line(nonce, strlen(nonce), out, sizeof(out));

	return n == strlen(out) && n > 0 ? out : NULL;
}

int
main(void)
{
	char big[KH_GW_NONCE_MAX + 2], out[GW_READY_LINE_MAX];

	CHECK_EQ_STR(line("5f323b3a969f2e8c0b799b32171a801d"),
	    "{\"version\":2,\"type\":\"ready\",\"nonce\":"
	    "\"5f323b3a969f2e8c0b799b32171a801d\"}\n");
	CHECK_EQ_STR(line(""), "{\"version\":2,\"type\":\"ready\",\"nonce\":\"\"}\n");
	CHECK_EQ_STR(line("a\"b\\c d~"),
	    "{\"version\":2,\"type\":\"ready\",\"nonce\":\"a\\\"b\\\\c d~\"}\n");
	CHECK(line("a\nb") == NULL);
	CHECK(line("a\tb") == NULL);
	CHECK(line("caf\xc3\xa9") == NULL);
	CHECK(line("a\x7f") == NULL);
	memset(big, '"', KH_GW_NONCE_MAX);
	big[KH_GW_NONCE_MAX] = '\0';
	/* the longest nonce, every byte escaped, fits */
	CHECK_EQ_INT(gw_ready_line(big, KH_GW_NONCE_MAX, out, sizeof(out)),
	    38 + 2 * KH_GW_NONCE_MAX + 2);
	big[KH_GW_NONCE_MAX] = 'x';
	big[KH_GW_NONCE_MAX + 1] = '\0';
	CHECK(line(big) == NULL);
	CHECK(gw_nonce_ok("0123abcdef", 10));
	CHECK(!gw_nonce_ok(big, KH_GW_NONCE_MAX + 1));
	/* short buffer: nothing, not a cut line */
	CHECK_EQ_INT(gw_ready_line("abc", 3, out, 20), 0);
	CHECK_EQ_STR(out, "");
	TEST_DONE();
}
