/*
 * libFuzzer harness for body_check() (child): a sandbox's request body
 * against `body json` and `keys` rules.  The first input byte picks the
 * rule and whether the media type is JSON; the rest is the body.
 * Properties, each an abort() when broken:
 *  - the verdict is 0, 400, 415 or 422 with an error text, and a key only
 *    on 422;
 *  - a body accepted under `keys` is a JSON object whose every top-level
 *    key is listed (re-checked here with cJSON independently);
 *  - the depth pre-scan never lets through more nesting than the limit:
 *    an accepted JSON body nests at most KH_JSON_DEPTH_MAX levels;
 *  - the parent's repetition of the check agrees: a body the child
 *    accepts as JSON passes json_check(), and under `keys`
 *    json_keys_check() (no parser, src/check/json_keys.c) finds every
 *    key listed; a body json_check() accepts and the child refuses with
 *    422 for a key is refused by json_keys_check() too.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "body_check.h"
#include "json_check.h"
#include "json_keys.h"

static unsigned
depth_of(const cJSON *j)
{
	unsigned most = 0;

	if (!cJSON_IsArray(j) && !cJSON_IsObject(j))
		return 0;
	for (const cJSON *c = j->child; c != NULL; c = c->next) {
		unsigned d = depth_of(c);
		if (d > most)
			most = d;
	}
	return most + 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "status", "comment", "body" };
	struct pol_rule r;
	struct body_verdict v;

	if (size == 0)
		return 0;
	memset(&r, 0, sizeof(r));
	switch (data[0] & 3) {
	case 1:
		r.flags = POL_BODY_JSON;
		break;
	case 2:
		r.nkeys = 3;
		for (int i = 0; i < 3; i++)
			strcpy(r.keys[i], keys[i]);
		break;
	case 3:
		r.nctypes = 1;
		strcpy(r.ctypes[0], "multipart/form-data");
		break;
	}
	bool is_json = (data[0] & 4) == 0;
	const uint8_t *body = data + 1;
	size_t len = size - 1;

	body_check(&r, is_json, body, len, &v);
	if (v.status != 0 && v.status != 400 && v.status != 415 &&
	    v.status != 422)
		abort();
	if ((v.status == 0) != (v.error == NULL))
		abort();
	if (v.key[0] != '\0' && v.status != 422)
		abort();
	if (r.nkeys > 0 && is_json && v.status == 422 && v.key[0] != '\0' &&
	    json_check(body, len) &&
	    json_keys_check(body, len, (const char (*)[KH_POLICY_KEY_MAX + 1])
	    r.keys, r.nkeys) == JSON_KEYS_OK)
		abort();	/* the parent would let through a refused key */
	if (v.status != 0 || !is_json || len == 0)
		return 0;
	/* What the parent repeats must accept what the child accepted. */
	if (!json_check(body, len) || (r.nkeys > 0 && json_keys_check(body,
	    len, (const char (*)[KH_POLICY_KEY_MAX + 1])r.keys, r.nkeys) !=
	    JSON_KEYS_OK))
		abort();
	cJSON *j = cJSON_ParseWithLength((const char *)body, len);
	if (j == NULL)
		abort();	/* accepted, yet not JSON */
	if (depth_of(j) > KH_JSON_DEPTH_MAX)
		abort();
	if (r.nkeys > 0) {
		if (!cJSON_IsObject(j))
			abort();
		for (const cJSON *c = j->child; c != NULL; c = c->next) {
			bool ok = false;
			for (int i = 0; i < 3; i++)
				ok = ok || (c->string && strcmp(c->string, keys[i]) == 0);
			if (!ok)
				abort();
		}
	}
	cJSON_Delete(j);
	return 0;
}
