/*
 * spawn.c: start one child of a pipeline.
 *
 * The parent prepares everything (argv, environment, search path, scratch
 * buffers) so the child only makes system calls: join the process group,
 * take the terminal, change directory, wire fds 0 and 1, apply the
 * redirections in order, close every other fd, reset its signal state and
 * exec.  A program is started with vfork(2), which copies no page tables;
 * a function stage, which runs arbitrary C code, with fork(2).  Every
 * signal is blocked across the fork, so no handler of ours ever runs in a
 * child; the child then resets dispositions and mask (sig_child_reset).
 *
 * A child that cannot start reports why in a struct spawn_report and
 * exits 127 (not found), 126 (found, not executable) or 1 (chdir or a
 * redirection failed), so the parent tells a failed start apart from a
 * program that itself exits 127.  A program's child, which borrows our
 * memory until it execs or exits (vfork), stores the report in the plan,
 * where the parent finds it when vfork returns: no pipe to make, no read.
 * A function stage's child has memory of its own and writes the report
 * on the plan's CLOEXEC error pipe instead, read to end of file.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

/* Reports why the child could not start, then exits with status code. */
static void __attribute__((noreturn))
spawn_fail(const struct spawn_plan *p, int what, int redir, int err, int code)
{
	struct spawn_report rep;

	memset(&rep, 0, sizeof(rep));
	rep.index = p->index;
	rep.what = what;
	rep.redir = redir;
	rep.err = err;
	if (p->report != NULL) {
		/* vfork: the parent reads it once we have exited. */
		*p->report = rep;
		_exit(code);
	}
	/* Smaller than PIPE_BUF: written whole or not at all. */
	(void)!write(p->errfd, &rep, sizeof(rep));
	_exit(code);
}

/* Makes fd `to` a copy of `from`, keeping it across exec. */
static int
spawn_dup(int from, int to)
{
	if (from == to)
		return fcntl(to, F_SETFD, 0);
	return dup2(from, to) == -1 ? -1 : 0;
}

/* The fds a stage may hold: 0..SPAWN_FDMAX (as pv_stage_open allows). */
#define SPAWN_FDMAX	255

/* Fds 3..SPAWN_FDMAX the child was given so far, as a bitmap. */
struct spawn_given {
	unsigned char	bits[(SPAWN_FDMAX + 8) / 8];
};

/* Marks fd as given to the child. */
static void
given_add(struct spawn_given *g, int fd)
{
	if (fd >= 3 && fd <= SPAWN_FDMAX)
		g->bits[fd / 8] |= (unsigned char)(1 << (fd % 8));
}

/* True if fd may be used as a redirection source: 0-2, or given. */
static int
given_has(const struct spawn_given *g, int fd)
{
	if (fd < 3)
		return 1;
	return fd <= SPAWN_FDMAX && (g->bits[fd / 8] & (1 << (fd % 8)));
}

/*
 * Closes every fd from 3 up except the given ones and, for a program,
 * errfd (which is CLOEXEC and so closes itself at a successful exec).
 */
static void
spawn_close_rest(const struct spawn_plan *p, const struct spawn_given *g,
    int keep_errfd)
{
	unsigned int lo = 3, fd;

	for (fd = 3; fd <= SPAWN_FDMAX + 1; fd++) {
		int keep = fd <= SPAWN_FDMAX ? given_has(g, (int)fd) : 0;

		if (keep_errfd && (int)fd == p->errfd)
			keep = 1;
		if (!keep)
			continue;
		if (fd > lo)
			close_range(lo, fd - 1, 0);
		lo = fd + 1;
	}
	/* errfd sits above every target, maybe above SPAWN_FDMAX. */
	if (keep_errfd && p->errfd > SPAWN_FDMAX) {
		if ((unsigned int)p->errfd > lo)
			close_range(lo, (unsigned int)p->errfd - 1, 0);
		lo = (unsigned int)p->errfd + 1;
	}
	close_range(lo, ~0U, 0);
}

/* Runs argv[0] searched in p->search the way execvp would. */
static void __attribute__((noreturn))
spawn_exec(const struct spawn_plan *p)
{
	const char *name = p->argv[0], *dir, *end;
	size_t dlen, nlen = strlen(name);
	int seen_eacces = 0, err = ENOENT;

	if (strchr(name, '/') != NULL) {
		execve(name, p->argv, p->envp);
		err = errno;
		if (err == ENOEXEC) {
			p->shargv[1] = (char *)name;
			execve("/bin/sh", p->shargv, p->envp);
		}
		spawn_fail(p, SPAWN_EXEC, 0, err, err == ENOENT ? 127 : 126);
	}
	if (nlen == 0)
		spawn_fail(p, SPAWN_EXEC, 0, ENOENT, 127);
	for (dir = p->search; dir != NULL; dir = *end ? end + 1 : NULL) {
		end = strchrnul(dir, ':');
		dlen = (size_t)(end - dir);
		if (dlen + 1 + nlen + 1 > PATH_MAX)
			continue;
		if (dlen == 0)
			p->pathbuf[0] = '.', dlen = 1;
		else
			memcpy(p->pathbuf, dir, dlen);
		p->pathbuf[dlen] = '/';
		memcpy(p->pathbuf + dlen + 1, name, nlen + 1);
		execve(p->pathbuf, p->argv, p->envp);
		switch (errno) {
		case ENOEXEC:
			/* A script without #!: the shell runs it, as execvp. */
			p->shargv[1] = p->pathbuf;
			execve("/bin/sh", p->shargv, p->envp);
			spawn_fail(p, SPAWN_EXEC, 0, ENOEXEC, 126);
		case EACCES:
			seen_eacces = 1;
			break;
		case ENOENT:
		case ENOTDIR:
		case ESTALE:
		case ENODEV:
		case ETIMEDOUT:
		case ELOOP:
		case ENAMETOOLONG:
			break;
		default:
			spawn_fail(p, SPAWN_EXEC, 0, errno, 126);
		}
	}
	if (seen_eacces)
		err = EACCES;
	spawn_fail(p, SPAWN_EXEC, 0, err, err == ENOENT ? 127 : 126);
}

/* The child's side of spawn_start; never returns. */
static void __attribute__((noreturn))
spawn_child(const struct spawn_plan *p, const sigset_t *parent_mask)
{
	const struct spawn_redir *r;
	struct spawn_given given;
	int moved[PV_SPAWN_MAXPASS];
	size_t i;
	int fd, top = 2, status;

	/*
	 * Both sides call setpgid: whichever runs first wins the race.  A
	 * session is the child's alone to make: setsid fails in a process
	 * that already leads a group.
	 */
	if (p->session)
		setsid();
	else if (p->pgid >= 0)
		setpgid(0, p->pgid);
	/* Signals are all blocked here, so SIGTTOU cannot stop us. */
	if (p->tty >= 0)
		tcsetpgrp(p->tty, getpgrp());
	/* Drop privileges first: the directory and files are the user's. */
	if (p->setids && (setgroups(p->ngroups, p->groups) == -1 ||
	    setgid(p->gid) == -1 || setuid(p->uid) == -1))
		spawn_fail(p, SPAWN_CREDS, 0, errno, 1);
	if (p->cwd != NULL && chdir(p->cwd) == -1)
		spawn_fail(p, SPAWN_CHDIR, 0, errno, 1);

	/*
	 * Passed fds are moved above every fd in play before 0 and 1 are
	 * wired, since a passed fd may itself be 0 or 1, or a target.
	 */
	for (i = 0; i < p->npass; i++)
		if (p->passto[i] > top)
			top = p->passto[i];
	for (i = 0; i < p->npass; i++) {
		moved[i] = fcntl(p->passfrom[i], F_DUPFD_CLOEXEC, top + 1);
		if (moved[i] == -1)
			spawn_fail(p, SPAWN_REDIR, -1, errno, 1);
	}
	if (p->in >= 0 && spawn_dup(p->in, 0) == -1)
		spawn_fail(p, SPAWN_REDIR, -1, errno, 1);
	if (p->out >= 0 && spawn_dup(p->out, 1) == -1)
		spawn_fail(p, SPAWN_REDIR, -1, errno, 1);
	memset(&given, 0, sizeof(given));
	for (i = 0; i < p->npass; i++) {
		if (spawn_dup(moved[i], p->passto[i]) == -1)
			spawn_fail(p, SPAWN_REDIR, -1, errno, 1);
		given_add(&given, p->passto[i]);
	}

	for (i = 0; i < p->nredirs; i++) {
		r = &p->redirs[i];
		if (r->from >= 0) {
			/* Our own fds (epoll, pipes) are not the stage's. */
			if (!given_has(&given, r->from))
				spawn_fail(p, SPAWN_REDIR, (int)i, EBADF, 1);
			if (spawn_dup(r->from, r->fd) == -1)
				spawn_fail(p, SPAWN_REDIR, (int)i, errno, 1);
			given_add(&given, r->fd);
			continue;
		}
		if (r->path == NULL) {
			close(r->fd);
			if (r->fd >= 3 && r->fd <= SPAWN_FDMAX)
				given.bits[r->fd / 8] &=
				    (unsigned char)~(1 << (r->fd % 8));
			continue;
		}
		fd = open(r->path, r->flags | O_CLOEXEC | O_NOCTTY, 0666);
		if (fd == -1)
			spawn_fail(p, SPAWN_REDIR, (int)i, errno, 1);
		if (spawn_dup(fd, r->fd) == -1)
			spawn_fail(p, SPAWN_REDIR, (int)i, errno, 1);
		if (fd != r->fd)
			close(fd);
		given_add(&given, r->fd);
	}
	/* Not exec'ing, a function stage must not keep the error pipe. */
	spawn_close_rest(p, &given, p->fn == NULL);
	sig_child_reset(p->sigdefault, parent_mask);
	if (p->fn != NULL) {
		status = p->fn(p->arg);
		fflush(NULL);
		_exit(status & 0377);
	}
	spawn_exec(p);
}

/* Starts one child; see pv_private.h. */
pid_t
spawn_start(const struct spawn_plan *p)
{
	sigset_t all, saved;
	pid_t pid;
	int saved_errno;

	if (p->npass > PV_SPAWN_MAXPASS) {
		errno = E2BIG;
		return -1;
	}
	sigfillset(&all);
	if (sigprocmask(SIG_SETMASK, &all, &saved) == -1)
		return -1;
	if (p->fn != NULL)
		pid = fork();
	else
		pid = vfork();
	if (pid == 0)
		spawn_child(p, &saved);
	saved_errno = errno;
	if (pid > 0 && p->pgid >= 0 && !p->session)
		setpgid(pid, p->pgid == 0 ? pid : p->pgid);
	sigprocmask(SIG_SETMASK, &saved, NULL);
	errno = saved_errno;
	return pid;
}
