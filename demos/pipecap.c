/*
 * pipecap: measures a pipe's capacity, for scripts/demo-pipes.
 *
 * usage: pipecap [size]
 *
 * pipecap makes a pipe, prints the capacity fcntl(F_GETPIPE_SZ) reports,
 * and fills it with non-blocking writes of 4 KiB until the kernel answers
 * EAGAIN: that is the point where a blocking writer would go to sleep
 * until its reader makes room.  With size, the pipe is first resized with
 * F_SETPIPE_SZ (the kernel rounds up to a power of two pages), as tests
 * do to make a pipe deadlock show up fast.  It also prints PIPE_BUF, the
 * largest write that the kernel never interleaves with other writers'.
 *
 * No signals.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK	4096

/* Prints the capacity of a fresh pipe and how much fills it. */
int
main(int argc, char *argv[])
{
	char chunk[CHUNK];
	const char *errstr;
	long total = 0, want;
	ssize_t n;
	int cap, fd[2];

	if (argc > 2) {
		fputs("usage: pipecap [size]\n", stderr);
		return 2;
	}
	if (pipe2(fd, O_CLOEXEC) == -1)
		err(1, "pipe2");
	if (argc == 2) {
		want = strtonum(argv[1], 1, 1 << 20, &errstr);
		if (errstr != NULL)
			errx(2, "size %s: %s", argv[1], errstr);
		if (fcntl(fd[1], F_SETPIPE_SZ, (int)want) == -1)
			err(1, "F_SETPIPE_SZ");
	}
	if ((cap = fcntl(fd[1], F_GETPIPE_SZ)) == -1)
		err(1, "F_GETPIPE_SZ");
	printf("pipecap: capacity (F_GETPIPE_SZ): %d bytes\n", cap);

	if (fcntl(fd[1], F_SETFL, O_NONBLOCK) == -1)
		err(1, "F_SETFL");
	memset(chunk, 'x', sizeof(chunk));
	while ((n = write(fd[1], chunk, sizeof(chunk))) > 0)
		total += n;
	if (errno != EAGAIN)
		err(1, "write");
	printf("pipecap: non-blocking writes took %ld bytes, then EAGAIN: "
	    "a blocking writer would sleep here\n", total);
	printf("pipecap: PIPE_BUF (largest write never interleaved): %d "
	    "bytes\n", PIPE_BUF);
	return 0;
}
