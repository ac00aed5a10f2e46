/*
 * util.c: durations, signal names and monotonic time arithmetic.
 *
 * Pure functions with no state; they react to no signal.  Timing code in
 * pipevisor uses CLOCK_MONOTONIC only, so a wall-clock jump never changes
 * a timeout or a backoff (RELIABILITY.md item 27).
 */
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "pipevisor.h"
#include "pv_private.h"

#define NSEC_PER_SEC	1000000000L

/* The largest duration accepted, in seconds: keeps every sum in range. */
#define DURATION_MAX_SEC	((time_t)1 << 33)

/* Parses a duration such as "0.5", "500ms", "2s", "1m", "3h" or "1d". */
int
pv_duration_parse(const char *s, struct timespec *out)
{
	const char *p = s;
	long long whole = 0, unit_ns;
	long long frac = 0, frac_scale = 1;
	int digits = 0;
	__int128 ns;

	if (s == NULL || *s == '\0')
		goto invalid;
	for (; isdigit((unsigned char)*p); p++, digits++) {
		if (whole > DURATION_MAX_SEC * 1000) {
			errno = ERANGE;
			return -1;
		}
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			/* Digits past a picosecond cannot matter. */
			if (frac_scale < 1000000000000LL) {
				frac = frac * 10 + (*p - '0');
				frac_scale *= 10;
			}
		}
	}
	if (digits == 0)
		goto invalid;
	if (*p == '\0' || strcmp(p, "s") == 0)
		unit_ns = NSEC_PER_SEC;
	else if (strcmp(p, "ms") == 0)
		unit_ns = 1000000;
	else if (strcmp(p, "m") == 0)
		unit_ns = 60 * NSEC_PER_SEC;
	else if (strcmp(p, "h") == 0)
		unit_ns = 3600 * NSEC_PER_SEC;
	else if (strcmp(p, "d") == 0)
		unit_ns = 86400 * NSEC_PER_SEC;
	else
		goto invalid;

	/* Integer arithmetic: "0.001" must be exactly one millisecond. */
	ns = (__int128)whole * unit_ns + (__int128)frac * unit_ns / frac_scale;
	if (ns / NSEC_PER_SEC > DURATION_MAX_SEC) {
		errno = ERANGE;
		return -1;
	}
	out->tv_sec = (time_t)(ns / NSEC_PER_SEC);
	out->tv_nsec = (long)(ns % NSEC_PER_SEC);
	return 0;
invalid:
	errno = EINVAL;
	return -1;
}

/* Parses a signal name ("TERM", "SIGTERM", "RTMIN+1") or number. */
int
pv_signal_parse(const char *s)
{
	const char *errstr;
	const char *name;
	long long n;
	int sig;

	if (s == NULL || *s == '\0')
		goto invalid;
	if (isdigit((unsigned char)*s)) {
		n = strtonum(s, 1, NSIG - 1, &errstr);
		if (errstr != NULL)
			goto invalid;
		return (int)n;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
		int max = toupper((unsigned char)s[3]) == 'A';

		if (s[5] == '\0')
			return max ? SIGRTMAX : SIGRTMIN;
		/* strtonum would accept a sign or blanks after the +. */
		if (s[5] != (max ? '-' : '+') || !isdigit((unsigned char)s[6]))
			goto invalid;
		n = strtonum(s + 6, 0, SIGRTMAX - SIGRTMIN, &errstr);
		if (errstr != NULL)
			goto invalid;
		return max ? SIGRTMAX - (int)n : SIGRTMIN + (int)n;
	}
	for (sig = 1; sig < SIGRTMIN; sig++) {
		name = sigabbrev_np(sig);
		if (name != NULL && strcasecmp(name, s) == 0)
			return sig;
	}
invalid:
	errno = EINVAL;
	return -1;
}

/* Returns the abbreviation of signo ("TERM"), or "?". */
const char *
pv_signal_name(int signo)
{
	static const char *const rt[] = {
		"RTMIN", "RTMIN+1", "RTMIN+2", "RTMIN+3", "RTMIN+4",
		"RTMIN+5", "RTMIN+6", "RTMIN+7", "RTMIN+8", "RTMIN+9",
		"RTMIN+10", "RTMIN+11", "RTMIN+12", "RTMIN+13", "RTMIN+14",
		"RTMIN+15", "RTMAX-14", "RTMAX-13", "RTMAX-12", "RTMAX-11",
		"RTMAX-10", "RTMAX-9", "RTMAX-8", "RTMAX-7", "RTMAX-6",
		"RTMAX-5", "RTMAX-4", "RTMAX-3", "RTMAX-2", "RTMAX-1", "RTMAX"
	};
	const char *name;

	if (signo >= SIGRTMIN && signo <= SIGRTMAX &&
	    (size_t)(signo - SIGRTMIN) < sizeof(rt) / sizeof(rt[0])) {
		if (signo == SIGRTMAX)
			return "RTMAX";
		return rt[signo - SIGRTMIN];
	}
	name = sigabbrev_np(signo);
	return name != NULL ? name : "?";
}

/* Reads the monotonic clock; it cannot fail with a valid clock id. */
void
pv_now(struct timespec *now)
{
	clock_gettime(CLOCK_MONOTONIC, now);
}

/* Adds two timespecs. */
struct timespec
pv_ts_add(struct timespec a, struct timespec b)
{
	struct timespec r;

	r.tv_sec = a.tv_sec + b.tv_sec;
	r.tv_nsec = a.tv_nsec + b.tv_nsec;
	if (r.tv_nsec >= NSEC_PER_SEC) {
		r.tv_sec++;
		r.tv_nsec -= NSEC_PER_SEC;
	}
	return r;
}

/* Subtracts b from a. */
struct timespec
pv_ts_sub(struct timespec a, struct timespec b)
{
	struct timespec r;

	r.tv_sec = a.tv_sec - b.tv_sec;
	r.tv_nsec = a.tv_nsec - b.tv_nsec;
	if (r.tv_nsec < 0) {
		r.tv_sec--;
		r.tv_nsec += NSEC_PER_SEC;
	}
	return r;
}

/* Compares two timespecs. */
int
pv_ts_cmp(struct timespec a, struct timespec b)
{
	if (a.tv_sec != b.tv_sec)
		return a.tv_sec < b.tv_sec ? -1 : 1;
	if (a.tv_nsec != b.tv_nsec)
		return a.tv_nsec < b.tv_nsec ? -1 : 1;
	return 0;
}

/* Converts to milliseconds, rounding up so a wait never ends early. */
int
pv_ts_to_ms_ceil(struct timespec t)
{
	long long ms;

	if (t.tv_sec < 0)
		return 0;
	if (t.tv_sec > INT_MAX / 1000)
		return INT_MAX;
	ms = (long long)t.tv_sec * 1000 + (t.tv_nsec + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Converts a wait status to the status a shell would report. */
int
pv_status_to_exit(int wstatus)
{
	if (WIFEXITED(wstatus))
		return WEXITSTATUS(wstatus);
	if (WIFSIGNALED(wstatus))
		return 128 + WTERMSIG(wstatus);
	return -1;
}
