/* keyhole's HTTP/1.1 answers: see http_write.h. */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "http_write.h"

/* 1xx, 204 and 304 carry no body (RFC 9110 6.4.1). */
static bool
http_status_bodyless(int status)
{
	return (status >= 100 && status < 200) || status == 204 ||
	    status == 304;
}

/* The reason phrase of a status ("Status" for one it does not know). */
static const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

void
http_write_response(struct evbuffer *out, int status,
    const char *const *names, const char *const *values, const size_t *vlens,
    size_t n, const uint8_t *body, size_t blen, unsigned flags)
{
	bool head = (flags & HTTP_W_HEAD) != 0;

	if (status < 100 || status > 599)
		status = 502;
	if (http_status_bodyless(status))
		blen = 0;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    http_reason(status));
	for (size_t i = 0; i < n; i++) {
		evbuffer_add_printf(out, "%s: ", names[i]);
		evbuffer_add(out, values[i], vlens[i]);
		evbuffer_add(out, "\r\n", 2);
	}
	if (!http_status_bodyless(status) &&
	    !(head && blen == 0 && (flags & HTTP_W_HEAD_UNKNOWN)))
		evbuffer_add_printf(out, "content-length: %zu\r\n", blen);
	if (flags & HTTP_W_CLOSE)
		evbuffer_add_printf(out, "connection: close\r\n");
	else if (flags & HTTP_W_KEEP_ALIVE)
		evbuffer_add_printf(out, "connection: keep-alive\r\n");
	evbuffer_add(out, "\r\n", 2);
	if (!head && blen > 0)
		evbuffer_add(out, body, blen);
}

const char *
http_closing_answer(enum pc_id id, size_t *len)
{
	static struct {
		enum pc_id id;
		size_t len;
		char text[PC_FIXED_BODY_MAX + 128];
	} made[4];
	static size_t nmade;
	char json[PC_FIXED_BODY_MAX];
	size_t i, jl;
	int n;

	for (i = 0; i < nmade; i++)
		if (made[i].id == id) {
			*len = made[i].len;
			return made[i].text;
		}
	jl = pc_fixed_body(id, json, sizeof(json));
	i = nmade < 4 ? nmade++ : 3;
	n = snprintf(made[i].text, sizeof(made[i].text), "HTTP/1.1 %d %s\r\n"
	    "content-type: application/json\r\ncontent-length: %zu\r\n"
	    "connection: close\r\n\r\n%s", pc_table[id].status,
	    http_reason(pc_table[id].status), jl, json);
	made[i].id = id;
	made[i].len = n > 0 && (size_t)n < sizeof(made[i].text) ? (size_t)n : 0;
	*len = made[i].len;
	return made[i].text;
}
