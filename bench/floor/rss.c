/*
 * bench/floor/rss.c: the resident memory a process has before it does
 * any work of its own (bench/floor.sh).  Built three ways: bare, linked
 * with Debian's libcurl (and so with everything libcurl needs), and
 * with libcurl initialised as keyhole initialises it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef WITH_CURL
#include <curl/curl.h>
#endif

static long
rss_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = atol(line + 6);
	fclose(f);
	return v;
}

int
main(void)
{
#ifdef WITH_CURL_INIT
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	CURLM *m = curl_multi_init();
	CURL *e = curl_easy_init();
	if (m == NULL || e == NULL)
		return 1;
#endif
	printf("%ld\n", rss_kib());
	return 0;
}
