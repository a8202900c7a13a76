/*
 * keyhole audit log: reloads (reload.c, gen.h).
 *
 * A reload is a lifecycle record, "event":"reload", with the policy
 * before and after it (SHA-256 of each generation's policy text):
 *
 *  - "result":"ok" at the swap (reload_swap), the moment generation
 *    `to` decides every request its child reads from then on; the old
 *    child's requests go on being decided, and recorded, under the old
 *    generation's policy until it has finished (each request record names
 *    its own "policy" and "generation");
 *  - "result":"failed" when an attempt ends without a swap (reload_finish:
 *    the reason, and the policy that goes on serving, before = after).
 *
 * Both are called by reload.c, as the rest of the parent calls audit_*()
 * (reload_observe's observers run only once an attempt is over, after
 * the requests the new generation decided meanwhile).
 *
 * The audit log itself is not part of a reload: its file, its key and
 * its chain go on unchanged (--audit-log and --audit-key are read at
 * start only; a new key takes a restart, whose start record names it).
 */
#include <stdbool.h>

#include "audit_int.h"

void
audit_reload_swap(const struct kh_gen *from, const struct kh_gen *to,
    int64_t took_ms)
{
	char before[2 * AUDIT_HASH_LEN + 1], after[2 * AUDIT_HASH_LEN + 1];

	if (!audit_g.on)
		return;
	hex_lower(from->sha256, AUDIT_HASH_LEN, before);
	hex_lower(to->sha256, AUDIT_HASH_LEN, after);
	audit_event(AUDIT_RELOAD, AF_STR("result", "ok"),
	    AF_INT("generation", to->number), AF_INT("from", from->number),
	    AF_STR("policyBefore", before), AF_STR("policyAfter", after),
	    AF_INT("tookMs", took_ms));
}

void
audit_reload_failed(const struct kh_gen *serving, const char *why,
    int64_t took_ms)
{
	char h[2 * AUDIT_HASH_LEN + 1];

	if (!audit_g.on)
		return;
	hex_lower(serving->sha256, AUDIT_HASH_LEN, h);
	audit_event(AUDIT_RELOAD, AF_STR("result", "failed"),
	    AF_INT("generation", serving->number),
	    AF_STR("policyBefore", h), AF_STR("policyAfter", h),
	    AF_STR("error", why), AF_INT("tookMs", took_ms));
}
