/*
 * The READY line keyhole-gateway writes on stdout in http2_v1 mode, once
 * its agent listener is bound and before the HTTP/2 preface
 * (gateway_ready.c).  Exactly Paperclip's bytes (sandbox-callback-
 * bridge.js gen:78-82, 686: JSON.stringify of the frame and "\n"):
 *
 *   {"version":2,"type":"ready","nonce":"<PAPERCLIP_BRIDGE_NONCE>"}\n
 *
 * no spaces, this key order, LF only.  The nonce is taken only when it is
 * printable ASCII (0x20..0x7e) of at most KH_GW_NONCE_MAX bytes: then
 * JSON.stringify escapes only '"' and '\\', and so does this writer.
 */
#ifndef KH_GATEWAY_READY_H
#define KH_GATEWAY_READY_H

#include <stdbool.h>
#include <stddef.h>

#include "kh_limits.h"

/* The longest line: the frame around a nonce of KH_GW_NONCE_MAX bytes
 * that all need an escape, its LF and a NUL. */
#define GW_READY_LINE_MAX (48 + 2 * KH_GW_NONCE_MAX)

/* The nonce may go into a READY line. */
bool gw_nonce_ok(const char *nonce, size_t len);
/* The line, NUL-terminated, into out[cap]; its length (LF included), or
 * 0 when the nonce is refused or cap is short. */
size_t gw_ready_line(const char *nonce, size_t len, char *out, size_t cap);

#endif
