/*
 * pipevisor_chat.c: `pipevisor chat [--tcp ADDR:PORT]... [--fifo DIR]
 * [--msgq PATH] [--udp ADDR:PORT] [--http ADDR:PORT] [options]`: a chat
 * hub with groups (DESIGN.md section 6), one forked worker per client.
 *
 * This file holds the program: options, the TCP listeners, signals and
 * the orderly stop.  The clients and routing are in chat_hub.c, the
 * worker in chat_worker.c, the local transports in chat_fifo.c,
 * chat_msgq.c and chat_udp.c, the status page in chat_render.c.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP stop the hub: the listeners close,
 * every client gets "* server shutting down" and its connection closes,
 * workers still there after --grace are killed, and every FIFO, the
 * message queue and the lock files are removed; exit 0.  A second such
 * signal kills the workers at once.  SIGPIPE is ignored (pv_sig_init).
 * Handlers only record the signal (sig.c); the work is done here, in the
 * loop.
 */
#include <sys/types.h>
#include <sys/pidfd.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

#define CHAT_EXIT_FAIL		1	/* cannot run */
#define CHAT_EXIT_USAGE		2
#define CHAT_ACCEPT_BURST	64
#define CHAT_MAX_TCP		8

static const char chat_full[] = "- server full, try again later\n";

/* Prints chat's usage to fp. */
static void
chat_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: pipevisor chat [-hv] [--no-direct] [--tcp ADDR:PORT]... "
	    "[--fifo DIR]\n"
	    "                      [--msgq PATH] "
	    "[--udp ADDR:PORT] [--http ADDR:PORT]\n"
	    "                      [--inbound SPEC] [--outbound SPEC] "
	    "[--max-line N]\n"
	    "                      [--max-groups N] "
	    "[--max-clients N] [--queue BYTES]\n"
	    "                      [--idle DURATION] [--timeout DURATION] "
	    "[--grace DURATION]\n");
}

/* Reports a usage mistake and returns chat's usage status. */
#define chat_usage_error(...) \
	pipevisor_usage_error("chat", chat_usage, CHAT_EXIT_USAGE, __VA_ARGS__)

/* Turns a TCP client away with chat's one line (net_shed's callback too). */
static void
chat_refuse(int fd, void *arg)
{
	(void)arg;
	net_refuse(fd, chat_full, sizeof(chat_full) - 1);
}

/*
 * Sets up the half-open check of a TCP client: keepalive probes after
 * --idle without traffic, and the connection dropped when probes or
 * unacknowledged data go unanswered for --timeout.
 */
static void
chat_keepalive(struct chat_hub *hub, int fd)
{
	int on = 1, idle, intvl, cnt = 3;
	unsigned int user;

	idle = (int)hub->idle.tv_sec > 0 ? (int)hub->idle.tv_sec : 1;
	intvl = (int)hub->timeout.tv_sec / cnt > 0 ?
	    (int)hub->timeout.tv_sec / cnt : 1;
	user = (unsigned int)pv_ts_to_ms_ceil(hub->timeout);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user, sizeof(user));
}

/* Starts a worker for an accepted TCP client; fd is consumed. */
static void
chat_tcp_client(struct chat_hub *hub, int fd)
{
	struct chat_client *c;
	char host[64];
	unsigned port;

	if (hub->nclients >= hub->max_clients) {
		hub->count.refused++;
		chat_refuse(fd, NULL);
		return;
	}
	if ((c = hub_client_new(hub, CHAT_TCP)) == NULL) {
		hub->count.refused++;
		chat_refuse(fd, NULL);
		return;
	}
	if (net_peer(fd, host, sizeof(host), &port) == -1) {
		free(c);
		close(fd);
		return;
	}
	snprintf(c->peer, sizeof(c->peer), strchr(host, ':') != NULL ?
	    "tcp:[%s]:%u" : "tcp:%s:%u", host, port);
	chat_keepalive(hub, fd);
	/* Lines go out as they come: no Nagle wait for the next one. */
	{
		int on = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	}
	/*
	 * The hub keeps a copy of the socket to write the client's output
	 * to once the worker hands it over (chat.h).  Without one (no fd
	 * left) this client's worker writes, as with --no-direct.
	 */
	if (hub->direct &&
	    (c->sock = fcntl(fd, F_DUPFD_CLOEXEC, CHAT_WFD_UDP + 1)) >= 0) {
		fcntl(c->sock, F_SETFL, O_NONBLOCK);
		c->wcfg.direct = 1;
	}
	/*
	 * Keep the kernel's share of a slow client's queue small too.  When
	 * the hub writes, the socket also takes the place of the worker's
	 * pipe (64 KiB): a client that delays its ACKs (it sends too, so TCP
	 * thinks it interactive) would otherwise stall the hub's writes by
	 * the delayed-ACK timer, again and again, in a burst.
	 */
	{
		int sndbuf = (int)(hub->queue / 2 > 4096 ? hub->queue / 2 :
		    4096);

		if (c->sock >= 0)
			sndbuf += 65536;
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
		    sizeof(sndbuf));
	}
	if (hub_client_start(hub, c, fd, fd) == -1) {
		warn("chat: %s: cannot start a worker", c->peer);
		hub->count.refused++;
		if (c->sock >= 0)
			close(c->sock);
		free(c);
		chat_refuse(fd, NULL);
		return;
	}
	close(fd);	/* the worker has its own copy */
}

/* Accepts waiting TCP clients, a bounded number per round. */
static void
chat_on_listen(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct chat_hub *hub = arg;
	int i, cfd;

	(void)loop;
	(void)events;
	for (i = 0; i < CHAT_ACCEPT_BURST && !hub->stopping; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0) {
			chat_tcp_client(hub, cfd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;
		case EMFILE:
		case ENFILE:
			/* Never spin on a backlog we cannot take. */
			if (net_shed(fd, &hub->reserve, chat_refuse, hub) == 1) {
				hub->count.refused++;
				continue;
			}
			if (hub->reserve < 0)
				hub->reserve = open("/dev/null",
				    O_RDONLY | O_CLOEXEC);
			return;
		default:
			return;
		}
	}
}

/* Stops watching and closes every listener. */
static void
chat_close_listeners(struct chat_hub *hub)
{
	size_t i;

	for (i = 0; i < hub->ntcp; i++) {
		pv_loop_del_fd(hub->loop, hub->tcp[i]);
		close(hub->tcp[i]);
	}
	hub->ntcp = 0;
	chat_fifo_close(hub);
	chat_udp_close(hub);
}

/* The last client is gone after a stop: clean up and end the loop. */
static void
chat_stopped(struct chat_hub *hub)
{
	pv_loop_cancel_timer(hub->loop, hub->kill_timer);
	hub->kill_timer = NULL;
	chat_msgq_close(hub);
	chat_fifo_close(hub);
	chat_udp_close(hub);
	hub->done = 1;
}

/* --grace has passed: the workers still there are killed. */
static void
chat_on_kill_timer(struct pv_loop *loop, void *arg)
{
	struct chat_hub *hub = arg;

	(void)loop;
	hub->kill_timer = NULL;
	hub_kill_all(hub);
}

/* SIGTERM, SIGINT, SIGHUP: tell everyone, close everything, leave. */
static void
chat_on_signal(struct pv_loop *loop, int signo, void *arg)
{
	struct chat_hub *hub = arg;
	struct timespec when;

	if (hub->stopping) {
		hub_kill_all(hub);
		return;
	}
	hub->stopping = signo;
	if (hub->verbose)
		warnx("chat: SIG%s: stopping %zu client%s",
		    pv_signal_name(signo), hub->nclients,
		    hub->nclients == 1 ? "" : "s");
	chat_close_listeners(hub);
	if (hub->http != NULL) {
		http_stop(hub->http);
		hub->http = NULL;
	}
	hub_shutdown(hub);
	if (hub->nclients == 0) {
		chat_stopped(hub);
		return;
	}
	when = hub_after(&hub->grace);
	if ((hub->kill_timer = pv_loop_add_timer(loop, &when,
	    chat_on_kill_timer, hub)) == NULL)
		hub_kill_all(hub);
}

/* Opens one --tcp listener.  0, or -1 after a message. */
static int
chat_tcp_open(struct chat_hub *hub, const char *spec)
{
	char err[256];
	int fd;

	if ((fd = net_listen(spec, SOCK_STREAM, err, sizeof(err))) == -1) {
		warnx("chat: %s", err);
		return -1;
	}
	if (pv_loop_add_fd(hub->loop, fd, PV_READ, chat_on_listen, hub) ==
	    -1) {
		warn("chat: %s", spec);
		close(fd);
		return -1;
	}
	hub->tcp[hub->ntcp++] = fd;
	return 0;
}

/* Parses a count option into *out.  0, or -1 after a usage message. */
static int
chat_count(const char *opt, const char *arg, long long min, long long max,
    size_t *out)
{
	const char *errstr;
	long long v;

	v = strtonum(arg, min, max, &errstr);
	if (errstr != NULL) {
		chat_usage_error("--%s must be %lld to %lld: '%s'", opt, min,
		    max, arg);
		return -1;
	}
	*out = (size_t)v;
	return 0;
}

/* Checks that SPEC parses; 0, or -1 after a message. */
static int
chat_check_spec(const char *opt, const char *spec)
{
	struct pv_pipeline *pl;
	struct pv_spec_error perr;
	int r = 0;

	if ((pl = pv_pipeline_new()) == NULL)
		err(CHAT_EXIT_FAIL, "chat");
	if (pv_pipeline_parse(pl, spec, 0, &perr) == -1) {
		chat_usage_error("--%s: SPEC column %zu: %s", opt, perr.column,
		    perr.message);
		r = -1;
	}
	pv_pipeline_free(pl);
	return r;
}

/* Runs `pipevisor chat`. */
int
pipevisor_chat(int argc, char *argv[])
{
	enum { O_FIFO = 256, O_MSGQ, O_UDP, O_HTTP, O_INBOUND, O_OUTBOUND,
	    O_MAXLINE, O_MAXGROUPS, O_MAXCLIENTS, O_QUEUE, O_IDLE, O_TIMEOUT,
	    O_GRACE, O_DIRECT_OUT, O_NO_DIRECT };
	static const struct option longopts[] = {
		{ "direct",	 no_argument,	    NULL, O_DIRECT_OUT },
		{ "fifo",	 required_argument, NULL, O_FIFO },
		{ "grace",	 required_argument, NULL, O_GRACE },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ "http",	 required_argument, NULL, O_HTTP },
		{ "idle",	 required_argument, NULL, O_IDLE },
		{ "inbound",	 required_argument, NULL, O_INBOUND },
		{ "max-clients", required_argument, NULL, O_MAXCLIENTS },
		{ "max-groups",	 required_argument, NULL, O_MAXGROUPS },
		{ "max-line",	 required_argument, NULL, O_MAXLINE },
		{ "msgq",	 required_argument, NULL, O_MSGQ },
		{ "no-direct",	 no_argument,	    NULL, O_NO_DIRECT },
		{ "outbound",	 required_argument, NULL, O_OUTBOUND },
		{ "queue",	 required_argument, NULL, O_QUEUE },
		{ "tcp",	 required_argument, NULL, 't' },
		{ "timeout",	 required_argument, NULL, O_TIMEOUT },
		{ "udp",	 required_argument, NULL, O_UDP },
		{ "verbose",	 no_argument,	    NULL, 'v' },
		{ NULL,		 0,		    NULL, 0 }
	};
	static const int stops[] = { SIGTERM, SIGINT, SIGHUP };
	struct chat_hub hub;
	const char *tcp[CHAT_MAX_TCP], *fifo = NULL, *msgq = NULL;
	const char *udp = NULL, *http = NULL;
	struct timespec *dur;
	char why[256];
	size_t ntcp = 0, i;
	int ch, status = 0;

	memset(&hub, 0, sizeof(hub));
	hub.max_line = CHAT_LINE_DEFAULT;
	hub.max_groups = CHAT_GROUPS_DEFAULT;
	hub.max_clients = CHAT_CLIENTS_DEFAULT;
	hub.queue = CHAT_QUEUE_DEFAULT;
	hub.idle.tv_sec = 60;
	hub.timeout.tv_sec = 30;
	hub.grace.tv_sec = 2;
	hub.reserve = hub.devnull = hub.fifo_lock = hub.lobby = -1;
	hub.spawn_fd = -1;
	hub.direct = -1;	/* the hub writes, unless --outbound */
	hub.msqid = hub.msgq_lock = hub.gw_fd = hub.udp = -1;
	hub.stopped = chat_stopped;
	TAILQ_INIT(&hub.clients);
	TAILQ_INIT(&hub.dirty);
	TAILQ_INIT(&hub.parked);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+hv", longopts, NULL)) != -1) {
		dur = NULL;
		switch (ch) {
		case 'h':
			chat_usage(stdout);
			return 0;
		case 'v':
			hub.verbose = 1;
			break;
		case 't':
			if (ntcp == CHAT_MAX_TCP)
				return chat_usage_error("at most %d --tcp",
				    CHAT_MAX_TCP);
			tcp[ntcp++] = optarg;
			break;
		case O_DIRECT_OUT:
			hub.direct = 1;
			break;
		case O_NO_DIRECT:
			hub.direct = 0;
			break;
		case O_FIFO:
			fifo = optarg;
			break;
		case O_MSGQ:
			msgq = optarg;
			break;
		case O_UDP:
			udp = optarg;
			break;
		case O_HTTP:
			http = optarg;
			break;
		case O_INBOUND:
			if (chat_check_spec("inbound", optarg) == -1)
				return CHAT_EXIT_USAGE;
			hub.inbound = optarg;
			break;
		case O_OUTBOUND:
			if (chat_check_spec("outbound", optarg) == -1)
				return CHAT_EXIT_USAGE;
			hub.outbound = optarg;
			break;
		case O_MAXLINE:
			if (chat_count("max-line", optarg, 16,
			    CHAT_LINE_LIMIT, &hub.max_line) == -1)
				return CHAT_EXIT_USAGE;
			break;
		case O_MAXGROUPS:
			if (chat_count("max-groups", optarg, 1, 4096,
			    &hub.max_groups) == -1)
				return CHAT_EXIT_USAGE;
			break;
		case O_MAXCLIENTS:
			if (chat_count("max-clients", optarg, 1, 1000000,
			    &hub.max_clients) == -1)
				return CHAT_EXIT_USAGE;
			break;
		case O_QUEUE:
			if (chat_count("queue", optarg, 4096, 1 << 30,
			    &hub.queue) == -1)
				return CHAT_EXIT_USAGE;
			break;
		case O_IDLE:
			dur = &hub.idle;
			break;
		case O_TIMEOUT:
			dur = &hub.timeout;
			break;
		case O_GRACE:
			dur = &hub.grace;
			break;
		default:
			chat_usage(stderr);
			return CHAT_EXIT_USAGE;
		}
		if (dur != NULL && pv_duration_parse(optarg, dur) == -1)
			return chat_usage_error("invalid duration for --%s: "
			    "'%s'", ch == O_IDLE ? "idle" : ch == O_TIMEOUT ?
			    "timeout" : "grace", optarg);
	}
	if (optind < argc)
		return chat_usage_error("unexpected argument: '%s'",
		    argv[optind]);
	if (ntcp == 0 && fifo == NULL && msgq == NULL && udp == NULL)
		return chat_usage_error("%s", "no transport: give --tcp, "
		    "--fifo, --msgq or --udp");
	if (hub.direct == 1 && hub.outbound != NULL)
		return chat_usage_error("%s", "--direct and --outbound cannot "
		    "go together: an outbound chain is written by the worker");
	if (hub.direct == -1)
		hub.direct = hub.outbound == NULL;
	if (hub.queue < hub.max_line * 4 + 64)
		return chat_usage_error("--queue must hold a whole line: at "
		    "least %zu bytes", hub.max_line * 4 + 64);
	hub.filters = pipevisor_filters_dir();
	setproctitle("chat hub");
	/*
	 * A queue that grew for a burst is freed once drained; with a fixed
	 * mmap threshold (glibc otherwise raises it after the first such
	 * free) and trimming, that memory goes back to the system instead of
	 * staying in the hub's heap.
	 */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024);

	/* Caught (and blocked) before listening: none is lost meanwhile. */
	if ((hub.loop = pv_loop_new()) == NULL || (hub.room = room_new()) ==
	    NULL || chat_peers_init(&hub.peers) == -1)
		err(CHAT_EXIT_FAIL, "chat");
	for (i = 0; i < sizeof(stops) / sizeof(stops[0]); i++)
		if (pv_loop_on_signal(hub.loop, stops[i], chat_on_signal,
		    &hub) == -1)
			err(CHAT_EXIT_FAIL, "chat: cannot catch SIG%s",
			    pv_signal_name(stops[i]));
	clock_gettime(CLOCK_REALTIME, &hub.started);
	if ((hub.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    (hub.devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		err(CHAT_EXIT_FAIL, "chat: /dev/null");
	for (i = 0; i < ntcp; i++)
		if (chat_tcp_open(&hub, tcp[i]) == -1)
			goto fail;
	if (fifo != NULL && chat_fifo_open(&hub, fifo) == -1)
		goto fail;
	if (msgq != NULL && chat_msgq_open(&hub, msgq) == -1)
		goto fail;
	if (udp != NULL && chat_udp_open(&hub, udp) == -1)
		goto fail;
	/* Forked while the hub is small, after what workers point into. */
	if (chat_spawner_start(&hub) == -1) {
		warn("chat: cannot start the spawner");
		goto fail;
	}
	if (http != NULL && (hub.http = http_start(hub.loop, http,
	    chat_render, &hub, why, sizeof(why))) == NULL) {
		warnx("chat: --http: %s", why);
		goto fail;
	}
	if (hub.verbose)
		warnx("chat: ready");

	/* Each round's lines go out before the next wait (hub_flush). */
	while (!hub.done) {
		if (pv_loop_once(hub.loop) == -1) {
			warn("chat: event loop");
			status = CHAT_EXIT_FAIL;
			break;
		}
		hub_flush(&hub);
	}
	goto out;
fail:
	status = CHAT_EXIT_FAIL;
out:
	/* Never leave a worker, FIFO or queue behind, whatever happened. */
	chat_close_listeners(&hub);
	if (hub.http != NULL)
		http_stop(hub.http);
	hub_destroy(&hub);
	chat_msgq_close(&hub);
	chat_spawner_stop(&hub);
	pv_loop_cancel_timer(hub.loop, hub.kill_timer);
	pv_loop_cancel_timer(hub.loop, hub.trim_timer);
	room_free(hub.room);
	chat_peers_free(&hub.peers);
	pv_loop_free(hub.loop);
	if (hub.reserve >= 0)
		close(hub.reserve);
	if (hub.devnull >= 0)
		close(hub.devnull);
	return status;
}
