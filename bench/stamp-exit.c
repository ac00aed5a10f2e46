/*
 * stamp-exit: the service of the restart-latency benchmark.  It records
 * when it started and when it is about to exit, then exits 1, so that a
 * supervisor restarts it at once and the gap between one run's exit and
 * the next run's start is the supervisor's restart latency.
 *
 * usage: stamp-exit [ignored ...]
 *
 * Appends one line "START EXIT\n" to ./stamps (created mode 0644 if
 * missing), both CLOCK_MONOTONIC nanoseconds in 20 digits, with one
 * O_APPEND write.  START is read first thing in main, EXIT just before
 * the write.  Arguments are ignored, because s6-supervise passes the
 * service name.  Once ./stamps holds $STAMP_MAX lines (default 100) it
 * appends nothing and waits in pause(2) until a signal kills it, so the
 * supervisor stops restarting without being told.  Handles no signals.
 * Exit status: 1 after a run, 2 if the file cannot be used.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define LINE_LEN	42	/* 20 digits, space, 20 digits, newline */

/* Returns the CLOCK_MONOTONIC time in nanoseconds. */
static long long
now_nsec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
main(void)
{
	char line[LINE_LEN + 1];
	struct stat st;
	long long start, max = 100;
	const char *s;
	int fd;

	start = now_nsec();
	if ((s = getenv("STAMP_MAX")) != NULL)
		max = strtoll(s, NULL, 10);
	if ((fd = open("stamps", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644)) == -1 || fstat(fd, &st) == -1)
		return 2;
	if (st.st_size / LINE_LEN >= max) {
		close(fd);
		for (;;)
			pause();
	}
	snprintf(line, sizeof(line), "%020lld %020lld\n", start, now_nsec());
	if (write(fd, line, LINE_LEN) != LINE_LEN)
		return 2;
	return 1;
}
