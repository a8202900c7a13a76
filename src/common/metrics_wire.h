/*
 * The child's own counters, sent with every scrape (MSG_METRICS, wire.h):
 * u8 n = KH_METRICS_CHILD_N, then n u64 in this order.  Only the child
 * sees these events (its connection table, its queue); the parent prints
 * them as the child reports them: a compromised child can invent them
 * (SECURITY.md, "Metrics").  They start at 0 with each child.
 */
#ifndef KH_METRICS_WIRE_H
#define KH_METRICS_WIRE_H

enum metrics_child_field {
	MC_CONNS_OPEN = 0,	/* client connections held now */
	MC_CONNS_ACCEPTED,	/* accepted since the child started */
	MC_CONNS_REFUSED,	/* refused 503 (all busy, per-peer cap, draining) */
	MC_CONNS_EVICTED,	/* closed to make room for a newer one */
	MC_PENDING,		/* requests sent to the parent, not answered:
				 * the bridge's queue depth (--max-inflight) */
	MC_QUEUE_KEPT,		/* queue_v1 answers kept for a full disk */
	KH_METRICS_CHILD_N
};

#endif
