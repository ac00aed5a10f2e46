/*
 * pvchat: the client of a `pipevisor chat` hub (DESIGN.md section 6).  It
 * is a filter: the lines of standard input go to the hub, and the hub's
 * lines come out on standard output unchanged (the hub has made them safe
 * to show already), so it works at a terminal, in a pipeline and in a
 * script alike.
 *
 * TARGET picks the transport; the conventions are those of chat.h:
 *   [tcp:]HOST:PORT  a TCP connection, made under --timeout, to every
 *                    address of HOST in turn;
 *   fifo:DIR         a private pair of FIFOs, DIR/PID.c2s and
 *                    DIR/PID.s2c, announced on DIR/lobby and opened in a
 *                    rendezvous with the hub's worker, under
 *                    CHAT_FIFO_TIMEOUT_MS timed by SIGALRM;
 *   msgq:PATH        the hub's System V message queue: 'C', then one 'D'
 *                    (or a cut 'T') per line, 'X' when leaving; replies
 *                    come on mtype = our pid.  msgrcv(2) cannot be
 *                    polled, so a forked receiver takes them and writes
 *                    each as a line into a pipe the loop polls; it dies
 *                    with pvchat (PR_SET_PDEATHSIG) and is killed and
 *                    reaped on every exit path.  The hub's pid (in PATH)
 *                    is checked every second, so a hub killed with -9 is
 *                    noticed;
 *   udp:HOST:PORT    a connected UDP socket: a datagram per line each
 *                    way, an empty one from the hub when it closes us,
 *                    and an empty one from us as a keepalive after 2 s
 *                    without sending.
 *
 * One loop serves them all: one poll(2) per round over the hub's output
 * (socket, s2c FIFO, the receiver's pipe), standard input (only while
 * there is room to take it), and the hub's input while bytes wait for it,
 * with a timeout from absolute CLOCK_MONOTONIC deadlines.  Standard output
 * is buffered and written once per round.  At end of input the hub is told
 * (shutdown(SHUT_WR), c2s closed, 'X', or "quit" over UDP, which has no
 * end of file) and pvchat goes on printing until the hub closes, for at
 * most --timeout.
 *
 * Terminal mode (standard input is a terminal): the terminal stays in
 * canonical mode, so the kernel edits the line being typed (erase, kill,
 * ^R to reprint) and throws it away on ^C.  The prompt "> " goes to
 * standard error, when that is a terminal, so standard output carries
 * nothing but the hub's lines.  The same loop waits in poll(2) on the
 * terminal and the hub at once; a hub line that arrives erases the prompt
 * ("\r" and clear to end of line), is printed, and the prompt is drawn
 * again before the next wait.  A half-typed line stays in the kernel's
 * buffer meanwhile, out of sight until ^R.  One process and one loop
 * thus serve the terminal and every transport alike; the only child is
 * the msgq receiver, which nothing else could replace.
 *
 * Signals: SIGINT, SIGTERM and SIGHUP are caught (unless ignored at start,
 * as nohup leaves them) and SIGALRM times the FIFO rendezvous.  They stay
 * blocked except inside the library's armed window (pv_sig_window): the
 * poll of each round, the read(2) of standard input (pv_sig_read) and the
 * blocking open(2) of the FIFO rendezvous each run alone in it, so the
 * handler's siglongjmp (taken by the library's sigsetjmp, which is why no
 * local here needs to be volatile) only ever abandons that one system
 * call.  Everything else happens in normal context afterwards: at a
 * terminal, the first SIGINT discards the line being typed and shows a
 * fresh prompt, and a second one in a row, with no line entered between,
 * leaves as end of input does.  Otherwise, and for SIGTERM and SIGHUP,
 * pvchat cleans up (FIFO names removed, 'X' sent, the receiver reaped) and
 * dies of the same signal.  SIGPIPE is ignored (pv_sig_init): a hub that
 * went away is an EPIPE, and a closed standard output a message and
 * status 1.
 */
#include <sys/types.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

#define PVCHAT_BUFSIZE		(64 * 1024)	/* one read, either way */
#define PVCHAT_TIMEOUT		"5s"		/* --timeout default */
#define PVCHAT_KEEPALIVE_MS	2000		/* UDP: empty datagram */
#define PVCHAT_PROBE_MS		100		/* UDP: wait for a refusal */
#define PVCHAT_ALIVE_MS		1000		/* msgq: is the hub alive */
#define PVCHAT_GONE_MS		500		/* msgq: grace for its 'X' */
#define PVCHAT_RETRY_MS		10		/* msgq: the queue was full */
#define PVCHAT_DGRAM_MAX	65536		/* largest UDP datagram */
#define PVCHAT_DGRAM_BURST	64		/* datagrams read per round */
#define PVCHAT_PROMPT		"> "

enum pvchat_kind {
	PVCHAT_TCP,
	PVCHAT_FIFO,
	PVCHAT_MSGQ,
	PVCHAT_UDP
};

/* The state of one session. */
struct pvchat {
	const char	*target;	/* TARGET as given, for messages */
	char		*spec;		/* a copy, cut into the fields below */
	enum pvchat_kind kind;
	char		*host, *port;	/* tcp, udp */
	char		*path;		/* fifo DIR, msgq PATH */
	struct timespec	 timeout;
	const char	*timeout_str;
	int		 connected;

	int		 hub_in;	/* the hub's lines come from here */
	int		 hub_out;	/* ours go here (-1: msgq, closed) */
	char		*hbuf;		/* what was read from hub_in */

	/* Standard input. */
	int		 in_eof;	/* no more input, or it is refused */
	int		 eof_sent;	/* the hub was told */
	int		 blocked;	/* msgq full: try again soon */
	int		 lingering;	/* waiting for the hub to close */
	struct timespec	 linger_until;
	char		*ibuf;		/* tcp, fifo: bytes for the hub; */
	size_t		 ioff, ilen;	/* msgq, udp: lines not yet sent */
	size_t		 isize;
	int		 discarding;	/* the rest of an overlong line */

	/* Standard output. */
	struct pv_out	*out;
	int		 at_bol;	/* the last byte out was a LF */

	/* Terminal mode. */
	int		 tty;		/* standard input is a terminal */
	int		 prompt;	/* and standard error too */
	int		 prompt_shown;
	int		 ctrlc;		/* a ^C, and no line since */
	const char	*erase;		/* takes the prompt away */

	/* fifo: */
	char		 c2s[PATH_MAX], s2c[PATH_MAX];
	int		 fifos_made;

	/* msgq: */
	int		 msqid;
	pid_t		 self, hub_pid, receiver;
	int		 need_c;	/* 'C' not sent yet */
	int		 x_sent, hub_closed, gone;
	struct timespec	 next_alive, gone_until;

	/* udp: */
	char		*dgram;
	int		 heard;		/* a datagram came from the hub */
	unsigned long	 lines_sent;
	int		 quit_sent;
	struct timespec	 last_send;
};

/* Arguments of the poll(2) that runs in the armed window. */
struct pvchat_poll {
	struct pollfd	*pfd;
	nfds_t		 n;
	int		 ms;
};

/* Arguments of the open(2) that runs in the armed window. */
struct pvchat_open {
	const char	*path;
	int		 flags;
};

/* The session the atexit handler cleans up (only main's file has one). */
static struct pvchat *pvchat_self;

static const char usage_line[] =
    "usage: pvchat [-hV] [--timeout duration] target\n";

/* Prints the usage line (and with status 0 the help) and exits. */
static void __attribute__((noreturn))
usage(int status)
{
	FILE *fp = status == 0 ? stdout : stderr;

	fputs(usage_line, fp);
	if (status == 0)
		fputs("Chat with a pipevisor chat hub: stdin lines to the "
		    "hub, its lines to stdout.\n"
		    "  target              [tcp:]host:port, [v6addr]:port, "
		    "udp:host:port,\n"
		    "                      fifo:dir or msgq:path\n"
		    "  --timeout duration  wait this long to connect, and for "
		    "the hub to close\n"
		    "                      after end of input (default "
		    PVCHAT_TIMEOUT ")\n"
		    "  -h, --help          print this help and exit\n"
		    "  -V, --version       print the version and exit\n", fp);
	if (fflush(fp) == EOF && status == 0)
		err(1, "stdout");
	exit(status);
}

/* Takes the prompt off the screen, if it is there. */
static void
pvchat_unprompt(struct pvchat *pc)
{
	if (!pc->prompt_shown)
		return;
	(void)pv_write_all(STDERR_FILENO, pc->erase, strlen(pc->erase));
	pc->prompt_shown = 0;
}

/* Removes what the session leaves behind; runs at exit, once. */
static void
pvchat_cleanup(void)
{
	struct pvchat *pc = pvchat_self;
	struct chat_msg m;
	int status;

	if (pc == NULL)
		return;
	pvchat_self = NULL;
	pvchat_unprompt(pc);
	if (pc->out != NULL)
		(void)pv_out_flush(pc->out);
	if (pc->fifos_made) {
		/* The worker may have unlinked them already: ENOENT. */
		(void)unlink(pc->c2s);
		(void)unlink(pc->s2c);
	}
	if (pc->msqid != -1 && !pc->x_sent && !pc->hub_closed && !pc->gone &&
	    !pc->need_c) {
		/* Leaving without a word would keep our name until idle. */
		m.mtype = CHAT_MSGQ_REQUEST;
		m.pid = (int32_t)pc->self;
		m.kind = 'X';
		(void)msgsnd(pc->msqid, &m, CHAT_MSGQ_SIZE(0), IPC_NOWAIT);
	}
	if (pc->receiver > 0) {
		(void)kill(pc->receiver, SIGKILL);
		while (waitpid(pc->receiver, &status, 0) == -1 &&
		    errno == EINTR)
			continue;
		pc->receiver = -1;
	}
}

/* Prints "pvchat: TARGET: what" and exits 1, after cleaning up. */
static void __attribute__((noreturn, format(printf, 2, 3)))
pvchat_fail(struct pvchat *pc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* What the hub said before comes first, and not after a prompt. */
	pvchat_unprompt(pc);
	if (pc->out != NULL)
		(void)pv_out_flush(pc->out);
	warnx("%s: %s", pc->target, msg);
	exit(1);
}

/* Cleans up and dies of signo, so the caller sees the signal. */
static void __attribute__((noreturn))
pvchat_die(int signo)
{
	pvchat_cleanup();
	pv_sig_die(signo);
}

/* The hub closed the connection: the output goes out, and status 0. */
static void __attribute__((noreturn))
pvchat_done(struct pvchat *pc)
{
	pc->hub_closed = 1;
	pvchat_unprompt(pc);
	if (pv_out_flush(pc->out) == -1)
		err(1, "stdout");
	exit(0);
}

/* Fails for a refused connection or datagram: no hub, or no more hub. */
static void __attribute__((noreturn))
pvchat_refused(struct pvchat *pc)
{
	pvchat_fail(pc, pc->heard ? "the hub is gone" : "no hub is listening");
}

/* The poll(2) that pvchat_wait runs in the armed window. */
static long
pvchat_poll_call(void *arg)
{
	struct pvchat_poll *a = arg;

	return poll(a->pfd, a->n, a->ms);
}

/* The open(2) of the FIFO rendezvous, in the armed window. */
static long
pvchat_open_call(void *arg)
{
	struct pvchat_open *a = arg;

	return open(a->path, a->flags);
}

/*
 * Polls with the caught signals deliverable: returns poll's result, or -1
 * with errno EINTR when a signal arrived (take it with pvchat_signals).
 */
static int
pvchat_wait(struct pollfd *pfd, nfds_t n, int ms)
{
	struct pvchat_poll a = { pfd, n, ms };

	return (int)pv_sig_window(pvchat_poll_call, &a);
}

/* Milliseconds from now until deadline, at least 0. */
static int
pvchat_ms_until(const struct timespec *now, const struct timespec *deadline)
{
	return pv_ts_to_ms_ceil(pv_ts_sub(*deadline, *now));
}

/* Lowers *ms (-1: none yet) to the time left until deadline. */
static void
pvchat_min_ms(int *ms, const struct timespec *now,
    const struct timespec *deadline)
{
	int left = pvchat_ms_until(now, deadline);

	if (*ms == -1 || left < *ms)
		*ms = left;
}

/* Returns now plus ms milliseconds. */
static struct timespec
pvchat_after(const struct timespec *now, long ms)
{
	struct timespec d;

	d.tv_sec = ms / 1000;
	d.tv_nsec = (ms % 1000) * 1000000L;
	return pv_ts_add(*now, d);
}

/* Starts the wait for the hub to close, once. */
static void
pvchat_linger(struct pvchat *pc)
{
	struct timespec now;

	if (pc->lingering)
		return;
	pv_now(&now);
	pc->linger_until = pv_ts_add(now, pc->timeout);
	pc->lingering = 1;
}

/* Standard input has ended (or, at a terminal, a second ^C came). */
static void
pvchat_input_end(struct pvchat *pc)
{
	pc->in_eof = 1;
	if (pc->prompt_shown) {
		/* The terminal's cursor sits after the prompt. */
		(void)pv_write_all(STDERR_FILENO, "\n", 1);
		pc->prompt_shown = 0;
	}
}

/* The hub takes no more input: drop what waits, wait for it to close. */
static void
pvchat_stop_sending(struct pvchat *pc)
{
	pc->ioff = pc->ilen = 0;
	pc->discarding = 0;
	pc->in_eof = pc->eof_sent = 1;
	pc->blocked = 0;
	pvchat_linger(pc);
}

/* Acts on the caught signals that arrived. */
static void
pvchat_signals(struct pvchat *pc)
{
	int signo;

	while ((signo = pv_sig_take()) != 0) {
		/* A late rendezvous alarm: the open it timed is done. */
		if (signo == SIGALRM)
			continue;
		if (signo == SIGINT && pc->tty && pc->connected &&
		    !pc->in_eof) {
			/*
			 * The kernel has discarded the line being typed (the
			 * terminal is canonical); only a new prompt is left
			 * to give, or, on a second ^C in a row, to leave.
			 */
			if (pc->prompt)
				(void)pv_write_all(STDERR_FILENO, "\n", 1);
			pc->prompt_shown = 0;
			if (pc->ctrlc)
				pvchat_input_end(pc);
			pc->ctrlc = 1;
			continue;
		}
		pvchat_die(signo);
	}
}

/* Copies n bytes of the hub's output to standard output. */
static void
pvchat_show(struct pvchat *pc, const char *buf, size_t n)
{
	if (n == 0)
		return;
	pvchat_unprompt(pc);
	if (pv_out_write(pc->out, buf, n) == -1)
		err(1, "stdout");
	pc->at_bol = buf[n - 1] == '\n';
}

/*
 * Sends one message on the hub's queue without waiting.  Returns 0, 1
 * when the queue is full (try again), or -1 with errno (EIDRM or EINVAL:
 * the queue is gone).
 */
static int
pvchat_msgq_send(struct pvchat *pc, char kind, const char *text, size_t len)
{
	struct chat_msg m;

	m.mtype = CHAT_MSGQ_REQUEST;
	m.pid = (int32_t)pc->self;
	m.kind = kind;
	if (len > 0)
		memcpy(m.text, text, len);
	while (msgsnd(pc->msqid, &m, CHAT_MSGQ_SIZE(len), IPC_NOWAIT) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 1;
		return -1;
	}
	return 0;
}

/* Handles a msgsnd failure: a removed queue ends the sending. */
static void
pvchat_msgq_lost(struct pvchat *pc)
{
	if (errno != EIDRM && errno != EINVAL)
		pvchat_fail(pc, "msgsnd: %s", strerror(errno));
	/* The receiver sees the removal too and ends the session. */
	pvchat_stop_sending(pc);
}

/* Sends one datagram to the hub. */
static void
pvchat_udp_send(struct pvchat *pc, const char *buf, size_t len)
{
	while (send(pc->hub_out, buf, len, 0) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == ECONNREFUSED)
			pvchat_refused(pc);
		pvchat_fail(pc, "send: %s", strerror(errno));
	}
	pv_now(&pc->last_send);
}

/*
 * Sends one line (len bytes, no LF; cut: the first bytes of a longer
 * line).  Returns 0, or 1 when it must be sent again later.
 */
static int
pvchat_send_line(struct pvchat *pc, const char *line, size_t len, int cut)
{
	int r, quit;

	if (pc->kind == PVCHAT_MSGQ) {
		r = pvchat_msgq_send(pc, cut ? 'T' : 'D', line, len);
		if (r == -1)
			pvchat_msgq_lost(pc);
		return r == 1;
	}
	pvchat_udp_send(pc, line, len);
	if (len == 0 || (len == 1 && line[0] == '\r'))
		return 0;
	/* The first line is a name, even "quit". */
	quit = !cut && (len == 4 || (len == 5 && line[4] == '\r')) &&
	    memcmp(line, "quit", 4) == 0;
	if (pc->lines_sent++ > 0 && quit)
		pc->quit_sent = 1;
	return 0;
}

/*
 * Sends the complete lines waiting in ibuf, one message or datagram each,
 * and at end of input the last line without LF.  A line longer than a
 * message can carry is cut there and the rest is discarded up to its LF.
 * Returns 0, or 1 when the queue is full and the rest must wait.
 */
static int
pvchat_lines(struct pvchat *pc)
{
	size_t cap = pc->kind == PVCHAT_MSGQ ? CHAT_MSGQ_TEXT : CHAT_UDP_MAX;
	size_t len, used;
	char *p, *nl;
	int cut;

	while (pc->ilen > 0) {
		p = pc->ibuf + pc->ioff;
		nl = memchr(p, '\n', pc->ilen);
		if (pc->discarding) {
			used = nl != NULL ? (size_t)(nl - p) + 1 : pc->ilen;
			pc->discarding = nl == NULL;
			pc->ioff += used;
			pc->ilen -= used;
			continue;
		}
		if (nl != NULL)
			len = (size_t)(nl - p);
		else if (pc->ilen > cap || pc->in_eof)
			len = pc->ilen;
		else
			break;
		cut = len > cap;
		if (pvchat_send_line(pc, p, cut ? cap : len, cut) == 1)
			return 1;
		if (pc->eof_sent)	/* the queue went away */
			return 0;
		used = nl != NULL ? len + 1 : len;
		pc->discarding = cut && nl == NULL;
		pc->ioff += used;
		pc->ilen -= used;
	}
	if (pc->ilen == 0)
		pc->ioff = 0;
	return 0;
}

/* Writes what waits for a stream hub (tcp, fifo), as much as it takes. */
static void
pvchat_stream_flush(struct pvchat *pc)
{
	ssize_t w;

	while (pc->ilen > 0) {
		w = write(pc->hub_out, pc->ibuf + pc->ioff, pc->ilen);
		if (w >= 0) {
			pc->ioff += (size_t)w;
			pc->ilen -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return;
		if (errno == EPIPE || errno == ECONNRESET) {
			/* The hub stopped reading; its last lines follow. */
			pvchat_stop_sending(pc);
			return;
		}
		pvchat_fail(pc, "write: %s", strerror(errno));
	}
	pc->ioff = 0;
}

/* Tells the hub that no more lines will come. */
static void
pvchat_send_eof(struct pvchat *pc)
{
	int r;

	switch (pc->kind) {
	case PVCHAT_TCP:
		/* Half-close: the hub sees end of file and says "quit". */
		(void)shutdown(pc->hub_out, SHUT_WR);
		break;
	case PVCHAT_FIFO:
		close(pc->hub_out);
		pc->hub_out = -1;
		break;
	case PVCHAT_MSGQ:
		if ((r = pvchat_msgq_send(pc, 'X', NULL, 0)) == 1) {
			pc->blocked = 1;
			return;
		}
		if (r == -1) {
			pvchat_msgq_lost(pc);
			return;
		}
		pc->x_sent = 1;
		break;
	case PVCHAT_UDP:
		/* The hub does not know us: nothing to wait for. */
		if (pc->lines_sent == 0)
			pvchat_done(pc);
		/* UDP has no end of file: "quit" is the way to leave. */
		if (!pc->quit_sent)
			pvchat_udp_send(pc, "quit", 4);
		break;
	}
	pc->eof_sent = 1;
	pvchat_linger(pc);
}

/* Sends whatever waits for the hub, and the end of input once due. */
static void
pvchat_pump(struct pvchat *pc)
{
	int r;

	if (pc->eof_sent)
		return;
	pc->blocked = 0;
	switch (pc->kind) {
	case PVCHAT_TCP:
	case PVCHAT_FIFO:
		pvchat_stream_flush(pc);
		break;
	case PVCHAT_MSGQ:
		if (pc->need_c) {
			if ((r = pvchat_msgq_send(pc, 'C', NULL, 0)) == 1) {
				pc->blocked = 1;
				return;
			}
			if (r == -1) {
				pvchat_msgq_lost(pc);
				return;
			}
			pc->need_c = 0;
		}
		/* FALLTHROUGH */
	case PVCHAT_UDP:
		if (pvchat_lines(pc) == 1) {
			pc->blocked = 1;
			return;
		}
		break;
	}
	if (pc->in_eof && !pc->eof_sent && pc->ilen == 0)
		pvchat_send_eof(pc);
}

/* Reads standard input into ibuf, for pvchat_pump to send. */
static void
pvchat_from_stdin(struct pvchat *pc)
{
	ssize_t n;

	if (pc->ioff > 0) {
		memmove(pc->ibuf, pc->ibuf + pc->ioff, pc->ilen);
		pc->ioff = 0;
	}
	/*
	 * In the armed window: a ^C while the terminal read blocks ends it.
	 * A signal just after the read returned loses what it read; that is
	 * a line being abandoned by ^C, or input of a session that is
	 * being ended.
	 */
	n = pv_sig_read(STDIN_FILENO, pc->ibuf + pc->ilen,
	    pc->isize - pc->ilen);
	if (n == -1) {
		if (errno == EINTR)
			return;		/* the next wait takes the signal */
		err(1, "stdin");
	}
	if (n == 0) {
		pvchat_input_end(pc);
		return;
	}
	if (pc->tty) {
		pc->ctrlc = 0;
		/* Enter moved the cursor off the prompt's line. */
		if (pc->ibuf[pc->ilen + (size_t)n - 1] == '\n')
			pc->prompt_shown = 0;
	}
	pc->ilen += (size_t)n;
}

/* The msgq receiver ended: the hub closed us, or the queue failed. */
static void __attribute__((noreturn))
pvchat_receiver_ended(struct pvchat *pc)
{
	int status;

	while (waitpid(pc->receiver, &status, 0) == -1)
		if (errno != EINTR)
			pvchat_fail(pc, "waitpid: %s", strerror(errno));
	pc->receiver = -1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		pvchat_done(pc);
	pc->gone = 1;		/* no 'X' into a queue that failed */
	if (WIFEXITED(status))
		pvchat_fail(pc, "msgrcv: %s", strerror(WEXITSTATUS(status)));
	pvchat_fail(pc, "the message receiver died of SIG%s",
	    pv_signal_name(WTERMSIG(status)));
}

/* Reads the hub's output (a stream: socket, FIFO, receiver's pipe). */
static void
pvchat_stream_read(struct pvchat *pc)
{
	ssize_t n;

	n = read(pc->hub_in, pc->hbuf, PVCHAT_BUFSIZE);
	if (n > 0) {
		pvchat_show(pc, pc->hbuf, (size_t)n);
		return;
	}
	if (n == 0) {
		if (pc->kind == PVCHAT_MSGQ)
			pvchat_receiver_ended(pc);
		pvchat_done(pc);
	}
	if (errno == EINTR || errno == EAGAIN)
		return;
	if (errno == ECONNRESET)
		pvchat_fail(pc, "connection reset by the hub");
	pvchat_fail(pc, "read: %s", strerror(errno));
}

/* Reads the datagrams that came from the hub, a line each. */
static void
pvchat_udp_read(struct pvchat *pc)
{
	ssize_t n;
	size_t len;
	int i;

	for (i = 0; i < PVCHAT_DGRAM_BURST; i++) {
		n = recv(pc->hub_in, pc->dgram, PVCHAT_DGRAM_MAX,
		    MSG_DONTWAIT | MSG_TRUNC);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				pvchat_refused(pc);
			pvchat_fail(pc, "recv: %s", strerror(errno));
		}
		/* An empty datagram: the hub closed us. */
		if (n == 0)
			pvchat_done(pc);
		pc->heard = 1;
		len = (size_t)n < PVCHAT_DGRAM_MAX ? (size_t)n :
		    PVCHAT_DGRAM_MAX;
		if (pc->dgram[len - 1] == '\n')
			len--;
		pc->dgram[len] = '\n';
		pvchat_show(pc, pc->dgram, len + 1);
	}
}

/* The timers of a round: msgq liveness, UDP keepalive. */
static void
pvchat_timers(struct pvchat *pc, const struct timespec *now)
{
	struct timespec due;

	if (pc->kind == PVCHAT_MSGQ) {
		if (pc->gone && pv_ts_cmp(*now, pc->gone_until) >= 0)
			pvchat_fail(pc, "the hub is gone");
		if (!pc->gone && pv_ts_cmp(*now, pc->next_alive) >= 0) {
			pc->next_alive = pvchat_after(now, PVCHAT_ALIVE_MS);
			/*
			 * EPERM is another user's process on a reused pid.
			 * A hub that closed us and exited has sent 'X': give
			 * the receiver a moment to pass it on.
			 */
			if (kill(pc->hub_pid, 0) == -1) {
				pc->gone = 1;
				pc->gone_until = pvchat_after(now,
				    PVCHAT_GONE_MS);
			}
		}
	}
	if (pc->kind == PVCHAT_UDP) {
		due = pvchat_after(&pc->last_send, PVCHAT_KEEPALIVE_MS);
		if (pv_ts_cmp(*now, due) >= 0)
			pvchat_udp_send(pc, "", 0);
	}
}

/* Draws the prompt when the terminal waits for a line. */
static void
pvchat_prompt(struct pvchat *pc)
{
	if (!pc->prompt || pc->prompt_shown || !pc->at_bol || pc->in_eof)
		return;
	(void)pv_write_all(STDERR_FILENO, PVCHAT_PROMPT,
	    sizeof(PVCHAT_PROMPT) - 1);
	pc->prompt_shown = 1;
}

/* The session: rounds of one poll until the hub closes or we fail. */
static void __attribute__((noreturn))
pvchat_run(struct pvchat *pc)
{
	struct pollfd pfd[3];
	struct timespec now, t;
	int ms, n;

	for (;;) {
		pv_now(&now);
		pvchat_timers(pc, &now);
		pvchat_pump(pc);

		/* 0: the hub's output, 1: standard input, 2: the hub. */
		pfd[0].fd = pc->hub_in;
		pfd[0].events = POLLIN;
		pfd[1].fd = -1;
		if (!pc->in_eof && !pc->blocked && pc->ilen < pc->isize)
			pfd[1].fd = STDIN_FILENO;
		pfd[1].events = POLLIN;
		pfd[2].fd = -1;
		if ((pc->kind == PVCHAT_TCP || pc->kind == PVCHAT_FIFO) &&
		    pc->ilen > 0 && !pc->eof_sent)
			pfd[2].fd = pc->hub_out;
		pfd[2].events = POLLOUT;

		ms = -1;
		if (pc->lingering)
			pvchat_min_ms(&ms, &now, &pc->linger_until);
		if (pc->kind == PVCHAT_MSGQ)
			pvchat_min_ms(&ms, &now, pc->gone ? &pc->gone_until :
			    &pc->next_alive);
		if (pc->blocked && (ms == -1 || ms > PVCHAT_RETRY_MS))
			ms = PVCHAT_RETRY_MS;
		if (pc->kind == PVCHAT_UDP) {
			t = pvchat_after(&pc->last_send, PVCHAT_KEEPALIVE_MS);
			pvchat_min_ms(&ms, &now, &t);
		}

		/* Nothing may wait in the buffer while we sleep. */
		if (pv_out_flush(pc->out) == -1)
			err(1, "stdout");
		pvchat_prompt(pc);
		n = pvchat_wait(pfd, 3, ms);
		if (n == -1) {
			if (errno != EINTR)
				err(1, "poll");
			pvchat_signals(pc);
			continue;
		}
		if (pfd[0].revents != 0) {
			if (pc->kind == PVCHAT_UDP)
				pvchat_udp_read(pc);
			else
				pvchat_stream_read(pc);
		} else if (pc->lingering) {
			/* Checked only when the hub had nothing to say. */
			pv_now(&now);
			if (pv_ts_cmp(now, pc->linger_until) >= 0)
				pvchat_fail(pc, "the hub did not close the "
				    "connection within %s", pc->timeout_str);
		}
		/* pfd[2]: the next round's pump writes. */
		if (pfd[1].revents != 0)
			pvchat_from_stdin(pc);
	}
}

/* Reports why no connection could be made, and exits 1. */
static void __attribute__((noreturn))
pvchat_unreachable(struct pvchat *pc, int e)
{
	if (e == ECONNREFUSED)
		pvchat_fail(pc, "no hub is listening");
	if (e == ETIMEDOUT)
		pvchat_fail(pc, "no answer from the hub");
	pvchat_fail(pc, "connect: %s", strerror(e));
}

/* Waits until fd is writable or deadline passes; 0 when writable. */
static int
pvchat_wait_out(struct pvchat *pc, int fd, const struct timespec *deadline)
{
	struct pollfd pfd;
	struct timespec now;
	int r;

	for (;;) {
		pv_now(&now);
		if (pv_ts_cmp(now, *deadline) >= 0)
			return -1;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		r = pvchat_wait(&pfd, 1, pvchat_ms_until(&now, deadline));
		if (r == -1 && errno == EINTR) {
			pvchat_signals(pc);
			continue;
		}
		if (r == -1)
			err(1, "poll");
		if (r > 0)
			return 0;
	}
}

/* Connects to the first address of res that answers, under --timeout. */
static void
pvchat_tcp_connect(struct pvchat *pc, const struct addrinfo *res)
{
	const struct addrinfo *ai;
	struct timespec now, deadline;
	socklen_t len;
	int fd = -1, e = ECONNREFUSED, soerr, one = 1;

	pv_now(&now);
	deadline = pv_ts_add(now, pc->timeout);
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		/* EINTR: the connection goes on in the background. */
		if (errno == EINPROGRESS || errno == EINTR) {
			if (pvchat_wait_out(pc, fd, &deadline) == -1) {
				e = ETIMEDOUT;
				close(fd);
				fd = -1;
				break;
			}
			len = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &len) == -1)
				soerr = errno;
			if (soerr == 0)
				break;
			errno = soerr;
		}
		e = errno;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		pvchat_unreachable(pc, e);
	/* A line typed is a line sent: no waiting to fill a segment. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	pc->hub_in = pc->hub_out = fd;
}

/*
 * Makes the UDP socket, connected to the hub.  Of several addresses
 * (localhost: ::1 and 127.0.0.1), each but the last is probed with a
 * keepalive, and one that refuses it at once is passed over.  The last
 * is taken as it is: the loop reports a refusal as "no hub".
 */
static void
pvchat_udp_connect(struct pvchat *pc, const struct addrinfo *res)
{
	const struct addrinfo *ai;
	struct pollfd pfd;
	char c;
	int fd = -1, e = ECONNREFUSED, r;

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
		    ai->ai_protocol);
		if (fd == -1) {
			e = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
		    send(fd, "", 0, 0) == -1) {
			e = errno;
			close(fd);
			fd = -1;
			continue;
		}
		if (ai->ai_next == NULL)
			break;
		pfd.fd = fd;
		pfd.events = POLLIN;
		while ((r = pvchat_wait(&pfd, 1, PVCHAT_PROBE_MS)) == -1 &&
		    errno == EINTR)
			pvchat_signals(pc);
		if (r == -1)
			err(1, "poll");
		if (r == 0 || recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) != -1 ||
		    errno != ECONNREFUSED)
			break;
		e = ECONNREFUSED;
		close(fd);
		fd = -1;
	}
	if (fd == -1)
		pvchat_unreachable(pc, e);
	pv_now(&pc->last_send);
	pc->hub_in = pc->hub_out = fd;
}

/* Makes one of our FIFOs, mode 0600 whatever the umask. */
static void
pvchat_fifo_make(struct pvchat *pc, const char *path)
{
	pc->fifos_made = 1;
	if (mkfifo(path, 0600) == -1) {
		/* Only a dead process with our pid can have left it. */
		if (errno != EEXIST || unlink(path) == -1 ||
		    mkfifo(path, 0600) == -1)
			pvchat_fail(pc, "%s: %s", path, strerror(errno));
	}
	if (chmod(path, 0600) == -1)
		pvchat_fail(pc, "%s: %s", path, strerror(errno));
}

/*
 * The FIFO handshake of chat.h.  The lobby is opened first, before any
 * FIFO is made, so that with no hub pvchat fails at once and leaves
 * nothing behind; the hub sees the same steps in the same order.
 */
static void
pvchat_fifo_connect(struct pvchat *pc)
{
	char lobby[PATH_MAX], hello[32];
	struct pvchat_open o;
	struct itimerval it;
	struct timespec now, deadline;
	struct stat st;
	long pid = (long)getpid();
	ssize_t w;
	int lfd, fd, len, ms, e;

	if ((size_t)snprintf(lobby, sizeof(lobby), "%s/%s", pc->path,
	    CHAT_FIFO_LOBBY) >= sizeof(lobby) ||
	    (size_t)snprintf(pc->c2s, sizeof(pc->c2s), "%s/%ld.%s", pc->path,
	    pid, CHAT_FIFO_C2S) >= sizeof(pc->c2s) ||
	    (size_t)snprintf(pc->s2c, sizeof(pc->s2c), "%s/%ld.%s", pc->path,
	    pid, CHAT_FIFO_S2C) >= sizeof(pc->s2c))
		pvchat_fail(pc, "path too long");
	/* Non-blocking: with nobody reading the lobby, ENXIO at once. */
	if ((lfd = open(lobby, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) == -1) {
		if (errno == ENXIO || errno == ENOENT)
			pvchat_fail(pc, "no hub is listening");
		pvchat_fail(pc, "%s: %s", lobby, strerror(errno));
	}
	if (fstat(lfd, &st) == -1 || !S_ISFIFO(st.st_mode))
		pvchat_fail(pc, "%s: not a FIFO", lobby);

	pvchat_fifo_make(pc, pc->s2c);
	pvchat_fifo_make(pc, pc->c2s);
	/* Ours to read first, so the worker's non-blocking open finds us. */
	pc->hub_in = open(pc->s2c, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (pc->hub_in == -1)
		pvchat_fail(pc, "%s: %s", pc->s2c, strerror(errno));

	pv_now(&now);
	deadline = pvchat_after(&now, CHAT_FIFO_TIMEOUT_MS);
	/* One write far below PIPE_BUF: never mixed with another's. */
	len = snprintf(hello, sizeof(hello), "%ld\n", pid);
	while ((w = write(lfd, hello, (size_t)len)) != len) {
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN) {
			if (pvchat_wait_out(pc, lfd, &deadline) == -1)
				pvchat_fail(pc, "no answer from the hub");
			continue;
		}
		if (w == -1 && errno == EPIPE)
			pvchat_fail(pc, "no hub is listening");
		pvchat_fail(pc, "%s: %s", lobby, w == -1 ? strerror(errno) :
		    "short write");
	}
	close(lfd);

	/*
	 * The rendezvous: open(2) of c2s blocks until the worker opens its
	 * end.  It runs alone in the armed window, timed by SIGALRM; the
	 * handler's jump abandons the open and nothing else.
	 */
	o.path = pc->c2s;
	o.flags = O_WRONLY | O_CLOEXEC;
	for (;;) {
		pv_now(&now);
		if ((ms = pvchat_ms_until(&now, &deadline)) <= 0)
			pvchat_fail(pc, "no answer from the hub");
		memset(&it, 0, sizeof(it));
		it.it_value.tv_sec = ms / 1000;
		it.it_value.tv_usec = (ms % 1000) * 1000;
		if (setitimer(ITIMER_REAL, &it, NULL) == -1)
			err(1, "setitimer");
		fd = (int)pv_sig_window(pvchat_open_call, &o);
		e = errno;
		memset(&it, 0, sizeof(it));
		(void)setitimer(ITIMER_REAL, &it, NULL);
		if (fd != -1)
			break;
		/* XXX: a worker that unlinks c2s before our open. */
		if (e == ENOENT)
			pvchat_fail(pc, "%s vanished during the handshake",
			    pc->c2s);
		if (e != EINTR)
			pvchat_fail(pc, "%s: %s", pc->c2s, strerror(e));
		pvchat_signals(pc);	/* SIGALRM: the deadline, above */
	}
	pc->hub_out = fd;
	if ((e = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, e | O_NONBLOCK) == -1)
		err(1, "fcntl");
	/* Both ends are open on both sides: the names have done their job. */
	(void)unlink(pc->c2s);
	(void)unlink(pc->s2c);
	pc->fifos_made = 0;
}

/*
 * The msgq receiver, a child: takes the hub's messages for parent off the
 * queue and writes each line, LF added, into fd.  Exits 0 on 'X' or when
 * the queue is removed, errno when msgrcv fails otherwise; never outlives
 * the parent.  Every signal stays blocked: only SIGKILL ends it.
 */
static void __attribute__((noreturn))
pvchat_receiver(int msqid, pid_t parent, int fd)
{
	struct chat_msg m;
	char line[CHAT_MSGQ_TEXT + 1];
	ssize_t n;
	size_t len;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(0);
	for (;;) {
		n = msgrcv(msqid, &m, CHAT_MSGQ_SIZE(CHAT_MSGQ_TEXT),
		    (long)parent, MSG_NOERROR);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			_exit(errno == EIDRM || errno == EINVAL ? 0 : errno);
		}
		if ((size_t)n < CHAT_MSGQ_SIZE(0))
			continue;
		if (m.kind == 'X')
			_exit(0);
		if (m.kind != 'D')
			continue;
		len = (size_t)n - CHAT_MSGQ_SIZE(0);
		memcpy(line, m.text, len);
		line[len] = '\n';
		if (pv_write_all(fd, line, len + 1) == -1)
			_exit(0);	/* the parent has gone */
	}
}

/* Finds the hub's queue and starts the receiver; 'C' goes out first. */
static void
pvchat_msgq_connect(struct pvchat *pc)
{
	char buf[32];
	const char *errstr;
	sigset_t all, saved;
	long long pid;
	ssize_t n;
	key_t key;
	int fd, p[2], e;

	if ((fd = open(pc->path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			pvchat_fail(pc, "no hub is listening");
		pvchat_fail(pc, "%s: %s", pc->path, strerror(errno));
	}
	n = pv_read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n == -1)
		pvchat_fail(pc, "%s: %s", pc->path, strerror(errno));
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	/* Empty: a hub starting, or one that died before writing it. */
	if (n == 0 || buf[0] == '\0')
		pvchat_fail(pc, "no hub is listening");
	pid = strtonum(buf, 1, INT_MAX, &errstr);
	if (errstr != NULL)
		pvchat_fail(pc, "%s: not a hub's pid file", pc->path);
	pc->hub_pid = (pid_t)pid;
	/* A queue left by a hub that was killed: nobody would answer. */
	if (kill(pc->hub_pid, 0) == -1)
		pvchat_fail(pc, "no hub is listening");
	if ((key = ftok(pc->path, CHAT_MSGQ_PROJ)) == -1)
		pvchat_fail(pc, "ftok: %s", strerror(errno));
	if ((pc->msqid = msgget(key, 0)) == -1) {
		if (errno == ENOENT)
			pvchat_fail(pc, "no hub is listening");
		pvchat_fail(pc, "msgget: %s", strerror(errno));
	}
	pc->self = getpid();
	if (pipe2(p, O_CLOEXEC) == -1)
		err(1, "pipe");
	/* Every signal blocked across fork; the child keeps them so. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &saved);
	pc->receiver = fork();
	if (pc->receiver == 0) {
		close(p[0]);
		pvchat_receiver(pc->msqid, pc->self, p[1]);
	}
	e = errno;
	sigprocmask(SIG_SETMASK, &saved, NULL);
	if (pc->receiver == -1)
		pvchat_fail(pc, "fork: %s", strerror(e));
	close(p[1]);
	pc->hub_in = p[0];
	pc->need_c = 1;
	pv_now(&pc->next_alive);
	pc->next_alive = pvchat_after(&pc->next_alive, PVCHAT_ALIVE_MS);
}

/* Splits "HOST:PORT" or "[V6ADDR]:PORT" (s is modified).  0 or -1. */
static int
pvchat_parse_hostport(struct pvchat *pc, char *s)
{
	const char *errstr;
	char *colon, *end;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -1;
		*end = '\0';
		pc->host = s + 1;
		colon = end + 1;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		*colon = '\0';
		pc->host = s;
		/* An IPv6 address needs its brackets. */
		if (strchr(s, ':') != NULL)
			return -1;
	}
	pc->port = colon + 1;
	if (*pc->host == '\0')
		return -1;
	(void)strtonum(pc->port, 1, 65535, &errstr);
	return errstr == NULL ? 0 : -1;
}

/* Parses TARGET into pc; a usage error if it is malformed. */
static void
pvchat_parse_target(struct pvchat *pc, const char *target)
{
	char *s;
	int r;

	if ((s = pc->spec = strdup(target)) == NULL)
		err(1, "strdup");
	pc->target = target;
	if (strncmp(s, "fifo:", 5) == 0) {
		pc->kind = PVCHAT_FIFO;
		pc->path = s + 5;
		r = *pc->path != '\0' ? 0 : -1;
	} else if (strncmp(s, "msgq:", 5) == 0) {
		pc->kind = PVCHAT_MSGQ;
		pc->path = s + 5;
		r = *pc->path != '\0' ? 0 : -1;
	} else if (strncmp(s, "udp:", 4) == 0) {
		pc->kind = PVCHAT_UDP;
		r = pvchat_parse_hostport(pc, s + 4);
	} else {
		pc->kind = PVCHAT_TCP;
		r = pvchat_parse_hostport(pc, strncmp(s, "tcp:", 4) == 0 ?
		    s + 4 : s);
	}
	if (r == -1) {
		warnx("bad target: %s", target);
		usage(2);
	}
}

/* Resolves HOST:PORT for tcp and udp; the caller frees *res. */
static void
pvchat_resolve(struct pvchat *pc, struct addrinfo **res)
{
	struct addrinfo hints;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = pc->kind == PVCHAT_UDP ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((e = getaddrinfo(pc->host, pc->port, &hints, res)) != 0)
		pvchat_fail(pc, "%s: %s", pc->host, e == EAI_SYSTEM ?
		    strerror(errno) : gai_strerror(e));
}

/* Parses the options, connects, and chats until the hub closes. */
int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "timeout",	required_argument,	NULL,	't' },
		{ "version",	no_argument,		NULL,	'V' },
		{ NULL,		0,			NULL,	0 }
	};
	static struct pvchat pc;
	struct addrinfo *res = NULL;
	const char *term;
	int ch;

	pc.hub_in = pc.hub_out = pc.msqid = -1;
	pc.receiver = -1;
	pc.at_bol = 1;
	pc.timeout_str = PVCHAT_TIMEOUT;
	if (pv_duration_parse(PVCHAT_TIMEOUT, &pc.timeout) == -1)
		err(1, "%s", PVCHAT_TIMEOUT);
	/* getopt's own messages name the program by argv[0]; keep it short. */
	argv[0] = program_invocation_short_name;
	while ((ch = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 't':
			if (pv_duration_parse(optarg, &pc.timeout) == -1 ||
			    pv_ts_to_ms_ceil(pc.timeout) == 0) {
				warnx("bad timeout: %s", optarg);
				usage(2);
			}
			pc.timeout_str = optarg;
			break;
		case 'V':
			printf("pvchat %s\n", PV_VERSION);
			if (fflush(stdout) == EOF)
				err(1, "stdout");
			return 0;
		default:
			usage(2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		warnx("target is missing");
		usage(2);
	}
	if (argc > 1) {
		warnx("unexpected argument: %s", argv[1]);
		usage(2);
	}
	pvchat_parse_target(&pc, argv[0]);

	if (filter_guard_stdio() == -1)
		err(1, "/dev/null");
	if (pv_stderr_lines() == -1)
		err(1, "stderr");
	/* Before any signal is caught: ^C still ends a slow DNS lookup. */
	if (pc.kind == PVCHAT_TCP || pc.kind == PVCHAT_UDP)
		pvchat_resolve(&pc, &res);
	if (pv_sig_init() == -1 || filter_catch(SIGINT) == -1 ||
	    filter_catch(SIGTERM) == -1 || filter_catch(SIGHUP) == -1 ||
	    pv_sig_catch(SIGALRM) == -1)
		err(1, "signals");

	pc.isize = pc.kind == PVCHAT_TCP || pc.kind == PVCHAT_FIFO ?
	    PVCHAT_BUFSIZE : PVCHAT_BUFSIZE + CHAT_UDP_MAX + 1;
	if ((pc.ibuf = malloc(pc.isize)) == NULL ||
	    (pc.hbuf = malloc(PVCHAT_BUFSIZE)) == NULL ||
	    (pc.out = pv_out_new(STDOUT_FILENO, PVCHAT_BUFSIZE)) == NULL)
		err(1, "malloc");
	if (pc.kind == PVCHAT_UDP &&
	    (pc.dgram = malloc(PVCHAT_DGRAM_MAX + 1)) == NULL)
		err(1, "malloc");
	pc.tty = isatty(STDIN_FILENO);
	pc.prompt = pc.tty && isatty(STDERR_FILENO);
	term = getenv("TERM");
	pc.erase = term == NULL || *term == '\0' || strcmp(term, "dumb") == 0 ?
	    "\n" : "\r\033[K";

	pvchat_self = &pc;
	if (atexit(pvchat_cleanup) != 0)
		err(1, "atexit");
	switch (pc.kind) {
	case PVCHAT_TCP:
		pvchat_tcp_connect(&pc, res);
		break;
	case PVCHAT_UDP:
		pvchat_udp_connect(&pc, res);
		break;
	case PVCHAT_FIFO:
		pvchat_fifo_connect(&pc);
		break;
	case PVCHAT_MSGQ:
		pvchat_msgq_connect(&pc);
		break;
	}
	if (res != NULL)
		freeaddrinfo(res);
	pc.connected = 1;
	pvchat_run(&pc);
}
