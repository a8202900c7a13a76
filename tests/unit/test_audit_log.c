/*
 * The audit log end to end in one process: the parent's writer
 * (src/priv/audit*.c, driven as serve.c drives it) makes real logs, which
 * are then tampered with every way issue 17 names, and the verifier
 * (src/audit/audit_verify.c, what `keyhole audit verify` runs) must name
 * each: edited, removed, inserted, reordered, truncated after the last
 * checkpoint, signature invalid, files out of order; and accept what
 * keyhole itself does (a restart, a rotation, a line a crash cut short,
 * followed by its recover record).  Each test is named after the
 * property it guards.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "audit_int.h"
#include "audit_record.h"
#include "audit_verify.h"
#include "kh_test.h"
#include "log.h"

static char dir[256], logpath[300], keypath[300], key2path[300];
static uint8_t pub1[AUDIT_PUBKEY_LEN], pub2[AUDIT_PUBKEY_LEN];
static struct kh_config cfg;
static struct parent par;
static struct kh_gen gen0;		/* generation 0: the policy's digest */
static const char policy[] = "allow GET /a\nallow POST /b/*\n";

/* An Ed25519 key in PEM at path (0600); its raw public key. */
static void
make_key(const char *path, uint8_t pub[AUDIT_PUBKEY_LEN])
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	size_t len = AUDIT_PUBKEY_LEN;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FILE *f = fdopen(fd, "w");

	CHECK(pk != NULL && f != NULL);
	CHECK_EQ_INT(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	CHECK_EQ_INT(EVP_PKEY_get_raw_public_key(pk, pub, &len), 1);
	EVP_PKEY_free(pk);
}

static void
writer_open(uint32_t ckpt_records, uint64_t max_bytes)
{
	memset(&par, 0, sizeof(par));
	cfg.audit_log = logpath;
	cfg.audit_key = keypath;
	cfg.audit_ckpt_records = ckpt_records;
	cfg.audit_ckpt_secs = 3600;
	cfg.audit_max_bytes = max_bytes;
	cfg.upstream = "http://127.0.0.1:9";
	cfg.policy_file = "t.policy";
	par.cfg = &cfg;
	par.base = event_base_new();
	par.gen = &gen0;
	sha256(policy, sizeof(policy) - 1, gen0.sha256);
	CHECK_EQ_INT(audit_open(&par), 0);
}

/* One forwarded request and one the child refused, as answer.c and
 * monitor.c report them. */
static void
writer_requests(int n)
{
	for (int i = 0; i < n; i++) {
		struct up_req r;
		uint8_t sha[32];
		char body[32];
		memset(&r, 0, sizeof(r));
		r.id = (uint64_t)i + 1;
		strcpy(r.method, i % 2 ? "POST" : "GET");
		snprintf(r.path, sizeof(r.path), i % 2 ? "/b/%d" : "/a", i);
		strcpy(r.peer, "127.0.0.1:4000");
		r.rule_line = i % 2 ? 2 : 1;
		r.sent = true;
		r.status = 200;
		snprintf(body, sizeof(body), "{\"n\":%d}", i);
		r.body = (uint8_t *)body;
		r.body_len = strlen(body);
		sha256("{}", 2, sha);
		audit_forwarded(&r, UP_OK, 200, 2, sha);
		struct relay_record a;
		memset(&a, 0, sizeof(a));
		a.peer = "127.0.0.1:4001";
		a.method = "GET";
		a.path = "/nope";
		a.reason = "Route not allowed: GET /nope";
		a.peer_len = strlen(a.peer);
		a.method_len = 3;
		a.path_len = 5;
		a.reason_len = strlen(a.reason);
		a.status = 403;
		a.bytes_out = 54;
		audit_child(&gen0, &a);
		/* the end of the turn: the flush (and a checkpoint when
		 * --audit-checkpoint-records are due) */
		CHECK_EQ_INT(event_base_loop(par.base, EVLOOP_NONBLOCK), 0);
	}
	CHECK(!audit_failing());
}

/* As after kill -9: nothing more is written, nothing closed properly. */
static void
writer_crash(void)
{
	struct event **evs[] = { &audit_g.flush_ev, &audit_g.retry_ev,
	    &audit_g.ckpt_ev, &audit_g.usr1_ev, &audit_g.sync_ev };

	audit_g.on = false;
	close(audit_g.fd);
	close(audit_g.dirfd);
	audit_key_free(&audit_g.key);
	free(audit_g.buf.p);
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (*evs[i] != NULL)
			event_free(*evs[i]);
	event_base_free(par.base);
}

static void
writer_close(void)
{
	audit_close("test", 0);
	event_base_free(par.base);
}

/* A file's bytes (malloc'd), *n its length. */
static uint8_t *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b = malloc(1 << 22);
	*n = f != NULL ? fread(b, 1, 1 << 22, f) : 0;
	if (f != NULL)
		fclose(f);
	return b;
}

/* Lines of a buffer (pointers into it, each with its '\n'). */
struct lines {
	const uint8_t *p[4096];
	size_t n[4096];
	size_t count;
};

static void
split(const uint8_t *b, size_t len, struct lines *l)
{
	size_t off = 0;

	l->count = 0;
	while (off < len && l->count < 4096) {
		const uint8_t *e = memchr(b + off, '\n', len - off);
		size_t n = e ? (size_t)(e - (b + off)) + 1 : len - off;
		l->p[l->count] = b + off;
		l->n[l->count++] = n;
		off += n;
	}
}

/* Join lines idx[0..k) into out; returns the length. */
static size_t
join(const struct lines *l, const int *idx, size_t k, uint8_t *out)
{
	size_t off = 0;

	for (size_t i = 0; i < k; i++) {
		memcpy(out + off, l->p[idx[i]], l->n[idx[i]]);
		off += l->n[idx[i]];
	}
	return off;
}

static enum av_kind
verify1(const uint8_t *b, size_t n, const uint8_t *pub, bool partial,
    struct av_report *rep)
{
	struct av_file f = { "log", b, n };
	const uint8_t (*keys)[AUDIT_PUBKEY_LEN] =
	    (const uint8_t (*)[AUDIT_PUBKEY_LEN])pub;
	struct av_opts o = { keys, pub != NULL ? 1 : 0, partial };

	return av_verify(&f, 1, &o, rep);
}

/* Which line (1-based) holds the first checkpoint, the last one. */
static int
find_type(const struct lines *l, const char *type, bool last)
{
	int found = -1;

	for (size_t i = 0; i < l->count; i++)
		if (memmem(l->p[i], l->n[i], type, strlen(type)) != NULL) {
			found = (int)i;
			if (!last)
				break;
		}
	return found;
}

/* Rewrite the prev field of line i (its 64 hex digits) to h. */
static void
set_prev(uint8_t *line, size_t n, const uint8_t h[32])
{
	uint8_t *p = memmem(line, n, "\"prev\":\"", 8);
	char hex[65];

	CHECK(p != NULL);
	hex_lower(h, 32, hex);
	memcpy(p + 8, hex, 64);
}

static void
audit_log_of_two_runs_verifies(void)
{
	struct av_report rep;
	uint8_t *b;
	size_t n;

	unlink(logpath);
	writer_open(1000, 0);
	writer_requests(3);
	writer_close();
	writer_open(1000, 0);		/* a restart continues the chain */
	writer_requests(2);
	writer_close();
	b = slurp(logpath, &n);
	CHECK_EQ_INT(verify1(b, n, pub1, false, &rep), AV_OK);
	CHECK_EQ_INT(rep.runs, 2);
	CHECK_EQ_INT(rep.forwarded, 5);
	CHECK_EQ_INT(rep.refused_child, 5);
	CHECK_EQ_INT(rep.recoveries, 0);
	CHECK(rep.ckpt_final);
	/* without --pubkey: the key the log names */
	CHECK_EQ_INT(verify1(b, n, NULL, false, &rep), AV_OK);
	CHECK(!rep.keys_given);
	/* with another key: every checkpoint is by a key not given */
	CHECK_EQ_INT(verify1(b, n, pub2, false, &rep), AV_SIGNATURE);
	free(b);
}

static void
each_tampering_kind_is_named(void)
{
	struct av_report rep;
	struct lines l;
	uint8_t *b, *t = malloc(1 << 22);
	size_t n, tn;
	int idx[4096], k;

	unlink(logpath);
	writer_open(4, 0);		/* a checkpoint every 4 records */
	writer_requests(6);
	writer_close();
	b = slurp(logpath, &n);
	split(b, n, &l);
	CHECK(l.count > 16);
	CHECK_EQ_INT(verify1(b, n, pub1, false, &rep), AV_OK);

	/* edited: one byte of line 4 (a request) */
	memcpy(t, b, n);
	t[l.p[3] - b + 40] ^= 1;
	CHECK_EQ_INT(verify1(t, n, pub1, false, &rep), AV_EDITED);
	CHECK_EQ_INT(rep.where.line, 4);

	/* removed: line 5 */
	k = 0;
	for (size_t i = 0; i < l.count; i++)
		if (i != 4)
			idx[k++] = (int)i;
	tn = join(&l, idx, (size_t)k, t);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_REMOVED);
	CHECK_EQ_INT(rep.where.line, 5);

	/* inserted: a copy of line 3 after line 6 */
	k = 0;
	for (size_t i = 0; i < l.count; i++) {
		idx[k++] = (int)i;
		if (i == 5)
			idx[k++] = 2;
	}
	tn = join(&l, idx, (size_t)k, t);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_INSERTED);
	CHECK_EQ_INT(rep.where.line, 7);

	/* inserted: a forged record that links to line 4 as line 5 does */
	tn = join(&l, (int[]){ 0, 1, 2, 3 }, 4, t);
	{
		uint8_t *fake = t + tn;
		memcpy(fake, l.p[4], l.n[4]);
		uint8_t *s = memmem(fake, l.n[4], "\"status\":", 9);
		CHECK(s != NULL);
		s[9] = s[9] == '2' ? '5' : '2';
		tn += l.n[4];
	}
	k = 0;
	for (size_t i = 4; i < l.count; i++)
		idx[k++] = (int)i;
	tn += join(&l, idx, (size_t)k, t + tn);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_INSERTED);
	CHECK_EQ_INT(rep.where.line, 5);

	/* inserted: a line that is no record at all */
	tn = join(&l, (int[]){ 0, 1, 2 }, 3, t);
	memcpy(t + tn, "hello\n", 6);
	tn += 6;
	k = 0;
	for (size_t i = 3; i < l.count; i++)
		idx[k++] = (int)i;
	tn += join(&l, idx, (size_t)k, t + tn);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_INSERTED);
	CHECK_EQ_INT(rep.where.line, 4);

	/* reordered: lines 5 and 6 swapped; and a record moved further */
	k = 0;
	for (size_t i = 0; i < l.count; i++)
		idx[k++] = i == 4 ? 5 : i == 5 ? 4 : (int)i;
	tn = join(&l, idx, (size_t)k, t);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_REORDERED);
	CHECK_EQ_INT(rep.where.line, 5);
	k = 0;
	for (size_t i = 0; i < l.count; i++) {
		if (i == 3)
			continue;
		idx[k++] = (int)i;
		if (i == 7)
			idx[k++] = 3;
	}
	tn = join(&l, idx, (size_t)k, t);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_REORDERED);

	/* truncated: the final checkpoint gone; everything after an earlier
	 * checkpoint gone */
	k = 0;
	for (size_t i = 0; i + 1 < l.count; i++)
		idx[k++] = (int)i;
	tn = join(&l, idx, (size_t)k, t);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_TRUNCATED);
	int c1 = find_type(&l, "\"type\":\"checkpoint\"", false);
	CHECK(c1 > 0 && (size_t)c1 + 3 < l.count);
	k = 0;
	for (int i = 0; i <= c1; i++)
		idx[k++] = i;
	tn = join(&l, idx, (size_t)k, t);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_TRUNCATED);
	CHECK_EQ_INT(rep.where.line, c1 + 1);
	CHECK(strstr(rep.why, "not the final one") != NULL);

	/* removed from the start: the log must begin a chain, unless
	 * --partial */
	k = 0;
	for (size_t i = 1; i < l.count; i++)
		idx[k++] = (int)i;
	tn = join(&l, idx, (size_t)k, t);
	CHECK_EQ_INT(verify1(t, tn, pub1, false, &rep), AV_REMOVED);
	CHECK_EQ_INT(verify1(t, tn, pub1, true, &rep), AV_OK);
	CHECK(rep.mid_chain);

	/* signature: line 4 edited and every later prev rewritten, so the
	 * chain holds again: only the checkpoint's signature catches it */
	memcpy(t, b, n);
	split(t, n, &l);
	{
		uint8_t *s = memmem((uint8_t *)l.p[3], l.n[3], ":4000\"", 6);
		CHECK(s != NULL);
		s[4] = '9';	/* the peer's port: same length */
		for (size_t i = 4; i < l.count; i++) {
			uint8_t h[32];
			sha256(l.p[i - 1], l.n[i - 1] - 1, h);
			set_prev((uint8_t *)l.p[i], l.n[i], h);
		}
	}
	CHECK_EQ_INT(verify1(t, n, pub1, false, &rep), AV_SIGNATURE);
	CHECK_EQ_INT(rep.where.line, find_type(&l, "\"type\":\"checkpoint\"",
	    false) + 1);
	/* the signature's own bytes */
	memcpy(t, b, n);
	split(b, n, &l);
	c1 = find_type(&l, "\"type\":\"checkpoint\"", false);
	{
		uint8_t *ch = &t[(l.p[c1] - b) + l.n[c1] - 30];
		*ch = *ch == 'A' ? 'B' : 'A';
	}
	CHECK_EQ_INT(verify1(t, n, pub1, false, &rep), AV_SIGNATURE);
	CHECK_EQ_INT(rep.where.line, c1 + 1);
	free(b);
	free(t);
}

static void
rotation_continues_the_chain_across_files(void)
{
	struct av_report rep;
	struct av_file f[2];
	struct av_opts o = { (const uint8_t (*)[AUDIT_PUBKEY_LEN])pub1, 1,
	    false };
	char rotated[320];
	uint8_t *a, *b;
	size_t an, bn;

	unlink(logpath);
	writer_open(1000, 0);
	writer_requests(3);
	snprintf(rotated, sizeof(rotated), "%s.%012llu", logpath, 1ULL);
	audit_file_rotate(true);	/* what --audit-max-bytes does */
	writer_requests(2);
	writer_close();
	a = slurp(rotated, &an);
	b = slurp(logpath, &bn);
	CHECK(an > 0 && bn > 0);
	CHECK(memmem(b, 200, "\"event\":\"rotate\"", 16) != NULL ||
	    memmem(b, 400, "\"event\":\"rotate\"", 16) != NULL);
	f[0] = (struct av_file){ rotated, a, an };
	f[1] = (struct av_file){ logpath, b, bn };
	CHECK_EQ_INT(av_verify(f, 2, &o, &rep), AV_OK);
	CHECK_EQ_INT(rep.forwarded, 5);
	/* out of order */
	f[0] = (struct av_file){ logpath, b, bn };
	f[1] = (struct av_file){ rotated, a, an };
	CHECK_EQ_INT(av_verify(f, 2, &o, &rep), AV_FILES);
	/* the newer file alone: its chain began earlier */
	CHECK_EQ_INT(av_verify(&f[0], 1, &o, &rep), AV_REMOVED);
	o.partial = true;
	CHECK_EQ_INT(av_verify(&f[0], 1, &o, &rep), AV_OK);
	/* the older alone: closed by a checkpoint, but not the final one */
	o.partial = false;
	CHECK_EQ_INT(av_verify(&f[1], 1, &o, &rep), AV_TRUNCATED);
	/* a file missing between two others */
	unlink(rotated);
	free(a);
	free(b);
}

static void
a_line_cut_by_a_crash_is_kept_and_recovered(void)
{
	static const char torn[] = "{\"v\":1,\"seq\":99,\"time\":\"20";
	struct av_report rep;
	uint8_t *b;
	size_t n;
	int fd;

	unlink(logpath);
	writer_open(1000, 0);
	writer_requests(2);
	/* keyhole dies in the middle of a write: no final checkpoint, the
	 * last line without its end */
	CHECK_EQ_INT(audit_flush_now(true), 0);
	fd = open(logpath, O_WRONLY | O_APPEND);
	CHECK_EQ_INT(write(fd, torn, sizeof(torn) - 1), sizeof(torn) - 1);
	close(fd);
	writer_crash();
	b = slurp(logpath, &n);
	CHECK_EQ_INT(verify1(b, n, pub1, false, &rep), AV_TRUNCATED);
	CHECK(strstr(rep.why, "cut short") != NULL);
	free(b);
	/* the restart keeps the line and says what it was */
	writer_open(1000, 0);
	writer_requests(1);
	writer_close();
	b = slurp(logpath, &n);
	CHECK_EQ_INT(verify1(b, n, pub1, false, &rep), AV_OK);
	CHECK_EQ_INT(rep.recoveries, 1);
	CHECK_EQ_INT(rep.recover[0].torn_bytes, sizeof(torn) - 1);
	CHECK(memmem(b, n, torn, sizeof(torn) - 1) != NULL);
	/* the kept line changed afterwards: no longer what the record says */
	uint8_t *p = memmem(b, n, torn, sizeof(torn) - 1);
	p[20] ^= 1;
	CHECK_EQ_INT(verify1(b, n, pub1, false, &rep), AV_EDITED);
	free(b);
}

static void
a_file_keyhole_did_not_write_is_not_resumed(void)
{
	int fd;

	unlink(logpath);
	fd = open(logpath, O_WRONLY | O_CREAT, 0600);
	CHECK_EQ_INT(write(fd, "not a record\n", 13), 13);
	close(fd);
	memset(&par, 0, sizeof(par));
	par.cfg = &cfg;
	par.base = event_base_new();
	par.gen = &gen0;
	sha256(policy, sizeof(policy) - 1, gen0.sha256);
	CHECK_EQ_INT(audit_open(&par), -1);
	audit_key_free(&audit_g.key);
	if (audit_g.fd >= 0)
		close(audit_g.fd);
	if (audit_g.dirfd >= 0)
		close(audit_g.dirfd);
	audit_g.on = false;
	event_base_free(par.base);
	/* a key file others may read is refused, as the credential is */
	unlink(logpath);
	chmod(keypath, 0640);
	memset(&par, 0, sizeof(par));
	par.cfg = &cfg;
	par.base = event_base_new();
	par.gen = &gen0;
	sha256(policy, sizeof(policy) - 1, gen0.sha256);
	CHECK_EQ_INT(audit_open(&par), -1);
	chmod(keypath, 0600);
	event_base_free(par.base);
}

static void
records_are_parsed_strictly(void)
{
	static const char *bad[] = {
		"{\"v\":1,\"seq\":1,\"seq\":1}",
		"{\"v\":2,\"seq\":1,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"event\",\"event\":\"x\"}",
		"{\"v\":1,\"seq\":01,\"time\":\"t\"}",
		"{\"v\":1,\"seq\":1,\"time\":\"t\",\"run\":\"0000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"event\",\"event\":\"x\"}",
		"{\"v\":1,\"seq\":1,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"000000000000000000000000000000000000000000000000000000000000000A\",\"type\":\"event\",\"event\":\"x\"}",
		"{\"v\":1,\"seq\":2,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"checkpoint\",\"key\":\"00000000000000000000000000000000\",\"records\":1,\"sig\":\"AAAA\",\"final\":true}",
		"{\"v\":1,\"seq\":3,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"event\",\"event\":\"recover\",\"tornBytes\":5,\"tornSha256\":null}",
		"{\"v\":1,\"seq\":1,\"time\":\"t\"} ",
		/* a public key in base64 that is not canonical: the bits the
		 * padding leaves unused are set; a character outside the
		 * alphabet */
		"{\"v\":1,\"seq\":1,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"event\",\"event\":\"start\",\"key\":\"00000000000000000000000000000000\",\"pubkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\"}",
		"{\"v\":1,\"seq\":1,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"event\",\"event\":\"start\",\"key\":\"00000000000000000000000000000000\",\"pubkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-=\"}",
	};
	static const char good[] = "{\"v\":1,\"seq\":1,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"event\",\"event\":\"x\"}";
	struct arec r;
	const char *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(arec_parse((const uint8_t *)bad[i], strlen(bad[i]),
		    &r, &why), -1);
	CHECK_EQ_INT(arec_parse((const uint8_t *)good, strlen(good), &r,
	    &why), 0);
	CHECK(r.genesis);
	static const char good_start[] = "{\"v\":1,\"seq\":1,\"time\":\"t\",\"run\":\"00000000000000000000000000000000\",\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"type\":\"event\",\"event\":\"start\",\"key\":\"00000000000000000000000000000000\",\"pubkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}";
	CHECK_EQ_INT(arec_parse((const uint8_t *)good_start,
	    strlen(good_start), &r, &why), 0);
	CHECK(r.has_key);
	/* a NUL inside */
	char nul[sizeof(good)];
	memcpy(nul, good, sizeof(good));
	nul[30] = '\0';
	CHECK_EQ_INT(arec_parse((const uint8_t *)nul, sizeof(good) - 1, &r,
	    &why), -1);
}

int
main(void)
{
	char tmpl[] = "/tmp/kh-audit-unit-XXXXXX";

	log_init("test", NULL);
	log_set_verbosity(LOG_ERROR);
	CHECK(mkdtemp(tmpl) != NULL);
	chmod(tmpl, 0700);
	snprintf(dir, sizeof(dir), "%s", tmpl);
	snprintf(logpath, sizeof(logpath), "%s/audit.log", dir);
	snprintf(keypath, sizeof(keypath), "%s/key.pem", dir);
	snprintf(key2path, sizeof(key2path), "%s/key2.pem", dir);
	make_key(keypath, pub1);
	make_key(key2path, pub2);

	audit_log_of_two_runs_verifies();
	each_tampering_kind_is_named();
	rotation_continues_the_chain_across_files();
	a_line_cut_by_a_crash_is_kept_and_recovered();
	a_file_keyhole_did_not_write_is_not_resumed();
	records_are_parsed_strictly();

	unlink(logpath);
	unlink(keypath);
	unlink(key2path);
	rmdir(dir);
	TEST_DONE();
}
