/*
 * meter: pass standard input to standard output unchanged while counting
 * bytes and lines, and report the rates on standard error.
 *
 * When standard input is a pipe, the data never enters meter's memory on
 * its way through: tee(2) duplicates what the input pipe holds into a
 * private pipe, splice(2) moves the same bytes to standard output (any
 * kind of fd that splice accepts), and only the private copy is read, to
 * count the newlines 16 bytes at a time.  That is one copy per byte where
 * read and write would make two.  Otherwise (a file, a socket, a terminal,
 * or an output splice refuses) meter reads and writes 128 KiB blocks.
 * meter enlarges its input and output pipes to 1 MiB where the system
 * allows, so each round moves more data for the same system calls.
 *
 * Every INTERVAL it reports on standard error: one line rewritten in
 * place with a carriage return when standard error is a terminal, plain
 * log lines otherwise.  At end of input it prints a summary line.
 *
 * Signals: SIGINT and SIGTERM are caught through the library's signal
 * module, unless they were ignored when meter started; they are blocked
 * and let in only while meter waits in ppoll (or, on the read-and-write
 * path, in a write), and at least every 50 ms while data streams.  On
 * either, meter prints the summary and dies of the same signal (status
 * 128+N).  SIGPIPE is ignored: a closed output ends meter with one
 * message and status 1.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "pipevisor.h"
#include "pv_private.h"

#define PIPE_SIZE	(1024 * 1024)	/* pipes are enlarged to this */
#define COPY_SIZE	(128 * 1024)	/* read-and-write block */
#define SIGCHECK_MS	50		/* signal latency while streaming */

/* The state of one run. */
struct meter {
	struct timespec	 start;
	struct timespec	 interval;	/* 0: no periodic reports */
	struct timespec	 next_report;
	struct timespec	 last_report;
	struct timespec	 next_sigcheck;
	unsigned long long bytes, newlines;
	unsigned long long last_bytes, last_newlines;
	int		 last_nl;	/* the last byte seen was a newline */
	int		 tty;		/* stderr is a terminal */
	int		 in_file;	/* stdin never blocks (a file) */
	size_t		 shown;		/* length of the progress line shown */
	char		*buf;
	size_t		 bufsize;
	int		 priv[2];	/* the private pipe of the tee path */
};

/* Prints the usage line (and with status 0 the options) and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("usage: meter [-i interval]\n", fp);
	if (status == 0)
		fputs("  -i interval  report every interval (default 1s;"
		    " 0: only the summary)\n"
		    "  --help       print this help and exit\n"
		    "  --version    print the version and exit\n", fp);
	if (fflush(fp) == EOF && status == 0)
		err(1, "stdout");
	exit(status);
}

/* Returns the number of newlines in n bytes at p. */
static unsigned long long
meter_count(const char *p, size_t n)
{
	unsigned long long count = 0;

#ifdef __SSE2__
	const __m128i nl = _mm_set1_epi8('\n');
	const __m128i zero = _mm_setzero_si128();
	__m128i acc, sum;
	size_t k;

	while (n >= 16) {
		/* A byte lane counts to 255 at most before it is summed. */
		k = n / 16 > 255 ? 255 : n / 16;
		n -= k * 16;
		acc = zero;
		for (; k > 0; k--, p += 16)
			acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(
			    _mm_loadu_si128((const __m128i *)(const void *)p),
			    nl));
		sum = _mm_sad_epu8(acc, zero);
		count += (unsigned long long)_mm_cvtsi128_si32(sum) +
		    (unsigned long long)_mm_extract_epi16(sum, 4);
	}
#endif
	for (; n > 0; n--, p++)
		count += *p == '\n';
	return count;
}

/* Counts a block that went through. */
static void
meter_account(struct meter *m, const char *p, size_t n)
{
	if (n == 0)
		return;
	m->bytes += n;
	m->newlines += meter_count(p, n);
	m->last_nl = p[n - 1] == '\n';
}

/* Returns seconds as a double. */
static double
meter_secs(struct timespec t)
{
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Formats a byte rate with a binary unit. */
static void
meter_rate(char *dst, size_t size, double rate)
{
	static const char *const units[] = {
		"B/s", "KiB/s", "MiB/s", "GiB/s", "TiB/s"
	};
	size_t u = 0;

	while (rate >= 1024 && u < sizeof(units) / sizeof(units[0]) - 1) {
		rate /= 1024;
		u++;
	}
	snprintf(dst, size, "%.1f %s", rate, units[u]);
}

/*
 * Writes one report line to stderr: totals so far and rates over secs
 * seconds of bytes and lines.  A summary ends the progress line.
 */
static void
meter_line(struct meter *m, const char *what, double elapsed,
    unsigned long long bytes, unsigned long long lines, double secs,
    unsigned long long dbytes, unsigned long long dlines, int summary)
{
	char line[256], rate[32];
	size_t len;
	int n;

	if (secs <= 0)
		secs = 1e-9;
	meter_rate(rate, sizeof(rate), (double)dbytes / secs);
	n = snprintf(line, sizeof(line),
	    "%smeter: %s%.1fs %llu bytes %llu lines %s %.0f lines/s",
	    m->tty ? "\r" : "", what, elapsed, bytes, lines, rate,
	    (double)dlines / secs);
	len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
	if (m->tty) {
		/* Blank out what is left of a longer progress line. */
		while (len < m->shown + 1 && len < sizeof(line) - 2)
			line[len++] = ' ';
		m->shown = summary ? 0 : len - 1;
	}
	if (!m->tty || summary)
		line[len++] = '\n';
	/* A report that cannot be written is not worth dying for. */
	(void)pv_write_all(STDERR_FILENO, line, len);
}

/* Reports the last interval's rates and schedules the next report. */
static void
meter_report(struct meter *m, struct timespec now)
{
	meter_line(m, "", meter_secs(pv_ts_sub(now, m->start)), m->bytes,
	    m->newlines, meter_secs(pv_ts_sub(now, m->last_report)),
	    m->bytes - m->last_bytes, m->newlines - m->last_newlines, 0);
	m->last_report = now;
	m->last_bytes = m->bytes;
	m->last_newlines = m->newlines;
	/* Skip missed reports rather than print a burst of them. */
	while (pv_ts_cmp(m->next_report, now) <= 0)
		m->next_report = pv_ts_add(m->next_report, m->interval);
}

/* Prints the summary: totals and average rates over the whole run. */
static void
meter_summary(struct meter *m)
{
	struct timespec now;
	unsigned long long lines;
	double secs;

	pv_now(&now);
	secs = meter_secs(pv_ts_sub(now, m->start));
	/* A last line without a newline still counts. */
	lines = m->newlines + (m->bytes > 0 && !m->last_nl);
	meter_line(m, "total ", secs, m->bytes, lines, secs, m->bytes, lines,
	    1);
}

/* Prints the summary and dies of signo, as a shell expects. */
static void __attribute__((noreturn))
meter_die(struct meter *m, int signo)
{
	meter_summary(m);
	pv_sig_die(signo);
}

/* Acts on the caught signals that have arrived. */
static void
meter_signals(struct meter *m)
{
	int signo;

	while ((signo = pv_sig_take()) != 0)
		if (signo == SIGINT || signo == SIGTERM)
			meter_die(m, signo);
}

/* Reports if it is time; lets pending signals in every SIGCHECK_MS. */
static void
meter_tick(struct meter *m)
{
	static const struct timespec zero = { 0, 0 };
	static const struct timespec check = { 0, SIGCHECK_MS * 1000000L };
	struct timespec now;

	pv_now(&now);
	if (m->interval.tv_sec != 0 || m->interval.tv_nsec != 0) {
		if (pv_ts_cmp(now, m->next_report) >= 0)
			meter_report(m, now);
	}
	if (pv_ts_cmp(now, m->next_sigcheck) >= 0) {
		m->next_sigcheck = pv_ts_add(now, check);
		if (ppoll(NULL, 0, &zero, pv_sig_waitmask()) == -1 &&
		    errno == EINTR)
			meter_signals(m);
	}
}

/*
 * Waits until fd is ready for events, acting on reports and signals
 * meanwhile.  Returns the revents (POLLHUP and POLLERR included).
 */
static short
meter_wait(struct meter *m, int fd, short events)
{
	struct pollfd pfd;
	struct timespec now, left, *timeout;
	int periodic;

	periodic = m->interval.tv_sec != 0 || m->interval.tv_nsec != 0;
	for (;;) {
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		timeout = NULL;
		if (periodic) {
			pv_now(&now);
			if (pv_ts_cmp(now, m->next_report) >= 0)
				meter_report(m, now);
			left = pv_ts_sub(m->next_report, now);
			timeout = &left;
		}
		if (ppoll(&pfd, 1, timeout, pv_sig_waitmask()) == -1) {
			if (errno != EINTR)
				err(1, "ppoll");
			meter_signals(m);
			continue;
		}
		if (pfd.revents != 0)
			return pfd.revents;
	}
}

/* The arguments of a write run in the signal window. */
struct meter_io {
	int		 fd;
	const char	*buf;
	size_t		 n;
};

/* The write that meter_write runs in the signal window. */
static long
meter_write_call(void *arg)
{
	struct meter_io *io = arg;

	return (long)write(io->fd, io->buf, io->n);
}

/* Writes all of buf to stdout with the caught signals let in. */
static void
meter_write(struct meter *m, const char *buf, size_t n)
{
	struct meter_io io;
	long w;

	while (n > 0) {
		/*
		 * A blocking write to a stalled reader must not hold off
		 * SIGINT and SIGTERM, so it runs in the signal window.  A
		 * signal that lands just after the write returned loses its
		 * count, which is harmless: both caught signals end meter.
		 */
		io.fd = STDOUT_FILENO;
		io.buf = buf;
		io.n = n;
		if ((w = pv_sig_window(meter_write_call, &io)) == -1) {
			if (errno == EINTR)
				meter_signals(m);
			else if (errno == EAGAIN)
				meter_wait(m, STDOUT_FILENO, POLLOUT);
			else
				err(1, "stdout");
			continue;
		}
		buf += w;
		n -= (size_t)w;
	}
}

/* Copies with read and write: the path for anything but a pipe. */
static void
meter_copy(struct meter *m)
{
	ssize_t r;

	for (;;) {
		meter_tick(m);
		/*
		 * A terminal or a socket may keep read waiting: wait in
		 * ppoll instead, where signals and reports get through.
		 */
		if (!m->in_file)
			meter_wait(m, STDIN_FILENO, POLLIN);
		r = read(STDIN_FILENO, m->buf, COPY_SIZE);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				err(1, "stdin");
			meter_wait(m, STDIN_FILENO, POLLIN);
			continue;
		}
		if (r == 0)
			return;
		meter_account(m, m->buf, (size_t)r);
		meter_write(m, m->buf, (size_t)r);
	}
}

/*
 * Moves n bytes that were just teed from stdin to stdout.  Returns 0, or
 * -1 when splice cannot write to stdout at all (nothing was moved).
 */
static int
meter_splice_out(struct meter *m, size_t n)
{
	ssize_t s;
	int moved = 0;

	while (n > 0) {
		s = splice(STDIN_FILENO, NULL, STDOUT_FILENO, NULL, n,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (s > 0) {
			n -= (size_t)s;
			moved = 1;
			continue;
		}
		if (s == 0)
			errx(1, "stdin: data vanished under meter");
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			meter_wait(m, STDOUT_FILENO, POLLOUT);
			continue;
		}
		if (errno == EINVAL && !moved)
			return -1;
		err(1, "stdout");
	}
	return 0;
}

/* Reads exactly n bytes from fd (whose data is known to be there). */
static void
meter_read_full(int fd, char *buf, size_t n, const char *what)
{
	ssize_t r;

	while (n > 0) {
		if ((r = pv_read(fd, buf, n)) == -1)
			err(1, "%s", what);
		if (r == 0)
			errx(1, "%s: unexpected end of file", what);
		buf += r;
		n -= (size_t)r;
	}
}

/*
 * The pipe path: tee into the private pipe, splice through, count the
 * private copy.  Returns 0 at end of input, or -1 (before any data went
 * out) when the read-and-write path must take over.
 */
static int
meter_tee(struct meter *m)
{
	ssize_t t;

	for (;;) {
		meter_tick(m);
		t = tee(STDIN_FILENO, m->priv[1], m->bufsize,
		    SPLICE_F_NONBLOCK);
		if (t == 0)
			return 0;
		if (t == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				meter_wait(m, STDIN_FILENO, POLLIN);
				continue;
			}
			if (errno == EINVAL && m->bytes == 0)
				return -1;
			err(1, "tee");
		}
		if (meter_splice_out(m, (size_t)t) == -1) {
			/*
			 * splice cannot write to this stdout: take the teed
			 * bytes from stdin by reading, and write them.
			 */
			meter_read_full(m->priv[0], m->buf, (size_t)t,
			    "private pipe");
			meter_read_full(STDIN_FILENO, m->buf, (size_t)t,
			    "stdin");
			meter_account(m, m->buf, (size_t)t);
			meter_write(m, m->buf, (size_t)t);
			return -1;
		}
		meter_read_full(m->priv[0], m->buf, (size_t)t,
		    "private pipe");
		meter_account(m, m->buf, (size_t)t);
	}
}

/* Returns whether fd is a pipe or FIFO. */
static int
meter_is_pipe(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* Parses the options and meters standard input to standard output. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	struct meter m;
	struct stat st;
	int ch, size;

	memset(&m, 0, sizeof(m));
	m.interval.tv_sec = 1;
	m.priv[0] = m.priv[1] = -1;
	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "i:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			if (pv_duration_parse(optarg, &m.interval) == -1) {
				warnx("bad interval: %s", optarg);
				usage(2);
			}
			break;
		case 'h':
			usage(0);
		case 'V':
			return filter_version("meter");
		default:
			usage(2);
		}
	}
	if (optind < argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage(2);
	}
	if (filter_guard_stdio() == -1)
		err(1, "/dev/null");
	if (pv_sig_init() == -1 || filter_catch(SIGINT) == -1 ||
	    filter_catch(SIGTERM) == -1)
		err(1, "signals");
	m.tty = isatty(STDERR_FILENO);
	m.in_file = fstat(STDIN_FILENO, &st) == 0 &&
	    (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
	pv_now(&m.start);
	m.last_report = m.next_sigcheck = m.start;
	m.next_report = pv_ts_add(m.start, m.interval);

	m.bufsize = COPY_SIZE;
	if (meter_is_pipe(STDIN_FILENO) &&
	    pipe2(m.priv, O_CLOEXEC | O_NONBLOCK) == 0) {
		/* Bigger pipes: fewer rounds for the same data. */
		(void)fcntl(STDIN_FILENO, F_SETPIPE_SZ, PIPE_SIZE);
		if (meter_is_pipe(STDOUT_FILENO))
			(void)fcntl(STDOUT_FILENO, F_SETPIPE_SZ, PIPE_SIZE);
		if ((size = fcntl(m.priv[1], F_SETPIPE_SZ, PIPE_SIZE)) == -1)
			size = fcntl(m.priv[1], F_GETPIPE_SZ);
		if (size > 0)
			m.bufsize = (size_t)size;
	}
	if ((m.buf = malloc(m.bufsize > COPY_SIZE ? m.bufsize :
	    COPY_SIZE)) == NULL)
		err(1, "malloc");
	if (m.priv[0] == -1 || meter_tee(&m) == -1)
		meter_copy(&m);

	meter_summary(&m);
	free(m.buf);
	return 0;
}
