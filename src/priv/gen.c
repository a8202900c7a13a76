/*
 * keyhole parent: configuration generations.  See gen.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gen.h"
#include "kh_limits.h"
#include "log.h"
#include "util.h"

/* Every live generation, oldest first, and the current one.  One parent
 * per process: its state, like kh_parent. */
static struct kh_gen *gen_first, *gen_last, *gen_cur;

struct kh_gen *
gen_new(uint64_t number)
{
	struct kh_gen *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->refs = 1;
	g->number = number;
	g->prev = gen_last;
	if (gen_last != NULL)
		gen_last->next = g;
	else
		gen_first = g;
	gen_last = g;
	return g;
}

struct kh_gen *
gen_ref(struct kh_gen *g)
{
	g->refs++;
	return g;
}

void
gen_unref(struct kh_gen *g)
{
	if (g == NULL || --g->refs > 0)
		return;
	if (g->prev != NULL)
		g->prev->next = g->next;
	else
		gen_first = g->next;
	if (g->next != NULL)
		g->next->prev = g->prev;
	else
		gen_last = g->prev;
	if (gen_cur == g)
		gen_cur = NULL;
	if (g->token.page != NULL)
		log_unredact(g->token.buf);
	secret_free(&g->token);
	if (g->policy != NULL) {
		policy_free(g->policy);
		free(g->policy);
	}
	budget_free(&g->rate);
	free(g->cur_rule);
	if (g->text != NULL)
		explicit_bzero(g->text, g->len);
	free(g->text);
	explicit_bzero(&g->vars, sizeof(g->vars));
	free(g);
}

int
gen_read_policy(struct kh_gen *g, const char *path, char *err, size_t cap)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0) {
		snprintf(err, cap, "cannot open policy %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size > (off_t)KH_POLICY_TEXT_MAX) {
		snprintf(err, cap, "policy %s must be a regular file of at most "
		    "%u bytes", path, KH_POLICY_TEXT_MAX);
		close(fd);
		return -1;
	}
	free(g->text);
	g->len = 0;
	g->text = malloc((size_t)st.st_size + 1);
	if (g->text == NULL) {
		snprintf(err, cap, "policy %s: out of memory", path);
		close(fd);
		return -1;
	}
	n = util_read_upto(fd, g->text, (size_t)st.st_size + 1);
	close(fd);
	if (n < 0) {
		snprintf(err, cap, "reading policy %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((size_t)n > (size_t)st.st_size) {
		snprintf(err, cap, "policy %s changed while being read", path);
		return -1;
	}
	g->len = (size_t)n;
	sha256(g->text, g->len, g->sha256);
	return 0;
}

/* One line of a --var-file: NAME=VALUE, exactly (no spaces). */
static int
gen_var_line(struct pol_bindings *b, const struct kh_config *cfg,
    const char *path, unsigned ln, const char *s, size_t len, char *err,
    size_t cap)
{
	char arg[KH_POLICY_VAR_MAX + KH_POLICY_SEG_MAX + 2], why[512];
	const char *eq = memchr(s, '=', len);
	size_t nl = eq != NULL ? (size_t)(eq - s) : len;

	if (eq == NULL || !policy_var_name_valid(s, nl)) {
		snprintf(err, cap, "%s:%u:1: expected NAME=VALUE with NAME a "
		    "variable name (letters, digits and '_', not starting with "
		    "a digit)", path, ln);
		return -1;
	}
	if (!policy_segment_valid(eq + 1, len - nl - 1)) {
		snprintf(err, cap, "%s:%u:%zu: value of '%.*s' is not one path "
		    "segment as keyhole matches it (see --var)", path, ln,
		    nl + 2, (int)nl, s);
		return -1;
	}
	for (size_t i = 0; i < cfg->nvars_cli; i++)
		if (strlen(cfg->vars.b[i].name) == nl &&
		    memcmp(cfg->vars.b[i].name, s, nl) == 0) {
			snprintf(err, cap, "%s:%u:1: '%.*s' is bound by --var "
			    "too (the command line cannot be reloaded: bind it "
			    "in one place)", path, ln, (int)nl, s);
			return -1;
		}
	memcpy(arg, s, len);
	arg[len] = '\0';
	if (policy_binding_add(b, arg, why, sizeof(why)) < 0) {
		snprintf(err, cap, "%s:%u:1: %s", path, ln, why);
		return -1;
	}
	return 0;
}

static int
gen_var_file(struct pol_bindings *b, const struct kh_config *cfg, char *err,
    size_t cap)
{
	static char text[KH_VAR_FILE_MAX + 1];
	const char *path = cfg->var_file;
	struct stat st;
	ssize_t n;
	unsigned ln = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, cap, "cannot open --var-file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, cap, "--var-file %s is not a regular file", path);
		close(fd);
		return -1;
	}
	n = util_read_upto(fd, text, sizeof(text));
	close(fd);
	if (n < 0 || (size_t)n == sizeof(text)) {
		snprintf(err, cap, "--var-file %s: %s", path, n < 0 ?
		    strerror(errno) : "larger than 64 KiB");
		return -1;
	}
	for (size_t off = 0; off < (size_t)n;) {
		const char *s = text + off;
		const char *nlp = memchr(s, '\n', (size_t)n - off);
		size_t len = nlp != NULL ? (size_t)(nlp - s) : (size_t)n - off;

		off += len + (nlp != NULL);
		ln++;
		if (len > 0 && s[len - 1] == '\r')
			len--;
		if (len == 0 || s[0] == '#')
			continue;
		if (len > KH_POLICY_VAR_MAX + KH_POLICY_SEG_MAX + 1) {
			snprintf(err, cap, "%s:%u:1: line too long", path, ln);
			return -1;
		}
		if (gen_var_line(b, cfg, path, ln, s, len, err, cap) < 0)
			return -1;
	}
	return 0;
}

int
gen_bindings(struct kh_gen *g, const struct kh_config *cfg, char *err,
    size_t cap)
{
	struct pol_bindings b;
	char why[512];

	memset(&b, 0, sizeof(b));
	for (size_t i = 0; i < cfg->nvars_cli; i++)
		b.b[b.n++] = cfg->vars.b[i];
	if (cfg->var_file != NULL && gen_var_file(&b, cfg, err, cap) < 0)
		return -1;
	/* $KEYHOLE_VAR_* (read once, at start: config.c) for the rest. */
	for (size_t i = cfg->nvars_cli; i < cfg->vars.n; i++) {
		const struct pol_binding *e = &cfg->vars.b[i];
		char arg[KH_POLICY_VAR_MAX + KH_POLICY_SEG_MAX + 2];
		if (policy_binding_find(&b, e->name, strlen(e->name)) != NULL)
			continue;
		snprintf(arg, sizeof(arg), "%s=%s", e->name, e->value);
		if (policy_binding_add(&b, arg, why, sizeof(why)) < 0) {
			snprintf(err, cap, "KEYHOLE_VAR_%s: %s", e->name, why);
			return -1;
		}
	}
	g->vars = b;
	return 0;
}

/* The same route: method, and every segment of the pattern, a variable
 * as the value it is bound to (a binding that changed is another route). */
static bool
gen_rule_same(const struct policy *pa, const struct pol_rule *a,
    const struct policy *pb, const struct pol_rule *b)
{
	if (strcmp(a->method, b->method) != 0 || a->nsegs != b->nsegs)
		return false;
	for (size_t i = 0; i < a->nsegs; i++) {
		const struct pol_seg *x = &a->segs[i], *y = &b->segs[i];
		if (x->kind != y->kind)
			return false;
		if (x->kind == SEG_LIT && (x->len != y->len ||
		    memcmp(x->lit, y->lit, x->len) != 0))
			return false;
		if (x->kind == SEG_VAR) {
			const struct pol_var *u, *v;
			if (x->var < 0 || y->var < 0 ||
			    (size_t)x->var >= pa->nvars ||
			    (size_t)y->var >= pb->nvars)
				return false;
			u = &pa->vars[x->var];
			v = &pb->vars[y->var];
			if (!u->bound || !v->bound || u->vlen != v->vlen ||
			    memcmp(u->value, v->value, u->vlen) != 0)
				return false;
		}
	}
	return true;
}

/* Rule ri of a's table in b's, or -1.  Only at a reload: quadratic in
 * the rules (at most KH_POLICY_RULES_MAX each) but never per request. */
static int32_t
gen_find_rule(const struct kh_gen *a, size_t ri, const struct kh_gen *b)
{
	for (size_t j = 0; j < b->policy->nrules; j++)
		if (gen_rule_same(a->policy, &a->policy->rules[ri], b->policy,
		    &b->policy->rules[j]))
			return (int32_t)j;
	return -1;
}

int
gen_accept_policy(struct kh_gen *g, struct policy *pol, uint64_t now_ms)
{
	struct kh_gen *cur = gen_cur;

	if (budget_init_slack(&g->rate, pol, 0, now_ms, KH_RATE_SLACK_MS) < 0)
		return -1;
	/* `max` is the parent's own count (request_check), not the
	 * buckets'. */
	g->rate.max_mutations = 0;
	g->policy = pol;
	g->rate_ready = true;
	if (cur != NULL && cur != g && cur->rate_ready) {
		for (size_t i = 0; i < pol->nrules; i++) {
			int32_t j;
			if (pol->rules[i].rate_count == 0 ||
			    (j = gen_find_rule(g, i, cur)) < 0)
				continue;
			budget_carry(&g->rate, pol, i, &cur->rate, cur->policy,
			    (size_t)j, now_ms);
		}
	}
	return 0;
}

void
gen_make_current(struct kh_gen *g)
{
	gen_cur = g;
	free(g->cur_rule);
	g->cur_rule = NULL;
	for (struct kh_gen *h = gen_first; h != NULL; h = h->next) {
		if (h == g || h->policy == NULL)
			continue;
		int32_t *m = calloc(h->policy->nrules ? h->policy->nrules : 1,
		    sizeof(*m));
		free(h->cur_rule);
		h->cur_rule = m;
		/* Without memory the old generation is charged alone: its
		 * last requests cost it, not the new one. */
		for (size_t i = 0; m != NULL && i < h->policy->nrules; i++)
			m[i] = g->policy != NULL ? gen_find_rule(h, i, g) : -1;
	}
}

struct kh_gen *
gen_current(void)
{
	return gen_cur;
}

enum budget_verdict
gen_rate_check(struct kh_gen *g, size_t ri, const char *method,
    uint64_t now_ms, uint32_t *retry_s)
{
	*retry_s = 0;
	if (!g->rate_ready)
		return BUDGET_OK;
	return budget_check(&g->rate, g->policy, ri, method, now_ms, retry_s);
}

void
gen_rate_take(struct kh_gen *g, size_t ri, const char *method,
    uint64_t now_ms)
{
	struct kh_gen *cur = gen_cur;
	int32_t cri;

	if (!g->rate_ready)
		return;
	budget_take(&g->rate, g->policy, ri, method, now_ms);
	if (cur == NULL || !cur->rate_ready || g->policy->rules[ri].rate_count == 0)
		return;
	/* The route as the current generation numbers it. */
	if (g == cur) {
		cri = (int32_t)ri;
	} else {
		if (g->cur_rule == NULL || (cri = g->cur_rule[ri]) < 0)
			return;
		budget_take(&cur->rate, cur->policy, (size_t)cri, method,
		    now_ms);
	}
	for (struct kh_gen *h = gen_first; h != NULL; h = h->next) {
		if (h == g || h == cur || !h->rate_ready || h->cur_rule == NULL)
			continue;
		for (size_t k = 0; k < h->policy->nrules; k++)
			if (h->cur_rule[k] == cri)
				budget_take(&h->rate, h->policy, k, method,
				    now_ms);
	}
}
