/*
 * pv_private.h: declarations shared between libpipevisor's own files.
 * Nothing here is installed or part of the public interface.
 */
#ifndef PV_PRIVATE_H
#define PV_PRIVATE_H

#include <sys/types.h>

#include <signal.h>
#include <stddef.h>

struct pv_stage;

/* sig.c: the signal state a child must get, applied between fork and exec. */

/*
 * Puts the calling child in the signal state of mode (0: as the program
 * was started, or as the parent had it before spawn_start blocked every
 * signal, given in *parent_mask; 1: every disposition default and an empty
 * mask).  Async-signal-safe: only sigaction and sigprocmask.
 */
void	sig_child_reset(int mode_default, const sigset_t *parent_mask);

/* spawn.c: one child of a pipeline. */

/* A redirection applied in the child, in order. */
struct spawn_redir {
	int	 fd;		/* the fd to set */
	int	 from;		/* dup of this fd, or -1 to open path */
	char	*path;
	int	 flags;
};

/* The most fds one stage can be given with pv_stage_pass_fd. */
#define PV_SPAWN_MAXPASS	16

/* What the child must do; prepared by the parent so the child allocates nothing. */
struct spawn_plan {
	char *const	*argv;		/* NULL for a function stage */
	char *const	*envp;
	const char	*search;	/* dirs for a name without '/' */
	char		*pathbuf;	/* scratch of PATH_MAX bytes */
	char		**shargv;	/* argv with room for "/bin/sh" first */
	const char	*cwd;
	pid_t		 pgid;		/* 0: lead a new group, -1: keep */
	int		 tty;		/* take this terminal, or -1 */
	int		 in, out;	/* fds for 0 and 1, or -1 to keep */
	const struct spawn_redir *redirs;
	size_t		 nredirs;
	const int	*passfrom, *passto;
	size_t		 npass;
	int		 errfd;		/* CLOEXEC pipe, above every passto */
	int		 index;		/* the stage's number, for errfd */
	int		 sigdefault;	/* PV_SIG_DEFAULT */
	int		(*fn)(void *);
	void		*arg;
};

/* What a child that could not start writes on errfd. */
struct spawn_report {
	int	index;
	int	what;		/* SPAWN_EXEC, SPAWN_CHDIR or SPAWN_REDIR */
	int	redir;		/* which redirection failed */
	int	err;		/* errno */
};

#define SPAWN_EXEC	1
#define SPAWN_CHDIR	2
#define SPAWN_REDIR	3

/*
 * Starts one child as plan says; returns its pid, or -1 with errno when
 * fork failed.  Blocks every signal across the fork.
 */
pid_t	spawn_start(const struct spawn_plan *plan);

/* pipeline.c: removes the last stage of a pipeline not yet started. */
struct pv_pipeline;
void	pipeline_drop_last(struct pv_pipeline *pl);

/*
 * The pipevisor program (pipevisor.c and one pipevisor_NAME.c per
 * subcommand); not part of the library.
 */

/* Exit status of `run` for pipevisor's own errors (DESIGN.md section 3). */
#define RUN_EXIT_ERROR	125

/* Returns the directory holding the filters (static storage). */
const char *pipevisor_filters_dir(void);

/* The subcommands: each parses its own options and returns the exit status. */
int	pipevisor_run(int argc, char *argv[]);

#endif /* PV_PRIVATE_H */
