/*
 * keyhole-net HTTP responses.  Every error is JSON with content-type
 * application/json, with the Paperclip bridge's exact wording where it has
 * one (DESIGN.md, compatibility contract).
 */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "net.h"

const char *
respond_reason(int status)
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

/* Statuses that never carry a body (RFC 9110 6.4.1). */
static bool
respond_bodyless(int status)
{
	return (status >= 100 && status < 200) || status == 204 ||
	    status == 304;
}

void
respond_write(struct conn *c, int status, const char *const *names,
    const char *const *values, const size_t *vlens, size_t n,
    const uint8_t *body, size_t blen)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	bool head = strcmp(c->req->method, "HEAD") == 0;

	if (status < 100 || status > 599)
		status = 502;
	if (respond_bodyless(status))
		blen = 0;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", status,
	    respond_reason(status));
	for (size_t i = 0; i < n; i++) {
		evbuffer_add_printf(out, "%s: ", names[i]);
		evbuffer_add(out, values[i], vlens[i]);
		evbuffer_add(out, "\r\n", 2);
	}
	/* A HEAD answer from the upstream arrives without its body, so its
	 * length is unknown here: say nothing rather than 0.  keyhole's own
	 * errors to a HEAD give the length the GET answer would have. */
	if (!respond_bodyless(status) && !(head && blen == 0))
		evbuffer_add_printf(out, "content-length: %zu\r\n", blen);
	if (c->close_after || c->net->shutting_down)
		evbuffer_add_printf(out, "connection: close\r\n");
	else if (c->req->minor == 0)
		evbuffer_add_printf(out, "connection: keep-alive\r\n");
	evbuffer_add(out, "\r\n", 2);
	if (!head && blen > 0)
		evbuffer_add(out, body, blen);
	/* One request at a time: nothing more is read until this is out. */
	conn_writing(c);
}

void
respond_json(struct conn *c, int status, const char *json,
    const char *reason, const char *extra_name, const char *extra_value)
{
	const char *names[2] = { "content-type", extra_name };
	const char *values[2] = { "application/json", extra_value };
	size_t vlens[2] = { 16, extra_value ? strlen(extra_value) : 0 };

	/* Every answer the child makes itself is logged by the parent. */
	link_send_access(c->net, c->peer, c->req->method, c->req->path, status,
	    reason, c->body_len, strlen(json));

	respond_write(c, status, names, values, vlens, extra_name ? 2 : 1,
	    (const uint8_t *)json, strlen(json));
}

/* {"error": message}, escaped by cJSON: message may quote the request. */
void
respond_error(struct conn *c, int status, const char *message)
{
	cJSON *o = cJSON_CreateObject();
	char *s = NULL;

	if (o != NULL && cJSON_AddStringToObject(o, "error", message) != NULL)
		s = cJSON_PrintUnformatted(o);
	respond_json(c, status, s ? s : "{\"error\":\"Bridge error.\"}",
	    message, NULL, NULL);
	cJSON_free(s);
	cJSON_Delete(o);
}
