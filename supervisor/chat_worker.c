/*
 * chat_worker.c: the forked worker that owns one chat client (DESIGN.md
 * section 6).
 *
 * The hub forks one worker per client (a function stage, so no exec: the
 * worker shares the hub's pages until it writes them, which keeps it
 * small).  The worker reads the client's lines, checks and parses them
 * with the protocol codec, and sends each command to the hub as one line
 * of the worker-to-hub protocol (chat.h); it writes whatever bytes the
 * hub sends back to the client, unchanged.  It never writes a reply of
 * its own: an error it finds goes to the hub as "E text" and comes back
 * among the other replies, so the replies keep the order of the commands.
 *
 * Until the hub has accepted a name, every line the client sends is a
 * name attempt, so the worker reads the hub's answer to each attempt
 * itself ("+ welcome" or "- ...") before it parses the next line.  From
 * then on, with a socket or FIFO for output, the bytes go from the hub's
 * pipe to the client with splice(2) and never through the worker's memory.
 * A TCP client's worker (unless --no-direct) hands its output to the hub
 * once the welcome is written ("O", chat.h), and from then on only reads.
 * Its buffers are static; the pages a burst wrote go back to the system
 * once the client has been quiet for a moment (worker_shrink).
 *
 * Optional filter chains (--inbound, --outbound) run as the worker's
 * children in its process group, so the hub's one killpg after the
 * worker is gone takes them too.
 *
 * Signals: none are caught.  The worker starts with every disposition
 * at default and an empty mask (a child of the hub, DESIGN.md section 8)
 * and ignores SIGPIPE, so a client or hub that went away is an EPIPE; the
 * hub ends it with SIGKILL when its client is too slow or the hub stops.
 */
#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

#define WORKER_READ	4096		/* client bytes per read */
/* For msgq/UDP lines, or no splice: the longest delivery fits. */
#define WORKER_OUTBUF	(PV_VIS_SIZE(CHAT_LINE_LIMIT) + 4 * CHAT_NAME_MAX)
#define WORKER_SPLICE	65536
#define WORKER_RETRY_MS	10		/* msgq full: try again */
#define WORKER_SHRINK_MS	250	/* quiet this long: give pages back */
#define WORKER_ENCODED	(PV_VIS_SIZE(CHAT_LINE_LIMIT) + 64)
#define WORKER_INSIZE	(CHAT_LINE_LIMIT + 2 + WORKER_READ)
/* What one read of the client can make for the hub, at worst. */
#define WORKER_HUBQ	(4 * WORKER_INSIZE + 64 * (WORKER_INSIZE / 2))

/*
 * One direction of output: bytes from src to a stream fd dst (splice, or
 * read and write), or split into lines sent as messages or datagrams.
 * The buffer is apart (struct worker_bufs) so that the flags of both
 * pumps share one page and an unused buffer is never touched.
 */
struct pump {
	int		 src, dst;	/* dst -1: msgq/UDP lines */
	int		 full;		/* dst cannot take more now */
	int		 eof;		/* src ended and buf is empty */
	int		 src_eof;
	int		 discard;	/* the client is gone: drop it all */
	char		*buf;		/* WORKER_OUTBUF bytes */
	size_t		 off, len;
};

/* The state of one worker; static in the child, one per process. */
struct worker {
	const struct chat_worker *cfg;
	int		 cin;		/* client lines (or inbound output) */
	int		 hub_out;
	int		 reading;	/* still reading the client */
	int		 named;		/* the hub accepted a name */
	int		 verdict;	/* waiting for the answer to a name */
	int		 expect;	/* replies due, while not named */
	int		 handed;	/* "O" sent: the hub writes */
	char		 head[16];	/* the start of a reply line */
	size_t		 headlen;
	int		 splice_ok;
	size_t		 discarding;	/* bytes of an overlong line so far */
	size_t		 inlen;
	struct pump	 a;		/* hub -> stream (socket, FIFO, chain) */
	struct pump	 b;		/* hub or chain -> msgq/UDP lines */
	int		 use_a, use_b;
	struct pv_pipeline *inbound, *outbound;
	char		*in;		/* CHAT_LINE_LIMIT + 2 + WORKER_READ */
	char		*enc;		/* WORKER_ENCODED */
	char		*hubq;		/* WORKER_HUBQ: for a full pipe */
	int		 batching;	/* worker_lines: queue, flush at end */
	size_t		 hubqlen;
	int		 swollen;	/* buffers written since worker_shrink */
};

/*
 * The worker's buffers, in the order they are needed: a page of memory
 * the worker writes is a page it no longer shares with the spawner, so
 * what a TCP client never uses (pump b's buffer) comes last and stays
 * untouched.
 */
struct worker_bufs {
	struct worker	 w;
	char		 in[CHAT_LINE_LIMIT + 2 + WORKER_READ];
	char		 enc[WORKER_ENCODED];
	char		 hubq[WORKER_HUBQ];
	char		 a[WORKER_OUTBUF];
	char		 b[WORKER_OUTBUF];
};

/* Static: one worker per process, and worker_shrink needs its bounds. */
static struct worker_bufs bufs;

/* A FIFO client's pair, until both sides have it open; "" when gone. */
static char worker_fifo_names[2][PATH_MAX];

/* Removes a FIFO client's pair, once (pvchat does too: whoever first). */
static void
worker_unlink_fifos(void)
{
	if (worker_fifo_names[0][0] == '\0')
		return;
	unlink(worker_fifo_names[0]);
	unlink(worker_fifo_names[1]);
	worker_fifo_names[0][0] = '\0';
}

/*
 * Sends n bytes to the hub, or queues them when its pipe is full: the hub
 * holds back senders while a reader is behind (chat_hub.c), and a worker
 * blocked in write(2) could not forward what the hub sends its own client
 * meanwhile, so that client would look slow.  While bytes are queued the
 * client is not read.  On failure the hub no longer listens to this
 * client (it closed it: idle, dropped, shutting down) or is gone: the
 * client is no longer read, but what the hub sent still goes out, and the
 * end (an empty datagram, 'X', a shutdown) is still signalled when its
 * pipe ends.  Exiting here would lose both.
 */
static void
worker_to_hub(struct worker *w, const char *buf, size_t n)
{
	ssize_t r = 0;

	if (n == 0 || w->hub_out < 0)
		return;
	/* Lines of one read go out together (worker_lines flushes them). */
	if (w->batching && w->hubqlen + n <= WORKER_HUBQ) {
		memcpy(w->hubq + w->hubqlen, buf, n);
		w->hubqlen += n;
		w->swollen = 1;
		return;
	}
	if (w->hubqlen == 0) {
		do
			r = write(w->hub_out, buf, n);
		while (r == -1 && errno == EINTR);
		if (r == -1 && errno != EAGAIN)
			goto gone;
		if (r == (ssize_t)n)
			return;
		if (r == -1)
			r = 0;
	}
	if (w->hubqlen + n - (size_t)r > WORKER_HUBQ) {
		/* Cannot happen with a bounded read; block rather than lose. */
		if (pv_write_all(w->hub_out, w->hubq, w->hubqlen) == -1 ||
		    pv_write_all(w->hub_out, buf + r, n - (size_t)r) == -1)
			goto gone;
		w->hubqlen = 0;
		return;
	}
	memcpy(w->hubq + w->hubqlen, buf + r, n - (size_t)r);
	w->hubqlen += n - (size_t)r;
	w->swollen = 1;
	return;
gone:
	close(w->hub_out);
	w->hub_out = -1;
	w->hubqlen = 0;
	w->reading = 0;
}

/* Writes out what waits for the hub's pipe to have room. */
static void
worker_hub_flush(struct worker *w)
{
	ssize_t r;

	while (w->hubqlen > 0 && w->hub_out >= 0) {
		r = write(w->hub_out, w->hubq, w->hubqlen);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			close(w->hub_out);
			w->hub_out = -1;
			w->hubqlen = 0;
			w->reading = 0;
			return;
		}
		memmove(w->hubq, w->hubq + r, w->hubqlen - (size_t)r);
		w->hubqlen -= (size_t)r;
	}
}

/* Tells the hub about an error it should reply with, as "E text". */
static void
worker_error(struct worker *w, const char *text)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "E %s\n", text);
	if (n > 0 && (size_t)n < sizeof(buf)) {
		worker_to_hub(w, buf, (size_t)n);
		if (!w->named)
			w->expect++;
	}
}

/* Tells the hub the client is gone, and stops reading it. */
static void
worker_gone(struct worker *w, const char *reason)
{
	char buf[128];
	int n;

	if (!w->reading)
		return;
	w->reading = 0;
	n = snprintf(buf, sizeof(buf), "D %s\n", reason);
	if (n > 0 && (size_t)n < sizeof(buf))
		worker_to_hub(w, buf, (size_t)n);
}

/* Parses one complete client line and passes it on to the hub. */
static void
worker_line(struct worker *w, char *line, size_t len, char *enc)
{
	struct chat_cmd cmd;
	char *dst = enc;
	size_t n;

	chat_parse_line(line, len, w->named, &cmd);
	if (cmd.op == CHAT_OP_NONE)
		return;
	/*
	 * Batched, the line is encoded in place at the end of the queue for
	 * the hub: a page of enc that is never written stays shared with
	 * the spawner (4 KiB less per client).
	 */
	if (w->batching && w->hub_out >= 0 &&
	    WORKER_HUBQ - w->hubqlen >= WORKER_ENCODED)
		dst = w->hubq + w->hubqlen;
	w->swollen = 1;
	if ((n = chat_encode_cmd(dst, WORKER_ENCODED, &cmd)) == 0) {
		worker_error(w, "line too long");
		return;
	}
	if (dst == enc)
		worker_to_hub(w, enc, n);
	else
		w->hubqlen += n;
	if (!w->named)
		w->expect++;
	if (cmd.op == CHAT_OP_NAME)
		w->verdict = 1;
	else if (cmd.op == CHAT_OP_QUIT)
		w->reading = 0;
}

/*
 * Handles the complete lines in w->in: each is parsed and sent to the
 * hub, in one write for all of them.  Stops early at a name attempt,
 * whose answer decides how the next line is read.
 */
static void
worker_lines(struct worker *w)
{
	char *enc = w->enc;
	char msg[96];
	size_t max = w->cfg->max_line, start = 0, len;
	char *lf;

	w->batching = 1;
	while (w->reading && !w->verdict && start < w->inlen) {
		lf = memchr(w->in + start, '\n', w->inlen - start);
		if (w->discarding > 0) {
			/* The rest of an overlong line, up to its LF. */
			if (lf == NULL) {
				w->discarding += w->inlen - start;
				start = w->inlen;
				break;
			}
			start = (size_t)(lf - w->in) + 1;
			w->discarding = 0;
			continue;
		}
		if (lf == NULL)
			break;
		len = (size_t)(lf - (w->in + start));
		/* The CR of a CRLF does not count (the codec drops it). */
		if (len > max + (len > 0 && w->in[start + len - 1] == '\r')) {
			snprintf(msg, sizeof(msg),
			    "line too long (max %zu bytes)", max);
			worker_error(w, msg);
		} else
			worker_line(w, w->in + start, len, enc);
		start = (size_t)(lf - w->in) + 1;
	}
	memmove(w->in, w->in + start, w->inlen - start);
	w->inlen -= start;

	/* A partial line past the limit: report it and skip to its LF. */
	if (w->reading && !w->verdict && w->discarding == 0 &&
	    w->inlen > max + 1) {
		snprintf(msg, sizeof(msg), "line too long (max %zu bytes)",
		    max);
		worker_error(w, msg);
		w->discarding = w->inlen;
		w->inlen = 0;
	}
	if (w->discarding > CHAT_DISCARD_FACTOR * max) {
		worker_error(w, "too much without a newline, closing");
		worker_gone(w, "line too long");
	}
	w->batching = 0;
	worker_hub_flush(w);
}

/* Reads what the client sent and handles the complete lines. */
static void
worker_read_client(struct worker *w)
{
	ssize_t n;

	n = read(w->cin, w->in + w->inlen, WORKER_INSIZE - w->inlen);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		worker_gone(w, strerror(errno));
		return;
	}
	if (n == 0) {
		/* A last line without LF still counts. */
		if (w->inlen > 0 && w->discarding == 0 &&
		    w->inlen < WORKER_INSIZE) {
			w->in[w->inlen++] = '\n';
			worker_lines(w);
		}
		worker_gone(w, "end of file");
		return;
	}
	w->inlen += (size_t)n;
	w->swollen = 1;
	worker_lines(w);
}

/* The hub's replies are being counted (worker_verdict): no splice. */
#define WORKER_COUNTING(w)	(!(w)->named && (w)->expect > 0)

/*
 * Reads the hub's replies while a name attempt waits for its answer.
 * Before a client has a name every line it is sent is a reply to one of
 * its lines, in order, so the answer to the name is the expect-th reply
 * from here: "+ welcome NAME" or an error.  Lines may come split across
 * reads, so the first bytes of each are gathered in w->head.
 */
static void
worker_verdict(struct worker *w, const char *buf, size_t n)
{
	static const char welcome[] = "+ welcome ";
	size_t i;

	/*
	 * Every reply is counted, not only those that come while a name
	 * waits: the error to a line sent before it ("- bad name") may come
	 * back before the name is even sent, and not counting it would make
	 * the worker wait for one reply too many, and read the client no
	 * more.
	 */
	for (i = 0; i < n && w->expect > 0; i++) {
		if (buf[i] != '\n') {
			if (w->headlen < sizeof(welcome) - 1)
				w->head[w->headlen++] = buf[i];
			continue;
		}
		if (w->headlen >= 2 && (w->head[0] == '+' ||
		    w->head[0] == '-') && w->head[1] == ' ' &&
		    --w->expect == 0 && w->verdict) {
			w->verdict = 0;
			w->named = w->headlen == sizeof(welcome) - 1 &&
			    memcmp(w->head, welcome, w->headlen) == 0;
		}
		w->headlen = 0;
	}
}

/*
 * Sends one line (without LF) to a msgq or UDP client, as kind.  Returns
 * 0, or -1 with errno EAGAIN when the queue or socket is full.
 */
static int
worker_send_line(struct worker *w, const char *line, size_t len, char kind)
{
	static struct chat_msg m;
	ssize_t n;

	if (w->cfg->sink == CHAT_SINK_MSGQ) {
		if (len > CHAT_MSGQ_TEXT)
			len = CHAT_MSGQ_TEXT;
		m.mtype = w->cfg->peer_pid;
		m.pid = (int32_t)getpid();
		m.kind = kind;
		memcpy(m.text, line, len);
		while (msgsnd(w->cfg->msqid, &m, CHAT_MSGQ_SIZE(len),
		    IPC_NOWAIT) == -1)
			if (errno != EINTR)
				return errno == EAGAIN ? -1 : 0;
		return 0;
	}
	do
		n = sendto(CHAT_WFD_UDP, line, len, MSG_DONTWAIT,
		    (const struct sockaddr *)&w->cfg->addr, w->cfg->addrlen);
	while (n == -1 && errno == EINTR);
	/* An unreachable peer is left to the hub's idle expiry. */
	return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : 0;
}

/*
 * Writes out what p holds: to its stream, or one message or datagram
 * per line.  Returns 0 when all went, 1 when the sink is full, -1 when
 * the client is gone.
 */
static int
pump_flush(struct worker *w, struct pump *p)
{
	ssize_t n;
	char *lf;
	size_t len;

	if (p->discard)
		p->off = p->len;
	while (p->off < p->len) {
		if (p->dst >= 0) {
			n = write(p->dst, p->buf + p->off, p->len - p->off);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				return errno == EAGAIN ? 1 : -1;
			}
			p->off += (size_t)n;
			continue;
		}
		lf = memchr(p->buf + p->off, '\n', p->len - p->off);
		if (lf == NULL) {
			/* A line longer than the buffer goes out cut. */
			if (!(p->off == 0 && p->len == WORKER_OUTBUF) &&
			    !p->src_eof)
				break;
			lf = p->buf + p->len;
		}
		len = (size_t)(lf - (p->buf + p->off));
		/* A datagram carries its LF; a message's kind says "line". */
		if (worker_send_line(w, p->buf + p->off, len +
		    (w->cfg->sink == CHAT_SINK_UDP && lf < p->buf + p->len),
		    'D') == -1)
			return 1;
		p->off += len + (lf < p->buf + p->len ? 1 : 0);
	}
	memmove(p->buf, p->buf + p->off, p->len - p->off);
	p->len -= p->off;
	p->off = 0;
	return 0;
}

/*
 * Moves what is waiting on p's source toward the client.  Returns as
 * pump_flush; sets p->src_eof at end of file.
 */
static int
pump_run(struct worker *w, struct pump *p, int verdict)
{
	ssize_t n;

	if (p->dst >= 0 && w->splice_ok && !verdict && !p->discard &&
	    p->len == 0) {
		n = splice(p->src, NULL, p->dst, NULL, WORKER_SPLICE,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0)
			return 0;
		if (n == 0) {
			p->src_eof = 1;
			return 0;
		}
		/* poll said the source was ready, so the sink is full. */
		if (errno == EAGAIN)
			return 1;
		if (errno == EINTR)
			return 0;
		if (errno != EINVAL)
			return -1;
		w->splice_ok = 0;	/* a terminal, say: copy instead */
	}
	if (p->dst >= 0 && p->len == 0 && verdict) {
		/*
		 * The few replies to a name go through the stack, which is
		 * written anyway, so the buffer's page is never touched (and
		 * never stops being shared with the spawner) for most clients.
		 */
		char small[512];
		ssize_t w2;

		n = read(p->src, small, sizeof(small));
		if (n <= 0)
			goto readend;
		worker_verdict(w, small, (size_t)n);
		do
			w2 = write(p->dst, small, (size_t)n);
		while (w2 == -1 && errno == EINTR);
		if (w2 == n)
			return 0;
		if (w2 == -1 && errno != EAGAIN)
			return -1;
		w2 = w2 < 0 ? 0 : w2;
		memcpy(p->buf, small + w2, (size_t)(n - w2));
		p->len = (size_t)(n - w2);
		w->swollen = 1;
		return pump_flush(w, p);
	}
	n = read(p->src, p->buf + p->len, WORKER_OUTBUF - p->len);
	if (n > 0) {
		w->swollen = 1;
		if (verdict)
			worker_verdict(w, p->buf + p->len, (size_t)n);
		p->len += (size_t)n;
		return pump_flush(w, p);
	}
readend:
	if (n == -1)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	p->src_eof = 1;
	return pump_flush(w, p);
}

/* Opens a FIFO client's pair (chat.h) on fds 0 and 1.  0, or -1. */
static int
worker_open_fifos(const struct chat_worker *cfg)
{
	char c2s[PATH_MAX], s2c[PATH_MAX];
	struct stat sb;
	int in, out;

	if (snprintf(c2s, sizeof(c2s), "%s/%ld.%s", cfg->fifo_dir,
	    (long)cfg->peer_pid, CHAT_FIFO_C2S) >= (int)sizeof(c2s) ||
	    snprintf(s2c, sizeof(s2c), "%s/%ld.%s", cfg->fifo_dir,
	    (long)cfg->peer_pid, CHAT_FIFO_S2C) >= (int)sizeof(s2c))
		return -1;
	/* Only FIFOs of our own user: never follow a link planted there. */
	if (lstat(s2c, &sb) == -1 || !S_ISFIFO(sb.st_mode) ||
	    sb.st_uid != geteuid() || lstat(c2s, &sb) == -1 ||
	    !S_ISFIFO(sb.st_mode) || sb.st_uid != geteuid())
		return -1;
	strlcpy(worker_fifo_names[0], c2s, sizeof(worker_fifo_names[0]));
	strlcpy(worker_fifo_names[1], s2c, sizeof(worker_fifo_names[1]));
	/* s2c first: the client has it open for reading already. */
	if ((out = open(s2c, O_WRONLY | O_NONBLOCK | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return -1;
	/*
	 * c2s blocking: both sides meet in open(2), so when it returns the
	 * client has its end and the names can go.  A client that died
	 * before its open would leave us here for ever: SIGALRM, at its
	 * default action in a worker, ends the wait and the worker.
	 */
	alarm((CHAT_FIFO_TIMEOUT_MS + 999) / 1000 + 1);
	in = open(c2s, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	alarm(0);
	if (in == -1) {
		close(out);
		return -1;
	}
	worker_unlink_fifos();
	if (dup2(in, 0) == -1 || dup2(out, 1) == -1)
		return -1;
	close(in);
	close(out);
	return 0;
}

/*
 * Starts a filter chain in our process group from fd in to fd out (-1:
 * a pipe the worker gets).  Returns the pipeline or NULL.
 */
static struct pv_pipeline *
worker_filter(const struct chat_worker *cfg, const char *spec, int in,
    int out)
{
	struct pv_pipeline *pl;
	struct pv_spec_error perr;

	if ((pl = pv_pipeline_new()) == NULL)
		return NULL;
	if (pv_pipeline_parse(pl, spec, 0, &perr) == -1 ||
	    (cfg->filters != NULL &&
	    pv_pipeline_set_fallback_path(pl, cfg->filters) == -1))
		goto fail;
	pv_pipeline_set_sigmode(pl, PV_SIG_DEFAULT);
	pv_pipeline_set_group(pl, getpgrp());
	if (in >= 0)
		pv_pipeline_set_input(pl, in);
	else
		pv_pipeline_want_input(pl);
	if (out >= 0)
		pv_pipeline_set_output(pl, out);
	else
		pv_pipeline_want_output(pl);
	if (pv_pipeline_start(pl) == -1)
		goto fail;
	return pl;
fail:
	pv_pipeline_free(pl);
	return NULL;
}

/*
 * Returns 0 when pid is gone: no such process, or a zombie its parent
 * has not reaped yet (it will never read its messages again).
 */
static int
worker_alive(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ')
		return 1;
	return p[2] != 'Z' && p[2] != 'X';
}

/* Sets O_NONBLOCK on fd. */
static void
worker_nonblock(int fd)
{
	int fl;

	if (fd >= 0 && (fl = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/*
 * Reads and drops what a stream client still sends, for a moment: a
 * socket closed with unread input is reset, and the reset destroys what
 * the client has not read yet, the last error lines included.
 */
static void
worker_drain(struct worker *w)
{
	struct timespec end, now, d = { 1, 0 };
	struct pollfd pfd;
	size_t total = 0;
	ssize_t n;
	int ms;

	if (!w->reading && w->cin == 0) {
		pv_now(&end);
		end = pv_ts_add(end, d);
		pfd.fd = 0;
		pfd.events = POLLIN;
		while (total < 64 * 1024 * 1024) {
			pv_now(&now);
			if ((ms = pv_ts_to_ms_ceil(pv_ts_sub(end, now))) <= 0 ||
			    poll(&pfd, 1, ms) <= 0)
				break;
			n = read(0, w->in, WORKER_INSIZE);
			if (n <= 0 && !(n == -1 && errno == EINTR))
				break;
			if (n > 0)
				total += (size_t)n;
		}
	}
}

/* Ends the client's side: a socket is shut, a msgq or UDP client told. */
static void
worker_finish(struct worker *w)
{
	struct timespec deadline, d = { 2, 0 };

	if (w->outbound != NULL) {
		/*
		 * The chain's input ends here, so it writes out what it holds
		 * ("+ bye") and exits; only then is the client's side shut.
		 */
		if (w->a.dst >= 0) {
			close(w->a.dst);
			w->a.dst = -1;
		}
		pv_now(&deadline);
		deadline = pv_ts_add(deadline, d);
		pv_pipeline_wait(w->outbound, &deadline);
	}
	if (w->cfg->sink == CHAT_SINK_MSGQ)
		worker_send_line(w, "", 0, 'X');
	else if (w->cfg->sink == CHAT_SINK_UDP)
		worker_send_line(w, "", 0, 'D');
	else {
		shutdown(1, SHUT_WR);
		worker_drain(w);
	}
}

/* Adds p's fd to poll: its sink when full, else its source. */
static int
pump_poll(struct worker *w, struct pump *p, struct pollfd *pfd,
    nfds_t *np, int *timeout)
{
	if (p->eof)
		return -1;
	if (p->full) {
		if (p->dst >= 0)
			pfd[*np].fd = p->dst;
		else if (w->cfg->sink == CHAT_SINK_UDP)
			pfd[*np].fd = CHAT_WFD_UDP;
		else {
			/* A message queue cannot be polled: retry soon. */
			*timeout = WORKER_RETRY_MS;
			return -1;
		}
		pfd[*np].events = POLLOUT;
	} else {
		pfd[*np].fd = p->src;
		pfd[*np].events = POLLIN;
	}
	return (int)(*np)++;
}

/* Runs p after poll: flushes when it was full, else reads its source. */
static int
pump_step(struct worker *w, struct pump *p, int verdict)
{
	int r;

	r = p->full ? pump_flush(w, p) : pump_run(w, p, verdict);
	if (r == -1) {
		/* The client is gone: keep draining the source to its end. */
		worker_gone(w, "write error");
		p->len = p->off = 0;
		p->discard = 1;
		p->full = 0;
		return -1;
	}
	p->full = r == 1;
	if (p->src_eof && p->len == 0)
		p->eof = 1;
	return 0;
}

/*
 * Gives back the pages of the buffers that hold nothing now.  A burst (a
 * paste, a script) writes a page of the read buffer, of the queue to the
 * hub or of a pump for every 4 KiB it passes through, and each written
 * page is the worker's own copy until it exits, 16 KiB and more per
 * sender; once the client has been quiet for WORKER_SHRINK_MS the next
 * write to one of them finds a fresh zero page instead.  The pages of
 * bytes still waiting (a partial line, a full sink's backlog) are kept.
 */
static void
worker_shrink(struct worker *w)
{
	const struct {
		const char	*buf;
		size_t		 len;
	} live[] = {
		{ w->in, w->inlen }, { w->hubq, w->hubqlen },
		{ w->a.buf, w->a.len }, { w->b.buf, w->b.len },
	};
	uintptr_t pg, lo, hi, p, run = 0, from, to;
	size_t i;
	int keep;

	w->swollen = 0;
	pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	/* Whole pages of the buffers only: struct worker is before them. */
	lo = ((uintptr_t)bufs.in + pg - 1) & ~(pg - 1);
	hi = (uintptr_t)(&bufs + 1) & ~(pg - 1);
	for (p = lo; p <= hi; p += pg) {
		keep = p == hi;
		for (i = 0; i < sizeof(live) / sizeof(live[0]) && !keep; i++) {
			from = (uintptr_t)live[i].buf;
			to = from + live[i].len;
			keep = live[i].len > 0 && p < to && p + pg > from;
		}
		if (!keep && run == 0)
			run = p;
		else if (keep && run != 0) {
			madvise((void *)run, p - run, MADV_DONTNEED);
			run = 0;
		}
	}
}

/* The worker's main loop; see chat.h. */
int
chat_worker_main(void *arg)
{
	struct worker *wp = &bufs.w;
	const struct chat_worker *cfg = arg;
	struct sigaction sa;
	struct pollfd pfd[4];
	int n, timeout, ci, ai, bi, hq, quiet, dead = 0;
	nfds_t np;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	setproctitle("chat worker %s", cfg->peer);

	wp->cfg = cfg;
	wp->in = bufs.in;
	wp->enc = bufs.enc;
	wp->hubq = bufs.hubq;
	wp->a.buf = bufs.a;
	wp->b.buf = bufs.b;
	wp->hub_out = CHAT_WFD_TO_HUB;
	wp->cin = 0;
	wp->reading = 1;
	if (cfg->fifo_dir != NULL && worker_open_fifos(cfg) == -1) {
		worker_unlink_fifos();
		return 1;	/* the client gave up: end of file for the hub */
	}
	if (cfg->inbound != NULL) {
		if ((wp->inbound = worker_filter(cfg, cfg->inbound, 0, -1)) ==
		    NULL)
			return 1;
		wp->cin = pv_pipeline_output_fd(wp->inbound);
	}
	/* Pump a carries stream bytes, pump b lines for msgq and UDP. */
	wp->use_a = cfg->sink == CHAT_SINK_FD || cfg->outbound != NULL;
	wp->use_b = cfg->sink != CHAT_SINK_FD;
	wp->a.src = CHAT_WFD_FROM_HUB;
	wp->a.dst = 1;
	wp->b.src = CHAT_WFD_FROM_HUB;
	wp->b.dst = -1;
	if (cfg->outbound != NULL) {
		if ((wp->outbound = worker_filter(cfg, cfg->outbound, -1,
		    cfg->sink == CHAT_SINK_FD ? 1 : -1)) == NULL)
			return 1;
		wp->a.dst = pv_pipeline_input_fd(wp->outbound);
		if (wp->use_b)
			wp->b.src = pv_pipeline_output_fd(wp->outbound);
	}
	wp->a.eof = !wp->use_a;
	wp->b.eof = !wp->use_b;
	wp->splice_ok = 1;
	worker_nonblock(wp->cin);
	worker_nonblock(CHAT_WFD_FROM_HUB);
	worker_nonblock(CHAT_WFD_TO_HUB);
	if (wp->use_a)
		worker_nonblock(wp->a.dst);
	if (wp->use_b)
		worker_nonblock(wp->b.src);

	while (!wp->a.eof || !wp->b.eof) {
		np = 0;
		ci = hq = -1;
		timeout = -1;
		if (wp->hubqlen > 0) {
			pfd[np].fd = wp->hub_out;
			pfd[np].events = POLLOUT;
			hq = (int)np++;
		} else if (wp->reading && !wp->verdict) {
			pfd[np].fd = wp->cin;
			pfd[np].events = POLLIN;
			ci = (int)np++;
		}
		ai = pump_poll(wp, &wp->a, pfd, &np, &timeout);
		bi = pump_poll(wp, &wp->b, pfd, &np, &timeout);
		if ((quiet = timeout == -1 && wp->swollen))
			timeout = WORKER_SHRINK_MS;
		else if (timeout == -1 && cfg->sink == CHAT_SINK_MSGQ &&
		    cfg->idle_ms > 0)
			timeout = (int)cfg->idle_ms;
		n = poll(pfd, np, timeout);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (n == 0 && quiet)
			worker_shrink(wp);
		/* A msgq client has no connection to break: ask the kernel. */
		if (cfg->sink == CHAT_SINK_MSGQ && n == 0 &&
		    !worker_alive(cfg->peer_pid))
			worker_gone(wp, "the client's process is gone");
		if (hq >= 0 && pfd[hq].revents)
			worker_hub_flush(wp);
		if (ci >= 0 && pfd[ci].revents)
			worker_read_client(wp);
		if ((ai >= 0 && pfd[ai].revents) || (wp->a.full && ai < 0 &&
		    !wp->a.eof))
			dead |= pump_step(wp, &wp->a, WORKER_COUNTING(wp)) ==
			    -1;
		if ((bi >= 0 && pfd[bi].revents) || (wp->b.full && bi < 0 &&
		    !wp->b.eof))
			dead |= pump_step(wp, &wp->b, WORKER_COUNTING(wp) &&
			    !wp->use_a) == -1;
		/*
		 * The welcome is out, so the hub may write to the client
		 * from here without overtaking anything of ours.
		 */
		if (cfg->direct && wp->named && !wp->handed &&
		    wp->a.len == 0 && !wp->a.discard) {
			wp->handed = 1;
			worker_to_hub(wp, "O\n", 2);
		}
		/* Lines that waited for the answer to a name go on now. */
		if (!wp->verdict && wp->reading && wp->inlen > 0 &&
		    wp->hubqlen == 0)
			worker_lines(wp);
		/* The chain's input ends when the hub's side does. */
		if (wp->use_a && wp->use_b && wp->a.eof && wp->a.dst >= 0) {
			close(wp->a.dst);
			wp->a.dst = -1;
		}
	}
	if (!dead)
		worker_finish(wp);
	worker_unlink_fifos();
	return 0;
}
