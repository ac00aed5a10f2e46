/*
 * stamp: copies standard input to standard output with a timestamp and
 * one space before each line.  By default the stamp is the wall-clock
 * local time in ISO 8601 with microseconds and a numeric offset
 * ("2026-11-22T18:30:01.123456+0100"); -r gives the seconds since stamp
 * started and -d the seconds since the previous line, both from
 * CLOCK_MONOTONIC with six decimals; -f takes a strftime(3) format in
 * which %.S, %.T and %.s (as in moreutils ts) add ".uuuuuu" microseconds.
 *
 * Input is read in 256 KiB blocks and the clock is read once per block:
 * every line that begins in a block gets that block's time, the moment the
 * read returned.  The formatted date is kept per second, so strftime runs
 * at most once a second, and only the microsecond digits change between
 * blocks.  Output is buffered and written once per block, never per line.
 * A last line without a LF is stamped and passed without one.
 *
 * No signal is caught.  SIGPIPE keeps the disposition stamp was started
 * with: by default a reader that goes away kills it; when SIGPIPE is
 * ignored the write fails with EPIPE and stamp exits 1 with
 * "stamp: stdout: Broken pipe".  Interrupted reads and writes and short
 * writes are retried by pv_read and pv_write_all.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define BUFSIZE		(256 * 1024)
#define PREFIX_MAX	4096	/* bytes a formatted stamp may take */
#define SLOTS_MAX	16	/* sub-second directives in a format */
#define DEFAULT_FORMAT	"%Y-%m-%dT%H:%M:%.S%z"

enum stamp_mode {
	STAMP_WALL,	/* local time through a strftime format */
	STAMP_REL,	/* -r: since start */
	STAMP_DELTA	/* -d: since the previous line */
};

/*
 * A strftime format split at its sub-second directives: piece i is
 * formatted, then six microsecond digits go after it if i < nslots.
 */
struct stamp_fmt {
	char	*pieces[SLOTS_MAX + 1];
	size_t	 npieces;
	time_t	 sec;		/* the second prefix was built for */
	int	 valid;
	char	 prefix[PREFIX_MAX];
	size_t	 len;		/* of prefix, with its trailing space */
	size_t	 slot[SLOTS_MAX];	/* where the digits go in prefix */
};

static const char usage_line[] = "usage: stamp [-d | -f format | -r]\n";

/* Prints the usage line to stderr and exits 2. */
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
	fputs("Prefix each line of stdin with a timestamp and a space.\n"
	    "  -d         seconds since the previous line\n"
	    "  -f format  local time as strftime format; %.S %.T %.s add "
	    "microseconds\n"
	    "  -r         seconds since start\n"
	    "      --help     print this help and exit\n"
	    "      --version  print the version and exit\n", stdout);
	if (fflush(stdout) == EOF)
		err(1, "stdout");
	exit(0);
}

/*
 * Splits format at %.S, %.T and %.s into strftime formats that end in
 * %S, %T or %s; "%%" is kept whole so "%%.S" stays literal.  Exits 2 on a
 * format with too many sub-second directives.
 */
static void
stamp_fmt_parse(struct stamp_fmt *f, const char *format)
{
	const char *p, *start = format;
	char *piece;

	f->npieces = 0;
	for (p = format; *p != '\0'; p++) {
		if (*p != '%')
			continue;
		if (p[1] == '.' && (p[2] == 'S' || p[2] == 'T' ||
		    p[2] == 's')) {
			if (f->npieces == SLOTS_MAX) {
				warnx("more than %d sub-second directives "
				    "in format", SLOTS_MAX);
				usage();
			}
			/* The piece is start..p, then "%S" (or T, s). */
			if (asprintf(&piece, "%.*s%%%c", (int)(p - start),
			    start, p[2]) == -1)
				err(1, "asprintf");
			f->pieces[f->npieces++] = piece;
			p += 2;
			start = p + 1;
		} else if (p[1] != '\0')
			p++;	/* skips "%%" and every other conversion */
	}
	if ((f->pieces[f->npieces++] = strdup(start)) == NULL)
		err(1, "strdup");
	f->valid = 0;
}

/*
 * Formats one piece for tm at dst, which has room bytes; returns the
 * length, or -1 when it does not fit.  A space is appended to the format
 * and dropped again, so an empty expansion is told from an overflow.
 */
static ssize_t
stamp_strftime(char *dst, size_t room, const char *piece,
    const struct tm *tm)
{
	char fmt[PREFIX_MAX + 2];
	size_t n;

	if (strlen(piece) > PREFIX_MAX)
		return -1;
	snprintf(fmt, sizeof(fmt), "%s ", piece);
	/* The format is the user's by design; strftime cannot overrun. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = strftime(dst, room, fmt, tm);
#pragma GCC diagnostic pop
	if (n == 0)
		return -1;
	return (ssize_t)n - 1;
}

/*
 * Rebuilds f's prefix for second sec: the pieces formatted in local time,
 * ".000000" after each but the last, then a space.
 */
static void
stamp_fmt_build(struct stamp_fmt *f, time_t sec)
{
	struct tm tm;
	size_t len = 0, i;
	ssize_t n;

	if (localtime_r(&sec, &tm) == NULL)
		err(1, "localtime");
	for (i = 0; i < f->npieces; i++) {
		n = stamp_strftime(f->prefix + len, sizeof(f->prefix) - len,
		    f->pieces[i], &tm);
		/* Room is kept for ".uuuuuu" and the final space. */
		if (n == -1 || sizeof(f->prefix) - len - (size_t)n < 9)
			errx(1, "format expands to more than %d bytes",
			    PREFIX_MAX - 9);
		len += (size_t)n;
		if (i + 1 < f->npieces) {
			memcpy(f->prefix + len, ".000000", 7);
			f->slot[i] = len + 1;
			len += 7;
		}
	}
	f->prefix[len++] = ' ';
	f->len = len;
	f->sec = sec;
	f->valid = 1;
}

/* Frees the pieces of f. */
static void
stamp_fmt_free(struct stamp_fmt *f)
{
	size_t i;

	for (i = 0; i < f->npieces; i++)
		free(f->pieces[i]);
	f->npieces = 0;
}

/* Writes the six digits of usec at p. */
static void
stamp_digits6(char *p, long usec)
{
	int i;

	for (i = 5; i >= 0; i--) {
		p[i] = (char)('0' + usec % 10);
		usec /= 10;
	}
}

/*
 * Makes f's prefix the stamp for wall-clock time now: strftime only when
 * the second changed, then the microseconds.
 */
static void
stamp_wall(struct stamp_fmt *f, const struct timespec *now)
{
	size_t i;

	if (!f->valid || f->sec != now->tv_sec)
		stamp_fmt_build(f, now->tv_sec);
	for (i = 0; i + 1 < f->npieces; i++)
		stamp_digits6(f->prefix + f->slot[i], now->tv_nsec / 1000);
}

/* Formats an interval as "S.uuuuuu " at buf; returns the length. */
static size_t
stamp_seconds(char *buf, size_t size, struct timespec t)
{
	int n;

	if (t.tv_sec < 0)	/* the monotonic clock never goes back */
		t.tv_sec = t.tv_nsec = 0;
	n = snprintf(buf, size, "%lld.%06ld ", (long long)t.tv_sec,
	    t.tv_nsec / 1000);
	return (size_t)n;
}

/* Parses the options, then stamps stdin to stdout until end of file. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static const char zero[] = "0.000000 ";
	struct stamp_fmt fmt;
	struct timespec start, now, prev;
	struct pv_out *o;
	enum stamp_mode mode = STAMP_WALL;
	const char *format = DEFAULT_FORMAT, *prefix;
	char *buf, *p, *end, *nl, rel[64];
	size_t plen;
	ssize_t n;
	int ch, nmodes = 0, at_start = 1;

	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "df:r", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'd':
			mode = STAMP_DELTA;
			nmodes++;
			break;
		case 'f':
			mode = STAMP_WALL;
			format = optarg;
			nmodes++;
			break;
		case 'r':
			mode = STAMP_REL;
			nmodes++;
			break;
		case 'h':
			help();
		case 'V':
			return filter_version("stamp");
		default:
			usage();
		}
	}
	if (nmodes > 1) {
		warnx("-d, -f and -r are mutually exclusive");
		usage();
	}
	if (optind != argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage();
	}

	setlocale(LC_TIME, "");
	tzset();
	stamp_fmt_parse(&fmt, format);
	/* A format that cannot be expanded fails now, even on no input. */
	if (mode == STAMP_WALL) {
		clock_gettime(CLOCK_REALTIME, &now);
		stamp_wall(&fmt, &now);
	}
	pv_now(&start);
	prev = start;
	if ((buf = malloc(BUFSIZE)) == NULL ||
	    (o = pv_out_new(STDOUT_FILENO, BUFSIZE)) == NULL)
		err(1, "malloc");

	while ((n = pv_read(STDIN_FILENO, buf, BUFSIZE)) > 0) {
		/* One clock read per block: every line begun here gets it. */
		if (mode == STAMP_WALL) {
			clock_gettime(CLOCK_REALTIME, &now);
			stamp_wall(&fmt, &now);
			prefix = fmt.prefix;
			plen = fmt.len;
		} else {
			pv_now(&now);
			plen = stamp_seconds(rel, sizeof(rel),
			    pv_ts_sub(now, mode == STAMP_REL ? start : prev));
			prefix = rel;
		}
		for (p = buf, end = buf + n; p < end; p = nl) {
			if (at_start) {
				if (pv_out_write(o, prefix, plen) == -1)
					err(1, "stdout");
				/* Later lines of this block came 0 s after. */
				if (mode == STAMP_DELTA) {
					prev = now;
					prefix = zero;
					plen = sizeof(zero) - 1;
				}
			}
			nl = memchr(p, '\n', (size_t)(end - p));
			nl = nl != NULL ? nl + 1 : end;
			at_start = nl[-1] == '\n';
			if (pv_out_write(o, p, (size_t)(nl - p)) == -1)
				err(1, "stdout");
		}
		if (pv_out_flush(o) == -1)
			err(1, "stdout");
	}
	if (n == -1)
		err(1, "stdin");
	pv_out_free(o);
	free(buf);
	stamp_fmt_free(&fmt);
	if (close(STDOUT_FILENO) == -1)
		err(1, "stdout");
	return 0;
}
