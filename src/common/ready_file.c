/* keyhole's ready files: see ready_file.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json_out.h"
#include "ready_file.h"
#include "safefile.h"

/* "key": first, then the value as a JSON string. */
static void
ready_str(char *out, size_t cap, size_t *off, const char *key,
    const char *v)
{
	json_put(out, cap, off, ",\"", 2);
	json_put(out, cap, off, key, strlen(key));
	json_put(out, cap, off, "\":", 2);
	json_put_str(out, cap, off, v, strlen(v));
}

int
ready_file_write(int dfd, const char *name, const struct ready_info *r)
{
	char out[8192], num[64], url[128], when[JSON_ISO_LEN];
	size_t off = 0;
	int n;

	n = snprintf(num, sizeof(num), "{\"pid\":%ld", (long)getpid());
	json_put(out, sizeof(out), &off, num, (size_t)n);
	if (r->queue_dir != NULL) {
		ready_str(out, sizeof(out), &off, "queueDir", r->queue_dir);
		ready_str(out, sizeof(out), &off, "mode", "queue_v1");
	} else if (r->socket_path != NULL) {
		ready_str(out, sizeof(out), &off, "socketPath", r->socket_path);
		ready_str(out, sizeof(out), &off, "host", "localhost");
		json_put(out, sizeof(out), &off, ",\"port\":0", 9);
		ready_str(out, sizeof(out), &off, "baseUrl", "http://localhost");
	} else {
		ready_str(out, sizeof(out), &off, "host", r->host);
		n = snprintf(num, sizeof(num), ",\"port\":%u", r->port);
		json_put(out, sizeof(out), &off, num, (size_t)n);
		snprintf(url, sizeof(url), strchr(r->host, ':') != NULL ?
		    "http://[%s]:%u" : "http://%s:%u", r->host, r->port);
		ready_str(out, sizeof(out), &off, "baseUrl", url);
	}
	if (r->started_at == NULL)
		json_iso8601_now(when);
	ready_str(out, sizeof(out), &off, "startedAt",
	    r->started_at != NULL ? r->started_at : when);
	if (r->extra != NULL)
		json_put(out, sizeof(out), &off, r->extra, strlen(r->extra));
	json_put(out, sizeof(out), &off, "}\n", 2);
	if (off >= sizeof(out)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return dfd >= 0 ? safefile_replace_at(dfd, name, out, off, 0644) :
	    safefile_replace(name, out, off, 0644);
}
