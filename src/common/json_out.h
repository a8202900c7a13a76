/*
 * keyhole's JSON output (json_out.c), for every JSON text keyhole writes
 * itself: error bodies (paperclip.c), queue_v1 files (qcodec.c), ready
 * files (ready_file.c).  Writing only: keyhole's JSON input is checked by
 * src/check/json_check.c and parsed in src/parse/.
 */
#ifndef KH_JSON_OUT_H
#define KH_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>

/* Append n bytes of s at out[*off] when they fit in cap - 1 (a NUL's
 * room kept); *off advances by n whether they fit or not, so a first pass
 * with out NULL and cap 0 measures. */
void json_put(char *out, size_t cap, size_t *off, const char *s, size_t n);
/* s[0..n) as a JSON string literal with its quotes, escaped as
 * cJSON_PrintUnformatted escapes: '"', '\\', \b \f \n \r \t, any other
 * byte below 0x20 as \u00xx, every other byte as it is (the caller gives
 * valid UTF-8).  Written and measured as json_put does. */
void json_put_str(char *out, size_t cap, size_t *off, const char *s,
    size_t n);

/* "2026-05-01T12:34:56.789Z" for a CLOCK_REALTIME time, with no time
 * zone file (glibc's gmtime opens /etc/localtime on first use, which the
 * child may not). */
#define JSON_ISO_LEN 48
void json_iso8601(int64_t sec, long nsec, char out[JSON_ISO_LEN]);
/* The current time in that form. */
void json_iso8601_now(char out[JSON_ISO_LEN]);

#endif
