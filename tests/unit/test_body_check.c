/*
 * The child's body checks (src/parse/body_check.c): what a rule's
 * `body json` and `keys` ask of a request body, and the JSON validity,
 * depth and \u0000 refusal every JSON body gets.  Each test is named
 * after the property it guards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_check.h"
#include "kh_test.h"
#include "policy_compile.h"
#include "policy_table.h"

static int
compile_text(const char *text, struct policy *p)
{
	return policy_compile("t.policy", (const uint8_t *)text, strlen(text),
	    NULL, 0, p, NULL, NULL);
}

static int
check_body(const struct pol_rule *r, bool json, const char *body,
    struct body_verdict *v)
{
	body_check(r, json, (const uint8_t *)body, strlen(body), v);
	return v->status;
}

static void
body_checks_json_validity_depth_and_keys(void)
{
	struct policy p;
	struct body_verdict v;

	CHECK_EQ_INT(compile_text("allow POST /free\n"
	    "allow POST /json body json\n"
	    "allow PATCH /keys keys status,comment,$x\n"
	    "allow POST /up content-type multipart/form-data,application/json\n",
	    &p), 0);
	const struct pol_rule *free_r = &p.rules[0], *json = &p.rules[1],
	    *keys = &p.rules[2], *up = &p.rules[3];

	/* Any JSON body must be exactly one valid value. */
	CHECK_EQ_INT(check_body(free_r, true, "{\"a\":[1,2,{\"b\":null}]}", &v), 0);
	CHECK_EQ_INT(check_body(free_r, true, " 17 \r\n", &v), 0);
	CHECK_EQ_INT(check_body(free_r, true, "", &v), 0);
	CHECK_EQ_INT(check_body(free_r, true, "{\"a\":1} x", &v), 400);
	CHECK_EQ_STR(v.error, "Request body is not valid JSON.");
	CHECK_EQ_INT(check_body(free_r, true, "{} {}", &v), 400);
	CHECK_EQ_INT(check_body(free_r, true, "{\"a\":}", &v), 400);
	CHECK_EQ_INT(check_body(free_r, true, "nul", &v), 400);
	CHECK_EQ_INT(check_body(free_r, true, "\"a\\u0000b\"", &v), 400);
	CHECK_EQ_STR(v.error, "Request body JSON holds a \\u0000 escape.");
	CHECK_EQ_INT(check_body(NULL, true, "[", &v), 400);
	CHECK_EQ_INT(check_body(NULL, false, "not json at all", &v), 0);

	/* Depth: KH_JSON_DEPTH_MAX levels pass, one more does not; brackets
	 * inside strings (escaped quotes too) do not count. */
	char deep[2 * KH_JSON_DEPTH_MAX + 8];
	memset(deep, '[', KH_JSON_DEPTH_MAX);
	memset(deep + KH_JSON_DEPTH_MAX, ']', KH_JSON_DEPTH_MAX);
	deep[2 * KH_JSON_DEPTH_MAX] = '\0';
	CHECK_EQ_INT(check_body(free_r, true, deep, &v), 0);
	memset(deep, '[', KH_JSON_DEPTH_MAX + 1);
	memset(deep + KH_JSON_DEPTH_MAX + 1, ']', KH_JSON_DEPTH_MAX + 1);
	deep[2 * KH_JSON_DEPTH_MAX + 2] = '\0';
	CHECK_EQ_INT(check_body(free_r, true, deep, &v), 400);
	CHECK_EQ_STR(v.error, "Request body JSON is nested too deeply.");
	CHECK_EQ_INT(body_json_prescan((const uint8_t *)"[\"[[[[\\\"[[[\"]", 13,
	    2), 0);
	CHECK_EQ_INT(body_json_prescan((const uint8_t *)"[[[", 3, 2), -1);
	CHECK_EQ_INT(body_json_prescan((const uint8_t *)"\"\\u0000\"", 8, 2), -2);
	CHECK_EQ_INT(body_json_prescan((const uint8_t *)"\"\\\\u0000\"", 9, 2), 0);

	/* body json: required, and JSON. */
	CHECK_EQ_INT(check_body(json, true, "", &v), 400);
	CHECK_EQ_STR(v.error, "Request body must be one JSON value.");
	CHECK_EQ_INT(check_body(json, true, "[]", &v), 0);
	CHECK_EQ_INT(check_body(json, false, "[]", &v), 415);

	/* keys: an object whose top-level keys are all listed. */
	CHECK_EQ_INT(check_body(keys, true, "{\"status\":\"done\",\"comment\":"
	    "{\"nested\":{\"anything\":1}},\"$x\":0}", &v), 0);
	CHECK_EQ_INT(check_body(keys, true, "{}", &v), 0);
	CHECK_EQ_INT(check_body(keys, true, "{\"status\":\"done\","
	    "\"assigneeAgentId\":\"a\",\"other\":1}", &v), 422);
	CHECK_EQ_STR(v.key, "assigneeAgentId");
	CHECK_EQ_STR(v.error, "Key not allowed on this route.");
	CHECK_EQ_INT(check_body(keys, true, "{\"Status\":1}", &v), 422);
	CHECK_EQ_STR(v.key, "Status");			/* exact, case too */
	CHECK_EQ_INT(check_body(keys, true, "{\"__proto__\":{}}", &v), 422);
	CHECK_EQ_INT(check_body(keys, true, "{\"status\":1,\"status\":2}", &v), 0);
	CHECK_EQ_INT(check_body(keys, true, "[\"status\"]", &v), 422);
	CHECK_EQ_STR(v.error, "Request body must be a JSON object.");
	CHECK_EQ_STR(v.key, "");
	CHECK_EQ_INT(check_body(keys, true, "\"status\"", &v), 422);
	CHECK_EQ_INT(check_body(keys, true, "", &v), 400);
	CHECK_EQ_STR(v.error, "Request body must be a JSON object.");
	CHECK_EQ_INT(check_body(keys, true, "{\"status\":", &v), 400);
	CHECK_EQ_INT(check_body(keys, true, "{\"st\\u0000atus\":1}", &v), 400);
	/* A very long key is named, truncated. */
	char longkey[600];
	memset(longkey, 0, sizeof(longkey));
	strcpy(longkey, "{\"");
	memset(longkey + 2, 'k', 500);
	strcat(longkey, "\":1}");
	CHECK_EQ_INT(check_body(keys, true, longkey, &v), 422);
	CHECK_EQ_INT(strlen(v.key), sizeof(v.key) - 1);

	/* Another media type the rule accepts: not parsed. */
	CHECK_EQ_INT(check_body(up, false, "--b\r\nx\r\n--b--", &v), 0);
	CHECK_EQ_INT(check_body(up, true, "{bad", &v), 400);
	policy_free(&p);
}

int
main(void)
{
	body_checks_json_validity_depth_and_keys();
	TEST_DONE();
}
