/*
 * reaptime: the timer of the reaping benchmark.  It releases the orphans
 * that orphans(1 in bench/) left to a reaper and measures how long the
 * reaper takes until none of them is left, not even as a zombie.
 *
 * usage: reaptime REAPER DIR TIMEOUT_MS
 *
 * Waits for DIR/ready, which holds the number N of orphans, then counts
 * the children of process REAPER in /proc/REAPER/task/REAPER/children
 * (zombies included): at least N of them must be the orphans.  Then it
 * opens the FIFO DIR/release, writes one byte and closes it, which makes
 * every orphan exit, and re-reads the children every 250 us until N fewer
 * are left, that is until every orphan has exited and been reaped.
 * Prints "MICROSECONDS N": the time from just before the release to the
 * first count without the orphans (CLOCK_MONOTONIC).  Gives up after
 * TIMEOUT_MS of waiting for DIR/ready, or as long again for the reaping.  Handles no signals.  Exit status: 0, 1 on a time-out
 * or if the orphans are not REAPER's children, 2 on usage.
 */
#include <sys/types.h>

#include <err.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* Returns the CLOCK_MONOTONIC time in microseconds. */
static double
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Returns the number of pids in the children file path, or -1. */
static long
children_count(const char *path, char *buf, size_t size)
{
	ssize_t n, i;
	long count = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	/* Each pid is followed by one space. */
	while ((n = read(fd, buf, size)) > 0)
		for (i = 0; i < n; i++)
			count += buf[i] == ' ';
	close(fd);
	return n == -1 ? -1 : count;
}

int
main(int argc, char *argv[])
{
	static char buf[1 << 16];
	struct timespec tick = { 0, 250000 };
	char kids[64], path[PATH_MAX];
	double begin, start, limit;
	long reaper, n = 0, before, left;
	FILE *f;
	int fd;

	if (argc != 4 || (reaper = strtol(argv[1], NULL, 10)) <= 0)
		errx(2, "usage: reaptime REAPER DIR TIMEOUT_MS");
	limit = strtod(argv[3], NULL) * 1e3;
	snprintf(kids, sizeof(kids), "/proc/%ld/task/%ld/children", reaper,
	    reaper);

	begin = now_usec();
	snprintf(path, sizeof(path), "%s/ready", argv[2]);
	while ((f = fopen(path, "re")) == NULL) {
		if (now_usec() - begin > limit)
			errx(1, "timed out waiting for %s", path);
		nanosleep(&tick, NULL);
	}
	if (fscanf(f, "%ld", &n) != 1 || n < 1)
		errx(1, "%s: bad count", path);
	fclose(f);
	if ((before = children_count(kids, buf, sizeof(buf))) == -1)
		err(1, "%s", kids);
	if (before < n)
		errx(1, "process %ld has %ld children, fewer than the %ld "
		    "orphans: not their reaper", reaper, before, n);

	snprintf(path, sizeof(path), "%s/release", argv[2]);
	start = now_usec();
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1 ||
	    write(fd, "x", 1) != 1)
		err(1, "%s", path);
	close(fd);
	do {
		if (now_usec() - start > limit)
			errx(1, "timed out: %ld orphans left",
			    children_count(kids, buf, sizeof(buf)) -
			    (before - n));
		nanosleep(&tick, NULL);
		if ((left = children_count(kids, buf, sizeof(buf))) == -1)
			err(1, "%s", kids);
	} while (left > before - n);
	printf("%.0f %ld\n", now_usec() - start, n);
	return 0;
}
