/*
 * libFuzzer harness for policy_decode(), the parent's check of a table
 * sent by a possibly compromised child.  Properties, each an abort() when
 * broken:
 *  - a refused table leaves *out empty and names a reason;
 *  - an accepted table re-encodes to exactly the input bytes (the format
 *    has one spelling per table) and re-decodes to an equal table;
 *  - policy_match, the header allowlists and the per-rule predicates run
 *    on it without fault, and never widen the forbidden header set.
 * Decoded with {issue} bound, as the parent would with --var issue=BRI-7.
 */
#include <stdlib.h>
#include <string.h>

#include "policy_table.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg_reader r;
	struct policy p, q;
	struct wbuf w;
	char err[128], why[128];
	static struct pol_bindings bind;

	if (bind.n == 0 &&
	    policy_binding_add(&bind, "issue=BRI-7", why, sizeof(why)) < 0)
		abort();
	err[0] = '\0';
	msg_reader_init(&r, data, size);
	if (policy_decode(&r, &bind, &p, err, sizeof(err)) < 0) {
		if (p.rules != NULL || p.nrules != 0 || err[0] == '\0')
			abort();
		return 0;
	}
	if (p.nrules == 0 || p.nrules > KH_POLICY_RULES_MAX)
		abort();

	wbuf_init(&w);
	msg_begin(&w, MSG_POLICY, 0);
	policy_encode(&p, &w);
	if (msg_finish(&w) < 0)
		abort();
	if (w.len - KH_WIRE_HDR != size ||
	    memcmp(w.buf + KH_WIRE_HDR, data, size) != 0)
		abort();
	msg_reader_init(&r, w.buf + KH_WIRE_HDR, w.len - KH_WIRE_HDR);
	if (policy_decode(&r, &bind, &q, err, sizeof(err)) < 0 ||
	    !policy_equal(&p, &q))
		abort();
	policy_free(&q);
	wbuf_free(&w);

	static const char *const paths[] = { "/", "/api/agents/me",
	    "/api/issues/1/comments", "/api/issues/1/comments/", "//", "/a/b/c",
	    "/api/issues/BRI-7", "/api/issues/BRI-7/comments", "/a/b/c/d/e/f" };
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int m = policy_match(&p, "GET", paths[i], strlen(paths[i]));
		if (m < -1 || m >= (int)p.nrules)
			abort();
	}
	for (size_t i = 0; i < p.nreq_hdrs; i++)
		if (!policy_req_header_allowed(&p, p.req_hdrs[i],
		    strlen(p.req_hdrs[i])))
			abort();
	(void)policy_resp_header_allowed(&p, "etag", 4);
	for (size_t i = 0; i < p.nrules; i++) {
		const struct pol_rule *rule = &p.rules[i];
		if (policy_rule_header_allowed(&p, rule, "authorization", 13) ||
		    policy_rule_header_allowed(&p, rule, "x-paperclip-run-id", 18))
			abort();
		for (size_t k = 0; k < rule->nhdrs; k++)
			if (!policy_rule_header_allowed(&p, rule, rule->hdrs[k],
			    strlen(rule->hdrs[k])))
				abort();
		if (policy_body_limit(&p, rule, KH_BODY_MAX) > KH_BODY_MAX)
			abort();
	}
	policy_free(&p);
	return 0;
}
