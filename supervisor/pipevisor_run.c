/*
 * pipevisor_run.c: `pipevisor run [options] SPEC`: one pipeline in the
 * foreground, with a shell's exit status and coreutils timeout's timeouts.
 *
 * Signals: SIGTERM, SIGINT, SIGHUP and SIGQUIT are forwarded to the
 * pipeline's process group; once every stage is reaped pipevisor dies of
 * the same signal (status 128+N in a shell).  SIGUSR1 and SIGUSR2 are
 * forwarded only.  The timeout is a monotonic timer in the event loop,
 * not SIGALRM, so pipevisor works when started with SIGALRM blocked or
 * ignored.  Stages get the signal state pipevisor was started with.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

/* Exit statuses of coreutils timeout, which `run` keeps. */
#define RUN_EXIT_TIMEDOUT	124
#define RUN_EXIT_KILLED		(128 + SIGKILL)

struct run_state {
	struct pv_pipeline	*pl;
	struct pv_loop		*loop;
	int			 signo;		/* sent on timeout */
	struct timespec		 kill_after;
	int			 has_kill_after;
	int			 timed_out;
	int			 sent_kill;
	int			 got_signal;	/* a terminating one */
	struct pv_timer		*kill_timer;
};

/* Prints run's usage to fp. */
static void
run_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: pipevisor run [-h] [-k DURATION] [-s SIGNAL] [-t DURATION]\n"
	    "                     [--pipefail] [--preserve-status] [--shell]"
	    " [--status]\n"
	    "                     SPEC\n");
}

/* Reports a usage mistake and returns run's usage status. */
#define run_usage_error(...) \
	pipevisor_usage_error("run", run_usage, RUN_EXIT_ERROR, __VA_ARGS__)

/* Sends SIGKILL to the group when --kill-after runs out. */
static void
run_on_kill_timer(struct pv_loop *loop, void *arg)
{
	struct run_state *rs = arg;

	(void)loop;
	rs->kill_timer = NULL;
	rs->sent_kill = 1;
	pv_pipeline_kill(rs->pl, SIGKILL);
}

/* Arms the SIGKILL escalation, once. */
static void
run_arm_kill(struct run_state *rs)
{
	struct timespec when;

	if (!rs->has_kill_after || rs->kill_timer != NULL || rs->sent_kill)
		return;
	pv_now(&when);
	when = pv_ts_add(when, rs->kill_after);
	rs->kill_timer = pv_loop_add_timer(rs->loop, &when, run_on_kill_timer,
	    rs);
	if (rs->kill_timer == NULL)
		warn("run: cannot arm --kill-after");
}

/* The --timeout timer: signal every stage, then maybe SIGKILL later. */
static void
run_on_timeout(struct pv_loop *loop, void *arg)
{
	struct run_state *rs = arg;

	(void)loop;
	rs->timed_out = 1;
	if (rs->signo == SIGKILL)
		rs->sent_kill = 1;
	pv_pipeline_kill(rs->pl, rs->signo);
	run_arm_kill(rs);
}

/* Forwards a signal pipevisor received to the pipeline's group. */
static void
run_on_signal(struct pv_loop *loop, int signo, void *arg)
{
	struct run_state *rs = arg;

	(void)loop;
	pv_pipeline_kill(rs->pl, signo);
	if (signo == SIGTERM || signo == SIGINT || signo == SIGHUP ||
	    signo == SIGQUIT) {
		rs->got_signal = signo;
		run_arm_kill(rs);
	}
}

/* Ends the loop once every stage has been reaped. */
static void
run_on_done(struct pv_pipeline *pl, void *arg)
{
	struct run_state *rs = arg;

	(void)pl;
	pv_loop_break(rs->loop);
}

/* Appends one argument to buf, quoted as a SPEC word when it needs it. */
static void
run_append_word(char *buf, size_t size, const char *arg)
{
	char vis[PV_VIS_SIZE(64)];
	size_t len = strlen(arg), i;
	const char *p;
	int plain = 1;

	if (len > 64)
		len = 64;	/* the report is a summary, not a log */
	/* Escape only what a terminal must not see raw. */
	for (i = 0; i < len && plain; i++)
		plain = (unsigned char)arg[i] >= 0x20 && arg[i] != 0x7f;
	if (plain) {
		memcpy(vis, arg, len);
		vis[len] = '\0';
	} else
		pv_vis(vis, arg, len);
	if (*vis != '\0' && strspn(vis, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789_./=:,+@%^-") == strlen(vis)) {
		strlcat(buf, vis, size);
		return;
	}
	strlcat(buf, "'", size);
	for (p = vis; *p != '\0'; p++)
		strlcat(buf, *p == '\'' ? "'\\''" : (char[2]){ *p, '\0' },
		    size);
	strlcat(buf, "'", size);
}

/* Formats a stage's argv as one line, for the --status report. */
static void
run_format_command(const struct pv_stage *st, char *buf, size_t size)
{
	char *const *argv = pv_stage_argv(st);
	size_t i;

	buf[0] = '\0';
	if (argv == NULL) {
		strlcpy(buf, pv_stage_name(st), size);
		return;
	}
	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0)
			strlcat(buf, " ", size);
		run_append_word(buf, size, argv[i]);
	}
}

/* Prints the per-stage report of --status on stderr. */
static void
run_print_status(const struct pv_pipeline *pl)
{
	struct timespec start, end, took;
	char status[32], command[256];
	const struct pv_stage *st;
	size_t i;
	int ws;

	fprintf(stderr, "%5s %8s  %-12s %10s  %s\n", "stage", "pid", "status",
	    "time", "command");
	for (i = 0; i < pv_pipeline_count(pl); i++) {
		st = pv_pipeline_stage(pl, i);
		ws = pv_stage_status(st);
		if (WIFEXITED(ws))
			snprintf(status, sizeof(status), "exit %d",
			    WEXITSTATUS(ws));
		else if (WIFSIGNALED(ws))
			snprintf(status, sizeof(status), "signal %s",
			    pv_signal_name(WTERMSIG(ws)));
		else
			strlcpy(status, "?", sizeof(status));
		pv_stage_times(st, &start, &end);
		took = pv_ts_sub(end, start);
		run_format_command(st, command, sizeof(command));
		fprintf(stderr, "%5zu %8ld  %-12s %9.3fs  %s\n", i + 1,
		    (long)pv_stage_pid(st), status,
		    (double)took.tv_sec + took.tv_nsec / 1e9, command);
	}
}

/* Returns SIGINT or SIGQUIT if a stage died of it, else 0. */
static int
run_keyboard_signal(const struct pv_pipeline *pl)
{
	size_t i;
	int ws;

	for (i = 0; i < pv_pipeline_count(pl); i++) {
		ws = pv_stage_status(pv_pipeline_stage(pl, i));
		if (WIFSIGNALED(ws) && (WTERMSIG(ws) == SIGINT ||
		    WTERMSIG(ws) == SIGQUIT))
			return WTERMSIG(ws);
	}
	return 0;
}

/* Runs `pipevisor run`. */
int
pipevisor_run(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",		no_argument,		NULL, 'h' },
		{ "kill-after",		required_argument,	NULL, 'k' },
		{ "pipefail",		no_argument,		NULL, 'P' },
		{ "preserve-status",	no_argument,		NULL, 'R' },
		{ "shell",		no_argument,		NULL, 'S' },
		{ "signal",		required_argument,	NULL, 's' },
		{ "status",		no_argument,		NULL, 'T' },
		{ "timeout",		required_argument,	NULL, 't' },
		{ NULL,			0,			NULL, 0 }
	};
	static const int forwarded[] = {
		SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2
	};
	struct run_state rs;
	struct pv_spec_error perr;
	int foreground, keyboard = 0;
	struct timespec timeout = { 0, 0 }, when;
	const char *filters;
	int ch, has_timeout = 0, pipefail = 0, preserve = 0, shell = 0;
	int status = 0, report = 0;
	size_t i;

	memset(&rs, 0, sizeof(rs));
	rs.signo = SIGTERM;
	optind = 1;
	opterr = 0;	/* our own messages, with the "pipevisor: run:" prefix */
	while ((ch = getopt_long(argc, argv, "+:hk:s:t:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'h':
			run_usage(stdout);
			return 0;
		case 'k':
			if (pv_duration_parse(optarg, &rs.kill_after) == -1)
				return run_usage_error("invalid duration for "
				    "--kill-after: '%s'", optarg);
			/* 0 turns it off, as in coreutils timeout. */
			rs.has_kill_after = rs.kill_after.tv_sec != 0 ||
			    rs.kill_after.tv_nsec != 0;
			break;
		case 'P':
			pipefail = 1;
			break;
		case 'R':
			preserve = 1;
			break;
		case 'S':
			shell = 1;
			break;
		case 's':
			if ((rs.signo = pv_signal_parse(optarg)) == -1)
				return run_usage_error("invalid signal: '%s'",
				    optarg);
			break;
		case 'T':
			report = 1;
			break;
		case 't':
			if (pv_duration_parse(optarg, &timeout) == -1)
				return run_usage_error("invalid duration for "
				    "--timeout: '%s'", optarg);
			has_timeout = timeout.tv_sec != 0 || timeout.tv_nsec != 0;
			break;
		case ':':
			return run_usage_error("option '%s' needs an argument",
			    argv[optind - 1]);
		default:
			if (optopt != 0)
				return run_usage_error("unknown option '-%c'",
				    optopt);
			return run_usage_error("unknown option '%s'",
			    argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return run_usage_error("%s", "missing SPEC");
	if (argc > 1)
		return run_usage_error("one SPEC expected, got another: '%s' "
		    "(quote the whole pipeline)", argv[1]);

	if ((rs.pl = pv_pipeline_new()) == NULL || (rs.loop = pv_loop_new()) ==
	    NULL)
		err(RUN_EXIT_ERROR, "run");
	if (pv_pipeline_parse(rs.pl, argv[0], shell, &perr) == -1) {
		if (perr.message[0] == '\0')
			err(RUN_EXIT_ERROR, "run");
		warnx("run: SPEC column %zu: %s", perr.column, perr.message);
		pv_pipeline_free(rs.pl);
		pv_loop_free(rs.loop);
		return RUN_EXIT_ERROR;
	}
	if ((filters = pipevisor_filters_dir()) != NULL &&
	    pv_pipeline_set_fallback_path(rs.pl, filters) == -1)
		err(RUN_EXIT_ERROR, "run");
	pv_pipeline_set_terminal(rs.pl, STDIN_FILENO);
	for (i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		if (pv_loop_on_signal(rs.loop, forwarded[i], run_on_signal,
		    &rs) == -1)
			err(RUN_EXIT_ERROR, "run: cannot catch SIG%s",
			    pv_signal_name(forwarded[i]));

	if (pv_pipeline_start(rs.pl) == -1)
		err(RUN_EXIT_ERROR, "run: cannot start the pipeline");
	foreground = pv_pipeline_has_terminal(rs.pl);
	for (i = 0; i < pv_pipeline_count(rs.pl); i++) {
		const struct pv_stage *st = pv_pipeline_stage(rs.pl, i);

		if (pv_stage_error(st) != NULL)
			warnx("run: stage %zu: %s: %s", i + 1, pv_stage_name(st),
			    pv_stage_error(st));
	}
	if (has_timeout) {
		pv_now(&when);
		when = pv_ts_add(when, timeout);
		if (pv_loop_add_timer(rs.loop, &when, run_on_timeout, &rs) ==
		    NULL)
			warn("run: cannot arm --timeout");
	}
	if (pv_pipeline_watch(rs.pl, rs.loop, run_on_done, &rs) == -1 ||
	    (pv_pipeline_poll(rs.pl) > 0 && pv_loop_run(rs.loop) == -1)) {
		/* The loop failed: still never leave a stage behind. */
		warn("run: event loop");
		pv_pipeline_stop(rs.pl, SIGKILL, NULL);
		status = RUN_EXIT_ERROR;
	}

	if (report)
		run_print_status(rs.pl);
	/*
	 * The terminal's INT or QUIT went to the stages, not to us.  Like a
	 * shell, die of it when a stage did, so a calling script stops too.
	 */
	if (foreground)
		keyboard = run_keyboard_signal(rs.pl);
	if (status == 0) {
		status = pv_pipeline_status(rs.pl, pipefail);
		if (rs.timed_out && !preserve)
			status = rs.sent_kill ? RUN_EXIT_KILLED :
			    RUN_EXIT_TIMEDOUT;
	}
	pv_pipeline_free(rs.pl);
	pv_loop_free(rs.loop);
	if (rs.got_signal != 0 && !rs.timed_out)
		pv_sig_die(rs.got_signal);
	if (keyboard != 0 && !rs.timed_out)
		pv_sig_die(keyboard);
	return status;
}
