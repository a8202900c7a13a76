/*
 * keyhole's contract with the sandbox (src/common/paperclip.h):
 *
 *  - readme_table_is_the_contract: README.md's "Errors the sandbox sees"
 *    table and pc_table hold the same entries, status and message, one
 *    row each (a row the table lacks, or an entry the README lacks,
 *    fails and is named);
 *  - every 409 is indeterminate and every indeterminate answer is 409;
 *    the gateway's "maybe 409" entries are 502s;
 *  - bodies_are_what_cjson_wrote: the builder writes, byte for byte,
 *    what cJSON_PrintUnformatted wrote for the same fields before it
 *    replaced it (quotes, backslashes, controls, UTF-8, DEL), and every
 *    body is one JSON text; an empty string given as (NULL, 0) is read
 *    from nowhere (the sanitizer build checks);
 *  - templates: {method} {path} {type} {key} {count} {period} {max} are
 *    filled in, a message of the longest path fits PC_MESSAGE_MAX, and a
 *    body that does not fit is not written at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_check.h"
#include "json_out.h"
#include "kh_test.h"
#include "paperclip.h"

#define ROWS_MAX 256

struct row {
	char statuses[32];	/* "502 409": sorted, space-separated */
	char text[512];
	int line;
	int matched;
};

static void
statuses_of(int status, unsigned flags, char *out, size_t cap)
{
	if (flags & PC_MAYBE_409)
		snprintf(out, cap, "409 %d", status);
	else
		snprintf(out, cap, "%d", status);
}

/* Every 3-digit number in cell, sorted, space-separated. */
static void
statuses_in(const char *cell, char *out, size_t cap)
{
	int found[8], n = 0;
	size_t off = 0;

	for (const char *p = cell; *p != '\0' && n < 8; p++)
		if (p[0] >= '1' && p[0] <= '5' && p[1] >= '0' && p[1] <= '9' &&
		    p[2] >= '0' && p[2] <= '9' &&
		    (p == cell || p[-1] < '0' || p[-1] > '9') &&
		    (p[3] < '0' || p[3] > '9')) {
			found[n++] = (p[0] - '0') * 100 + (p[1] - '0') * 10 +
			    (p[2] - '0');
			p += 2;
		}
	for (int i = 0; i < n; i++)
		for (int k = i + 1; k < n; k++)
			if (found[k] < found[i]) {
				int t = found[i];
				found[i] = found[k];
				found[k] = t;
			}
	out[0] = '\0';
	for (int i = 0; i < n && off < cap; i++)
		off += (size_t)snprintf(out + off, cap - off, "%s%d",
		    i ? " " : "", found[i]);
}

/* The rows of README.md's table: "| status | `message` | when |". */
static size_t
readme_rows(struct row *rows)
{
	const char *src = getenv("KEYHOLE_SRC");
	char path[4096], line[4096];
	bool in = false;
	size_t n = 0;
	int ln = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/README.md", src ? src : ".");
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "cannot open %s (set KEYHOLE_SRC)\n", path);
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		ln++;
		if (strncmp(line, "## ", 3) == 0)
			in = strncmp(line, "## Errors the sandbox sees", 26) == 0;
		if (!in || line[0] != '|')
			continue;
		char *c1 = line + 1, *c2 = strchr(c1, '|');
		if (c2 == NULL)
			continue;
		*c2++ = '\0';
		char status[32];
		statuses_in(c1, status, sizeof(status));
		if (status[0] == '\0')
			continue;	/* the header and separator rows */
		char *tick = strchr(c2, '`'), *end = tick ?
		    strchr(tick + 1, '`') : NULL;
		char *bar = strchr(c2, '|');
		if (tick == NULL || end == NULL || (bar != NULL && tick > bar)) {
			fprintf(stderr, "README.md:%d: a row without a `message`\n",
			    ln);
			kh_test_failures++;
			continue;
		}
		if (n == ROWS_MAX)
			break;
		snprintf(rows[n].statuses, sizeof(rows[n].statuses), "%s",
		    status);
		snprintf(rows[n].text, sizeof(rows[n].text), "%.*s",
		    (int)(end - tick - 1), tick + 1);
		rows[n].line = ln;
		rows[n].matched = 0;
		n++;
	}
	fclose(f);
	return n;
}

static void
readme_table_is_the_contract(void)
{
	static struct row rows[ROWS_MAX];
	size_t n = readme_rows(rows);

	CHECK(n > 0);
	for (int id = 0; id < PC_COUNT; id++) {
		char want[32];
		bool found = false;

		statuses_of(pc_table[id].status, pc_table[id].flags, want,
		    sizeof(want));
		for (size_t i = 0; i < n && !found; i++)
			if (!rows[i].matched && strcmp(rows[i].statuses, want) == 0 &&
			    strcmp(rows[i].text, pc_table[id].text) == 0) {
				rows[i].matched = 1;
				found = true;
			}
		kh_test_checks++;
		if (!found) {
			kh_test_failures++;
			fprintf(stderr, "README.md lacks the contract's entry %d: "
			    "%s `%s`\n", id, want, pc_table[id].text);
		}
	}
	for (size_t i = 0; i < n; i++) {
		kh_test_checks++;
		if (!rows[i].matched) {
			kh_test_failures++;
			fprintf(stderr, "README.md:%d: %s `%s` is not in "
			    "src/common/paperclip.c\n", rows[i].line,
			    rows[i].statuses, rows[i].text);
		}
	}
}

static void
statuses_and_flags_agree(void)
{
	for (int id = 0; id < PC_COUNT; id++) {
		const struct pc_entry *e = &pc_table[id];
		CHECK(e->text != NULL && e->text[0] != '\0');
		CHECK(e->status >= 400 && e->status <= 599);
		CHECK((e->status == 409) == ((e->flags & PC_INDETERMINATE) != 0));
		if (e->flags & PC_MAYBE_409)
			CHECK_EQ_INT(e->status, 502);
		CHECK(((e->flags & PC_RETRY_AFTER) != 0) == (id == PC_RATE));
		CHECK(((e->flags & PC_NAMES_KEY) != 0) == (id == PC_KEY));
	}
}

/* What decide_json and respond_error wrote with cJSON before. */
static char *
cjson_body(const char *message, const char *key, unsigned retry)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "error", message);
	if (key != NULL)
		cJSON_AddStringToObject(o, "key", key);
	if (retry != 0)
		cJSON_AddNumberToObject(o, "retryAfter", retry);
	s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

static void
bodies_are_what_cjson_wrote(void)
{
	static const char *const msgs[] = {
		"Route not allowed: GET /api/x",
		"quote \" backslash \\ slash /",
		"controls \b\f\n\r\t \x01\x1f and DEL \x7f",
		"UTF-8 caf\xc3\xa9 \xe2\x80\xa6",
		"",
	};
	char buf[1024];

	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		for (int v = 0; v < 3; v++) {
			const char *key = v == 1 ? msgs[i] : NULL;
			unsigned retry = v == 2 ? 37 : 0;
			struct pc_extra x = { key, retry, false };
			char *want = cjson_body(msgs[i], key, retry);
			size_t n = pc_body(buf, sizeof(buf), msgs[i], &x);
			CHECK_EQ_STR(buf, want);
			CHECK_EQ_INT(n, strlen(want));
			CHECK_EQ_INT(pc_body_len(msgs[i], &x), n);
			CHECK(json_check((const uint8_t *)buf, n));
			cJSON_free(want);
		}
	for (int id = 0; id < PC_COUNT; id++) {
		size_t n = pc_fixed_body(id, buf, PC_FIXED_BODY_MAX);
		CHECK(n > 0 && json_check((const uint8_t *)buf, n));
		CHECK((strstr(buf, "\"outcome\":\"indeterminate\","
		    "\"retryable\":false") != NULL) ==
		    ((pc_table[id].flags & PC_INDETERMINATE) != 0));
	}
	CHECK_EQ_STR((pc_fixed_body(PC_Q_RESTARTED_SENT, buf, sizeof(buf)), buf),
	    "{\"error\":\"Bridge restarted after the request was claimed; it "
	    "may have taken effect.\",\"outcome\":\"indeterminate\","
	    "\"retryable\":false}");
	/* An empty string may come as (NULL, 0): an empty body
	 * (qcodec's sbuf_add_jstr); nothing is read from it. */
	{
		size_t off = 0;
		json_put_str(NULL, 0, &off, NULL, 0);
		CHECK_EQ_INT(off, 2);
		off = 0;
		json_put_str(buf, sizeof(buf), &off, NULL, 0);
		buf[off] = '\0';
		CHECK_EQ_STR(buf, "\"\"");
	}
	/* Never a partial body. */
	CHECK_EQ_INT(pc_body(buf, 10, "Invalid bridge token.", NULL), 0);
	CHECK_EQ_STR(buf, "");
}

static void
templates_are_filled(void)
{
	static char path[KH_PATH_MAX + 1];
	char msg[PC_MESSAGE_MAX + 1];
	struct pc_args a = { .method = "PATCH", .path = "/api/issues/1x",
	    .path_len = 13, .type = "text/plain; x", .type_len = 10,
	    .key = "assigneeId", .count = 30, .period = "minute", .max = 5 };

	pc_message(PC_ROUTE, &a, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "Route not allowed: PATCH /api/issues/1");
	pc_message(PC_QUERY, &a, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "Query string not allowed: PATCH /api/issues/1");
	pc_message(PC_CTYPE_ROUTE, &a, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "Content-Type not accepted on this route: text/plain");
	pc_message(PC_KEY, &a, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "Key not allowed on this route: assigneeId");
	pc_message(PC_RATE, &a, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "Rate limit for this route exceeded (30 per minute).");
	pc_message(PC_BUDGET, &a, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "Mutation budget for this run is spent (max 5).");
	pc_message(PC_TOKEN, NULL, msg, sizeof(msg));
	CHECK_EQ_STR(msg, "Invalid bridge token.");
	/* The longest route message fits. */
	memset(path, 'a', KH_PATH_MAX);
	path[0] = '/';
	a.method = "OPTIONS";
	a.path = path;
	a.path_len = KH_PATH_MAX;
	CHECK_EQ_INT(pc_message(PC_QUERY, &a, msg, sizeof(msg)),
	    strlen("Query string not allowed: OPTIONS ") + KH_PATH_MAX);
	/* A short buffer cuts the message, NUL-terminated. */
	CHECK_EQ_INT(pc_message(PC_TOKEN, NULL, msg, 8), 7);
	CHECK_EQ_STR(msg, "Invalid");
	CHECK_EQ_INT(pc_http_error(431), PC_HTTP_FIELDS);
	CHECK_EQ_INT(pc_http_error(400), PC_HTTP_MALFORMED);
	CHECK_EQ_INT(pc_http_error(299), PC_HTTP_MALFORMED);
}

int
main(void)
{
	readme_table_is_the_contract();
	statuses_and_flags_agree();
	bodies_are_what_cjson_wrote();
	templates_are_filled();
	TEST_DONE();
}
