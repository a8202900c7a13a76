/*
 * keyhole parent: configuration generations (gen.c).
 *
 * What a reload replaces as one: the policy text (bytes, never parsed
 * here), the variable bindings, the bridge token, the table the
 * generation's first child sent (validated by policy_decode against these
 * bindings) and the parent's own `rate` buckets for that table.  Every
 * child belongs to one generation, and every request it sends is
 * re-checked against that generation's table and buckets: a request is
 * never checked against one policy and forwarded under another
 * (SECURITY.md I18).  Generation 0 is the configuration keyhole started
 * with; each successful reload makes the next number current.
 *
 * Reference-counted: the parent holds its current generation, each child
 * its own; a generation ends (its table, buckets and token wiped and
 * freed) when the last child of a retired generation has exited.
 */
#ifndef KH_GEN_H
#define KH_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"
#include "config.h"
#include "policy_table.h"
#include "secret.h"
#include "sha256.h"

struct kh_gen {
	unsigned refs;
	uint64_t number;
	uint8_t *text;			/* policy bytes its children compile */
	size_t len;
	/* SHA-256 of text, read once (gen_read_policy): the policy that
	 * decided, in the audit log's records (audit.h). */
	uint8_t sha256[SHA256_LEN];
	struct pol_bindings vars;	/* its table is decoded with these */
	struct secret token;		/* its children's bridge token */
	struct policy *policy;		/* its first child's table, or NULL */
	struct budget rate;		/* the parent's `rate` buckets */
	bool rate_ready;
	/* Rule i of this generation is rule cur_rule[i] of the current one
	 * (same method, same pattern with the same bound values), or -1;
	 * NULL while this one is current.  Recomputed at every swap. */
	int32_t *cur_rule;
	struct kh_gen *prev, *next;	/* every live generation */
};

/* A new generation with one reference, or NULL (out of memory). */
struct kh_gen *gen_new(uint64_t number);
struct kh_gen *gen_ref(struct kh_gen *g);
void gen_unref(struct kh_gen *g);

/* Read the policy file (a regular file of at most KH_POLICY_TEXT_MAX
 * bytes, read once) into g.  Returns 0, or -1 with err set. */
int gen_read_policy(struct kh_gen *g, const char *path, char *err,
    size_t cap);
/* g's bindings: --var (fixed at start), then --var-file (read now: one
 * NAME=VALUE per line, '#' comments; a name --var binds too is an error),
 * then $KEYHOLE_VAR_* for names neither binds.  Returns 0, or -1 with err
 * set ("FILE:LINE:COL: message" for the file). */
int gen_bindings(struct kh_gen *g, const struct kh_config *cfg, char *err,
    size_t cap);

/* pol (validated) becomes g's table, with the parent's buckets: full, or
 * carried over from the current generation's rules with the same route
 * (budget_carry).  Takes pol on success.  Returns 0 or -1 (memory). */
int gen_accept_policy(struct kh_gen *g, struct policy *pol, uint64_t now_ms);
/* g becomes the current generation (a reload's swap, or the first). */
void gen_make_current(struct kh_gen *g);
struct kh_gen *gen_current(void);

/* The `rate` of rule ri of g's own table: budget_check on g's buckets. */
enum budget_verdict gen_rate_check(struct kh_gen *g, size_t ri,
    const char *method, uint64_t now_ms, uint32_t *retry_s);
/* Charge one request on rule ri of g: g's bucket, and the bucket of the
 * same route in every other live generation, so that two generations
 * serving side by side after a reload never grant a route twice its
 * rate. */
void gen_rate_take(struct kh_gen *g, size_t ri, const char *method,
    uint64_t now_ms);

#endif
