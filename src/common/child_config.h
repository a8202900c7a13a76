/*
 * keyhole child configuration: the payload of MSG_CONFIG, the first frame
 * the parent sends a freshly exec'd child (which has an empty environment
 * and a fixed argv, so everything it needs arrives here).
 *
 * Payload (integers big-endian, str as in wire.h), in this order:
 *   u32 max_conns, u32 max_inflight, u32 max_head, u32 max_headers,
 *   u64 max_body, u32 head_timeout_ms, u32 body_timeout_ms,
 *   u32 idle_timeout_ms, u32 write_timeout_ms, u32 body_min_rate
 *   (bytes/s, 0 = off), u8 nlisteners,
 *   u8 drop_user, u32 uid, u32 gid,   setresgid/setresuid when drop_user
 *   u8 do_chroot, str chroot_dir,     chroot when do_chroot
 *   str token                         the bridge token (NOT the credential:
 *                                     the sandbox holds it anyway)
 *   str policy_name                   the policy's file name, for messages
 */
#ifndef KH_CHILD_CONFIG_H
#define KH_CHILD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "kh_limits.h"
#include "wire.h"

#define KH_LISTENERS_MAX  8u
#define KH_CHILD_FD_PARENT 3	/* socketpair end */
#define KH_CHILD_FD_POLICY 4	/* policy text, read to EOF then closed */
#define KH_CHILD_FD_LISTEN 5	/* first listening socket */

struct child_config {
	uint32_t max_conns;
	uint32_t max_inflight;
	uint32_t max_head;
	uint32_t max_headers;
	uint64_t max_body;
	uint32_t head_timeout_ms;
	uint32_t body_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t write_timeout_ms;
	uint32_t body_min_rate;
	uint8_t nlisteners;
	bool drop_user;
	uint32_t uid;
	uint32_t gid;
	bool do_chroot;
	char chroot_dir[256];
	char token[KH_TOKEN_MAX + 1];
	size_t token_len;
	char policy_name[256];
};

void child_config_encode(const struct child_config *c, struct wbuf *w);
/* Returns 0 or -1 (malformed, or a value outside its limit). */
int child_config_decode(struct msg_reader *r, struct child_config *c);

#endif
