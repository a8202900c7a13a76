/*
 * keyhole-net body checks (see body_check.h).  cJSON parses; a linear
 * pre-scan first bounds the nesting depth so cJSON's recursion stays
 * shallow whatever the sandbox sends, and refuses \u0000, which cJSON
 * would cut a key at while the upstream (JavaScript) would not: a key
 * check must see the same key the upstream sees.
 */
#include <string.h>

#include <cjson/cJSON.h>

#include "body_check.h"
#include "json_check.h"

int
body_json_prescan(const uint8_t *s, size_t len, unsigned max_depth)
{
	unsigned depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		uint8_t ch = s[i];
		if (in_str) {
			if (ch == '"') {
				in_str = false;
			} else if (ch == '\\' && i + 1 < len) {
				if (s[i + 1] == 'u' && i + 5 < len &&
				    memcmp(s + i + 2, "0000", 4) == 0)
					return -2;
				i++;	/* the escaped byte is not a quote */
			}
			continue;
		}
		if (ch == '"') {
			in_str = true;
		} else if (ch == '[' || ch == '{') {
			if (++depth > max_depth)
				return -1;
		} else if ((ch == ']' || ch == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

static void
verdict(struct body_verdict *v, enum pc_id id)
{
	v->id = id;
	v->status = pc_table[id].status;
	v->error = pc_table[id].text;
}

/* Exactly one JSON value: cJSON stops after the first; only whitespace
 * may follow it. */
static cJSON *
body_parse(const uint8_t *body, size_t len)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts((const char *)body, len, &end,
	    false);

	if (j == NULL)
		return NULL;
	for (const char *p = end; p < (const char *)body + len; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
			cJSON_Delete(j);
			return NULL;
		}
	}
	return j;
}

static void
body_keys(const struct pol_rule *r, const cJSON *j, struct body_verdict *v)
{
	if (!cJSON_IsObject(j)) {
		verdict(v, PC_KEYS_OBJECT);
		return;
	}
	for (const cJSON *c = j->child; c != NULL; c = c->next) {
		const char *k = c->string ? c->string : "";
		bool ok = false;
		for (size_t i = 0; i < r->nkeys && !ok; i++)
			ok = strcmp(r->keys[i], k) == 0;
		if (!ok) {
			size_t n = strlen(k);
			if (n >= sizeof(v->key))
				n = sizeof(v->key) - 1;
			memcpy(v->key, k, n);
			v->key[n] = '\0';
			verdict(v, PC_KEY_UNNAMED);
			return;
		}
	}
}

void
body_check(const struct pol_rule *r, bool is_json, const uint8_t *body,
    size_t len, struct body_verdict *v)
{
	bool need_json = r != NULL && ((r->flags & POL_BODY_JSON) ||
	    r->nkeys > 0);

	memset(v, 0, sizeof(*v));
	if (len == 0) {
		if (need_json)
			verdict(v, r->nkeys ? PC_BODY_OBJECT : PC_BODY_VALUE);
		return;
	}
	if (!is_json) {
		if (need_json)
			verdict(v, PC_JSON_ONLY);
		return;		/* another media type this rule accepts */
	}
	int pre = body_json_prescan(body, len, KH_JSON_DEPTH_MAX);
	if (pre == -1) {
		verdict(v, PC_JSON_DEEP);
		return;
	}
	if (pre == -2) {
		verdict(v, PC_JSON_NUL);
		return;
	}
	/* cJSON accepts some texts that are not JSON (json_check.c says
	 * which); the upstream must never see a body it would parse
	 * differently from keyhole. */
	cJSON *j = json_check(body, len) ? body_parse(body, len) : NULL;
	if (j == NULL) {
		verdict(v, PC_JSON_INVALID);
		return;
	}
	if (r != NULL && r->nkeys > 0)
		body_keys(r, j, v);
	cJSON_Delete(j);
}
