/*
 * bench/floor/sync.c: what the audit log's crash safety costs at the
 * least on a given file system (bench/floor.sh): one record-sized
 * write() and one fdatasync(), as the audit log does for a mutation no
 * other answer shares.  Prints CPU us and wall us per record.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	char rec[600];
	struct rusage a, b;
	struct timespec t0, t1;
	int n = argc > 2 ? atoi(argv[2]) : 500;
	int fd;

	if (argc < 2 || n <= 0)
		return 2;
	fd = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	memset(rec, 'r', sizeof(rec));
	rec[sizeof(rec) - 1] = '\n';
	getrusage(RUSAGE_SELF, &a);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		if (write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec) ||
		    fdatasync(fd) < 0)
			return 1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &b);
	close(fd);
	unlink(argv[1]);
	double cpu = (b.ru_utime.tv_sec - a.ru_utime.tv_sec) * 1e6 +
	    (b.ru_utime.tv_usec - a.ru_utime.tv_usec) +
	    (b.ru_stime.tv_sec - a.ru_stime.tv_sec) * 1e6 +
	    (b.ru_stime.tv_usec - a.ru_stime.tv_usec);
	double wall = (t1.tv_sec - t0.tv_sec) * 1e6 +
	    (t1.tv_nsec - t0.tv_nsec) / 1e3;
	printf("%.1f %.1f\n", cpu / n, wall / n);
	return 0;
}
