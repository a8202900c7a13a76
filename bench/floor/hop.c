/*
 * bench/floor/hop.c: what one more process on a request's path costs at
 * the least (bench/floor.sh).  Two processes pass request-sized frames
 * one way and answer-sized frames back over a socketpair, each waiting
 * in epoll_wait and, as keyhole's parent and child do, reading all that
 * is there and writing one batch per wake-up.  DEPTH frames are in
 * flight at once (a client concurrency).  Prints the CPU time per round
 * trip, both processes together, with no parsing, policy or upstream
 * work at all: keyhole's two processes make this round trip once per
 * request on top of the work nginx also does.
 *
 *   hop ROUNDS DEPTH
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define REQ_BYTES 96
#define ANS_BYTES 380
#define DEPTH_MAX 256

static char buf[DEPTH_MAX * ANS_BYTES];

/* Side A sends requests and counts answers; side B answers each request
 * it reads.  Both read everything available per wake-up and answer it
 * with one write. */
static void
side(int fd, long rounds, int depth, int is_a)
{
	size_t in_sz = is_a ? ANS_BYTES : REQ_BYTES;
	size_t out_sz = is_a ? REQ_BYTES : ANS_BYTES;
	struct epoll_event ev = { .events = EPOLLIN }, got;
	int ep = epoll_create1(0);
	long sent = 0, done = 0;
	size_t partial = 0;

	memset(buf, 'x', sizeof(buf));
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		exit(1);
	if (is_a) {
		if (write(fd, buf, out_sz * depth) != (ssize_t)(out_sz * depth))
			exit(1);
		sent = depth;
	}
	while (done < rounds) {
		if (epoll_wait(ep, &got, 1, -1) != 1)
			exit(1);
		ssize_t r = read(fd, buf, sizeof(buf));
		if (r <= 0)
			exit(0);
		partial += (size_t)r;
		long k = (long)(partial / in_sz);
		partial %= in_sz;
		done += k;
		if (is_a) {
			long more = rounds - sent < k ? rounds - sent : k;
			if (more > 0 && write(fd, buf, out_sz * more) !=
			    (ssize_t)(out_sz * more))
				exit(1);
			sent += more;
		} else if (k > 0 && write(fd, buf, out_sz * k) !=
		    (ssize_t)(out_sz * k)) {
			exit(1);
		}
	}
}

static double
cpu_us(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec +
	    ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
}

int
main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 200000;
	int depth = argc > 2 ? atoi(argv[2]) : 1;
	int sv[2];
	pid_t pid;

	if (rounds <= 0 || depth <= 0 || depth > DEPTH_MAX ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 2;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		close(sv[0]);
		side(sv[1], rounds, depth, 0);
		_exit(0);
	}
	close(sv[1]);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	side(sv[0], rounds, depth, 1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	close(sv[0]);
	waitpid(pid, NULL, 0);
	printf("%.2f %.2f\n", (cpu_us(RUSAGE_SELF) + cpu_us(RUSAGE_CHILDREN)) /
	    rounds, ((t1.tv_sec - t0.tv_sec) * 1e6 +
	    (t1.tv_nsec - t0.tv_nsec) / 1e3) * depth / rounds);
	return 0;
}
