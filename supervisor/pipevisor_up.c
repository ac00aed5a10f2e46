/*
 * pipevisor_up.c: `pipevisor up [-f FILE]`: supervise the services of a
 * configuration file (DESIGN.md section 4).
 *
 * One event loop runs everything: the services' state machines
 * (service.c), the control socket (`pipevisor ctl`), the status board in
 * shared memory (`pipevisor status`) and the optional status page.
 *
 * Signals: SIGTERM and SIGINT stop every service (stop_signal, then
 * SIGKILL after stop_timeout) and exit 0 once all are down; SIGHUP
 * reloads the configuration; SIGCHLD reaps every exited child with
 * waitpid -1, orphans reparented to us (as PID 1 or a child subreaper)
 * and a service's own stages alike, whose statuses go to their services
 * (pv_pipeline_reaped).  Services start with every disposition default
 * and an empty mask.  The pidfile refuses a second supervisor on the same
 * runtime directory, and a start after a kill -9 cleans up what the dead
 * one left.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libutil.h>
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

#define UP_DYING_MS	10	/* at a stop, for the killed to die */
#define UP_EXIT_CONFIG	2	/* a configuration error */
#define UP_EXIT_FAIL	1	/* cannot run (another supervisor, rundir) */
#define CTL_LINE_MAX	4096

/* What a control request waits for before it is answered. */
enum ctl_wait {
	CTL_WAIT_NONE,
	CTL_WAIT_DOWN,		/* every named service is not running */
	CTL_WAIT_UP		/* every named service is ready, or failed */
};

struct ctl_conn {
	struct up		*up;
	int			 fd;
	char			 in[CTL_LINE_MAX];
	size_t			 inlen;
	char			*out;		/* reply being written */
	size_t			 outlen, outoff;
	enum ctl_wait		 wait;
	int			 restart;	/* after DOWN, start again */
	int			 json;
	size_t			*targets;	/* service indexes */
	size_t			 ntargets;
	struct ctl_conn		*next;
};

struct up {
	struct pv_loop		*loop;
	struct conf		*conf;
	struct conf		**retired;	/* old confs still referenced */
	size_t			 nretired;
	struct service		**svcs;
	size_t			 nsvcs;
	struct service_env	 env;
	struct board		*board;
	struct http		*http;
	struct pidfh		*pidfh;
	int			 ctlfd;
	struct ctl_conn		*conns;
	char			 rundir[PATH_MAX];
	char			 ctlpath[PATH_MAX];
	char			 boardname[64];
	char			 marker[64];	/* tells our services' processes */
	const char		*config;
	int			 logfd;
	int			 shutting_down;
	int			 collect;	/* retired services to free */
	int			 dirty;		/* the board is behind */
	int			 collecting;
	int			 exit_status;
};

static void	up_changed(struct service *, void *);
static void	ctl_check_waits(struct up *);

/* Logs one supervisor line to the log. */
static void __attribute__((format(printf, 2, 3)))
up_log(struct up *up, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "pipevisor: ");
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	pv_write_all(up->logfd, line, (size_t)n);
}

/* Returns the index of the service named name, or -1. */
static ssize_t
up_find(const struct up *up, const char *name)
{
	size_t i;

	for (i = 0; i < up->nsvcs; i++)
		if (!service_retired(up->svcs[i]) &&
		    strcasecmp(service_def(up->svcs[i])->name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Publishes every service's state on the board. */
static void
up_publish(struct up *up)
{
	struct board_service *b;
	size_t i;

	if (up->board == NULL)
		return;
	if ((b = calloc(up->nsvcs + 1, sizeof(*b))) == NULL)
		return;
	for (i = 0; i < up->nsvcs; i++)
		service_board(up->svcs[i], &b[i]);
	if (board_publish(up->board, b, up->nsvcs) == -1)
		up_log(up, "board: %s", strerror(errno));
	free(b);
}

/* True when every service named in svc's `after` is ready. */
static int
up_can_start(struct service *svc, void *arg)
{
	struct up *up = arg;
	char *const *after = service_def(svc)->after;
	ssize_t k;
	size_t i;

	if (up->shutting_down)
		return 0;
	for (i = 0; after != NULL && after[i] != NULL; i++) {
		k = up_find(up, after[i]);
		if (k >= 0 && service_state(up->svcs[k]) != BOARD_READY)
			return 0;
	}
	return 1;
}

/* True when no service has a pipeline left. */
static int
up_all_down(const struct up *up)
{
	size_t i;
	enum board_state s;

	for (i = 0; i < up->nsvcs; i++) {
		s = service_state(up->svcs[i]);
		if (s == BOARD_STARTING || s == BOARD_READY ||
		    s == BOARD_STOPPING)
			return 0;
	}
	return 1;
}

/* True for a service that has no pipeline running. */
static int
up_is_down(const struct service *svc)
{
	enum board_state s = service_state(svc);

	return s != BOARD_STARTING && s != BOARD_READY && s != BOARD_STOPPING;
}

/*
 * Frees retired services once they are down, then starts the held ones
 * that replace them: the old and new definitions never run at once.
 */
static void
up_collect_removed(struct up *up)
{
	size_t i, j, k;
	int blocked;

	for (i = 0, j = 0; i < up->nsvcs; i++) {
		struct service *svc = up->svcs[i];

		if (service_retired(svc) && up_is_down(svc)) {
			service_free(svc);
			continue;
		}
		up->svcs[j++] = svc;
	}
	up->nsvcs = j;
	for (i = 0; i < up->nsvcs; i++) {
		if (!service_held(up->svcs[i]))
			continue;
		blocked = 0;
		for (k = 0; k < up->nsvcs && !blocked; k++)
			blocked = service_retired(up->svcs[k]) &&
			    strcasecmp(service_def(up->svcs[k])->name,
			    service_def(up->svcs[i])->name) == 0;
		if (!blocked) {
			service_hold(up->svcs[i], 0);
			service_start(up->svcs[i]);
		}
	}
}

/* After any state change: board, dependants, control replies, shutdown. */
static void
up_changed(struct service *svc, void *arg)
{
	struct up *up = arg;
	size_t i;

	if (service_retired(svc) && up_is_down(svc) && !up->collecting) {
		/* Free it after this callback, from the loop: not here. */
		up->collect = 1;
	}
	if (service_state(svc) == BOARD_READY)
		for (i = 0; i < up->nsvcs; i++)
			if (up->svcs[i] != svc)
				service_deps_changed(up->svcs[i]);
	/*
	 * Published once per loop round, before the loop waits again: a
	 * restart goes through three states in two rounds, and the copy and
	 * the futex wake need not be in the way of the next fork.
	 */
	up->dirty = 1;
	ctl_check_waits(up);
	if (up->shutting_down && up_all_down(up))
		pv_loop_break(up->loop);
}

/* Creates and appends the service for def. */
static struct service *
up_add_service(struct up *up, const struct conf_service *def)
{
	struct service **ns, *svc;

	ns = reallocarray(up->svcs, up->nsvcs + 1, sizeof(*ns));
	if (ns == NULL)
		return NULL;
	up->svcs = ns;
	if ((svc = service_new(def, &up->env)) == NULL)
		return NULL;
	up->svcs[up->nsvcs++] = svc;
	return svc;
}

/* Stops every service; the loop ends when all are down. */
static void
up_shutdown(struct up *up, const char *why)
{
	size_t i;

	if (!up->shutting_down)
		up_log(up, "%s: stopping %zu services", why, up->nsvcs);
	up->shutting_down = 1;
	for (i = 0; i < up->nsvcs; i++)
		service_stop(up->svcs[i]);
	if (up_all_down(up))
		pv_loop_break(up->loop);
}

/*
 * Rereads the configuration and applies the difference: unchanged
 * services keep running, changed ones are restarted with the new
 * definition, removed ones stopped, new ones started.  Returns 0, or -1
 * with a message in err (nothing changed then).
 */
static int
up_reload(struct up *up, char *err, size_t errsize)
{
	struct conf *nc, **nr;
	const struct conf_service *nd;
	struct service *svc;
	size_t i, j, n;
	ssize_t k;

	if (conf_load(up->config, &nc, err, errsize) == -1) {
		if (errno != EINVAL)
			snprintf(err, errsize, "%s: %s", up->config,
			    strerror(errno));
		return -1;
	}
	nr = reallocarray(up->retired, up->nretired + 1, sizeof(*nr));
	if (nr == NULL) {
		conf_free(nc);
		snprintf(err, errsize, "%s", strerror(errno));
		return -1;
	}
	up->retired = nr;
	up->retired[up->nretired++] = up->conf;
	up->conf = nc;

	n = up->nsvcs;
	for (i = 0; i < n; i++) {
		svc = up->svcs[i];
		if (service_retired(svc))
			continue;
		nd = NULL;
		for (j = 0; j < nc->nservices; j++)
			if (strcasecmp(nc->services[j].name,
			    service_def(svc)->name) == 0)
				nd = &nc->services[j];
		if (nd != NULL && conf_service_same(service_def(svc), nd)) {
			service_set_def(svc, nd);
			continue;
		}
		/* Changed or removed: it goes once down. */
		up_log(up, "reload: %s %s", service_def(svc)->name,
		    nd != NULL ? "changed: restarting" : "removed: stopping");
		service_retire(svc);
		service_stop(svc);
	}
	for (i = 0; i < nc->nservices; i++) {
		k = up_find(up, nc->services[i].name);
		if (k >= 0)
			continue;	/* unchanged, kept above */
		if ((svc = up_add_service(up, &nc->services[i])) == NULL) {
			up_log(up, "reload: %s: %s", nc->services[i].name,
			    strerror(errno));
			continue;
		}
		/* Started by up_collect_removed once its old self is gone. */
		service_hold(svc, 1);
	}
	up_collect_removed(up);
	up_publish(up);
	return 0;
}

/* True if pid is a stage of one of our services (service_env.is_stage). */
static int
up_is_stage(pid_t pid, void *arg)
{
	struct up *up = arg;
	size_t i;

	for (i = 0; i < up->nsvcs; i++)
		if (service_owns(up->svcs[i], pid))
			return 1;
	return 0;
}

/*
 * Reaps every child that has exited, as a process 1 must: one waitpid -1
 * per child, as cheap as reaping gets (a look without reaping first, to
 * leave the stages to their pidfd watches, cost a second call per orphan
 * and twice the waits on the kernel's task list lock while thousands
 * exit).  A stage reaped here has its status handed to its service, as
 * its watch would have; the watch, seeing it gone, goes with it.
 */
static void
up_reap_orphans(struct up *up)
{
	size_t i;
	pid_t pid;
	int status;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;		/* none exited, or ECHILD */
		/* The service's handling may change up->svcs: stop there. */
		for (i = 0; i < up->nsvcs; i++)
			if (service_reaped(up->svcs[i], pid, status))
				break;
	}
}

/*
 * At a clean stop every service is down, so a child still here is
 * something a service left behind that its own sweep could not catch
 * (one still in execve(2) when the service exited, whose environment
 * did not say yet whose it was): as a subreaper or process 1 we only
 * ever inherit our services' descendants.  Kills and reaps them until
 * none is left, for a second at most (one stuck in the kernel may
 * never die).  Those killed a moment ago by their service's sweep get
 * UP_DYING_MS to finish dying first, so that the count says what this
 * last sweep found.
 */
static void
up_kill_children(struct up *up)
{
	struct timespec deadline, now, pause = { 0, 1000000L };
	struct timespec limit = { 1, 0 }, grace = { 0, UP_DYING_MS * 1000000L };
	struct timespec start;
	char buf[4096], prev[4096] = "", *p, *end;
	int killed = 0;
	pid_t pid;

	pv_now(&start);
	deadline = pv_ts_add(start, limit);
	grace = pv_ts_add(start, grace);
	for (;;) {
		up_reap_orphans(up);
		if (service_children_read(up->env.childrenfd, buf,
		    sizeof(buf)) <= 0)
			break;
		pv_now(&now);
		if (pv_ts_cmp(now, grace) < 0) {
			nanosleep(&pause, NULL);
			continue;
		}
		for (p = buf; ; p = end) {
			pid = (pid_t)strtol(p, &end, 10);
			if (end == p)
				break;
			/* Counted once, though it may take rounds to die. */
			if (pid > 1 && kill(pid, SIGKILL) == 0 &&
			    !service_pid_listed(prev, pid))
				killed++;
		}
		memcpy(prev, buf, sizeof(prev));
		if (pv_ts_cmp(now, deadline) >= 0) {
			up_log(up, "children still alive a second after "
			    "SIGKILL: %s", buf);
			break;
		}
		nanosleep(&pause, NULL);
	}
	if (killed > 0)
		up_log(up, "killed %d processes the services left behind",
		    killed);
}

/* Handles the signals the supervisor reacts to. */
static void
up_on_signal(struct pv_loop *loop, int signo, void *arg)
{
	struct up *up = arg;
	char err[512];

	(void)loop;
	switch (signo) {
	case SIGTERM:
	case SIGINT:
		up_shutdown(up, signo == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	case SIGHUP:
		if (up->shutting_down)
			break;
		if (up_reload(up, err, sizeof(err)) == -1)
			up_log(up, "reload failed, keeping the old "
			    "configuration: %s", err);
		else
			up_log(up, "reloaded %s", up->config);
		break;
	case SIGCHLD:
		up_reap_orphans(up);
		break;
	}
}

/* ---- the control channel ------------------------------------------- */

/* Frees a control connection. */
static void
ctl_close(struct ctl_conn *c)
{
	struct ctl_conn **pp;

	for (pp = &c->up->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pv_loop_del_fd(c->up->loop, c->fd);
	close(c->fd);
	free(c->out);
	free(c->targets);
	free(c);
}

/* Writes what it can of the reply; closes the connection when done. */
static void
ctl_on_writable(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct ctl_conn *c = arg;
	ssize_t w;

	(void)loop;
	(void)events;
	while (c->outoff < c->outlen) {
		w = send(fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return;
		if (w == -1) {
			ctl_close(c);
			return;
		}
		c->outoff += (size_t)w;
	}
	ctl_close(c);
}

/* Sends a reply (body, then "ok" or "error: ...") and closes. */
static void __attribute__((format(printf, 3, 4)))
ctl_reply(struct ctl_conn *c, const char *body, const char *fmt, ...)
{
	char last[512];
	va_list ap;
	size_t blen = body != NULL ? strlen(body) : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(last, sizeof(last), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(last))
		n = (int)sizeof(last) - 1;
	free(c->out);
	c->wait = CTL_WAIT_NONE;
	if ((c->out = malloc(blen + (size_t)n + 2)) == NULL) {
		ctl_close(c);
		return;
	}
	memcpy(c->out, body != NULL ? body : "", blen);
	memcpy(c->out + blen, last, (size_t)n);
	c->out[blen + (size_t)n] = '\n';
	c->outlen = blen + (size_t)n + 1;
	c->outoff = 0;
	/*
	 * Written from the loop, never here: a reply can complete inside
	 * a state change nested in the request that caused it, and the
	 * connection must outlive that request.
	 */
	if (pv_loop_mod_fd(c->up->loop, c->fd, PV_WRITE) == -1)
		c->outlen = 0;
}

/* Answers a waiting request whose condition now holds. */
static void
ctl_check_one(struct ctl_conn *c)
{
	struct up *up = c->up;
	size_t i;
	enum board_state s;
	const char *name;

	for (i = 0; i < c->ntargets; i++) {
		s = service_state(up->svcs[c->targets[i]]);
		if (c->wait == CTL_WAIT_DOWN && (s == BOARD_STARTING ||
		    s == BOARD_READY || s == BOARD_STOPPING))
			return;
		if (c->wait == CTL_WAIT_UP && (s == BOARD_STARTING ||
		    s == BOARD_STOPPING || (s == BOARD_STOPPED &&
		    service_wanted(up->svcs[c->targets[i]]))))
			return;
	}
	if (c->restart) {
		c->restart = 0;
		c->wait = CTL_WAIT_UP;
		for (i = 0; i < c->ntargets; i++)
			service_start(up->svcs[c->targets[i]]);
		return;		/* up_changed calls us again */
	}
	for (i = 0; i < c->ntargets; i++) {
		s = service_state(up->svcs[c->targets[i]]);
		name = service_def(up->svcs[c->targets[i]])->name;
		if (c->wait == CTL_WAIT_UP && s != BOARD_READY) {
			ctl_reply(c, NULL, "error: %s is %s", name,
			    board_state_name(s));
			return;
		}
	}
	ctl_reply(c, NULL, "ok");
}

/* Answers every waiting request whose condition holds now. */
static void
ctl_check_waits(struct up *up)
{
	struct ctl_conn *c, *next;

	for (c = up->conns; c != NULL; c = next) {
		next = c->next;
		if (c->wait != CTL_WAIT_NONE && c->out == NULL)
			ctl_check_one(c);
	}
}

/* Resolves names to service indexes (all services when none named). */
static int
ctl_targets(struct ctl_conn *c, char **names, size_t n, int all_if_none)
{
	struct up *up = c->up;
	size_t i;
	ssize_t k;

	if (n == 0 && !all_if_none) {
		ctl_reply(c, NULL, "error: name a service");
		return -1;
	}
	c->ntargets = n == 0 ? up->nsvcs : n;
	c->targets = calloc(c->ntargets + 1, sizeof(*c->targets));
	if (c->targets == NULL) {
		ctl_reply(c, NULL, "error: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < c->ntargets; i++) {
		if (n == 0) {
			c->targets[i] = i;
			continue;
		}
		if ((k = up_find(up, names[i])) < 0) {
			ctl_reply(c, NULL, "error: no service '%s'", names[i]);
			return -1;
		}
		c->targets[i] = (size_t)k;
	}
	return 0;
}

/* Replies with the board, for `ctl status`. */
static void
ctl_status(struct ctl_conn *c)
{
	struct up *up = c->up;
	struct board_service *b;
	struct board_info info;
	struct timespec now;
	char *text;
	size_t i;

	if ((b = calloc(c->ntargets + 1, sizeof(*b))) == NULL) {
		ctl_reply(c, NULL, "error: %s", strerror(errno));
		return;
	}
	for (i = 0; i < c->ntargets; i++)
		service_board(up->svcs[c->targets[i]], &b[i]);
	memset(&info, 0, sizeof(info));
	info.pid = (int32_t)getpid();
	clock_gettime(CLOCK_REALTIME, &now);
	text = (c->json ? board_render_json : board_render_text)(b,
	    c->ntargets, &info, (int64_t)now.tv_sec * 1000000000 +
	    now.tv_nsec);
	free(b);
	if (text == NULL) {
		ctl_reply(c, NULL, "error: %s", strerror(errno));
		return;
	}
	ctl_reply(c, text, "ok");
	free(text);
}

/* Carries out one request line. */
static void
ctl_request(struct ctl_conn *c, char *line)
{
	struct up *up = c->up;
	char *words[64], *save, *w, err[512];
	size_t n = 0, i;
	int sig;

	for (w = strtok_r(line, " \t\r", &save); w != NULL && n < 64;
	    w = strtok_r(NULL, " \t\r", &save))
		words[n++] = w;
	if (n > 0 && strcmp(words[0], "json") == 0) {
		c->json = 1;
		memmove(words, words + 1, --n * sizeof(*words));
	}
	if (n == 0) {
		ctl_reply(c, NULL, "error: empty request");
		return;
	}
	if (up->shutting_down && strcmp(words[0], "status") != 0) {
		ctl_reply(c, NULL, "error: shutting down");
		return;
	}
	if (strcmp(words[0], "status") == 0) {
		if (ctl_targets(c, words + 1, n - 1, 1) == 0)
			ctl_status(c);
	} else if (strcmp(words[0], "start") == 0) {
		if (ctl_targets(c, words + 1, n - 1, 0) == -1)
			return;
		c->wait = CTL_WAIT_UP;
		for (i = 0; i < c->ntargets; i++)
			service_start(up->svcs[c->targets[i]]);
		if (c->out == NULL)
			ctl_check_one(c);
	} else if (strcmp(words[0], "stop") == 0 ||
	    strcmp(words[0], "restart") == 0) {
		if (ctl_targets(c, words + 1, n - 1, 0) == -1)
			return;
		c->wait = CTL_WAIT_DOWN;
		c->restart = words[0][0] == 'r';
		for (i = 0; i < c->ntargets; i++)
			service_stop(up->svcs[c->targets[i]]);
		if (c->out == NULL)
			ctl_check_one(c);
	} else if (strcmp(words[0], "signal") == 0) {
		if (n < 2 || (sig = pv_signal_parse(words[1])) == -1) {
			ctl_reply(c, NULL, "error: signal needs a valid "
			    "SIGNAL");
			return;
		}
		if (ctl_targets(c, words + 2, n - 2, 0) == -1)
			return;
		for (i = 0; i < c->ntargets; i++)
			if (service_signal(up->svcs[c->targets[i]], sig) == -1) {
				ctl_reply(c, NULL, "error: %s is not running",
				    service_def(up->svcs[c->targets[i]])->name);
				return;
			}
		ctl_reply(c, NULL, "ok");
	} else if (strcmp(words[0], "reload") == 0) {
		if (up_reload(up, err, sizeof(err)) == -1)
			ctl_reply(c, NULL, "error: %s", err);
		else
			ctl_reply(c, NULL, "ok");
	} else if (strcmp(words[0], "shutdown") == 0) {
		ctl_reply(c, NULL, "ok");
		up_shutdown(up, "ctl shutdown");
	} else
		ctl_reply(c, NULL, "error: unknown command '%s'", words[0]);
}

/* Reads a request; one line per connection. */
static void
ctl_on_readable(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct ctl_conn *c = arg;
	char *nl;
	ssize_t r;

	(void)loop;
	if (c->out != NULL && (events & PV_WRITE)) {
		ctl_on_writable(loop, fd, events, c);
		return;
	}
	if (c->wait != CTL_WAIT_NONE || c->out != NULL) {
		/* Waiting or answering: a hang-up just drops the reply. */
		char scratch[64];

		r = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (r == 0 || (r == -1 && errno != EAGAIN && errno != EINTR))
			ctl_close(c);
		return;
	}
	r = recv(fd, c->in + c->inlen, sizeof(c->in) - 1 - c->inlen,
	    MSG_DONTWAIT);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		ctl_close(c);
		return;
	}
	c->inlen += (size_t)r;
	c->in[c->inlen] = '\0';
	if (memchr(c->in, '\0', c->inlen) != NULL) {
		ctl_reply(c, NULL, "error: NUL byte in request");
		return;
	}
	if ((nl = strchr(c->in, '\n')) == NULL) {
		if (c->inlen == sizeof(c->in) - 1)
			ctl_reply(c, NULL, "error: request too long");
		return;
	}
	*nl = '\0';
	ctl_request(c, c->in);
}

/* Accepts a control connection from our own user (or root) only. */
static void
ctl_on_accept(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct up *up = arg;
	struct ctl_conn *c;
	uid_t uid;
	gid_t gid;
	int cfd;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (cfd == -1)
		return;
	if (getpeereid(cfd, &uid, &gid) == -1 ||
	    (uid != geteuid() && uid != 0)) {
		close(cfd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(cfd);
		return;
	}
	c->up = up;
	c->fd = cfd;
	/* One callback for both directions: it reads, then writes. */
	if (pv_loop_add_fd(loop, cfd, PV_READ, ctl_on_readable, c) == -1) {
		close(cfd);
		free(c);
		return;
	}
	c->next = up->conns;
	up->conns = c;
}

/* ---- the status page ------------------------------------------------ */

/* Answers the status page's routes from the services' current state. */
static int
up_http(const char *path, struct http_response *resp, void *arg)
{
	struct up *up = arg;
	struct board_service *b;
	struct board_info info;
	struct timespec now;
	char *(*render)(const struct board_service *, size_t,
	    const struct board_info *, int64_t);
	size_t i;

	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		render = board_render_html;
		resp->content_type = "text/html; charset=utf-8";
	} else if (strcmp(path, "/status.json") == 0) {
		render = board_render_json;
		resp->content_type = "application/json";
	} else if (strcmp(path, "/metrics") == 0) {
		render = board_render_metrics;
		resp->content_type = "text/plain; version=0.0.4";
	} else {
		resp->status = 404;
		resp->content_type = "text/plain";
		resp->body = strdup("not found\n");
		resp->len = resp->body != NULL ? strlen(resp->body) : 0;
		return resp->body != NULL ? 0 : -1;
	}
	if ((b = calloc(up->nsvcs + 1, sizeof(*b))) == NULL)
		return -1;
	for (i = 0; i < up->nsvcs; i++)
		service_board(up->svcs[i], &b[i]);
	memset(&info, 0, sizeof(info));
	info.pid = (int32_t)getpid();
	clock_gettime(CLOCK_REALTIME, &now);
	resp->body = render(b, up->nsvcs, &info,
	    (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	free(b);
	if (resp->body == NULL)
		return -1;
	resp->status = 200;
	resp->len = strlen(resp->body);
	return 0;
}

/* ---- start-up and the main loop ------------------------------------ */

/* Prints up's usage to fp. */
static void
up_usage(FILE *fp)
{
	fprintf(fp, "usage: pipevisor up [-hn] [-f FILE] [--http ADDR:PORT] "
	    "[--subreaper]\n");
}

/* Removes what a supervisor killed with SIGKILL left in the runtime dir. */
static void
up_clean_stale(struct up *up)
{
	struct stat sb;

	/* The pidfile lock is ours, so anything here is a dead one's. */
	if (lstat(up->ctlpath, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(up->ctlpath);
}

/* Runs `pipevisor up`. */
int
pipevisor_up(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "check",	no_argument,		NULL, 'n' },
		{ "file",	required_argument,	NULL, 'f' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "http",	required_argument,	NULL, 'H' },
		{ "subreaper",	no_argument,		NULL, 'S' },
		{ NULL,		0,			NULL, 0 }
	};
	static const int caught[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct up up;
	char msg[1024], pidpath[PATH_MAX];
	const char *http = NULL;
	struct timespec started;
	int ch, check = 0, subreaper = 0;
	pid_t other;
	size_t i;

	memset(&up, 0, sizeof(up));
	up.config = "pipevisor.conf";
	up.ctlfd = -1;
	up.logfd = STDERR_FILENO;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:f:hn", longopts, NULL)) != -1) {
		switch (ch) {
		case 'f':
			up.config = optarg;
			break;
		case 'h':
			up_usage(stdout);
			return 0;
		case 'H':
			http = optarg;
			break;
		case 'n':
			check = 1;
			break;
		case 'S':
			subreaper = 1;
			break;
		case ':':
			warnx("up: option '%s' needs an argument",
			    argv[optind - 1]);
			up_usage(stderr);
			return UP_EXIT_CONFIG;
		default:
			warnx("up: unknown option '%s'", argv[optind - 1]);
			up_usage(stderr);
			return UP_EXIT_CONFIG;
		}
	}
	if (optind != argc) {
		warnx("up: unexpected argument '%s'", argv[optind]);
		up_usage(stderr);
		return UP_EXIT_CONFIG;
	}
	if (conf_load(up.config, &up.conf, msg, sizeof(msg)) == -1) {
		if (errno == EINVAL)
			warnx("%s", msg);
		else
			warn("up: %s", up.config);
		return UP_EXIT_CONFIG;
	}
	if (check) {
		printf("%s: %zu services, configuration OK\n", up.config,
		    up.conf->nservices);
		conf_free(up.conf);
		return 0;
	}
	if (http == NULL)
		http = up.conf->http;

	/* The runtime directory, the pidfile, and a dead one's leftovers. */
	if (up.conf->rundir != NULL)
		strlcpy(up.rundir, up.conf->rundir, sizeof(up.rundir));
	else if (rundir_path(up.rundir, sizeof(up.rundir)) == -1)
		err(UP_EXIT_FAIL, "up: runtime directory");
	if (rundir_ensure(up.rundir, msg, sizeof(msg)) == -1)
		errx(UP_EXIT_FAIL, "up: %s", msg);
	if (rundir_file(up.rundir, "up.pid", pidpath, sizeof(pidpath)) == -1 ||
	    rundir_file(up.rundir, "ctl", up.ctlpath, sizeof(up.ctlpath)) ==
	    -1 || rundir_board_name(up.rundir, up.boardname,
	    sizeof(up.boardname)) == -1)
		err(UP_EXIT_FAIL, "up: %s", up.rundir);
	if ((up.pidfh = pidfile_open(pidpath, 0600, &other)) == NULL) {
		if (errno == EEXIST)
			errx(UP_EXIT_FAIL, "up: already running in %s (pid "
			    "%ld)", up.rundir, (long)other);
		err(UP_EXIT_FAIL, "up: %s", pidpath);
	}
	pidfile_write(up.pidfh);
	up_clean_stale(&up);
	if (up.conf->log != NULL) {
		up.logfd = open(up.conf->log, O_WRONLY | O_CREAT | O_APPEND |
		    O_CLOEXEC, 0644);
		if (up.logfd == -1)
			err(UP_EXIT_FAIL, "up: log %s", up.conf->log);
	}
	/*
	 * Always a child subreaper: what a service leaves outside its process
	 * group becomes our child, to be reaped and, at the service's exit,
	 * killed (service.c).  --subreaper and subreaper = yes say so too.
	 */
	(void)subreaper;
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		warn("up: cannot become a child subreaper");

	if ((up.loop = pv_loop_new()) == NULL)
		err(UP_EXIT_FAIL, "up");
	for (i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		if (pv_loop_on_signal(up.loop, caught[i], up_on_signal, &up))
			err(UP_EXIT_FAIL, "up: signal");
	if ((up.board = board_create(up.boardname)) == NULL)
		warn("up: status board %s", up.boardname);
	up.ctlfd = net_listen_unix(up.ctlpath);
	if (up.ctlfd == -1 || pv_loop_add_fd(up.loop, up.ctlfd, PV_READ,
	    ctl_on_accept, &up) == -1)
		err(UP_EXIT_FAIL, "up: control socket %s", up.ctlpath);
	if (http != NULL) {
		up.http = http_start(up.loop, http, up_http, &up, msg,
		    sizeof(msg));
		if (up.http == NULL)
			errx(UP_EXIT_FAIL, "up: --http %s", msg);
	}
	up.env.loop = up.loop;
	up.env.rundir = up.rundir;
	up.env.filters = pipevisor_filters_dir();
	/* pid and a start time: a later supervisor reusing our pid differs. */
	clock_gettime(CLOCK_REALTIME, &started);
	snprintf(up.marker, sizeof(up.marker), "%ld.%lld", (long)getpid(),
	    (long long)started.tv_sec * 1000000000LL + started.tv_nsec);
	up.env.marker = up.marker;
	up.env.logfd = up.logfd;
	/* Kept for the supervisor's life: no open or close per restart. */
	if ((up.env.devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		err(UP_EXIT_FAIL, "up: /dev/null");
	/* Without it (no CONFIG_PROC_CHILDREN) all of /proc is searched. */
	up.env.childrenfd = service_children_open();
	up.env.is_stage = up_is_stage;
	up.env.changed = up_changed;
	up.env.can_start = up_can_start;
	up.env.arg = &up;
	for (i = 0; i < up.conf->nservices; i++)
		if (up_add_service(&up, &up.conf->services[i]) == NULL)
			err(UP_EXIT_FAIL, "up: service %s",
			    up.conf->services[i].name);
	setproctitle("supervisor: %zu services (%s)", up.nsvcs, up.config);
	up_log(&up, "supervising %zu services from %s (pid %ld)", up.nsvcs,
	    up.config, (long)getpid());
	up_publish(&up);
	for (i = 0; i < up.nsvcs; i++)
		service_start(up.svcs[i]);

	while (!(up.shutting_down && up_all_down(&up))) {
		if (up.dirty) {
			up.dirty = 0;
			up_publish(&up);
		}
		if (pv_loop_once(up.loop) == -1) {
			up_log(&up, "event loop: %s", strerror(errno));
			break;
		}
		if (up.collect) {
			up.collect = 0;
			up.collecting = 1;
			up_collect_removed(&up);
			up.collecting = 0;
			up_publish(&up);
		}
	}

	/* Clean stop: every service is down; remove what we created. */
	up_log(&up, "stopped");
	while (up.conns != NULL) {
		/* A reply still queued (shutdown's own "ok") goes out now. */
		if (up.conns->out != NULL && up.conns->outoff < up.conns->outlen)
			pv_write_all(up.conns->fd, up.conns->out +
			    up.conns->outoff, up.conns->outlen -
			    up.conns->outoff);
		ctl_close(up.conns);
	}
	for (i = 0; i < up.nsvcs; i++)
		service_free(up.svcs[i]);
	free(up.svcs);
	up.svcs = NULL;
	up.nsvcs = 0;	/* up_reap_orphans must not look at freed services */
	up_kill_children(&up);
	if (up.env.childrenfd >= 0)
		close(up.env.childrenfd);
	close(up.env.devnull);
	http_stop(up.http);
	pv_loop_del_fd(up.loop, up.ctlfd);
	close(up.ctlfd);
	unlink(up.ctlpath);
	board_destroy(up.board);
	pidfile_remove(up.pidfh);
	pv_loop_free(up.loop);
	for (i = 0; i < up.nretired; i++)
		conf_free(up.retired[i]);
	free(up.retired);
	conf_free(up.conf);
	return up.exit_status;
}
