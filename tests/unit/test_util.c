/*
 * test_util.c: unit tests of util.c: pv_duration_parse (units, fractions,
 * malformed input, overflow), pv_signal_parse and pv_signal_name (names
 * with and without SIG, any case, numbers, RTMIN+N/RTMAX-N, round trips,
 * bad names), the monotonic timespec arithmetic and pv_ts_to_ms_ceil's
 * rounding and clamping, and pv_status_to_exit on statuses made by hand
 * and by real children.  No signal handler is installed.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "check.h"

/* Checks that s is refused with errno e. */
#define DUR_BAD(s, e) do {						\
	struct timespec d_;						\
	int r_;								\
	errno = 0;							\
	r_ = pv_duration_parse((s), &d_);				\
	CHECK_EQ(r_, -1);						\
	CHECK_EQ(errno, (e));						\
} while (0)

/* Returns 1 if s parses to sec and nsec; else says what it gave. */
static int
dur_is(const char *s, time_t sec, long nsec)
{
	struct timespec d = { -7, -7 };
	int r;

	r = pv_duration_parse(s, &d);
	if (r == 0 && d.tv_sec == sec && d.tv_nsec == nsec)
		return 1;
	fprintf(stderr, "    pv_duration_parse(\"%s\") = %d, %lld.%09ld; "
	    "want %lld.%09ld\n", s, r, (long long)d.tv_sec, d.tv_nsec,
	    (long long)sec, nsec);
	return 0;
}

/* Checks that s parses to sec and nsec. */
#define DUR_OK(s, sec, nsec)	CHECK(dur_is((s), (sec), (nsec)))

/* Durations: units, fractions and what must be refused. */
static void
test_duration(void)
{
	char buf[64];
	int i, bad;

	DUR_OK("0.5", 0, 500000000);
	DUR_OK("500ms", 0, 500000000);
	DUR_OK("2s", 2, 0);
	DUR_OK("2", 2, 0);
	DUR_OK("0", 0, 0);
	DUR_OK("1m", 60, 0);
	DUR_OK("1h", 3600, 0);
	DUR_OK("1d", 86400, 0);
	DUR_OK("1.5m", 90, 0);
	DUR_OK("1.5h", 5400, 0);
	DUR_OK("0.25d", 21600, 0);
	DUR_OK("2.5ms", 0, 2500000);
	DUR_OK("1500ms", 1, 500000000);
	DUR_OK("0.001", 0, 1000000);
	DUR_OK("0.3", 0, 300000000);
	DUR_OK("1.000000001", 1, 1);
	DUR_OK("1.999999999", 1, 999999999);
	/* Digits past nanoseconds are dropped, not rounded into a carry. */
	DUR_OK("0.1234567891234", 0, 123456789);
	DUR_OK("007", 7, 0);
	DUR_OK("36500d", 3153600000LL, 0);
	/* Like strtod and coreutils timeout: "1." and ".5" are numbers. */
	DUR_OK("1.", 1, 0);
	DUR_OK(".5", 0, 500000000);

	DUR_BAD("", EINVAL);
	DUR_BAD(NULL, EINVAL);
	DUR_BAD("x", EINVAL);
	DUR_BAD("-1", EINVAL);
	DUR_BAD("+1", EINVAL);
	DUR_BAD("1x", EINVAL);
	DUR_BAD("1ss", EINVAL);
	DUR_BAD("1 s", EINVAL);
	DUR_BAD(" 1", EINVAL);
	DUR_BAD("1 ", EINVAL);
	DUR_BAD(".", EINVAL);
	DUR_BAD("s", EINVAL);
	DUR_BAD("ms", EINVAL);
	DUR_BAD(".s", EINVAL);
	DUR_BAD("1.2.3", EINVAL);
	DUR_BAD("1e3", EINVAL);
	DUR_BAD("0x10", EINVAL);
	DUR_BAD("1m30s", EINVAL);

	DUR_BAD("99999999999999999999999999", ERANGE);
	DUR_BAD("1000000000000000000000s", ERANGE);
	DUR_BAD("100000000000", ERANGE);
	DUR_BAD("1000000000d", ERANGE);
	DUR_BAD("99999999999999h", ERANGE);
	DUR_BAD("10000000000000.5", ERANGE);

	/* Every millisecond of ten seconds, written as a fraction, exactly. */
	bad = -1;
	for (i = 0; i < 10000 && bad < 0; i++) {
		snprintf(buf, sizeof(buf), "%d.%03d", i / 1000, i % 1000);
		if (!dur_is(buf, i / 1000, (long)(i % 1000) * 1000000))
			bad = i;
	}
	CHECK_EQ(bad, -1);
	/* And as milliseconds, and as a fraction of a minute. */
	bad = -1;
	for (i = 0; i < 10000 && bad < 0; i++) {
		snprintf(buf, sizeof(buf), "%dms", i);
		if (!dur_is(buf, i / 1000, (long)(i % 1000) * 1000000))
			bad = i;
	}
	CHECK_EQ(bad, -1);
	bad = -1;
	for (i = 0; i < 1000 && bad < 0; i++) {
		/* i/10 minutes is i*6 seconds exactly. */
		snprintf(buf, sizeof(buf), "%d.%dm", i / 10, i % 10);
		if (!dur_is(buf, i * 6, 0))
			bad = i;
	}
	CHECK_EQ(bad, -1);
	/* Nanoseconds one by one near the ends of a second. */
	bad = -1;
	for (i = 1; i < 2000 && bad < 0; i++) {
		long ns = i < 1000 ? i : 1000000000L - (i - 999);

		snprintf(buf, sizeof(buf), "3.%09ld", ns);
		if (!dur_is(buf, 3, ns))
			bad = i;
	}
	CHECK_EQ(bad, -1);
}

/* Checks that s parses to signal sig. */
#define SIG_OK(s, sig) CHECK_EQ(pv_signal_parse(s), (sig))

/* Checks that s is refused. */
#define SIG_BAD(s) do {							\
	errno = 0;							\
	CHECK_EQ(pv_signal_parse(s), -1);				\
	CHECK_EQ(errno, EINVAL);					\
} while (0)

/* Signal names and numbers, both ways. */
static void
test_signals(void)
{
	char buf[64], lower[64];
	const char *name;
	int s, i, named = 0;

	SIG_OK("TERM", SIGTERM);
	SIG_OK("SIGTERM", SIGTERM);
	SIG_OK("term", SIGTERM);
	SIG_OK("sigterm", SIGTERM);
	SIG_OK("Term", SIGTERM);
	SIG_OK("15", SIGTERM);
	SIG_OK("KILL", SIGKILL);
	SIG_OK("9", SIGKILL);
	SIG_OK("HUP", SIGHUP);
	SIG_OK("1", SIGHUP);
	SIG_OK("CHLD", SIGCHLD);
	SIG_OK("usr1", SIGUSR1);
	SIG_OK("SIGALRM", SIGALRM);
	SIG_OK("RTMIN", SIGRTMIN);
	SIG_OK("RTMIN+1", SIGRTMIN + 1);
	SIG_OK("SIGRTMIN+2", SIGRTMIN + 2);
	SIG_OK("rtmin+3", SIGRTMIN + 3);
	SIG_OK("RTMAX", SIGRTMAX);
	SIG_OK("RTMAX-1", SIGRTMAX - 1);
	SIG_OK("sigrtmax-2", SIGRTMAX - 2);
	SIG_OK("RTMIN+0", SIGRTMIN);
	snprintf(buf, sizeof(buf), "RTMIN+%d", SIGRTMAX - SIGRTMIN);
	SIG_OK(buf, SIGRTMAX);
	snprintf(buf, sizeof(buf), "%d", NSIG - 1);
	SIG_OK(buf, NSIG - 1);

	SIG_BAD(NULL);
	SIG_BAD("");
	SIG_BAD("SIG");
	SIG_BAD("NOPE");
	SIG_BAD("SIGNOPE");
	SIG_BAD("SIGSIGTERM");
	SIG_BAD("TERMX");
	SIG_BAD(" TERM");
	SIG_BAD("TERM ");
	SIG_BAD("0");
	SIG_BAD("-1");
	SIG_BAD("-15");
	SIG_BAD("15x");
	SIG_BAD("+15");
	SIG_BAD("1000");
	snprintf(buf, sizeof(buf), "%d", NSIG);
	SIG_BAD(buf);
	SIG_BAD("RTMIN-1");
	SIG_BAD("RTMAX+1");
	SIG_BAD("RTMIN+");
	SIG_BAD("RTMINX");
	SIG_BAD("RTMIN+1x");
	SIG_BAD("RTMIN++1");
	SIG_BAD("RTMIN+-1");
	SIG_BAD("RTMIN+ 1");
	SIG_BAD("RTMAX-+1");
	snprintf(buf, sizeof(buf), "RTMIN+%d", SIGRTMAX - SIGRTMIN + 1);
	SIG_BAD(buf);
	snprintf(buf, sizeof(buf), "RTMAX-%d", SIGRTMAX - SIGRTMIN + 1);
	SIG_BAD(buf);

	CHECK_STREQ(pv_signal_name(SIGTERM), "TERM");
	CHECK_STREQ(pv_signal_name(SIGKILL), "KILL");
	CHECK_STREQ(pv_signal_name(SIGCHLD), "CHLD");
	CHECK_STREQ(pv_signal_name(SIGRTMIN), "RTMIN");
	CHECK_STREQ(pv_signal_name(SIGRTMIN + 1), "RTMIN+1");
	CHECK_STREQ(pv_signal_name(SIGRTMAX - 1), "RTMAX-1");
	CHECK_STREQ(pv_signal_name(SIGRTMAX), "RTMAX");
	CHECK_STREQ(pv_signal_name(0), "?");
	CHECK_STREQ(pv_signal_name(-1), "?");
	CHECK_STREQ(pv_signal_name(NSIG), "?");
	CHECK_STREQ(pv_signal_name(1000), "?");

	/* Round trips: name, SIG+name, lower case and number. */
	for (s = 1; s < NSIG; s++) {
		name = pv_signal_name(s);
		REQUIRE(name != NULL);
		snprintf(buf, sizeof(buf), "%d", s);
		SIG_OK(buf, s);
		if (strcmp(name, "?") == 0) {
			/* Only glibc's reserved 32 and 33 lack a name. */
			CHECK(s >= 32 && s < SIGRTMIN);
			continue;
		}
		named++;
		CHECK(strncmp(name, "SIG", 3) != 0);
		SIG_OK(name, s);
		snprintf(buf, sizeof(buf), "SIG%s", name);
		SIG_OK(buf, s);
		for (i = 0; buf[i] != '\0' && i < (int)sizeof(lower) - 1; i++)
			lower[i] = (char)tolower((unsigned char)buf[i]);
		lower[i] = '\0';
		SIG_OK(lower, s);
	}
	CHECK(named >= 31 + (SIGRTMAX - SIGRTMIN + 1));
}

/* Builds a timespec. */
static struct timespec
ts(time_t sec, long nsec)
{
	struct timespec t = { sec, nsec };

	return t;
}

/* Checks a timespec against sec and nsec. */
#define TS_IS(t, sec, nsec) do {					\
	struct timespec t_ = (t);					\
	CHECK_EQ(t_.tv_sec, (sec));					\
	CHECK_EQ(t_.tv_nsec, (nsec));					\
} while (0)

/* Timespec arithmetic, comparison and rounding to milliseconds. */
static void
test_time(void)
{
	struct timespec a, b;
	int i;

	TS_IS(pv_ts_add(ts(1, 600000000), ts(2, 500000000)), 4, 100000000);
	TS_IS(pv_ts_add(ts(0, 999999999), ts(0, 1)), 1, 0);
	TS_IS(pv_ts_add(ts(5, 0), ts(0, 0)), 5, 0);
	TS_IS(pv_ts_add(ts(-1, 999999999), ts(0, 1)), 0, 0);
	TS_IS(pv_ts_sub(ts(3, 100000000), ts(1, 200000000)), 1, 900000000);
	TS_IS(pv_ts_sub(ts(1, 0), ts(2, 0)), -1, 0);
	TS_IS(pv_ts_sub(ts(0, 0), ts(0, 1)), -1, 999999999);
	TS_IS(pv_ts_sub(ts(7, 5), ts(7, 5)), 0, 0);
	TS_IS(pv_ts_add(pv_ts_sub(ts(10, 1), ts(3, 2)), ts(3, 2)), 10, 1);

	CHECK(pv_ts_cmp(ts(1, 0), ts(1, 1)) < 0);
	CHECK(pv_ts_cmp(ts(1, 1), ts(1, 0)) > 0);
	CHECK(pv_ts_cmp(ts(2, 0), ts(1, 999999999)) > 0);
	CHECK(pv_ts_cmp(ts(1, 999999999), ts(2, 0)) < 0);
	CHECK_EQ(pv_ts_cmp(ts(4, 4), ts(4, 4)), 0);
	CHECK(pv_ts_cmp(pv_ts_sub(ts(0, 0), ts(0, 1)), ts(0, 0)) < 0);

	CHECK_EQ(pv_ts_to_ms_ceil(ts(0, 0)), 0);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(0, 1)), 1);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(0, 999999)), 1);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(0, 1000000)), 1);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(0, 1000001)), 2);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(0, 999999999)), 1000);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(1, 0)), 1000);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(1, 500000)), 1001);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(12, 345000000)), 12345);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(-1, 999999999)), 0);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(-5, 0)), 0);
	CHECK_EQ(pv_ts_to_ms_ceil(pv_ts_sub(ts(1, 0), ts(1, 1))), 0);
	/* Clamped at INT_MAX, and exact right up to it. */
	CHECK_EQ(pv_ts_to_ms_ceil(ts(3000000, 0)), INT_MAX);
	CHECK_EQ(pv_ts_to_ms_ceil(ts((time_t)1 << 40, 0)), INT_MAX);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(INT_MAX / 1000, 647000000)), INT_MAX);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(INT_MAX / 1000, 648000000)), INT_MAX);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(2147482, 999999999)), 2147483000);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(2147483, 0)), 2147483000);
	CHECK_EQ(pv_ts_to_ms_ceil(ts(2147483, 500000000)), 2147483500);

	/* The monotonic clock never goes back. */
	pv_now(&a);
	for (i = 0; i < 1000; i++) {
		pv_now(&b);
		CHECK(pv_ts_cmp(b, a) >= 0);
		CHECK(b.tv_nsec >= 0 && b.tv_nsec < 1000000000);
		a = b;
	}
}

/* Returns the wait status of a child that exits code, or dies of sig. */
static int
child_status(int code, int sig)
{
	pid_t pid;
	int status;

	pid = fork();
	REQUIRE(pid != -1);
	if (pid == 0) {
		if (sig != 0) {
			signal(sig, SIG_DFL);
			raise(sig);
		}
		_exit(code);
	}
	while (waitpid(pid, &status, 0) == -1)
		REQUIRE(errno == EINTR);
	return status;
}

/* Wait statuses to shell statuses. */
static void
test_status(void)
{
	CHECK_EQ(pv_status_to_exit(W_EXITCODE(0, 0)), 0);
	CHECK_EQ(pv_status_to_exit(W_EXITCODE(3, 0)), 3);
	CHECK_EQ(pv_status_to_exit(W_EXITCODE(255, 0)), 255);
	CHECK_EQ(pv_status_to_exit(W_EXITCODE(0, SIGKILL)), 137);
	CHECK_EQ(pv_status_to_exit(W_EXITCODE(0, SIGTERM)), 143);
	CHECK_EQ(pv_status_to_exit(W_EXITCODE(0, SIGRTMAX)), 128 + SIGRTMAX);
	/* A stopped child is not finished. */
	CHECK_EQ(pv_status_to_exit(W_STOPCODE(SIGSTOP)), -1);
	CHECK_EQ(pv_status_to_exit(0xffff), -1);

	CHECK_EQ(pv_status_to_exit(child_status(0, 0)), 0);
	CHECK_EQ(pv_status_to_exit(child_status(7, 0)), 7);
	CHECK_EQ(pv_status_to_exit(child_status(256 + 2, 0)), 2);
	CHECK_EQ(pv_status_to_exit(child_status(0, SIGTERM)), 143);
	CHECK_EQ(pv_status_to_exit(child_status(0, SIGKILL)), 137);
	CHECK_EQ(pv_status_to_exit(child_status(0, SIGUSR2)), 128 + SIGUSR2);
}

int
main(void)
{
	check_watchdog(30);
	test_duration();
	test_signals();
	test_time();
	test_status();
	return check_done("test_util");
}
