/*
 * keyhole-gateway: the response file a host writes into
 * responses/<id>.json, parsed (gateway_response.c).  Pure: no I/O, so the
 * fuzz harness tests/fuzz/fuzz_gateway_response.c runs exactly this code.
 *
 *   {"status": N, "headers": {"name": "value", ...}, "body": "...",
 *    "bodyEncoding": "utf8" | "base64"}
 *
 * One strict JSON text (RFC 8259) without an escaped NUL or a repeated
 * key (where cJSON and Node's JSON.parse would read different things), an
 * integral status 200..599 (409 whatever it says when the headers carry
 * x-paperclip-bridge-outcome: indeterminate; 200 when absent), string
 * headers with token names and forwardable values (framing and hop-by-hop
 * names dropped, at most KH_FWD_HEADERS_MAX kept), a string body decoded
 * as Paperclip's decodeSandboxBridgeBody does, at most max_body bytes.
 */
#ifndef KH_GATEWAY_RESPONSE_H
#define KH_GATEWAY_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "kh_limits.h"

struct cJSON;

struct gw_response {
	int status;
	size_t nh;
	const char *names[KH_FWD_HEADERS_MAX];	/* NUL-terminated, in json */
	const char *values[KH_FWD_HEADERS_MAX];
	size_t vlens[KH_FWD_HEADERS_MAX];
	uint8_t *body;				/* malloc'd, blen bytes */
	size_t blen;
	struct cJSON *json;			/* owns names and values */
};

/* Parses text[0..len).  Returns NULL and fills *r (free it with
 * gw_response_free), or the message the client's 502 carries: the text
 * of a PC_GW_* entry of paperclip.h (*r then holds nothing to free). */
const char *gw_response_parse(const uint8_t *text, size_t len,
    uint64_t max_body, struct gw_response *r);
void gw_response_free(struct gw_response *r);

#endif
