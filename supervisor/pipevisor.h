/*
 * pipevisor.h: the public interface of libpipevisor.
 *
 * Pipelines of programs and C functions wired with pipe(2) and dup2(2),
 * an event loop that turns signals, fds, monotonic timers and child exits
 * into callbacks, and the small utilities the pipevisor programs share.
 *
 * Conventions: functions return 0 (or a count, or a pointer) on success and
 * -1 (or NULL) with errno set on failure; none prints and none exits its
 * caller.  Every _free function accepts NULL.  Types are opaque.  Who frees
 * what is said beside each prototype.
 */
#ifndef PIPEVISOR_H
#define PIPEVISOR_H

#include <sys/types.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PV_VERSION_STRING	"0.1.0"

/* ------------------------------------------------------------------ */
/* Time, durations and signal names (util.c)                          */
/* ------------------------------------------------------------------ */

/*
 * Parses a duration: a decimal number with an optional fraction and an
 * optional unit, "ms", "s" (the default), "m", "h" or "d"; "0.5", "500ms",
 * "2s", "1m".  Stores it in *out.  Returns 0, or -1 with errno EINVAL
 * (malformed, negative) or ERANGE (longer than 2^33 s, about 272 years).
 */
int	pv_duration_parse(const char *s, struct timespec *out);

/*
 * Parses a signal given as a name with or without "SIG" ("TERM",
 * "SIGTERM", case-insensitive), as "RTMIN+N"/"RTMAX-N", or as a number.
 * Returns the signal number, or -1 with errno EINVAL.
 */
int	pv_signal_parse(const char *s);

/*
 * Returns the name of signo without "SIG" ("TERM"), or "?" if it has none.
 * The string is static and must not be freed.
 */
const char *pv_signal_name(int signo);

/* Stores the CLOCK_MONOTONIC time in *now. */
void	pv_now(struct timespec *now);

/* Returns a + b, normalised. */
struct timespec pv_ts_add(struct timespec a, struct timespec b);

/* Returns a - b, normalised (may be negative). */
struct timespec pv_ts_sub(struct timespec a, struct timespec b);

/* Returns <0, 0 or >0 as a is before, equal to or after b. */
int	pv_ts_cmp(struct timespec a, struct timespec b);

/* Returns t in milliseconds, rounded up, clamped to [0, INT_MAX]. */
int	pv_ts_to_ms_ceil(struct timespec t);

/* ------------------------------------------------------------------ */
/* I/O helpers (io.c)                                                 */
/* ------------------------------------------------------------------ */

/*
 * Writes all n bytes of buf to fd, retrying short writes and EINTR, and
 * polling when fd is non-blocking and full.  Returns n, or -1 with errno
 * (EPIPE when the reader has gone and SIGPIPE is ignored).
 */
ssize_t	pv_write_all(int fd, const void *buf, size_t n);

/*
 * Reads up to n bytes, retrying EINTR.  Returns the count, 0 at end of
 * file, or -1 with errno.
 */
ssize_t	pv_read(int fd, void *buf, size_t n);

/*
 * Copies from fd in to fd out until end of file, with splice(2) when
 * either end is a pipe and a 64 KiB buffer otherwise.  Returns the number
 * of bytes copied, or -1 with errno (the bytes copied so far are lost to
 * the count, not to the data).
 */
ssize_t	pv_pump(int in, int out);

/*
 * A buffered line reader: one read(2) fills many lines.  pv_reader_new
 * returns a reader of fd for lines of at most maxline bytes (0 means
 * 64 KiB), or NULL with errno ENOMEM.  The caller frees it with
 * pv_reader_free, which does not close fd.
 */
struct pv_reader;
struct pv_reader *pv_reader_new(int fd, size_t maxline);
void	pv_reader_free(struct pv_reader *r);

/*
 * Returns the next line's length and points *line at it (without the LF;
 * a CR before it is kept; the line is NUL-terminated in place and valid
 * until the next call).  A last line without LF is returned as is.
 * Returns 0 with *line NULL at end of file (an empty line is 0 with *line
 * pointing at ""), or -1 with errno: EMSGSIZE once for a line
 * longer than maxline (the whole line is discarded, up to and including
 * its LF, and the next call goes on after it), EAGAIN when fd is
 * non-blocking and no whole line is buffered, or the error of read(2).
 */
ssize_t	pv_reader_line(struct pv_reader *r, char **line);

/*
 * A buffered writer: pv_out_write copies into a buffer and writes it out
 * (with pv_write_all) only when full, so a filter makes one write(2) per
 * buffer, not per line.  pv_out_new returns a writer to fd with a buffer
 * of size bytes (0 means 64 KiB), or NULL with errno ENOMEM; free it with
 * pv_out_free, which neither flushes nor closes fd.
 */
struct pv_out;
struct pv_out *pv_out_new(int fd, size_t size);
void	pv_out_free(struct pv_out *o);

/* Appends n bytes; returns 0, or -1 with errno from a failed flush. */
int	pv_out_write(struct pv_out *o, const void *buf, size_t n);

/*
 * Returns a pointer to at least n bytes of free buffer space (flushing
 * first if needed), for writing in place and committing with
 * pv_out_commit; NULL with errno if a flush failed, or EMSGSIZE if n
 * exceeds the buffer's size.
 */
char	*pv_out_reserve(struct pv_out *o, size_t n);
void	pv_out_commit(struct pv_out *o, size_t n);

/* Writes out what is buffered.  Returns 0, or -1 with errno. */
int	pv_out_flush(struct pv_out *o);

/* The number of bytes buffered and not yet written. */
size_t	pv_out_pending(const struct pv_out *o);

/*
 * Opens /dev/null on whichever of fds 0, 1 and 2 is closed, so that no
 * later pipe or file lands there and is clobbered by a dup2 (RELIABILITY.md
 * item 14).  Call it first in main.  Returns 0 or -1 with errno.
 */
int	pv_stdio_ensure(void);

/*
 * Replaces stderr with a line-buffered stream whose writes go through
 * pv_write_all: each message line reaches fd 2 in one write(2), retried
 * on EINTR and short writes, so err(3)/warn(3) messages are neither lost
 * (glibc's stdio drops a line on EINTR) nor torn by other processes'
 * lines.  Returns 0 or -1 with errno; stderr is unchanged on failure.
 */
int	pv_stderr_lines(void);

/*
 * Replaces stdout likewise (line-buffered on a terminal, fully buffered
 * otherwise), so no output is dropped by an EINTR or short write.
 * Returns 0 or -1 with errno; stdout is unchanged on failure.
 */
int	pv_stdout_retry(void);

/* ------------------------------------------------------------------ */
/* Visible text (vis.c)                                               */
/* ------------------------------------------------------------------ */

/* The size of a buffer that pv_vis can always fill from len bytes. */
#define PV_VIS_SIZE(len)	(4 * (size_t)(len) + 1)

/*
 * Makes len bytes of src safe to show on a terminal: valid UTF-8 text
 * (other than C0/C1 controls, DEL and bidirectional overrides) is copied
 * as is; every other byte becomes a C-style or octal escape ("\033",
 * "\r", "\t" kept as tab, "\\" for a backslash).  dst must hold
 * PV_VIS_SIZE(len) bytes; the result is NUL-terminated.  Returns the
 * length written, excluding the NUL.  Never fails.
 */
size_t	pv_vis(char *dst, const char *src, size_t len);

/* ------------------------------------------------------------------ */
/* Signals (sig.c): the one module that installs handlers              */
/* ------------------------------------------------------------------ */

/*
 * Takes over signal handling for a program: records the dispositions and
 * mask the program was started with (children of PV_SIG_INHERIT
 * pipelines get them back), sets SIGPIPE to ignored, sets SIGCHLD to its
 * default if it was ignored (so exit statuses are not lost), and
 * unblocks nothing.  Call it first in main.  Returns 0 or -1 with errno.
 */
int	pv_sig_init(void);

/*
 * Catches signo: installs a handler that only records it, and blocks it,
 * so it is delivered only inside pv_loop's wait or a pv_sig_window call.
 * Returns 0 or -1 with errno EINVAL (SIGKILL, SIGSTOP, not a signal).
 */
int	pv_sig_catch(int signo);

/*
 * Returns a caught signal that arrived and was not yet taken, lowest
 * number first, and forgets it; 0 when none is pending.
 */
int	pv_sig_take(void);

/*
 * The mask to wait under (the current mask without the caught signals),
 * for ppoll/epoll_pwait/sigsuspend; NULL before pv_sig_init.
 */
const sigset_t *pv_sig_waitmask(void);

/*
 * Runs call(arg) in the armed window of DESIGN.md section 8: a sigsetjmp
 * point is taken, the caught signals are unblocked, call runs (it must be
 * a single blocking, async-signal-safe system call such as read or open),
 * the signals are blocked again.  A caught signal arriving before or
 * during the call jumps back, so none is lost between a check and a
 * block.  Returns call's result, or -1 with errno EINTR when a signal
 * arrived (take it with pv_sig_take).
 */
long	pv_sig_window(long (*call)(void *), void *arg);

/* read(2) inside pv_sig_window: -1/EINTR when a caught signal arrives. */
ssize_t	pv_sig_read(int fd, void *buf, size_t n);

/*
 * Ends the process by signal signo, as if it had not caught it: after
 * the caller's cleanup, the disposition goes back to the default, the
 * signal is unblocked and raised, so the parent sees the signal in the
 * exit status (a shell stops a script on Ctrl-C).  A signal whose
 * default is not fatal ends the process with _exit(128 + signo).
 * Standard output is flushed first.  Never returns.
 */
void	pv_sig_die(int signo) __attribute__((noreturn));

/* ------------------------------------------------------------------ */
/* Event loop (loop.c)                                                */
/* ------------------------------------------------------------------ */

#define PV_READ		0x1	/* readable, or end of file, error, hangup */
#define PV_WRITE	0x2	/* writable, or the reader has gone */

struct pv_loop;
struct pv_timer;

/* Returns a new loop, or NULL with errno.  Free with pv_loop_free. */
struct pv_loop *pv_loop_new(void);

/*
 * Frees the loop and its timers and watches; closes the pidfds it
 * opened, but no fd the caller added.
 */
void	pv_loop_free(struct pv_loop *loop);

/*
 * Watches fd for events (PV_READ, PV_WRITE or both); cb runs with the
 * events that happened.  One watch per fd.  Returns 0 or -1 with errno
 * (EEXIST when fd is already watched).
 */
int	pv_loop_add_fd(struct pv_loop *loop, int fd, unsigned events,
	    void (*cb)(struct pv_loop *, int fd, unsigned events, void *arg),
	    void *arg);

/* Changes the events watched on fd.  Returns 0 or -1 with errno. */
int	pv_loop_mod_fd(struct pv_loop *loop, int fd, unsigned events);

/* Stops watching fd (does not close it).  Returns 0 or -1 with errno. */
int	pv_loop_del_fd(struct pv_loop *loop, int fd);

/*
 * Calls cb once at the absolute CLOCK_MONOTONIC time *when.  Returns the
 * timer, owned by the loop until it fires or is cancelled, or NULL with
 * errno ENOMEM.
 */
struct pv_timer *pv_loop_add_timer(struct pv_loop *loop,
	    const struct timespec *when,
	    void (*cb)(struct pv_loop *, void *arg), void *arg);

/* Cancels a timer that has not fired yet; NULL is ignored. */
void	pv_loop_cancel_timer(struct pv_loop *loop, struct pv_timer *t);

/*
 * Reaps pid (a child of the caller) when it exits, and then calls cb with
 * its wait status.  Uses a pidfd, so no other child's status is touched.
 * Returns 0 or -1 with errno.
 */
int	pv_loop_add_child(struct pv_loop *loop, pid_t pid,
	    void (*cb)(struct pv_loop *, pid_t pid, int status, void *arg),
	    void *arg);

/*
 * Calls cb in normal context each time signo arrives; catches signo with
 * pv_sig_catch (which calls pv_sig_init if needed).  Returns 0 or -1
 * with errno.
 */
int	pv_loop_on_signal(struct pv_loop *loop, int signo,
	    void (*cb)(struct pv_loop *, int signo, void *arg), void *arg);

/*
 * Waits for one round of events and dispatches them: signals first, then
 * timers, then fds and child exits.  Returns 0, or -1 with errno.
 */
int	pv_loop_once(struct pv_loop *loop);

/*
 * Runs rounds until pv_loop_break is called or nothing is left to wait
 * for (no fd, timer, child or signal callback).  Returns 0, or -1 with
 * errno.
 */
int	pv_loop_run(struct pv_loop *loop);

/* Makes pv_loop_run return after the current round (or at once, if it
 * is not running yet). */
void	pv_loop_break(struct pv_loop *loop);

/* ------------------------------------------------------------------ */
/* Pipelines (pipeline.c, spec.c, spawn.c)                             */
/* ------------------------------------------------------------------ */

struct pv_pipeline;
struct pv_stage;

/* What signal state the stages start with (DESIGN.md section 8). */
enum pv_sigmode {
	PV_SIG_INHERIT,	/* what the program was started with (default) */
	PV_SIG_DEFAULT	/* every disposition default, empty mask */
};

/* Where a SPEC went wrong: a message and a 1-based column. */
struct pv_spec_error {
	char	message[128];
	size_t	column;
};

/* Returns a new empty pipeline, or NULL with errno ENOMEM. */
struct pv_pipeline *pv_pipeline_new(void);

/*
 * Frees the pipeline and closes the fds it owns.  It neither signals nor
 * waits for running stages: stop and wait first.  NULL is ignored.
 */
void	pv_pipeline_free(struct pv_pipeline *pl);

/*
 * Appends a stage that runs argv[0] with arguments argv (NULL-terminated,
 * copied).  A name without '/' is searched in PATH, then in the fallback
 * path.  Returns the stage, owned by the pipeline, or NULL with errno.
 */
struct pv_stage *pv_pipeline_add(struct pv_pipeline *pl,
	    const char *const argv[]);

/*
 * Appends a stage that runs fn(arg) in a forked child, with the stage's
 * stdin and stdout wired like any other; the child exits with fn's
 * return value after flushing stdio.  name labels the stage in reports.
 * Returns the stage, or NULL with errno.
 */
struct pv_stage *pv_pipeline_add_func(struct pv_pipeline *pl,
	    const char *name, int (*fn)(void *arg), void *arg);

/*
 * Appends the stages of SPEC (DESIGN.md section 3): words, '...' and
 * "..." quotes, backslash escapes, '|' between stages, and redirections
 * N<file, N>file, N>>file, N>|file, N<>file, N>&M, N<&M and N>&- (N
 * defaults to 0 for '<', 1 otherwise).  With shell set, each stage's
 * text runs as /bin/sh -c TEXT instead.
 * Returns 0, or -1 with errno EINVAL and *err filled in (err may be NULL).
 */
int	pv_pipeline_parse(struct pv_pipeline *pl, const char *spec,
	    int shell, struct pv_spec_error *err);

/* Returns the number of stages. */
size_t	pv_pipeline_count(const struct pv_pipeline *pl);

/* Returns stage i (0-based) or NULL. */
struct pv_stage *pv_pipeline_stage(const struct pv_pipeline *pl, size_t i);

/*
 * Sets (value non-NULL) or removes (value NULL) an environment variable
 * for one stage.  Returns 0 or -1 with errno.
 */
int	pv_stage_setenv(struct pv_stage *st, const char *name,
	    const char *value);

/* Runs the stage in directory dir (copied).  Returns 0 or -1 with errno. */
int	pv_stage_chdir(struct pv_stage *st, const char *dir);

/*
 * Adds a redirection, applied in order after the pipe wiring: fd becomes
 * path opened with flags (O_RDONLY, O_WRONLY|O_CREAT|O_TRUNC, ...; mode
 * 0666 less umask).  Returns 0 or -1 with errno.
 */
int	pv_stage_open(struct pv_stage *st, int fd, const char *path,
	    int flags);

/* Adds a redirection: fd becomes a copy of from (2>&1 is fd 2, from 1). */
int	pv_stage_dup(struct pv_stage *st, int fd, int from);

/*
 * Gives the stage the caller's fd `from` as fd `to` (0-255; 0, 1 or 2
 * replace what the pipe wiring gave it, before redirections apply); the
 * caller keeps and closes its own.  Passing again to the same `to`
 * replaces the earlier `from` (a new pipe for each run of a reset
 * pipeline).  Returns 0 or -1 with errno (E2BIG past 16 targets).
 */
int	pv_stage_pass_fd(struct pv_stage *st, int from, int to);

/* The stage's label: argv[0] ("/bin/sh" for a --shell stage) or the
 * function's name. */
const char *pv_stage_name(const struct pv_stage *st);

/* The stage's argument vector (NULL for a function stage). */
char *const *pv_stage_argv(const struct pv_stage *st);

/* The stage's pid once started, else 0. */
pid_t	pv_stage_pid(const struct pv_stage *st);

/* The stage's wait status once reaped, else -1. */
int	pv_stage_status(const struct pv_stage *st);

/*
 * Why the stage could not be started, known when pv_pipeline_start
 * returns: "command not found", "Permission denied", "out: No such file
 * or directory", ...; NULL if it started.  The string belongs to the
 * stage.
 */
const char *pv_stage_error(const struct pv_stage *st);

/* Stores when the stage was started and reaped (monotonic; 0 if not). */
void	pv_stage_times(const struct pv_stage *st, struct timespec *start,
	    struct timespec *end);

/*
 * The first stage reads from fd, the last writes to fd (the pipeline
 * dups them; the caller keeps its own).  Default: the caller's 0 and 1.
 */
void	pv_pipeline_set_input(struct pv_pipeline *pl, int fd);
void	pv_pipeline_set_output(struct pv_pipeline *pl, int fd);

/*
 * Asks for a pipe to the first stage's stdin (or from the last stage's
 * stdout); after start, pv_pipeline_input_fd (output_fd) returns the
 * caller's end, owned by the pipeline: close it with
 * pv_pipeline_close_input to send end of file.
 */
void	pv_pipeline_want_input(struct pv_pipeline *pl);
void	pv_pipeline_want_output(struct pv_pipeline *pl);
int	pv_pipeline_input_fd(const struct pv_pipeline *pl);
int	pv_pipeline_output_fd(const struct pv_pipeline *pl);
void	pv_pipeline_close_input(struct pv_pipeline *pl);

/* The signal state the stages start with (default PV_SIG_INHERIT). */
void	pv_pipeline_set_sigmode(struct pv_pipeline *pl, enum pv_sigmode m);

/*
 * Directories searched after PATH for names without '/', colon-separated
 * (copied).  Returns 0 or -1 with errno.
 */
int	pv_pipeline_set_fallback_path(struct pv_pipeline *pl,
	    const char *path);

/*
 * When tty is the controlling terminal and the caller is in its
 * foreground process group, hands the terminal to the pipeline's group
 * while it runs (as a shell does), so stages can read it.
 */
void	pv_pipeline_set_terminal(struct pv_pipeline *pl, int tty);

/*
 * Makes the stages join the existing process group pgid instead of
 * leading a new one (0, the default, means a new group), so that one
 * killpg reaches them and the process that owns the group together.
 * pv_pipeline_kill and pv_pipeline_stop then signal that whole group.
 */
void	pv_pipeline_set_group(struct pv_pipeline *pl, pid_t pgid);

/*
 * With on, a pipeline of one stage runs it in a new session (setsid) that
 * it leads, rather than in a new process group of the caller's session:
 * it has no controlling terminal, as a daemon, and when thousands of its
 * descendants exit at once the kernel does not rescan their group for
 * each exit (the orphaned-group check, done only within one session).
 * The group is still the stage's pid.  Ignored for a pipeline of several
 * stages, which cannot share a group in a session the caller does not
 * lead, and with pv_pipeline_set_group or pv_pipeline_set_terminal.
 */
void	pv_pipeline_set_session(struct pv_pipeline *pl, int on);

/*
 * Runs every stage as user uid, group gid, with ngroups supplementary
 * groups (copied), switched to in the child before anything else (which
 * needs privilege: the stage fails to start with EPERM otherwise).
 * Returns 0 or -1 with errno ENOMEM.
 */
int	pv_pipeline_set_credentials(struct pv_pipeline *pl, uid_t uid,
	    gid_t gid, const gid_t *groups, size_t ngroups);

/* Returns 1 while the started pipeline holds the terminal, else 0. */
int	pv_pipeline_has_terminal(const struct pv_pipeline *pl);

/*
 * Starts every stage, in one new process group led by the first stage.
 * A stage that cannot be started (not found, a redirection fails) still
 * counts: it exits 127, 126 or 1 and pv_stage_error says why.  Returns 0,
 * or -1 with errno when a pipe or fork failed, after killing and reaping
 * the stages already started.
 */
int	pv_pipeline_start(struct pv_pipeline *pl);

/*
 * Makes a finished pipeline startable again, for a supervisor that runs
 * the same one over and over without parsing or building it anew: forgets
 * the last run's pids, statuses, times, errors, process group and loop
 * watch, and closes the caller's pipe ends; keeps the stages and every
 * setting, which may still be changed before the next start.  Each
 * stage's environment block and the search path built at the first start
 * are kept too, and built again only after pv_stage_setenv or
 * pv_pipeline_set_fallback_path, or once environ has moved (setenv of a
 * new name, setproctitle).  A pipeline never started is left as it is.
 * Returns 0, or -1 with errno EBUSY while a stage has not been reaped.
 */
int	pv_pipeline_reset(struct pv_pipeline *pl);

/*
 * Hands the pipeline the status of a child the caller reaped itself, for
 * a process that must wait for any child (a process 1 or subreaper
 * reaping orphans with waitpid -1).  If pid is a stage not reaped yet,
 * records status as its exit, as its own watch would have (the done
 * callback of pv_pipeline_watch runs if it was the last), and returns 1;
 * else returns 0 and changes nothing.
 */
int	pv_pipeline_reaped(struct pv_pipeline *pl, pid_t pid, int status);

/* The process group of a started pipeline, else 0. */
pid_t	pv_pipeline_pgid(const struct pv_pipeline *pl);

/*
 * Reaps the stages that have exited, without blocking.  Returns the
 * number still running, or -1 with errno.
 */
int	pv_pipeline_poll(struct pv_pipeline *pl);

/*
 * Waits until every stage has exited, or until the absolute monotonic
 * deadline (NULL: none).  Returns 0, or -1 with errno ETIMEDOUT, or
 * EINTR when a signal caught with pv_sig_catch arrived.  Never reaps a
 * child the pipeline did not start.
 */
int	pv_pipeline_wait(struct pv_pipeline *pl, const struct timespec *deadline);

/*
 * Sends sig to the pipeline's process group (and SIGCONT after it, so
 * stopped stages see it).  Returns 0, or -1 with errno (ESRCH when the
 * whole group is gone).
 */
int	pv_pipeline_kill(struct pv_pipeline *pl, int sig);

/*
 * Stops the pipeline: sig to the group, then SIGKILL to the group if
 * stages are left after grace, and waits for every stage.  Returns 0, or
 * -1 with errno EINTR (a caught signal arrived; call again to resume).
 */
int	pv_pipeline_stop(struct pv_pipeline *pl, int sig,
	    const struct timespec *grace);

/*
 * Has the loop reap the stages as they exit; done(pl, arg) runs once all
 * have.  Returns 0 or -1 with errno.
 */
int	pv_pipeline_watch(struct pv_pipeline *pl, struct pv_loop *loop,
	    void (*done)(struct pv_pipeline *, void *arg), void *arg);

/*
 * The shell's status of a finished pipeline: the last stage's exit
 * status, or 128+N if it was killed by signal N; with pipefail, the
 * rightmost non-zero of those.  -1 while a stage is running.
 */
int	pv_pipeline_status(const struct pv_pipeline *pl, int pipefail);

/* Converts a wait status to a shell status (N, or 128+signal). */
int	pv_status_to_exit(int wstatus);

#ifdef __cplusplus
}
#endif

#endif /* PIPEVISOR_H */
