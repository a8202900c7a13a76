/* keyhole audit records, read back: see audit_record.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "audit_record.h"
#include "hex.h"
#include "kh_limits.h"
#include "qcodec.h"

static int
arec_fail(const char **why, const char *msg)
{
	*why = msg;
	return -1;
}

/* n lower-case hex digits (2 per byte) into out[n / 2]. */
static bool
arec_hex(const char *s, uint8_t *out, size_t bytes)
{
	if (s == NULL || strlen(s) != 2 * bytes)
		return false;
	for (size_t i = 0; i < bytes; i++) {
		int hi = hex_value((uint8_t)s[2 * i]);
		int lo = hex_value((uint8_t)s[2 * i + 1]);
		if (hi < 0 || lo < 0 || (s[2 * i] >= 'A' && s[2 * i] <= 'F') ||
		    (s[2 * i + 1] >= 'A' && s[2 * i + 1] <= 'F'))
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* Canonical padded base64 (as OpenSSL's EVP_EncodeBlock writes it) of
 * exactly `bytes` bytes: qcodec.c's strict decoder (alphabet only, '='
 * only as the final padding, unused bits zero). */
static bool
arec_b64(const char *s, uint8_t *out, size_t bytes)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n == (bytes + 2) / 3 * 4 &&
	    qc_b64_decode(s, n, out, bytes) == (long long)bytes;
}

static const cJSON *
arec_get(const cJSON *o, const char *k)
{
	return cJSON_GetObjectItemCaseSensitive(o, k);
}

static const char *
arec_str(const cJSON *o, const char *k)
{
	const cJSON *v = arec_get(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A JSON number that is a whole number in 0..2^53. */
static bool
arec_uint(const cJSON *o, const char *k, uint64_t *out)
{
	const cJSON *v = arec_get(o, k);
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d)
		return false;
	*out = (uint64_t)d;
	return true;
}

static bool
arec_no_duplicates(const cJSON *o)
{
	size_t n = 0;

	for (const cJSON *a = o->child; a != NULL; a = a->next) {
		if (a->string == NULL || ++n > 64)
			return false;
		for (const cJSON *b = a->next; b != NULL; b = b->next)
			if (b->string != NULL && strcmp(a->string, b->string) == 0)
				return false;
	}
	return true;
}

static bool
arec_event_name(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= sizeof(((struct arec *)0)->event))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
			return false;
	return true;
}

static int
arec_key(const cJSON *o, struct arec *r, bool need_pub, const char **why)
{
	if (!arec_hex(arec_str(o, "key"), r->fp, AUDIT_FP_LEN))
		return arec_fail(why, "\"key\" is not a key fingerprint");
	if (need_pub && !arec_b64(arec_str(o, "pubkey"), r->pub,
	    AUDIT_PUBKEY_LEN))
		return arec_fail(why, "\"pubkey\" is not a base64 Ed25519 key");
	r->has_key = need_pub;
	return 0;
}

static int
arec_checkpoint(const cJSON *o, const uint8_t *line, size_t len,
    struct arec *r, const char **why)
{
	const cJSON *fin = arec_get(o, "final"), *last = o->child;
	size_t fl = sizeof(AUDIT_SIG_FIELD) - 1;

	if (arec_key(o, r, false, why) < 0)
		return -1;
	if (!arec_uint(o, "records", &r->records) || !cJSON_IsBool(fin))
		return arec_fail(why, "checkpoint without records or final");
	r->final = cJSON_IsTrue(fin);
	while (last != NULL && last->next != NULL)
		last = last->next;
	/* The signature is the last field, at a fixed place: what it signs
	 * is every byte before it. */
	if (last == NULL || last->string == NULL ||
	    strcmp(last->string, "sig") != 0 || len < AUDIT_SIG_TAIL_LEN ||
	    memcmp(line + len - AUDIT_SIG_TAIL_LEN, AUDIT_SIG_FIELD, fl) != 0 ||
	    memcmp(line + len - 2, "\"}", 2) != 0 ||
	    !arec_b64(arec_str(o, "sig"), r->sig, AUDIT_SIG_LEN))
		return arec_fail(why, "checkpoint without a signature as its "
		    "last field");
	r->signed_len = len - AUDIT_SIG_TAIL_LEN;
	return 0;
}

static int
arec_event(const cJSON *o, struct arec *r, const char **why)
{
	const char *ev = arec_str(o, "event"), *s;

	if (!arec_event_name(ev))
		return arec_fail(why, "event without a name");
	strcpy(r->event, ev);
	if (strcmp(ev, "start") == 0 || strcmp(ev, "rotate") == 0) {
		if (arec_key(o, r, true, why) < 0)
			return -1;
	}
	if (strcmp(ev, "start") == 0 && (s = arec_str(o, "runId")) != NULL)
		snprintf(r->run_id, sizeof(r->run_id), "%s", s);
	if (strcmp(ev, "recover") == 0) {
		const cJSON *ts = arec_get(o, "tornSha256");
		if (!arec_uint(o, "tornBytes", &r->torn_bytes))
			return arec_fail(why, "recover without tornBytes");
		r->has_torn_sha = !cJSON_IsNull(ts);
		if (r->has_torn_sha && (!cJSON_IsString(ts) ||
		    !arec_hex(ts->valuestring, r->torn_sha, AUDIT_HASH_LEN)))
			return arec_fail(why, "recover with a bad tornSha256");
		if ((r->torn_bytes > 0) != r->has_torn_sha)
			return arec_fail(why, "recover: tornBytes and tornSha256 "
			    "disagree");
	}
	return 0;
}

static int
arec_request(const cJSON *o, struct arec *r, const char **why)
{
	const char *src = arec_str(o, "source"), *dec = arec_str(o, "decision");

	if (src == NULL || (strcmp(src, "child") != 0 &&
	    strcmp(src, "parent") != 0) || dec == NULL ||
	    (strcmp(dec, "forwarded") != 0 && strcmp(dec, "refused") != 0))
		return arec_fail(why, "request without source or decision");
	r->from_child = strcmp(src, "child") == 0;
	r->forwarded = strcmp(dec, "forwarded") == 0;
	return 0;
}

static int
arec_fields(const cJSON *o, const uint8_t *line, size_t len,
    struct arec *r, const char **why)
{
	const char *time = arec_str(o, "time"), *run = arec_str(o, "run");
	const char *type = arec_str(o, "type");
	uint64_t v, seq;
	uint8_t rb[16];

	if (!arec_uint(o, "v", &v) || v != AUDIT_VERSION)
		return arec_fail(why, "not a record of schema version 1");
	if (!arec_uint(o, "seq", &seq) ||
	    (r->seq < (UINT64_C(1) << 53) && seq != r->seq))
		return arec_fail(why, "seq is not the line's");
	if (time == NULL || strlen(time) >= sizeof(r->time))
		return arec_fail(why, "no time");
	strcpy(r->time, time);
	if (!arec_hex(run, rb, sizeof(rb)))
		return arec_fail(why, "\"run\" is not 32 hex digits");
	strcpy(r->run, run);
	if (!arec_hex(arec_str(o, "prev"), r->prev, AUDIT_HASH_LEN))
		return arec_fail(why, "\"prev\" is not 64 hex digits");
	r->genesis = true;
	for (size_t i = 0; i < AUDIT_HASH_LEN; i++)
		if (r->prev[i] != 0)
			r->genesis = false;
	if (type == NULL)
		return arec_fail(why, "no type");
	if (strcmp(type, "request") == 0) {
		r->type = AREC_REQUEST;
		return arec_request(o, r, why);
	}
	if (strcmp(type, "event") == 0) {
		r->type = AREC_EVENT;
		return arec_event(o, r, why);
	}
	if (strcmp(type, "checkpoint") == 0) {
		r->type = AREC_CHECKPOINT;
		return arec_checkpoint(o, line, len, r, why);
	}
	return arec_fail(why, "unknown type");
}

int
arec_parse(const uint8_t *line, size_t len, struct arec *r, const char **why)
{
	char *text;
	const char *end = NULL;
	cJSON *o;
	int rc;

	memset(r, 0, sizeof(*r));
	if (len > KH_AUDIT_LINE_MAX)
		return arec_fail(why, "line longer than a record can be");
	if (memchr(line, '\0', len) != NULL)
		return arec_fail(why, "NUL byte in the line");
	if (audit_seq_parse(line, len, &r->seq) < 0)
		return arec_fail(why, "does not begin as a record does");
	if ((text = malloc(len + 1)) == NULL)
		return arec_fail(why, "out of memory");
	memcpy(text, line, len);
	text[len] = '\0';
	o = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
	if (o == NULL || !cJSON_IsObject(o) || end != text + len) {
		rc = arec_fail(why, "not one JSON object");
	} else if (!arec_no_duplicates(o)) {
		rc = arec_fail(why, "a duplicate key");
	} else {
		rc = arec_fields(o, line, len, r, why);
	}
	cJSON_Delete(o);
	free(text);
	return rc;
}
