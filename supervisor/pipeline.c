/*
 * pipeline.c: pipelines of programs and functions: building, starting,
 * waiting, signalling and reporting.
 *
 * A started pipeline is one process group led by its first stage; data
 * flows from stage to stage through kernel pipes, never through us.  Each
 * stage is watched through a pidfd and reaped with waitpid on its own pid,
 * so a pipeline never takes, and never loses, the status of a child it
 * did not start (libpipeline's known flaw); a process 1 that reaps any
 * child hands back what was a stage's (pv_pipeline_reaped).  Waits block
 * in ppoll under pv_sig_waitmask(), so a caught signal ends a wait with
 * EINTR instead of being lost.  A finished pipeline can be reset and
 * started again: what its first start built (the stages' environments,
 * the search path, scratch buffers) is kept, so a supervisor's restart
 * costs little more than the fork and exec.  Nothing here exits or
 * prints.
 */
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

struct stage_env {
	char	*name;
	char	*value;		/* NULL: unset */
};

struct pv_stage {
	struct pv_pipeline	*pl;
	size_t			 index;
	char			**argv;		/* NULL-terminated, owned */
	char			**shargv;	/* ENOEXEC fallback */
	char			*name;
	int			(*fn)(void *);
	void			*arg;
	struct stage_env	*env;
	size_t			 nenv;
	char			**envp;		/* built at start when nenv */
	size_t			 envown;	/* envp[envown..] are ours */
	char			*cwd;
	struct spawn_redir	*redirs;
	size_t			 nredirs;
	int			 passfrom[PV_SPAWN_MAXPASS];
	int			 passto[PV_SPAWN_MAXPASS];
	size_t			 npass;

	pid_t			 pid;
	int			 pidfd;
	int			 status;	/* -1 until reaped */
	struct timespec		 start, end;
	struct spawn_report	 report;	/* report.what != 0: failed */
	char			*error;
};

struct pv_pipeline {
	struct pv_stage		**stages;
	size_t			 n, cap;
	int			 in_fd, out_fd;		/* -1: inherit */
	int			 want_in, want_out;
	int			 caller_in, caller_out;	/* our pipe ends */
	enum pv_sigmode		 sigmode;
	char			*fallback;
	int			 tty;
	int			 took_tty;
	int			 setids;
	uid_t			 uid;
	gid_t			 gid;
	gid_t			*groups;
	size_t			 ngroups;
	pid_t			 pgid;
	pid_t			 join;		/* group to join, 0: lead one */
	int			 session;	/* one stage: lead a session */
	int			 started;
	size_t			 running;
	struct pollfd		*pfds;
	size_t			 npfds;
	char			*search;	/* PATH and fallback, built once */
	char			*pathbuf;	/* PATH_MAX scratch for the child */
	char			**envbase;	/* environ when envp were built */
	struct pv_loop		*loop;
	struct pv_timer		*polltimer;	/* stages without a pidfd */
	void			(*done)(struct pv_pipeline *, void *);
	void			*done_arg;
};

/* Returns an empty pipeline. */
struct pv_pipeline *
pv_pipeline_new(void)
{
	struct pv_pipeline *pl;

	if ((pl = calloc(1, sizeof(*pl))) == NULL)
		return NULL;
	pl->in_fd = pl->out_fd = -1;
	pl->caller_in = pl->caller_out = -1;
	pl->tty = -1;
	return pl;
}

/* Frees the environment block built for the stage, if any. */
static void
stage_drop_env(struct pv_stage *st)
{
	size_t i;

	if (st->envp == NULL)
		return;
	/* Only the strings we made are ours; the rest are environ's. */
	for (i = st->envown; st->envp[i] != NULL; i++)
		free(st->envp[i]);
	free(st->envp);
	st->envp = NULL;
}

/* Frees one stage's memory and closes its pidfd. */
static void
stage_free(struct pv_stage *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; st->argv != NULL && st->argv[i] != NULL; i++)
		free(st->argv[i]);
	free(st->argv);
	free(st->shargv);
	free(st->name);
	for (i = 0; i < st->nenv; i++) {
		free(st->env[i].name);
		free(st->env[i].value);
	}
	free(st->env);
	stage_drop_env(st);
	free(st->cwd);
	for (i = 0; i < st->nredirs; i++)
		free(st->redirs[i].path);
	free(st->redirs);
	free(st->error);
	if (st->pidfd >= 0)
		close(st->pidfd);
	free(st);
}

/* Frees the pipeline; it neither signals nor waits. */
void
pv_pipeline_free(struct pv_pipeline *pl)
{
	size_t i;

	if (pl == NULL)
		return;
	if (pl->loop != NULL) {
		for (i = 0; i < pl->n; i++)
			if (pl->stages[i]->pidfd >= 0)
				pv_loop_del_fd(pl->loop, pl->stages[i]->pidfd);
		pv_loop_cancel_timer(pl->loop, pl->polltimer);
	}
	for (i = 0; i < pl->n; i++)
		stage_free(pl->stages[i]);
	free(pl->stages);
	free(pl->groups);
	free(pl->fallback);
	free(pl->pfds);
	free(pl->search);
	free(pl->pathbuf);
	if (pl->caller_in >= 0)
		close(pl->caller_in);
	if (pl->caller_out >= 0)
		close(pl->caller_out);
	free(pl);
}

/*
 * Makes a finished pipeline startable again: forgets what the last run
 * left (pids, statuses, times, errors, group, loop watch, our pipe ends)
 * and keeps the stages, their settings and what start built.
 */
int
pv_pipeline_reset(struct pv_pipeline *pl)
{
	struct pv_stage *st;
	size_t i;

	if (!pl->started)
		return 0;
	if (pl->running > 0) {
		errno = EBUSY;
		return -1;
	}
	/* Reaped stages closed their pidfds and left the loop already. */
	if (pl->loop != NULL)
		pv_loop_cancel_timer(pl->loop, pl->polltimer);
	pl->polltimer = NULL;
	pl->loop = NULL;
	pl->done = NULL;
	pl->done_arg = NULL;
	for (i = 0; i < pl->n; i++) {
		st = pl->stages[i];
		if (st->pidfd >= 0)
			close(st->pidfd);
		st->pidfd = -1;
		st->pid = 0;
		st->status = -1;
		memset(&st->start, 0, sizeof(st->start));
		memset(&st->end, 0, sizeof(st->end));
		memset(&st->report, 0, sizeof(st->report));
		free(st->error);
		st->error = NULL;
	}
	pv_pipeline_close_input(pl);
	if (pl->caller_out >= 0) {
		close(pl->caller_out);
		pl->caller_out = -1;
	}
	pl->pgid = 0;
	pl->took_tty = 0;
	pl->started = 0;
	return 0;
}

/* Appends a new, empty stage. */
static struct pv_stage *
pipeline_new_stage(struct pv_pipeline *pl)
{
	struct pv_stage *st, **ns;
	size_t n;

	if (pl->started) {
		errno = EBUSY;
		return NULL;
	}
	if (pl->n == pl->cap) {
		n = pl->cap ? pl->cap * 2 : 4;
		if ((ns = reallocarray(pl->stages, n, sizeof(*ns))) == NULL)
			return NULL;
		pl->stages = ns;
		pl->cap = n;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	st->pl = pl;
	st->index = pl->n;
	st->pidfd = -1;
	st->status = -1;
	pl->stages[pl->n++] = st;
	return st;
}

/* Drops the last stage again (a failed add, a SPEC that did not parse). */
void
pipeline_drop_last(struct pv_pipeline *pl)
{
	stage_free(pl->stages[--pl->n]);
}

/* Appends a program stage. */
struct pv_stage *
pv_pipeline_add(struct pv_pipeline *pl, const char *const argv[])
{
	struct pv_stage *st;
	size_t argc, i;

	if (argv == NULL || argv[0] == NULL) {
		errno = EINVAL;
		return NULL;
	}
	for (argc = 0; argv[argc] != NULL; argc++)
		continue;
	if ((st = pipeline_new_stage(pl)) == NULL)
		return NULL;
	st->argv = calloc(argc + 1, sizeof(*st->argv));
	/* Room for "sh", the script's path, argv[1..] and NULL. */
	st->shargv = calloc(argc + 2, sizeof(*st->shargv));
	if (st->argv == NULL || st->shargv == NULL)
		goto fail;
	for (i = 0; i < argc; i++)
		if ((st->argv[i] = strdup(argv[i])) == NULL)
			goto fail;
	st->shargv[0] = (char *)"sh";
	for (i = 1; i < argc; i++)
		st->shargv[i + 1] = st->argv[i];
	if ((st->name = strdup(argv[0])) == NULL)
		goto fail;
	return st;
fail:
	pipeline_drop_last(pl);
	errno = ENOMEM;
	return NULL;
}

/* Appends a function stage. */
struct pv_stage *
pv_pipeline_add_func(struct pv_pipeline *pl, const char *name,
    int (*fn)(void *), void *arg)
{
	struct pv_stage *st;

	if (fn == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if ((st = pipeline_new_stage(pl)) == NULL)
		return NULL;
	st->fn = fn;
	st->arg = arg;
	if ((st->name = strdup(name != NULL ? name : "function")) == NULL) {
		pipeline_drop_last(pl);
		errno = ENOMEM;
		return NULL;
	}
	return st;
}

/* Returns the number of stages. */
size_t
pv_pipeline_count(const struct pv_pipeline *pl)
{
	return pl->n;
}

/* Returns stage i. */
struct pv_stage *
pv_pipeline_stage(const struct pv_pipeline *pl, size_t i)
{
	return i < pl->n ? pl->stages[i] : NULL;
}

/* Records an environment change for one stage. */
int
pv_stage_setenv(struct pv_stage *st, const char *name, const char *value)
{
	struct stage_env *ne;
	char *n = NULL, *v = NULL;

	if (name == NULL || *name == '\0' || strchr(name, '=') != NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((n = strdup(name)) == NULL ||
	    (value != NULL && (v = strdup(value)) == NULL))
		goto fail;
	ne = reallocarray(st->env, st->nenv + 1, sizeof(*ne));
	if (ne == NULL)
		goto fail;
	st->env = ne;
	st->env[st->nenv].name = n;
	st->env[st->nenv].value = v;
	st->nenv++;
	/* A block built by an earlier start no longer holds. */
	stage_drop_env(st);
	return 0;
fail:
	free(n);
	free(v);
	errno = ENOMEM;
	return -1;
}

/* Runs every stage as uid/gid with the given supplementary groups. */
int
pv_pipeline_set_credentials(struct pv_pipeline *pl, uid_t uid, gid_t gid,
    const gid_t *groups, size_t ngroups)
{
	gid_t *g = NULL;

	if (ngroups > 0) {
		if ((g = reallocarray(NULL, ngroups, sizeof(*g))) == NULL)
			return -1;
		memcpy(g, groups, ngroups * sizeof(*g));
	}
	free(pl->groups);
	pl->groups = g;
	pl->ngroups = ngroups;
	pl->uid = uid;
	pl->gid = gid;
	pl->setids = 1;
	return 0;
}

/* Tells whether the pipeline holds the terminal (it took it at start). */
int
pv_pipeline_has_terminal(const struct pv_pipeline *pl)
{
	return pl->took_tty;
}

/* Sets the stage's working directory. */
int
pv_stage_chdir(struct pv_stage *st, const char *dir)
{
	char *d;

	if ((d = strdup(dir)) == NULL)
		return -1;
	free(st->cwd);
	st->cwd = d;
	return 0;
}

/* Appends one redirection. */
static int
stage_add_redir(struct pv_stage *st, int fd, int from, const char *path,
    int flags)
{
	struct spawn_redir *nr;
	char *p = NULL;

	if (fd < 0 || fd > 255 || from > 255) {
		errno = EBADF;
		return -1;
	}
	if (path != NULL && (p = strdup(path)) == NULL)
		return -1;
	nr = reallocarray(st->redirs, st->nredirs + 1, sizeof(*nr));
	if (nr == NULL) {
		free(p);
		return -1;
	}
	st->redirs = nr;
	nr[st->nredirs].fd = fd;
	nr[st->nredirs].from = from;
	nr[st->nredirs].path = p;
	nr[st->nredirs].flags = flags;
	st->nredirs++;
	return 0;
}

/* Redirects fd to a file. */
int
pv_stage_open(struct pv_stage *st, int fd, const char *path, int flags)
{
	if (path == NULL || *path == '\0') {
		errno = EINVAL;
		return -1;
	}
	return stage_add_redir(st, fd, -1, path, flags);
}

/* Makes fd a copy of from (from -1: close fd). */
int
pv_stage_dup(struct pv_stage *st, int fd, int from)
{
	return stage_add_redir(st, fd, from, NULL, 0);
}

/* Passes the caller's fd `from` to the stage as `to`. */
int
pv_stage_pass_fd(struct pv_stage *st, int from, int to)
{
	size_t i;

	if (from < 0 || to < 0 || to > 255) {
		errno = EBADF;
		return -1;
	}
	/* A new fd for the same target replaces the old (a reset pipeline). */
	for (i = 0; i < st->npass; i++)
		if (st->passto[i] == to) {
			st->passfrom[i] = from;
			return 0;
		}
	if (st->npass == PV_SPAWN_MAXPASS) {
		errno = E2BIG;
		return -1;
	}
	st->passfrom[st->npass] = from;
	st->passto[st->npass] = to;
	st->npass++;
	return 0;
}

/* Returns the stage's label. */
const char *
pv_stage_name(const struct pv_stage *st)
{
	return st->name;
}

/* Returns the stage's argv. */
char *const *
pv_stage_argv(const struct pv_stage *st)
{
	return st->argv;
}

/* Returns the stage's pid. */
pid_t
pv_stage_pid(const struct pv_stage *st)
{
	return st->pid;
}

/* Returns the stage's wait status, or -1. */
int
pv_stage_status(const struct pv_stage *st)
{
	return st->status;
}

/* Returns why the stage did not start, or NULL. */
const char *
pv_stage_error(const struct pv_stage *st)
{
	return st->error;
}

/* Returns the stage's start and end times. */
void
pv_stage_times(const struct pv_stage *st, struct timespec *start,
    struct timespec *end)
{
	if (start != NULL)
		*start = st->start;
	if (end != NULL)
		*end = st->end;
}

/* Sets the first stage's stdin. */
void
pv_pipeline_set_input(struct pv_pipeline *pl, int fd)
{
	pl->in_fd = fd;
	pl->want_in = 0;
}

/* Sets the last stage's stdout. */
void
pv_pipeline_set_output(struct pv_pipeline *pl, int fd)
{
	pl->out_fd = fd;
	pl->want_out = 0;
}

/* Asks for a pipe into the first stage. */
void
pv_pipeline_want_input(struct pv_pipeline *pl)
{
	pl->want_in = 1;
	pl->in_fd = -1;
}

/* Asks for a pipe from the last stage. */
void
pv_pipeline_want_output(struct pv_pipeline *pl)
{
	pl->want_out = 1;
	pl->out_fd = -1;
}

/* Returns the caller's end of the input pipe. */
int
pv_pipeline_input_fd(const struct pv_pipeline *pl)
{
	return pl->caller_in;
}

/* Returns the caller's end of the output pipe. */
int
pv_pipeline_output_fd(const struct pv_pipeline *pl)
{
	return pl->caller_out;
}

/* Closes the input pipe, sending end of file to the first stage. */
void
pv_pipeline_close_input(struct pv_pipeline *pl)
{
	if (pl->caller_in >= 0) {
		close(pl->caller_in);
		pl->caller_in = -1;
	}
}

/* Sets the signal state stages start with. */
void
pv_pipeline_set_sigmode(struct pv_pipeline *pl, enum pv_sigmode m)
{
	pl->sigmode = m;
}

/* Sets the directories searched after PATH. */
int
pv_pipeline_set_fallback_path(struct pv_pipeline *pl, const char *path)
{
	char *p = NULL;

	if (path != NULL && (p = strdup(path)) == NULL)
		return -1;
	free(pl->fallback);
	pl->fallback = p;
	/* The search path is built again at the next start. */
	free(pl->search);
	pl->search = NULL;
	return 0;
}

/* Hands the terminal to the pipeline while it runs, if ours to give. */
void
pv_pipeline_set_terminal(struct pv_pipeline *pl, int tty)
{
	pl->tty = tty;
}

/* Makes the stages join group pgid; see pipevisor.h. */
void
pv_pipeline_set_group(struct pv_pipeline *pl, pid_t pgid)
{
	pl->join = pgid > 0 ? pgid : 0;
}

/* Makes a one-stage pipeline lead a session of its own; see pipevisor.h. */
void
pv_pipeline_set_session(struct pv_pipeline *pl, int on)
{
	pl->session = on != 0;
}

/* Returns the pipeline's process group. */
pid_t
pv_pipeline_pgid(const struct pv_pipeline *pl)
{
	return pl->pgid;
}

/* Builds a stage's environment: the caller's with the stage's changes. */
static int
stage_build_env(struct pv_stage *st)
{
	size_t n, i, j, j0, len;
	char **envp;

	for (n = 0; environ[n] != NULL; n++)
		continue;
	envp = calloc(n + st->nenv + 1, sizeof(*envp));
	if (envp == NULL)
		return -1;
	for (i = 0, j = 0; i < n; i++) {
		size_t k;
		int drop = 0;

		for (k = 0; k < st->nenv && !drop; k++) {
			len = strlen(st->env[k].name);
			drop = strncmp(environ[i], st->env[k].name, len) == 0 &&
			    environ[i][len] == '=';
		}
		if (!drop)
			envp[j++] = environ[i];
	}
	/* Later changes of one name win: the last set or unset counts. */
	j0 = j;
	for (i = 0; i < st->nenv; i++) {
		size_t k;
		int later = 0;

		for (k = i + 1; k < st->nenv && !later; k++)
			later = strcmp(st->env[k].name, st->env[i].name) == 0;
		if (later || st->env[i].value == NULL)
			continue;
		if (asprintf(&envp[j], "%s=%s", st->env[i].name,
		    st->env[i].value) == -1) {
			envp[j] = NULL;
			goto fail;
		}
		j++;
	}
	envp[j] = NULL;
	st->envp = envp;
	st->envown = j0;
	return 0;
fail:
	/* Only the strings we made are ours to free. */
	for (i = j0; i < j; i++)
		free(envp[i]);
	free(envp);
	return -1;
}

/* Describes why a stage could not start, for pv_stage_error. */
static void
stage_format_error(struct pv_stage *st)
{
	const struct spawn_report *rep = &st->report;
	int r;

	switch (rep->what) {
	case SPAWN_EXEC:
		if (rep->err == ENOENT && strchr(st->argv[0], '/') == NULL)
			r = asprintf(&st->error, "command not found");
		else
			r = asprintf(&st->error, "%s", strerror(rep->err));
		break;
	case SPAWN_CREDS:
		r = asprintf(&st->error, "cannot switch to uid %ld gid %ld: %s",
		    (long)st->pl->uid, (long)st->pl->gid, strerror(rep->err));
		break;
	case SPAWN_CHDIR:
		r = asprintf(&st->error, "%s: %s", st->cwd, strerror(rep->err));
		break;
	case SPAWN_REDIR:
		if (rep->redir >= 0 && (size_t)rep->redir < st->nredirs &&
		    st->redirs[rep->redir].path != NULL)
			r = asprintf(&st->error, "%s: %s",
			    st->redirs[rep->redir].path, strerror(rep->err));
		else if (rep->redir >= 0 && (size_t)rep->redir < st->nredirs)
			r = asprintf(&st->error, "%d>&%d: %s",
			    st->redirs[rep->redir].fd,
			    st->redirs[rep->redir].from, strerror(rep->err));
		else
			r = asprintf(&st->error, "cannot wire fds: %s",
			    strerror(rep->err));
		break;
	default:
		r = asprintf(&st->error, "could not start");
		break;
	}
	if (r == -1)
		st->error = NULL;
}

/* Records a reaped stage. */
static void
stage_reaped(struct pv_stage *st, int status)
{
	st->status = status;
	pv_now(&st->end);
	if (st->pidfd >= 0) {
		if (st->pl->loop != NULL)
			pv_loop_del_fd(st->pl->loop, st->pidfd);
		close(st->pidfd);
		st->pidfd = -1;
	}
	st->pl->running--;
}

/* Reaps a stage if it has exited; returns 1 if it was reaped. */
static int
stage_try_reap(struct pv_stage *st)
{
	int status;
	pid_t r;

	if (st->pid <= 0 || st->status != -1)
		return 0;
	do
		r = waitpid(st->pid, &status, WNOHANG);
	while (r == -1 && errno == EINTR);
	if (r == 0)
		return 0;
	/*
	 * ECHILD: someone else reaped it (SIGCHLD ignored in a program
	 * that did not call pv_sig_init).  The status is lost; report the
	 * stage as failed rather than wait for ever.
	 */
	if (r == -1)
		status = W_EXITCODE(255, 0);
	stage_reaped(st, status);
	return 1;
}

/*
 * Gives the terminal to process group pgid.  SIGTTOU is blocked around
 * it: once the child has taken the terminal we are a background group,
 * and tcsetpgrp from there would stop us.
 */
static void
pipeline_set_tty(int tty, pid_t pgid)
{
	sigset_t ttou, saved;

	sigemptyset(&ttou);
	sigaddset(&ttou, SIGTTOU);
	sigprocmask(SIG_BLOCK, &ttou, &saved);
	tcsetpgrp(tty, pgid);
	sigprocmask(SIG_SETMASK, &saved, NULL);
}

/* Gives the terminal back to our own process group. */
static void
pipeline_return_tty(struct pv_pipeline *pl)
{
	if (!pl->took_tty)
		return;
	pl->took_tty = 0;
	pipeline_set_tty(pl->tty, getpgrp());
}

/* Kills and reaps what a failed start had begun; errno is kept. */
static void
pipeline_abort(struct pv_pipeline *pl)
{
	int saved = errno, status;
	size_t i;

	if (pl->pgid > 0)
		killpg(pl->pgid, SIGKILL);
	for (i = 0; i < pl->n; i++) {
		struct pv_stage *st = pl->stages[i];

		if (st->pid > 0 && st->status == -1) {
			while (waitpid(st->pid, &status, 0) == -1 &&
			    errno == EINTR)
				continue;
			stage_reaped(st, status);
		}
	}
	pipeline_return_tty(pl);
	errno = saved;
}

/* Returns fd moved to at least lowest, CLOEXEC (closes the original). */
static int
fd_above(int fd, int lowest)
{
	int nfd;

	if (fd >= lowest)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, lowest);
	close(fd);
	return nfd;
}

/* Makes a CLOEXEC pipe whose ends are not 0, 1 or 2. */
static int
pipe_above(int p[2], int lowest)
{
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	p[0] = fd_above(p[0], lowest);
	p[1] = fd_above(p[1], lowest);
	if (p[0] == -1 || p[1] == -1) {
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		return -1;
	}
	return 0;
}

/* Reads the start-failure reports until every child exec'd or exited. */
static void
pipeline_read_reports(struct pv_pipeline *pl, int errfd)
{
	struct spawn_report rep;
	ssize_t r;

	for (;;) {
		r = read(errfd, &rep, sizeof(rep));
		if (r == -1 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof(rep))
			break;
		if (rep.index >= 0 && (size_t)rep.index < pl->n) {
			pl->stages[rep.index]->report = rep;
			stage_format_error(pl->stages[rep.index]);
		}
	}
}

/*
 * Builds what every start needs and a reset keeps: the search path, the
 * child's path buffer, the poll array and the stages' environments.
 * They are built again only when what they came from changed: a stage's
 * environment, the fallback path, or environ itself (moved by setenv or
 * setproctitle).  Returns 0, or -1 with errno.
 */
static int
pipeline_prepare(struct pv_pipeline *pl)
{
	const char *path;
	struct pollfd *np;
	size_t i;

	if (pl->envbase != environ) {
		free(pl->search);
		pl->search = NULL;
		for (i = 0; i < pl->n; i++)
			stage_drop_env(pl->stages[i]);
		pl->envbase = environ;
	}
	if (pl->search == NULL) {
		if ((path = getenv("PATH")) == NULL)
			path = DEFAULT_PATH;
		if (asprintf(&pl->search, "%s%s%s", path,
		    pl->fallback ? ":" : "",
		    pl->fallback ? pl->fallback : "") == -1) {
			pl->search = NULL;
			return -1;
		}
	}
	if (pl->pathbuf == NULL && (pl->pathbuf = malloc(PATH_MAX)) == NULL)
		return -1;
	if (pl->npfds < pl->n) {
		if ((np = reallocarray(pl->pfds, pl->n, sizeof(*np))) == NULL)
			return -1;
		pl->pfds = np;
		pl->npfds = pl->n;
	}
	for (i = 0; i < pl->n; i++)
		if (pl->stages[i]->nenv > 0 && pl->stages[i]->envp == NULL &&
		    stage_build_env(pl->stages[i]) == -1)
			return -1;
	return 0;
}

/* Starts every stage. */
int
pv_pipeline_start(struct pv_pipeline *pl)
{
	struct spawn_plan plan;
	int errp[2] = { -1, -1 }, io[2], prev_in = -1, next_in = -1;
	int lowest = 3, saved_errno, forks = 0;
	size_t i, k;

	if (pl->n == 0 || pl->started) {
		errno = pl->n == 0 ? EINVAL : EBUSY;
		return -1;
	}
	if (pipeline_prepare(pl) == -1)
		return -1;
	for (i = 0; i < pl->n; i++)
		if (pl->stages[i]->fn != NULL)
			forks = 1;
	/*
	 * Only a function stage, forked with memory of its own, needs the
	 * error pipe, and our stdio flushed so it cannot repeat our output;
	 * a program's child reports through the memory it shares with us.
	 */
	if (forks) {
		fflush(NULL);
		/* The error pipe must sit above every fd a stage is given. */
		for (i = 0; i < pl->n; i++) {
			struct pv_stage *st = pl->stages[i];

			for (k = 0; k < st->npass; k++)
				if (st->passto[k] >= lowest)
					lowest = st->passto[k] + 1;
			for (k = 0; k < st->nredirs; k++)
				if (st->redirs[k].fd >= lowest)
					lowest = st->redirs[k].fd + 1;
		}
		if (pipe_above(errp, lowest) == -1)
			goto fail;
	}

	if (pl->want_in) {
		if (pipe_above(io, 3) == -1)
			goto fail;
		prev_in = io[0];
		pl->caller_in = io[1];
	}
	pl->started = 1;
	for (i = 0; i < pl->n; i++) {
		struct pv_stage *st = pl->stages[i];
		int out = -1;

		if (i + 1 < pl->n) {
			if (pipe_above(io, 3) == -1)
				goto fail_started;
			out = io[1];
			next_in = io[0];
		} else if (pl->want_out) {
			if (pipe_above(io, 3) == -1)
				goto fail_started;
			out = io[1];
			pl->caller_out = io[0];
		} else
			out = pl->out_fd;

		memset(&plan, 0, sizeof(plan));
		plan.argv = st->argv;
		plan.envp = st->envp != NULL ? st->envp : environ;
		plan.search = pl->search;
		plan.pathbuf = pl->pathbuf;
		plan.shargv = st->shargv;
		plan.cwd = st->cwd;
		plan.pgid = i == 0 ? pl->join : pl->pgid;
		plan.session = pl->session && pl->n == 1 && pl->join == 0 &&
		    pl->tty < 0;
		plan.tty = -1;
		if (i == 0 && pl->tty >= 0 && isatty(pl->tty) &&
		    tcgetpgrp(pl->tty) == getpgrp())
			plan.tty = pl->tty;
		plan.in = i == 0 ? (pl->want_in ? prev_in : pl->in_fd) : prev_in;
		plan.out = out;
		plan.redirs = st->redirs;
		plan.nredirs = st->nredirs;
		plan.passfrom = st->passfrom;
		plan.passto = st->passto;
		plan.npass = st->npass;
		plan.errfd = errp[1];
		memset(&st->report, 0, sizeof(st->report));
		plan.report = st->fn == NULL ? &st->report : NULL;
		plan.index = (int)i;
		plan.sigdefault = pl->sigmode == PV_SIG_DEFAULT;
		plan.setids = pl->setids;
		plan.uid = pl->uid;
		plan.gid = pl->gid;
		plan.groups = pl->groups;
		plan.ngroups = pl->ngroups;
		plan.fn = st->fn;
		plan.arg = st->arg;

		pv_now(&st->start);
		st->pid = spawn_start(&plan);
		if (st->pid == -1) {
			st->pid = 0;
			if (out >= 0 && out != pl->out_fd)
				close(out);
			goto fail_started;
		}
		pl->running++;
		if (st->report.what != 0)
			stage_format_error(st);
		if (i == 0) {
			pl->pgid = pl->join > 0 ? pl->join : st->pid;
			if (plan.tty >= 0) {
				/* The child does it too; whoever is first. */
				pl->took_tty = 1;
				pipeline_set_tty(pl->tty, pl->pgid);
			}
		}
		/* A pidfd is always close-on-exec (pidfd_open(2)). */
		st->pidfd = pidfd_open(st->pid, 0);
		/* Our copies of the child's ends must go, or EOF never comes. */
		if (prev_in >= 0)
			close(prev_in);
		if (out >= 0 && out != pl->out_fd)
			close(out);
		prev_in = next_in;
		next_in = -1;
	}
	if (errp[1] >= 0) {
		close(errp[1]);
		errp[1] = -1;
		pipeline_read_reports(pl, errp[0]);
		close(errp[0]);
	}
	return 0;

fail_started:
	if (prev_in >= 0)
		close(prev_in);
	if (next_in >= 0)
		close(next_in);
	pipeline_abort(pl);
fail:
	saved_errno = errno;
	if (errp[0] >= 0)
		close(errp[0]);
	if (errp[1] >= 0)
		close(errp[1]);
	errno = saved_errno;
	return -1;
}

/* Reaps exited stages without blocking; returns how many still run. */
int
pv_pipeline_poll(struct pv_pipeline *pl)
{
	size_t i;

	if (!pl->started) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < pl->n; i++)
		stage_try_reap(pl->stages[i]);
	if (pl->running == 0)
		pipeline_return_tty(pl);
	return (int)pl->running;
}

/* Waits for every stage, up to a deadline. */
int
pv_pipeline_wait(struct pv_pipeline *pl, const struct timespec *deadline)
{
	/* tick outlives the block that sets it: ppoll reads it after. */
	struct timespec now, left, tick, *tp;
	nfds_t nfds;
	size_t i;
	int r;

	for (;;) {
		if (pv_pipeline_poll(pl) == -1)
			return -1;
		if (pl->running == 0)
			return 0;
		nfds = 0;
		for (i = 0; i < pl->n; i++) {
			struct pv_stage *st = pl->stages[i];

			if (st->status != -1 || st->pidfd < 0)
				continue;
			pl->pfds[nfds].fd = st->pidfd;
			pl->pfds[nfds].events = POLLIN;
			nfds++;
		}
		tp = NULL;
		if (deadline != NULL) {
			pv_now(&now);
			left = pv_ts_sub(*deadline, now);
			if (left.tv_sec < 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			tp = &left;
		}
		if (nfds == 0) {
			/* No pidfd (very old kernel): poll the statuses. */
			tick.tv_sec = 0;
			tick.tv_nsec = 10000000;
			if (tp == NULL || pv_ts_cmp(tick, *tp) < 0)
				tp = &tick;
		}
		r = ppoll(pl->pfds, nfds, tp, pv_sig_waitmask());
		if (r == -1) {
			if (errno != EINTR)
				return -1;
			if (pv_sig_waitmask() != NULL)
				return -1;	/* a caught signal: EINTR */
		}
	}
}

/* Signals the pipeline's process group. */
int
pv_pipeline_kill(struct pv_pipeline *pl, int sig)
{
	if (!pl->started || pl->pgid <= 0) {
		errno = ESRCH;
		return -1;
	}
	if (killpg(pl->pgid, sig) == -1)
		return -1;
	/* A stopped stage would not see the signal until continued. */
	if (sig != SIGKILL && sig != SIGCONT)
		killpg(pl->pgid, SIGCONT);
	return 0;
}

/* Stops the pipeline: sig, grace, SIGKILL, wait. */
int
pv_pipeline_stop(struct pv_pipeline *pl, int sig,
    const struct timespec *grace)
{
	struct timespec deadline;

	if (pv_pipeline_poll(pl) == -1)
		return -1;
	if (pl->running == 0)
		return 0;
	pv_pipeline_kill(pl, sig);
	if (grace != NULL) {
		pv_now(&deadline);
		deadline = pv_ts_add(deadline, *grace);
		if (pv_pipeline_wait(pl, &deadline) == 0)
			return 0;
		if (errno != ETIMEDOUT)
			return -1;
	}
	pv_pipeline_kill(pl, SIGKILL);
	return pv_pipeline_wait(pl, NULL);
}

/* After a watched stage was reaped: the done callback once none is left. */
static void
pipeline_watched_reaped(struct pv_pipeline *pl)
{
	if (pl->running != 0)
		return;
	pv_loop_cancel_timer(pl->loop, pl->polltimer);
	pl->polltimer = NULL;
	pipeline_return_tty(pl);
	if (pl->done != NULL)
		pl->done(pl, pl->done_arg);
}

/* The loop's callback for one stage's pidfd. */
static void
pipeline_on_exit(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct pv_stage *st = arg;

	(void)loop;
	(void)fd;
	(void)events;
	if (stage_try_reap(st))
		pipeline_watched_reaped(st->pl);
}

int
pv_pipeline_reaped(struct pv_pipeline *pl, pid_t pid, int status)
{
	struct pv_stage *st;
	size_t i;

	if (pid <= 0)
		return 0;
	for (i = 0; i < pl->n; i++) {
		st = pl->stages[i];
		if (st->pid != pid || st->status != -1)
			continue;
		stage_reaped(st, status);
		if (pl->loop != NULL)
			pipeline_watched_reaped(pl);
		return 1;
	}
	return 0;
}

static void	pipeline_arm_poll(struct pv_pipeline *);

/* Polls stages that have no pidfd (pidfd_open failed: EMFILE, old kernel). */
static void
pipeline_on_poll(struct pv_loop *loop, void *arg)
{
	struct pv_pipeline *pl = arg;

	(void)loop;
	pl->polltimer = NULL;
	if (pv_pipeline_poll(pl) > 0) {
		pipeline_arm_poll(pl);
		return;
	}
	if (pl->done != NULL)
		pl->done(pl, pl->done_arg);
}

/* Arms the 10 ms poll for stages the loop cannot watch. */
static void
pipeline_arm_poll(struct pv_pipeline *pl)
{
	struct timespec when, tick = { 0, 10000000 };

	pv_now(&when);
	when = pv_ts_add(when, tick);
	pl->polltimer = pv_loop_add_timer(pl->loop, &when, pipeline_on_poll,
	    pl);
}

/* Has the loop reap the stages; done runs when all have exited. */
int
pv_pipeline_watch(struct pv_pipeline *pl, struct pv_loop *loop,
    void (*done)(struct pv_pipeline *, void *), void *arg)
{
	size_t i;

	if (!pl->started) {
		errno = EINVAL;
		return -1;
	}
	pl->loop = loop;
	pl->done = done;
	pl->done_arg = arg;
	for (i = 0; i < pl->n; i++) {
		struct pv_stage *st = pl->stages[i];

		if (st->status != -1)
			continue;
		if (st->pidfd < 0) {
			/* Never a hang: poll what cannot be watched. */
			if (pl->polltimer == NULL) {
				pipeline_arm_poll(pl);
				if (pl->polltimer == NULL)
					return -1;
			}
			continue;
		}
		if (pv_loop_add_fd(loop, st->pidfd, PV_READ, pipeline_on_exit,
		    st) == -1)
			return -1;
	}
	/*
	 * Everything may already be over.  A stage watched through its pidfd
	 * needs no look here: the loop reports it even if it exited before
	 * it was added.
	 */
	if (pl->polltimer == NULL && pl->running > 0)
		return 0;
	if (pv_pipeline_poll(pl) == 0 && done != NULL)
		done(pl, arg);
	return 0;
}

/* Returns the shell's status of a finished pipeline. */
int
pv_pipeline_status(const struct pv_pipeline *pl, int pipefail)
{
	size_t i;
	int s, result = 0;

	if (!pl->started || pl->running > 0 || pl->n == 0)
		return -1;
	if (!pipefail)
		return pv_status_to_exit(pl->stages[pl->n - 1]->status);
	for (i = 0; i < pl->n; i++) {
		s = pv_status_to_exit(pl->stages[i]->status);
		if (s != 0)
			result = s;
	}
	return result;
}
