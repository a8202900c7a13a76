/* keyhole-audit: verification of an audit log; see audit_verify.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit_record.h"
#include "audit_verify.h"
#include "hex.h"
#include "kh_limits.h"

/* Keys the log names (start and rotate records) that are kept, at most:
 * one per key the operator ever used for this log. */
#define AV_KEYS_MAX 64

/* One record as the chain sees it. */
struct av_rec {
	uint64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	uint8_t prev[AUDIT_HASH_LEN];
	bool genesis;
	struct av_where w;
};

/* A place in the files: the next line to read. */
struct av_cur {
	size_t f;
	size_t off;
	uint64_t line;
};

struct av_key {
	uint8_t fp[AUDIT_FP_LEN];
	uint8_t pub[AUDIT_PUBKEY_LEN];
};

struct av {
	const struct av_file *fs;
	size_t nf;
	const struct av_opts *o;
	struct av_report *rep;
	struct av_key *given;		/* --pubkey */
	size_t ngiven;
	struct av_key learned[AV_KEYS_MAX];
	size_t nlearned;
	struct av_rec *ring;		/* the last `around` records */
	size_t rn, rhead;
	size_t around;			/* KH_AUDIT_LOOKAROUND, or fewer when
					   the files hold fewer lines */
	EVP_MD_CTX *md;
	uint8_t *msg;			/* a checkpoint's signed bytes */
};

const char *
av_kind_name(enum av_kind k)
{
	switch (k) {
	case AV_OK: return "ok";
	case AV_USAGE: return "usage";
	case AV_TRUNCATED: return "truncated";
	case AV_EDITED: return "edited";
	case AV_REMOVED: return "removed";
	case AV_INSERTED: return "inserted";
	case AV_REORDERED: return "reordered";
	case AV_SIGNATURE: return "signature";
	case AV_FILES: return "files";
	}
	return "?";
}

static void
av_sha256(struct av *v, const void *p, size_t n, uint8_t out[AUDIT_HASH_LEN])
{
	unsigned int len = 0;

	if (v->md == NULL ||
	    EVP_DigestInit_ex(v->md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(v->md, n ? p : "", n) != 1 ||
	    EVP_DigestFinal_ex(v->md, out, &len) != 1)
		memset(out, 0, AUDIT_HASH_LEN);
}

static const char *
av_name(const struct av *v, size_t f)
{
	return f < v->nf && v->fs[f].name != NULL ? v->fs[f].name : "-";
}

/* The verdict: kind at w, why as printf. */
static enum av_kind __attribute__((format(printf, 4, 5)))
av_verdict(struct av *v, enum av_kind kind, const struct av_where *w,
    const char *fmt, ...)
{
	va_list ap;

	v->rep->kind = kind;
	if (w != NULL)
		v->rep->where = *w;
	va_start(ap, fmt);
	vsnprintf(v->rep->why, sizeof(v->rep->why), fmt, ap);
	va_end(ap);
	return kind;
}

/* The next line: *p, *n (without its '\n'), *nl whether it had one. */
static bool
av_next(const struct av *v, struct av_cur *c, const uint8_t **p, size_t *n,
    bool *nl, struct av_where *w)
{
	const uint8_t *s, *e;
	size_t left;

	while (c->f < v->nf && c->off >= v->fs[c->f].len) {
		c->f++;
		c->off = 0;
		c->line = 0;
	}
	if (c->f >= v->nf)
		return false;
	s = v->fs[c->f].data + c->off;
	left = v->fs[c->f].len - c->off;
	e = memchr(s, '\n', left);
	*p = s;
	*n = e != NULL ? (size_t)(e - s) : left;
	*nl = e != NULL;
	c->off += *n + (e != NULL);
	c->line++;
	w->file = c->f;
	w->line = c->line;
	return true;
}

/* A whole line that parses: its chain fields. */
static bool
av_read(struct av *v, const uint8_t *p, size_t n, bool nl,
    const struct av_where *w, struct arec *r, struct av_rec *out,
    const char **why)
{
	av_sha256(v, p, n, out->hash);
	out->w = *w;
	if (!nl) {
		*why = "the line has no end ('\\n')";
		return false;
	}
	if (arec_parse(p, n, r, why) < 0)
		return false;
	out->seq = r->seq;
	memcpy(out->prev, r->prev, AUDIT_HASH_LEN);
	out->genesis = r->genesis;
	return true;
}

static bool
av_links(const struct av_rec *b, const struct av_rec *a)
{
	return b->seq == a->seq + 1 &&
	    memcmp(b->prev, a->hash, AUDIT_HASH_LEN) == 0;
}

/* Up to max records that parse, from c on (for the look-around). */
static size_t
av_forward(struct av *v, struct av_cur c, struct av_rec *out, size_t max)
{
	const uint8_t *p;
	size_t n, k = 0;
	bool nl;
	struct av_where w;
	struct arec r;
	const char *why;

	while (k < max && av_next(v, &c, &p, &n, &nl, &w))
		if (av_read(v, p, n, nl, &w, &r, &out[k], &why))
			k++;
	return k;
}

/* The record in the ring whose hash is h (not a itself), or NULL. */
static const struct av_rec *
av_back_find(const struct av *v, const uint8_t *h, const struct av_rec *a)
{
	for (size_t i = 0; i < v->rn; i++) {
		const struct av_rec *y = &v->ring[i];
		if (memcmp(y->hash, h, AUDIT_HASH_LEN) == 0 &&
		    !(y->w.file == a->w.file && y->w.line == a->w.line))
			return y;
	}
	return NULL;
}

static void
av_ring_push(struct av *v, const struct av_rec *r)
{
	v->ring[v->rhead] = *r;
	v->rhead = (v->rhead + 1) % v->around;
	if (v->rn < v->around)
		v->rn++;
}

/* b starts a file and does not follow a, the end of the file before. */
static enum av_kind
av_files(struct av *v, const struct av_rec *a, const struct av_rec *b)
{
	const char *fa = av_name(v, a->w.file), *fb = av_name(v, b->w.file);

	for (size_t f = 0; f < v->nf; f++) {
		struct av_cur c = { f, 0, 0 };
		struct av_rec first;
		if (f == b->w.file || av_forward(v, c, &first, 1) != 1 ||
		    first.w.file != f || !av_links(&first, a))
			continue;
		return av_verdict(v, AV_FILES, &b->w, "%s does not continue "
		    "%s, %s does: the files are given out of order", fb, fa,
		    av_name(v, f));
	}
	if (b->seq > a->seq + 1)
		return av_verdict(v, AV_FILES, &b->w, "%s ends at seq %llu and "
		    "%s begins at seq %llu: a file between them is missing, or "
		    "the files are out of order", fa, (unsigned long long)a->seq,
		    fb, (unsigned long long)b->seq);
	return av_verdict(v, AV_FILES, &b->w, "%s (seq %llu) does not "
	    "continue %s (seq %llu): the files are out of order, or not of "
	    "one log", fb, (unsigned long long)b->seq, fa,
	    (unsigned long long)a->seq);
}

/*
 * The chain breaks between a and b (a the last record that held): say
 * what happened, from the records around them.
 */
static enum av_kind
av_classify(struct av *v, const struct av_rec *a, const struct av_rec *b,
    struct av_cur after)
{
	struct av_rec *fw = calloc(v->around, sizeof(*fw));
	const struct av_rec *c, *y, *x = NULL;
	const char *fa = av_name(v, a->w.file), *fb = av_name(v, b->w.file);
	unsigned long long sa = a->seq, sb = b->seq;
	char ha[2 * AUDIT_HASH_LEN + 1], hb[2 * AUDIT_HASH_LEN + 1];
	enum av_kind k;
	bool fits = false;
	size_t nfw;

	if (fw == NULL)
		return av_verdict(v, AV_USAGE, &b->w, "out of memory");
	nfw = av_forward(v, after, fw, v->around);
	c = nfw > 0 ? &fw[0] : NULL;
	hex_lower(a->hash, AUDIT_HASH_LEN, ha);
	hex_lower(b->prev, AUDIT_HASH_LEN, hb);
	for (size_t i = 0; i < nfw; i++) {
		if (x == NULL && av_links(&fw[i], a))
			x = &fw[i];
		if (memcmp(fw[i].prev, b->hash, AUDIT_HASH_LEN) == 0 ||
		    memcmp(fw[i].hash, b->prev, AUDIT_HASH_LEN) == 0)
			fits = true;
	}
	if (c != NULL && av_links(c, a) && !fits) {
		k = av_verdict(v, AV_INSERTED, &b->w, "%s:%llu (seq %llu) is "
		    "not part of the chain: the record after it follows %s:%llu "
		    "(seq %llu)", fb, (unsigned long long)b->w.line, sb, fa,
		    (unsigned long long)a->w.line, sa);
	} else if (c != NULL && av_links(c, a)) {
		k = av_verdict(v, AV_REORDERED, &b->w, "%s:%llu (seq %llu) was "
		    "moved: it comes before %s:%llu (seq %llu), which follows "
		    "%s:%llu", fb, (unsigned long long)b->w.line, sb,
		    av_name(v, c->w.file), (unsigned long long)c->w.line,
		    (unsigned long long)c->seq, fa,
		    (unsigned long long)a->w.line);
	} else if (b->seq == a->seq + 1 && !b->genesis) {
		if (c != NULL && c->seq == b->seq + 1 &&
		    memcmp(c->prev, b->hash, AUDIT_HASH_LEN) != 0)
			k = av_verdict(v, AV_EDITED, &b->w, "%s:%llu (seq %llu) "
			    "was changed after it was written: neither does it "
			    "link to %s:%llu nor does the next record link to it",
			    fb, (unsigned long long)b->w.line, sb, fa,
			    (unsigned long long)a->w.line);
		else
			k = av_verdict(v, AV_EDITED, &a->w, "%s:%llu (seq %llu) "
			    "was changed after it was written: its SHA-256 is %s, "
			    "the next record (%s:%llu) says %s", fa,
			    (unsigned long long)a->w.line, sa, ha, fb,
			    (unsigned long long)b->w.line, hb);
	} else if (b->w.file != a->w.file) {
		k = av_files(v, a, b);
	} else if (memcmp(b->prev, a->hash, AUDIT_HASH_LEN) == 0) {
		k = av_verdict(v, AV_EDITED, &b->w, "%s:%llu was changed after "
		    "it was written: it follows seq %llu but says seq %llu", fb,
		    (unsigned long long)b->w.line, sa, sb);
	} else if ((y = av_back_find(v, b->prev, a)) != NULL) {
		if (a->seq == y->seq + 1 &&
		    memcmp(a->prev, y->hash, AUDIT_HASH_LEN) == 0) {
			/* a and b both follow y: the chain goes on from one. */
			bool b_real = c != NULL && av_links(c, b);
			const struct av_rec *ins = b_real ? a : b;
			k = av_verdict(v, AV_INSERTED, &ins->w, "%s:%llu (seq "
			    "%llu) is not part of the chain: %s:%llu and %s:%llu "
			    "both claim to follow seq %llu, and the chain goes on "
			    "from %s:%llu", av_name(v, ins->w.file),
			    (unsigned long long)ins->w.line,
			    (unsigned long long)ins->seq, fa,
			    (unsigned long long)a->w.line, fb,
			    (unsigned long long)b->w.line,
			    (unsigned long long)y->seq, b_real ? fb : fa,
			    (unsigned long long)(b_real ? b : a)->w.line);
		} else {
			k = av_verdict(v, AV_REORDERED, &b->w, "%s:%llu (seq "
			    "%llu) was moved: it belongs right after %s:%llu "
			    "(seq %llu)", fb, (unsigned long long)b->w.line, sb,
			    av_name(v, y->w.file), (unsigned long long)y->w.line,
			    (unsigned long long)y->seq);
		}
	} else {
		if (x != NULL && fits)
			k = av_verdict(v, AV_REORDERED, &b->w, "%s:%llu (seq "
			    "%llu) was moved: seq %llu, which follows %s:%llu, is "
			    "at %s:%llu", fb, (unsigned long long)b->w.line, sb,
			    sa + 1, fa, (unsigned long long)a->w.line,
			    av_name(v, x->w.file), (unsigned long long)x->w.line);
		else if (x != NULL)
			k = av_verdict(v, AV_INSERTED, &b->w, "%s:%llu up to "
			    "%s:%llu are not part of the chain: seq %llu, which "
			    "follows %s:%llu, is at %s:%llu", fb,
			    (unsigned long long)b->w.line, av_name(v, x->w.file),
			    (unsigned long long)x->w.line - 1, sa + 1, fa,
			    (unsigned long long)a->w.line, av_name(v, x->w.file),
			    (unsigned long long)x->w.line);
		else if (b->seq == a->seq + 2)
			k = av_verdict(v, AV_REMOVED, &b->w, "record seq %llu was "
			    "removed: %s:%llu (seq %llu) comes right after %s:%llu "
			    "(seq %llu)", sa + 1, fb, (unsigned long long)b->w.line,
			    sb, fa, (unsigned long long)a->w.line, sa);
		else if (b->seq > a->seq + 1)
			k = av_verdict(v, AV_REMOVED, &b->w, "records seq %llu to "
			    "%llu were removed: %s:%llu (seq %llu) comes right "
			    "after %s:%llu (seq %llu)", sa + 1, sb - 1, fb,
			    (unsigned long long)b->w.line, sb, fa,
			    (unsigned long long)a->w.line, sa);
		else
			k = av_verdict(v, AV_INSERTED, &b->w, "%s:%llu (seq %llu) "
			    "is not part of the chain (after %s:%llu, seq %llu)",
			    fb, (unsigned long long)b->w.line, sb, fa,
			    (unsigned long long)a->w.line, sa);
	}
	free(fw);
	return k;
}

static const struct av_key *
av_key_find(const struct av_key *keys, size_t n, const uint8_t *fp)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(keys[i].fp, fp, AUDIT_FP_LEN) == 0)
			return &keys[i];
	return NULL;
}

/* A start or rotate record names its key: its fingerprint must match. */
static int
av_learn(struct av *v, const struct arec *r)
{
	uint8_t h[AUDIT_HASH_LEN];

	av_sha256(v, r->pub, AUDIT_PUBKEY_LEN, h);
	if (memcmp(h, r->fp, AUDIT_FP_LEN) != 0)
		return -1;
	if (av_key_find(v->learned, v->nlearned, r->fp) == NULL &&
	    v->nlearned < AV_KEYS_MAX) {
		memcpy(v->learned[v->nlearned].fp, r->fp, AUDIT_FP_LEN);
		memcpy(v->learned[v->nlearned].pub, r->pub, AUDIT_PUBKEY_LEN);
		v->nlearned++;
	}
	return 0;
}

/* A checkpoint's signature.  Returns 0, or -1 with the verdict made. */
static int
av_signature(struct av *v, const struct arec *r, const uint8_t *line,
    const struct av_where *w)
{
	static const char ctx_str[] = AUDIT_SIG_CONTEXT;
	size_t cl = sizeof(ctx_str) - 1;
	const struct av_key *k;
	char fp[2 * AUDIT_FP_LEN + 1];
	EVP_PKEY *pk;
	EVP_MD_CTX *ctx;
	int ok = 0;

	hex_lower(r->fp, AUDIT_FP_LEN, fp);
	if (v->ngiven > 0)
		k = av_key_find(v->given, v->ngiven, r->fp);
	else
		k = av_key_find(v->learned, v->nlearned, r->fp);
	if (k == NULL) {
		av_verdict(v, AV_SIGNATURE, w, "%s:%llu: the checkpoint is "
		    "signed by key %s, %s", av_name(v, w->file),
		    (unsigned long long)w->line, fp, v->ngiven > 0 ?
		    "which is not a --pubkey key" : "which no start or rotate "
		    "record before it names (give --pubkey)");
		return -1;
	}
	memcpy(v->msg, ctx_str, cl);
	memcpy(v->msg + cl, line, r->signed_len);
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->pub,
	    AUDIT_PUBKEY_LEN);
	ctx = EVP_MD_CTX_new();
	if (pk != NULL && ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1)
		ok = EVP_DigestVerify(ctx, r->sig, AUDIT_SIG_LEN, v->msg,
		    cl + r->signed_len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	if (!ok) {
		av_verdict(v, AV_SIGNATURE, w, "%s:%llu: the checkpoint's "
		    "signature does not verify with key %s: the checkpoint was "
		    "changed, or made without the key", av_name(v, w->file),
		    (unsigned long long)w->line, fp);
		return -1;
	}
	if (v->rep->nkeys < AV_LIST_MAX) {
		bool seen = false;
		for (size_t i = 0; i < v->rep->nkeys; i++)
			seen |= strcmp(v->rep->keys[i], fp) == 0;
		if (!seen)
			strcpy(v->rep->keys[v->rep->nkeys++], fp);
	}
	return 0;
}

/* What one record adds to the summary. */
static void
av_count(struct av *v, const struct arec *r, const struct av_where *w)
{
	struct av_report *rep = v->rep;

	if (rep->records++ == 0) {
		rep->first_seq = r->seq;
		snprintf(rep->first_time, sizeof(rep->first_time), "%s", r->time);
	}
	rep->last_seq = r->seq;
	snprintf(rep->last_time, sizeof(rep->last_time), "%s", r->time);
	switch (r->type) {
	case AREC_REQUEST:
		rep->requests++;
		if (r->from_child)
			rep->refused_child++;
		else if (r->forwarded)
			rep->forwarded++;
		else
			rep->refused_parent++;
		rep->after_ckpt++;
		break;
	case AREC_EVENT:
		rep->events++;
		rep->after_ckpt++;
		if (strcmp(r->event, "start") == 0 &&
		    rep->runs++ < AV_LIST_MAX)
			strcpy(rep->run_ids[rep->runs - 1], r->run_id);
		if (strcmp(r->event, "recover") == 0 &&
		    rep->recoveries++ < AV_LIST_MAX) {
			rep->recover[rep->recoveries - 1].where = *w;
			rep->recover[rep->recoveries - 1].torn_bytes =
			    r->torn_bytes;
		}
		break;
	case AREC_CHECKPOINT:
		rep->checkpoints++;
		rep->have_ckpt = true;
		rep->ckpt = *w;
		rep->ckpt_seq = r->seq;
		rep->ckpt_final = r->final;
		snprintf(rep->ckpt_time, sizeof(rep->ckpt_time), "%s", r->time);
		rep->after_ckpt = 0;
		break;
	}
}

/* A line that is not a record, waiting for the record after it. */
struct av_bad {
	bool on;
	struct av_where w;
	size_t len;
	bool nl;
	uint8_t hash[AUDIT_HASH_LEN];
	const char *why;
};

/* b comes after a line that is not a record: is b the recover record
 * that describes it (a line a crash cut short)? */
static enum av_kind
av_after_bad(struct av *v, struct av_bad *bad, const struct arec *r,
    const struct av_rec *b, const struct av_rec *a, bool have_a)
{
	const char *f = av_name(v, bad->w.file);

	bad->on = false;
	if (r->type == AREC_EVENT && strcmp(r->event, "recover") == 0 &&
	    r->has_torn_sha && r->torn_bytes == bad->len &&
	    memcmp(r->torn_sha, bad->hash, AUDIT_HASH_LEN) == 0)
		return AV_OK;		/* av_count lists it */
	if (r->type == AREC_EVENT && strcmp(r->event, "recover") == 0 &&
	    r->has_torn_sha)
		return av_verdict(v, AV_EDITED, &bad->w, "%s:%llu, a line a "
		    "crash cut short, was changed afterwards: the recover record "
		    "after it says %llu bytes with another SHA-256", f,
		    (unsigned long long)bad->w.line,
		    (unsigned long long)r->torn_bytes);
	if (have_a && av_links(b, a))
		return av_verdict(v, AV_INSERTED, &bad->w, "%s:%llu is not a "
		    "record (%s): a line was inserted", f,
		    (unsigned long long)bad->w.line, bad->why);
	return av_verdict(v, AV_EDITED, &bad->w, "%s:%llu is not a record "
	    "(%s), and no recover record says it is a line a crash cut short",
	    f, (unsigned long long)bad->w.line, bad->why);
}

/* The log's first record (r, at w) is not a chain's first: if another
 * file given begins earlier in the chain, the files are out of order. */
static enum av_kind
av_earlier_file(struct av *v, const struct arec *r, const struct av_where *w)
{
	for (size_t f = 0; f < v->nf; f++) {
		struct av_cur c = { f, 0, 0 };
		struct av_rec first;
		if (f == w->file || av_forward(v, c, &first, 1) != 1 ||
		    first.w.file != f || first.seq >= r->seq)
			continue;
		return av_verdict(v, AV_FILES, w, "%s begins at seq %llu, but "
		    "%s, given after it, begins earlier (seq %llu): the files "
		    "are given out of order", av_name(v, w->file),
		    (unsigned long long)r->seq, av_name(v, f),
		    (unsigned long long)first.seq);
	}
	return AV_OK;
}

/* The whole log was read without a break: is it closed? */
static enum av_kind
av_end(struct av *v, const struct av_bad *bad, bool have_last)
{
	struct av_report *rep = v->rep;
	struct av_where w0 = { 0, 1 };

	if (bad->on && !bad->nl && bad->w.file + 1 == v->nf)
		return av_verdict(v, AV_TRUNCATED, &bad->w, "%s:%llu, the last "
		    "line, is cut short (%zu bytes): keyhole stopped in the "
		    "middle of writing it and has not been started again on "
		    "this file", av_name(v, bad->w.file),
		    (unsigned long long)bad->w.line, bad->len);
	if (bad->on)
		return av_verdict(v, AV_EDITED, &bad->w, "%s:%llu is not a "
		    "record (%s)", av_name(v, bad->w.file),
		    (unsigned long long)bad->w.line, bad->why);
	if (!have_last)
		return av_verdict(v, AV_TRUNCATED, &w0, "no audit record at all");
	if (!rep->have_ckpt)
		return av_verdict(v, AV_TRUNCATED, &w0, "no signed checkpoint: "
		    "none of the %llu records is signed",
		    (unsigned long long)rep->records);
	if (rep->after_ckpt > 0)
		return av_verdict(v, AV_TRUNCATED, &rep->ckpt, "%llu records "
		    "after the last checkpoint (%s:%llu, seq %llu) are not "
		    "signed: they may have been changed, and records after them "
		    "cut off (or keyhole is still running, or was killed)",
		    (unsigned long long)rep->after_ckpt,
		    av_name(v, rep->ckpt.file),
		    (unsigned long long)rep->ckpt.line,
		    (unsigned long long)rep->ckpt_seq);
	if (!rep->ckpt_final)
		return av_verdict(v, AV_TRUNCATED, &rep->ckpt, "the log ends at "
		    "a checkpoint that is not the final one (%s:%llu, seq "
		    "%llu): keyhole is still running or was killed, or records "
		    "after it were cut off", av_name(v, rep->ckpt.file),
		    (unsigned long long)rep->ckpt.line,
		    (unsigned long long)rep->ckpt_seq);
	return av_verdict(v, AV_OK, NULL, "intact");
}

/* Read every line; returns the verdict (rep->kind). */
static enum av_kind
av_run(struct av *v)
{
	struct av_cur cur = { 0, 0, 0 };
	struct av_rec last, b;
	struct av_bad bad = { 0 };
	bool have_last = false, nl;
	const uint8_t *p;
	struct av_where w;
	struct arec r;
	const char *why;
	size_t n;

	while (av_next(v, &cur, &p, &n, &nl, &w)) {
		if (!av_read(v, p, n, nl, &w, &r, &b, &why)) {
			if (bad.on)
				return av_verdict(v, AV_EDITED, &bad.w, "%s:%llu "
				    "is not a record (%s)", av_name(v, bad.w.file),
				    (unsigned long long)bad.w.line, bad.why);
			bad = (struct av_bad){ true, w, n, nl, { 0 }, why };
			memcpy(bad.hash, b.hash, AUDIT_HASH_LEN);
			continue;
		}
		if (bad.on && av_after_bad(v, &bad, &r, &b, &last,
		    have_last) != AV_OK)
			return v->rep->kind;
		if (!have_last) {
			if (r.genesis && r.seq != 1)
				return av_verdict(v, AV_EDITED, &w, "%s:%llu begins "
				    "a chain but says seq %llu", av_name(v, w.file),
				    (unsigned long long)w.line,
				    (unsigned long long)r.seq);
			if (!r.genesis && !v->o->partial &&
			    av_earlier_file(v, &r, &w) != AV_OK)
				return v->rep->kind;
			if (!r.genesis && !v->o->partial)
				return av_verdict(v, AV_REMOVED, &w, "the log "
				    "begins at seq %llu (%s:%llu): records 1 to %llu "
				    "are missing (give the older files first, or "
				    "--partial for a log whose older files are gone)",
				    (unsigned long long)r.seq, av_name(v, w.file),
				    (unsigned long long)w.line,
				    (unsigned long long)r.seq - 1);
			v->rep->mid_chain = !r.genesis;
		} else if (!av_links(&b, &last)) {
			return av_classify(v, &last, &b, cur);
		}
		if (r.type == AREC_CHECKPOINT && av_signature(v, &r, p, &w) < 0)
			return v->rep->kind;
		if (r.has_key && av_learn(v, &r) < 0)
			return av_verdict(v, AV_EDITED, &w, "%s:%llu names a key "
			    "whose fingerprint is not its own",
			    av_name(v, w.file), (unsigned long long)w.line);
		av_count(v, &r, &w);
		av_ring_push(v, &b);
		last = b;
		have_last = true;
	}
	return av_end(v, &bad, have_last);
}

enum av_kind
av_verify(const struct av_file *files, size_t n, const struct av_opts *o,
    struct av_report *rep)
{
	struct av *v = calloc(1, sizeof(*v));
	enum av_kind k;

	memset(rep, 0, sizeof(*rep));
	if (v == NULL)
		return AV_USAGE;
	v->fs = files;
	v->nf = n;
	v->o = o;
	v->rep = rep;
	v->around = 1;
	for (size_t f = 0; f < n && v->around < KH_AUDIT_LOOKAROUND; f++)
		for (const uint8_t *p = files[f].data, *e = p + files[f].len;
		    p != NULL && p < e && v->around < KH_AUDIT_LOOKAROUND;
		    v->around++) {
			p = memchr(p, '\n', (size_t)(e - p));
			if (p != NULL)
				p++;
		}
	v->ring = calloc(v->around, sizeof(*v->ring));
	v->msg = malloc(sizeof(AUDIT_SIG_CONTEXT) + KH_AUDIT_LINE_MAX);
	v->md = EVP_MD_CTX_new();
	v->given = calloc(o->npub + 1, sizeof(*v->given));
	if (v->ring == NULL || v->msg == NULL || v->md == NULL ||
	    v->given == NULL) {
		k = av_verdict(v, AV_USAGE, NULL, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < o->npub; i++) {
		uint8_t h[AUDIT_HASH_LEN];
		av_sha256(v, o->pub[i], AUDIT_PUBKEY_LEN, h);
		memcpy(v->given[i].fp, h, AUDIT_FP_LEN);
		memcpy(v->given[i].pub, o->pub[i], AUDIT_PUBKEY_LEN);
	}
	v->ngiven = o->npub;
	rep->keys_given = o->npub > 0;
	k = av_run(v);
out:
	EVP_MD_CTX_free(v->md);
	free(v->given);
	free(v->msg);
	free(v->ring);
	free(v);
	return k;
}
