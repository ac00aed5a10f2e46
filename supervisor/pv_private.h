/*
 * pv_private.h: declarations shared between libpipevisor's own files.
 * Nothing here is installed or part of the public interface.
 */
#ifndef PV_PRIVATE_H
#define PV_PRIVATE_H

#include <sys/types.h>

#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>

struct pv_stage;
struct pv_loop;

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
	int		 session;	/* lead a new session instead (pgid 0) */
	int		 tty;		/* take this terminal, or -1 */
	int		 in, out;	/* fds for 0 and 1, or -1 to keep */
	const struct spawn_redir *redirs;
	size_t		 nredirs;
	const int	*passfrom, *passto;
	size_t		 npass;
	int		 errfd;		/* CLOEXEC pipe, above every passto */
	struct spawn_report *report;	/* or here, for a program (vfork) */
	int		 index;		/* the stage's number, for errfd */
	int		 sigdefault;	/* PV_SIG_DEFAULT */
	int		 setids;	/* switch to uid/gid/groups */
	uid_t		 uid;
	gid_t		 gid;
	const gid_t	*groups;
	size_t		 ngroups;
	int		(*fn)(void *);
	void		*arg;
};

/*
 * What a child that could not start reports: a program's child, which
 * shares our memory until it execs (vfork), stores it in plan->report; a
 * function stage's forked child writes it on errfd.
 */
struct spawn_report {
	int	index;
	int	what;		/* SPAWN_EXEC, SPAWN_CHDIR or SPAWN_REDIR */
	int	redir;		/* which redirection failed */
	int	err;		/* errno */
};

#define SPAWN_EXEC	1
#define SPAWN_CHDIR	2
#define SPAWN_REDIR	3
#define SPAWN_CREDS	4

/*
 * Starts one child as plan says; returns its pid, or -1 with errno when
 * fork failed.  Blocks every signal across the fork.  A program's child
 * has exec'd or exited by the time it returns, so *plan->report is final.
 */
pid_t	spawn_start(const struct spawn_plan *plan);

/* pipeline.c: removes the last stage of a pipeline not yet started. */
struct pv_pipeline;
void	pipeline_drop_last(struct pv_pipeline *pl);

/* filter.c: shared by the block filters (upper, lower). */

/*
 * Copies fd in to fd out in 256 KiB blocks, passing each through convert
 * (in place).  Returns 0 at end of file, or -1 with errno and *failed_fd
 * set to the fd that failed (-1: out of memory).
 */
int	filter_blocks(int in, int out,
	    void (*convert)(unsigned char *, size_t), int *failed_fd);

/*
 * --version of filter name: prints "NAME (pipevisor) VERSION" and
 * returns the exit status, 0, or 1 after a message if stdout failed.
 */
int	filter_version(const char *name);

/* Catches signo with pv_sig_catch unless it was ignored at start (nohup). */
int	filter_catch(int signo);

/*
 * Opens /dev/null the wrong way round on closed fds 0-2, so no pipe or
 * file lands there and any use of them still fails.  Returns 0 or -1.
 */
int	filter_guard_stdio(void);

/* ASCII case conversion of n bytes in place; other bytes pass unchanged. */
void	filter_upper(unsigned char *buf, size_t n);
void	filter_lower(unsigned char *buf, size_t n);

/*
 * The pipevisor program (pipevisor.c and one pipevisor_NAME.c per
 * subcommand); not part of the library.
 */

/* Exit status of `run` for pipevisor's own errors (DESIGN.md section 3). */
#define RUN_EXIT_ERROR	125

/* Reports a subcommand's usage mistake; returns status.  pipevisor.c. */
int	pipevisor_usage_error(const char *cmd, void (*cmd_usage)(FILE *),
	    int status, const char *fmt, ...)
	    __attribute__((format(printf, 4, 5)));

/* Returns the directory holding the filters (static storage). */
const char *pipevisor_filters_dir(void);

/* The subcommands: each parses its own options and returns the exit status. */
int	pipevisor_run(int argc, char *argv[]);
int	pipevisor_up(int argc, char *argv[]);
int	pipevisor_ctl(int argc, char *argv[]);
int	pipevisor_status(int argc, char *argv[]);
int	pipevisor_serve(int argc, char *argv[]);
int	pipevisor_chat(int argc, char *argv[]);


/* ------------------------------------------------------------------ */
/* Supervision (DESIGN.md section 4, 5, 7)                            */
/* ------------------------------------------------------------------ */

/* conf.c: pipevisor.conf(5), an INI file of [supervisor] and [service NAME]. */

enum conf_restart {
	CONF_RESTART_ALWAYS,
	CONF_RESTART_ON_FAILURE,
	CONF_RESTART_NEVER
};

enum conf_output {
	CONF_OUT_LOG,		/* the supervisor's log, "NAME[pid]: " per line */
	CONF_OUT_FILE,		/* a file, rotated by size if regular */
	CONF_OUT_NULL,		/* /dev/null */
	CONF_OUT_STDOUT		/* stderr only: wherever stdout goes */
};

enum conf_ready {
	CONF_READY_NONE,	/* ready once start_grace has passed */
	CONF_READY_FD,		/* a newline written on fd ready_fd (s6) */
	CONF_READY_NOTIFY	/* READY=1 on $NOTIFY_SOCKET (sd_notify) */
};

struct conf_service {
	char			*name;		/* [A-Za-z0-9_.-]{1,32} */
	int			 line;		/* of its [service NAME] line */
	char			*command;	/* a SPEC */
	int			 shell;		/* command_shell = yes */
	enum conf_restart	 restart;	/* default always */
	struct timespec		 backoff_initial; /* default 100ms */
	struct timespec		 backoff_max;	/* default 30s */
	unsigned		 backoff_factor; /* default 2 */
	struct timespec		 backoff_reset;	/* uptime that resets it: 10s */
	unsigned		 give_up_count;	/* 0: never give up */
	struct timespec		 give_up_window;
	struct timespec		 start_grace;	/* default 0 */
	int			 stop_signal;	/* default SIGTERM */
	struct timespec		 stop_timeout;	/* default 5s, then SIGKILL */
	char			*directory;	/* NULL: the supervisor's */
	char			**environment;	/* "NAME=value", NULL-ended */
	char			*user, *group;	/* NULL: unchanged */
	enum conf_output	 out, err;	/* default CONF_OUT_LOG */
	char			*out_path, *err_path;
	off_t			 rotate_size;	/* 0: never rotate */
	unsigned		 rotate_keep;	/* default 3 */
	enum conf_ready		 ready;
	int			 ready_fd;	/* default 3 */
	char			**after;	/* names, NULL-ended */
};

struct conf {
	char			*path;
	char			*rundir;	/* NULL: the default */
	char			*log;		/* NULL: stderr */
	char			*http;		/* NULL: no status page */
	int			 subreaper;	/* also implied as PID 1 */
	struct conf_service	*services;
	size_t			 nservices;
};

/*
 * Parses a configuration text of len bytes; filename names it in
 * messages.  Returns 0 and a conf the caller frees with conf_free, or -1
 * with errno EINVAL and a one-line message "FILE:LINE: what" in err
 * (errsize bytes), or another errno (ENOMEM).
 */
int	conf_parse(const char *text, size_t len, const char *filename,
	    struct conf **out, char *err, size_t errsize);

/* Reads and parses path; errors as conf_parse (and open/read's errno). */
int	conf_load(const char *path, struct conf **out, char *err,
	    size_t errsize);

/* Frees a conf; NULL is ignored. */
void	conf_free(struct conf *c);

/* Returns 1 if two service definitions are the same (reload), else 0. */
int	conf_service_same(const struct conf_service *a,
	    const struct conf_service *b);

/* board.c: the status board in POSIX shared memory (seqlock + futex). */

#define BOARD_NAMELEN	33

enum board_state {
	BOARD_STOPPED,
	BOARD_STARTING,
	BOARD_READY,
	BOARD_BACKOFF,
	BOARD_STOPPING,
	BOARD_EXITED,
	BOARD_FATAL
};

/* One service as the board shows it; fixed size, no pointers. */
struct board_service {
	char		name[BOARD_NAMELEN];
	uint32_t	state;		/* enum board_state */
	int32_t		pid;		/* 0 when not running */
	uint32_t	restarts;
	int32_t		last_status;	/* shell status of last exit, -1 none */
	int64_t		since;		/* CLOCK_REALTIME ns of the last change */
	int64_t		started;	/* CLOCK_REALTIME ns of the last start */
};

/* What a snapshot says about the supervisor that wrote it. */
struct board_info {
	int32_t		pid;		/* the supervisor */
	int64_t		started;	/* CLOCK_REALTIME ns */
	uint32_t	seq;		/* changes with every publish */
	int		stale;		/* the supervisor is gone */
};

struct board;

/* Returns "/pipevisor-UID-NAME" in buf, the shm name of board NAME. */
int	board_shm_name(char *buf, size_t size, const char *name);

/*
 * Creates the board NAME (mode 0600), replacing a stale one left by a
 * dead supervisor, for the writer.  Returns NULL with errno (EEXIST if a
 * live supervisor owns it).
 */
struct board *board_create(const char *name);

/*
 * Replaces the board's contents with n services, atomically for readers
 * (seqlock), and wakes every --watch reader (futex).  Grows the board as
 * needed.  Returns 0 or -1 with errno.
 */
int	board_publish(struct board *b, const struct board_service *svcs,
	    size_t n);

/* Unmaps and unlinks the board (the writer's clean stop). */
void	board_destroy(struct board *b);

/* Opens board NAME read-only.  Returns NULL with errno (ENOENT: none). */
struct board *board_open(const char *name);

/*
 * Copies a consistent snapshot: *svcs (malloc'd, the caller frees) with
 * *n entries, and *info.  Returns 0 or -1 with errno.
 */
int	board_read(struct board *b, struct board_service **svcs, size_t *n,
	    struct board_info *info);

/*
 * Sleeps until the board changes from sequence seq or timeout passes
 * (NULL: none).  Returns 0 (changed or timed out: read again), or -1
 * with errno (EINTR).
 */
int	board_wait(struct board *b, uint32_t seq, const struct timespec *timeout);

/* Unmaps a board opened for reading. */
void	board_close(struct board *b);

/* The state's name: "stopped", "starting", "ready", ... */
const char *board_state_name(uint32_t state);

/*
 * board_render.c: the board as text for people and programs.  Each
 * returns a malloc'd NUL-terminated string (the caller frees) or NULL
 * with errno ENOMEM.  now is CLOCK_REALTIME ns, for uptimes.
 */
char	*board_render_text(const struct board_service *s, size_t n,
	    const struct board_info *info, int64_t now);
char	*board_render_json(const struct board_service *s, size_t n,
	    const struct board_info *info, int64_t now);
char	*board_render_html(const struct board_service *s, size_t n,
	    const struct board_info *info, int64_t now);
char	*board_render_metrics(const struct board_service *s, size_t n,
	    const struct board_info *info, int64_t now);

/* net.c: listening sockets, loopback unless told otherwise. */

/*
 * Parses "ADDR:PORT", "[V6ADDR]:PORT" or "PORT" (then 127.0.0.1) and
 * returns a listening, non-blocking, CLOEXEC socket of type (SOCK_STREAM
 * or SOCK_DGRAM) with SO_REUSEADDR, or -1 with errno and a one-line
 * reason in err.
 */
int	net_listen(const char *spec, int type, char *err, size_t errsize);

/* Listens on a unix stream socket at path (mode 0600).  -1 with errno. */
int	net_listen_unix(const char *path);

/*
 * Out of fds (EMFILE/ENFILE on accept): gives up *reserve (an fd kept
 * open for this) to accept one waiting connection and hand it to
 * turn_away (NULL: close it), so the backlog shrinks and the listener
 * stops being readable instead of spinning the loop, then takes the
 * reserve back.  Returns 1 when one was shed, 0 when none was waiting,
 * -1 when there was no reserve or accept failed otherwise.
 */
int	net_shed(int lfd, int *reserve, void (*turn_away)(int fd, void *arg),
	    void *arg);

/*
 * Turns a freshly accepted client away: sends it the len bytes of line
 * without blocking (after reading what it sent, so that the close does
 * not reset the connection) and closes fd.
 */
void	net_refuse(int fd, const char *line, size_t len);

/* Formats a peer address into host (and port); returns 0 or -1. */
int	net_peer(int fd, char *host, size_t hostsize, unsigned *port);

/* http.c: a tiny HTTP/1.1 server for status pages (one response per
 * connection, bounded request size and time, never blocks the loop). */

struct http_response {
	int		 status;	/* 200, 404, ... */
	const char	*content_type;
	char		*body;		/* malloc'd; the server frees it */
	size_t		 len;
};

struct http;

/*
 * Listens on spec (as net_listen) and answers GET and HEAD requests with
 * handler(path, resp, arg), which fills resp and returns 0, or -1 for a
 * 500.  Returns NULL with errno and a reason in err.
 */
struct http *http_start(struct pv_loop *loop, const char *spec,
	    int (*handler)(const char *path, struct http_response *resp,
	    void *arg), void *arg, char *err, size_t errsize);

/* Closes the listener and every connection. */
void	http_stop(struct http *h);

/* service.c: one supervised service and its state machine. */

struct service;

/* What every service of a supervisor shares; owned by the supervisor. */
struct service_env {
	struct pv_loop	*loop;
	const char	*rundir;
	const char	*filters;	/* fallback program path, or NULL */
	const char	*marker;	/* PIPEVISOR_SUPERVISOR: "pid.start" */
	int		 logfd;		/* the supervisor's log */
	int		 devnull;	/* /dev/null, read-write, CLOEXEC */
	int		 childrenfd;	/* service_children_open(), or -1 */
	/* Returns 1 if pid is a stage of a running service (may be NULL). */
	int		(*is_stage)(pid_t pid, void *arg);
	/* Called after every state change (board, ctl replies, deps). */
	void		(*changed)(struct service *, void *arg);
	/* Returns 1 when every service in `after` is ready. */
	int		(*can_start)(struct service *, void *arg);
	void		*arg;
};

/*
 * Creates a stopped service for def (which must outlive it, or be
 * replaced with service_set_def); opens its output pipes, files and
 * notify socket.  Returns NULL with errno.
 */
struct service *service_new(const struct conf_service *def,
	    const struct service_env *env);

/* Frees the service, killing and reaping a pipeline still running. */
void	service_free(struct service *svc);

/* Wants the service up / down; the state machine does the rest. */
void	service_start(struct service *svc);
void	service_stop(struct service *svc);

/* Tells a waiting service to check its `after` services again. */
void	service_deps_changed(struct service *svc);

/* Signals the running pipeline's group.  -1/ESRCH when not running. */
int	service_signal(struct service *svc, int sig);

const struct conf_service *service_def(const struct service *svc);
void	service_set_def(struct service *svc, const struct conf_service *def);
enum board_state service_state(const struct service *svc);
int	service_wanted(const struct service *svc);
pid_t	service_pid(const struct service *svc);

/* Returns 1 if pid is one of the running pipeline's stages. */
int	service_owns(const struct service *svc, pid_t pid);

/*
 * Hands the service the status of a child reaped with waitpid -1; returns
 * 1 if it was one of its stages (which may run the service's exit
 * handling), else 0.
 */
int	service_reaped(struct service *svc, pid_t pid, int status);

/*
 * The supervisor's list of its children (/proc/self/task/PID/children),
 * opened once: service_children_open returns the fd or -1 with errno;
 * service_children_read re-reads it from the start into buf (cap bytes,
 * NUL-terminated) and returns its length, or -1 with errno.
 */
int	service_children_open(void);
ssize_t	service_children_read(int fd, char *buf, size_t cap);

/* True if pid is one of the pids in list (space-separated); NULL: none. */
int	service_pid_listed(const char *list, pid_t pid);

/* Reload: a retired service is freed once down; a held one waits. */
void	service_retire(struct service *svc);
int	service_retired(const struct service *svc);
void	service_hold(struct service *svc, int held);
int	service_held(const struct service *svc);

/* Fills in the board's view of the service. */
void	service_board(const struct service *svc, struct board_service *b);

/* rundir.c: the runtime directory and the pidfile (DESIGN.md section 7). */

/*
 * Puts the runtime directory's path in buf: $PIPEVISOR_RUNDIR, else
 * $XDG_RUNTIME_DIR/pipevisor, else /tmp/pipevisor-UID.  Returns 0 or -1.
 */
int	rundir_path(char *buf, size_t size);

/*
 * Creates path (mode 0700) if missing, and checks it is a directory
 * owned by us, not a link, and not open to others.  Returns 0 or -1 with
 * errno and a reason in err.
 */
int	rundir_ensure(const char *path, char *err, size_t errsize);

/*
 * Puts the board name of the supervisor whose runtime directory is rundir
 * in buf ("up-" and a hash of the path), so `pipevisor status` finds the
 * board of the supervisor its environment points at.  Returns 0 or -1.
 */
int	rundir_board_name(const char *rundir, char *buf, size_t size);

/* Puts rundir/name in buf.  Returns 0, or -1 with ENAMETOOLONG. */
int	rundir_file(const char *rundir, const char *name, char *buf,
	    size_t size);

#endif /* PV_PRIVATE_H */
