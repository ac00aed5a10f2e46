/*
 * filter.c: what the block filters share: a read-convert-write loop over
 * large buffers, and the ASCII case conversion of upper and lower.
 *
 * No signal is caught here; interrupted reads and writes and short writes
 * are retried by pv_read and pv_write_all.
 */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define FILTER_BUFSIZE	(256 * 1024)
#define CASE_CHUNK	64	/* bytes per vectorised step */

/* Copies in to out in large blocks, converting each in place. */
int
filter_blocks(int in, int out, void (*convert)(unsigned char *, size_t),
    int *failed_fd)
{
	unsigned char *buf;
	ssize_t n;
	int saved;

	if ((buf = malloc(FILTER_BUFSIZE)) == NULL) {
		*failed_fd = -1;
		return -1;
	}
	while ((n = pv_read(in, buf, FILTER_BUFSIZE)) > 0) {
		convert(buf, (size_t)n);
		if (pv_write_all(out, buf, (size_t)n) == -1) {
			*failed_fd = out;
			goto fail;
		}
	}
	if (n == -1) {
		*failed_fd = in;
		goto fail;
	}
	free(buf);
	return 0;
fail:
	saved = errno;
	free(buf);
	errno = saved;
	return -1;
}

/*
 * Flips bit 5 of the bytes in [first, first+26): the branchless form and
 * the fixed-length inner loop let gcc -O2 vectorise it with no epilogue.
 */
static void
filter_flip_case(unsigned char *buf, size_t n, unsigned char first)
{
	size_t i = 0, j;

	for (; n - i >= CASE_CHUNK; i += CASE_CHUNK)
		for (j = 0; j < CASE_CHUNK; j++)
			buf[i + j] ^= (unsigned char)
			    (((unsigned char)(buf[i + j] - first) < 26) << 5);
	for (; i < n; i++)
		buf[i] ^= (unsigned char)(((unsigned char)(buf[i] - first) <
		    26) << 5);
}

/* Turns a-z into A-Z in n bytes, leaving every other byte alone. */
void
filter_upper(unsigned char *buf, size_t n)
{
	filter_flip_case(buf, n, 'a');
}

/* Turns A-Z into a-z in n bytes, leaving every other byte alone. */
void
filter_lower(unsigned char *buf, size_t n)
{
	filter_flip_case(buf, n, 'A');
}

/*
 * Catches signo through the signal module, unless it was ignored when the
 * filter started: an inherited ignore (nohup, a script's background job)
 * is the caller's wish and is kept, as a shell filter should.
 */
int
filter_catch(int signo)
{
	struct sigaction sa;

	if (sigaction(signo, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
		return 0;
	return pv_sig_catch(signo);
}

/*
 * Occupies closed standard fds with /dev/null opened the wrong way round,
 * so that no later open or pipe lands on them and any use still fails.
 */
int
filter_guard_stdio(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) == -1 && errno == EBADF &&
		    open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY) == -1)
			return -1;
	return 0;
}

/* Prints a filter's --version; see pv_private.h. */
int
filter_version(const char *name)
{
	printf("%s (pipevisor) %s\n", name, PV_VERSION_STRING);
	if (fflush(stdout) == EOF) {
		warn("stdout");
		return 1;
	}
	return 0;
}
