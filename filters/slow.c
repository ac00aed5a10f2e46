/*
 * slow: copies standard input to standard output slowly, for demos and
 * tests.  "slow DURATION" writes each line DURATION after the previous
 * one was written, or DURATION after it was read if it came later;
 * "slow -B RATE" writes at most RATE bytes per second, a line at a time
 * (a long line in pieces of at most RATE/10 bytes, and at most 64 KiB, so
 * the rate holds within a line too).  RATE takes the suffixes k, M and G
 * for 1000, 1000000 and 1000000000.
 *
 * Every release is scheduled on an absolute CLOCK_MONOTONIC deadline and
 * waited for with clock_nanosleep(TIMER_ABSTIME), so the time spent
 * writing never adds up into drift.  Each released line (or piece) is
 * written at once, one write(2) each: that is the point of the program.
 * A line is released when its first byte is due; the rest of it, if it
 * is still arriving, follows as it is read.
 *
 * No signal is caught.  A signal that interrupts the sleep without
 * ending the program (EINTR) is harmless: the sleep resumes towards the
 * same deadline.  SIGPIPE keeps the disposition slow was started with: by
 * default a reader that goes away kills it; when SIGPIPE is ignored the
 * write fails with EPIPE and slow exits 1 with "slow: stdout: Broken
 * pipe".
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define BUFSIZE		(64 * 1024)
#define PIECE_MAX	(64 * 1024)
#define NSEC_PER_SEC	1000000000LL
#define RATE_MAX	(1000LL * 1000 * 1000 * 1000)	/* 1T bytes/s */

static const char usage_line[] =
    "usage: slow duration\n"
    "       slow -B rate\n";

/* Prints the usage lines to stderr and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs(usage_line, stderr);
	exit(2);
}

/* Prints the usage and the options to stdout and exits 0. */
static void __attribute__((noreturn))
help(void)
{
	fputs(usage_line, stdout);
	fputs("Copy stdin to stdout slowly: each line a duration after the "
	    "last\n(0.5, 200ms, 2s, 1m), or at most rate bytes per second.\n"
	    "  -B rate    bytes per second; suffixes k, M, G (powers of "
	    "1000)\n"
	    "      --help     print this help and exit\n"
	    "      --version  print the version and exit\n", stdout);
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	exit(0);
}

/*
 * Parses a rate: a whole number of bytes per second, at least 1, with an
 * optional k, M or G (powers of 1000).  Returns it, or 0 when malformed.
 */
static long long
slow_rate_parse(const char *s)
{
	char digits[32];
	const char *errstr;
	long long mult = 1, v;
	size_t len = strlen(s);

	if (len == 0 || len >= sizeof(digits))
		return 0;
	switch (s[len - 1]) {
	case 'k':
		mult = 1000;
		len--;
		break;
	case 'M':
		mult = 1000 * 1000;
		len--;
		break;
	case 'G':
		mult = 1000 * 1000 * 1000;
		len--;
		break;
	}
	memcpy(digits, s, len);
	digits[len] = '\0';
	/* strtonum would also take a sign or leading space: refuse them. */
	if (len == 0 || strspn(digits, "0123456789") != len)
		return 0;
	v = strtonum(digits, 1, RATE_MAX / mult, &errstr);
	if (errstr != NULL)
		return 0;
	return v * mult;
}

/*
 * Sleeps until the absolute monotonic time *when; an interruption by a
 * signal resumes the same sleep, so it neither ends early nor drifts.
 */
static void
slow_sleep_until(const struct timespec *when)
{
	int e;

	while ((e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, when,
	    NULL)) == EINTR)
		continue;
	if (e != 0)
		errc(1, e, "clock_nanosleep");
}

/* Returns how long n bytes take at rate bytes per second. */
static struct timespec
slow_bytes_time(size_t n, long long rate)
{
	struct timespec t;
	long long ns;

	t.tv_sec = (time_t)((long long)n / rate);
	/* The remainder is below rate (<= 10^12), so this cannot overflow. */
	ns = (long long)((__int128)((long long)n % rate) * NSEC_PER_SEC /
	    rate);
	t.tv_nsec = (long)ns;
	return t;
}

/* Returns the later of a and b. */
static struct timespec
slow_later(struct timespec a, struct timespec b)
{
	return pv_ts_cmp(a, b) >= 0 ? a : b;
}

/* Parses the options, then copies stdin to stdout at the chosen pace. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct timespec delay = { 0, 0 }, next, now, due;
	long long rate = 0;
	size_t piece_max = PIECE_MAX, len;
	char *buf, *p, *end, *nl;
	ssize_t n;
	int ch, at_start = 1;

	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "B:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'B':
			if ((rate = slow_rate_parse(optarg)) == 0) {
				warnx("invalid rate: %s", optarg);
				usage();
			}
			break;
		case 'h':
			help();
		case 'V':
			return filter_version("slow");
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (rate == 0) {
		if (argc == 0) {
			warnx("missing duration");
			usage();
		}
		if (pv_duration_parse(argv[0], &delay) == -1) {
			warnx("invalid duration: %s", argv[0]);
			usage();
		}
		argc--;
		argv++;
	} else {
		/* Pieces of a tenth of a second, so a long line flows. */
		if (rate / 10 < (long long)piece_max)
			piece_max = rate / 10 > 0 ? (size_t)(rate / 10) : 1;
	}
	if (argc != 0) {
		warnx("unexpected argument: %s", argv[0]);
		usage();
	}

	if ((buf = malloc(BUFSIZE)) == NULL)
		err(1, "malloc");
	/* next: when the next release may happen at the earliest. */
	pv_now(&next);
	while ((n = pv_read(STDIN_FILENO, buf, BUFSIZE)) > 0) {
		/*
		 * Data that arrives late is not released in a burst to catch
		 * up: the schedule starts again from when it was read.
		 */
		pv_now(&now);
		for (p = buf, end = buf + n; p < end; p += len) {
			nl = memchr(p, '\n', (size_t)(end - p));
			len = nl != NULL ? (size_t)(nl + 1 - p) :
			    (size_t)(end - p);
			if (rate == 0) {
				if (at_start) {
					due = pv_ts_add(slow_later(next, now),
					    delay);
					slow_sleep_until(&due);
					next = due;
				}
			} else {
				if (len > piece_max)
					len = piece_max;
				due = slow_later(next, now);
				slow_sleep_until(&due);
				next = pv_ts_add(due,
				    slow_bytes_time(len, rate));
			}
			if (pv_write_all(STDOUT_FILENO, p, len) == -1)
				err(1, "stdout");
			at_start = p[len - 1] == '\n';
		}
	}
	if (n == -1)
		err(1, "stdin");
	free(buf);
	if (close(STDOUT_FILENO) == -1)
		err(1, "stdout");
	return 0;
}
