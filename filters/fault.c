/*
 * fault: pass lines through, then fail on purpose, for testing
 * supervisors, pipelines and scripts.
 *
 * fault copies its first LINES lines (all of its input without -n) from
 * standard input to standard output, waits DURATION if asked, then exits
 * with STATUS (1 by default) or kills itself with SIGNAL.  Input is read
 * in 64 KiB blocks and copied as is, so binary data and lines of any
 * length pass unchanged; the output is flushed before the fault.  When
 * the input is seekable, the bytes read past the last line are given back
 * with lseek(2), as head(1) does.
 *
 * Signals: with -T, SIGTERM is ignored from the start.  With -k, the
 * signal's disposition is reset to default, it is unblocked and raised.
 * Nothing is caught: SIGPIPE keeps its inherited disposition, so a closed
 * output ends fault as it ends any shell filter.
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define READ_SIZE	(64 * 1024)

/* Prints the usage line (and with status 0 the options) and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs("usage: fault [-T] [-d duration] [-k signal | -x status]"
	    " [-n lines]\n", fp);
	if (status == 0)
		fputs("  -d duration  wait this long before the fault\n"
		    "  -k signal    die of signal instead of exiting\n"
		    "  -n lines     pass this many lines, then fail\n"
		    "  -T           ignore SIGTERM\n"
		    "  -x status    exit with status (default 1)\n"
		    "  --help       print this help and exit\n"
		    "  --version    print the version and exit\n", fp);
	if (fflush(fp) == EOF && status == 0)
		err(1, "stdout");
	exit(status);
}

/*
 * Copies up to lines lines (-1: all) from stdin to stdout; gives back
 * what was read beyond them when stdin can seek.
 */
static void
fault_copy(long long lines)
{
	char *buf, *p, *end, *nl;
	ssize_t r;

	if (lines == 0)
		return;
	if ((buf = malloc(READ_SIZE)) == NULL)
		err(1, "malloc");
	for (;;) {
		if ((r = pv_read(STDIN_FILENO, buf, READ_SIZE)) == -1)
			err(1, "stdin");
		if (r == 0)
			break;
		end = buf + r;
		p = buf;
		if (lines > 0) {
			while (p < end && lines > 0 &&
			    (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
				p = nl + 1;
				lines--;
			}
			if (lines > 0)
				p = end;
		} else
			p = end;
		if (pv_write_all(STDOUT_FILENO, buf, (size_t)(p - buf)) == -1)
			err(1, "stdout");
		if (lines == 0) {
			/* Leave the rest to whoever reads stdin next. */
			if (p < end)
				(void)lseek(STDIN_FILENO, -(off_t)(end - p),
				    SEEK_CUR);
			break;
		}
	}
	free(buf);
}

/* Sleeps for d on the monotonic clock, resuming after interruptions. */
static void
fault_delay(const struct timespec *d)
{
	struct timespec deadline;
	int e;

	pv_now(&deadline);
	deadline = pv_ts_add(deadline, *d);
	while ((e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline,
	    NULL)) == EINTR)
		continue;
	if (e != 0) {
		errno = e;
		err(1, "clock_nanosleep");
	}
}

/*
 * Dies of signo: default disposition, unblocked, raised.  Returns only if
 * signo does not end the process (its default is to ignore or stop it).
 */
static void
fault_raise(int signo)
{
	struct sigaction sa;
	sigset_t one;

	/* KILL and STOP always have their default action. */
	if (signo != SIGKILL && signo != SIGSTOP) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		if (sigaction(signo, &sa, NULL) == -1)
			err(1, "sigaction %s", pv_signal_name(signo));
	}
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_UNBLOCK, &one, NULL) == -1)
		err(1, "sigprocmask");
	if (raise(signo) != 0)
		err(1, "raise %s", pv_signal_name(signo));
}

/* Parses the options, passes the lines and injects the fault. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ "version",	no_argument,	NULL,	'V' },
		{ NULL,		0,		NULL,	0 }
	};
	struct timespec delay = { 0, 0 };
	const char *errstr;
	long long lines = -1;
	int ch, status = 1, signo = 0, have_x = 0, ignore_term = 0;
	int have_delay = 0;

	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "Td:k:n:x:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'T':
			ignore_term = 1;
			break;
		case 'd':
			if (pv_duration_parse(optarg, &delay) == -1) {
				warnx("bad duration: %s", optarg);
				usage(2);
			}
			have_delay = 1;
			break;
		case 'k':
			signo = pv_signal_parse(optarg);
			if (signo <= 0) {
				warnx("bad signal: %s", optarg);
				usage(2);
			}
			break;
		case 'n':
			lines = strtonum(optarg, 0, LLONG_MAX, &errstr);
			if (errstr != NULL) {
				warnx("line count is %s: %s", errstr, optarg);
				usage(2);
			}
			break;
		case 'x':
			status = (int)strtonum(optarg, 0, 255, &errstr);
			if (errstr != NULL) {
				warnx("status is %s: %s", errstr, optarg);
				usage(2);
			}
			have_x = 1;
			break;
		case 'h':
			usage(0);
		case 'V':
			return filter_version("fault");
		default:
			usage(2);
		}
	}
	if (optind < argc) {
		warnx("unexpected argument: %s", argv[optind]);
		usage(2);
	}
	if (have_x && signo != 0) {
		warnx("-k and -x are mutually exclusive");
		usage(2);
	}
	if (ignore_term && signal(SIGTERM, SIG_IGN) == SIG_ERR)
		err(1, "signal");

	fault_copy(lines);
	if (have_delay)
		fault_delay(&delay);
	if (signo != 0) {
		fault_raise(signo);
		/* Still here: the signal stops or is ignored by default. */
		return 128 + signo;
	}
	return status;
}
