/*
 * ratelimit: copy standard input to standard output at no more than RATE
 * lines per second, or RATE bytes per second with -B.
 *
 * A token bucket holds up to BURST tokens and refills at RATE tokens per
 * second, measured on CLOCK_MONOTONIC.  A line takes one token (a byte
 * takes one with -B).  Input beyond the allowance waits in an absolute
 * clock_nanosleep(2), never a busy loop, or with --drop is discarded whole
 * and counted.  Input is read in 64 KiB blocks and output goes through one
 * buffer that is flushed before every sleep and every read, so a line that
 * may pass never sits in the buffer while ratelimit waits.
 *
 * Signals: none is caught.  SIGPIPE keeps the disposition ratelimit was
 * started with, so a closed output ends it as it ends any shell filter
 * (or, when SIGPIPE is ignored, with a message and status 1).
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define READ_SIZE	(64 * 1024)
#define RATE_MAX	1e12

/* The state of one run: the bucket, the options and the output. */
struct rl {
	double		 rate;		/* tokens per second */
	double		 burst;		/* bucket size in tokens */
	double		 tokens;	/* may go negative with -B --drop */
	struct timespec	 last;		/* when tokens was last refilled */
	int		 bytes;		/* -B */
	int		 drop;		/* --drop */
	int		 in_line;	/* inside a line already decided */
	int		 pass;		/* the current line passes */
	unsigned long long dropped;	/* lines discarded */
	struct pv_out	*out;
};

/* Prints the usage line (and with status 0 the options) and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("usage: ratelimit [-B] [-b burst] [--drop] rate\n", fp);
	if (status == 0)
		fputs("  -B          count bytes, not lines\n"
		    "  -b burst    allow bursts of burst lines (bytes)\n"
		    "  --drop      discard excess lines instead of delaying"
		    " them\n"
		    "  --help      print this help and exit\n"
		    "  --version   print the version and exit\n", fp);
	if (fflush(fp) == EOF && status == 0)
		err(1, "stdout");
	exit(status);
}

/* Parses RATE: a positive decimal number such as 10 or 0.5. */
static int
rl_parse_rate(const char *s, double *rate)
{
	const char *p;
	char *end;
	int dots = 0, digits = 0;

	for (p = s; *p != '\0'; p++) {
		if (*p == '.')
			dots++;
		else if (*p >= '0' && *p <= '9')
			digits++;
		else
			return -1;
	}
	if (digits == 0 || dots > 1)
		return -1;
	errno = 0;
	*rate = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(*rate) || *rate <= 0 ||
	    *rate > RATE_MAX)
		return -1;
	return 0;
}

/* Adds the tokens earned since the last refill, up to the burst. */
static void
rl_refill(struct rl *rl)
{
	struct timespec now, d;

	pv_now(&now);
	d = pv_ts_sub(now, rl->last);
	rl->last = now;
	rl->tokens += rl->rate * ((double)d.tv_sec + d.tv_nsec / 1e9);
	if (rl->tokens > rl->burst)
		rl->tokens = rl->burst;
}

/* Flushes the output, then sleeps until the bucket holds need tokens. */
static void
rl_wait(struct rl *rl, double need)
{
	struct timespec deadline;
	double secs;
	int e;

	if (pv_out_flush(rl->out) == -1)
		err(1, "stdout");
	for (rl_refill(rl); rl->tokens < need; rl_refill(rl)) {
		/* Round up a little so one sleep is normally enough. */
		secs = (need - rl->tokens) / rl->rate + 1e-6;
		if (secs > 1e9)
			secs = 1e9;
		deadline.tv_sec = (time_t)secs;
		deadline.tv_nsec = (long)((secs - (double)deadline.tv_sec) *
		    1e9);
		if (deadline.tv_nsec >= 1000000000L)
			deadline.tv_nsec = 999999999L;
		deadline = pv_ts_add(rl->last, deadline);
		while ((e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME,
		    &deadline, NULL)) == EINTR)
			continue;
		if (e != 0) {
			errno = e;
			err(1, "clock_nanosleep");
		}
	}
}

/* Decides whether the line that starts now passes, waiting if need be. */
static void
rl_line_start(struct rl *rl)
{
	if (rl->tokens < 1)
		rl_refill(rl);
	if (rl->tokens >= 1)
		rl->pass = 1;
	else if (rl->drop) {
		rl->pass = 0;
		rl->dropped++;
	} else {
		rl_wait(rl, 1);
		rl->pass = 1;
	}
	/* A line costs one token; with -B its bytes are charged instead. */
	if (rl->pass && !rl->bytes)
		rl->tokens -= 1;
	rl->in_line = 1;
}

/* Passes or drops whole lines of a block (lines mode, or -B --drop). */
static void
rl_block_lines(struct rl *rl, const char *p, size_t len)
{
	const char *end = p + len, *nl, *seg;

	while (p < end) {
		if (!rl->in_line)
			rl_line_start(rl);
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = nl != NULL ? nl + 1 : end;
		if (rl->pass) {
			if (pv_out_write(rl->out, p, (size_t)(seg - p)) == -1)
				err(1, "stdout");
			if (rl->bytes)
				rl->tokens -= (double)(seg - p);
		}
		if (nl != NULL)
			rl->in_line = 0;
		p = seg;
	}
}

/* Passes a block byte by byte as the bucket allows (-B without --drop). */
static void
rl_block_bytes(struct rl *rl, const char *p, size_t len)
{
	double need, chunk;
	size_t n;

	while (len > 0) {
		rl_refill(rl);
		if (rl->tokens < 1) {
			/*
			 * Wait for a tenth of a second's worth (or what is
			 * left, or the burst) so a slow rate writes a few
			 * times a second, not once per byte.
			 */
			chunk = floor(rl->rate / 10);
			need = (double)len;
			if (need > rl->burst)
				need = rl->burst;
			if (need > chunk && chunk >= 1)
				need = chunk;
			rl_wait(rl, need < 1 ? 1 : need);
		}
		n = rl->tokens >= (double)len ? len : (size_t)rl->tokens;
		if (pv_out_write(rl->out, p, n) == -1)
			err(1, "stdout");
		rl->tokens -= (double)n;
		p += n;
		len -= n;
	}
}

/* Copies standard input to standard output under the limit. */
static void
rl_run(struct rl *rl)
{
	char *buf;
	ssize_t r;

	if ((buf = malloc(READ_SIZE)) == NULL)
		err(1, "malloc");
	for (;;) {
		/* Nothing may wait in the buffer while the read blocks. */
		if (pv_out_flush(rl->out) == -1)
			err(1, "stdout");
		if ((r = pv_read(STDIN_FILENO, buf, READ_SIZE)) == -1)
			err(1, "stdin");
		if (r == 0)
			break;
		if (rl->bytes && !rl->drop)
			rl_block_bytes(rl, buf, (size_t)r);
		else
			rl_block_lines(rl, buf, (size_t)r);
	}
	free(buf);
}

/* Parses the options and runs the limiter. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "drop",	no_argument,	NULL,	'd' },
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	struct rl rl;
	const char *errstr;
	long long burst = 0;
	int ch;

	memset(&rl, 0, sizeof(rl));
	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "Bb:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'B':
			rl.bytes = 1;
			break;
		case 'b':
			burst = strtonum(optarg, 1, 1000000000000LL, &errstr);
			if (errstr != NULL) {
				warnx("burst is %s: %s", errstr, optarg);
				usage(2);
			}
			break;
		case 'd':
			rl.drop = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			return filter_version("ratelimit");
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		warnx("rate is missing");
		usage(2);
	}
	if (argc > 1) {
		warnx("unexpected argument: %s", argv[1]);
		usage(2);
	}
	if (rl_parse_rate(argv[0], &rl.rate) == -1) {
		warnx("rate must be a positive number: %s", argv[0]);
		usage(2);
	}
	if (burst > 0)
		rl.burst = (double)burst;
	else
		rl.burst = rl.rate < 1 ? 1 : floor(rl.rate);
	rl.tokens = rl.burst;
	pv_now(&rl.last);
	if ((rl.out = pv_out_new(STDOUT_FILENO, 0)) == NULL)
		err(1, "malloc");

	rl_run(&rl);

	if (pv_out_flush(rl.out) == -1)
		err(1, "stdout");
	pv_out_free(rl.out);
	if (rl.drop)
		fprintf(stderr, "ratelimit: dropped %llu lines\n", rl.dropped);
	return 0;
}
