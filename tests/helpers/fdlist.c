/*
 * fdlist: print the numbers of the fds this process has open, one per
 * line, so tests can check exactly what a child was given.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Probes every fd up to the soft limit (at most 4096). */
int
main(void)
{
	long max = sysconf(_SC_OPEN_MAX);
	char out[64 * 8];
	size_t len = 0;
	int fd;

	if (max < 0 || max > 4096)
		max = 4096;
	/* Collect first: printing may open nothing, but be sure. */
	for (fd = 0; fd < max && len + 8 < sizeof(out); fd++)
		if (fcntl(fd, F_GETFD) != -1)
			len += (size_t)snprintf(out + len, sizeof(out) - len,
			    "%d\n", fd);
	fwrite(out, 1, len, stdout);
	return 0;
}
