/*
 * chatload: a load generator for chat servers, for the chat benchmark.
 * Connects N clients to one group, lets the first K of them send M
 * messages each, and measures every delivery at every client.
 *
 * usage: chatload [-jv] [-g group] [-k senders] [-m messages] [-n clients]
 *            [--no-quickack] [-p pid] [-P pv|irc] [-r rate] [-s size]
 *            [-t timeout] -c host:port
 *
 * Speaks pipevisor chat's line protocol (DESIGN.md section 6: a name line,
 * "join GROUP", "send GROUP TEXT", deliveries "[GROUP] NAME: TEXT") or a
 * small IRC subset (NICK, USER, JOIN #GROUP, PRIVMSG #GROUP, PONG).  Client
 * i is named u000, u001, ...; all of them join before any sends (a barrier),
 * then, once the server has gone quiet, the senders send "SEQ:SENDER:T_NS:"
 * and padding, T_NS being CLOCK_MONOTONIC nanoseconds at the write.  With
 * --rate 0 every sender writes as fast as its socket takes (burst); else
 * each sends RATE messages per second, the senders staggered.  pv echoes a
 * line to its sender, IRC does not: a run expects N or N - 1 deliveries per
 * message.  Every receiver checks each sender's sequence: a number seen
 * twice is duplicated, one arriving after a higher one is reordered, one
 * never seen is lost.  Latency is the receive time minus T_NS.
 *
 * Every socket has TCP_NODELAY.  A paced run also re-arms TCP_QUICKACK at
 * every read (--no-quickack: not): a server that leaves Nagle on (ngircd
 * does) would otherwise hold a line back until the client's delayed ACK,
 * up to 40 ms, and the latencies would time the TCP timers rather than
 * the server.  A burst keeps the data flowing, so its ACKs are not
 * delayed, and it does without the extra system call per read.
 *
 * With --server-pid, the server's whole process tree (PID and every
 * descendant, found through /proc/PID/stat) is measured the way
 * bench/treepss.c does: PSS is the sum of the Pss lines of
 * /proc/PID/smaps_rollup, before connecting, with every client joined,
 * at the last delivery ("end") and a second later ("at rest": what the
 * server kept after giving back what it can); CPU time is the sum over
 * the tree of each thread's /proc/PID/task/TID/schedstat run time
 * (nanoseconds; utime and stime in clock ticks would lose up to a tick
 * per process) plus the cutime and cstime of children the tree reaped,
 * process by process, from just before the first send to the last
 * delivery, while every client is still connected (pipevisor chat's
 * per-client workers exit on disconnect).  The time of a process that
 * exits in between is lost if its parent ignores SIGCHLD;
 * server_procs_gone counts those.
 *
 * Prints one line of key=value pairs, or a JSON object with --json:
 * the counts, deliveries_per_s, p50_us, p99_us, max_us, lost, duplicated,
 * reordered, malformed and unexpected lines (an IRC echo to the sender,
 * a delivery before the run), server_errors ("-" or numeric error lines),
 * disconnected, timed_out, self_cpu_ms, steal_ms, and with --server-pid
 * server_cpu_ms, cpu_us_per_delivery, server_procs, server_procs_gone,
 * pss_idle_kb, pss_kb (joined), pss_end_kb, pss_rest_kb, and per client
 * over idle pss_per_client_kb, pss_end_per_client_kb and
 * pss_rest_per_client_kb.  steal_ms is the time a hypervisor took from
 * this machine's CPUs over the run (the window of self_cpu_ms: from the
 * first send to the last delivery or the time-out), summed over the CPUs:
 * the steal field of the "cpu" line of /proc/stat, read in clock ticks
 * (10 ms at USER_HZ 100), or -1 if /proc/stat cannot be read.  Much steal
 * time lengthens the latencies and lowers the rates of any server.
 * -v reports the phases on stderr.  Uses epoll, non-blocking sockets and
 * a timerfd for pacing, no threads, and raises RLIMIT_NOFILE as N needs.
 * Handles no signals; SIGPIPE is avoided with MSG_NOSIGNAL.  Exit
 * status: 0 with a report (losses included), 1 if the clients could not
 * connect or join, or on another runtime failure, 2 on usage.
 */
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc_pss.h"

#define INBUF		16384		/* a client's receive buffer */
#define BURST_CHUNK	4096		/* bytes formatted ahead in burst */
#define BURST_WRITE	65536		/* most bytes per writable event */
#define MAX_PENDING	64		/* clients connecting at once */
#define SETTLE_QUIET	200000000ULL	/* ns of silence before sending */
#define SETTLE_MAX	5000000000ULL	/* longest wait for that silence */
#define REST_NS		1000000000L	/* after the run, before "at rest" */
#define MAX_EVENTS	256
#define TIMER_KEY	UINT64_MAX	/* epoll key of the timerfd */

enum proto {
	PROTO_PV,
	PROTO_IRC
};

enum cstate {
	C_IDLE,			/* not connected yet */
	C_CONNECTING,		/* connect(2) in progress */
	C_HELLO,		/* name or NICK/USER sent */
	C_JOINING,		/* join sent */
	C_READY,		/* a member of the group */
	C_CLOSED		/* closed by the server during the run */
};

enum phase {
	PH_SETUP,		/* connecting and joining */
	PH_SETTLE,		/* all joined, waiting for the server to idle */
	PH_RUN,			/* sending and receiving */
	PH_DONE
};

struct client {
	int	 fd;
	int	 idx;
	enum cstate state;
	int	 pollout;	/* EPOLLOUT is armed */
	char	*in;		/* INBUF bytes */
	size_t	 inlen;
	char	*out;		/* bytes not written yet: out[outoff..outlen) */
	size_t	 outoff, outlen, outcap;
	uint32_t sent;		/* messages written so far (senders) */
	uint64_t got;		/* first deliveries received */
	uint64_t due;		/* next send time, paced senders */
	char	 last[96];	/* the last line read before the run */
};

/* The CPU time of one process of the server's tree. */
struct pcpu {
	long	 pid;
	uint64_t ns;		/* run time, reaped children included */
};

/* A snapshot of the server's process tree. */
struct tree {
	struct pcpu *procs;	/* nprocs of them, sorted by pid */
	uint64_t cpu_ns;	/* the sum of procs[].ns */
	long	 pss_kb;
	int	 nprocs;
};

struct run {
	/* options */
	enum proto proto;
	const char *host, *port, *group;
	int	 nclients, nsenders;
	uint32_t nmsgs;
	double	 rate;
	size_t	 size;
	long	 server_pid;
	uint64_t timeout_ns;
	int	 json, verbose, quickack;

	int	 ep, tfd;
	struct addrinfo *ai;
	struct client *clients;
	enum phase phase;
	int	 next_connect, pending, ready;
	uint64_t last_progress, last_rx, settle_start;

	/* per receiver and sender: [r * nsenders + s] */
	int64_t	*maxseq;
	uint8_t	*seen;		/* seen_bytes bytes per pair: a bitmap */
	size_t	 seen_bytes;

	float	*lat;		/* microseconds, one per first delivery */
	uint64_t nlat;
	uint64_t expected, received, dup, reordered, malformed, unexpected;
	uint64_t errors, closed;
	uint64_t abandoned;	/* what closed clients will never receive */
	uint64_t t_start, t_last;
	uint64_t self_start, self_end;	/* chatload's own CPU time, ns */
	long long steal_start, steal_end; /* machine's steal ticks, or -1 */
	int	 timed_out;
	int	 errors_shown;
};

/* Returns the CLOCK_MONOTONIC time in nanoseconds. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Returns the CPU time chatload has used so far, in nanoseconds. */
static uint64_t
self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) *
	    1000000000ULL + ((uint64_t)ru.ru_utime.tv_usec +
	    (uint64_t)ru.ru_stime.tv_usec) * 1000ULL;
}

/*
 * Reads the start of the /proc file path into buf (size bytes) as a
 * string; returns its length, or -1 if it cannot be read or is empty.
 */
static ssize_t
read_proc(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * Returns the steal time of all CPUs together so far, in clock ticks
 * (field 8 of the "cpu" line of /proc/stat), or -1 if it cannot be read.
 */
static long long
steal_ticks(void)
{
	char buf[512];
	unsigned long long st;

	if (read_proc("/proc/stat", buf, sizeof(buf)) == -1)
		return -1;
	/* The first line; kernels before 2.6.11 have no steal field. */
	if (sscanf(buf, "cpu %*u %*u %*u %*u %*u %*u %*u %llu", &st) != 1)
		return -1;
	return (long long)st;
}

/* Prints the synopsis and exits 2. */
static void
usage(void)
{
	fprintf(stderr, "usage: chatload [-jv] [-g group] [-k senders] "
	    "[-m messages] [-n clients]\n"
	    "                [--no-quickack] [-p pid] [-P pv|irc] [-r rate] "
	    "[-s size]\n"
	    "                [-t timeout] -c host:port\n");
	exit(2);
}

/* Parses a whole decimal number in [min, max] or exits 2 naming what. */
static long long
parse_num(const char *s, long long min, long long max, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		warnx("%s: %s: not a number from %lld to %lld", what, s, min,
		    max);
		usage();
	}
	return v;
}

/* Parses a duration such as 10, 2.5s, 500ms or 1m into nanoseconds. */
static uint64_t
parse_duration(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !(v > 0) || v > 86400)
		goto bad;
	if (strcmp(end, "ms") == 0)
		v /= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60;
	else if (*end != '\0' && strcmp(end, "s") != 0)
		goto bad;
	return (uint64_t)(v * 1e9);
bad:
	warnx("timeout: %s: not a duration (10, 2.5s, 500ms, 1m)", s);
	usage();
	return 0;
}

/* Splits HOST:PORT (or [V6]:PORT) and resolves it into r->ai. */
static void
parse_connect(struct run *r, char *arg)
{
	struct addrinfo hints;
	char *colon;
	int e;

	if ((colon = strrchr(arg, ':')) == NULL || colon[1] == '\0') {
		warnx("connect: %s: expected HOST:PORT", arg);
		usage();
	}
	*colon = '\0';
	r->port = colon + 1;
	r->host = arg;
	if (arg[0] == '[' && colon > arg && colon[-1] == ']') {
		colon[-1] = '\0';
		r->host = arg + 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((e = getaddrinfo(r->host, r->port, &hints, &r->ai)) != 0)
		errx(1, "%s:%s: %s", r->host, r->port, gai_strerror(e));
}

/* Raises the soft (and if allowed the hard) fd limit to at least need. */
static void
raise_nofile(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "getrlimit");
	if (rl.rlim_cur >= need)
		return;
	if (rl.rlim_max < need) {
		rl.rlim_max = need;
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			errx(1, "%llu clients need %llu file descriptors; the "
			    "hard limit is lower (ulimit -Hn)",
			    (unsigned long long)need - 32,
			    (unsigned long long)need);
		return;
	}
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(1, "setrlimit");
}

/* Reads the parent, cutime and cstime of /proc/PID/stat; 0 or -1. */
static int
proc_stat(long pid, long *ppid, uint64_t *cticks)
{
	char path[64], buf[1024], *p;
	unsigned long long ct, cs;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (read_proc(path, buf, sizeof(buf)) == -1)
		return -1;
	/* The name is in parentheses and may hold spaces and ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* Fields 3 (state) to 17 (cstime); 14 and 15 are not wanted. */
	if (sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%*u %*u %llu %llu", ppid, &ct, &cs) != 3)
		return -1;
	*cticks = ct + cs;
	return 0;
}

/* Returns the run time in ns of every thread of process pid, or 0. */
static uint64_t
proc_runtime(long pid)
{
	char path[96], buf[128];
	struct dirent *de;
	unsigned long long ns;
	uint64_t total = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%ld/schedstat",
		    pid, strtol(de->d_name, NULL, 10));
		if (read_proc(path, buf, sizeof(buf)) == -1)
			continue;
		if (sscanf(buf, "%llu", &ns) == 1)
			total += ns;
	}
	closedir(d);
	return total;
}

/* Orders two processes by pid for qsort and bsearch. */
static int
pcpu_cmp(const void *a, const void *b)
{
	const struct pcpu *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/*
 * Returns the CPU time the tree spent from snapshot t0 to t1, process by
 * process, and sets *gone to the number of processes of t0 that were gone
 * by t1: their time since t0 is missing (a process that exits and is
 * reaped by a parent ignoring SIGCHLD leaves no trace of it in /proc).
 */
static uint64_t
tree_cpu_delta(const struct tree *t0, const struct tree *t1, int *gone)
{
	const struct pcpu *p;
	uint64_t sum = 0;
	int i, found = 0;

	for (i = 0; i < t1->nprocs; i++) {
		p = bsearch(&t1->procs[i], t0->procs, (size_t)t0->nprocs,
		    sizeof(*t0->procs), pcpu_cmp);
		if (p == NULL)
			sum += t1->procs[i].ns;		/* born since t0 */
		else {
			found++;
			if (t1->procs[i].ns > p->ns)
				sum += t1->procs[i].ns - p->ns;
		}
	}
	*gone = t0->nprocs - found;
	return sum;
}

/*
 * Measures the tree of root into t: the CPU time of each process and, if
 * want_pss, the PSS.  Returns 0, or -1 if root is gone or /proc cannot be
 * read.  t->procs is allocated; the caller frees it.
 */
static int
tree_measure(long root, int want_pss, struct tree *t)
{
	struct proc {
		long	 pid, ppid;
		uint64_t cticks;
		int	 in;
	} *procs = NULL, *np;
	struct pcpu *pc;
	struct dirent *de;
	size_t n = 0, cap = 0, i, k;
	long tick, pss;
	int changed, found = 0;
	DIR *d;

	memset(t, 0, sizeof(*t));
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((np = reallocarray(procs, cap, sizeof(*procs))) ==
			    NULL) {
				free(procs);
				closedir(d);
				return -1;
			}
			procs = np;
		}
		procs[n].pid = strtol(de->d_name, NULL, 10);
		procs[n].in = 0;
		if (proc_stat(procs[n].pid, &procs[n].ppid,
		    &procs[n].cticks) == 0)
			n++;
	}
	closedir(d);
	for (i = 0; i < n; i++)
		if (procs[i].pid == root)
			procs[i].in = found = 1;
	/* Mark descendants until nothing changes: the tree is shallow. */
	do {
		changed = 0;
		for (i = 0; i < n; i++) {
			if (procs[i].in)
				continue;
			for (k = 0; k < n; k++)
				if (procs[k].in &&
				    procs[k].pid == procs[i].ppid) {
					procs[i].in = changed = 1;
					break;
				}
		}
	} while (changed);
	if (!found) {
		free(procs);
		errno = ESRCH;
		return -1;
	}
	if ((t->procs = reallocarray(NULL, n, sizeof(*t->procs))) == NULL) {
		free(procs);
		return -1;
	}
	tick = sysconf(_SC_CLK_TCK);
	for (i = 0; i < n; i++) {
		if (!procs[i].in)
			continue;
		pc = &t->procs[t->nprocs++];
		pc->pid = procs[i].pid;
		pc->ns = proc_runtime(procs[i].pid) +
		    procs[i].cticks * (1000000000ULL / (uint64_t)tick);
		t->cpu_ns += pc->ns;
		if (want_pss && (pss = proc_pss(procs[i].pid)) > 0)
			t->pss_kb += pss;
	}
	free(procs);
	qsort(t->procs, (size_t)t->nprocs, sizeof(*t->procs), pcpu_cmp);
	return 0;
}

/* Measures the server's tree or exits 1 saying when. */
static void
server_measure(struct run *r, int want_pss, struct tree *t, const char *when)
{
	if (tree_measure(r->server_pid, want_pss, t) == -1)
		err(1, "server process %ld (%s)", r->server_pid, when);
	if (r->verbose)
		fprintf(stderr, "chatload: server %s: %d procs, %.1f ms CPU, "
		    "%ld kB PSS\n", when, t->nprocs, t->cpu_ns / 1e6,
		    t->pss_kb);
}

/* Reports a failure of client c and exits 1. */
static void __attribute__((noreturn, format(printf, 2, 3)))
client_fail(struct client *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "chatload: u%03d: ", c->idx);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Returns how many deliveries client c is to receive in the run. */
static uint64_t
client_expected(const struct run *r, const struct client *c)
{
	uint64_t from = (uint64_t)r->nsenders;

	/* IRC does not echo a message to its sender. */
	if (r->proto == PROTO_IRC && c->idx < r->nsenders)
		from--;
	return from * r->nmsgs;
}

/* Names the state of client c for an error message. */
static const char *
client_doing(const struct client *c)
{
	switch (c->state) {
	case C_IDLE:
		return "not connected yet";
	case C_CONNECTING:
		return "connecting";
	case C_HELLO:
		return "waiting for the welcome";
	case C_JOINING:
		return "waiting for the join";
	case C_READY:
		return "waiting for the others";
	default:
		return "closed";
	}
}

/* Exits 1 after a time-out before the run, naming a client that hung. */
static void
setup_timeout(struct run *r)
{
	struct client *c;
	int i;

	for (i = 0; i < r->nclients; i++)
		if (r->clients[i].state != C_READY)
			break;
	c = &r->clients[i < r->nclients ? i : 0];
	errx(1, "timed out after %.1f s with %d of %d clients joined; "
	    "u%03d is %s%s%s%s", r->timeout_ns / 1e9, r->ready, r->nclients,
	    c->idx, client_doing(c), c->last[0] ? " (last line: \"" : "",
	    c->last, c->last[0] ? "\")" : "");
}

/* Marks c closed by the server; fatal unless the run has started. */
static void
client_closed(struct run *r, struct client *c, const char *why)
{
	if (r->phase != PH_RUN)
		client_fail(c, "%s while %s%s%s%s", why, client_doing(c),
		    c->last[0] ? " (last line: \"" : "", c->last,
		    c->last[0] ? "\")" : "");
	if (r->closed++ < 5)
		fprintf(stderr, "chatload: u%03d: %s during the run\n",
		    c->idx, why);
	/* So that the run can end once the others have all theirs. */
	r->abandoned += client_expected(r, c) - c->got;
	epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = C_CLOSED;
}

/* Sets the epoll events of c to input, plus output if want_out. */
static void
client_watch(struct run *r, struct client *c, int want_out)
{
	struct epoll_event ev;

	if (c->pollout == want_out)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
	ev.data.u64 = (uint64_t)c->idx;
	if (epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1)
		err(1, "epoll_ctl");
	c->pollout = want_out;
}

/* Makes room for len more bytes in c's output buffer. */
static void
out_reserve(struct client *c, size_t len)
{
	char *p;
	size_t cap;

	if (c->outoff > 0 && c->outoff == c->outlen)
		c->outoff = c->outlen = 0;
	if (c->outlen + len <= c->outcap)
		return;
	if (c->outoff > 0) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
		if (c->outlen + len <= c->outcap)
			return;
	}
	cap = c->outcap ? c->outcap : 1024;
	while (cap < c->outlen + len)
		cap *= 2;
	if ((p = realloc(c->out, cap)) == NULL)
		err(1, NULL);
	c->out = p;
	c->outcap = cap;
}

/* Appends a formatted string to c's output buffer. */
static void __attribute__((format(printf, 2, 3)))
out_printf(struct client *c, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	out_reserve(c, (size_t)len + 1);
	va_start(ap, fmt);
	vsnprintf(c->out + c->outlen, (size_t)len + 1, fmt, ap);
	va_end(ap);
	c->outlen += (size_t)len;
}

/*
 * Writes what c has pending, up to limit bytes.  Returns 0 (done or the
 * socket is full, EPOLLOUT then armed) or -1 if the connection is gone.
 */
static int
out_flush(struct run *r, struct client *c, size_t limit)
{
	size_t done = 0, len;
	ssize_t n;

	while (c->outoff < c->outlen && done < limit) {
		len = c->outlen - c->outoff;
		if (len > limit - done)
			len = limit - done;
		n = send(c->fd, c->out + c->outoff, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		c->outoff += (size_t)n;
		done += (size_t)n;
	}
	client_watch(r, c, c->outoff < c->outlen);
	return 0;
}

/* Appends message number c->sent of sender c, stamped now. */
static void
msg_append(struct run *r, struct client *c, uint64_t now)
{
	char head[80];
	int hl;
	size_t pad;

	hl = snprintf(head, sizeof(head), "%u:%d:%llu:", c->sent, c->idx,
	    (unsigned long long)now);
	pad = r->size > (size_t)hl ? r->size - (size_t)hl : 0;
	if (r->proto == PROTO_PV)
		out_printf(c, "send %s %s", r->group, head);
	else
		out_printf(c, "PRIVMSG #%s :%s", r->group, head);
	out_reserve(c, pad + 2);
	memset(c->out + c->outlen, 'x', pad);
	c->outlen += pad;
	if (r->proto == PROTO_IRC)
		c->out[c->outlen++] = '\r';
	c->out[c->outlen++] = '\n';
	c->sent++;
}

/*
 * Burst sender: formats a few messages at a time, stamped just before
 * they are written, for as long as the socket takes them (up to
 * BURST_WRITE bytes a call, so the receivers get their turn).
 */
static void
sender_burst(struct run *r, struct client *c)
{
	size_t written = 0, before;

	if (c->state == C_CLOSED)
		return;
	for (;;) {
		while (c->sent < r->nmsgs &&
		    c->outlen - c->outoff < BURST_CHUNK)
			msg_append(r, c, now_ns());
		if (c->outoff == c->outlen || written >= BURST_WRITE)
			break;
		before = c->outoff;
		if (out_flush(r, c, BURST_CHUNK) == -1) {
			client_closed(r, c, strerror(errno));
			return;
		}
		written += c->outoff - before;
		if (c->outoff < c->outlen)
			break;		/* the socket is full */
	}
	/* Keep EPOLLOUT armed while there is more to send. */
	client_watch(r, c, c->outoff < c->outlen || c->sent < r->nmsgs);
}

/* Paced senders: sends what is due and arms the timer for the next. */
static void
senders_paced(struct run *r)
{
	struct itimerspec its;
	struct client *c;
	uint64_t now, period, next = UINT64_MAX;
	int s;

	period = (uint64_t)(1e9 / r->rate);
	now = now_ns();
	for (s = 0; s < r->nsenders; s++) {
		c = &r->clients[s];
		if (c->state == C_CLOSED)
			continue;
		while (c->sent < r->nmsgs && c->due <= now) {
			msg_append(r, c, now);
			c->due += period;
		}
		if (c->outoff < c->outlen && out_flush(r, c, SIZE_MAX) == -1) {
			client_closed(r, c, strerror(errno));
			continue;
		}
		if (c->sent < r->nmsgs && c->due < next)
			next = c->due;
	}
	memset(&its, 0, sizeof(its));
	if (next != UINT64_MAX) {
		its.it_value.tv_sec = (time_t)(next / 1000000000ULL);
		its.it_value.tv_nsec = (long)(next % 1000000000ULL);
	}
	if (timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL) == -1)
		err(1, "timerfd_settime");
}

/* Records one delivery of PAYLOAD ("SEQ:SENDER:T_NS:...") at receiver c. */
static void
delivery(struct run *r, struct client *c, const char *p, uint64_t now)
{
	unsigned long long seq, snd, t;
	uint8_t *bits;
	size_t slot;
	char *end;

	seq = strtoull(p, &end, 10);
	if (end == p || *end != ':')
		goto bad;
	p = end + 1;
	snd = strtoull(p, &end, 10);
	if (end == p || *end != ':')
		goto bad;
	p = end + 1;
	t = strtoull(p, &end, 10);
	if (end == p || *end != ':' || seq >= r->nmsgs ||
	    snd >= (unsigned long long)r->nsenders)
		goto bad;
	if (r->proto == PROTO_IRC && snd == (unsigned long long)c->idx) {
		r->unexpected++;	/* IRC does not echo */
		return;
	}
	slot = (size_t)c->idx * (size_t)r->nsenders + snd;
	bits = r->seen + slot * r->seen_bytes;
	if (bits[seq / 8] & (1U << (seq % 8))) {
		r->dup++;
		return;
	}
	bits[seq / 8] |= (uint8_t)(1U << (seq % 8));
	if ((int64_t)seq < r->maxseq[slot])
		r->reordered++;
	else
		r->maxseq[slot] = (int64_t)seq;
	r->received++;
	c->got++;
	r->lat[r->nlat++] = now > t ? (float)((now - t) / 1e3) : 0;
	r->t_last = now;
	r->last_progress = now;
	return;
bad:
	r->malformed++;
}

/* Counts an error line of the server during the run; shows the first few. */
static void
run_error(struct run *r, struct client *c, const char *line)
{
	r->errors++;
	if (r->errors_shown++ < 5)
		fprintf(stderr, "chatload: u%03d: server said: %s\n", c->idx,
		    line);
}

/* Handles one line from the pipevisor chat server. */
static void
line_pv(struct run *r, struct client *c, char *line, uint64_t now)
{
	char *p;

	switch (line[0]) {
	case '[':
		if (c->state != C_READY || r->phase != PH_RUN) {
			r->unexpected++;
			return;
		}
		/* "[GROUP] NAME: TEXT" */
		if ((p = strstr(line, "] ")) == NULL ||
		    (p = strstr(p + 2, ": ")) == NULL) {
			r->malformed++;
			return;
		}
		delivery(r, c, p + 2, now);
		return;
	case '*':
		return;			/* joins and leaves of others */
	case '-':
		if (c->state != C_READY)
			client_fail(c, "server said: %s", line);
		run_error(r, c, line);
		return;
	case '+':
		if (c->state == C_HELLO && strncmp(line, "+ welcome ", 10) ==
		    0) {
			c->state = C_JOINING;
			out_printf(c, "join %s\n", r->group);
			r->last_progress = now;
		} else if (c->state == C_JOINING &&
		    strncmp(line, "+ joined ", 9) == 0) {
			c->state = C_READY;
			r->ready++;
			r->pending--;
			r->last_progress = now;
		}
		return;
	default:
		if (c->state != C_READY)
			client_fail(c, "unexpected line: %s", line);
		r->malformed++;
	}
}

/* Handles one line from the IRC server. */
static void
line_irc(struct run *r, struct client *c, char *line, uint64_t now)
{
	char *cmd, *p;

	cmd = line;
	if (cmd[0] == ':' && (cmd = strchr(cmd, ' ')) == NULL)
		return;
	while (*cmd == ' ')
		cmd++;
	if (strncmp(cmd, "PRIVMSG ", 8) == 0) {
		if (c->state != C_READY || r->phase != PH_RUN) {
			r->unexpected++;
			return;
		}
		if ((p = strstr(cmd + 8, " :")) == NULL) {
			r->malformed++;
			return;
		}
		delivery(r, c, p + 2, now);
		return;
	}
	if (strncmp(cmd, "PING", 4) == 0) {
		out_printf(c, "PONG%s\r\n", cmd + 4);
		return;
	}
	if (strncmp(cmd, "ERROR", 5) == 0) {
		if (c->state != C_READY)
			client_fail(c, "server said: %s", line);
		run_error(r, c, line);
		return;
	}
	/* Numeric replies: 001 welcome, 366 end of NAMES, 4xx/5xx errors. */
	if (!isdigit((unsigned char)cmd[0]) || !isdigit((unsigned char)cmd[1])
	    || !isdigit((unsigned char)cmd[2]) || cmd[3] != ' ')
		return;
	if (cmd[0] == '4' || cmd[0] == '5') {
		if (c->state != C_READY)
			client_fail(c, "server said: %s", line);
		run_error(r, c, line);
	} else if (c->state == C_HELLO && strncmp(cmd, "001", 3) == 0) {
		c->state = C_JOINING;
		out_printf(c, "JOIN #%s\r\n", r->group);
		r->last_progress = now;
	} else if (c->state == C_JOINING && strncmp(cmd, "366", 3) == 0) {
		c->state = C_READY;
		r->ready++;
		r->pending--;
		r->last_progress = now;
	}
}

/* Reads what c has and handles every complete line. */
static void
client_read(struct run *r, struct client *c)
{
	char *line, *nl, *end;
	uint64_t now;
	ssize_t n;
	int one = 1;

	n = read(c->fd, c->in + c->inlen, INBUF - c->inlen);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		client_closed(r, c, strerror(errno));
		return;
	}
	if (n == 0) {
		client_closed(r, c, "connection closed by the server");
		return;
	}
	now = now_ns();
	r->last_rx = now;
	if (r->quickack)
		setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
		    sizeof(one));
	c->inlen += (size_t)n;
	line = c->in;
	end = c->in + c->inlen;
	while ((nl = memchr(line, '\n', (size_t)(end - line))) != NULL) {
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		if (r->phase != PH_RUN)
			snprintf(c->last, sizeof(c->last), "%s", line);
		if (r->proto == PROTO_PV)
			line_pv(r, c, line, now);
		else
			line_irc(r, c, line, now);
		line = nl + 1;
	}
	c->inlen = (size_t)(end - line);
	if (c->inlen == INBUF)
		client_fail(c, "a line longer than %d bytes", INBUF);
	memmove(c->in, line, c->inlen);
	if (c->outoff < c->outlen && out_flush(r, c, SIZE_MAX) == -1)
		client_closed(r, c, strerror(errno));
}

/* Starts the non-blocking connect of the next client. */
static void
client_connect(struct run *r)
{
	struct epoll_event ev;
	struct client *c = &r->clients[r->next_connect++];
	int one = 1;

	c->fd = socket(r->ai->ai_family, r->ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, r->ai->ai_protocol);
	if (c->fd == -1)
		err(1, "socket");
	/*
	 * Chat clients write small lines: without TCP_NODELAY, Nagle holds
	 * a line back until the previous one is acknowledged, and a server
	 * that does not echo (IRC) acknowledges only after the delayed-ACK
	 * timer, which would add up to 40 ms to one server's latency alone.
	 */
	if (r->ai->ai_protocol == IPPROTO_TCP || r->ai->ai_family == AF_INET ||
	    r->ai->ai_family == AF_INET6)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, r->ai->ai_addr, r->ai->ai_addrlen) == -1 &&
	    errno != EINPROGRESS)
		client_fail(c, "connect %s:%s: %s", r->host, r->port,
		    strerror(errno));
	c->state = C_CONNECTING;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT;
	ev.data.u64 = (uint64_t)c->idx;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		err(1, "epoll_ctl");
	c->pollout = 1;
	r->pending++;
}

/* The connect of c has finished: checks it and sends the greeting. */
static void
client_connected(struct run *r, struct client *c)
{
	socklen_t len = sizeof(int);
	int e = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	if (e != 0)
		client_fail(c, "connect %s:%s: %s", r->host, r->port,
		    strerror(e));
	c->state = C_HELLO;
	if (r->proto == PROTO_PV)
		out_printf(c, "u%03d\n", c->idx);
	else
		out_printf(c, "NICK u%03d\r\nUSER u%03d 0 * :u\r\n", c->idx,
		    c->idx);
	r->last_progress = now_ns();
	if (out_flush(r, c, SIZE_MAX) == -1)
		client_closed(r, c, strerror(errno));
}

/* Handles the epoll events of client c. */
static void
client_event(struct run *r, struct client *c, uint32_t events)
{
	if (c->state == C_CONNECTING) {
		client_connected(r, c);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		client_read(r, c);
	if (c->state == C_CLOSED || !(events & EPOLLOUT))
		return;
	if (r->phase == PH_RUN && r->rate == 0 && c->idx < r->nsenders)
		sender_burst(r, c);
	else if (out_flush(r, c, SIZE_MAX) == -1)
		client_closed(r, c, strerror(errno));
}

/* Allocates the clients and the bookkeeping of every delivery. */
static void
run_alloc(struct run *r)
{
	size_t pairs;
	int i;

	if ((r->clients = calloc((size_t)r->nclients,
	    sizeof(*r->clients))) == NULL)
		err(1, NULL);
	for (i = 0; i < r->nclients; i++) {
		r->clients[i].idx = i;
		r->clients[i].fd = -1;
		if ((r->clients[i].in = malloc(INBUF)) == NULL)
			err(1, NULL);
	}
	pairs = (size_t)r->nclients * (size_t)r->nsenders;
	r->seen_bytes = (r->nmsgs + 7) / 8;
	if ((r->maxseq = reallocarray(NULL, pairs, sizeof(*r->maxseq))) ==
	    NULL || (r->seen = calloc(pairs, r->seen_bytes)) == NULL)
		err(1, NULL);
	for (i = 0; (size_t)i < pairs; i++)
		r->maxseq[i] = -1;
	/* pv echoes a message to its sender, IRC does not. */
	r->expected = (uint64_t)r->nsenders * r->nmsgs *
	    (uint64_t)(r->proto == PROTO_PV ? r->nclients : r->nclients - 1);
	if ((r->lat = reallocarray(NULL, r->expected ? r->expected : 1,
	    sizeof(*r->lat))) == NULL)
		err(1, "%llu latencies", (unsigned long long)r->expected);
}

/* Closes the clients and frees what run_alloc and the run allocated. */
static void
run_free(struct run *r)
{
	int i;

	for (i = 0; i < r->nclients; i++) {
		if (r->clients[i].fd != -1)
			close(r->clients[i].fd);
		free(r->clients[i].in);
		free(r->clients[i].out);
	}
	free(r->clients);
	free(r->maxseq);
	free(r->seen);
	free(r->lat);
	freeaddrinfo(r->ai);
	close(r->tfd);
	close(r->ep);
}

/* Starts the senders: the first burst, or the paced schedule. */
static void
run_start(struct run *r)
{
	uint64_t period;
	int s;

	r->phase = PH_RUN;
	r->self_start = self_cpu_ns();
	r->steal_start = steal_ticks();
	r->t_start = r->last_progress = r->t_last = now_ns();
	if (r->verbose)
		fprintf(stderr, "chatload: sending\n");
	if (r->rate == 0) {
		for (s = 0; s < r->nsenders; s++)
			sender_burst(r, &r->clients[s]);
		return;
	}
	/* Stagger the senders evenly over one period. */
	period = (uint64_t)(1e9 / r->rate);
	for (s = 0; s < r->nsenders; s++)
		r->clients[s].due = r->t_start +
		    period * (uint64_t)s / (uint64_t)r->nsenders;
	senders_paced(r);
}

/* Returns the epoll_wait timeout in ms for the current phase. */
static int
run_wait_ms(struct run *r, uint64_t now)
{
	uint64_t until;

	until = r->last_progress + r->timeout_ns;
	if (r->phase == PH_SETTLE && r->last_rx + SETTLE_QUIET < until)
		until = r->last_rx + SETTLE_QUIET;
	if (until <= now)
		return 0;
	return (int)((until - now + 999999) / 1000000);
}

/* Returns the PERMILLE/1000 quantile of the n sorted latencies v. */
static double
quantile(const float *v, uint64_t n, uint64_t permille)
{
	uint64_t i;

	if (n == 0)
		return 0;
	/* The smallest value with at least that share at or below it. */
	i = (n * permille + 999) / 1000;
	return v[i > 0 ? i - 1 : 0];
}

/* Orders two floats for qsort. */
static int
float_cmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return (x > y) - (x < y);
}

/* Prints one field of the report, JSON or key=value. */
static void __attribute__((format(printf, 4, 5)))
report_field(const struct run *r, int *first, const char *key,
    const char *fmt, ...)
{
	va_list ap;

	if (r->json)
		printf("%s\"%s\": ", *first ? "{" : ", ", key);
	else
		printf("%s%s=", *first ? "" : " ", key);
	*first = 0;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

/* Prints the report of the run on stdout. */
static void
report(struct run *r, const struct tree *idle, const struct tree *joined,
    const struct tree *t0, const struct tree *t1, const struct tree *rest)
{
	double secs, cpu_us;
	uint64_t lost;
	long long steal_ms = -1;
	long hz;
	int f = 1, gone;

	qsort(r->lat, r->nlat, sizeof(*r->lat), float_cmp);
	lost = r->expected - r->received;
	secs = r->t_last > r->t_start ? (r->t_last - r->t_start) / 1e9 : 0;
	report_field(r, &f, "proto", r->json ? "\"%s\"" : "%s",
	    r->proto == PROTO_PV ? "pv" : "irc");
	report_field(r, &f, "clients", "%d", r->nclients);
	report_field(r, &f, "senders", "%d", r->nsenders);
	report_field(r, &f, "messages", "%u", r->nmsgs);
	report_field(r, &f, "rate", "%g", r->rate);
	report_field(r, &f, "size", "%zu", r->size);
	report_field(r, &f, "expected", "%llu",
	    (unsigned long long)r->expected);
	report_field(r, &f, "received", "%llu",
	    (unsigned long long)r->received);
	report_field(r, &f, "elapsed_s", "%.3f", secs);
	report_field(r, &f, "deliveries_per_s", "%.0f",
	    secs > 0 ? r->received / secs : 0);
	report_field(r, &f, "p50_us", "%.1f", quantile(r->lat, r->nlat, 500));
	report_field(r, &f, "p99_us", "%.1f", quantile(r->lat, r->nlat, 990));
	report_field(r, &f, "max_us", "%.1f",
	    r->nlat ? r->lat[r->nlat - 1] : 0.0);
	report_field(r, &f, "lost", "%llu", (unsigned long long)lost);
	report_field(r, &f, "duplicated", "%llu", (unsigned long long)r->dup);
	report_field(r, &f, "reordered", "%llu",
	    (unsigned long long)r->reordered);
	report_field(r, &f, "malformed", "%llu",
	    (unsigned long long)r->malformed);
	report_field(r, &f, "unexpected", "%llu",
	    (unsigned long long)r->unexpected);
	report_field(r, &f, "server_errors", "%llu",
	    (unsigned long long)r->errors);
	report_field(r, &f, "disconnected", "%llu",
	    (unsigned long long)r->closed);
	report_field(r, &f, "timed_out", "%d", r->timed_out);
	report_field(r, &f, "self_cpu_ms", "%.1f",
	    (r->self_end - r->self_start) / 1e6);
	hz = sysconf(_SC_CLK_TCK);
	if (r->steal_start >= 0 && r->steal_end >= r->steal_start && hz > 0)
		steal_ms = (r->steal_end - r->steal_start) * 1000 / hz;
	report_field(r, &f, "steal_ms", "%lld", steal_ms);
	if (r->server_pid > 0) {
		cpu_us = tree_cpu_delta(t0, t1, &gone) / 1e3;
		report_field(r, &f, "server_cpu_ms", "%.1f", cpu_us / 1e3);
		report_field(r, &f, "cpu_us_per_delivery", "%.3f",
		    r->received ? cpu_us / r->received : 0.0);
		report_field(r, &f, "server_procs", "%d", t1->nprocs);
		/* Their CPU time is missing: the figures are too low. */
		report_field(r, &f, "server_procs_gone", "%d", gone);
		report_field(r, &f, "pss_idle_kb", "%ld", idle->pss_kb);
		report_field(r, &f, "pss_kb", "%ld", joined->pss_kb);
		report_field(r, &f, "pss_end_kb", "%ld", t1->pss_kb);
		report_field(r, &f, "pss_per_client_kb", "%.1f",
		    (double)(joined->pss_kb - idle->pss_kb) / r->nclients);
		report_field(r, &f, "pss_end_per_client_kb", "%.1f",
		    (double)(t1->pss_kb - idle->pss_kb) / r->nclients);
		report_field(r, &f, "pss_rest_kb", "%ld", rest->pss_kb);
		report_field(r, &f, "pss_rest_per_client_kb", "%.1f",
		    (double)(rest->pss_kb - idle->pss_kb) / r->nclients);
	}
	printf(r->json ? "}\n" : "\n");
	if (fflush(stdout) == EOF)
		err(1, "stdout");
}

/* Parses the command line into r. */
static void
run_options(struct run *r, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "connect", required_argument, NULL, 'c' },
		{ "group", required_argument, NULL, 'g' },
		{ "json", no_argument, NULL, 'j' },
		{ "no-quickack", no_argument, NULL, 'Q' },
		{ "proto", required_argument, NULL, 'P' },
		{ "rate", required_argument, NULL, 'r' },
		{ "server-pid", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	const char *p;
	char *end;
	int ch;

	r->proto = PROTO_PV;
	r->group = "bench";
	r->nclients = 10;
	r->nsenders = 1;
	r->nmsgs = 1000;
	r->size = 64;
	r->timeout_ns = 10000000000ULL;
	r->quickack = 1;
	while ((ch = getopt_long(argc, argv, "c:g:jk:m:n:P:p:r:s:t:v",
	    longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if (r->ai != NULL)
				freeaddrinfo(r->ai);
			parse_connect(r, optarg);
			break;
		case 'g':
			r->group = optarg;
			for (p = optarg; *p != '\0'; p++)
				if (!isalnum((unsigned char)*p) && *p != '_' &&
				    *p != '.' && *p != '-')
					break;
			if (*p != '\0' || p == optarg || p - optarg > 32) {
				warnx("group: %s: 1-32 of [A-Za-z0-9_.-]",
				    optarg);
				usage();
			}
			break;
		case 'j':
			r->json = 1;
			break;
		case 'k':
			r->nsenders = (int)parse_num(optarg, 1, 1000000,
			    "senders");
			break;
		case 'm':
			r->nmsgs = (uint32_t)parse_num(optarg, 1, 100000000,
			    "messages");
			break;
		case 'n':
			r->nclients = (int)parse_num(optarg, 1, 1000000,
			    "clients");
			break;
		case 'P':
			if (strcmp(optarg, "pv") == 0)
				r->proto = PROTO_PV;
			else if (strcmp(optarg, "irc") == 0)
				r->proto = PROTO_IRC;
			else {
				warnx("proto: %s: pv or irc", optarg);
				usage();
			}
			break;
		case 'p':
			r->server_pid = (long)parse_num(optarg, 1, INT32_MAX,
			    "server-pid");
			break;
		case 'Q':
			r->quickack = 0;
			break;
		case 'r':
			errno = 0;
			r->rate = strtod(optarg, &end);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    !(r->rate >= 0) || r->rate > 1e9) {
				warnx("rate: %s: messages per second, 0 for "
				    "burst", optarg);
				usage();
			}
			break;
		case 's':
			r->size = (size_t)parse_num(optarg, 0, 900, "size");
			break;
		case 't':
			r->timeout_ns = parse_duration(optarg);
			break;
		case 'v':
			r->verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (r->ai == NULL) {
		warnx("--connect HOST:PORT is required");
		usage();
	}
	if (r->rate == 0)
		r->quickack = 0;
	if (r->nsenders > r->nclients) {
		warnx("senders (%d) must not exceed clients (%d)",
		    r->nsenders, r->nclients);
		usage();
	}
	if (r->proto == PROTO_IRC && r->nclients < 2) {
		warnx("irc needs at least 2 clients: no echo to the sender");
		usage();
	}
	/* An IRC line is at most 512 bytes, its prefix included. */
	if (r->proto == PROTO_IRC && r->size > 400) {
		warnx("size: at most 400 bytes with irc");
		usage();
	}
}

int
main(int argc, char *argv[])
{
	struct epoll_event evs[MAX_EVENTS], ev;
	struct tree idle, joined, t0, t1, rest;
	struct timespec pause = { REST_NS / 1000000000L,
	    REST_NS % 1000000000L };
	struct run run, *r = &run;
	struct client *c;
	uint64_t now, exp;
	int i, n;

	memset(r, 0, sizeof(*r));
	memset(&idle, 0, sizeof(idle));
	joined = t0 = t1 = rest = idle;
	run_options(r, argc, argv);
	raise_nofile((rlim_t)r->nclients + 32);
	run_alloc(r);
	if ((r->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(1, "epoll_create1");
	if ((r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		err(1, "timerfd_create");
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = TIMER_KEY;
	if (epoll_ctl(r->ep, EPOLL_CTL_ADD, r->tfd, &ev) == -1)
		err(1, "epoll_ctl");
	if (r->server_pid > 0)
		server_measure(r, 1, &idle, "idle");

	r->phase = PH_SETUP;
	r->last_progress = now_ns();
	while (r->phase != PH_DONE) {
		while (r->phase == PH_SETUP && r->pending < MAX_PENDING &&
		    r->next_connect < r->nclients)
			client_connect(r);
		now = now_ns();
		n = epoll_wait(r->ep, evs, MAX_EVENTS, run_wait_ms(r, now));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err(1, "epoll_wait");
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.u64 == TIMER_KEY) {
				if (read(r->tfd, &exp, sizeof(exp)) > 0 &&
				    r->phase == PH_RUN)
					senders_paced(r);
				continue;
			}
			c = &r->clients[evs[i].data.u64];
			if (c->state != C_CLOSED)
				client_event(r, c, evs[i].events);
		}
		now = now_ns();
		if (r->phase == PH_SETUP && r->ready == r->nclients) {
			if (r->verbose)
				fprintf(stderr, "chatload: %d clients joined\n",
				    r->nclients);
			r->phase = PH_SETTLE;
			r->settle_start = r->last_progress = now;
		}
		if (r->phase == PH_SETTLE &&
		    (now >= r->last_rx + SETTLE_QUIET ||
		    now >= r->settle_start + SETTLE_MAX)) {
			if (r->server_pid > 0) {
				server_measure(r, 1, &joined, "joined");
				server_measure(r, 0, &t0, "start");
			}
			run_start(r);
			continue;
		}
		if (r->phase == PH_RUN &&
		    r->received + r->abandoned == r->expected) {
			r->phase = PH_DONE;
			break;
		}
		/* The settling is bounded by SETTLE_MAX instead. */
		if (r->phase != PH_SETTLE &&
		    now >= r->last_progress + r->timeout_ns) {
			if (r->phase != PH_RUN)
				setup_timeout(r);
			r->timed_out = 1;
			r->phase = PH_DONE;
		}
	}
	r->self_end = self_cpu_ns();
	r->steal_end = steal_ticks();
	/* Measure before anyone leaves: pv's workers exit with their client. */
	if (r->server_pid > 0) {
		server_measure(r, 1, &t1, "end");
		/* And once the server has had a moment to give memory back. */
		while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
			continue;
		server_measure(r, 1, &rest, "at rest");
	}
	report(r, &idle, &joined, &t0, &t1, &rest);
	free(rest.procs);
	free(idle.procs);
	free(joined.procs);
	free(t0.procs);
	free(t1.procs);
	run_free(r);
	return 0;
}
