/*
 * pipevisor_status.c: `pipevisor status [-hjw] [-b NAME] [SERVICE ...]`:
 * the services of a running supervisor as its status board in shared
 * memory shows them.  It reads the board directly and never talks to the
 * supervisor, so it works while the supervisor is busy, stopped or dead
 * (a dead one's board is shown as stale, exit status 3).  The board is
 * that of the `pipevisor up` whose runtime directory the environment
 * names ($PIPEVISOR_RUNDIR, $XDG_RUNTIME_DIR/pipevisor, /tmp/pipevisor-UID:
 * "up-" and a hash of the path, see rundir_board_name), or -b NAME.
 *
 * Signals: only --watch catches any.  SIGINT and SIGTERM end the watch
 * with status 0.  They are caught with pv_sig_catch (blocked, and only
 * recorded by sig.c's handler) and made deliverable solely inside
 * pv_sig_window around board_wait's futex sleep: one that arrives while
 * a frame is printed stays pending and ends the next wait at once, one
 * that arrives during the sleep ends it at once, and none is lost.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define STATUS_EXIT_OK		0
#define STATUS_EXIT_ERROR	1	/* no board, no such service, I/O */
#define STATUS_EXIT_USAGE	2
#define STATUS_EXIT_STALE	3	/* the supervisor is gone */

#define STATUS_USAGE	"usage: pipevisor status [-hjw] [-b NAME] [SERVICE ...]"


/*
 * How often --watch looks again without a publish: a supervisor killed
 * with SIGKILL wakes no one, so staleness is noticed within this, and a
 * terminal's uptimes tick.
 */
#define STATUS_TICK_SEC		1

struct status_opts {
	const char	*board;
	char		 boardbuf[64];	/* the default board's name */
	char		 shm[256];
	int		 json;
	int		 watch;
	int		 tty;		/* stdout is a terminal */
	char		**names;	/* SERVICE arguments */
	int		 nnames;
};

/* Prints the usage of status to fp. */
static void
status_usage(FILE *fp)
{
	(void)fprintf(fp, "%s\n", STATUS_USAGE);
}

/* Reports a usage mistake on one line and returns status 2. */
static int __attribute__((format(printf, 1, 2)))
status_usage_error(const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warnx("status: %s (%s)", msg, STATUS_USAGE);
	return STATUS_EXIT_USAGE;
}

/* Returns CLOCK_REALTIME in nanoseconds, the board's clock. */
static int64_t
status_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Returns 1 if the service arguments name s (or there are none). */
static int
status_wanted(const struct status_opts *o, const struct board_service *s)
{
	int i;

	if (o->nnames == 0)
		return 1;
	for (i = 0; i < o->nnames; i++)
		if (strcmp(o->names[i], s->name) == 0)
			return 1;
	return 0;
}

/*
 * Reports every SERVICE argument the board does not hold.  Returns the
 * number reported.
 */
static int
status_check_names(const struct status_opts *o,
    const struct board_service *s, size_t n)
{
	char vis[PV_VIS_SIZE(64)];
	int i, missing = 0;
	size_t j, len;

	for (i = 0; i < o->nnames; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(o->names[i], s[j].name) == 0)
				break;
		if (j < n)
			continue;
		/* An argument is not to be trusted with a terminal either. */
		len = strlen(o->names[i]);
		pv_vis(vis, o->names[i], len > 64 ? 64 : len);
		warnx("status: no service '%s'", vis);
		missing++;
	}
	return missing;
}

/* Keeps the wanted services at the front of s, in board order. */
static size_t
status_filter(const struct status_opts *o, struct board_service *s,
    size_t n)
{
	size_t i, kept = 0;

	for (i = 0; i < n; i++)
		if (status_wanted(o, &s[i]))
			s[kept++] = s[i];
	return kept;
}

/*
 * Prints one snapshot.  On a terminal under --watch it redraws the
 * screen in place (home, each line cleared to its end, the rest below
 * cleared: no flicker); otherwise frames follow each other, text ones
 * separated by an empty line, JSON ones one per line.  Returns 0, or -1
 * with errno when stdout failed.
 */
static int
status_print(const struct status_opts *o, struct board_service *s, size_t n,
    const struct board_info *info, int first)
{
	const char *p, *nl;
	char *text;
	int e;

	n = status_filter(o, s, n);
	text = o->json ? board_render_json(s, n, info, status_now()) :
	    board_render_text(s, n, info, status_now());
	if (text == NULL)
		return -1;
	if (o->watch && o->tty) {
		(void)fputs("\033[H", stdout);
		for (p = text; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
			(void)fwrite(p, 1, (size_t)(nl - p), stdout);
			(void)fputs("\033[K\n", stdout);
		}
		(void)fputs(p, stdout);
		(void)fputs("\033[J", stdout);
	} else {
		if (!first && !o->json)
			putchar('\n');
		(void)fputs(text, stdout);
	}
	free(text);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		e = errno;
		clearerr(stdout);
		errno = e;
		return -1;
	}
	return 0;
}

/* Says why the board cannot be read (errno) and returns status 1. */
static int
status_open_failed(const struct status_opts *o)
{
	if (errno == ENOENT)
		warnx("status: no supervisor is running (no board %s)", o->shm);
	else if (errno == EPROTO)
		warnx("status: board %s has an unknown layout (written by "
		    "another version of pipevisor?)", o->shm);
	else if (errno == EAGAIN)
		warnx("status: board %s: the supervisor is stuck in an update "
		    "(stopped?)", o->shm);
	else
		warn("status: cannot read board %s", o->shm);
	return STATUS_EXIT_ERROR;
}

/* Reports a failed write on stdout (quietly when the reader has gone). */
static int
status_stdout_failed(void)
{
	if (errno != EPIPE)
		warn("status: standard output");
	return STATUS_EXIT_ERROR;
}

struct status_wait {
	struct board		*b;
	uint32_t		 seq;
	struct timespec		 tick;
};

/* board_wait for pv_sig_window: one futex call, nothing to undo. */
static long
status_wait_call(void *arg)
{
	struct status_wait *w = arg;

	return board_wait(w->b, w->seq, &w->tick);
}

/*
 * The --watch loop: sleep until the board changes (or a tick passes),
 * print again, until SIGINT or SIGTERM.  Returns the exit status.
 */
static int
status_watch(struct status_opts *o, struct board *b,
    const struct board_info *first)
{
	struct status_wait w;
	struct board_service *s;
	struct board_info info = *first;
	size_t n;
	long r;
	int sig, stale = first->stale;

	for (;;) {
		w.b = b;
		w.seq = info.seq;
		w.tick.tv_sec = STATUS_TICK_SEC;
		w.tick.tv_nsec = 0;
		/*
		 * The futex sleep is the only place SIGINT and SIGTERM are
		 * unblocked.  A signal that lands after the futex returned
		 * but before the window closes discards the wait's result:
		 * harmless, the board is read again anyway.
		 */
		r = pv_sig_window(status_wait_call, &w);
		if (r == -1 && errno == EINTR) {
			if ((sig = pv_sig_take()) == SIGINT || sig == SIGTERM)
				return STATUS_EXIT_OK;
			continue;
		}
		if (r == -1) {
			warn("status: cannot wait on board %s", o->shm);
			return STATUS_EXIT_ERROR;
		}
		if (board_read(b, &s, &n, &info) == -1) {
			if (errno != ENOENT)
				return status_open_failed(o);
			warnx("status: the supervisor stopped (board %s "
			    "removed)", o->shm);
			return STATUS_EXIT_ERROR;
		}
		/* A pipe gets changes only; a terminal also ticking uptimes. */
		if ((info.seq != w.seq || info.stale != stale || o->tty) &&
		    status_print(o, s, n, &info, 0) == -1) {
			free(s);
			return status_stdout_failed();
		}
		free(s);
		stale = info.stale;
	}
}

/* Runs `pipevisor status`. */
int
pipevisor_status(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "board",	required_argument,	NULL, 'b' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "json",	no_argument,		NULL, 'j' },
		{ "watch",	no_argument,		NULL, 'w' },
		{ NULL,		0,			NULL, 0 }
	};
	struct status_opts o;
	struct board_service *s;
	struct board_info info;
	struct board *b;
	char rundir[PATH_MAX];
	size_t n;
	int ch, status;

	memset(&o, 0, sizeof(o));
	optind = 1;
	opterr = 0;	/* our own one-line messages */
	while ((ch = getopt_long(argc, argv, ":b:hjw", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'b':
			o.board = optarg;
			break;
		case 'h':
			status_usage(stdout);
			return STATUS_EXIT_OK;
		case 'j':
			o.json = 1;
			break;
		case 'w':
			o.watch = 1;
			break;
		case ':':
			return status_usage_error("option '%s' needs an "
			    "argument", argv[optind - 1]);
		default:
			if (optopt != 0)
				return status_usage_error("unknown option "
				    "'-%c'", optopt);
			return status_usage_error("unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	o.names = argv + optind;
	o.nnames = argc - optind;
	if (o.board == NULL) {
		/* The board of the `up` that the environment points at. */
		if (rundir_path(rundir, sizeof(rundir)) == -1 ||
		    rundir_board_name(rundir, o.boardbuf, sizeof(o.boardbuf)) ==
		    -1) {
			warn("status: runtime directory");
			return STATUS_EXIT_ERROR;
		}
		o.board = o.boardbuf;
	}
	if (board_shm_name(o.shm, sizeof(o.shm), o.board) == -1)
		return status_usage_error("invalid board name '%s'", o.board);
	o.tty = isatty(STDOUT_FILENO);

	/* Caught before the first read: a ^C from here on ends cleanly. */
	if (o.watch && (pv_sig_catch(SIGINT) == -1 ||
	    pv_sig_catch(SIGTERM) == -1)) {
		warn("status: cannot catch signals");
		return STATUS_EXIT_ERROR;
	}
	if ((b = board_open(o.board)) == NULL)
		return status_open_failed(&o);
	if (board_read(b, &s, &n, &info) == -1) {
		status = status_open_failed(&o);
		board_close(b);
		return status;
	}
	if (status_check_names(&o, s, n) > 0) {
		free(s);
		board_close(b);
		return STATUS_EXIT_ERROR;
	}
	if (status_print(&o, s, n, &info, 1) == -1) {
		free(s);
		board_close(b);
		return status_stdout_failed();
	}
	free(s);
	if (o.watch)
		status = status_watch(&o, b, &info);
	else
		status = info.stale ? STATUS_EXIT_STALE : STATUS_EXIT_OK;
	board_close(b);
	return status;
}
