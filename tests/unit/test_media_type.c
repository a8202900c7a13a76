/*
 * What is forwarded is what was checked (issue 11): the child's strict
 * Content-Type parser (media_type.c), the canonical form the parent writes
 * (media.c), and the parent's allocation-free top-level key scan
 * (json_keys.c) that repeats the child's `keys` check.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "json_check.h"
#include "json_keys.h"
#include "kh_test.h"
#include "media.h"
#include "media_type.h"

/* value -> result, type, charset flag, boundary */
static void
expect_parse(const char *v, enum media_parse want, const char *type,
    unsigned flags, const char *boundary)
{
	struct media_type m;
	enum media_parse got = media_type_parse(v, strlen(v), &m);

	CHECK_EQ_INT(got, want);
	if (got != want)
		fprintf(stderr, "  for '%s'\n", v);
	if (want == MEDIA_BAD_TYPE) {
		CHECK_EQ_INT(m.tlen, 0);
		return;
	}
	CHECK_EQ_STR(m.type, type);
	CHECK_EQ_INT(m.tlen, strlen(type));
	if (want != MEDIA_OK)
		return;
	CHECK_EQ_INT(m.flags, flags);
	CHECK_EQ_STR(m.boundary, boundary);
	CHECK_EQ_INT(m.blen, strlen(boundary));
}

static void
test_parse(void)
{
	/* media_type_accepts_the_spellings_clients_send */
	expect_parse("application/json", MEDIA_OK, "application/json", 0, "");
	expect_parse("Application/JSON", MEDIA_OK, "application/json", 0, "");
	expect_parse(" application/json\t", MEDIA_OK, "application/json", 0,
	    "");
	expect_parse("application/json; charset=utf-8", MEDIA_OK,
	    "application/json", MEDIA_CHARSET_UTF8, "");
	expect_parse("application/json;charset=UTF-8", MEDIA_OK,
	    "application/json", MEDIA_CHARSET_UTF8, "");
	expect_parse("application/json ;\tCharset=Utf-8 ", MEDIA_OK,
	    "application/json", MEDIA_CHARSET_UTF8, "");
	expect_parse("multipart/form-data; boundary=----WebKitFormBoundary7MA4",
	    MEDIA_OK, "multipart/form-data", 0, "----WebKitFormBoundary7MA4");
	expect_parse("multipart/form-data; boundary=\"a:b/c=d?\"", MEDIA_OK,
	    "multipart/form-data", 0, "a:b/c=d?");
	expect_parse("multipart/mixed; charset=utf-8; BOUNDARY=x", MEDIA_OK,
	    "multipart/mixed", MEDIA_CHARSET_UTF8, "x");
	expect_parse("application/merge-patch+json", MEDIA_OK,
	    "application/merge-patch+json", 0, "");

	/* media_type_refuses_every_parameter_it_cannot_check: issue 11 and
	 * every spelling of it */
	expect_parse("application/json; charset=utf-7", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; charset=\"utf-8\"", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; charset=utf-8; charset=utf-7",
	    MEDIA_BAD_PARAM, "application/json", 0, "");
	expect_parse("application/json; charset=utf-8; charset=utf-8",
	    MEDIA_BAD_PARAM, "application/json", 0, "");
	expect_parse("application/json; charset=utf-16le", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; charset=latin1", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; charset=utf8", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; charset=", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; charset = utf-8", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; foo=bar", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json;", MEDIA_BAD_PARAM, "application/json",
	    0, "");
	expect_parse("application/json;;charset=utf-8", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; boundary=b", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("application/json; charset=utf-8 x", MEDIA_BAD_PARAM,
	    "application/json", 0, "");
	expect_parse("multipart/form-data; boundary=b; boundary=c",
	    MEDIA_BAD_PARAM, "multipart/form-data", 0, "");
	expect_parse("multipart/form-data; boundary=\"a b\"", MEDIA_BAD_PARAM,
	    "multipart/form-data", 0, "");
	expect_parse("multipart/form-data; boundary=\"a\\\"b\"",
	    MEDIA_BAD_PARAM, "multipart/form-data", 0, "");
	expect_parse("multipart/form-data; boundary=\"b; charset=utf-7\"",
	    MEDIA_BAD_PARAM, "multipart/form-data", 0, "");
	expect_parse("multipart/form-data; boundary=\"unterminated",
	    MEDIA_BAD_PARAM, "multipart/form-data", 0, "");
	expect_parse("multipart/form-data; boundary=b; charset=utf-7",
	    MEDIA_BAD_PARAM, "multipart/form-data", 0, "");
	/* not a media type at all */
	expect_parse("", MEDIA_BAD_TYPE, "", 0, "");
	expect_parse("application", MEDIA_BAD_TYPE, "", 0, "");
	expect_parse("application/", MEDIA_BAD_TYPE, "", 0, "");
	expect_parse("/json", MEDIA_BAD_TYPE, "", 0, "");
	expect_parse("application/json, text/plain", MEDIA_BAD_TYPE, "", 0,
	    "");
	expect_parse("application/json x", MEDIA_BAD_TYPE, "", 0, "");
	expect_parse("application/json/x", MEDIA_BAD_TYPE, "", 0, "");
	expect_parse("application/j\xc3\xa9son", MEDIA_BAD_TYPE, "", 0, "");
	expect_parse("application/json\x01", MEDIA_BAD_TYPE, "", 0, "");

	/* boundaries: 1..70 bcharsnospace */
	char v[128], b[80];
	memset(b, 'x', 70);
	b[70] = '\0';
	snprintf(v, sizeof(v), "multipart/form-data; boundary=%s", b);
	expect_parse(v, MEDIA_OK, "multipart/form-data", 0, b);
	snprintf(v, sizeof(v), "multipart/form-data; boundary=%sx", b);
	expect_parse(v, MEDIA_BAD_PARAM, "multipart/form-data", 0, "");
	expect_parse("multipart/form-data; boundary=\"\"", MEDIA_BAD_PARAM,
	    "multipart/form-data", 0, "");
}

static void
expect_format(const char *t, unsigned flags, const char *b, const char *want)
{
	char out[MEDIA_VALUE_MAX + 1];

	CHECK_EQ_INT(media_format(out, sizeof(out), t, strlen(t), flags, b,
	    strlen(b)), strlen(want));
	CHECK_EQ_STR(out, want);
}

static void
test_format(void)
{
	char out[8];

	/* media_format_writes_only_what_was_checked */
	expect_format("application/json", 0, "", "application/json");
	expect_format("application/json", MEDIA_CHARSET_UTF8, "",
	    "application/json; charset=utf-8");
	expect_format("multipart/form-data", 0, "b-1.x_'+",
	    "multipart/form-data; boundary=b-1.x_'+");
	expect_format("multipart/form-data", MEDIA_CHARSET_UTF8, "a:b",
	    "multipart/form-data; charset=utf-8; boundary=\"a:b\"");
	CHECK_EQ_INT(media_format(out, sizeof(out), "application/json", 16, 0,
	    "", 0), -1);
	CHECK(media_is_json("application/json", 16));
	CHECK(media_is_json("application/vnd.api+json", 24));
	CHECK(!media_is_json("+json", 5));
	CHECK(!media_is_json("text/json", 9));
	CHECK(media_is_multipart("multipart/form-data", 19));
	CHECK(!media_is_multipart("multipart/", 10));
	CHECK(media_boundary_valid("'()+_,-./:=?aZ09", 16));
	CHECK(!media_boundary_valid("a b", 3));
	CHECK(!media_boundary_valid("a;b", 3));
	CHECK(!media_boundary_valid("a\0b", 3));
	CHECK(!media_boundary_valid("", 0));
}

static const char keys[3][KH_POLICY_KEY_MAX + 1] = { "status", "comment",
    "a.b" };

static void
expect_keys(const char *body, enum json_keys_verdict want)
{
	enum json_keys_verdict got = json_keys_check((const uint8_t *)body,
	    strlen(body), keys, 3);

	CHECK_EQ_INT(got, want);
	if (got != want)
		fprintf(stderr, "  for %s\n", body);
	/* Every case here is JSON: the parent runs json_check first. */
	CHECK(json_check((const uint8_t *)body, strlen(body)));
}

static void
test_keys(void)
{
	char big[200];

	/* json_keys_sees_the_keys_JSON_parse_sees */
	expect_keys("{}", JSON_KEYS_OK);
	expect_keys(" {\"status\" : 1 , \"comment\":\"x\"} ", JSON_KEYS_OK);
	expect_keys("{\"st\\u0061tus\":1}", JSON_KEYS_OK);
	expect_keys("{\"a.b\":{\"x\":[1,{\"y\":\"}\"}]},\"status\":\"\\\"\"}",
	    JSON_KEYS_OK);
	expect_keys("{\"status\":1,\"status\":2}", JSON_KEYS_OK);
	expect_keys("{\"status\":1,\"assigneeAdapterOverrides\":{}}",
	    JSON_KEYS_OTHER);
	expect_keys("{\"status\":1,\"\\u0061ssignee\":1}", JSON_KEYS_OTHER);
	expect_keys("{\"status\\u0000\":1}", JSON_KEYS_OTHER);
	expect_keys("{\"stat\\u00fcs\":1}", JSON_KEYS_OTHER);
	expect_keys("{\"st\xc3\xa4tus\":1}", JSON_KEYS_OTHER);
	expect_keys("{\"\":1}", JSON_KEYS_OTHER);
	expect_keys("{\"status\":{\"nested\":1}}", JSON_KEYS_OK);
	expect_keys("[\"status\"]", JSON_KEYS_NOT_OBJECT);
	expect_keys("\"status\"", JSON_KEYS_NOT_OBJECT);
	expect_keys("1", JSON_KEYS_NOT_OBJECT);
	/* a key longer than any listed one */
	memset(big, 's', sizeof(big));
	memcpy(big, "{\"", 2);
	memcpy(big + 100, "\":1}", 5);
	expect_keys(big, JSON_KEYS_OTHER);
	/* never reads past the end of what is not JSON */
	CHECK_EQ_INT(json_keys_check((const uint8_t *)"{\"status\\", 9, keys, 3),
	    JSON_KEYS_OTHER);
	CHECK_EQ_INT(json_keys_check((const uint8_t *)"{\"status\":[", 11, keys,
	    3), JSON_KEYS_OTHER);
	CHECK_EQ_INT(json_keys_check((const uint8_t *)"{\"s\\u00", 7, keys, 3),
	    JSON_KEYS_OTHER);
	CHECK_EQ_INT(json_keys_check((const uint8_t *)"", 0, keys, 3),
	    JSON_KEYS_NOT_OBJECT);
}

int
main(void)
{
	test_parse();
	test_format();
	test_keys();
	TEST_DONE();
}
