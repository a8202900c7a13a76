/*
 * bench/floor/curl.c: what Debian's libcurl costs as the upstream client
 * alone (bench/floor.sh URL).  DEPTH transfers of URL are kept in flight
 * on one multi handle over kept-alive connections, each easy handle
 * reused, as keyhole's parent does, with no event library, no checks, no frames and no log:
 * CPU us per request of this process, which is a floor under keyhole's
 * parent (which adds all of those) for the same request.
 *
 *   [FLOOR_AUTHORIZATION='Bearer ...'] curl URL REQUESTS DEPTH
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <curl/curl.h>

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static CURL *
transfer(CURL *e, const char *url, struct curl_slist *hdrs)
{
	if (e == NULL && (e = curl_easy_init()) == NULL)
		exit(1);
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	return e;
}

int
main(int argc, char **argv)
{
	long total, started = 0, done = 0;
	int depth, running, left;
	struct curl_slist *hdrs = NULL;
	struct rusage a, b;
	CURLM *m;
	CURLMsg *msg;

	if (argc != 4 || (total = atol(argv[2])) <= 0 ||
	    (depth = atoi(argv[3])) <= 0)
		return 2;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	m = curl_multi_init();
	/* The credential line keyhole's parent sends: FLOOR_AUTHORIZATION's
	 * value if set (for an upstream that checks it), else a stand-in. */
	char auth[512];
	const char *v = getenv("FLOOR_AUTHORIZATION");
	snprintf(auth, sizeof(auth), "authorization: %s",
	    v != NULL ? v : "Bearer floor-test");
	hdrs = curl_slist_append(hdrs, auth);
	hdrs = curl_slist_append(hdrs, "Expect:");
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)depth);
	getrusage(RUSAGE_SELF, &a);
	for (; started < depth && started < total; started++)
		curl_multi_add_handle(m, transfer(NULL, argv[1], hdrs));
	while (done < total) {
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			if (msg->data.result != CURLE_OK) {
				fprintf(stderr, "curl: %s\n",
				    curl_easy_strerror(msg->data.result));
				return 1;
			}
			CURL *e = msg->easy_handle;
			curl_multi_remove_handle(m, e);
			done++;
			if (started < total) {
				curl_multi_add_handle(m, transfer(e, argv[1], hdrs));
				started++;
			} else {
				curl_easy_cleanup(e);
			}
		}
		if (done < total)
			curl_multi_poll(m, NULL, 0, 1000, NULL);
	}
	getrusage(RUSAGE_SELF, &b);
	double us = (b.ru_utime.tv_sec - a.ru_utime.tv_sec) * 1e6 +
	    (b.ru_utime.tv_usec - a.ru_utime.tv_usec) +
	    (b.ru_stime.tv_sec - a.ru_stime.tv_sec) * 1e6 +
	    (b.ru_stime.tv_usec - a.ru_stime.tv_usec);
	printf("%.2f\n", us / (double)total);
	curl_multi_cleanup(m);
	curl_slist_free_all(hdrs);
	return 0;
}
