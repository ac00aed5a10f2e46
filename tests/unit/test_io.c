/*
 * test_io.c: unit tests of io.c: pv_write_all through pipes (blocking and
 * non-blocking, with a concurrent reader, EPIPE when the reader has gone),
 * pv_read across EINTR, pv_pump (pipe to pipe, file to pipe, pipe to file,
 * file to file), pv_reader_line (lines, CRLF, a last line without LF,
 * empty lines, maxline exactly and plus one, 10 MB without a newline,
 * lines across buffer refills, EAGAIN on a non-blocking pipe), pv_out
 * (buffering, reserve/commit, writes larger than the buffer, EPIPE) and
 * pv_stdio_ensure in forked children with 0-2 closed.  SIGPIPE is ignored
 * (the library's programs do so too); one test installs a plain SIGUSR1
 * handler to interrupt pv_read.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "check.h"

static char tmpdir[] = "/tmp/pv-test-io.XXXXXX";

/* The byte at offset i of every test stream. */
static unsigned char
pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 251 + 3) & 0xff);
}

/* Fills buf with the pattern from offset off. */
static void
fill(unsigned char *buf, size_t n, size_t off)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = pattern(off + i);
}

/* Returns the exit code of child pid. */
static int
wait_code(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) == -1)
		REQUIRE(errno == EINTR);
	if (!WIFEXITED(status))
		return 100 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* In a child: closes every fd above 2 except keep. */
static void
close_others(int keep)
{
	if (keep > 3)
		close_range(3, (unsigned)keep - 1, 0);
	close_range((unsigned)keep + 1, ~0U, 0);
}

/*
 * Forks a reader of fd that checks it gets exactly want pattern bytes;
 * it exits 0 if so, 1 for a wrong count, 2 for a wrong byte, 3 for a
 * read error.  The child closes every other fd above 2.
 */
static pid_t
spawn_checker(int fd, size_t want)
{
	unsigned char buf[65536];
	size_t got = 0, i;
	ssize_t n;
	pid_t pid;

	REQUIRE((pid = fork()) != -1);
	if (pid != 0)
		return pid;
	close_others(fd);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			_exit(3);
		if (n == 0)
			break;
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != pattern(got + i))
				_exit(2);
		got += (size_t)n;
	}
	_exit(got == want ? 0 : 1);
}

/* Forks a writer of want pattern bytes to fd, in odd-sized pieces. */
static pid_t
spawn_writer(int fd, size_t want)
{
	unsigned char buf[9000];
	size_t off = 0, n;
	pid_t pid;

	REQUIRE((pid = fork()) != -1);
	if (pid != 0)
		return pid;
	close_others(fd);
	while (off < want) {
		n = want - off < sizeof(buf) ? want - off : sizeof(buf) - 7;
		fill(buf, n, off);
		if (pv_write_all(fd, buf, n) != (ssize_t)n)
			_exit(1);
		off += n;
	}
	_exit(0);
}

/* Writes a file of n pattern bytes; returns its path (static). */
static const char *
make_file(const char *name, size_t n)
{
	static char path[PATH_MAX];
	unsigned char *buf;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	REQUIRE((buf = malloc(n + 1)) != NULL);
	fill(buf, n, 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, buf, n) == (ssize_t)n);
	close(fd);
	free(buf);
	return path;
}

/* Returns 1 if path holds exactly n pattern bytes. */
static int
file_is_pattern(const char *path, size_t n)
{
	unsigned char buf[65536];
	size_t got = 0, i;
	ssize_t r;
	int fd, ok = 1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)r; i++)
			if (buf[i] != pattern(got + i))
				ok = 0;
		got += (size_t)r;
	}
	close(fd);
	return ok && r == 0 && got == n;
}

/* pv_write_all: whole writes to a concurrent reader, and EPIPE. */
static void
test_write_all(void)
{
	const size_t big = 4 * 1024 * 1024 + 17;
	unsigned char *buf;
	int p[2], nonblock;
	pid_t pid;

	REQUIRE((buf = malloc(big)) != NULL);
	fill(buf, big, 0);
	for (nonblock = 0; nonblock < 2; nonblock++) {
		REQUIRE(pipe2(p, O_CLOEXEC) == 0);
		/* A small pipe makes every write a short one. */
		fcntl(p[1], F_SETPIPE_SZ, 4096);
		if (nonblock)
			fcntl(p[1], F_SETFL, O_NONBLOCK);
		pid = spawn_checker(p[0], big);
		close(p[0]);
		CHECK_EQ(pv_write_all(p[1], buf, big), (ssize_t)big);
		close(p[1]);
		CHECK_EQ(wait_code(pid), 0);
	}

	/* Nothing to write is no error. */
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	CHECK_EQ(pv_write_all(p[1], buf, 0), 0);

	/* The reader has gone before the write. */
	close(p[0]);
	errno = 0;
	CHECK_EQ(pv_write_all(p[1], buf, 10), -1);
	CHECK_EQ(errno, EPIPE);
	close(p[1]);

	/* The reader goes in the middle of a long write. */
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		char small[1000];

		close(p[1]);
		(void)!read(p[0], small, sizeof(small));
		_exit(0);
	}
	close(p[0]);
	errno = 0;
	CHECK_EQ(pv_write_all(p[1], buf, big), -1);
	CHECK_EQ(errno, EPIPE);
	close(p[1]);
	CHECK_EQ(wait_code(pid), 0);

	/* A bad fd is an error, not a loop. */
	errno = 0;
	CHECK_EQ(pv_write_all(-1, buf, 1), -1);
	CHECK_EQ(errno, EBADF);
	free(buf);
}

static volatile sig_atomic_t usr1_seen;

/* A plain handler, for interrupting a read in this test only. */
static void
on_usr1(int signo)
{
	(void)signo;
	usr1_seen = 1;
}

/* pv_read: counts, end of file, and a retried EINTR. */
static void
test_read(void)
{
	struct sigaction sa, old;
	char buf[16];
	int p[2];
	pid_t pid, parent = getpid();

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	REQUIRE(write(p[1], "hello", 5) == 5);
	CHECK_EQ(pv_read(p[0], buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	close(p[1]);
	CHECK_EQ(pv_read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);

	/* A signal without SA_RESTART interrupts the read: it goes on. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	REQUIRE(sigaction(SIGUSR1, &sa, &old) == 0);
	usr1_seen = 0;
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	REQUIRE((pid = fork()) != -1);
	if (pid == 0) {
		close(p[0]);
		check_wait_asleep(parent, 2000);
		kill(parent, SIGUSR1);
		/* Only after the parent has seen the signal does data come. */
		check_wait_asleep(parent, 2000);
		check_pause_ms(20);
		(void)!write(p[1], "late", 4);
		_exit(0);
	}
	close(p[1]);
	CHECK_EQ(pv_read(p[0], buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "late", 4) == 0);
	CHECK(usr1_seen);
	close(p[0]);
	CHECK_EQ(wait_code(pid), 0);
	sigaction(SIGUSR1, &old, NULL);
}

/* pv_pump between pipes and files. */
static void
test_pump(void)
{
	const size_t n = 3 * 1024 * 1024 + 5;
	char out[PATH_MAX];
	const char *in;
	int a[2], b[2], fd, ofd;
	pid_t w, r;

	/* Pipe to pipe (splice). */
	REQUIRE(pipe2(a, O_CLOEXEC) == 0);
	REQUIRE(pipe2(b, O_CLOEXEC) == 0);
	w = spawn_writer(a[1], n);
	r = spawn_checker(b[0], n);
	close(a[1]);
	close(b[0]);
	CHECK_EQ(pv_pump(a[0], b[1]), (ssize_t)n);
	close(a[0]);
	close(b[1]);
	CHECK_EQ(wait_code(w), 0);
	CHECK_EQ(wait_code(r), 0);

	/* File to pipe. */
	in = make_file("in", n);
	REQUIRE((fd = open(in, O_RDONLY | O_CLOEXEC)) >= 0);
	REQUIRE(pipe2(b, O_CLOEXEC) == 0);
	r = spawn_checker(b[0], n);
	close(b[0]);
	CHECK_EQ(pv_pump(fd, b[1]), (ssize_t)n);
	close(b[1]);
	CHECK_EQ(wait_code(r), 0);

	/* File to file: splice refuses, the buffer copies. */
	REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
	snprintf(out, sizeof(out), "%s/out", tmpdir);
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(ofd >= 0);
	CHECK_EQ(pv_pump(fd, ofd), (ssize_t)n);
	close(ofd);
	CHECK(file_is_pattern(out, n));
	close(fd);

	/* Pipe to file. */
	REQUIRE(pipe2(a, O_CLOEXEC) == 0);
	w = spawn_writer(a[1], n);
	close(a[1]);
	ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(ofd >= 0);
	CHECK_EQ(pv_pump(a[0], ofd), (ssize_t)n);
	close(ofd);
	close(a[0]);
	CHECK_EQ(wait_code(w), 0);
	CHECK(file_is_pattern(out, n));

	/* Empty input. */
	REQUIRE(pipe2(a, O_CLOEXEC) == 0);
	REQUIRE(pipe2(b, O_CLOEXEC) == 0);
	close(a[1]);
	CHECK_EQ(pv_pump(a[0], b[1]), 0);
	close(a[0]);
	close(b[0]);
	close(b[1]);

	/* The reader has gone. */
	REQUIRE((fd = open(in, O_RDONLY | O_CLOEXEC)) >= 0);
	REQUIRE(pipe2(b, O_CLOEXEC) == 0);
	close(b[0]);
	errno = 0;
	CHECK_EQ(pv_pump(fd, b[1]), -1);
	CHECK_EQ(errno, EPIPE);
	close(b[1]);
	close(fd);
	unlink(out);
	unlink(in);
}

/* Opens a file holding the n bytes of s, for a reader. */
static int
open_content(const char *s, size_t n)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/lines", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, s, n) == (ssize_t)n);
	REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
	unlink(path);
	return fd;
}

/*
 * Checks that the next line is want (NULL: end of file).  *line is set to
 * NULL before the call: an empty line and end of file both return 0, and
 * only a line sets *line.
 */
#define LINE_IS(r, want) do {						\
	const char *w_ = (want);					\
	char *l_ = NULL;						\
	ssize_t n_ = pv_reader_line((r), &l_);				\
	if (w_ == NULL) {						\
		CHECK_EQ(n_, 0);					\
		CHECK(l_ == NULL);					\
	} else {							\
		CHECK_EQ(n_, (ssize_t)strlen(w_));			\
		CHECK(l_ != NULL && n_ >= 0 && l_[n_] == '\0' &&	\
		    memcmp(l_, w_, (size_t)n_) == 0);			\
	}								\
} while (0)

/* Checks that the next call fails with errno e. */
#define LINE_ERR(r, e) do {						\
	char *l_ = NULL;						\
	errno = 0;							\
	CHECK_EQ(pv_reader_line((r), &l_), -1);				\
	CHECK_EQ(errno, (e));						\
} while (0)

/* pv_reader_line on files: lines, CRLF, no final LF, empty, limits. */
static void
test_reader_basic(void)
{
	struct pv_reader *r;
	char *big, *l;
	int fd;

	fd = open_content("one\ntwo\r\n\n\nthree", 16);
	REQUIRE((r = pv_reader_new(fd, 0)) != NULL);
	LINE_IS(r, "one");
	LINE_IS(r, "two\r");
	LINE_IS(r, "");
	LINE_IS(r, "");
	LINE_IS(r, "three");
	LINE_IS(r, NULL);
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);

	/* Empty input; a lone LF; an embedded NUL counts in the length. */
	fd = open_content("", 0);
	REQUIRE((r = pv_reader_new(fd, 0)) != NULL);
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);
	fd = open_content("\n", 1);
	REQUIRE((r = pv_reader_new(fd, 0)) != NULL);
	LINE_IS(r, "");
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);
	fd = open_content("a\0b\nc\n", 6);
	REQUIRE((r = pv_reader_new(fd, 0)) != NULL);
	l = NULL;
	CHECK_EQ(pv_reader_line(r, &l), 3);
	CHECK(l != NULL && memcmp(l, "a\0b", 4) == 0);
	LINE_IS(r, "c");
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);

	/* maxline 8: exactly 8 is a line, 9 is EMSGSIZE, then it goes on. */
	fd = open_content("12345678\n123456789\nabc\n\n12345678", 32);
	REQUIRE((r = pv_reader_new(fd, 8)) != NULL);
	LINE_IS(r, "12345678");
	LINE_ERR(r, EMSGSIZE);
	LINE_IS(r, "abc");
	LINE_IS(r, "");
	LINE_IS(r, "12345678");
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);

	/* A CR counts toward the limit: "1234567\r" is 8 bytes. */
	fd = open_content("1234567\r\n12345678\r\nok\r\n", 23);
	REQUIRE((r = pv_reader_new(fd, 8)) != NULL);
	LINE_IS(r, "1234567\r");
	LINE_ERR(r, EMSGSIZE);
	LINE_IS(r, "ok\r");
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);

	/* Overlong last line without LF: one EMSGSIZE, then end of file. */
	fd = open_content("ab\n123456789", 12);
	REQUIRE((r = pv_reader_new(fd, 8)) != NULL);
	LINE_IS(r, "ab");
	LINE_ERR(r, EMSGSIZE);
	LINE_IS(r, NULL);
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);

	/* Two overlong lines in a row: one EMSGSIZE each. */
	fd = open_content("123456789\n123456789\nx\n", 22);
	REQUIRE((r = pv_reader_new(fd, 8)) != NULL);
	LINE_ERR(r, EMSGSIZE);
	LINE_ERR(r, EMSGSIZE);
	LINE_IS(r, "x");
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);

	/* The default limit is 64 KiB. */
	REQUIRE((big = malloc(2 * 65537 + 8)) != NULL);
	memset(big, 'a', 65536);
	big[65536] = '\n';
	memset(big + 65537, 'b', 65537);
	big[2 * 65537] = '\n';
	memcpy(big + 2 * 65537 + 1, "tail\n", 5);
	fd = open_content(big, 2 * 65537 + 6);
	REQUIRE((r = pv_reader_new(fd, 0)) != NULL);
	l = NULL;
	CHECK_EQ(pv_reader_line(r, &l), 65536);
	CHECK(l != NULL && l[0] == 'a' && l[65535] == 'a' && l[65536] == '\0');
	LINE_ERR(r, EMSGSIZE);
	LINE_IS(r, "tail");
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);
	free(big);

	pv_reader_free(NULL);
}

/* Many lines of every length up to maxline, across buffer refills. */
static void
test_reader_many(void)
{
	const size_t maxline = 300, nlines = 20000;
	struct pv_reader *r;
	char *text, *l;
	size_t i, len, off = 0, bad = 0;
	ssize_t got;
	int fd;

	REQUIRE((text = malloc(nlines * (maxline + 1))) != NULL);
	for (i = 0; i < nlines; i++) {
		len = (i * 37) % (maxline + 1);
		memset(text + off, 'a' + (int)(i % 26), len);
		off += len;
		text[off++] = '\n';
	}
	fd = open_content(text, off);
	REQUIRE((r = pv_reader_new(fd, maxline)) != NULL);
	for (i = 0; i < nlines; i++) {
		len = (i * 37) % (maxline + 1);
		l = NULL;
		got = pv_reader_line(r, &l);
		if (got != (ssize_t)len || l == NULL || l[len] != '\0' ||
		    (len > 0 && (l[0] != 'a' + (int)(i % 26) ||
		    l[len - 1] != l[0]))) {
			if (bad++ == 0)
				fprintf(stderr, "    line %zu: got %zd, want "
				    "%zu\n", i, got, len);
		}
	}
	CHECK_EQ(bad, 0);
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(fd);
	free(text);
}

/* 10 MB without a newline through a pipe: one EMSGSIZE, then EOF. */
static void
test_reader_huge(void)
{
	const size_t huge = 10 * 1024 * 1024;
	struct pv_reader *r;
	char *l;
	int p[2], tail, emsgsize, eof, other, calls;
	ssize_t n;
	pid_t pid;

	for (tail = 0; tail < 2; tail++) {
		REQUIRE(pipe2(p, O_CLOEXEC) == 0);
		REQUIRE((pid = fork()) != -1);
		if (pid == 0) {
			char buf[65536];
			size_t off;

			close(p[0]);
			memset(buf, 'x', sizeof(buf));
			for (off = 0; off < huge; off += sizeof(buf))
				if (pv_write_all(p[1], buf, sizeof(buf)) == -1)
					_exit(1);
			if (tail && pv_write_all(p[1], "\nok\n", 4) == -1)
				_exit(1);
			_exit(0);
		}
		close(p[1]);
		REQUIRE((r = pv_reader_new(p[0], 1024)) != NULL);
		emsgsize = eof = other = calls = 0;
		/* Bounded: a reader that never ends fails, not hangs. */
		while (calls++ < 100 && eof == 0) {
			l = NULL;
			errno = 0;
			n = pv_reader_line(r, &l);
			if (n == -1 && errno == EMSGSIZE)
				emsgsize++;
			else if (n == 0 && l == NULL)
				eof++;
			else if (n == 2 && tail && strcmp(l, "ok") == 0)
				other++;
			else
				other += 100;
		}
		CHECK_EQ(emsgsize, 1);
		CHECK_EQ(eof, 1);
		CHECK_EQ(other, tail ? 1 : 0);
		pv_reader_free(r);
		close(p[0]);
		CHECK_EQ(wait_code(pid), 0);
	}
}

/* A non-blocking pipe: EAGAIN until a whole line is there. */
static void
test_reader_nonblock(void)
{
	struct pv_reader *r;
	int p[2];

	REQUIRE(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	REQUIRE((r = pv_reader_new(p[0], 8)) != NULL);
	LINE_ERR(r, EAGAIN);
	REQUIRE(write(p[1], "abc", 3) == 3);
	LINE_ERR(r, EAGAIN);
	REQUIRE(write(p[1], "def\nghi\n", 8) == 8);
	LINE_IS(r, "abcdef");
	LINE_IS(r, "ghi");
	LINE_ERR(r, EAGAIN);
	/* An overlong line arriving in pieces. */
	REQUIRE(write(p[1], "123456789", 9) == 9);
	LINE_ERR(r, EMSGSIZE);
	REQUIRE(write(p[1], "abc", 3) == 3);
	LINE_ERR(r, EAGAIN);
	REQUIRE(write(p[1], "defghijkl", 9) == 9);
	LINE_ERR(r, EAGAIN);
	REQUIRE(write(p[1], "\nxyz\n", 5) == 5);
	LINE_IS(r, "xyz");
	LINE_ERR(r, EAGAIN);
	/* Exactly maxline in pieces is a line. */
	REQUIRE(write(p[1], "1234", 4) == 4);
	LINE_ERR(r, EAGAIN);
	REQUIRE(write(p[1], "5678", 4) == 4);
	LINE_ERR(r, EAGAIN);
	REQUIRE(write(p[1], "\nlast", 5) == 5);
	LINE_IS(r, "12345678");
	LINE_ERR(r, EAGAIN);
	close(p[1]);
	LINE_IS(r, "last");
	LINE_IS(r, NULL);
	pv_reader_free(r);
	close(p[0]);
}

/* Reads what is in the non-blocking pipe fd into buf; returns the count. */
static size_t
drain(int fd, char *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n && (r = read(fd, buf + got, n - got)) > 0)
		got += (size_t)r;
	return got;
}

/* pv_out: buffering, reserve and commit, big writes, errors. */
static void
test_out(void)
{
	struct pv_out *o;
	char buf[256], big[40], *res;
	int p[2];

	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	REQUIRE((o = pv_out_new(p[1], 16)) != NULL);
	CHECK_EQ(pv_out_pending(o), 0);
	CHECK_EQ(pv_out_write(o, "abc", 3), 0);
	CHECK_EQ(pv_out_pending(o), 3);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0);
	/* Filling the buffer exactly writes nothing yet. */
	CHECK_EQ(pv_out_write(o, "defghijklmnop", 13), 0);
	CHECK_EQ(pv_out_pending(o), 16);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0);
	/* One more byte writes the full buffer, in one piece. */
	CHECK_EQ(pv_out_write(o, "q", 1), 0);
	CHECK_EQ(pv_out_pending(o), 1);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 16);
	CHECK(memcmp(buf, "abcdefghijklmnop", 16) == 0);

	/* Reserve and commit in place. */
	REQUIRE((res = pv_out_reserve(o, 5)) != NULL);
	memcpy(res, "rstuv", 5);
	pv_out_commit(o, 5);
	CHECK_EQ(pv_out_pending(o), 6);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0);
	/* Reserving more than is free flushes first. */
	REQUIRE((res = pv_out_reserve(o, 16)) != NULL);
	CHECK_EQ(pv_out_pending(o), 0);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 6);
	CHECK(memcmp(buf, "qrstuv", 6) == 0);
	memcpy(res, "0123456789abcdef", 16);
	pv_out_commit(o, 16);
	CHECK_EQ(pv_out_pending(o), 16);
	/* More than the buffer can never be reserved. */
	errno = 0;
	CHECK(pv_out_reserve(o, 17) == NULL);
	CHECK_EQ(errno, EMSGSIZE);
	CHECK_EQ(pv_out_pending(o), 16);
	CHECK_EQ(pv_out_flush(o), 0);
	CHECK_EQ(pv_out_pending(o), 0);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 16);
	CHECK(memcmp(buf, "0123456789abcdef", 16) == 0);
	CHECK_EQ(pv_out_flush(o), 0);

	/* A write larger than the buffer goes out after what is pending. */
	CHECK_EQ(pv_out_write(o, "xy", 2), 0);
	fill((unsigned char *)big, sizeof(big), 0);
	CHECK_EQ(pv_out_write(o, big, sizeof(big)), 0);
	CHECK_EQ(pv_out_pending(o), 0);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 2 + sizeof(big));
	CHECK(memcmp(buf, "xy", 2) == 0 &&
	    memcmp(buf + 2, big, sizeof(big)) == 0);
	/* Exactly the buffer's size fills it; the next byte writes it. */
	CHECK_EQ(pv_out_write(o, big, 16), 0);
	CHECK_EQ(pv_out_pending(o), 16);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0);
	CHECK_EQ(pv_out_write(o, big + 16, 1), 0);
	CHECK_EQ(pv_out_pending(o), 1);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 16);
	CHECK(memcmp(buf, big, 16) == 0);
	CHECK_EQ(pv_out_flush(o), 0);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 1);
	CHECK_EQ(buf[0], big[16]);

	/* The reader has gone: the flush fails with EPIPE. */
	CHECK_EQ(pv_out_write(o, "zz", 2), 0);
	close(p[0]);
	errno = 0;
	CHECK_EQ(pv_out_flush(o), -1);
	CHECK_EQ(errno, EPIPE);
	pv_out_free(o);
	close(p[1]);

	/* The default size is 64 KiB. */
	REQUIRE(pipe2(p, O_CLOEXEC) == 0);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	REQUIRE((o = pv_out_new(p[1], 0)) != NULL);
	CHECK((res = pv_out_reserve(o, 65536)) != NULL);
	CHECK(pv_out_reserve(o, 65537) == NULL);
	CHECK_EQ(pv_out_write(o, big, 1), 0);
	CHECK_EQ(drain(p[0], buf, sizeof(buf)), 0);
	pv_out_free(o);
	close(p[0]);
	close(p[1]);
	pv_out_free(NULL);
}

/* Returns 1 if fd is /dev/null open with access mode acc. */
static int
is_devnull(int fd, int acc, const struct stat *null)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st) == -1 || !S_ISCHR(st.st_mode) ||
	    st.st_rdev != null->st_rdev)
		return 0;
	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return 0;
	return (fl & O_ACCMODE) == acc;
}

/*
 * Runs pv_stdio_ensure in a child with the fds in mask (bit N: fd N)
 * closed; returns the child's exit code: 0, or the first failed step.
 */
static int
stdio_child(unsigned mask)
{
	struct stat null, before[3], st;
	pid_t pid;
	int fd, lowest;

	REQUIRE(stat("/dev/null", &null) == 0);
	REQUIRE((pid = fork()) != -1);
	if (pid != 0)
		return wait_code(pid);
	/* The lowest free fd above 2, to see that nothing else is opened. */
	if ((lowest = fcntl(2, F_DUPFD, 3)) == -1)
		_exit(2);
	close(lowest);
	for (fd = 0; fd < 3; fd++) {
		if (fstat(fd, &before[fd]) == -1)
			_exit(10 + fd);
		if (mask & (1u << fd))
			close(fd);
	}
	if (pv_stdio_ensure() != 0)
		_exit(1);
	for (fd = 0; fd < 3; fd++) {
		if (mask & (1u << fd)) {
			if (!is_devnull(fd, fd == 0 ? O_RDONLY : O_WRONLY,
			    &null))
				_exit(20 + fd);
		} else if (fstat(fd, &st) == -1 ||
		    st.st_ino != before[fd].st_ino ||
		    st.st_dev != before[fd].st_dev)
			_exit(30 + fd);
	}
	/* Nothing else was opened, nothing above 2 was taken. */
	if (open("/dev/null", O_RDONLY) != lowest)
		_exit(40);
	_exit(0);
}

/* pv_stdio_ensure with every combination of 0, 1 and 2 closed. */
static void
test_stdio_ensure(void)
{
	unsigned mask;
	int code;

	for (mask = 0; mask < 8; mask++) {
		code = stdio_child(mask);
		if (code != 0)
			fprintf(stderr, "    closed mask %u: child exit %d\n",
			    mask, code);
		CHECK_EQ(code, 0);
	}
}

int
main(void)
{
	check_watchdog(60);
	/* As the library's programs do: a gone reader is EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	REQUIRE(mkdtemp(tmpdir) != NULL);
	test_write_all();
	test_read();
	test_pump();
	test_reader_basic();
	test_reader_many();
	test_reader_huge();
	test_reader_nonblock();
	test_out();
	test_stdio_ensure();
	rmdir(tmpdir);
	return check_done("test_io");
}
