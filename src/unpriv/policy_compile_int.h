/*
 * keyhole route policy compiler: state shared by its three files.
 *
 *   policy_compile.c  the driver: lines, fields, global directives, the
 *                     final self-check against the parent's decoder
 *   policy_rule.c     one `allow` line: method, pattern, constraints
 *   policy_lint.c     whole-policy checks: variables, shadowed rules
 */
#ifndef KH_POLICY_COMPILE_INT_H
#define KH_POLICY_COMPILE_INT_H

#include "policy_compile.h"

/* Longest line, bytes without the newline.  A directive is a few dozen
 * bytes, a rule with constraints a few hundred; anything near this is a
 * mistake (or not a policy file). */
#define POLICY_LINE_MAX		1024u
/* Fields looked at per line: `allow M P` and seven constraint pairs, and
 * one more to see one too many. */
#define POLICY_FIELDS_MAX	20

struct field {
	const char *s;
	size_t len;
};

struct compiler {
	const char *file;
	policy_diag_fn diag;
	void *arg;
	const struct pol_bindings *bind;
	unsigned flags;
	int nerr;
	struct policy *p;
	size_t cap;			/* rules allocated */
	bool saw_allow;			/* even an invalid one: no "empty" error */
	bool rules_full;		/* limit reported once */
	const char *lstart;		/* current line, for columns */
	uint32_t max_body_line;
	uint32_t max_line;
	uint32_t req_line[KH_POLICY_HDRS_MAX];
	uint32_t resp_line[KH_POLICY_HDRS_MAX];
	struct pol_rule rule;		/* the rule being parsed */
};

/* Report an error at `line`, column of `at` (a pointer into the current
 * line; NULL = column 1). */
void pc_error(struct compiler *c, uint32_t line, const char *at,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void pc_warn(struct compiler *c, uint32_t line, uint32_t col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
uint32_t pc_col(const struct compiler *c, const char *at);

/* policy_rule.c */
void pc_allow(struct compiler *c, uint32_t line, const struct field *f,
    size_t nf);
/* Parse SIZE (bytes, k, m) into *v; false after an error naming `what`. */
bool pc_size(struct compiler *c, uint32_t line, const struct field *f,
    const char *what, uint64_t *v);
/* Register variable name[0..len) in c->p->vars; its index or -1. */
int pc_var(struct compiler *c, uint32_t line, const char *name, size_t len);

/* policy_lint.c */
void pc_lint(struct compiler *c);

#endif
