/*
 * io.c: whole writes, EINTR-safe reads, a pump between fds, and a buffered
 * line reader.
 *
 * Nothing here installs or reacts to a signal: an interrupted call is
 * simply retried, and a write to a reader that has gone returns EPIPE
 * (the programs ignore SIGPIPE, DESIGN.md section 8).  Hot paths move data
 * in 64 KiB blocks or with splice(2), never a syscall per line.
 */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define PUMP_BUFSIZE	(64 * 1024)

/* Waits until fd is ready for events; used when a non-blocking fd is full. */
static int
io_wait(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	while (poll(&pfd, 1, -1) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* Writes all of buf, retrying short writes, EINTR and EAGAIN. */
ssize_t
pv_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	size_t left = n;
	ssize_t w;

	while (left > 0) {
		w = write(fd, p, left);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (io_wait(fd, POLLOUT) == -1)
					return -1;
				continue;
			}
			return -1;
		}
		p += w;
		left -= (size_t)w;
	}
	return (ssize_t)n;
}

/* Reads once, retrying EINTR. */
ssize_t
pv_read(int fd, void *buf, size_t n)
{
	ssize_t r;

	do
		r = read(fd, buf, n);
	while (r == -1 && errno == EINTR);
	return r;
}

/* Copies in to out with splice; returns -1/EINVAL when splice cannot. */
static ssize_t
io_splice_all(int in, int out, size_t *copied)
{
	ssize_t r;

	for (;;) {
		r = splice(in, NULL, out, NULL, PUMP_BUFSIZE * 4,
		    SPLICE_F_MOVE | SPLICE_F_MORE);
		if (r == 0)
			return 0;
		if (r > 0) {
			*copied += (size_t)r;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* Either end may be the one not ready. */
			struct pollfd p[2] = {
				{ .fd = in, .events = POLLIN },
				{ .fd = out, .events = POLLOUT },
			};
			while (poll(p, 2, -1) == -1)
				if (errno != EINTR)
					return -1;
			continue;
		}
		return -1;
	}
}

/* Copies until end of file with splice, or a 64 KiB buffer. */
ssize_t
pv_pump(int in, int out)
{
	char *buf;
	size_t copied = 0;
	ssize_t r;

	if (io_splice_all(in, out, &copied) == 0)
		return (ssize_t)copied;
	/* Splice refuses some pairs (a tty, a regular file to a file). */
	if (errno != EINVAL || copied != 0)
		return -1;
	if ((buf = malloc(PUMP_BUFSIZE)) == NULL)
		return -1;
	for (;;) {
		r = pv_read(in, buf, PUMP_BUFSIZE);
		if (r == -1 && errno == EAGAIN) {
			if (io_wait(in, POLLIN) == 0)
				continue;
		}
		if (r <= 0)
			break;
		if (pv_write_all(out, buf, (size_t)r) == -1) {
			r = -1;
			break;
		}
		copied += (size_t)r;
	}
	free(buf);
	return r == 0 ? (ssize_t)copied : -1;
}

struct pv_reader {
	int	 fd;
	size_t	 maxline;
	char	*buf;
	size_t	 size;		/* allocated */
	size_t	 start;		/* first unread byte */
	size_t	 end;		/* one past the last byte read */
	int	 eof;
	int	 discarding;	/* inside an overlong line */
};

/* Returns a reader of fd with a buffer large enough for maxline. */
struct pv_reader *
pv_reader_new(int fd, size_t maxline)
{
	struct pv_reader *r;

	if (maxline == 0)
		maxline = 64 * 1024;
	if (maxline > SIZE_MAX / 2 - PUMP_BUFSIZE) {
		errno = EINVAL;
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->fd = fd;
	r->maxline = maxline;
	/* Room for one whole line, its LF and a NUL, plus a full read. */
	r->size = maxline + 2 + PUMP_BUFSIZE;
	if ((r->buf = malloc(r->size)) == NULL) {
		free(r);
		return NULL;
	}
	return r;
}

/* Frees a reader; the fd stays open. */
void
pv_reader_free(struct pv_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

/* Returns the next line; see the contract in pipevisor.h. */
ssize_t
pv_reader_line(struct pv_reader *r, char **line)
{
	char *nl;
	size_t len;
	ssize_t n;

	for (;;) {
		len = r->end - r->start;
		nl = len > 0 ? memchr(r->buf + r->start, '\n', len) : NULL;
		if (nl != NULL) {
			size_t linelen = (size_t)(nl - (r->buf + r->start));
			char *p = r->buf + r->start;

			r->start += linelen + 1;
			if (r->discarding) {
				r->discarding = 0;
				continue;
			}
			if (linelen > r->maxline) {
				errno = EMSGSIZE;
				return -1;
			}
			p[linelen] = '\0';
			*line = p;
			return (ssize_t)linelen;
		}
		if (len > r->maxline || (r->discarding && len > 0)) {
			/* Overlong: drop what we have and keep dropping. */
			int report = !r->discarding;

			r->start = r->end = 0;
			r->discarding = 1;
			if (report) {
				errno = EMSGSIZE;
				return -1;
			}
			continue;
		}
		if (r->eof) {
			if (len == 0 || r->discarding) {
				r->start = r->end = 0;
				*line = NULL;
				return 0;
			}
			r->buf[r->end] = '\0';
			*line = r->buf + r->start;
			r->start = r->end;
			return (ssize_t)len;
		}
		/* Compact, then read as much as fits. */
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, len);
			r->start = 0;
			r->end = len;
		}
		n = pv_read(r->fd, r->buf + r->end, r->size - 1 - r->end);
		if (n == -1)
			return -1;
		if (n == 0)
			r->eof = 1;
		r->end += (size_t)n;
	}
}

struct pv_out {
	int	 fd;
	char	*buf;
	size_t	 size;
	size_t	 len;
};

/* Returns a buffered writer to fd. */
struct pv_out *
pv_out_new(int fd, size_t size)
{
	struct pv_out *o;

	if (size == 0)
		size = PUMP_BUFSIZE;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return NULL;
	if ((o->buf = malloc(size)) == NULL) {
		free(o);
		return NULL;
	}
	o->fd = fd;
	o->size = size;
	return o;
}

/* Frees a writer without flushing it. */
void
pv_out_free(struct pv_out *o)
{
	if (o == NULL)
		return;
	free(o->buf);
	free(o);
}

/* Writes out the buffer. */
int
pv_out_flush(struct pv_out *o)
{
	size_t len = o->len;

	if (len == 0)
		return 0;
	o->len = 0;
	return pv_write_all(o->fd, o->buf, len) == -1 ? -1 : 0;
}

/* Appends bytes; a write larger than the buffer goes straight out. */
int
pv_out_write(struct pv_out *o, const void *buf, size_t n)
{
	if (n > o->size - o->len) {
		if (pv_out_flush(o) == -1)
			return -1;
		if (n >= o->size)
			return pv_write_all(o->fd, buf, n) == -1 ? -1 : 0;
	}
	memcpy(o->buf + o->len, buf, n);
	o->len += n;
	return 0;
}

/* Returns room for n bytes at the end of the buffer. */
char *
pv_out_reserve(struct pv_out *o, size_t n)
{
	if (n > o->size) {
		errno = EMSGSIZE;
		return NULL;
	}
	if (n > o->size - o->len && pv_out_flush(o) == -1)
		return NULL;
	return o->buf + o->len;
}

/* Commits n bytes written into reserved space. */
void
pv_out_commit(struct pv_out *o, size_t n)
{
	o->len += n;
}

/* Returns how much is buffered. */
size_t
pv_out_pending(const struct pv_out *o)
{
	return o->len;
}

/* Opens /dev/null on any closed standard fd. */
int
pv_stdio_ensure(void)
{
	int fd;

	for (fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* The lowest free fd is this one, so open lands on it. */
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) == -1)
			return -1;
	}
	return 0;
}

/* The write function of the streams pv_stderr_lines and pv_stdout_retry make. */
static ssize_t
io_retry_write(void *cookie, const char *buf, size_t n)
{
	return pv_write_all((int)(intptr_t)cookie, buf, n);
}

/* Returns a stream writing to fd through pv_write_all, buffered as mode. */
static FILE *
io_retry_stream(int fd, int mode)
{
	static const cookie_io_functions_t fns = {
		.write = io_retry_write,
	};
	FILE *fp;

	if ((fp = fopencookie((void *)(intptr_t)fd, "w", fns)) == NULL)
		return NULL;
	if (setvbuf(fp, NULL, mode, BUFSIZ) != 0) {
		fclose(fp);
		return NULL;
	}
	return fp;
}

/* Makes stderr line-buffered and EINTR-safe. */
int
pv_stderr_lines(void)
{
	FILE *fp;

	if ((fp = io_retry_stream(STDERR_FILENO, _IOLBF)) == NULL)
		return -1;
	fflush(stderr);
	/* The old FILE stays open: closing it would close fd 2. */
	stderr = fp;
	return 0;
}

/* Makes stdout EINTR-safe: line-buffered on a terminal, else fully. */
int
pv_stdout_retry(void)
{
	FILE *fp;

	fp = io_retry_stream(STDOUT_FILENO, isatty(STDOUT_FILENO) ? _IOLBF :
	    _IOFBF);
	if (fp == NULL)
		return -1;
	fflush(stdout);
	stdout = fp;
	return 0;
}
