/*
 * hostile_child: plays keyhole-net's role towards the parent, and lies.
 *
 * tests/integration/test_hostile_child.py starts the real parent with
 * `--net-binary build/hostile_child`.  The parent execs us exactly as it
 * would exec keyhole-net: empty environment, fd 3 = our end of the
 * socketpair, fd 4 = the policy text (read to EOF), fds 0-2 = /dev/null.
 *
 * The policy text's first line names the scenario: `# scenario: NAME`.  An
 * optional `# state: PATH` line names a file used by scenarios that must
 * behave differently after a restart.  The rest is a real policy, which we
 * compile with the project's own compiler (policy_compile) and send as
 * MSG_POLICY, so every attack below happens in the state the parent
 * expects unless the scenario says otherwise.
 *
 * Most scenarios break one rule of wire.h / policy_table.h; `valid` and
 * `own-issue` are controls, and the scenarios below "since issue 11" that
 * do not break a rule (over-rate, mutation-503, never-reads, the floods)
 * test how the parent bounds what an allowed stream of frames costs it.
 * The parent must treat it as an attack: log "protocol violation", kill us,
 * restart us with back-off, and send nothing upstream.  After the attack we
 * "sleep" by blocking in read(2) on fd 3 until the parent closes it or
 * kills us; read is the one syscall any seccomp filter we may inherit from
 * the parent certainly allows (no nanosleep, no poll).
 *
 * Scenarios that make a request put `hc=<our pid>` (or, for `valid`'s
 * second request, `hc-status=<status>`) in the query so the test can tell
 * which instance a request that did reach the upstream came from.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kh_limits.h"
#include "log.h"
#include "policy_compile.h"
#include "policy_table.h"
#include "wire.h"

#define FD_PARENT	3
#define FD_POLICY	4

/* Frames from the parent are read into this much; the rest is skipped. */
#define HC_RECV_CAP	(64u * 1024)

static uint8_t	 policy_text[KH_POLICY_TEXT_MAX + 64];
static size_t	 policy_len;
static char	 scenario[64];
static char	 state_path[1024];

static void
hc_die(int code)
{
	_exit(code);
}

static void
write_all(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = write(FD_PARENT, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			hc_die(3);	/* parent closed: it has already reacted */
		b += k;
		n -= (size_t)k;
	}
}

/* 0 when n bytes were read, -1 on EOF or error. */
static int
read_full(int fd, void *p, size_t n)
{
	uint8_t *b = p;

	while (n > 0) {
		ssize_t k = read(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The "sleep" after an attack: wait for the parent to kill us. */
static void
hold(void)
{
	uint8_t sink[4096];

	for (;;) {
		ssize_t k = read(FD_PARENT, sink, sizeof(sink));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			hc_die(0);
	}
}

static uint32_t
be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/*
 * Read one frame from the parent without interpreting its header beyond
 * type, length and id (we are not testing our own reader).  Keeps up to
 * HC_RECV_CAP payload bytes in buf, skips the rest.  EOF: exit.
 */
static void
frame_recv(uint8_t *type, uint64_t *id, uint8_t *buf, size_t *len)
{
	uint8_t hdr[KH_WIRE_HDR];
	uint8_t sink[4096];

	if (read_full(FD_PARENT, hdr, sizeof(hdr)) < 0)
		hc_die(0);
	*type = hdr[1];
	*id = (uint64_t)be32(hdr + 8) << 32 | be32(hdr + 12);
	uint32_t left = be32(hdr + 4);
	size_t keep = left < HC_RECV_CAP ? left : HC_RECV_CAP;
	if (read_full(FD_PARENT, buf, keep) < 0)
		hc_die(0);
	*len = keep;
	left -= (uint32_t)keep;
	while (left > 0) {
		size_t n = left < sizeof(sink) ? left : sizeof(sink);
		if (read_full(FD_PARENT, sink, n) < 0)
			hc_die(0);
		left -= (uint32_t)n;
	}
}

/* Skip frames until one of `want` arrives; returns its payload length. */
static size_t
frame_expect(uint8_t want, uint64_t *id, uint8_t *buf)
{
	for (;;) {
		uint8_t type;
		size_t len;
		frame_recv(&type, id, buf, &len);
		if (type == want)
			return len;
	}
}

static void
wbuf_send(struct wbuf *w)
{
	write_all(w->buf, w->len);
}

/* ---- policy -------------------------------------------------------- */

static void
diag_ignore(void *arg, bool warning, const char *msg)
{
	(void)arg;
	(void)warning;
	(void)msg;
}

/* Find "# NAME: value" among the leading comment lines. */
static void
header_field(const char *name, char *out, size_t cap)
{
	size_t nlen = strlen(name);
	size_t i = 0;

	out[0] = '\0';
	while (i < policy_len) {
		size_t e = i;
		while (e < policy_len && policy_text[e] != '\n')
			e++;
		const char *line = (const char *)policy_text + i;
		size_t llen = e - i;
		if (llen > 2 + nlen + 1 && line[0] == '#' && line[1] == ' ' &&
		    memcmp(line + 2, name, nlen) == 0 && line[2 + nlen] == ':') {
			size_t v = 2 + nlen + 1;
			while (v < llen && line[v] == ' ')
				v++;
			size_t vl = llen - v;
			if (vl >= cap)
				vl = cap - 1;
			memcpy(out, line + v, vl);
			out[vl] = '\0';
			return;
		}
		i = e + 1;
	}
}

static void
policy_send(const uint8_t *text, size_t len)
{
	struct policy pol;
	struct wbuf w;

	policy_init(&pol);
	if (policy_compile("hostile.policy", text, len, NULL, POLICY_LENIENT,
	    &pol, diag_ignore, NULL) != 0)
		hc_die(2);
	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(&pol, &w);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	policy_free(&pol);
}

static void
policy_send_wait_ok(void)
{
	static uint8_t buf[HC_RECV_CAP];
	uint64_t id;

	policy_send(policy_text, policy_len);
	(void)frame_expect(MSG_POLICY_OK, &id, buf);
}

/* ---- MSG_REQUEST ----------------------------------------------------- */

struct hdr_pair {
	const char *name;
	const char *value;
};

/*
 * A request body's media type as a child reports it.  Wire version 2 had
 * no field for it: the child forwarded the client's `content-type` as one
 * of the headers.  Since version 3 it is typed (u8 media, u8 media_flags,
 * str boundary, after the headers) and the parent writes the header
 * itself.  `hdr` is what a version-2 child sends for an attack, media /
 * flags / boundary what a version-3 child sends for the same attack, and
 * hdr_too makes a version-3 child ALSO put `hdr` among its headers.  So
 * this file builds against either wire, and a scenario shows the same
 * attack to the old parent and to the new one.
 */
struct hc_media {
	const char *hdr;
	uint8_t media;		/* 0 none, 1 application/json, 2+i ctypes[i] */
	uint8_t flags;		/* bit 0: charset=utf-8 */
	const char *boundary;
	bool hdr_too;
};

static const struct hc_media media_json = { "application/json", 1, 0, "",
    false };

/*
 * Append a MSG_REQUEST payload (frame already begun).  Strings are written
 * as blobs (same encoding: u32 length || bytes) so that a scenario can
 * put a NUL in them; the lengths are explicit for the same reason.
 * nheaders is what the frame claims; m NULL: no media type.
 */
static void
put_request_fields_m(struct wbuf *w, const char *method, size_t mlen,
    const char *path, size_t plen, uint8_t has_query, const char *query,
    uint16_t nheaders, const struct hdr_pair *h, size_t nh,
    const struct hc_media *m, const void *body, size_t blen)
{
#if KH_WIRE_VERSION >= 3
	bool ct_hdr = m != NULL && m->hdr != NULL && m->hdr_too;
#else
	bool ct_hdr = m != NULL && m->hdr != NULL;
#endif

	msg_put_blob(w, method, mlen);
	msg_put_blob(w, path, plen);
	msg_put_u8(w, has_query);
	msg_put_blob(w, query, strlen(query));
	msg_put_cstr(w, "127.0.0.1");
	msg_put_u16(w, (uint16_t)(nheaders + (ct_hdr ? 1 : 0)));
	for (size_t i = 0; i < nh; i++) {
		msg_put_blob(w, h[i].name, strlen(h[i].name));
		msg_put_blob(w, h[i].value, strlen(h[i].value));
	}
	if (ct_hdr) {
		msg_put_cstr(w, "content-type");
		msg_put_cstr(w, m->hdr);
	}
#if KH_WIRE_VERSION >= 3
	msg_put_u8(w, m != NULL ? m->media : 0);
	msg_put_u8(w, m != NULL ? m->flags : 0);
	msg_put_cstr(w, m != NULL && m->boundary != NULL ? m->boundary : "");
#endif
	msg_put_blob(w, body, blen);
}

static void
put_request_fields(struct wbuf *w, const char *method, size_t mlen,
    const char *path, size_t plen, uint8_t has_query, const char *query,
    uint16_t nheaders, const struct hdr_pair *h, size_t nh,
    const void *body, size_t blen)
{
	put_request_fields_m(w, method, mlen, path, plen, has_query, query,
	    nheaders, h, nh, NULL, body, blen);
}

static char pid_query[64];

static const struct hdr_pair accept_json[] = {
	{ "accept", "application/json" },
};

/* A well-formed request frame for `GET path?hc=<pid>`. */
static void
build_get(struct wbuf *w, uint64_t id, const char *path)
{
	msg_begin(w, MSG_REQUEST, id);
	put_request_fields(w, "GET", 3, path, strlen(path), 1, pid_query,
	    1, accept_json, 1, "", 0);
}

static void
send_get(uint64_t id, const char *path)
{
	struct wbuf w;

	wbuf_init(&w);
	build_get(&w, id, path);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
}

/* A request whose single header is (name, value). */
static void
send_get_with_header(const char *name, const char *value)
{
	struct hdr_pair h = { name, value };
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	put_request_fields(&w, "GET", 3, "/api/agents/me", 14, 1, pid_query,
	    1, &h, 1, "", 0);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
}

static void
send_get_with_method(const char *method)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	put_request_fields(&w, method, strlen(method), "/api/agents/me", 14,
	    1, pid_query, 1, accept_json, 1, "", 0);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
}

/* ---- scenarios ----------------------------------------------------- */

/* Control: one allowed GET must reach the upstream; the status we got
 * back is reported by a second allowed GET (?hc-status=NNN). */
static void
sc_valid(void)
{
	static uint8_t buf[HC_RECV_CAP];
	uint64_t id;
	uint16_t status = 0;

	policy_send_wait_ok();
	send_get(1, "/api/agents/me");
	for (;;) {
		size_t len = frame_expect(MSG_RESPONSE, &id, buf);
		if (id == 1 && len >= 2) {
			status = (uint16_t)(buf[0] << 8 | buf[1]);
			break;
		}
	}
	snprintf(pid_query, sizeof(pid_query), "hc-status=%u",
	    (unsigned)status);
	send_get(2, "/api/agents/me");
	hold();
}

/* Header length smaller than the fields it carries: the request's fields
 * run past the end of the payload. */
static void
sc_length_short(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	build_get(&w, 1, "/api/agents/me");
	if (msg_finish(&w) < 0)
		hc_die(2);
	put_be32(w.buf + 4, (uint32_t)(w.len - KH_WIRE_HDR - 12));
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* Header length larger than what follows, then silence: the parent must
 * not block on the missing bytes (nor act on a partial frame). */
static void
sc_length_long(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	build_get(&w, 1, "/api/agents/me");
	if (msg_finish(&w) < 0)
		hc_die(2);
	put_be32(w.buf + 4, (uint32_t)(w.len - KH_WIRE_HDR + 100));
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* Length one byte over KH_MSG_MAX (header included): rejected from the
 * header alone, before any payload is buffered. */
static void
sc_oversize(void)
{
	uint8_t hdr[KH_WIRE_HDR] = { KH_WIRE_VERSION, MSG_REQUEST, 0, 0 };
	static uint8_t filler[64 * 1024];

	policy_send_wait_ok();
	put_be32(hdr + 4, KH_MSG_MAX - KH_WIRE_HDR + 1);
	hdr[15] = 1;
	write_all(hdr, sizeof(hdr));
	memset(filler, 'A', sizeof(filler));
	write_all(filler, sizeof(filler));
	hold();
}

/* A valid request with one byte after the body: msg_end must refuse. */
static void
sc_trailing_bytes(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	build_get(&w, 1, "/api/agents/me");
	msg_put_u8(&w, 0x58);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

static void
sc_unknown_type(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, (enum msg_type)200, 1);
	msg_put_u32(&w, 0);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* A parent -> child type sent by the child. */
static void
sc_wrong_direction(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, MSG_RESPONSE, 1);
	msg_put_u16(&w, 200);
	msg_put_u16(&w, 0);
	msg_put_blob(&w, "", 0);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

static void
sc_bad_version(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	build_get(&w, 1, "/api/agents/me");
	if (msg_finish(&w) < 0)
		hc_die(2);
	w.buf[0] = KH_WIRE_VERSION + 1;
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

static void
sc_reserved_nonzero(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	build_get(&w, 1, "/api/agents/me");
	if (msg_finish(&w) < 0)
		hc_die(2);
	w.buf[3] = 1;
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

static void
sc_zero_id(void)
{
	policy_send_wait_ok();
	send_get(0, "/api/agents/me");
	hold();
}

/* A well-formed, allowed request sent before MSG_POLICY. */
static void
sc_request_before_policy(void)
{
	send_get(1, "/api/agents/me");
	hold();
}

/* MSG_POLICY is permitted once. */
static void
sc_second_policy(void)
{
	policy_send_wait_ok();
	policy_send(policy_text, policy_len);
	send_get(1, "/api/agents/me");
	hold();
}

/* A restarted child must send exactly the table the first one sent.  The
 * first instance (it creates the state file) behaves and waits to be
 * killed by the test; a later instance widens the policy and uses it. */
static void
sc_policy_change(void)
{
	static const char extra[] = "\nallow GET /api/admin/secrets\n";

	if (state_path[0] == '\0')
		hc_die(2);
	int fd = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd >= 0 || errno != EEXIST) {
		if (fd >= 0)
			close(fd);
		policy_send_wait_ok();
		hold();
	}
	if (policy_len + sizeof(extra) > sizeof(policy_text))
		hc_die(2);
	memcpy(policy_text + policy_len, extra, sizeof(extra) - 1);
	policy_len += sizeof(extra) - 1;
	policy_send_wait_ok();
	send_get(1, "/api/admin/secrets");
	hold();
}

static void
sc_path_outside_policy(void)
{
	policy_send_wait_ok();
	send_get(1, "/api/admin/secrets");
	hold();
}

/* Not canonical; the test policy has `allow GET /api/issues/x/x/x/x`-like
 * stars so only the parent's canonical-path check can stop it. */
static void
sc_dotdot_path(void)
{
	policy_send_wait_ok();
	send_get(1, "/api/issues/1/../../admin");
	hold();
}

static void
sc_crlf_in_path(void)
{
	policy_send_wait_ok();
	send_get(1, "/api/agents/me\r\nx-evil: 1");
	hold();
}

static void
sc_bad_query(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	put_request_fields(&w, "GET", 3, "/api/agents/me", 14, 1,
	    "a=1 HTTP/1.1\r\nx-evil: 1", 1, accept_json, 1, "", 0);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

static void
sc_crlf_in_header(void)
{
	policy_send_wait_ok();
	send_get_with_header("accept", "a\r\nx-evil: 1");
	hold();
}

/* NUL inside a str (the path): msg_put_str would refuse, so write the
 * field as a blob. */
static void
sc_nul_in_string(void)
{
	static const char path[] = "/api/agents/me\0/../admin";
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	put_request_fields(&w, "GET", 3, path, sizeof(path) - 1, 1, pid_query,
	    1, accept_json, 1, "", 0);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

static void
sc_forbidden_header(void)
{
	policy_send_wait_ok();
	send_get_with_header("authorization", "Bearer x");
	hold();
}

/* A header the parent injects by configuration (--auth header:x-api-key),
 * which this fake child's policy allowlists and forwards. */
static void
sc_injected_header(void)
{
	policy_send_wait_ok();
	send_get_with_header("x-api-key", "sandbox-key");
	hold();
}

static void
sc_header_not_allowlisted(void)
{
	policy_send_wait_ok();
	send_get_with_header("x-evil", "1");
	hold();
}

static void
sc_bad_method_lower(void)
{
	policy_send_wait_ok();
	send_get_with_method("get");
	hold();
}

static void
sc_bad_method_unknown(void)
{
	policy_send_wait_ok();
	send_get_with_method("FETCH");
	hold();
}

/* 65535 headers, every one an allowlisted `accept`, all present in the
 * payload: only the parent's count limit can refuse it. */
static void
sc_huge_nheaders(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	msg_put_cstr(&w, "GET");
	msg_put_cstr(&w, "/api/agents/me");
	msg_put_u8(&w, 1);
	msg_put_cstr(&w, pid_query);
	msg_put_cstr(&w, "127.0.0.1");
	msg_put_u16(&w, 65535);
	for (unsigned i = 0; i < 65535; i++) {
		msg_put_cstr(&w, "accept");
		msg_put_cstr(&w, "a");
	}
#if KH_WIRE_VERSION >= 3
	msg_put_u8(&w, 0);
	msg_put_u8(&w, 0);
	msg_put_cstr(&w, "");
#endif
	msg_put_blob(&w, "", 0);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* Two requests with the same id while the first is in flight (the test
 * makes /slow/ paths slow upstream): the second is a violation. */
static void
sc_duplicate_id(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	build_get(&w, 7, "/api/issues/slow/comments");
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* A log line carrying a newline and a forged parent log prefix: the
 * parent may refuse it or make it printable, but must never write it as a
 * line of its own. */
static void
sc_log_injection(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, MSG_LOG, 0);
	msg_put_u8(&w, LOG_INFO);
	msg_put_cstr(&w, "hello\nkeyhole[1]: info: FORGED-LOG-LINE");
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* ---- policy v2: what the parent re-checks on its own ------------------
 * These run with the test's V2 policy and `--var issue=BRI-7` given to
 * the PARENT; we compile the policy leniently with nothing bound, so our
 * table names {issue} and the parent alone decides what it means. */

/* One request with an optional body and query; the headers are
 * (name, value) pairs. */
static void
send_req_m(uint64_t id, const char *method, const char *path,
    bool with_query, const struct hdr_pair *h, size_t nh,
    const struct hc_media *m, const char *body)
{
	struct wbuf w;

	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, id);
	put_request_fields_m(&w, method, strlen(method), path, strlen(path),
	    with_query ? 1 : 0, with_query ? pid_query : "", (uint16_t)nh, h,
	    nh, m, body, strlen(body));
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
}

/* A JSON body (media application/json) unless body is empty. */
static void
send_req(uint64_t id, const char *method, const char *path, bool with_query,
    const struct hdr_pair *h, size_t nh, const char *body)
{
	send_req_m(id, method, path, with_query, h, nh,
	    body[0] != '\0' ? &media_json : NULL, body);
}

/* Wait for the parent's answer to request `id`; returns its status. */
static uint16_t
wait_response(uint64_t want)
{
	static uint8_t buf[HC_RECV_CAP];
	uint64_t id;

	for (;;) {
		size_t len = frame_expect(MSG_RESPONSE, &id, buf);
		if (id == want)
			return len >= 2 ? (uint16_t)(buf[0] << 8 | buf[1]) : 0;
	}
}

/* Control: our own issue, as the parent binds it, is forwarded. */
static void
sc_own_issue(void)
{
	policy_send_wait_ok();
	send_req(1, "PATCH", "/api/issues/BRI-7", true, accept_json, 1,
	    "{\"status\":\"done\"}");
	hold();
}

/* Another issue: only the parent's binding of {issue} can refuse it (we
 * left {issue} unbound, and could have sent any table naming it). */
static void
sc_other_issue(void)
{
	policy_send_wait_ok();
	send_req(1, "PATCH", "/api/issues/BRI-8", true, accept_json, 1,
	    "{\"status\":\"done\"}");
	hold();
}

static void
sc_query_on_query_none(void)
{
	policy_send_wait_ok();
	send_req(1, "GET", "/api/q", true, accept_json, 1, "");
	hold();
}

/* x-cap is allowlisted on POST /api/cap only. */
static void
sc_header_off_route(void)
{
	static const struct hdr_pair cap[] = { { "x-cap", "secret" } };

	policy_send_wait_ok();
	send_req(1, "GET", "/api/agents/me", true, cap, 1, "");
	hold();
}

/* 17 bytes on a rule with max-body 16 (the operator allows far more). */
static void
sc_body_over_rule(void)
{
	policy_send_wait_ok();
	send_req(1, "POST", "/api/issues/1/comments", true, accept_json, 1,
	    "{\"body\":\"1234567\"}");
	hold();
}

static void
sc_body_on_body_none(void)
{
	policy_send_wait_ok();
	send_req(1, "DELETE", "/api/x/1", true, accept_json, 1, "{}");
	hold();
}

/* The policy says `max 2`.  Two comments, each answered before the next
 * (so both are really forwarded), then a third: the parent's own count
 * must refuse it.  A restarted instance is told the count in MSG_CONFIG
 * and tries again at once: refused again. */
static void
sc_over_budget(void)
{
	policy_send_wait_ok();
	send_req(1, "POST", "/api/issues/1/comments", true, accept_json, 1,
	    "{}");
	wait_response(1);
	send_req(2, "POST", "/api/issues/1/comments", true, accept_json, 1,
	    "{}");
	wait_response(2);
	send_req(3, "POST", "/api/issues/1/comments", true, accept_json, 1,
	    "{}");
	hold();
}

/* ---- liveness: deadlines and MSG_PING / MSG_PONG ----------------------
 * (src/priv/liveness.c; tests in test_hostile_child.py's liveness
 * block.)  never-ready and ready-once break no wire rule but the parent's
 * deadlines; the pong scenarios break the wire's ping rule.  A ping is
 * answered here only where a scenario says so. */

/* Answer every MSG_PING with the nonce it carries, until EOF. */
static void
serve_pings(void)
{
	static uint8_t buf[HC_RECV_CAP];
	uint64_t id;

	for (;;) {
		(void)frame_expect(MSG_PING, &id, buf);
		struct wbuf w;
		wbuf_init(&w);
		msg_begin(&w, MSG_PONG, id);
		if (msg_finish(&w) < 0)
			hc_die(2);
		wbuf_send(&w);
		wbuf_free(&w);
	}
}

/* ---- reload (src/priv/reload.c; tests in test_reload.py) ----------- */

/* Answer pings until a reload retires us (MSG_RETIRE). */
static void
serve_until_retired(void)
{
	static uint8_t buf[HC_RECV_CAP];

	for (;;) {
		uint8_t type;
		uint64_t id;
		size_t len;
		frame_recv(&type, &id, buf, &len);
		if (type == MSG_RETIRE)
			return;
		if (type == MSG_PING) {
			struct wbuf w;
			wbuf_init(&w);
			msg_begin(&w, MSG_PONG, id);
			if (msg_finish(&w) < 0)
				hc_die(2);
			wbuf_send(&w);
			wbuf_free(&w);
		}
	}
}

/* A well-behaved child that serves nothing: the control of a reload. */
static void
sc_serve(void)
{
	policy_send_wait_ok();
	serve_pings();
}

/* Retired by a reload, asks for the path `# retire-path:` names (as a
 * child whose client sent one more request would): the parent must judge
 * it by this child's own, old, policy, not the new one.  Then it never
 * leaves: the parent ends it at --drain-ms. */
static void
sc_retired_request(void)
{
	char path[256];

	header_field("retire-path", path, sizeof(path));
	if (path[0] != '/')
		hc_die(2);
	policy_send_wait_ok();
	serve_until_retired();
	send_get(1, path);
	serve_pings();
}

/* Blocked before MSG_POLICY for good (as a child stuck on a FIFO, or
 * stopped, would be): the parent must give up on it. */
static void
sc_never_ready(void)
{
	hold();
}

/* The first instance (it creates the state file) gets ready and answers
 * pings until the test kills it; every later instance never gets ready. */
static void
sc_ready_once(void)
{
	if (state_path[0] == '\0')
		hc_die(2);
	int fd = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd < 0 && errno == EEXIST)
		hold();
	if (fd >= 0)
		close(fd);
	policy_send_wait_ok();
	serve_pings();
}

/* A MSG_PONG before any ping. */
static void
sc_pong_unasked(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, MSG_PONG, 1);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* The first ping answered with another nonce (as a child answering pings
 * it has not read would). */
static void
sc_pong_wrong_nonce(void)
{
	static uint8_t buf[HC_RECV_CAP];
	struct wbuf w;
	uint64_t id;

	policy_send_wait_ok();
	(void)frame_expect(MSG_PING, &id, buf);
	wbuf_init(&w);
	msg_begin(&w, MSG_PONG, id + 1);
	if (msg_finish(&w) < 0)
		hc_die(2);
	wbuf_send(&w);
	wbuf_free(&w);
	hold();
}

/* A frame in transit is progress: a PATCH with a 640 KiB body, written
 * in 20 pieces 150 ms apart (as a pong waits behind big frames a busy
 * child is writing), never answering a ping; then silence.  The parent
 * must not take us for stuck while bytes arrive, and must once they stop. */
static void
sc_trickle_no_pong(void)
{
	static char body[640 * 1024];
	struct timespec gap = { 0, 150 * 1000 * 1000 };
	struct wbuf w;
	size_t off = 0, piece;

	memset(body, 'a', sizeof(body));
	body[0] = '"';
	body[sizeof(body) - 1] = '"';
	policy_send_wait_ok();
	wbuf_init(&w);
	msg_begin(&w, MSG_REQUEST, 1);
	put_request_fields_m(&w, "PATCH", 5, "/api/issues/1", 13, 1,
	    pid_query, 1, accept_json, 1, &media_json, body, sizeof(body));
	if (msg_finish(&w) < 0)
		hc_die(2);
	piece = w.len / 20 + 1;
	while (off < w.len) {
		size_t n = w.len - off < piece ? w.len - off : piece;
		write_all(w.buf + off, n);
		off += n;
		if (off < w.len && clock_nanosleep(CLOCK_MONOTONIC, 0, &gap,
		    NULL) != 0)
			hc_die(4);
	}
	wbuf_free(&w);
	hold();
}

/* ---- end of the liveness block ---------------------------------------- */

/* ---- what the parent checks since issue 11 --------------------------
 * The media type, `body json` and `keys`, `rate`, and the bounds on what
 * a child can make the parent buffer or write. */

/* The issue's body: one string to UTF-8, an object with a key the rule
 * excludes to UTF-7. */
static const char utf7_body[] =
    "{\"title\":\"x+ACIALAAi-assigneeAdapterOverrides+ACIAOgB7ACI-model"
    "+ACIAOgAi-evil+ACIAfQAs-+ACI-y+ACIAOgAi-z\"}";

/*
 * One request each, that an honest child never sends: what it breaks is
 * in the comment.  `hdr` is the attack as a version-2 child would make it
 * (the content-type among the headers), media/flags/boundary as a
 * version-3 child would (struct hc_media).
 */
static const struct {
	const char *name;
	const char *method, *path;
	struct hc_media m;
	bool has_media;
	const char *body;
} request_attacks[] = {
	/* issue 11's charset, among the headers (on version 3 the header
	 * list may not hold content-type at all) */
	{ "ctype-utf7", "PATCH", "/api/issues/BRI-7",
	    { "application/json; charset=utf-7", 1, 0, "", true }, true,
	    utf7_body },
	/* application/json on a rule that accepts multipart only */
	{ "ctype-off-rule", "POST", "/api/upload",
	    { "application/json", 1, 0, "", false }, true, "{}" },
	/* a type the rule does not list (v3: an index past its list) */
	{ "media-unknown", "POST", "/api/upload",
	    { "text/plain", 3, 0, "", false }, true, "hi" },
	/* a parameter the parent cannot write (v3: a flag bit that means
	 * nothing) */
	{ "media-flags", "PATCH", "/api/issues/BRI-7",
	    { "application/json; charset=utf-16", 1, 0x02, "", false }, true,
	    "{\"status\":\"done\"}" },
	{ "boundary-on-json", "PATCH", "/api/issues/BRI-7",
	    { "application/json; boundary=b", 1, 0, "b", false }, true,
	    "{\"status\":\"done\"}" },
	/* a multipart boundary that smuggles a parameter */
	{ "boundary-injection", "POST", "/api/upload",
	    { "multipart/form-data; boundary=b; charset=utf-7", 2, 0,
	    "b; charset=utf-7", false }, true, "--b--\r\n" },
	/* a body and no media type where content-type is allowlisted: the
	 * upstream would guess */
	{ "body-without-media", "PATCH", "/api/issues/BRI-7",
	    { NULL, 0, 0, "", false }, false, "{\"status\":\"done\"}" },
	/* not JSON, on a `body json` rule */
	{ "json-invalid", "PATCH", "/api/issues/BRI-7",
	    { "application/json", 1, 0, "", false }, true, "{\"status\":" },
	/* a key the `keys` list does not name, plainly and escaped */
	{ "json-key-not-allowed", "PATCH", "/api/keyed/1",
	    { "application/json", 1, 0, "", false }, true,
	    "{\"title\":\"x\",\"assigneeAdapterOverrides\":{\"model\":"
	    "\"evil\"}}" },
	{ "json-key-escaped", "PATCH", "/api/keyed/1",
	    { "application/json", 1, 0, "", false }, true,
	    "{\"title\":\"x\",\"\\u0061ssigneeAdapterOverrides\":1}" },
};

static void
run_request_attack(const char *name)
{
	for (size_t i = 0; i < sizeof(request_attacks) /
	    sizeof(request_attacks[0]); i++) {
		if (strcmp(name, request_attacks[i].name) != 0)
			continue;
		policy_send_wait_ok();
		send_req_m(1, request_attacks[i].method,
		    request_attacks[i].path, true, accept_json, 1,
		    request_attacks[i].has_media ? &request_attacks[i].m : NULL,
		    request_attacks[i].body);
		hold();
	}
}

/* `rate 2/min`: five GETs, each after the previous answer.  The parent's
 * own bucket lets two through and answers the rest 429 itself (no
 * violation: a restarted honest child starts with full buckets).  The
 * statuses we got are reported by a GET of /api/agents/me?hc-rated=... */
static void
sc_over_rate(void)
{
	char q[64];
	size_t n = 0;

	policy_send_wait_ok();
	for (uint64_t id = 1; id <= 5; id++) {
		send_req(id, "GET", "/api/rated", false, accept_json, 1, "");
		n += (size_t)snprintf(q + n, sizeof(q) - n, "%s%u",
		    id > 1 ? "," : "hc-rated=", (unsigned)wait_response(id));
	}
	snprintf(pid_query, sizeof(pid_query), "%s", q);
	send_req(6, "GET", "/api/agents/me", true, accept_json, 1, "");
	wait_response(6);
	hold();
}

/* The parent's buckets outlive a child: the first instance (it creates
 * the state file) spends `rate 2/min` and exits; the restarted one, whose
 * own bucket would be full, asks once more and reports what it got. */
static void
sc_over_rate_restart(void)
{
	char q[64];

	if (state_path[0] == '\0')
		hc_die(2);
	int fd = open(state_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	policy_send_wait_ok();
	if (fd >= 0) {
		close(fd);
		for (uint64_t id = 1; id <= 2; id++) {
			send_req(id, "GET", "/api/rated", false, accept_json, 1,
			    "");
			wait_response(id);
		}
		hc_die(0);
	}
	send_req(1, "GET", "/api/rated", false, accept_json, 1, "");
	snprintf(q, sizeof(q), "hc-rated-again=%u", (unsigned)wait_response(1));
	snprintf(pid_query, sizeof(pid_query), "%s", q);
	send_req(2, "GET", "/api/agents/me", true, accept_json, 1, "");
	wait_response(2);
	hold();
}

/* `max 2` and --max-inflight 1: a slow POST is in flight, a second POST
 * is answered 503 by the parent (never forwarded), then a third POST
 * once the first is answered.  Only forwarded mutations count, so the
 * third is the second mutation and is forwarded. */
static void
sc_mutation_503(void)
{
	char q[64];

	policy_send_wait_ok();
	send_req(1, "POST", "/api/slow/1", true, accept_json, 1, "{}");
	send_req(2, "POST", "/api/slow/2", true, accept_json, 1, "{}");
	uint16_t s2 = wait_response(2);
	uint16_t s1 = wait_response(1);
	snprintf(q, sizeof(q), "hc-mut=%u,%u", (unsigned)s1, (unsigned)s2);
	snprintf(pid_query, sizeof(pid_query), "%s", q);
	send_req(3, "POST", "/api/slow/3", true, accept_json, 1, "{}");
	wait_response(3);
	hold();
}

/* Requests as fast as the parent takes them, never reading an answer:
 * one slow GET keeps --max-inflight 1 busy, so each of the others is
 * answered 503 at once, and those answers pile up in the parent unless
 * it stops taking requests.  Bounded: HC_FLOOD_REQUESTS, then hold. */
#define HC_FLOOD_REQUESTS 1500000u
static void
sc_never_reads(void)
{
	struct wbuf w;

	policy_send_wait_ok();
	send_get(1, "/api/issues/slow/comments");
	wbuf_init(&w);
	build_get(&w, 2, "/api/agents/me");
	if (msg_finish(&w) < 0)
		hc_die(2);
	for (uint32_t i = 0; i < HC_FLOOD_REQUESTS; i++) {
		/* a fresh id each time: ids 2.. are answered at once */
		uint64_t id = 2 + (uint64_t)i;
		put_be32(w.buf + 8, (uint32_t)(id >> 32));
		put_be32(w.buf + 12, (uint32_t)id);
		wbuf_send(&w);
	}
	wbuf_free(&w);
	/* No hold(): it would read.  nanosleep passes the parent's filter. */
	for (;;) {
		struct timespec ts = { 3600, 0 };
		nanosleep(&ts, NULL);
	}
}

/* HC_FLOOD_LINES log lines (or access records) as fast as the parent
 * reads them; the test counts what the parent wrote and what its
 * summaries say it dropped. */
#define HC_FLOOD_LINES 100000u
static void
flood(bool access)
{
	policy_send_wait_ok();
	for (uint32_t i = 0; i < HC_FLOOD_LINES; i++) {
		struct wbuf w;
		char line[64];
		wbuf_init(&w);
		if (access) {
			msg_begin(&w, MSG_ACCESS, 0);
			msg_put_cstr(&w, "127.0.0.1:1");
			msg_put_cstr(&w, "GET");
			msg_put_cstr(&w, "/hc-access-flood");
			msg_put_u16(&w, 401);
			msg_put_cstr(&w, "hc-flood");
			msg_put_u64(&w, 0);
			msg_put_u64(&w, 0);
		} else {
			msg_begin(&w, MSG_LOG, 0);
			msg_put_u8(&w, LOG_WARN);
			snprintf(line, sizeof(line), "hc-flood %u", (unsigned)i);
			msg_put_cstr(&w, line);
		}
		if (msg_finish(&w) < 0)
			hc_die(2);
		wbuf_send(&w);
		wbuf_free(&w);
	}
	hold();
}

static void
sc_log_flood(void)
{
	flood(false);
}

static void
sc_access_flood(void)
{
	flood(true);
}

static const struct {
	const char *name;
	void (*fn)(void);
} scenarios[] = {
	/* liveness block */
	{ "serve", sc_serve },
	{ "retired-request", sc_retired_request },
	{ "never-ready", sc_never_ready },
	{ "ready-once", sc_ready_once },
	{ "pong-unasked", sc_pong_unasked },
	{ "pong-wrong-nonce", sc_pong_wrong_nonce },
	{ "trickle-no-pong", sc_trickle_no_pong },
	/* end of the liveness block */
	{ "own-issue", sc_own_issue },
	{ "other-issue", sc_other_issue },
	{ "query-on-query-none", sc_query_on_query_none },
	{ "header-off-route", sc_header_off_route },
	{ "body-over-rule", sc_body_over_rule },
	{ "body-on-body-none", sc_body_on_body_none },
	{ "over-budget", sc_over_budget },
	{ "over-rate", sc_over_rate },
	{ "over-rate-restart", sc_over_rate_restart },
	{ "mutation-503", sc_mutation_503 },
	{ "never-reads", sc_never_reads },
	{ "log-flood", sc_log_flood },
	{ "access-flood", sc_access_flood },
	{ "valid", sc_valid },
	{ "length-short", sc_length_short },
	{ "length-long", sc_length_long },
	{ "oversize", sc_oversize },
	{ "trailing-bytes", sc_trailing_bytes },
	{ "unknown-type", sc_unknown_type },
	{ "wrong-direction", sc_wrong_direction },
	{ "bad-version", sc_bad_version },
	{ "reserved-nonzero", sc_reserved_nonzero },
	{ "zero-id", sc_zero_id },
	{ "request-before-policy", sc_request_before_policy },
	{ "second-policy", sc_second_policy },
	{ "policy-change", sc_policy_change },
	{ "path-outside-policy", sc_path_outside_policy },
	{ "dotdot-path", sc_dotdot_path },
	{ "crlf-in-path", sc_crlf_in_path },
	{ "bad-query", sc_bad_query },
	{ "crlf-in-header", sc_crlf_in_header },
	{ "nul-in-string", sc_nul_in_string },
	{ "forbidden-header", sc_forbidden_header },
	{ "injected-header", sc_injected_header },
	{ "header-not-allowlisted", sc_header_not_allowlisted },
	{ "bad-method", sc_bad_method_lower },
	{ "bad-method-unknown", sc_bad_method_unknown },
	{ "huge-nheaders", sc_huge_nheaders },
	{ "duplicate-id", sc_duplicate_id },
	{ "log-injection", sc_log_injection },
};

int
main(void)
{
	static uint8_t buf[HC_RECV_CAP];
	uint64_t id;
	uint8_t type;
	size_t len;

	/* Policy text first, to EOF, bounded like the real child. */
	for (;;) {
		ssize_t k = read(FD_POLICY, policy_text + policy_len,
		    KH_POLICY_TEXT_MAX - policy_len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			hc_die(2);
		if (k == 0)
			break;
		policy_len += (size_t)k;
		if (policy_len == KH_POLICY_TEXT_MAX)
			hc_die(2);
	}
	close(FD_POLICY);
	header_field("scenario", scenario, sizeof(scenario));
	header_field("state", state_path, sizeof(state_path));
	snprintf(pid_query, sizeof(pid_query), "hc=%ld", (long)getpid());

	/* The parent speaks first: MSG_CONFIG, which we do not interpret. */
	frame_recv(&type, &id, buf, &len);

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		if (strcmp(scenario, scenarios[i].name) == 0) {
			scenarios[i].fn();
			hc_die(0);
		}
	}
	run_request_attack(scenario);
	hc_die(2);	/* unknown scenario: a bug in the test */
}
