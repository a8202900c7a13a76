/*
 * keyhole-gateway: the host's response file, parsed (see
 * gateway_response.h).  Every byte comes from responses/<id>.json, a
 * directory the sandbox can also write: treat it as hostile.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "gateway_response.h"
#include "hdr.h"
#include "json_check.h"
#include "paperclip.h"
#include "qcodec.h"
#include "queue_envelope.h"
#include "util.h"

/* Headers a response may not set: our framing and hop-by-hop fields. */
static bool
gw_resp_header_skipped(const char *name)
{
	static const char *const skip[] = { "content-length", "transfer-encoding",
	    "connection", "keep-alive", "upgrade", "proxy-connection", "trailer",
	    NULL };
	for (const char *const *s = skip; *s != NULL; s++)
		if (strcasecmp(name, *s) == 0)
			return true;
	return false;
}

static bool
gw_token_name(const char *s)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";
	if (*s == '\0' || strlen(s) > KH_HNAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr(extra, *s) != NULL))
			return false;
	return true;
}

/* Paperclip's decodeSandboxBridgeBody.  Returns NULL with *err. */
static uint8_t *
gw_decode_body(const cJSON *resp, uint64_t max_body, size_t *len,
    const char **err)
{
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(resp, "body");
	const cJSON *enc = cJSON_GetObjectItemCaseSensitive(resp, "bodyEncoding");
	uint8_t *out;
	size_t n;

	*len = 0;
	if (!cJSON_IsString(b)) {
		*err = pc_table[PC_GW_BODY_INVALID].text;
		return NULL;
	}
	n = strlen(b->valuestring);
	if (enc == NULL || (cJSON_IsString(enc) &&
	    strcmp(enc->valuestring, "utf8") == 0)) {
		if (n > max_body) {
			*err = pc_table[PC_GW_BODY_EXCEEDED].text;
			return NULL;
		}
		out = malloc(n + 1);
		if (out == NULL) {
			*err = pc_table[PC_GW_RESP_OUT_OF_MEMORY].text;
			return NULL;
		}
		memcpy(out, b->valuestring, n);
		*len = n;
		return out;
	}
	if (!cJSON_IsString(enc) || strcmp(enc->valuestring, "base64") != 0) {
		*err = pc_table[PC_GW_BODY_ENCODING].text;
		return NULL;
	}
	if (n > 4 * ((max_body + 2) / 3)) {
		*err = pc_table[PC_GW_BODY_EXCEEDED].text;
		return NULL;
	}
	out = malloc(n / 4 * 3 + 1);
	if (out == NULL) {
		*err = pc_table[PC_GW_RESP_OUT_OF_MEMORY].text;
		return NULL;
	}
	long long got = qc_b64_decode(b->valuestring, n, out, n / 4 * 3);
	if (got < 0) {
		free(out);
		*err = pc_table[PC_GW_BODY_BASE64].text;
		return NULL;
	}
	if ((uint64_t)got > max_body) {
		free(out);
		*err = pc_table[PC_GW_BODY_EXCEEDED].text;
		return NULL;
	}
	*len = (size_t)got;
	return out;
}

/* The status the client gets: 409 for an indeterminate outcome, else the
 * file's, which must be an integer 200..599 (a 1xx is no final answer and
 * would leave the client's framing broken; out-of-range doubles are not
 * converted at all).  -1 when invalid. */
static int
gw_status(const cJSON *resp, const cJSON *hdrs)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(resp, "status");
	const cJSON *outcome = cJSON_IsObject(hdrs) ?
	    cJSON_GetObjectItemCaseSensitive(hdrs, "x-paperclip-bridge-outcome") :
	    NULL;
	double d;

	if (cJSON_IsString(outcome) &&
	    strcmp(outcome->valuestring, "indeterminate") == 0)
		return 409;
	if (!cJSON_IsNumber(st))
		return 200;
	d = st->valuedouble;
	if (!isfinite(d) || d < 200 || d > 599 || d != floor(d))
		return -1;
	return (int)d;
}

const char *
gw_response_parse(const uint8_t *text, size_t len, uint64_t max_body,
    struct gw_response *r)
{
	const cJSON *hdrs;
	const char *err = NULL;

	memset(r, 0, sizeof(*r));
	/* cJSON alone takes texts that are not JSON (a BOM, trailing bytes
	 * after a NUL), cuts strings at an escaped NUL and reads the first of
	 * two equal keys; the host writes JSON.stringify output, and keyhole's
	 * host never an escaped NUL (such bodies go in base64). */
	if (!json_check(text, len) || !qenv_raw_ok(text, len) ||
	    (r->json = cJSON_ParseWithLength((const char *)text, len)) == NULL ||
	    !cJSON_IsObject(r->json) || !qenv_keys_unique(r->json)) {
		err = pc_table[PC_GW_RESP_JSON].text;
		goto fail;
	}
	hdrs = cJSON_GetObjectItemCaseSensitive(r->json, "headers");
	if (cJSON_IsObject(hdrs) && !qenv_keys_unique(hdrs)) {
		err = pc_table[PC_GW_RESP_HEADER].text;
		goto fail;
	}
	if ((r->status = gw_status(r->json, hdrs)) < 0) {
		err = pc_table[PC_GW_RESP_STATUS].text;
		goto fail;
	}
	if (cJSON_IsObject(hdrs))
		for (const cJSON *h = hdrs->child; h != NULL; h = h->next) {
			if (!cJSON_IsString(h) || gw_resp_header_skipped(h->string))
				continue;
			if (!gw_token_name(h->string) ||
			    !hdr_value_forwardable(h->valuestring,
			    strlen(h->valuestring)) || r->nh == KH_FWD_HEADERS_MAX) {
				err = pc_table[PC_GW_RESP_HEADER].text;
				goto fail;
			}
			r->names[r->nh] = h->string;
			r->values[r->nh] = h->valuestring;
			r->vlens[r->nh++] = strlen(h->valuestring);
		}
	r->body = gw_decode_body(r->json, max_body, &r->blen, &err);
	if (r->body == NULL)
		goto fail;
	return NULL;
fail:
	gw_response_free(r);
	return err;
}

void
gw_response_free(struct gw_response *r)
{
	free(r->body);
	cJSON_Delete(r->json);
	memset(r, 0, sizeof(*r));
}
