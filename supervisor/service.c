/*
 * service.c: one supervised service: its life as a state machine, its
 * pipeline, its output and its readiness.
 *
 * States are those of the board (stopped, starting, ready, backoff,
 * stopping, exited, fatal); events are start and stop requests, the
 * pipeline's exit, readiness, and the backoff, grace and kill timers.
 * service_event is the one transition function.  Every wait is a loop
 * timer at an absolute monotonic deadline: no sleep anywhere, so a stop
 * is honoured at once, also during backoff, and a zero backoff restarts
 * a crashed service after one fork+exec.
 *
 * Output (stdout/stderr set to "log" or a file) flows through a pipe the
 * service keeps across restarts, so no line is lost between two runs and
 * a log file can be rotated by the supervisor, which owns it.  The
 * pipeline itself is built once, from the definition, and reset for each
 * run: a restart parses nothing, opens nothing and builds no environment,
 * so it costs little more than the fork and exec.  Signals are not
 * handled here: the supervisor's loop turns them into calls.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define SERVICE_UNSURE	8		/* leftovers in exec, looked at again */
#define SERVICE_SWEEPS	10		/* that many times, */
#define SERVICE_SWEEP_MS 2		/* after 2, 4, ... 1024 ms: 2 s in all */
#define OUT_BUFSIZE	8192

enum service_event {
	EV_START,	/* the service is wanted up */
	EV_STOP,	/* the service is wanted down */
	EV_EXIT,	/* the pipeline ended */
	EV_READY,	/* readiness notified, or the grace passed */
	EV_TIMER,	/* backoff over, or stop_timeout passed */
	EV_DEPS		/* a dependency became ready */
};

/* One output stream of the service, read by the supervisor. */
struct service_out {
	struct service	*svc;
	int		 rfd, wfd;	/* the pipe, kept across restarts */
	enum conf_output kind;
	const char	*path;
	int		 filefd;
	off_t		 size;
	char		 buf[OUT_BUFSIZE];
	size_t		 len;		/* a partial line waiting for LF */
};

struct service {
	const struct conf_service *def;
	const struct service_env *env;
	enum board_state	 state;
	int			 want_up;
	struct pv_pipeline	*tmpl;		/* built once, reset per run */
	struct pv_pipeline	*pl;		/* tmpl while it runs, or NULL */
	pid_t			 pid;		/* first stage, while running */
	pid_t			 logpid;	/* the last run's, for output */
	struct pv_timer		*timer;		/* backoff, grace or kill */
	struct timespec		 backoff;	/* the next delay */
	struct timespec		 started;	/* monotonic, of this run */
	int64_t			 since;		/* CLOCK_REALTIME ns */
	int64_t			 started_wall;
	uint32_t		 restarts;
	int			 last_status;
	struct timespec		*deaths;	/* ring of give_up_count */
	size_t			 ndeaths, deathhead;
	struct service_out	 out, err;
	int			 readyfd;	/* our end, while starting */
	int			 notifyfd;
	char			 notifypath[PATH_MAX];
	int			 retired;	/* gone or changed in the config */
	int			 held;		/* not to start before told */
	/* Leftovers caught in exec, to look at again (service_on_sweep). */
	struct pv_timer		*sweep;
	pid_t			 unsure[SERVICE_UNSURE];
	size_t			 nunsure;
	int			 sweeps;
};

/* The CLOCK_REALTIME time in ns, for display only. */
static int64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Logs one line to the supervisor's log in one write. */
static void __attribute__((format(printf, 2, 3)))
service_log(const struct service *svc, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "pipevisor: %s: ", svc->def->name);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	pv_write_all(svc->env->logfd, line, (size_t)n);
}

/* Moves to a new state and tells the supervisor. */
static void
service_enter(struct service *svc, enum board_state st)
{
	if (svc->state == st)
		return;
	svc->state = st;
	svc->since = wall_ns();
	if (svc->env->changed != NULL)
		svc->env->changed(svc, svc->env->arg);
}

/* Cancels the pending timer, if any. */
static void
service_cancel_timer(struct service *svc)
{
	pv_loop_cancel_timer(svc->env->loop, svc->timer);
	svc->timer = NULL;
}

static void	service_event(struct service *, enum service_event, int);

/* Cancels the look again at leftovers caught in exec. */
static void
service_cancel_sweep(struct service *svc)
{
	pv_loop_cancel_timer(svc->env->loop, svc->sweep);
	svc->sweep = NULL;
}

/* The loop's callback for the service's one timer. */
static void
service_on_timer(struct pv_loop *loop, void *arg)
{
	struct service *svc = arg;

	(void)loop;
	svc->timer = NULL;
	service_event(svc, EV_TIMER, 0);
}

/* Arms the service's timer after delay. */
static void
service_arm(struct service *svc, struct timespec delay)
{
	struct timespec when;

	service_cancel_timer(svc);
	pv_now(&when);
	when = pv_ts_add(when, delay);
	svc->timer = pv_loop_add_timer(svc->env->loop, &when,
	    service_on_timer, svc);
	if (svc->timer == NULL)
		service_log(svc, "cannot arm a timer: %s", strerror(errno));
}

/* Opens (or reopens after rotation) a service's output file. */
static int
out_open_file(struct service_out *o)
{
	struct stat sb;

	if (o->filefd >= 0)
		close(o->filefd);
	o->filefd = open(o->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644);
	if (o->filefd == -1)
		return -1;
	o->size = fstat(o->filefd, &sb) == 0 ? sb.st_size : 0;
	return 0;
}

/* Rotates a regular output file: NAME -> NAME.1 -> ... -> NAME.KEEP. */
static void
out_rotate(struct service_out *o)
{
	char from[PATH_MAX], to[PATH_MAX];
	struct stat sb;
	unsigned i, keep = o->svc->def->rotate_keep;

	if (fstat(o->filefd, &sb) == -1 || !S_ISREG(sb.st_mode))
		return;		/* a FIFO or device is not rotated */
	for (i = keep; i > 0; i--) {
		if (i == 1)
			strlcpy(from, o->path, sizeof(from));
		else
			snprintf(from, sizeof(from), "%s.%u", o->path, i - 1);
		snprintf(to, sizeof(to), "%s.%u", o->path, i);
		if (rename(from, to) == -1 && errno != ENOENT)
			service_log(o->svc, "rotate %s: %s", from,
			    strerror(errno));
	}
	if (keep == 0)
		unlink(o->path);
	if (out_open_file(o) == -1)
		service_log(o->svc, "%s: %s", o->path, strerror(errno));
}

/* Writes whole lines of the buffer to the log with a prefix, or to the file. */
static void
out_flush_lines(struct service_out *o, int all)
{
	char prefix[64], *line, *nl, *end = o->buf + o->len;
	struct pv_out *w;
	size_t plen, used = 0;

	if (o->kind == CONF_OUT_FILE) {
		/* A file gets the bytes as they are, rotated by size. */
		if (o->filefd >= 0 && o->len > 0) {
			if (pv_write_all(o->filefd, o->buf, o->len) == -1)
				service_log(o->svc, "%s: %s", o->path,
				    strerror(errno));
			o->size += (off_t)o->len;
			if (o->svc->def->rotate_size > 0 &&
			    o->size >= o->svc->def->rotate_size)
				out_rotate(o);
		}
		o->len = 0;
		return;
	}
	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s[%ld]: ",
	    o->svc->def->name, (long)o->svc->logpid);
	if (plen >= sizeof(prefix))
		plen = sizeof(prefix) - 1;
	/* One write for all the lines of this read. */
	if ((w = pv_out_new(o->svc->env->logfd, 2 * OUT_BUFSIZE)) == NULL)
		return;
	for (line = o->buf; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL) {
			if (!all && line > o->buf)
				break;
			if (!all && (size_t)(end - line) < sizeof(o->buf))
				break;
			nl = end;	/* flush a partial or overlong line */
		}
		pv_out_write(w, prefix, plen);
		pv_out_write(w, line, (size_t)(nl - line));
		pv_out_write(w, "\n", 1);
		used = (size_t)(nl - o->buf) + (nl < end ? 1 : 0);
		if (nl == end)
			break;
	}
	pv_out_flush(w);
	pv_out_free(w);
	memmove(o->buf, o->buf + used, o->len - used);
	o->len -= used;
}

/* Reads a service's output pipe when it is readable. */
static void
out_on_readable(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct service_out *o = arg;
	ssize_t r;

	(void)loop;
	(void)events;
	r = pv_read(fd, o->buf + o->len, sizeof(o->buf) - o->len);
	if (r <= 0) {
		if (r == -1 && errno == EAGAIN)
			return;
		out_flush_lines(o, 1);
		return;
	}
	o->len += (size_t)r;
	out_flush_lines(o, o->len == sizeof(o->buf));
}

/* Sets up one output stream: a pipe for log or file, nothing otherwise. */
static int
out_init(struct service *svc, struct service_out *o, enum conf_output kind,
    const char *path)
{
	int p[2];

	o->svc = svc;
	o->kind = kind;
	o->path = path;
	o->rfd = o->wfd = o->filefd = -1;
	if (kind != CONF_OUT_LOG && kind != CONF_OUT_FILE)
		return 0;
	if (kind == CONF_OUT_FILE && out_open_file(o) == -1) {
		service_log(svc, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	o->rfd = p[0];
	o->wfd = p[1];
	/* The service writes blocking; only our end is non-blocking. */
	fcntl(o->wfd, F_SETFL, 0);
	return pv_loop_add_fd(svc->env->loop, o->rfd, PV_READ,
	    out_on_readable, o);
}

/* Closes one output stream after draining it. */
static void
out_close(struct service_out *o)
{
	if (o->rfd >= 0) {
		out_on_readable(o->svc->env->loop, o->rfd, PV_READ, o);
		out_flush_lines(o, 1);
		pv_loop_del_fd(o->svc->env->loop, o->rfd);
		close(o->rfd);
	}
	if (o->wfd >= 0)
		close(o->wfd);
	if (o->filefd >= 0)
		close(o->filefd);
	o->rfd = o->wfd = o->filefd = -1;
}

/* Reads the readiness fd: a newline means ready (s6 style). */
static void
service_on_readyfd(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct service *svc = arg;
	char buf[512];
	ssize_t r;

	(void)events;
	r = pv_read(fd, buf, sizeof(buf));
	if (r == -1 && errno == EAGAIN)
		return;
	pv_loop_del_fd(loop, fd);
	close(fd);
	svc->readyfd = -1;
	if (r > 0 && memchr(buf, '\n', (size_t)r) != NULL)
		service_event(svc, EV_READY, 0);
}

/* Reads sd_notify datagrams: READY=1 on a line of its own means ready. */
static void
service_on_notify(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct service *svc = arg;
	char buf[4096];
	ssize_t r;
	char *line, *save;

	(void)loop;
	(void)events;
	while ((r = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) > 0) {
		buf[r] = '\0';
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			if (strcmp(line, "READY=1") == 0)
				service_event(svc, EV_READY, 0);
	}
}

/* Creates the service's $NOTIFY_SOCKET in the runtime directory. */
static int
service_notify_socket(struct service *svc)
{
	struct sockaddr_un sun;
	char name[BOARD_NAMELEN + 16];

	snprintf(name, sizeof(name), "notify-%s", svc->def->name);
	if (rundir_file(svc->env->rundir, name, svc->notifypath,
	    sizeof(svc->notifypath)) == -1 ||
	    strlen(svc->notifypath) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	svc->notifyfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (svc->notifyfd == -1)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, svc->notifypath, sizeof(sun.sun_path));
	unlink(svc->notifypath);
	if (bind(svc->notifyfd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		return -1;
	return pv_loop_add_fd(svc->env->loop, svc->notifyfd, PV_READ,
	    service_on_notify, svc);
}

/* True if the environment block env (len bytes) holds the line var. */
static int
env_has(const char *env, size_t len, const char *var)
{
	size_t vlen = strlen(var);
	const char *p = env, *end = env + len;

	while (p < end) {
		size_t l = strnlen(p, (size_t)(end - p));

		if (l == vlen && memcmp(p, var, vlen) == 0)
			return 1;
		p += l + 1;
	}
	return 0;
}

/*
 * Returns 1 if process pid carries both markers (the service's and ours),
 * 0 if not, and -1 if it cannot tell yet: an environment that reads empty
 * is that of a process in the middle of execve(2), between its new memory
 * and the new stack's strings.
 */
static int
service_marked(pid_t pid, const char *me, const char *sup, char *env,
    size_t cap)
{
	char path[64];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	r = pv_read(fd, env, cap);
	close(fd);
	if (r == 0)
		return -1;
	return r > 0 && env_has(env, (size_t)r, me) &&
	    env_has(env, (size_t)r, sup);
}

/* The two markers a process of svc carries in its environment. */
struct service_markers {
	char	 me[BOARD_NAMELEN + 32];	/* PIPEVISOR_SERVICE=name */
	char	 sup[64];			/* PIPEVISOR_SUPERVISOR=... */
};

static void
service_markers(const struct service *svc, struct service_markers *m)
{
	snprintf(m->me, sizeof(m->me), "PIPEVISOR_SERVICE=%s",
	    svc->def->name);
	snprintf(m->sup, sizeof(m->sup), "PIPEVISOR_SUPERVISOR=%s",
	    svc->env->marker);
}

/*
 * Kills child pid if it is one of svc's leftovers; one caught in exec is
 * kept in svc->unsure, to be looked at again.  A stage of a running
 * service is nobody's leftover.  Returns 1 if it was killed.
 */
static int
service_judge(struct service *svc, pid_t pid,
    const struct service_markers *m, char *env, size_t cap)
{
	const struct service_env *e = svc->env;

	if (pid <= 1 || (e->is_stage != NULL && e->is_stage(pid, e->arg)))
		return 0;
	switch (service_marked(pid, m->me, m->sup, env, cap)) {
	case 1:
		return kill(pid, SIGKILL) == 0;
	case -1:
		if (svc->nunsure < SERVICE_UNSURE)
			svc->unsure[svc->nunsure++] = pid;
		break;
	}
	return 0;
}

/* True if pid is one of the pids in list (space-separated); NULL: none. */
int
service_pid_listed(const char *list, pid_t pid)
{
	const char *p;
	char *end;

	for (p = list; p != NULL; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (v == (long)pid)
			return 1;
	}
	return 0;
}

/*
 * Kills the marked processes among the pids in list (the supervisor's
 * children, all = 0), skipping the stages of running services, or among
 * every process but those in list (all = 1; list may be NULL), which
 * the first pass dealt with: a process killed there may not have died
 * yet, and must not be counted twice.  Returns how many were killed.
 */
static int
service_kill_marked(struct service *svc, int all, const char *list,
    char *env, size_t cap)
{
	struct service_markers m;
	struct dirent *de;
	const char *p;
	char *end;
	DIR *d;
	pid_t pid, self = getpid();
	int killed = 0;

	service_markers(svc, &m);
	if (!all) {
		for (p = list; ; p = end) {
			pid = (pid_t)strtol(p, &end, 10);
			if (end == p)
				break;
			killed += service_judge(svc, pid, &m, env, cap);
		}
		return killed;
	}
	if ((d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		pid = (pid_t)strtol(de->d_name, NULL, 10);
		if (pid > 1 && pid != self &&
		    (list == NULL || !service_pid_listed(list, pid)) &&
		    service_marked(pid, m.me, m.sup, env, cap) == 1 &&
		    kill(pid, SIGKILL) == 0)
			killed++;
	}
	closedir(d);
	return killed;
}

/* Opens the supervisor's list of its own children, to keep and re-read. */
int
service_children_open(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/children",
	    (long)getpid());
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Reads the list of children into buf, NUL-terminated.  The kernel
 * makes the list anew at every read from offset 0, so one pread on a
 * descriptor kept open does what an open, a read and a close did: this
 * runs at every exit of every service.
 */
ssize_t
service_children_read(int fd, char *buf, size_t cap)
{
	ssize_t r;

	if (fd < 0) {
		errno = EBADF;
		buf[0] = '\0';
		return -1;
	}
	do
		r = pread(fd, buf, cap - 1, 0);
	while (r == -1 && errno == EINTR);
	buf[r > 0 ? r : 0] = '\0';
	return r;
}

/*
 * Kills what is left of the service after its process group is gone:
 * descendants that left the group (setsid, a double fork) still carry
 * PIPEVISOR_SERVICE and PIPEVISOR_SUPERVISOR in their environment, as
 * systemd's control group would hold them.  The supervisor is a child
 * subreaper, so once the stages are gone such orphans are its children:
 * one read of its children list finds them, and only when some were
 * found is all of /proc searched for deeper ones (all of it at once if
 * the list cannot be read).  With no child at all, the usual case of a
 * restart, that one read is all it costs.  Best effort: a process that
 * rewrote its environment escapes.
 */
static void	service_arm_sweep(struct service *);

static int
service_kill_leftovers(struct service *svc)
{
	size_t cap = 64 * 1024;
	char list[4096], *env;
	ssize_t r;
	int killed = 0;

	service_cancel_sweep(svc);
	svc->nunsure = 0;
	svc->sweeps = 0;
	r = service_children_read(svc->env->childrenfd, list, sizeof(list));
	if (r == 0)
		return 0;
	if ((env = malloc(cap)) == NULL)
		return 0;
	if (r > 0)
		killed = service_kill_marked(svc, 0, list, env, cap);
	if (r == -1 || killed > 0)
		killed += service_kill_marked(svc, 1, r > 0 ? list : NULL,
		    env, cap);
	free(env);
	if (killed > 0)
		service_log(svc, "killed %d processes left behind outside "
		    "its process group", killed);
	if (svc->nunsure > 0)
		service_arm_sweep(svc);
	return killed;
}

/*
 * Looks again at the leftovers that were in execve(2) when the service
 * exited: their environment says by now whether they are the service's.
 * Only those pids, so that a new run's processes are never taken for
 * the old one's.  An exec takes microseconds, but a loaded machine may
 * not run the process for a while: the looks go on, at doubling
 * intervals, for 2 s.
 */
static void
service_on_sweep(struct pv_loop *loop, void *arg)
{
	struct service *svc = arg;
	struct service_markers m;
	pid_t again[SERVICE_UNSURE];
	size_t i, n = svc->nunsure, cap = 64 * 1024;
	int killed = 0;
	char *env;

	(void)loop;
	svc->sweep = NULL;
	/* Judged anew: those still in exec go back into svc->unsure. */
	memcpy(again, svc->unsure, n * sizeof(again[0]));
	svc->nunsure = 0;
	if ((env = malloc(cap)) == NULL)
		return;
	service_markers(svc, &m);
	for (i = 0; i < n; i++)
		killed += service_judge(svc, again[i], &m, env, cap);
	free(env);
	if (killed > 0)
		service_log(svc, "killed %d processes left behind outside "
		    "its process group (once out of exec)", killed);
	if (svc->nunsure > 0 && ++svc->sweeps < SERVICE_SWEEPS)
		service_arm_sweep(svc);
	else
		svc->nunsure = 0;
}

/* Arms the look again at the leftovers caught in exec. */
static void
service_arm_sweep(struct service *svc)
{
	long ms = (long)SERVICE_SWEEP_MS << svc->sweeps;
	struct timespec when, d = { ms / 1000, ms % 1000 * 1000000L };

	pv_now(&when);
	when = pv_ts_add(when, d);
	svc->sweep = pv_loop_add_timer(svc->env->loop, &when,
	    service_on_sweep, svc);
}

/* The loop's callback when the service's pipeline has ended. */
static void
service_on_done(struct pv_pipeline *pl, void *arg)
{
	struct service *svc = arg;

	service_event(svc, EV_EXIT, pv_pipeline_status(pl, 1));
}

/*
 * Builds the service's pipeline from its definition, once: the SPEC
 * parsed, every stage's directory, environment and stderr set, stdin and
 * stdout wired.  Each run resets and starts it again (service_spawn).
 * Returns 0, or -1 with errno.
 */
static int
service_build(struct service *svc)
{
	const struct conf_service *d = svc->def;
	const struct service_env *e = svc->env;
	struct pv_pipeline *pl;
	struct pv_stage *st;
	size_t i, k;
	char *eq, *name;
	int errfd;

	if ((pl = pv_pipeline_new()) == NULL)
		return -1;
	svc->tmpl = pl;
	/* The configuration was checked: only ENOMEM can fail here. */
	if (pv_pipeline_parse(pl, d->command, d->shell, NULL) == -1)
		goto fail;
	pv_pipeline_set_sigmode(pl, PV_SIG_DEFAULT);
	/*
	 * A program leads a session of its own, as under runit and s6: no
	 * controlling terminal, and no rescan of its group by the kernel at
	 * each exit of its orphans (exit_notify's orphaned-group check) that
	 * made reaping 10 000 of them three times slower.
	 */
	pv_pipeline_set_session(pl, 1);
	if (e->filters != NULL &&
	    pv_pipeline_set_fallback_path(pl, e->filters) == -1)
		goto fail;
	/* One /dev/null, the supervisor's, for every run of every service. */
	pv_pipeline_set_input(pl, e->devnull);
	pv_pipeline_set_output(pl, svc->out.wfd >= 0 ? svc->out.wfd :
	    e->devnull);
	/* Every stage's stderr goes where the service's stderr goes. */
	if (d->err == CONF_OUT_STDOUT)
		errfd = svc->out.wfd >= 0 ? svc->out.wfd : e->devnull;
	else if (svc->err.wfd >= 0)
		errfd = svc->err.wfd;
	else if (d->err == CONF_OUT_NULL)
		errfd = e->devnull;
	else
		errfd = -1;
	for (i = 0; (st = pv_pipeline_stage(pl, i)) != NULL; i++) {
		if (d->directory != NULL && pv_stage_chdir(st, d->directory))
			goto fail;
		if (pv_stage_setenv(st, "PIPEVISOR_SERVICE", d->name) == -1 ||
		    pv_stage_setenv(st, "PIPEVISOR_SUPERVISOR", e->marker) == -1)
			goto fail;
		for (k = 0; d->environment != NULL &&
		    d->environment[k] != NULL; k++) {
			if ((name = strdup(d->environment[k])) == NULL)
				goto fail;
			if ((eq = strchr(name, '=')) != NULL) {
				*eq = '\0';
				if (pv_stage_setenv(st, name, eq + 1) == -1) {
					free(name);
					goto fail;
				}
			}
			free(name);
		}
		if (d->ready == CONF_READY_NOTIFY &&
		    pv_stage_setenv(st, "NOTIFY_SOCKET", svc->notifypath) == -1)
			goto fail;
		if (errfd >= 0 && pv_stage_pass_fd(st, errfd, 2) == -1)
			goto fail;
	}
	return 0;
fail:
	pv_pipeline_free(pl);
	svc->tmpl = NULL;
	return -1;
}

/*
 * Resolves user/group to ids and the user's groups, in the parent (the
 * child may only make system calls).  Returns 0, or -1 with a reason
 * logged.
 */
static int
service_credentials(struct service *svc)
{
	const struct conf_service *d = svc->def;
	struct passwd *pw = NULL;
	struct group *gr;
	gid_t groups[256];
	int ngroups = 256;
	uid_t uid;
	gid_t gid;

	if (d->user == NULL && d->group == NULL)
		return 0;
	uid = geteuid();
	gid = getegid();
	if (uid != 0) {
		service_log(svc, "user/group need the supervisor to run as "
		    "root");
		errno = EPERM;
		return -1;
	}
	/* NSS reads files; a read interrupted by a signal is retried. */
	if (d->user != NULL) {
		do {
			errno = 0;
			pw = getpwnam(d->user);
		} while (pw == NULL && errno == EINTR);
		if (pw == NULL) {
			service_log(svc, "no user '%s'", d->user);
			errno = ENOENT;
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (d->group != NULL) {
		do {
			errno = 0;
			gr = getgrnam(d->group);
		} while (gr == NULL && errno == EINTR);
		if (gr == NULL) {
			service_log(svc, "no group '%s'", d->group);
			errno = ENOENT;
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (pw != NULL) {
		if (getgrouplist(pw->pw_name, gid, groups, &ngroups) == -1)
			ngroups = 256;	/* truncated: the first 256 */
	} else {
		groups[0] = gid;
		ngroups = 1;
	}
	return pv_pipeline_set_credentials(svc->tmpl, uid, gid, groups,
	    (size_t)ngroups);
}

/*
 * Starts a run of the service: the pipeline built at the first run is
 * reset and started again.  On failure the service is fatal.
 */
static void
service_spawn(struct service *svc)
{
	const struct conf_service *d = svc->def;
	struct pv_stage *st;
	size_t i;
	int ready[2] = { -1, -1 };

	service_cancel_timer(svc);
	if (svc->tmpl == NULL) {
		if (service_build(svc) == -1)
			goto fail;
	} else if (pv_pipeline_reset(svc->tmpl) == -1)
		goto fail;
	if (service_credentials(svc) == -1)
		goto fail;
	if (d->ready == CONF_READY_FD) {
		/* A new pipe each run: it replaces the last run's. */
		if (pipe2(ready, O_CLOEXEC | O_NONBLOCK) == -1)
			goto fail;
		for (i = 0; (st = pv_pipeline_stage(svc->tmpl, i)) != NULL;
		    i++)
			if (pv_stage_pass_fd(st, ready[1], d->ready_fd) == -1)
				goto fail;
	}
	if (pv_pipeline_start(svc->tmpl) == -1)
		goto fail;
	svc->pl = svc->tmpl;
	if (ready[1] >= 0)
		close(ready[1]);
	if (ready[0] >= 0) {
		svc->readyfd = ready[0];
		if (pv_loop_add_fd(svc->env->loop, svc->readyfd, PV_READ,
		    service_on_readyfd, svc) == -1)
			service_log(svc, "cannot watch readiness: %s",
			    strerror(errno));
	}
	svc->pid = pv_stage_pid(pv_pipeline_stage(svc->pl, 0));
	svc->logpid = svc->pid;
	pv_now(&svc->started);
	svc->started_wall = wall_ns();
	if (pv_stage_error(pv_pipeline_stage(svc->pl, 0)) != NULL)
		service_log(svc, "%s: %s",
		    pv_stage_name(pv_pipeline_stage(svc->pl, 0)),
		    pv_stage_error(pv_pipeline_stage(svc->pl, 0)));
	service_enter(svc, BOARD_STARTING);
	if (pv_pipeline_watch(svc->pl, svc->env->loop, service_on_done, svc)
	    == -1)
		service_log(svc, "cannot watch: %s", strerror(errno));
	/* Ready by time alone when nothing else will say so. */
	if (svc->state == BOARD_STARTING && d->ready == CONF_READY_NONE) {
		if (d->start_grace.tv_sec == 0 && d->start_grace.tv_nsec == 0)
			service_event(svc, EV_READY, 0);
		else
			service_arm(svc, d->start_grace);
	}
	return;
fail:
	service_log(svc, "cannot start: %s", strerror(errno));
	if (ready[0] >= 0)
		close(ready[0]);
	if (ready[1] >= 0)
		close(ready[1]);
	/* Built again at the next start, from scratch. */
	pv_pipeline_free(svc->tmpl);
	svc->tmpl = NULL;
	svc->pl = NULL;
	service_enter(svc, BOARD_FATAL);
}

/*
 * Records a death and tells whether give_up says to stop trying: the last
 * give_up_count deaths are kept in a ring, and the oldest of them falling
 * inside the window means that many deaths in that time.
 */
static int
service_give_up(struct service *svc)
{
	const struct conf_service *d = svc->def;
	struct timespec now, oldest;
	size_t n = d->give_up_count;

	if (n == 0)
		return 0;
	if (svc->deaths == NULL &&
	    (svc->deaths = calloc(n, sizeof(*svc->deaths))) == NULL) {
		service_log(svc, "give_up: %s", strerror(errno));
		return 0;
	}
	pv_now(&now);
	svc->deaths[svc->deathhead] = now;
	svc->deathhead = (svc->deathhead + 1) % n;
	if (svc->ndeaths < n)
		svc->ndeaths++;
	if (svc->ndeaths < n)
		return 0;
	/* Full ring: the slot after the newest holds the oldest. */
	oldest = svc->deaths[svc->deathhead];
	return pv_ts_cmp(pv_ts_sub(now, oldest), d->give_up_window) <= 0;
}

/* Decides what follows an exit: restart after backoff, exited, or fatal. */
static void
service_after_exit(struct service *svc, int status)
{
	const struct conf_service *d = svc->def;
	struct timespec now, up, delay;
	int restart;

	pv_now(&now);
	up = pv_ts_sub(now, svc->started);
	/* A healthy run resets the backoff (RELIABILITY.md item 24). */
	if (pv_ts_cmp(up, d->backoff_reset) >= 0)
		svc->backoff = d->backoff_initial;
	restart = d->restart == CONF_RESTART_ALWAYS ||
	    (d->restart == CONF_RESTART_ON_FAILURE && status != 0);
	if (!svc->want_up || !restart) {
		service_enter(svc, BOARD_EXITED);
		return;
	}
	if (service_give_up(svc)) {
		service_log(svc, "died %zu times within %lds: giving up",
		    svc->ndeaths, (long)d->give_up_window.tv_sec);
		service_enter(svc, BOARD_FATAL);
		return;
	}
	delay = svc->backoff;
	svc->backoff.tv_sec *= d->backoff_factor;
	svc->backoff.tv_nsec *= d->backoff_factor;
	while (svc->backoff.tv_nsec >= 1000000000L) {
		svc->backoff.tv_sec++;
		svc->backoff.tv_nsec -= 1000000000L;
	}
	if (pv_ts_cmp(svc->backoff, d->backoff_max) > 0)
		svc->backoff = d->backoff_max;
	service_enter(svc, BOARD_BACKOFF);
	service_arm(svc, delay);
}

/* Sends the stop signal and arms the SIGKILL escalation. */
static void
service_begin_stop(struct service *svc)
{
	service_cancel_timer(svc);
	service_enter(svc, BOARD_STOPPING);
	if (svc->pl != NULL)
		pv_pipeline_kill(svc->pl, svc->def->stop_signal);
	service_arm(svc, svc->def->stop_timeout);
}

/* The transition function: one event in the current state. */
static void
service_event(struct service *svc, enum service_event ev, int arg)
{
	switch (ev) {
	case EV_START:
		svc->want_up = 1;
		switch (svc->state) {
		case BOARD_STOPPED:
		case BOARD_EXITED:
		case BOARD_FATAL:
			svc->ndeaths = svc->deathhead = 0;
			svc->backoff = svc->def->backoff_initial;
			if (svc->env->can_start == NULL ||
			    svc->env->can_start(svc, svc->env->arg))
				service_spawn(svc);
			else if (svc->state != BOARD_STOPPED)
				service_enter(svc, BOARD_STOPPED);
			break;
		case BOARD_BACKOFF:
			/* Asked explicitly: no need to wait out the delay. */
			service_spawn(svc);
			break;
		default:
			break;	/* starting, ready, stopping: keep going */
		}
		break;
	case EV_DEPS:
		if (svc->want_up && svc->state == BOARD_STOPPED &&
		    svc->env->can_start(svc, svc->env->arg))
			service_spawn(svc);
		break;
	case EV_STOP:
		svc->want_up = 0;
		switch (svc->state) {
		case BOARD_STARTING:
		case BOARD_READY:
			service_begin_stop(svc);
			break;
		case BOARD_BACKOFF:
			/* Honoured at once: nothing runs (item 24). */
			service_cancel_timer(svc);
			service_enter(svc, BOARD_STOPPED);
			break;
		case BOARD_EXITED:
		case BOARD_FATAL:
			service_enter(svc, BOARD_STOPPED);
			break;
		default:
			break;
		}
		break;
	case EV_READY:
		if (svc->state == BOARD_STARTING) {
			service_cancel_timer(svc);
			service_enter(svc, BOARD_READY);
		}
		break;
	case EV_TIMER:
		if (svc->state == BOARD_BACKOFF) {
			svc->restarts++;
			service_spawn(svc);
		} else if (svc->state == BOARD_STARTING)
			service_event(svc, EV_READY, 0);
		else if (svc->state == BOARD_STOPPING && svc->pl != NULL) {
			service_log(svc, "still running %lds after SIG%s: "
			    "SIGKILL", (long)svc->def->stop_timeout.tv_sec,
			    pv_signal_name(svc->def->stop_signal));
			pv_pipeline_kill(svc->pl, SIGKILL);
		}
		break;
	case EV_EXIT:
		service_cancel_timer(svc);
		if (svc->readyfd >= 0) {
			pv_loop_del_fd(svc->env->loop, svc->readyfd);
			close(svc->readyfd);
			svc->readyfd = -1;
		}
		svc->last_status = arg;
		/* Kept, to be reset for the next run (service_spawn). */
		svc->pl = NULL;
		svc->pid = 0;
		/* Nothing of this run may outlive it (RELIABILITY item 21). */
		service_kill_leftovers(svc);
		if (svc->state == BOARD_STOPPING || !svc->want_up) {
			service_enter(svc, BOARD_STOPPED);
			break;
		}
		service_log(svc, "exited with status %d", arg);
		service_after_exit(svc, arg);
		break;
	}
}

/* Creates a service for def; it starts out stopped. */
struct service *
service_new(const struct conf_service *def, const struct service_env *env)
{
	struct service *svc;

	if ((svc = calloc(1, sizeof(*svc))) == NULL)
		return NULL;
	svc->def = def;
	svc->env = env;
	svc->state = BOARD_STOPPED;
	svc->since = wall_ns();
	svc->last_status = -1;
	svc->readyfd = svc->notifyfd = -1;
	svc->backoff = def->backoff_initial;
	if (out_init(svc, &svc->out, def->out, def->out_path) == -1 ||
	    (def->err != CONF_OUT_STDOUT &&
	    out_init(svc, &svc->err, def->err, def->err_path) == -1) ||
	    (def->ready == CONF_READY_NOTIFY &&
	    service_notify_socket(svc) == -1)) {
		int saved = errno;

		service_free(svc);
		errno = saved;
		return NULL;
	}
	if (def->err == CONF_OUT_STDOUT)
		svc->err.rfd = svc->err.wfd = svc->err.filefd = -1;
	return svc;
}

/* Frees a stopped service: closes its pipes, sockets and files. */
void
service_free(struct service *svc)
{
	if (svc == NULL)
		return;
	service_cancel_timer(svc);
	service_cancel_sweep(svc);
	if (svc->pl != NULL) {
		/* Never leave a stage behind, even on an abnormal exit. */
		pv_pipeline_stop(svc->pl, SIGKILL, NULL);
	}
	pv_pipeline_free(svc->tmpl);
	if (svc->readyfd >= 0) {
		pv_loop_del_fd(svc->env->loop, svc->readyfd);
		close(svc->readyfd);
	}
	if (svc->notifyfd >= 0) {
		pv_loop_del_fd(svc->env->loop, svc->notifyfd);
		close(svc->notifyfd);
		unlink(svc->notifypath);
	}
	if (svc->out.svc != NULL)
		out_close(&svc->out);
	if (svc->err.svc != NULL)
		out_close(&svc->err);
	free(svc->deaths);
	free(svc);
}

/* Wants the service up. */
void
service_start(struct service *svc)
{
	service_event(svc, EV_START, 0);
}

/* Wants the service down. */
void
service_stop(struct service *svc)
{
	service_event(svc, EV_STOP, 0);
}

/* Tells a service that a dependency became ready. */
void
service_deps_changed(struct service *svc)
{
	service_event(svc, EV_DEPS, 0);
}

/* Sends a signal to the running service's process group. */
int
service_signal(struct service *svc, int sig)
{
	if (svc->pl == NULL) {
		errno = ESRCH;
		return -1;
	}
	return pv_pipeline_kill(svc->pl, sig);
}

/* Returns the service's definition. */
const struct conf_service *
service_def(const struct service *svc)
{
	return svc->def;
}

/* Replaces the definition (reload, when the new one is the same). */
void
service_set_def(struct service *svc, const struct conf_service *def)
{
	svc->def = def;
}

/* Returns the service's state. */
enum board_state
service_state(const struct service *svc)
{
	return svc->state;
}

/* Returns 1 if the service is wanted up. */
int
service_wanted(const struct service *svc)
{
	return svc->want_up;
}

/* Returns the pid of the service's first stage, or 0. */
pid_t
service_pid(const struct service *svc)
{
	return svc->pid;
}

/* Returns 1 if pid is one of the running pipeline's stages. */
int
service_owns(const struct service *svc, pid_t pid)
{
	struct pv_stage *st;
	size_t i;

	if (svc->pl == NULL)
		return 0;
	for (i = 0; (st = pv_pipeline_stage(svc->pl, i)) != NULL; i++)
		if (pv_stage_pid(st) == pid)
			return 1;
	return 0;
}

/* Hands the service a status reaped elsewhere: 1 if pid was its stage's. */
int
service_reaped(struct service *svc, pid_t pid, int status)
{
	return svc->pl != NULL && pv_pipeline_reaped(svc->pl, pid, status);
}

/* Marks the service as leaving (reload): it is freed once down. */
void
service_retire(struct service *svc)
{
	svc->retired = 1;
}

/* Returns 1 for a retired service. */
int
service_retired(const struct service *svc)
{
	return svc->retired;
}

/* Holds a new service back (held) or releases it. */
void
service_hold(struct service *svc, int held)
{
	svc->held = held;
}

/* Returns 1 for a held service. */
int
service_held(const struct service *svc)
{
	return svc->held;
}

/* Fills in the board's view of the service. */
void
service_board(const struct service *svc, struct board_service *b)
{
	memset(b, 0, sizeof(*b));
	strlcpy(b->name, svc->def->name, sizeof(b->name));
	b->state = svc->state;
	b->pid = svc->pid;
	b->restarts = svc->restarts;
	b->last_status = svc->last_status;
	b->since = svc->since;
	b->started = svc->started_wall;
}
