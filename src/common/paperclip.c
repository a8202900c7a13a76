/* keyhole's answers and their JSON bodies: see paperclip.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_out.h"
#include "paperclip.h"

#define PC_OUTCOME_FIELDS ",\"outcome\":\"indeterminate\",\"retryable\":false"
#define IND	PC_INDETERMINATE
#define MAY	PC_MAYBE_409

const struct pc_entry pc_table[PC_COUNT] = {
	[PC_HTTP_MALFORMED] = { 400, "Malformed HTTP request.", 0 },
	[PC_HTTP_METHOD] = { 405, "Method not allowed.", 0 },
	[PC_HTTP_TIMEOUT] = { 408, "Request timed out.", 0 },
	[PC_HTTP_BODY_SLOW] = { 408, "Request body too slow.", 0 },
	[PC_HTTP_TOO_LARGE] = { 413, "Request body too large.", 0 },
	[PC_HTTP_TARGET] = { 414, "Request target too long.", 0 },
	[PC_HTTP_EXPECT] = { 417, "Expectation not supported.", 0 },
	[PC_HTTP_FIELDS] = { 431, "Request header fields too large.", 0 },
	[PC_HTTP_UNKNOWN_METHOD] = { 501, "Method not implemented.", 0 },
	[PC_HTTP_VERSION] = { 505, "HTTP version not supported.", 0 },

	[PC_TOKEN] = { 401, "Invalid bridge token.", 0 },
	[PC_ROUTE] = { 403, "Route not allowed: {method} {path}", 0 },
	[PC_QUERY] = { 403, "Query string not allowed: {method} {path}", 0 },
	[PC_CTYPE_TWICE] = { 400, "Content-Type given more than once.", 0 },
	[PC_BODY_NOT_ALLOWED] = { 400,
	    "Request body not allowed on this route.", 0 },
	[PC_BODY_OBJECT] = { 400, "Request body must be a JSON object.", 0 },
	[PC_BODY_VALUE] = { 400, "Request body must be one JSON value.", 0 },
	[PC_JSON_ONLY] = { 415, "Bridge only accepts JSON request bodies.", 0 },
	[PC_CTYPE_ROUTE] = { 415,
	    "Content-Type not accepted on this route: {type}", 0 },
	[PC_CTYPE_PARAM] = { 415, "Content-Type parameter not accepted: only "
	    "charset=utf-8 (and a multipart boundary) may follow the media "
	    "type.", 0 },
	[PC_ENCODING] = { 415,
	    "Bridge does not accept a Content-Encoding on request bodies.", 0 },
	[PC_JSON_DEEP] = { 400, "Request body JSON is nested too deeply.", 0 },
	[PC_JSON_NUL] = { 400, "Request body JSON holds a \\u0000 escape.", 0 },
	[PC_JSON_INVALID] = { 400, "Request body is not valid JSON.", 0 },
	[PC_KEYS_OBJECT] = { 422, "Request body must be a JSON object.", 0 },
	[PC_KEY] = { 422, "Key not allowed on this route: {key}",
	    PC_NAMES_KEY },
	[PC_KEY_UNNAMED] = { 422, "Key not allowed on this route.", 0 },
	[PC_RATE] = { 429, "Rate limit for this route exceeded ({count} per "
	    "{period}).", PC_RETRY_AFTER },
	[PC_BUDGET] = { 429,
	    "Mutation budget for this run is spent (max {max}).", 0 },
	[PC_HEADER_BAD] = { 400, "Duplicate or invalid forwarded header.", 0 },

	[PC_QUEUE_FULL] = { 503, "Bridge request queue is full.", 0 },
	[PC_TOO_MANY_CONNS] = { 503, "Bridge has too many connections.", 0 },
	[PC_SHUTTING_DOWN] = { 503, "Bridge is shutting down.", 0 },
	[PC_OUT_OF_MEMORY] = { 503, "Bridge is out of memory.", 0 },
	[PC_AUDIT_UNAVAILABLE] = { 503, "Bridge audit log cannot be written.", 0 },
	[PC_INTERNAL] = { 500, "Bridge error.", 0 },

	[PC_Q_INVALID] = { 400, "Invalid bridge request payload.", 0 },
	[PC_Q_ENVELOPE] = { 413,
	    "Bridge request envelope exceeded the configured size limit.", 0 },
	[PC_Q_RESTARTED] = { 503,
	    "Bridge restarted before the request was answered.", 0 },
	[PC_Q_RESTARTED_SENT] = { 409, "Bridge restarted after the request "
	    "was claimed; it may have taken effect.", IND },

	[PC_UP_FAILED] = { 502, "Bridge upstream request failed.", 0 },
	[PC_UP_FAILED_SENT] = { 409, "Bridge upstream request failed after it "
	    "was sent; it may have taken effect.", IND },
	[PC_UP_UNREACHABLE] = { 502, "Bridge could not reach the upstream.",
	    0 },
	[PC_UP_TIMEOUT_UNSENT] = { 504,
	    "Bridge upstream request timed out before it was sent.", 0 },
	[PC_UP_TIMEOUT] = { 504, "Bridge upstream request timed out.", 0 },
	[PC_UP_TIMEOUT_SENT] = { 409, "Bridge upstream request timed out after "
	    "it was sent; it may have taken effect.", IND },
	[PC_UP_RESET] = { 502,
	    "Bridge upstream reset the connection before answering.", 0 },
	[PC_UP_RESET_SENT] = { 409, "Bridge upstream reset the connection "
	    "after the request was sent; it may have taken effect.", IND },
	[PC_UP_CLOSED] = { 502,
	    "Bridge upstream closed the connection before answering.", 0 },
	[PC_UP_CLOSED_SENT] = { 409, "Bridge upstream closed the connection "
	    "after the request was sent; it may have taken effect.", IND },
	[PC_UP_CUT] = { 502, "Bridge upstream response was cut short.", 0 },
	[PC_UP_CUT_SENT] = { 409, "Bridge upstream response was cut short; the "
	    "request may have taken effect.", IND },
	[PC_UP_INVALID] = { 502, "Bridge upstream sent an invalid response.",
	    0 },
	[PC_UP_INVALID_SENT] = { 409, "Bridge upstream sent an invalid "
	    "response; the request may have taken effect.", IND },
	[PC_UP_STATUS] = { 502,
	    "Bridge upstream sent a status keyhole does not pass on.", 0 },
	[PC_UP_STATUS_SENT] = { 409, "Bridge upstream sent a status keyhole "
	    "does not pass on; the request may have taken effect.", IND },
	[PC_UP_TOO_LARGE] = { 502, "Bridge upstream response too large.", 0 },
	[PC_UP_TOO_LARGE_SENT] = { 409, "Bridge upstream response was too large "
	    "to return; the request may have taken effect.", IND },
	[PC_UP_SHUTDOWN_SENT] = { 409, "Bridge shut down before the upstream "
	    "answered; the request may have taken effect.", IND },

	[PC_GW_BODY_LIMIT] = { 413,
	    "Bridge request body exceeded the configured size limit.", 0 },
	[PC_GW_OUT_OF_MEMORY] = { 503, "Out of memory.", 0 },
	[PC_GW_BODY_EXCEEDED] = { 502,
	    "Bridge body exceeded the configured size limit.", MAY },
	[PC_GW_WRITE] = { 502, "Bridge cannot write the request file.", MAY },
	[PC_GW_TIMEOUT] = { 502, "Timed out waiting for host bridge response.",
	    MAY },
	[PC_GW_RESP_OPEN] = { 502, "Bridge response file cannot be opened.",
	    MAY },
	[PC_GW_RESP_NOT_FILE] = { 502,
	    "Bridge response file is not a regular file.", MAY },
	[PC_GW_RESP_TOO_LARGE] = { 502,
	    "Bridge response envelope exceeded the configured size limit.",
	    MAY },
	[PC_GW_RESP_OUT_OF_MEMORY] = { 502, "Out of memory.", MAY },
	[PC_GW_RESP_CHANGED] = { 502,
	    "Bridge response envelope changed while reading.", MAY },
	[PC_GW_RESP_JSON] = { 502, "Bridge response is not valid JSON.", MAY },
	[PC_GW_RESP_HEADER] = { 502, "Bridge response has an invalid header.",
	    MAY },
	[PC_GW_RESP_STATUS] = { 502, "Bridge response has an invalid status.",
	    MAY },
	[PC_GW_BODY_INVALID] = { 502, "Invalid bridge body.", MAY },
	[PC_GW_BODY_ENCODING] = { 502, "Unsupported bridge body encoding.",
	    MAY },
	[PC_GW_BODY_BASE64] = { 502, "Invalid bridge base64 body.", MAY },

	/* Paperclip's http2_v1 gateway's wording (gen:512-517). */
	[PC_GW_UNAVAILABLE] = { 503, "bridge_unavailable", 0 },
	[PC_GW_SESSION_LOST] = { 502, "Bridge HTTP/2 session ended before the "
	    "host answered.", MAY },
	[PC_GW_STREAM_RESET] = { 502,
	    "Bridge host reset the request before answering.", MAY },
	/* Paperclip's gateway's wording (gen:190-217). */
	[PC_GW_LEDGER] = { 503, "The bridge gateway process reached its "
	    "reserved body byte ceiling. Retry later.", 0 },
};

size_t
pc_message(enum pc_id id, const struct pc_args *a, char *out, size_t cap)
{
	const char *t = (unsigned)id < PC_COUNT ? pc_table[id].text :
	    pc_table[PC_INTERNAL].text;
	size_t off = 0;
	char num[16];

	if (cap == 0)
		return 0;
	while (*t != '\0') {
		const char *v = NULL;
		size_t vl = 0, skip = 0;

		if (*t == '{' && a != NULL) {
			if (strncmp(t, "{method}", 8) == 0) {
				v = a->method ? a->method : "";
				vl = strlen(v);
				skip = 8;
			} else if (strncmp(t, "{path}", 6) == 0) {
				v = a->path ? a->path : "";
				vl = a->path ? a->path_len : 0;
				skip = 6;
			} else if (strncmp(t, "{type}", 6) == 0) {
				v = a->type ? a->type : "";
				vl = a->type ? a->type_len : 0;
				skip = 6;
			} else if (strncmp(t, "{key}", 5) == 0) {
				v = a->key ? a->key : "";
				vl = strlen(v);
				skip = 5;
			} else if (strncmp(t, "{count}", 7) == 0 ||
			    strncmp(t, "{max}", 5) == 0) {
				bool count = t[1] == 'c';
				snprintf(num, sizeof(num), "%u", count ?
				    a->count : a->max);
				v = num;
				vl = strlen(v);
				skip = count ? 7 : 5;
			} else if (strncmp(t, "{period}", 8) == 0) {
				v = a->period ? a->period : "";
				vl = strlen(v);
				skip = 8;
			}
		}
		if (skip == 0) {
			v = t;
			vl = 1;
			skip = 1;
		}
		/* Cut at cap: a message may be cut, a body never is. */
		if (off + vl >= cap)
			vl = cap - 1 - off;
		memcpy(out + off, v, vl);
		off += vl;
		t += skip;
		if (off == cap - 1)
			break;
	}
	out[off] = '\0';
	return off;
}

/* The body into out[cap] as far as it fits; returns its whole length. */
static size_t
pc_write(char *out, size_t cap, const char *message, const struct pc_extra *x)
{
	size_t off = 0;
	char num[32];

	json_put(out, cap, &off, "{\"error\":", 9);
	json_put_str(out, cap, &off, message, strlen(message));
	if (x != NULL && x->key != NULL) {
		json_put(out, cap, &off, ",\"key\":", 7);
		json_put_str(out, cap, &off, x->key, strlen(x->key));
	}
	if (x != NULL && x->retry_after != 0) {
		int n = snprintf(num, sizeof(num), ",\"retryAfter\":%u",
		    x->retry_after);
		json_put(out, cap, &off, num, (size_t)n);
	}
	if (x != NULL && x->indeterminate)
		json_put(out, cap, &off, PC_OUTCOME_FIELDS,
		    sizeof(PC_OUTCOME_FIELDS) - 1);
	json_put(out, cap, &off, "}", 1);
	return off;
}

size_t
pc_body_len(const char *message, const struct pc_extra *x)
{
	return pc_write(NULL, 0, message, x);
}

size_t
pc_body(char *out, size_t cap, const char *message, const struct pc_extra *x)
{
	size_t n = pc_body_len(message, x);

	if (cap == 0)
		return 0;
	if (n >= cap) {
		out[0] = '\0';
		return 0;
	}
	pc_write(out, cap, message, x);
	out[n] = '\0';
	return n;
}

char *
pc_body_dup(const char *message, const struct pc_extra *x)
{
	size_t n = pc_body_len(message, x);
	char *s = malloc(n + 1);

	if (s != NULL)
		pc_body(s, n + 1, message, x);
	return s;
}

size_t
pc_fixed_body(enum pc_id id, char *out, size_t cap)
{
	struct pc_extra x = { NULL, 0, false };

	if ((unsigned)id >= PC_COUNT)
		id = PC_INTERNAL;
	x.indeterminate = (pc_table[id].flags & PC_INDETERMINATE) != 0;
	return pc_body(out, cap, pc_table[id].text, &x);
}

enum pc_id
pc_http_error(int status)
{
	switch (status) {
	case 405: return PC_HTTP_METHOD;
	case 408: return PC_HTTP_TIMEOUT;
	case 413: return PC_HTTP_TOO_LARGE;
	case 414: return PC_HTTP_TARGET;
	case 417: return PC_HTTP_EXPECT;
	case 431: return PC_HTTP_FIELDS;
	case 501: return PC_HTTP_UNKNOWN_METHOD;
	case 505: return PC_HTTP_VERSION;
	default: return PC_HTTP_MALFORMED;
	}
}
