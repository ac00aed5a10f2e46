/*
 * pipevisor_serve.c: `pipevisor serve (--tcp ADDR:PORT | --unix PATH)
 * [options] SPEC`: accepts connections and runs one copy of the pipeline
 * per connection, with the socket as the first stage's stdin and the last
 * stage's stdout (DESIGN.md section 5), like tcpserver or inetd's nowait.
 *
 * Each copy is its own process group, started with every signal
 * disposition at default and an empty mask (DESIGN.md section 8), with
 * REMOTE_ADDR and REMOTE_PORT in every stage's environment (TCP; removed
 * for a unix socket).  pipevisor keeps no copy of the socket once the
 * pipeline runs, so the connection ends when the pipeline does.  At most
 * --max pipelines run at once: an excess client gets one line, "pipevisor:
 * too many connections", and is closed at once.  Running out of fds on
 * accept never spins the loop: a reserve fd is given up to accept and
 * turn away the excess client (RELIABILITY.md item 34); a pipeline is
 * only started when the fds it needs are there.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP stop the server: the listener is
 * closed (a --unix socket file removed), every running pipeline's group
 * gets SIGTERM, and SIGKILL once --grace has passed (or at once on a
 * second such signal); pipevisor exits 0 when every stage is reaped.
 * SIGPIPE is ignored (pv_sig_init): a client that goes away is just a
 * closed connection.
 */
#include <sys/types.h>
#include <sys/pidfd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define SERVE_DEFAULT_MAX	64
#define SERVE_MAX_MAX		1048576
#define SERVE_ACCEPT_BURST	64	/* accepts per loop round */
#define SERVE_PAUSE_MS		100	/* listener rest when out of fds */
#define SERVE_PEERLEN		(INET6_ADDRSTRLEN + 8)

static const char serve_busy[] = "pipevisor: too many connections\n";

struct serve;

/* One connection: its pipeline, and who it serves (for -v). */
struct serve_conn {
	TAILQ_ENTRY(serve_conn)	 entry;
	struct serve		*sv;
	struct pv_pipeline	*pl;
	char			 peer[SERVE_PEERLEN];
};

struct serve {
	struct pv_loop		*loop;
	const char		*spec;
	int			 shell;
	const char		*filters;	/* fallback path, or NULL */
	size_t			 nstages;	/* of SPEC, for fd headroom */
	const char		*unix_path;	/* --unix, else NULL */
	struct stat		 unix_sb;	/* the socket file we made */
	int			 lfd;		/* listener, -1 once closed */
	int			 reserve;	/* /dev/null, for EMFILE */
	int			 paused;	/* listener unwatched */
	struct pv_timer		*resume;
	struct pv_timer		*kill_timer;
	size_t			 max, nconns;
	struct timespec		 grace;
	int			 verbose;
	int			 stopping;	/* the signal that stops us */
	TAILQ_HEAD(, serve_conn) conns;
};

static void	serve_on_listen(struct pv_loop *, int, unsigned, void *);

/* Prints serve's usage to fp. */
static void
serve_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: pipevisor serve (--tcp ADDR:PORT | --unix PATH) [-hv]"
	    " [--grace DURATION]\n"
	    "                       [--max N] [--shell] SPEC\n");
}

/* Reports a usage mistake and returns serve's usage status. */
#define serve_usage_error(...) \
	pipevisor_usage_error("serve", serve_usage, RUN_EXIT_ERROR, __VA_ARGS__)

/* Returns now + ms on the monotonic clock. */
static struct timespec
serve_in_ms(long ms)
{
	struct timespec now, d = { ms / 1000, (ms % 1000) * 1000000L };

	pv_now(&now);
	return pv_ts_add(now, d);
}

/* Turns a client away with serve's one line, and closes it. */
static void
serve_refuse(int fd)
{
	net_refuse(fd, serve_busy, sizeof(serve_busy) - 1);
}

/*
 * Tells whether n more fds can be opened now, by opening and closing
 * them.  A pipeline that started without the pidfds it needs could not
 * be reaped through the loop, so it is better not started at all.
 */
static int
serve_fd_headroom(int probe, size_t n)
{
	int fds[64];
	size_t i, got;
	int ok = 1;

	if (n > sizeof(fds) / sizeof(fds[0]))
		n = sizeof(fds) / sizeof(fds[0]);
	for (got = 0; got < n; got++)
		if ((fds[got] = fcntl(probe, F_DUPFD_CLOEXEC, 0)) == -1) {
			ok = 0;
			break;
		}
	for (i = 0; i < got; i++)
		close(fds[i]);
	return ok;
}

/* Closes the listener (and its socket file): no more connections. */
static void
serve_close_listener(struct serve *sv)
{
	struct stat sb;

	if (sv->lfd < 0)
		return;
	pv_loop_cancel_timer(sv->loop, sv->resume);
	sv->resume = NULL;
	if (!sv->paused)
		pv_loop_del_fd(sv->loop, sv->lfd);
	close(sv->lfd);
	sv->lfd = -1;
	if (sv->reserve >= 0) {
		close(sv->reserve);
		sv->reserve = -1;
	}
	/* Remove the socket file only if it is still the one we made. */
	if (sv->unix_path != NULL && lstat(sv->unix_path, &sb) == 0 &&
	    sb.st_dev == sv->unix_sb.st_dev &&
	    sb.st_ino == sv->unix_sb.st_ino && unlink(sv->unix_path) == -1)
		warn("serve: cannot remove %s", sv->unix_path);
}

/* Frees a connection whose pipeline is over (or never started). */
static void
serve_conn_free(struct serve_conn *c)
{
	struct serve *sv = c->sv;

	TAILQ_REMOVE(&sv->conns, c, entry);
	sv->nconns--;
	pv_pipeline_free(c->pl);
	free(c);
	if (sv->stopping && sv->nconns == 0) {
		pv_loop_cancel_timer(sv->loop, sv->kill_timer);
		sv->kill_timer = NULL;
		pv_loop_break(sv->loop);
	}
}

/* Every stage of a connection's pipeline has been reaped. */
static void
serve_on_done(struct pv_pipeline *pl, void *arg)
{
	struct serve_conn *c = arg;

	if (c->sv->verbose)
		warnx("serve: done %s status %d", c->peer,
		    pv_pipeline_status(pl, 0));
	serve_conn_free(c);
}

/*
 * SIGCHLD, caught only where pidfds do not work (kernels before 5.3,
 * valgrind, some seccomp sandboxes): the loop cannot see a stage exit
 * then, so every pipeline is polled and the finished ones retired.
 */
static void
serve_on_sigchld(struct pv_loop *loop, int signo, void *arg)
{
	struct serve *sv = arg;
	struct serve_conn *c, *next;

	(void)loop;
	(void)signo;
	for (c = TAILQ_FIRST(&sv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (pv_pipeline_poll(c->pl) == 0)
			serve_on_done(c->pl, c);
	}
}

/* Builds one connection's copy of the pipeline, wired to fd. */
static struct pv_pipeline *
serve_build(struct serve *sv, int fd, const char *host, unsigned port)
{
	struct pv_pipeline *pl;
	struct pv_spec_error perr;
	char portbuf[16];
	size_t i;

	if ((pl = pv_pipeline_new()) == NULL)
		return NULL;
	/* Parsed once at start already: only memory can fail here. */
	if (pv_pipeline_parse(pl, sv->spec, sv->shell, &perr) == -1 ||
	    (sv->filters != NULL &&
	    pv_pipeline_set_fallback_path(pl, sv->filters) == -1))
		goto fail;
	pv_pipeline_set_sigmode(pl, PV_SIG_DEFAULT);
	pv_pipeline_set_input(pl, fd);
	pv_pipeline_set_output(pl, fd);
	snprintf(portbuf, sizeof(portbuf), "%u", port);
	for (i = 0; i < pv_pipeline_count(pl); i++) {
		struct pv_stage *st = pv_pipeline_stage(pl, i);

		/* A unix client has no address: drop inherited ones. */
		if (pv_stage_setenv(st, "REMOTE_ADDR", host) == -1 ||
		    pv_stage_setenv(st, "REMOTE_PORT",
		    host != NULL ? portbuf : NULL) == -1)
			goto fail;
	}
	return pl;
fail:
	pv_pipeline_free(pl);
	return NULL;
}

/* Starts a pipeline for a freshly accepted connection; fd is consumed. */
static void
serve_start(struct serve *sv, int fd)
{
	struct serve_conn *c;
	char host[INET6_ADDRSTRLEN];
	unsigned port = 0;
	size_t i;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		warn("serve");
		serve_refuse(fd);
		return;
	}
	c->sv = sv;
	if (sv->unix_path == NULL) {
		if (net_peer(fd, host, sizeof(host), &port) == -1) {
			/* Reset before we got to it: nobody to serve. */
			free(c);
			close(fd);
			return;
		}
		snprintf(c->peer, sizeof(c->peer), strchr(host, ':') != NULL ?
		    "[%s]:%u" : "%s:%u", host, port);
	} else
		strlcpy(c->peer, sv->unix_path, sizeof(c->peer));
	if (sv->nconns >= sv->max) {
		if (sv->verbose)
			warnx("serve: refused %s: too many connections (%zu)",
			    c->peer, sv->nconns);
		free(c);
		serve_refuse(fd);
		return;
	}

	/* Error pipe, pipes between stages, one pidfd per stage. */
	if (!serve_fd_headroom(fd, sv->nstages + 5)) {
		if (sv->verbose)
			warnx("serve: refused %s: out of file descriptors",
			    c->peer);
		free(c);
		serve_refuse(fd);
		return;
	}
	if ((c->pl = serve_build(sv, fd, sv->unix_path == NULL ? host : NULL,
	    port)) == NULL) {
		warn("serve: %s", c->peer);
		free(c);
		serve_refuse(fd);
		return;
	}
	if (pv_pipeline_start(c->pl) == -1) {
		warn("serve: %s: cannot start the pipeline", c->peer);
		pv_pipeline_free(c->pl);
		free(c);
		serve_refuse(fd);
		return;
	}
	/* The stages have their copies; ours would keep the client open. */
	close(fd);
	TAILQ_INSERT_TAIL(&sv->conns, c, entry);
	sv->nconns++;
	if (sv->verbose)
		warnx("serve: connect %s pid %ld", c->peer,
		    (long)pv_pipeline_pgid(c->pl));
	for (i = 0; i < pv_pipeline_count(c->pl); i++) {
		const struct pv_stage *st = pv_pipeline_stage(c->pl, i);

		if (pv_stage_error(st) != NULL)
			warnx("serve: stage %zu: %s: %s", i + 1,
			    pv_stage_name(st), pv_stage_error(st));
	}
	/* This may call serve_on_done, and free c, at once. */
	if (pv_pipeline_watch(c->pl, sv->loop, serve_on_done, c) == -1) {
		warn("serve: %s: cannot watch the pipeline", c->peer);
		while (pv_pipeline_stop(c->pl, SIGKILL, NULL) == -1 &&
		    errno == EINTR)
			continue;
		serve_conn_free(c);
	}
}

/* Watches the listener again after a pause. */
static void
serve_on_resume(struct pv_loop *loop, void *arg)
{
	struct serve *sv = arg;
	struct timespec when;

	sv->resume = NULL;
	if (sv->reserve < 0)
		sv->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (pv_loop_add_fd(loop, sv->lfd, PV_READ, serve_on_listen, sv) == 0) {
		sv->paused = 0;
		return;
	}
	when = serve_in_ms(SERVE_PAUSE_MS);
	if ((sv->resume = pv_loop_add_timer(loop, &when, serve_on_resume,
	    sv)) == NULL)
		warn("serve: the listener is lost");
}

/*
 * Stops watching the listener for a moment, when accept fails in a way
 * that would fail again at once: the loop must not spin on it.
 */
static void
serve_pause(struct serve *sv)
{
	struct timespec when;

	if (sv->paused)
		return;
	when = serve_in_ms(SERVE_PAUSE_MS);
	if ((sv->resume = pv_loop_add_timer(sv->loop, &when, serve_on_resume,
	    sv)) == NULL)
		return;
	pv_loop_del_fd(sv->loop, sv->lfd);
	sv->paused = 1;
}

/* Turns away a client accepted with the reserve fd (net_shed). */
static void
serve_turn_away(int fd, void *arg)
{
	(void)arg;
	serve_refuse(fd);
}

/* Accepts waiting clients, a bounded number per round. */
static void
serve_on_listen(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct serve *sv = arg;
	int i, cfd;

	(void)loop;
	(void)events;
	for (i = 0; i < SERVE_ACCEPT_BURST && sv->lfd >= 0; i++) {
		/* Blocking: the stages read and write it as stdin/stdout. */
		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0) {
			serve_start(sv, cfd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EMFILE:
		case ENFILE:
			switch (net_shed(sv->lfd, &sv->reserve,
			    serve_turn_away, sv)) {
			case 1:
				if (sv->verbose)
					warnx("serve: refused a connection: "
					    "out of file descriptors");
				continue;
			case 0:
				return;
			default:
				serve_pause(sv);
				return;
			}
		default:
			warn("serve: accept");
			serve_pause(sv);
			return;
		}
	}
}

/* Sends sig to every running pipeline's process group. */
static void
serve_kill_all(struct serve *sv, int sig)
{
	struct serve_conn *c;

	TAILQ_FOREACH(c, &sv->conns, entry)
		pv_pipeline_kill(c->pl, sig);
}

/* --grace has passed: SIGKILL whatever still runs. */
static void
serve_on_kill_timer(struct pv_loop *loop, void *arg)
{
	struct serve *sv = arg;

	(void)loop;
	sv->kill_timer = NULL;
	serve_kill_all(sv, SIGKILL);
}

/* SIGTERM, SIGINT, SIGHUP: stop accepting, stop the pipelines, leave. */
static void
serve_on_signal(struct pv_loop *loop, int signo, void *arg)
{
	struct serve *sv = arg;
	struct timespec when;

	if (sv->stopping) {
		/* Asked again: no more grace. */
		pv_loop_cancel_timer(loop, sv->kill_timer);
		sv->kill_timer = NULL;
		serve_kill_all(sv, SIGKILL);
		return;
	}
	sv->stopping = signo;
	if (sv->verbose)
		warnx("serve: SIG%s: stopping %zu connection%s",
		    pv_signal_name(signo), sv->nconns, sv->nconns == 1 ? "" :
		    "s");
	serve_close_listener(sv);
	if (sv->nconns == 0) {
		pv_loop_break(loop);
		return;
	}
	serve_kill_all(sv, SIGTERM);
	when = pv_ts_add(serve_in_ms(0), sv->grace);
	if ((sv->kill_timer = pv_loop_add_timer(loop, &when,
	    serve_on_kill_timer, sv)) == NULL) {
		warn("serve: cannot arm --grace");
		serve_kill_all(sv, SIGKILL);
	}
}

/* Says where the server listens, for -v (and for PORT 0). */
static void
serve_announce(struct serve *sv)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];
	unsigned port;

	if (sv->unix_path != NULL) {
		warnx("serve: listening on %s", sv->unix_path);
		return;
	}
	if (getsockname(sv->lfd, (struct sockaddr *)&ss, &len) == -1)
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		warnx("serve: listening on [%s]:%u", host, port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		warnx("serve: listening on %s:%u", host, port);
	}
}

/* Opens the listener of --tcp or --unix; returns 0, or -1 after a message. */
static int
serve_listen(struct serve *sv, const char *tcp)
{
	char err[256];

	if (tcp != NULL) {
		if ((sv->lfd = net_listen(tcp, SOCK_STREAM, err,
		    sizeof(err))) == -1) {
			warnx("serve: %s", err);
			return -1;
		}
		return 0;
	}
	if ((sv->lfd = net_listen_unix(sv->unix_path)) == -1) {
		if (errno == EEXIST)
			warnx("serve: %s: exists and is not a socket",
			    sv->unix_path);
		else
			warn("serve: %s", sv->unix_path);
		return -1;
	}
	if (lstat(sv->unix_path, &sv->unix_sb) == -1) {
		warn("serve: %s", sv->unix_path);
		close(sv->lfd);
		sv->lfd = -1;
		return -1;
	}
	return 0;
}

/* Runs `pipevisor serve`. */
int
pipevisor_serve(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "grace",	required_argument,	NULL, 'g' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "max",	required_argument,	NULL, 'm' },
		{ "shell",	no_argument,		NULL, 'S' },
		{ "tcp",	required_argument,	NULL, 't' },
		{ "unix",	required_argument,	NULL, 'u' },
		{ "verbose",	no_argument,		NULL, 'v' },
		{ NULL,		0,			NULL, 0 }
	};
	static const int stops[] = { SIGTERM, SIGINT, SIGHUP };
	struct serve sv;
	struct pv_pipeline *scratch;
	struct pv_spec_error perr;
	const char *tcp = NULL, *errstr;
	int ch, probe, status = 0;
	size_t i;

	memset(&sv, 0, sizeof(sv));
	sv.lfd = sv.reserve = -1;
	sv.max = SERVE_DEFAULT_MAX;
	sv.grace.tv_sec = 5;
	TAILQ_INIT(&sv.conns);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+hv", longopts, NULL)) != -1) {
		switch (ch) {
		case 'g':
			if (pv_duration_parse(optarg, &sv.grace) == -1)
				return serve_usage_error("invalid duration for "
				    "--grace: '%s'", optarg);
			break;
		case 'h':
			serve_usage(stdout);
			return 0;
		case 'm':
			sv.max = (size_t)strtonum(optarg, 1, SERVE_MAX_MAX,
			    &errstr);
			if (errstr != NULL)
				return serve_usage_error("--max must be 1 to "
				    "%d: '%s'", SERVE_MAX_MAX, optarg);
			break;
		case 'S':
			sv.shell = 1;
			break;
		case 't':
			tcp = optarg;
			break;
		case 'u':
			if (*optarg == '\0')
				return serve_usage_error("%s",
				    "empty path for --unix");
			sv.unix_path = optarg;
			break;
		case 'v':
			sv.verbose = 1;
			break;
		default:
			serve_usage(stderr);
			return RUN_EXIT_ERROR;
		}
	}
	argc -= optind;
	argv += optind;
	if (tcp != NULL && sv.unix_path != NULL)
		return serve_usage_error("%s", "--tcp and --unix exclude each "
		    "other");
	if (tcp == NULL && sv.unix_path == NULL)
		return serve_usage_error("%s", "--tcp or --unix is required");
	if (argc == 0)
		return serve_usage_error("%s", "missing SPEC");
	if (argc > 1)
		return serve_usage_error("one SPEC expected, got another: '%s' "
		    "(quote the whole pipeline)", argv[1]);
	sv.spec = argv[0];

	/* A bad SPEC is a start-up error, not one per connection. */
	if ((scratch = pv_pipeline_new()) == NULL)
		err(RUN_EXIT_ERROR, "serve");
	if (pv_pipeline_parse(scratch, sv.spec, sv.shell, &perr) == -1) {
		if (perr.message[0] == '\0')
			err(RUN_EXIT_ERROR, "serve");
		warnx("serve: SPEC column %zu: %s", perr.column, perr.message);
		pv_pipeline_free(scratch);
		return RUN_EXIT_ERROR;
	}
	sv.nstages = pv_pipeline_count(scratch);
	pv_pipeline_free(scratch);
	sv.filters = pipevisor_filters_dir();

	/* Caught (and blocked) before listening: none is lost meanwhile. */
	if ((sv.loop = pv_loop_new()) == NULL)
		err(RUN_EXIT_ERROR, "serve");
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (pv_loop_on_signal(sv.loop, stops[i], serve_on_signal,
		    &sv) == -1)
			err(RUN_EXIT_ERROR, "serve: cannot catch SIG%s",
			    pv_signal_name(stops[i]));
	if ((probe = pidfd_open(getpid(), 0)) >= 0)
		close(probe);
	else if (pv_loop_on_signal(sv.loop, SIGCHLD, serve_on_sigchld, &sv) ==
	    -1)
		err(RUN_EXIT_ERROR, "serve: cannot catch SIGCHLD");
	if (serve_listen(&sv, tcp) == -1) {
		pv_loop_free(sv.loop);
		return RUN_EXIT_ERROR;
	}
	if ((sv.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    pv_loop_add_fd(sv.loop, sv.lfd, PV_READ, serve_on_listen, &sv) ==
	    -1) {
		warn("serve");
		serve_close_listener(&sv);
		pv_loop_free(sv.loop);
		return RUN_EXIT_ERROR;
	}
	if (sv.verbose)
		serve_announce(&sv);

	if (pv_loop_run(sv.loop) == -1) {
		/* The loop failed: still never leave a pipeline behind. */
		warn("serve: event loop");
		serve_close_listener(&sv);
		while (!TAILQ_EMPTY(&sv.conns)) {
			struct serve_conn *c = TAILQ_FIRST(&sv.conns);

			while (pv_pipeline_stop(c->pl, SIGKILL, NULL) == -1 &&
			    errno == EINTR)
				continue;
			serve_conn_free(c);
		}
		status = RUN_EXIT_ERROR;
	}
	serve_close_listener(&sv);
	pv_loop_cancel_timer(sv.loop, sv.kill_timer);
	pv_loop_free(sv.loop);
	return status;
}
