/*
 * Route policy v2: variables, '**', per-rule constraints, budgets, body
 * checks, warnings, and what the parent's decoder makes of each.  Each
 * test is named after the property it guards.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "body_check.h"
#include "budget.h"
#include "child_config.h"
#include "kh_test.h"
#include "path.h"
#include "policy_compile.h"
#include "policy_table.h"
#include "wire.h"

struct diags {
	int n, nwarn;
	char all[32768];
	char first[2048];
	char firstwarn[2048];
};

static void
diag_collect(void *arg, bool warning, const char *msg)
{
	struct diags *d = arg;
	size_t l = strlen(d->all);

	snprintf(d->all + l, sizeof(d->all) - l, "%s\n", msg);
	if (warning) {
		if (d->nwarn++ == 0)
			snprintf(d->firstwarn, sizeof(d->firstwarn), "%s", msg);
		return;
	}
	if (d->n++ == 0)
		snprintf(d->first, sizeof(d->first), "%s", msg);
}

static struct pol_bindings *
binds(const char *a, const char *b)
{
	static struct pol_bindings bb;
	char why[512];

	memset(&bb, 0, sizeof(bb));
	if (a != NULL)
		CHECK_EQ_INT(policy_binding_add(&bb, a, why, sizeof(why)), 0);
	if (b != NULL)
		CHECK_EQ_INT(policy_binding_add(&bb, b, why, sizeof(why)), 0);
	return &bb;
}

static int
compile_with(const char *text, const struct pol_bindings *b, unsigned flags,
    struct policy *p, struct diags *d)
{
	memset(d, 0, sizeof(*d));
	return policy_compile("t.policy", (const uint8_t *)text, strlen(text),
	    b, flags, p, diag_collect, d);
}

/* Strict compile, with issue=BRI-7 bound when the text uses {issue} (a
 * binding the policy never uses is itself worth a warning). */
static int
compile_text(const char *text, struct policy *p, struct diags *d)
{
	return compile_with(text, strstr(text, "{issue}") ?
	    binds("issue=BRI-7", NULL) : NULL, 0, p, d);
}

static int
match(const struct policy *p, const char *m, const char *path)
{
	return policy_match(p, m, path, strlen(path));
}

static char *
print_policy(const struct policy *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	policy_print(f, p);
	fclose(f);
	return buf;
}

/* Exactly one error, equal to `want` (the whole message). */
static void
expect_error(const char *text, const char *want)
{
	struct policy p;
	struct diags d;
	int n = compile_text(text, &p, &d);

	CHECK_EQ_INT(n, 1);
	CHECK_EQ_STR(d.first, want);
	if (n != 1 || strcmp(d.first, want) != 0)
		fprintf(stderr, "  for:\n%s  got:\n%s", text, d.all);
	CHECK(p.rules == NULL && p.nrules == 0);
}

/* Compiles without error, one warning equal to `want`. */
static void
expect_warning(const char *text, const char *want)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text(text, &p, &d), 0);
	CHECK_EQ_INT(d.nwarn, 1);
	CHECK_EQ_STR(d.firstwarn, want);
	if (d.nwarn != 1 || strcmp(d.firstwarn, want) != 0)
		fprintf(stderr, "  for:\n%s  got:\n%s", text, d.all);
	policy_free(&p);
}

#define OK "allow GET /ok\n"

static void
compiler_names_line_column_and_fix_for_each_v2_error(void)
{
	expect_error(OK "allow POST /a frob 1\n", "t.policy:2:15: unknown "
	    "constraint 'frob' (expected body, keys, content-type, "
	    "request-header, max-body, query or rate)");
	expect_error(OK "allow POST /a keys\n", "t.policy:2:15: 'keys' needs a "
	    "value, e.g. 'keys status,comment'");
	expect_error(OK "allow POST /a body json body none\n", "t.policy:2:25: "
	    "'body' given twice on one rule; remove one");
	expect_error(OK "allow POST /a body xml\n", "t.policy:2:20: 'body xml': "
	    "expected 'body json' (a body is required and must be one JSON "
	    "value) or 'body none'");
	expect_error(OK "allow POST /a keys a,,b\n", "t.policy:2:22: empty key "
	    "in 'keys a,,b' (a comma-separated list without spaces)");
	expect_error(OK "allow POST /a keys a,\n", "t.policy:2:22: empty key in "
	    "'keys a,' (a comma-separated list without spaces)");
	expect_error(OK "allow POST /a keys a,b/c\n", "t.policy:2:22: invalid "
	    "key 'b/c' (letters, digits and _.$@-)");
	expect_error(OK "allow POST /a keys a,b,a\n", "t.policy:2:24: key 'a' "
	    "listed twice");
	expect_error(OK "allow POST /a content-type */*\n", "t.policy:2:28: "
	    "invalid media type '*/*' (type/subtype, e.g. multipart/form-data; "
	    "no parameters, no '*')");
	expect_error(OK "allow POST /a content-type text/plain;charset=x\n",
	    "t.policy:2:28: invalid media type 'text/plain;charset=x' "
	    "(type/subtype, e.g. multipart/form-data; no parameters, no '*')");
	expect_error(OK "allow POST /a content-type text/plain,TEXT/PLAIN\n",
	    "t.policy:2:39: media type 'text/plain' listed twice");
	expect_error(OK "allow POST /a request-header cookie\n", "t.policy:2:30: "
	    "header 'cookie' may never be allowlisted (keyhole sets, strips "
	    "or frames it itself)");
	expect_error(OK "allow POST /a request-header x:y\n", "t.policy:2:30: "
	    "invalid header name 'x:y' (a token of letters, digits and "
	    "!#$%&'*+-.^_`|~)");
	expect_error(OK "allow POST /a max-body 9m\n", "t.policy:2:24: "
	    "max-body '9m' is over the limit of 8m");
	expect_error(OK "allow POST /a max-body lots\n", "t.policy:2:24: bad "
	    "size 'lots' (expected bytes, or a whole number with a k or m "
	    "suffix, e.g. 'max-body 1m')");
	expect_error(OK "allow POST /a query some\n", "t.policy:2:21: 'query "
	    "some': expected 'query none' or 'query any'");
	expect_error(OK "allow POST /a rate 10/h\n", "t.policy:2:20: bad rate "
	    "'10/h' (N/s or N/min with N from 1 to 1000000, e.g. 'rate "
	    "30/min')");
	expect_error(OK "allow POST /a rate 0/s\n", "t.policy:2:20: bad rate "
	    "'0/s' (N/s or N/min with N from 1 to 1000000, e.g. 'rate "
	    "30/min')");
	expect_error(OK "allow POST /a rate 1000001/s\n", "t.policy:2:20: bad "
	    "rate '1000001/s' (N/s or N/min with N from 1 to 1000000, e.g. "
	    "'rate 30/min')");
	expect_error(OK "allow POST /a rate /min\n", "t.policy:2:20: bad rate "
	    "'/min' (N/s or N/min with N from 1 to 1000000, e.g. 'rate "
	    "30/min')");
	expect_error(OK "allow GET /a keys x\n", "t.policy:2:14: GET requests "
	    "carry no body (keyhole refuses one), so 'keys' can never apply; "
	    "remove it");
	expect_error(OK "allow HEAD /a max-body 1k\n", "t.policy:2:15: HEAD "
	    "requests carry no body (keyhole refuses one), so 'max-body' can "
	    "never apply; remove it");
	expect_error(OK "allow GET /a body json\n", "t.policy:2:14: GET "
	    "requests carry no body (keyhole refuses one), so 'body' can never "
	    "apply; remove it");
	expect_error(OK "allow GET /a content-type text/plain\n", "t.policy:2:14: "
	    "GET requests carry no body (keyhole refuses one), so "
	    "'content-type' can never apply; remove it");
	expect_error(OK "allow POST /a body none keys a\n", "t.policy:2:25: "
	    "'keys' contradicts 'body none' on the same rule; remove one");
	expect_error(OK "allow POST /a keys a content-type text/plain\n",
	    "t.policy:2:22: 'keys' checks a JSON body, but 'content-type' does "
	    "not list application/json");
	expect_error(OK "allow POST /a body json content-type text/plain\n",
	    "t.policy:2:25: 'body json' checks a JSON body, but 'content-type' "
	    "does not list application/json");
	expect_error(OK "allow GET /a/**/b\n", "t.policy:2:14: '**' in pattern "
	    "'/a/**/b' must be the last segment (it matches all the rest of "
	    "the path); use '*' for one segment");
	expect_error(OK "allow GET /a/{1x}\n", "t.policy:2:14: '{1x}' in "
	    "pattern '/a/{1x}' is not a variable: write '{name}' with letters, "
	    "digits and '_', not starting with a digit, at most 32 bytes");
	expect_error(OK "allow GET /a/{}\n", "t.policy:2:14: '{}' in pattern "
	    "'/a/{}' is not a variable: write '{name}' with letters, digits "
	    "and '_', not starting with a digit, at most 32 bytes");
	expect_error(OK "allow GET /a/{a-b}\n", "t.policy:2:14: '{a-b}' in "
	    "pattern '/a/{a-b}' is not a variable: write '{name}' with "
	    "letters, digits and '_', not starting with a digit, at most 32 "
	    "bytes");
	expect_error(OK "allow GET /a/{x\n", "t.policy:2:14: segment '{x' in "
	    "pattern '/a/{x': a variable must be a whole segment, '{name}'");
	expect_error(OK "allow PATCH /api/issues/{company}\n", "t.policy:2:25: "
	    "variable 'company' is not bound (start keyhole with --var "
	    "company=VALUE or KEYHOLE_VAR_company=VALUE, or declare "
	    "'optional-var company' so its rules match nothing when it is "
	    "unbound)");
	expect_error(OK "max\n", "t.policy:2:1: 'max' needs one number: the "
	    "mutations (POST, PUT, PATCH, DELETE) allowed per run, e.g. 'max "
	    "200'");
	expect_error(OK "max 0\n", "t.policy:2:5: bad budget '0' (a whole "
	    "number from 1 to 100000000)");
	expect_error(OK "max 100000001\n", "t.policy:2:5: bad budget "
	    "'100000001' (a whole number from 1 to 100000000)");
	expect_error(OK "max 5x\n", "t.policy:2:5: bad budget '5x' (a whole "
	    "number from 1 to 100000000)");
	expect_error(OK "max 5\nmax 6\n", "t.policy:3:1: 'max' given twice "
	    "(first at line 2); remove one");
	expect_error(OK "optional-var\n", "t.policy:2:1: 'optional-var' needs "
	    "one variable name, e.g. 'optional-var issue'");
	expect_error(OK "optional-var 9\n", "t.policy:2:14: '9' is not a "
	    "variable name (letters, digits and '_', not starting with a "
	    "digit, at most 32 bytes)");
	expect_error(OK "optional-var x\nallow GET /{x}\noptional-var x\n",
	    "t.policy:4:14: 'optional-var x' given twice (first at line 2); "
	    "remove one");
	expect_error(OK "frob x\n", "t.policy:2:1: unknown directive 'frob' "
	    "(expected allow, request-header, response-header, max-body, max "
	    "or optional-var)");
	expect_error(OK "allow POST /a body json keys a content-type "
	    "application/json request-header x-a max-body 1k query none rate "
	    "1/s body json\n", "t.policy:2:113: 'body' given twice on one "
	    "rule; remove one");

	/* More distinct variables than a table may hold. */
	char text[2048] = "";
	for (int i = 0; i < (int)KH_POLICY_VARS_MAX + 1; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "optional-var v%d\nallow GET /v%d/{v%d}\n", i, i, i);
	struct policy p;
	struct diags d;
	CHECK_EQ_INT(compile_with(text, NULL, 0, &p, &d), 2);	/* both uses */
	CHECK(strstr(d.first, "t.policy:33:14: more than 16 distinct "
	    "variables") != NULL);
}

/* The remaining messages: limits and rarer spellings. */
static void
compiler_names_limits_and_rare_spellings(void)
{
	char text[2048], big[400];
	struct policy p;
	struct diags d;

	strcpy(text, OK "allow POST /a keys k0");
	for (int i = 1; i <= (int)KH_POLICY_KEYS_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    ",k%d", i);
	strcat(text, "\n");
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:") == d.first &&
	    strstr(d.first, ": more than 32 entries in 'keys'") != NULL);

	memset(big, 'k', 65);
	big[65] = '\0';
	snprintf(text, sizeof(text), OK "allow POST /a keys %s\n", big);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:20: key 'kkkk") == d.first &&
	    strstr(d.first, "' is longer than 64 bytes") != NULL);

	memset(big, 's', 257);
	big[257] = '\0';
	snprintf(text, sizeof(text), OK "allow GET /a/%s\n", big);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:14: a segment of pattern") == d.first &&
	    strstr(d.first, "is longer than 256 bytes") != NULL);

	strcpy(text, OK "allow GET ");
	for (int i = 0; i < (int)KH_POLICY_SEGS_MAX + 1; i++)
		strcat(text, "/x");
	strcat(text, "\n");
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:76: pattern '/x/x") == d.first &&
	    strstr(d.first, "' has more than 32 segments") != NULL);

	expect_error(OK "allow GET /a\\b\n", "t.policy:2:13: '\\' in pattern "
	    "'/a\\b' can never match (keyhole refuses it in paths)");
	expect_error(OK "allow GET /a\"b\n", "t.policy:2:13: character '\"' in "
	    "pattern '/a\"b' is not allowed in a path segment (percent-encode "
	    "it as '%22')");
	expect_error(OK "allow GET /a%G1\n", "t.policy:2:13: bad percent-escape "
	    "in pattern '/a%G1' (write '%' as %25 and escapes as %XX with two "
	    "hex digits)");
	expect_error(OK "allow GET /a%2\n", "t.policy:2:13: bad percent-escape "
	    "in pattern '/a%2' (write '%' as %25 and escapes as %XX with two "
	    "hex digits)");
	expect_error(OK "max-body\n", "t.policy:2:1: 'max-body' needs one size, "
	    "e.g. 'max-body 1m'");
	expect_error(OK "allow GET /a\x7f\n", "t.policy:2:13: DEL byte");
	memset(big, 'h', 65);
	big[65] = '\0';
	snprintf(text, sizeof(text), OK "request-header %s\n", big);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK(strstr(d.first, "t.policy:2:16: header name 'hhh") == d.first &&
	    strstr(d.first, "' is longer than 64 bytes") != NULL);

	strcpy(text, OK);
	for (int i = 0; i <= (int)KH_POLICY_HDRS_MAX; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
		    "response-header x-%d\n", i);
	CHECK_EQ_INT(compile_text(text, &p, &d), 1);
	CHECK_EQ_STR(d.first, "t.policy:34:1: more than 32 'response-header' "
	    "lines");

	CHECK(compile_text(OK "allow POST /a body json keys a content-type "
	    "application/json request-header x max-body 1k query none rate 1/s "
	    "x y z\n", &p, &d) >= 1);
	CHECK(strstr(d.all, "t.policy:2:115: too many fields on one line "
	    "(each constraint may be given once)\n") != NULL);
	if (strstr(d.all, "too many fields") == NULL)
		fprintf(stderr, "%s", d.all);
}

static void
unbound_variable_is_reported_once_at_its_first_use(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_with("allow GET /a/{issue}\n"
	    "allow PATCH /api/issues/{issue}\n", NULL, 0, &p, &d), 1);
	CHECK(strncmp(d.first, "t.policy:1:14: variable 'issue' is not bound",
	    44) == 0);
	/* Bound: no error.  Lenient (check-policy, explain): no error. */
	CHECK_EQ_INT(compile_with("allow GET /a/{issue}\n",
	    binds("issue=X", NULL), 0, &p, &d), 0);
	policy_free(&p);
	CHECK_EQ_INT(compile_with("allow GET /a/{issue}\n", NULL,
	    POLICY_LENIENT, &p, &d), 0);
	CHECK_EQ_INT(match(&p, "GET", "/a/X"), -1);
	policy_free(&p);
	/* Declared optional: no error, and its rules match nothing. */
	CHECK_EQ_INT(compile_with("optional-var issue\nallow GET /a/{issue}\n"
	    "allow GET /a/*/x\n", NULL, 0, &p, &d), 0);
	CHECK_EQ_INT(d.nwarn, 0);
	CHECK_EQ_INT(match(&p, "GET", "/a/X"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/a/{issue}"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/a/X/x"), 1);
	policy_free(&p);
}

static void
warnings_for_shadowed_rules_and_unused_names(void)
{
	expect_warning("allow GET /a/*\nallow GET /a/b\n", "t.policy:2:1: "
	    "warning: rule 'allow GET /a/b' can never match: 'allow GET /a/*' "
	    "(line 1) matches every request it would, and the first matching "
	    "rule decides; move this rule above line 1 or remove it");
	expect_warning("allow POST /a/**\nallow POST /a/b/c keys x\n",
	    "t.policy:2:1: warning: rule 'allow POST /a/b/c' can never match: "
	    "'allow POST /a/**' (line 1) matches every request it would, and "
	    "the first matching rule decides; move this rule above line 1 or "
	    "remove it");
	expect_warning("allow GET /a/**\nallow GET /a/*/**\n", "t.policy:2:1: "
	    "warning: rule 'allow GET /a/*/**' can never match: 'allow GET "
	    "/a/**' (line 1) matches every request it would, and the first "
	    "matching rule decides; move this rule above line 1 or remove it");
	expect_warning("allow GET /a/*\nallow GET /a/{issue}\n", "t.policy:2:1: "
	    "warning: rule 'allow GET /a/{issue}' can never match: 'allow GET "
	    "/a/*' (line 1) matches every request it would, and the first "
	    "matching rule decides; move this rule above line 1 or remove it");
	expect_warning("optional-var spare\nallow GET /a\n", "t.policy:1:1: "
	    "warning: 'optional-var spare' is not used by any rule");
	expect_warning("allow POST /a request-header accept\n", "t.policy:1:1: "
	    "warning: request-header 'accept' is forwarded on every route "
	    "already; remove it from this rule");

	/* Not shadowed: more specific first, other methods, '**' needing
	 * at least one segment, a literal against a variable (it depends
	 * on the run's value), '*' against a deeper '**'. */
	static const char *const quiet[] = {
		"allow GET /a/b\nallow GET /a/*\n",
		"allow GET /a/*\nallow POST /a/b\n",
		"allow GET /a/**\nallow GET /a\n",
		"allow GET /a/{issue}\nallow GET /a/BRI-7\n",
		"allow GET /a/BRI-7\nallow GET /a/{issue}\n",
		"allow GET /a/*\nallow GET /a/**\n",
		"allow GET /a/*/c\nallow GET /a/b/*\n",
		"allow GET /\nallow GET /a\n",
	};
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		struct policy p;
		struct diags d;
		CHECK_EQ_INT(compile_text(quiet[i], &p, &d), 0);
		if (d.nwarn != 0)
			fprintf(stderr, "unexpected warning for:\n%s%s",
			    quiet[i], d.all);
		CHECK_EQ_INT(d.nwarn, 0);
		policy_free(&p);
	}

	/* A --var the policy never uses is named (a typo, most likely). */
	struct policy p;
	struct diags d;
	CHECK_EQ_INT(compile_with("allow GET /a\n", binds("isue=X", NULL), 0,
	    &p, &d), 0);
	CHECK_EQ_STR(d.firstwarn, "t.policy:1:1: warning: variable 'isue' is "
	    "bound but the policy never uses {isue}");
	policy_free(&p);
}

static void
matcher_variables_wildcards_methods_and_trailing_slash(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_with("allow PATCH /api/issues/{issue}\n"
	    "allow GET /api/issues/{issue}/comments/*\n"
	    "allow GET /files/**\n"
	    "allow GET /files\n"
	    "allow POST /c/{company}/i/{issue}\n"
	    "allow GET /api/agents/me\n",
	    binds("issue=BRI-7", "company=c%201"), 0, &p, &d), 0);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-7"), 0);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-8"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-77"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/bri-7"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/BRI-7/"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/{issue}"), -1);
	CHECK_EQ_INT(match(&p, "PATCH", "/api/issues/*"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7"), -1);	/* method */
	CHECK_EQ_INT(match(&p, "POST", "/api/issues/BRI-7"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/comments/c1"), 1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-8/comments/c1"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/comments/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/comments"), -1);
	/* '**': one or more non-empty, non-dot segments */
	CHECK_EQ_INT(match(&p, "GET", "/files/a"), 2);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/b/c.txt"), 2);
	CHECK_EQ_INT(match(&p, "GET", "/files"), 3);	/* not '**': needs one */
	CHECK_EQ_INT(match(&p, "GET", "/files/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a//b"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/../b"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/a/..;x/b"), -1);
	CHECK_EQ_INT(match(&p, "GET", "/files/./a"), -1);
	CHECK_EQ_INT(match(&p, "HEAD", "/files/a"), -1);
	/* two variables; a value that needed percent-encoding */
	CHECK_EQ_INT(match(&p, "POST", "/c/c%201/i/BRI-7"), 4);
	CHECK_EQ_INT(match(&p, "POST", "/c/c 1/i/BRI-7"), -1);
	CHECK_EQ_INT(match(&p, "POST", "/c/c%201/i/BRI-8"), -1);
	CHECK_EQ_INT(match(&p, "POST", "/c/other/i/BRI-7"), -1);

	/* Canonical-path interplay: what the gate matches is
	 * path_canonicalize()'s output, so a spelling of the bound value
	 * with encoded unreserved characters still matches, and one that
	 * climbs out does not. */
	static const struct { const char *raw; int want; } canon[] = {
		{ "/api/issues/%42RI-7", 0 },
		{ "/api/issues/BRI%2D7", 0 },
		{ "/api/%69ssues/BRI-7", 0 },
		{ "/api/issues/BRI-8/../BRI-7", -2 },	/* refused outright */
		{ "/api/issues/BRI-7%2F", -2 },
		{ "/api/issues//BRI-7", -2 },
	};
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		char out[KH_PATH_MAX + 1];
		size_t olen;
		int rc = path_canonicalize((const uint8_t *)canon[i].raw,
		    strlen(canon[i].raw), out, sizeof(out), &olen);
		if (canon[i].want == -2) {
			CHECK(rc != 0);
			continue;
		}
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(policy_match(&p, "PATCH", out, olen), canon[i].want);
	}

	/* A path deeper than KH_PATH_SEGS_MAX matches nothing, '**' too. */
	char deep[4 * (KH_PATH_SEGS_MAX + 2)] = "/files";
	for (unsigned i = 0; i < KH_PATH_SEGS_MAX - 1; i++)
		strcat(deep, "/x");
	CHECK_EQ_INT(match(&p, "GET", deep), 2);	/* exactly the limit */
	strcat(deep, "/x");
	CHECK_EQ_INT(match(&p, "GET", deep), -1);
	policy_free(&p);

	/* First match decides: the earlier rule's constraints apply. */
	CHECK_EQ_INT(compile_text("allow POST /a/* keys x\n"
	    "allow POST /a/b body json\n", &p, &d), 0);
	CHECK_EQ_INT(d.nwarn, 1);
	CHECK_EQ_INT(match(&p, "POST", "/a/b"), 0);
	policy_free(&p);
}

static void
bindings_accept_one_canonical_segment_per_name(void)
{
	struct pol_bindings b;
	char why[512];
	static const char *const bad[] = { "issue", "=x", "1a=x", "a-b=x",
	    "issue=", "issue=a/b", "issue=..", "issue=.", "issue=*", "issue=**",
	    "issue=a b", "issue=%2F", "issue=%41", "issue=%3a", "issue=\xc3\xa9",
	    "issue=..;x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=x" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&b, 0, sizeof(b));
		why[0] = '\0';
		if (policy_binding_add(&b, bad[i], why, sizeof(why)) == 0)
			fprintf(stderr, "accepted binding '%s'\n", bad[i]);
		CHECK_EQ_INT(b.n, 0);
		CHECK(why[0] != '\0');
	}
	memset(&b, 0, sizeof(b));
	CHECK_EQ_INT(policy_binding_add(&b, "issue=BRI-7", why, sizeof(why)), 0);
	CHECK_EQ_INT(policy_binding_add(&b, "_x9=a%20b:@!", why, sizeof(why)), 0);
	CHECK_EQ_INT(policy_binding_add(&b, "issue=BRI-8", why, sizeof(why)), -1);
	CHECK_EQ_STR(why, "variable 'issue' is bound twice");
	CHECK(policy_binding_find(&b, "issue", 5) != NULL);
	CHECK_EQ_STR(policy_binding_find(&b, "issue", 5)->value, "BRI-7");
	CHECK(policy_binding_find(&b, "issu", 4) == NULL);
	for (unsigned i = 2; i < KH_POLICY_VARS_MAX; i++) {
		char kv[32];
		snprintf(kv, sizeof(kv), "v%u=x", i);
		CHECK_EQ_INT(policy_binding_add(&b, kv, why, sizeof(why)), 0);
	}
	CHECK_EQ_INT(policy_binding_add(&b, "last=x", why, sizeof(why)), -1);
	CHECK_EQ_STR(why, "more than 16 variables");
}

/*
 * A UTF-8 segment (a document key such as "café") arrives canonical as
 * caf%C3%A9: '*' and '**' match it like any other segment, a literal or a
 * bound {variable} matches it when written in that one spelling, which
 * is the only one the compiler, the --var parser and the parent's table
 * decoder accept; the lower-case spelling can never arrive (the
 * canonicalizer upper-cases it), so it is refused where it is written.
 */
static void
utf8_segments_match_wildcards_and_canonical_literals(void)
{
	struct policy p;
	struct diags d;
	struct pol_bindings b;
	char why[512];
	const char *path = "/api/issues/BRI-7/documents/caf%C3%A9";

	CHECK_EQ_INT(compile_with("allow GET /api/issues/*/documents/*\n"
	    "allow PUT /api/issues/{issue}/documents/{doc}\n"
	    "allow POST /api/issues/*/documents/caf%C3%A9/versions\n"
	    "allow DELETE /api/issues/*/**\n",
	    binds("issue=BRI-7", "doc=caf%C3%A9"), 0, &p, &d), 0);
	CHECK_EQ_INT(match(&p, "GET", path), 0);
	CHECK_EQ_INT(match(&p, "PUT", path), 1);
	CHECK_EQ_INT(match(&p, "PUT",
	    "/api/issues/BRI-7/documents/caf%C3%A8"), -1);	/* cafe-grave */
	CHECK_EQ_INT(match(&p, "PUT", "/api/issues/BRI-7/documents/cafe"), -1);
	CHECK_EQ_INT(match(&p, "POST",
	    "/api/issues/BRI-7/documents/caf%C3%A9/versions"), 2);
	CHECK_EQ_INT(match(&p, "DELETE", path), 3);
	CHECK_EQ_INT(match(&p, "DELETE",
	    "/api/issues/BRI-7/%E6%96%87/%F0%9F%98%80"), 3);
	policy_free(&p);

	/* --var takes the canonical spelling only, and says how. */
	memset(&b, 0, sizeof(b));
	CHECK_EQ_INT(policy_binding_add(&b, "doc=caf%C3%A9", why, sizeof(why)), 0);
	static const char *const bad[] = { "doc=caf%c3%a9", "doc=caf\xc3\xa9",
	    "doc=caf%C3", "doc=%C0%AE", "doc=%EF%BC%8E%EF%BC%8E", "doc=a%EF%BC%8Fb",
	    "doc=%C2%85" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&b, 0, sizeof(b));
		why[0] = '\0';
		CHECK_EQ_INT(policy_binding_add(&b, bad[i], why, sizeof(why)), -1);
		CHECK(strstr(why, "caf%C3%A9") != NULL);
	}
	/* A literal that can never arrive is a compile error naming it. */
	CHECK(compile_text("allow GET /api/docs/caf%c3%a9\n", &p, &d) != 0);
	CHECK(strstr(d.first, "upper-case hex") != NULL);
	CHECK(compile_text("allow GET /api/docs/caf%C3\n", &p, &d) != 0);
	CHECK(strstr(d.first, "UTF-8") != NULL);
	CHECK(compile_text("allow GET /api/docs/%EF%BC%8E%EF%BC%8E\n", &p,
	    &d) != 0);
	CHECK(strstr(d.first, "can never match") != NULL);
}

/* ---- the wire ---- */

static int
decode_bytes(const uint8_t *b, size_t n, const struct pol_bindings *bind,
    struct policy *p, char *err)
{
	struct msg_reader r;
	msg_reader_init(&r, b, n);
	return policy_decode(&r, bind, p, err, 128);
}

static const char v2_text[] =
    "max-body 64k\n"
    "max 3\n"
    "optional-var spare_unused_here\n"
    "allow GET /api/issues/{issue}/files/**\n"
    "allow POST /api/issues/{issue}/comments keys body,reopen rate 2/s "
    "query none\n"
    "allow POST /up content-type multipart/form-data,application/json "
    "max-body 8m request-header x-cap,x-trace\n"
    "allow DELETE /x/* body none\n"
    "allow PUT /doc/* body json rate 5/min\n";

static void
v2_table_round_trips_and_parent_resolves_its_own_bindings(void)
{
	struct policy p, q;
	struct diags d;
	struct wbuf w;
	char err[128];

	CHECK_EQ_INT(compile_with(v2_text, binds("issue=BRI-7", NULL), 0, &p,
	    &d), 0);
	CHECK_EQ_INT(d.nwarn, 1);		/* the unused optional-var */
	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(&p, &w);
	CHECK_EQ_INT(msg_finish(&w), 0);
	const uint8_t *pl = w.buf + KH_WIRE_HDR;
	size_t n = w.len - KH_WIRE_HDR;

	/* The parent binds issue to ANOTHER value: its own wins. */
	CHECK_EQ_INT(decode_bytes(pl, n, binds("issue=OWN-1", NULL), &q, err), 0);
	CHECK(policy_equal(&p, &q));
	CHECK_EQ_INT(match(&p, "GET", "/api/issues/BRI-7/files/a"), 0);
	CHECK_EQ_INT(match(&q, "GET", "/api/issues/BRI-7/files/a"), -1);
	CHECK_EQ_INT(match(&q, "GET", "/api/issues/OWN-1/files/a"), 0);
	CHECK_EQ_INT(q.max_mutations, 3);
	CHECK_EQ_INT(q.rules[1].rate_count, 2);
	CHECK_EQ_INT(q.rules[1].rate_period_s, 1);
	CHECK_EQ_INT(q.rules[1].flags, POL_QUERY_NONE);
	CHECK_EQ_INT(q.rules[3].flags, POL_BODY_NONE);
	CHECK(policy_rule_header_allowed(&q, &q.rules[2], "X-Cap", 5));
	CHECK(!policy_rule_header_allowed(&q, &q.rules[1], "x-cap", 5));
	CHECK(!policy_req_header_allowed(&q, "x-cap", 5));
	policy_free(&q);

	/* The parent binds nothing: {issue} rules match nothing there. */
	CHECK_EQ_INT(decode_bytes(pl, n, NULL, &q, err), 0);
	CHECK_EQ_INT(match(&q, "GET", "/api/issues/BRI-7/files/a"), -1);
	CHECK_EQ_INT(match(&q, "DELETE", "/x/y"), 3);
	policy_free(&q);

	/* Cut short at every byte offset, and one byte too many. */
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ_INT(decode_bytes(pl, i, NULL, &q, err), -1);
		CHECK(q.rules == NULL && q.nrules == 0);
	}
	uint8_t *longer = malloc(n + 1);
	memcpy(longer, pl, n);
	longer[n] = 0;
	CHECK_EQ_INT(decode_bytes(longer, n + 1, NULL, &q, err), -1);
	CHECK_EQ_STR(err, "policy: trailing bytes");
	free(longer);
	wbuf_free(&w);

	/* Print -> compile is a fixed point, v2 directives included. */
	char *s = print_policy(&p);
	CHECK_EQ_STR(s, "max-body 64k\nmax 3\noptional-var spare_unused_here\n"
	    "request-header accept\nrequest-header content-type\n"
	    "request-header if-match\nrequest-header if-none-match\n"
	    "response-header content-type\nresponse-header etag\n"
	    "response-header last-modified\n"
	    "allow GET /api/issues/{issue}/files/**\n"
	    "allow POST /api/issues/{issue}/comments keys body,reopen query "
	    "none rate 2/s\n"
	    "allow POST /up content-type multipart/form-data,application/json "
	    "request-header x-cap,x-trace max-body 8m\n"
	    "allow DELETE /x/* body none\n"
	    "allow PUT /doc/* body json rate 5/min\n");
	CHECK_EQ_INT(compile_with(s, binds("issue=BRI-7", NULL), 0, &q, &d), 0);
	for (size_t i = 0; i < q.nrules; i++)
		q.rules[i].line = p.rules[i].line;
	CHECK(policy_equal(&p, &q));
	free(s);
	policy_free(&q);
	policy_free(&p);
}

/* One-rule v2 table with the given fields, for the decoder. */
struct hrule {
	const char *method;
	uint8_t kind;			/* of the single segment */
	const char *text;
	uint8_t kind2;			/* second segment, 0 = none */
	uint8_t flags;
	uint64_t max_body;
	const char *key, *ctype, *hdr;	/* one entry each, NULL = none */
	uint32_t rate, period;
	uint32_t max_mutations;
};

static int
decode_rule(const struct hrule *h, const struct pol_bindings *bind, char *err)
{
	struct wbuf w;
	struct policy p;

	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	msg_put_u64(&w, 0);
	msg_put_u32(&w, h->max_mutations);
	msg_put_u16(&w, 1);
	msg_put_cstr(&w, h->method);
	msg_put_u32(&w, 1);
	msg_put_u16(&w, h->kind2 ? 2 : 1);
	msg_put_u8(&w, h->kind);
	msg_put_cstr(&w, h->text);
	if (h->kind2) {
		msg_put_u8(&w, h->kind2);
		msg_put_cstr(&w, h->kind2 == SEG_LIT ? "x" : "");
	}
	msg_put_u8(&w, h->flags);
	msg_put_u64(&w, h->max_body);
	const char *lists[3] = { h->key, h->ctype, h->hdr };
	for (int i = 0; i < 3; i++) {
		msg_put_u16(&w, lists[i] ? 1 : 0);
		if (lists[i])
			msg_put_cstr(&w, lists[i]);
	}
	msg_put_u32(&w, h->rate);
	msg_put_u32(&w, h->period);
	msg_put_u16(&w, 1);
	msg_put_cstr(&w, "accept");
	msg_put_u16(&w, 0);
	CHECK_EQ_INT(msg_finish(&w), 0);
	int rc = decode_bytes(w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR, bind,
	    &p, err);
	if (rc == 0)
		CHECK(p.nrules == 1);
	else
		CHECK(p.rules == NULL && err[0] != '\0');
	policy_free(&p);
	wbuf_free(&w);
	return rc;
}

static void
decoder_rejects_hostile_v2_fields(void)
{
	const struct hrule ok = { "POST", SEG_VAR, "issue", SEG_GLOB,
	    POL_BODY_JSON | POL_QUERY_NONE, 1024, "status", "application/json",
	    "x-cap", 5, 60, 10 };
	struct hrule h;
	char err[128];

	CHECK_EQ_INT(decode_rule(&ok, NULL, err), 0);
	CHECK_EQ_INT(decode_rule(&ok, binds("issue=A", NULL), err), 0);
#define BAD(field, value, why) do { h = ok; h.field = value; \
	err[0] = '\0'; CHECK_EQ_INT(decode_rule(&h, NULL, err), -1); \
	CHECK(strstr(err, why) != NULL); \
	if (strstr(err, why) == NULL) fprintf(stderr, "  got '%s'\n", err); \
	} while (0)
	BAD(text, "1x", "invalid variable name");
	BAD(text, "", "invalid variable name");
	BAD(text, "a-b", "invalid variable name");
	h = ok; h.kind = SEG_GLOB; h.text = "";	/* '**' not last */
	CHECK_EQ_INT(decode_rule(&h, NULL, err), -1);
	CHECK(strstr(err, "'**' with text or not last") != NULL);
	h = ok; h.kind = SEG_GLOB; h.text = "x"; h.kind2 = 0;
	CHECK_EQ_INT(decode_rule(&h, NULL, err), -1);
	BAD(flags, 0x08, "invalid flags");
	BAD(flags, POL_BODY_JSON | POL_BODY_NONE, "invalid flags");
	BAD(max_body, KH_BODY_MAX + 1, "max_body over limit");
	BAD(key, "a b", "invalid key");
	BAD(key, "", "invalid key");
	BAD(ctype, "*/*", "invalid media type");
	BAD(ctype, "text/plain; charset=x", "invalid media type");
	BAD(ctype, "Text/Plain", "invalid media type");
	BAD(ctype, "textplain", "invalid media type");
	BAD(hdr, "authorization", "forbidden header name");
	BAD(hdr, "x-paperclip-run-id", "forbidden header name");
	BAD(hdr, "X-Cap", "lower-case token");
	BAD(rate, 0, "invalid rate");			/* period without count */
	BAD(period, 2, "invalid rate");
	BAD(period, 0, "invalid rate");
	BAD(rate, KH_POLICY_RATE_MAX + 1, "invalid rate");
	BAD(max_mutations, KH_POLICY_BUDGET_MAX + 1, "max_mutations over");
	BAD(method, "GET", "body constraint on GET or HEAD");
	h = ok; h.method = "GET"; h.flags = POL_QUERY_NONE; h.max_body = 0;
	h.key = NULL; h.ctype = NULL;
	CHECK_EQ_INT(decode_rule(&h, NULL, err), 0);	/* header, rate ok */
#undef BAD
	/* More distinct variable names than KH_POLICY_VARS_MAX. */
	struct wbuf w;
	struct policy p;
	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	msg_put_u64(&w, 0);
	msg_put_u32(&w, 0);
	msg_put_u16(&w, KH_POLICY_VARS_MAX + 1);
	for (unsigned i = 0; i <= KH_POLICY_VARS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "v%u", i);
		msg_put_cstr(&w, "GET");
		msg_put_u32(&w, i + 1);
		msg_put_u16(&w, 1);
		msg_put_u8(&w, SEG_VAR);
		msg_put_cstr(&w, name);
		msg_put_u8(&w, 0);
		msg_put_u64(&w, 0);
		msg_put_u16(&w, 0);
		msg_put_u16(&w, 0);
		msg_put_u16(&w, 0);
		msg_put_u32(&w, 0);
		msg_put_u32(&w, 0);
	}
	msg_put_u16(&w, 0);
	msg_put_u16(&w, 0);
	CHECK_EQ_INT(msg_finish(&w), 0);
	CHECK_EQ_INT(decode_bytes(w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR,
	    NULL, &p, err), -1);
	CHECK(strstr(err, "too many variables") != NULL);
	wbuf_free(&w);
}

/* ---- per-rule predicates ---- */

static void
body_limits_media_types_and_mutations(void)
{
	struct policy p;
	struct diags d;

	CHECK_EQ_INT(compile_text("max-body 1k\n"
	    "allow POST /a\n"
	    "allow POST /b max-body 4k\n"
	    "allow POST /c body none\n"
	    "allow POST /d content-type multipart/form-data\n", &p, &d), 0);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[0], 1 << 20), 1024);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[1], 1 << 20), 4096);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[1], 2048), 2048);
	CHECK_EQ_INT(policy_body_limit(&p, &p.rules[2], 1 << 20), 0);
	CHECK_EQ_INT(policy_body_limit_any(&p, 1 << 20), 4096);
	CHECK_EQ_INT(policy_body_limit_any(&p, 100), 100);
	CHECK(policy_rule_ctype_allowed(&p.rules[0], "application/json", 16));
	CHECK(policy_rule_ctype_allowed(&p.rules[0], "Application/JSON", 16));
	CHECK(!policy_rule_ctype_allowed(&p.rules[0], "text/plain", 10));
	CHECK(!policy_rule_ctype_allowed(&p.rules[0], "application/jso", 15));
	CHECK(policy_rule_ctype_allowed(&p.rules[3], "multipart/form-data", 19));
	CHECK(!policy_rule_ctype_allowed(&p.rules[3], "application/json", 16));
	CHECK(policy_method_mutates("POST") && policy_method_mutates("PUT") &&
	    policy_method_mutates("PATCH") && policy_method_mutates("DELETE"));
	CHECK(!policy_method_mutates("GET") && !policy_method_mutates("HEAD") &&
	    !policy_method_mutates("OPTIONS"));
	policy_free(&p);
}

/* ---- body checks ---- */

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
	struct diags d;
	struct body_verdict v;

	CHECK_EQ_INT(compile_text("allow POST /free\n"
	    "allow POST /json body json\n"
	    "allow PATCH /keys keys status,comment,$x\n"
	    "allow POST /up content-type multipart/form-data,application/json\n",
	    &p, &d), 0);
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

/* ---- budgets ---- */

static void
budgets_rate_tokens_and_run_mutation_cap(void)
{
	struct policy p;
	struct diags d;
	struct budget b;
	uint32_t retry;

	CHECK_EQ_INT(compile_text("max 3\n"
	    "allow GET /fast rate 4/s\n"
	    "allow POST /slow rate 2/min\n"
	    "allow POST /free\n"
	    "allow GET /read\n", &p, &d), 0);
	uint64_t t = 1000000;
	CHECK_EQ_INT(budget_init(&b, &p, 0, t), 0);

	/* 4/s: four at once, the fifth waits a quarter second (retry 1 s). */
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_OK);
		budget_take(&b, &p, 0, "GET", t);
	}
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_RATE);
	CHECK_EQ_INT(retry, 1);
	/* check alone takes nothing */
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t + 249, &retry), BUDGET_RATE);
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t + 250, &retry), BUDGET_OK);
	budget_take(&b, &p, 0, "GET", t + 250);
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t + 250, &retry), BUDGET_RATE);
	/* idle for long: back to exactly four, never more */
	t += 3600 * 1000;
	for (int i = 0; i < 4; i++) {
		CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_OK);
		budget_take(&b, &p, 0, "GET", t);
	}
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t, &retry), BUDGET_RATE);
	/* a clock that goes backwards refills nothing */
	CHECK_EQ_INT(budget_check(&b, &p, 0, "GET", t - 5000, &retry),
	    BUDGET_RATE);

	/* 2/min: the third waits 30 s; retry-after says so. */
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t, &retry), BUDGET_OK);
	budget_take(&b, &p, 1, "POST", t);
	budget_take(&b, &p, 1, "POST", t);
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t, &retry), BUDGET_RATE);
	CHECK_EQ_INT(retry, 30);
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t + 29001, &retry),
	    BUDGET_RATE);
	CHECK_EQ_INT(retry, 1);
	/* rules are independent */
	CHECK_EQ_INT(budget_check(&b, &p, 3, "GET", t, &retry), BUDGET_OK);

	/* max 3: two mutations used above; one more, then spent, for every
	 * rule; reads are never counted. */
	CHECK_EQ_INT(b.mutations_used, 2);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_OK);
	budget_take(&b, &p, 2, "POST", t);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_SPENT);
	CHECK_EQ_INT(budget_check(&b, &p, 1, "POST", t + 3600000, &retry),
	    BUDGET_SPENT);
	CHECK_EQ_INT(budget_check(&b, &p, 3, "GET", t, &retry), BUDGET_OK);
	budget_take(&b, &p, 3, "GET", t);
	CHECK_EQ_INT(b.mutations_used, 3);
	budget_free(&b);

	/* A restarted child continues from the parent's count. */
	CHECK_EQ_INT(budget_init(&b, &p, 3, t), 0);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_SPENT);
	budget_free(&b);
	CHECK_EQ_INT(budget_init(&b, &p, 2, t), 0);
	CHECK_EQ_INT(budget_check(&b, &p, 2, "POST", t, &retry), BUDGET_OK);
	budget_free(&b);
	policy_free(&p);

	/* No `max`: mutations are never refused for budget. */
	CHECK_EQ_INT(compile_text("allow POST /a\n", &p, &d), 0);
	CHECK_EQ_INT(budget_init(&b, &p, 4000000000u, t), 0);
	CHECK_EQ_INT(budget_check(&b, &p, 0, "POST", t, &retry), BUDGET_OK);
	budget_free(&b);
	policy_free(&p);
}

/* ---- MSG_CONFIG carries the bindings and the parent's count ---- */

static void
child_config_carries_bindings_and_mutation_count(void)
{
	struct child_config c, back;
	struct wbuf w;
	struct msg_reader r;

	memset(&c, 0, sizeof(c));
	c.max_conns = c.max_inflight = c.max_headers = 8;
	c.max_head = 1024;
	c.head_timeout_ms = c.body_timeout_ms = c.idle_timeout_ms = 1000;
	c.write_timeout_ms = 1000;
	c.nlisteners = 1;
	strcpy(c.token, "0123456789abcdef0123");
	c.token_len = strlen(c.token);
	c.vars = *binds("issue=BRI-7", "company=c%201");
	c.mutations_used = 41;
	wbuf_init(&w);
	msg_begin(&w, MSG_CONFIG, 0);
	child_config_encode(&c, &w);
	CHECK_EQ_INT(msg_finish(&w), 0);
	msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
	CHECK_EQ_INT(child_config_decode(&r, &back), 0);
	CHECK_EQ_INT(back.vars.n, 2);
	CHECK_EQ_STR(back.vars.b[1].name, "company");
	CHECK_EQ_STR(back.vars.b[1].value, "c%201");
	CHECK_EQ_INT(back.mutations_used, 41);

	/* A value the parent would never send is refused by the child. */
	strcpy(c.vars.b[0].value, "a/b");
	c.vars.b[0].vlen = 3;
	wbuf_free(&w);
	wbuf_init(&w);
	msg_begin(&w, MSG_CONFIG, 0);
	child_config_encode(&c, &w);
	CHECK_EQ_INT(msg_finish(&w), 0);
	msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
	CHECK_EQ_INT(child_config_decode(&r, &back), -1);
	wbuf_free(&w);
}

int
main(void)
{
	compiler_names_line_column_and_fix_for_each_v2_error();
	compiler_names_limits_and_rare_spellings();
	unbound_variable_is_reported_once_at_its_first_use();
	warnings_for_shadowed_rules_and_unused_names();
	matcher_variables_wildcards_methods_and_trailing_slash();
	bindings_accept_one_canonical_segment_per_name();
	utf8_segments_match_wildcards_and_canonical_literals();
	v2_table_round_trips_and_parent_resolves_its_own_bindings();
	decoder_rejects_hostile_v2_fields();
	body_limits_media_types_and_mutations();
	body_checks_json_validity_depth_and_keys();
	budgets_rate_tokens_and_run_mutation_cap();
	child_config_carries_bindings_and_mutation_count();
	TEST_DONE();
}
