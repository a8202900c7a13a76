/*
 * keyhole-net: who gets a connection slot.
 *
 * The table holds cfg.max_conns connections.  A client that opens
 * connections and then sends nothing, or a head one byte at a time,
 * costs keyhole a slot each; a table full of those used to lock every
 * other client out (503) until the head deadline.  So a new connection
 * takes the place of one that is only waiting, in this order (each tier
 * oldest first, as it entered the tier):
 *
 *   CT_HEAD     waiting for a head: nothing yet, or part of one.  The
 *               one that has waited longest is the slowest.
 *   CT_CLOSING  answered and lingering before close (conn.c): the answer
 *               is out, the wait only guards it against a reset.
 *   CT_IDLE     kept alive between requests: the client may send again,
 *               or never; it reconnects if it was closed.
 *
 * A connection with a request in progress (body, upstream, response) is
 * never evicted: the body has a deadline and a minimum rate, the upstream
 * a timeout, the response a write deadline.  Only when every slot is busy
 * like that is a new connection refused (503, closed).
 *
 * Per peer (TCP: the client's IP address, port ignored), at most
 * cfg.max_conns_per_peer connections (0 = no cap).  A peer at its cap
 * makes room among its own connections the same way, so one peer cannot
 * hold the whole table with requests in progress, and once at its cap it
 * takes the place of its own connections, never another peer's.  Unix-socket
 * clients have no address: every one is the same peer, and the cap does
 * not apply to them (SECURITY.md).
 *
 * Refusals and evictions are counted and reported as one log line per
 * KH_CONN_REPORT_MS: a flood must not become a flood of log lines.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "http_write.h"
#include "log.h"
#include "net.h"

struct conn_peer {
	struct conn_peer *next;		/* hash chain */
	uint8_t addr[16];		/* IPv4 in the first 4 bytes */
	sa_family_t family;
	uint32_t nconns;
	struct conn_q q[CT_END];	/* its evictable connections */
};

/* ------------------------------------------------------------------ */
/* Queues: intrusive doubly linked lists, one pair of links per queue
 * kind (net-wide: tprev/tnext; per peer: pprev/pnext). */

static void
conn_q_push(struct conn_q *q, struct conn *c, bool peer)
{
	struct conn **prev = peer ? &c->pprev : &c->tprev;
	struct conn **next = peer ? &c->pnext : &c->tnext;

	*prev = q->tail;
	*next = NULL;
	if (q->tail != NULL)
		*(peer ? &q->tail->pnext : &q->tail->tnext) = c;
	else
		q->head = c;
	q->tail = c;
}

static void
conn_q_remove(struct conn_q *q, struct conn *c, bool peer)
{
	struct conn *prev = peer ? c->pprev : c->tprev;
	struct conn *next = peer ? c->pnext : c->tnext;

	if (prev != NULL)
		*(peer ? &prev->pnext : &prev->tnext) = next;
	else
		q->head = next;
	if (next != NULL)
		*(peer ? &next->pprev : &next->tprev) = prev;
	else
		q->tail = prev;
	if (peer)
		c->pprev = c->pnext = NULL;
	else
		c->tprev = c->tnext = NULL;
}

static enum conn_tier
conn_tier_of(const struct conn *c)
{
	switch (c->phase) {
	case PH_IDLE:
		return c->nrequests == 0 ? CT_HEAD : CT_IDLE;
	case PH_HEAD:
		return CT_HEAD;
	case PH_CLOSING:
		return CT_CLOSING;
	default:
		return CT_NONE;
	}
}

void
conn_admit_tier(struct conn *c)
{
	struct conn_admit *a = &c->net->admit;
	enum conn_tier t = conn_tier_of(c);

	if (t == c->tier)
		return;		/* keeps its place: still as old */
	if (c->tier != CT_NONE) {
		conn_q_remove(&a->q[c->tier], c, false);
		if (c->peer_ent != NULL)
			conn_q_remove(&c->peer_ent->q[c->tier], c, true);
	}
	c->tier = t;
	if (t != CT_NONE) {
		conn_q_push(&a->q[t], c, false);
		if (c->peer_ent != NULL)
			conn_q_push(&c->peer_ent->q[t], c, true);
	}
}

/* The connection to evict from q[] (a peer's or net's), or NULL. */
static struct conn *
conn_victim(const struct conn_q *q)
{
	static const enum conn_tier order[] = { CT_HEAD, CT_CLOSING, CT_IDLE };

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (q[order[i]].head != NULL)
			return q[order[i]].head;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Peers: a hash of addresses under a random key (SipHash-2-4), so no
 * client can choose addresses that collide. */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static void
conn_sipround(uint64_t v[4])
{
	v[0] += v[1]; v[1] = ROTL(v[1], 13); v[1] ^= v[0];
	v[0] = ROTL(v[0], 32);
	v[2] += v[3]; v[3] = ROTL(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = ROTL(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = ROTL(v[1], 17); v[1] ^= v[2];
	v[2] = ROTL(v[2], 32);
}

/* SipHash-2-4 of three 64-bit words (24 bytes). */
static uint64_t
conn_siphash(const uint64_t key[2], const uint64_t m[3])
{
	uint64_t v[4] = {
		key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
		key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL,
	};
	uint64_t last = (uint64_t)24 << 56;

	for (int i = 0; i < 3; i++) {
		v[3] ^= m[i];
		conn_sipround(v);
		conn_sipround(v);
		v[0] ^= m[i];
	}
	v[3] ^= last;
	conn_sipround(v);
	conn_sipround(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	for (int i = 0; i < 4; i++)
		conn_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* The peer key of sa; false for a Unix socket (no per-peer cap). */
static bool
conn_peer_key(const struct sockaddr *sa, uint8_t addr[16],
    sa_family_t *family)
{
	memset(addr, 0, 16);
	*family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static size_t
conn_peer_bucket(const struct conn_admit *a, const uint8_t addr[16],
    sa_family_t family)
{
	uint64_t m[3] = { 0, 0, family };

	memcpy(&m[0], addr, 8);
	memcpy(&m[1], addr + 8, 8);
	return (size_t)(conn_siphash(a->key, m) & (a->nbuckets - 1));
}

static int
conn_peers_init(struct net *n)
{
	struct conn_admit *a = &n->admit;
	size_t nb = 64;

	while (nb < n->cfg.max_conns / 2 && nb < 65536)
		nb *= 2;
	a->peers = calloc(nb, sizeof(*a->peers));
	if (a->peers == NULL)
		return -1;
	a->nbuckets = nb;
	if (getrandom(a->key, sizeof(a->key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(a->key)) {
		/* No entropy yet (early boot): the clock, which a client
		 * would have to guess to the nanosecond. */
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		a->key[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL;
		a->key[1] ^= (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)a;
	}
	return 0;
}

/* The entry of sa's peer, created if missing; NULL for a Unix socket,
 * when the cap is off, or out of memory (then: no per-peer accounting
 * for this connection, which only ever loosens the cap). */
static struct conn_peer *
conn_peer_get(struct net *n, const struct sockaddr *sa)
{
	struct conn_admit *a = &n->admit;
	struct conn_peer *p;
	uint8_t addr[16];
	sa_family_t fam;
	size_t b;

	if (n->cfg.max_conns_per_peer == 0 ||
	    !conn_peer_key(sa, addr, &fam))
		return NULL;
	if (a->peers == NULL && conn_peers_init(n) < 0)
		return NULL;
	b = conn_peer_bucket(a, addr, fam);
	for (p = a->peers[b]; p != NULL; p = p->next)
		if (p->family == fam && memcmp(p->addr, addr, 16) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	memcpy(p->addr, addr, 16);
	p->family = fam;
	p->next = a->peers[b];
	a->peers[b] = p;
	return p;
}

static void
conn_peer_put(struct net *n, struct conn_peer *p)
{
	struct conn_admit *a = &n->admit;
	struct conn_peer **pp;

	if (p->nconns > 0)
		return;
	for (pp = &a->peers[conn_peer_bucket(a, p->addr, p->family)];
	    *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	free(p);
}

/* ------------------------------------------------------------------ */
/* Counting instead of a line per connection. */

static void
conn_report(struct net *n, const char *when)
{
	struct conn_admit *a = &n->admit;
	uint64_t refused = 0, evicted = 0;

	for (int i = 0; i < CR_END; i++)
		refused += a->refused[i];
	for (int i = 0; i < CT_END; i++)
		evicted += a->evicted[i];
	if (refused == 0 && evicted == 0)
		return;
	log_warn("connections %s: %llu evicted to make room (waiting for "
	    "a head %llu, lingering %llu, kept-alive idle %llu), %llu "
	    "refused with 503 (all busy %llu, per-peer cap %llu, shutting "
	    "down %llu); %zu open of %u", when,
	    (unsigned long long)evicted,
	    (unsigned long long)a->evicted[CT_HEAD],
	    (unsigned long long)a->evicted[CT_CLOSING],
	    (unsigned long long)a->evicted[CT_IDLE],
	    (unsigned long long)refused,
	    (unsigned long long)a->refused[CR_FULL],
	    (unsigned long long)a->refused[CR_PEER],
	    (unsigned long long)a->refused[CR_SHUTDOWN], n->nconns,
	    n->cfg.max_conns);
	memset(a->refused, 0, sizeof(a->refused));
	memset(a->evicted, 0, sizeof(a->evicted));
}

static void
conn_report_cb(evutil_socket_t fd, short what, void *arg)
{
	struct net *n = arg;
	struct conn_admit *a = &n->admit;
	uint64_t any = 0;

	(void)fd;
	(void)what;
	for (int i = 0; i < CR_END; i++)
		any |= a->refused[i];
	for (int i = 0; i < CT_END; i++)
		any |= a->evicted[i];
	if (any == 0)
		return;		/* quiet again: the next one reports at once */
	conn_report(n, "in the last interval");
	static const struct timeval tv = { KH_CONN_REPORT_MS / 1000,
	    (KH_CONN_REPORT_MS % 1000) * 1000 };
	evtimer_add(a->report_ev, &tv);
}

/* Something was counted: the first of a burst is reported at once, the
 * rest when the interval ends. */
static void
conn_counted(struct net *n)
{
	struct conn_admit *a = &n->admit;
	static const struct timeval tv = { KH_CONN_REPORT_MS / 1000,
	    (KH_CONN_REPORT_MS % 1000) * 1000 };

	if (a->report_ev == NULL) {
		a->report_ev = evtimer_new(n->base, conn_report_cb, n);
		if (a->report_ev == NULL)
			return;
	}
	if (evtimer_pending(a->report_ev, NULL))
		return;
	conn_report(n, "now");
	evtimer_add(a->report_ev, &tv);
}

void
conn_admit_refused(struct net *n, enum conn_refusal why)
{
	n->admit.refused[why]++;
	n->admit.refused_total[why]++;
	conn_counted(n);
}

void
conn_admit_report_now(struct net *n)
{
	conn_report(n, "since the last report");
}

/* ------------------------------------------------------------------ */
/* Refusals. */

/* The answer the child makes without a request: no slot, or shutting
 * down (paperclip.h; http_write.c makes it once). */
const char *
conn_503_text(enum conn_refusal why, size_t *len)
{
	return http_closing_answer(why == CR_SHUTDOWN ? PC_SHUTTING_DOWN :
	    PC_TOO_MANY_CONNS, len);
}

/*
 * A connection that gets no slot: read what the client has already sent
 * (so that close() sends FIN, not RST, which could destroy the answer),
 * answer 503, send FIN, close.  Best effort and never blocking: no slot,
 * no buffer, no timer.  Counted, not logged one by one.
 */
void
conn_refuse_fd(struct net *n, int fd, enum conn_refusal why)
{
	size_t rl;
	const char *r = conn_503_text(why, &rl);

	conn_drain_input(fd, KH_LINGER_BYTES);
	(void)send(fd, r, rl, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)shutdown(fd, SHUT_WR);
	close(fd);
	conn_admit_refused(n, why);
}

/* ------------------------------------------------------------------ */

static void
conn_evict(struct net *n, struct conn *v)
{
	n->admit.evicted[v->tier]++;
	n->admit.evicted_total[v->tier]++;
	conn_free(v);		/* nothing to answer: no request pending */
	conn_counted(n);
}

int
conn_admit(struct net *n, struct conn *c, const struct sockaddr *sa,
    enum conn_refusal *why)
{
	struct conn_peer *p = conn_peer_get(n, sa);
	struct conn *v;

	/* c's place at its peer is taken first, so evicting the peer's
	 * last other connection cannot free the entry under us. */
	if (p != NULL && ++p->nconns > n->cfg.max_conns_per_peer) {
		if ((v = conn_victim(p->q)) == NULL) {
			*why = CR_PEER;
			goto refuse;
		}
		conn_evict(n, v);
	}
	if (n->nconns >= n->cfg.max_conns) {
		if ((v = conn_victim(n->admit.q)) == NULL) {
			*why = CR_FULL;
			goto refuse;
		}
		conn_evict(n, v);
	}
	c->peer_ent = p;
	c->tier = CT_NONE;
	return 0;
refuse:
	if (p != NULL) {
		p->nconns--;
		conn_peer_put(n, p);
	}
	return -1;
}

void
conn_admit_release(struct conn *c)
{
	struct net *n = c->net;
	struct conn_admit *a = &n->admit;

	if (c->tier != CT_NONE) {
		conn_q_remove(&a->q[c->tier], c, false);
		if (c->peer_ent != NULL)
			conn_q_remove(&c->peer_ent->q[c->tier], c, true);
		c->tier = CT_NONE;
	}
	if (c->peer_ent != NULL) {
		c->peer_ent->nconns--;
		conn_peer_put(n, c->peer_ent);
		c->peer_ent = NULL;
	}
}

/* Everything conn_admit.c allocated for n (its connections are gone):
 * for tests/fuzz/fuzz_child_msgs.c, which builds a fresh net per input. */
void
conn_admit_free(struct net *n)
{
	struct conn_admit *a = &n->admit;

	if (a->resume_ev != NULL)
		event_free(a->resume_ev);
	if (a->report_ev != NULL)
		event_free(a->report_ev);
	if (a->trim_ev != NULL)
		event_free(a->trim_ev);
	for (size_t b = 0; b < a->nbuckets; b++)
		while (a->peers[b] != NULL) {
			struct conn_peer *p = a->peers[b];
			a->peers[b] = p->next;
			free(p);
		}
	free(a->peers);
	memset(a, 0, sizeof(*a));
}

/* ------------------------------------------------------------------ */
/* Accepting in turns: at most this many per turn of the event loop, so
 * the connections just accepted are read before a burst of new ones could
 * make them the oldest and evict them. */

static unsigned
conn_batch_max(const struct net *n)
{
	unsigned m = n->cfg.max_conns / 8;

	if (m > KH_ACCEPT_BATCH)
		m = KH_ACCEPT_BATCH;
	return m > 0 ? m : 1;
}

bool
conn_admit_batch_ok(struct net *n)
{
	return ++n->admit.batch < conn_batch_max(n);
}

void
conn_admit_batch_reset(struct net *n)
{
	n->admit.batch = 0;
}
