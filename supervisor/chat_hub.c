/*
 * chat_hub.c: the hub's clients and routing (DESIGN.md section 6).
 *
 * Each client has a forked worker (chat_worker.c) and two pipes: the
 * worker sends one line per command ("S 1 hi"), the hub answers with the
 * bytes the client must read.  The hub formats a delivery once and
 * appends it to every member's queue; the queues are written out when
 * the loop round ends (hub_flush), before the next wait, so one write
 * carries every line a client got in that round.
 *
 * Flow control.  The pipes to workers are non-blocking and every queue is
 * bounded.  A queue past --queue bytes means that client is behind: the
 * hub then stops reading every sender (each is "parked" when it next has
 * something to say, so nothing is done for the quiet ones) until the
 * queue is back under half, so a burst slows its senders instead of
 * overflowing readers that are merely waiting for a CPU.  A client still
 * behind after CHAT_STALL_MS does not read: it is dropped and its worker
 * killed, and the room goes on (RELIABILITY.md item 29); so is one whose
 * queue passes HUB_HARD times the bound at once.
 *
 * A client leaves the room as soon as it quits, its worker reports it
 * gone, or its worker dies; its peers see "* NAME quit" once each.  The
 * hub closes its pipe to the worker once the last bytes are written, and
 * SIGKILLs the worker's process group (its filters too) if it lingers.
 *
 * No signal handler here: signals reach the hub through pv_loop
 * (pipevisor_chat.c).  SIGPIPE is ignored (pv_sig_init), so a dead
 * worker is an EPIPE.
 */
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

#define HUB_READ	16384		/* worker messages per read */
#define HUB_HARD	4		/* times --queue: dropped at once */
#define HUB_LINGER_S	5		/* a closed worker's time to finish */
#define HUB_LINE	(PV_VIS_SIZE(CHAT_LINE_LIMIT) + 2 * CHAT_NAME_MAX + 16)
#define HUB_QUEUE_MIN	1024		/* a queue's first buffer */
#define HUB_QUEUE_KEEP	4096		/* a drained queue keeps this much */
#define HUB_TRIM_BYTES	(256 * 1024)	/* freed queue bytes worth a trim */
#define HUB_TRIM_MS	200		/* then trimmed this much later */

static void	hub_on_from_worker(struct pv_loop *, int, unsigned, void *);
static void	hub_on_to_worker(struct pv_loop *, int, unsigned, void *);
static void	hub_on_in_worker(struct pv_loop *, int, unsigned, void *);
static void	hub_client_free(struct chat_client *);

/* Returns now + d on the monotonic clock. */
struct timespec
hub_after(const struct timespec *d)
{
	struct timespec now;

	pv_now(&now);
	return pv_ts_add(now, *d);
}

/* Appends n bytes to q, growing it.  0, or -1 with errno ENOMEM. */
static int
queue_add(struct chat_queue *q, const char *buf, size_t n)
{
	size_t cap;
	char *p;

	if (q->off > 0 && q->len + n > q->cap) {
		memmove(q->buf, q->buf + q->off, q->len - q->off);
		q->len -= q->off;
		q->off = 0;
	}
	if (q->len + n > q->cap) {
		cap = q->cap ? q->cap : HUB_QUEUE_MIN;
		while (cap < q->len + n)
			cap *= 2;
		if ((p = realloc(q->buf, cap)) == NULL)
			return -1;
		q->buf = p;
		q->cap = cap;
	}
	memcpy(q->buf + q->len, buf, n);
	q->len += n;
	return 0;
}

static void	hub_trim_soon(struct chat_hub *, size_t);

/* Frees q's memory, counting a grown queue towards a trim. */
static void
queue_free(struct chat_hub *hub, struct chat_queue *q)
{
	if (q->cap > HUB_QUEUE_KEEP)
		hub_trim_soon(hub, q->cap);
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

/*
 * Writes what q holds, at most max bytes, to the non-blocking fd, a
 * socket if sock is set.  Returns 0 when empty, 1 when the pipe or
 * socket is full, 2 when max bytes went and more are left, -1 with errno
 * when the reader is gone.  A queue that grew past a page for a burst is
 * freed once drained, and the hub counts the bytes towards giving its
 * heap back.
 */
static int
queue_write_max(struct chat_hub *hub, struct chat_queue *q, int fd,
    int sock, size_t max)
{
	size_t len;
	ssize_t n;

	while (q->off < q->len) {
		if (max == 0)
			return 2;
		len = q->len - q->off < max ? q->len - q->off : max;
		/*
		 * send(2) goes to the socket layer straight; write(2) passes
		 * the file layer first, some 6 % of the hub's time when it
		 * writes one line to each of many sockets.
		 */
		n = sock ? send(fd, q->buf + q->off, len, MSG_NOSIGNAL) :
		    write(fd, q->buf + q->off, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : -1;
		}
		q->off += (size_t)n;
		max -= (size_t)n;
	}
	q->off = q->len = 0;
	if (q->cap > HUB_QUEUE_KEEP)
		queue_free(hub, q);
	return 0;
}

/* Writes all q holds to fd; returns as queue_write_max, never 2. */
static int
queue_write(struct chat_hub *hub, struct chat_queue *q, int fd, int sock)
{
	return queue_write_max(hub, q, fd, sock, SIZE_MAX);
}

/* The fd c's output goes to now (enum chat_output in chat.h). */
static int
hub_out_fd(const struct chat_client *c)
{
	return c->out == CHAT_OUT_DIRECT ? c->sock : c->to_w;
}

/*
 * Writes c's queue toward its client: into its worker's pipe, or, once
 * the worker handed the output over, into the socket.  While the hand-over
 * is on its way, only the bytes up to the welcome go into the pipe: the
 * rest waits (2), so that nothing the hub writes to the socket can pass
 * what the worker still has to forward.  Returns as queue_write_max.
 */
static int
hub_write_out(struct chat_client *c)
{
	struct chat_queue *q = &c->q;
	size_t before;
	int r;

	if (c->out != CHAT_OUT_HANDING)
		return queue_write(c->hub, q, hub_out_fd(c),
		    c->out == CHAT_OUT_DIRECT);
	before = q->len - q->off;
	r = queue_write_max(c->hub, q, c->to_w, 0, c->piped);
	c->piped -= before - (q->len - q->off);
	return r;
}

/* Waits for room on fd for c's output, or on nothing (fd -1). */
static void
hub_watch(struct chat_client *c, int fd)
{
	if (fd == c->watch_fd)
		return;
	if (c->watch_fd >= 0)
		pv_loop_del_fd(c->hub->loop, c->watch_fd);
	c->watch_fd = -1;
	if (fd >= 0 && pv_loop_add_fd(c->hub->loop, fd, PV_WRITE,
	    hub_on_to_worker, c) == 0)
		c->watch_fd = fd;
}

/*
 * Gives the heap's free pages back to the kernel (malloc_trim), a while
 * after bursts freed enough queue memory.  free() alone keeps the pages of
 * a chunk inside the heap resident: after one burst to 500 clients, their
 * queues stayed 64 KiB each of the hub's memory.
 */
static void
hub_on_trim_timer(struct pv_loop *loop, void *arg)
{
	struct chat_hub *hub = arg;

	(void)loop;
	hub->trim_timer = NULL;
	hub->freed = 0;
	malloc_trim(0);
}

/* Counts n freed bytes; arms the trim once they are worth it. */
static void
hub_trim_soon(struct chat_hub *hub, size_t n)
{
	struct timespec d = { 0, HUB_TRIM_MS * 1000000L }, when;

	hub->freed += n;
	if (hub->freed < HUB_TRIM_BYTES || hub->trim_timer != NULL)
		return;
	when = hub_after(&d);
	hub->trim_timer = pv_loop_add_timer(hub->loop, &when,
	    hub_on_trim_timer, hub);
}

/* Marks c as having bytes to write when the round ends (hub_flush). */
static void
hub_dirty(struct chat_client *c)
{
	if (c->dirty)
		return;
	c->dirty = 1;
	TAILQ_INSERT_TAIL(&c->hub->dirty, c, dirty_entry);
}

/*
 * A client whose queue stayed past --queue for CHAT_STALL_MS does not
 * read: it is dropped, and the room goes on without it.
 */
static void
hub_on_stall(struct pv_loop *loop, void *arg)
{
	struct chat_client *c = arg;

	(void)loop;
	c->stall = NULL;
	c->overflow = 1;
	hub_dirty(c);
}

/* Queues n bytes for c's client; see "Flow control" at the top. */
static void
hub_send(struct chat_client *c, const char *buf, size_t n)
{
	struct chat_hub *hub = c->hub;
	struct timespec d = { 0, CHAT_STALL_MS * 1000000L }, when;
	size_t pending;

	if (c->to_w < 0 || c->closing || c->overflow)
		return;
	pending = c->q.len - c->q.off + n;
	/* Past the bound: the pipe may take some now; count only the rest. */
	if (pending > hub->queue && hub_write_out(c) == 0)
		pending = n;
	if (pending > HUB_HARD * hub->queue || queue_add(&c->q, buf, n) == -1) {
		c->overflow = 1;
	} else if (pending > hub->queue && !c->congested) {
		/* Hold the senders back until it catches up, or drop it. */
		c->congested = 1;
		hub->ncongested++;
		when = hub_after(&d);
		c->stall = pv_loop_add_timer(hub->loop, &when, hub_on_stall, c);
	}
	hub_dirty(c);
}

/* c's queue is back under half the bound: stop holding senders for it. */
static void
hub_decongest(struct chat_client *c)
{
	struct chat_hub *hub = c->hub;
	struct chat_client *p;

	if (!c->congested)
		return;
	c->congested = 0;
	pv_loop_cancel_timer(hub->loop, c->stall);
	c->stall = NULL;
	if (--hub->ncongested > 0)
		return;
	/* Nobody is behind any more: read the parked senders again. */
	while ((p = TAILQ_FIRST(&hub->parked)) != NULL) {
		TAILQ_REMOVE(&hub->parked, p, parked_entry);
		p->parked = 0;
		if (p->from_w >= 0 && pv_loop_add_fd(hub->loop, p->from_w,
		    PV_READ, hub_on_from_worker, p) == -1)
			hub_client_gone(p, "cannot watch its worker", 1);
	}
}

/* Sends c the reply line "+ what" or "- what" or "* what". */
static void
hub_reply(struct chat_client *c, char kind, const char *what)
{
	char line[HUB_LINE];
	size_t n;

	if (kind == '+')
		n = chat_fmt_ok(line, sizeof(line), what);
	else if (kind == '-') {
		n = chat_fmt_err(line, sizeof(line), what);
		c->hub->count.errors++;
	} else
		n = chat_fmt_notice(line, sizeof(line), what);
	if (n > 0)
		hub_send(c, line, n);
}

/* Sends c a reply made with a format. */
static void __attribute__((format(printf, 3, 4)))
hub_replyf(struct chat_client *c, char kind, const char *fmt, ...)
{
	char what[HUB_LINE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	hub_reply(c, kind, what);
}

/* Sends "* what" to every member of g but c. */
static void
hub_notice_group(struct chat_client *c, struct room_group *g,
    const char *what)
{
	struct room_client *const *m;
	char line[HUB_LINE];
	size_t i, n, len;

	if ((len = chat_fmt_notice(line, sizeof(line), what)) == 0)
		return;
	m = room_group_members(g, &n);
	for (i = 0; i < n; i++)
		if (m[i] != c->rc)
			hub_send(room_client_data(m[i]), line, len);
}

/* The line room_each_peer hands out: "* NAME quit". */
struct hub_quit {
	char	line[64 + CHAT_NAME_MAX];
	size_t	len;
};

/* Sends one peer the quit notice. */
static void
hub_quit_peer(struct room_client *peer, void *arg)
{
	struct hub_quit *hq = arg;

	hub_send(room_client_data(peer), hq->line, hq->len);
}

/*
 * SIGKILLs a worker that did not finish after its pipe was closed.
 * Without a pidfd (valgrind) nothing says when a worker ends: this is
 * then the end of the client.
 */
static void
hub_on_linger(struct pv_loop *loop, void *arg)
{
	struct chat_client *c = arg;

	(void)loop;
	c->linger = NULL;
	if (c->pgid > 0)
		killpg(c->pgid, SIGKILL);
	if (c->pidfd < 0)
		hub_client_free(c);
}

/*
 * Closes the hub's pipe to the worker, and its copy of the socket: the
 * worker finishes and exits, and the connection closes with it.
 */
static void
hub_close_to_worker(struct chat_client *c)
{
	struct timespec d = { HUB_LINGER_S, 0 }, when;

	if (c->to_w < 0)
		return;
	hub_decongest(c);
	hub_watch(c, -1);
	close(c->to_w);
	c->to_w = -1;
	if (c->sock >= 0) {
		close(c->sock);
		c->sock = -1;
	}
	queue_free(c->hub, &c->q);
	if (c->linger == NULL) {
		if (c->pidfd < 0)
			d.tv_sec = 1;
		when = hub_after(&d);
		c->linger = pv_loop_add_timer(c->hub->loop, &when,
		    hub_on_linger, c);
	}
}

/* Stops reading a worker's messages. */
static void
hub_close_from_worker(struct chat_client *c)
{
	if (c->from_w < 0)
		return;
	if (c->parked) {
		TAILQ_REMOVE(&c->hub->parked, c, parked_entry);
		c->parked = 0;
	} else
		pv_loop_del_fd(c->hub->loop, c->from_w);
	close(c->from_w);
	c->from_w = -1;
	free(c->carry);
	c->carry = NULL;
	c->carrylen = 0;
}

/* Closes the pipe of a msgq or UDP client's input to its worker. */
static void
hub_close_input(struct chat_client *c)
{
	if (c->in_w < 0)
		return;
	if (c->in_watching)
		pv_loop_del_fd(c->hub->loop, c->in_w);
	c->in_watching = 0;
	close(c->in_w);
	c->in_w = -1;
	queue_free(c->hub, &c->iq);
}

/* Takes c out of the room; see chat.h. */
void
hub_client_gone(struct chat_client *c, const char *reason, int notify)
{
	struct chat_hub *hub = c->hub;
	struct hub_quit hq;
	const char *name;

	if (c->rc == NULL)
		return;
	name = room_client_name(c->rc);
	if (hub->verbose)
		warnx("chat: %s %s gone: %s", c->peer, name ? name : "(no name)",
		    reason);
	if (notify && name != NULL) {
		hq.len = (size_t)snprintf(hq.line, sizeof(hq.line),
		    "* %s quit\n", name);
		room_each_peer(hub->room, c->rc, hub_quit_peer, &hq);
	}
	chat_peers_del(&hub->peers, c);
	room_client_free(hub->room, c->rc);
	c->rc = NULL;
	c->closing = 1;
	/* Not handed over yet: the last lines go the way the first went. */
	if (c->out == CHAT_OUT_HANDING) {
		c->out = CHAT_OUT_WORKER;
		c->piped = 0;
	}
	hub_close_from_worker(c);
	hub_close_input(c);
	/* What is queued still goes out ("+ bye"), then the pipe closes. */
	if (c->q.len == c->q.off || c->overflow)
		hub_close_to_worker(c);
	else
		hub_dirty(c);
}

/* A client too slow to read: dropped now, its worker killed. */
static void
hub_drop(struct chat_client *c)
{
	c->hub->count.dropped++;
	c->overflow = 1;
	hub_client_gone(c, "too slow: its queue is full", 1);
	if (c->pgid > 0)
		killpg(c->pgid, SIGKILL);
	hub_close_to_worker(c);
}

/* Writes every dirty queue out; see chat.h. */
void
hub_flush(struct chat_hub *hub)
{
	struct chat_client *c;
	int r;

	while ((c = TAILQ_FIRST(&hub->dirty)) != NULL) {
		TAILQ_REMOVE(&hub->dirty, c, dirty_entry);
		c->dirty = 0;
		if (c->overflow) {
			if (c->to_w >= 0)
				hub_drop(c);
			continue;
		}
		if (c->to_w < 0)
			continue;
		r = hub_write_out(c);
		if (c->congested && c->q.len - c->q.off <= hub->queue / 2)
			hub_decongest(c);
		hub_watch(c, r == 1 ? hub_out_fd(c) : -1);
		if (r == -1) {
			/* The worker or client is gone; reaping says the rest. */
			hub_client_gone(c, c->out == CHAT_OUT_DIRECT ?
			    "connection lost" : "its worker closed", 1);
			hub_close_to_worker(c);
		} else if (r == 0 && c->closing)
			hub_close_to_worker(c);
	}
}

/* A full pipe to a worker, or a full socket, has room again. */
static void
hub_on_to_worker(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct chat_client *c = arg;

	(void)loop;
	(void)fd;
	(void)events;
	hub_dirty(c);
	hub_flush(c->hub);
}

/* Routes `send GROUP TEXT`: one formatted line to every member. */
static void
hub_route_send(struct chat_client *c, const struct chat_cmd *cmd)
{
	struct chat_hub *hub = c->hub;
	struct room_client *const *m;
	struct room_group *g;
	char line[HUB_LINE];
	size_t i, n, len;

	if ((g = room_group_find(hub->room, cmd->arg)) == NULL ||
	    !room_is_member(g, c->rc)) {
		hub_replyf(c, '-', "not a member of %s", cmd->arg);
		return;
	}
	len = chat_fmt_delivery(line, sizeof(line), room_group_name(g),
	    room_client_name(c->rc), cmd->text, cmd->textlen);
	if (len == 0) {
		hub_reply(c, '-', "line too long");
		return;
	}
	hub->count.messages++;
	m = room_group_members(g, &n);
	for (i = 0; i < n; i++)
		hub_send(room_client_data(m[i]), line, len);
	hub->count.deliveries += n;
}

/* Compares two groups by name, for `list`. */
static int
hub_cmp_groups(const void *a, const void *b)
{
	return chat_name_cmp(room_group_name(*(struct room_group *const *)a),
	    room_group_name(*(struct room_group *const *)b));
}

/* Answers `list`: every group and its member count, in one line. */
static void
hub_list(struct chat_client *c)
{
	struct room_group *const *all;
	struct room_group **sorted;
	struct chat_queue out = { NULL, 0, 0, 0 };
	char item[CHAT_NAME_MAX + 32];
	size_t i, n, members;
	int len;

	all = room_groups(c->hub->room, &n);
	if (n == 0) {
		hub_reply(c, '+', "no groups");
		return;
	}
	if ((sorted = reallocarray(NULL, n, sizeof(*sorted))) == NULL) {
		hub_reply(c, '-', "out of memory");
		return;
	}
	memcpy(sorted, all, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), hub_cmp_groups);
	if (queue_add(&out, "+ groups: ", 10) == -1)
		goto fail;
	for (i = 0; i < n; i++) {
		room_group_members(sorted[i], &members);
		len = snprintf(item, sizeof(item), "%s %s (%zu)",
		    i == 0 ? "" : ",", room_group_name(sorted[i]), members);
		if (queue_add(&out, i == 0 ? item + 1 : item, i == 0 ?
		    (size_t)len - 1 : (size_t)len) == -1)
			goto fail;
	}
	if (queue_add(&out, "\n", 1) == -1)
		goto fail;
	if (out.len > c->hub->queue) {
		hub_reply(c, '-', "too many groups to list");
		goto done;
	}
	hub_send(c, out.buf, out.len);
	goto done;
fail:
	hub_reply(c, '-', "out of memory");
done:
	queue_free(c->hub, &out);
	free(sorted);
}

/* Answers `who GROUP`: its members in order of joining, in one line. */
static void
hub_who(struct chat_client *c, const char *group)
{
	struct room_client *const *m;
	struct room_group *g;
	struct chat_queue out = { NULL, 0, 0, 0 };
	size_t i, n;
	int ok;

	if ((g = room_group_find(c->hub->room, group)) == NULL) {
		hub_replyf(c, '-', "no such group: %s", group);
		return;
	}
	m = room_group_members(g, &n);
	ok = queue_add(&out, "+ members of ", 13) == 0 &&
	    queue_add(&out, room_group_name(g),
	    strlen(room_group_name(g))) == 0 && queue_add(&out, ":", 1) == 0;
	for (i = 0; ok && i < n; i++)
		ok = queue_add(&out, " ", 1) == 0 &&
		    queue_add(&out, room_client_name(m[i]),
		    strlen(room_client_name(m[i]))) == 0;
	if (ok && queue_add(&out, "\n", 1) == 0)
		hub_send(c, out.buf, out.len);
	else
		hub_reply(c, '-', "out of memory");
	queue_free(c->hub, &out);
}

/* Handles one command of a named client. */
static void
hub_command(struct chat_client *c, const struct chat_cmd *cmd)
{
	struct chat_hub *hub = c->hub;
	struct room_client *to;
	struct room_group *g;
	const char *name = room_client_name(c->rc);
	char line[HUB_LINE];
	size_t len;

	switch (cmd->op) {
	case CHAT_OP_JOIN:
		if (room_join(hub->room, c->rc, cmd->arg, hub->max_groups) ==
		    -1) {
			if (errno == EALREADY)
				hub_replyf(c, '-', "already a member of %s",
				    cmd->arg);
			else if (errno == E2BIG)
				hub_replyf(c, '-', "too many groups (max %zu)",
				    hub->max_groups);
			else
				hub_reply(c, '-', "out of memory");
			return;
		}
		g = room_group_find(hub->room, cmd->arg);
		hub_replyf(c, '+', "joined %s", room_group_name(g));
		snprintf(line, sizeof(line), "%s joined %s", name,
		    room_group_name(g));
		hub_notice_group(c, g, line);
		return;
	case CHAT_OP_LEAVE:
		g = room_group_find(hub->room, cmd->arg);
		if (g == NULL || !room_is_member(g, c->rc)) {
			hub_replyf(c, '-', "not a member of %s", cmd->arg);
			return;
		}
		snprintf(line, sizeof(line), "%s left %s", name,
		    room_group_name(g));
		hub_notice_group(c, g, line);
		hub_replyf(c, '+', "left %s", room_group_name(g));
		room_leave(hub->room, c->rc, cmd->arg);
		return;
	case CHAT_OP_SEND:
		hub_route_send(c, cmd);
		return;
	case CHAT_OP_MSG:
		if ((to = room_find(hub->room, cmd->arg)) == NULL) {
			hub_replyf(c, '-', "no such user: %s", cmd->arg);
			return;
		}
		len = chat_fmt_private(line, sizeof(line), name, cmd->text,
		    cmd->textlen);
		if (len == 0) {
			hub_reply(c, '-', "line too long");
			return;
		}
		hub->count.messages++;
		hub->count.deliveries++;
		hub_send(room_client_data(to), line, len);
		hub_replyf(c, '+', "sent to %s", room_client_name(to));
		return;
	case CHAT_OP_LIST:
		hub_list(c);
		return;
	case CHAT_OP_WHO:
		hub_who(c, cmd->arg);
		return;
	case CHAT_OP_HELP:
		hub_reply(c, '+', chat_help_text);
		return;
	case CHAT_OP_PING:
		hub_reply(c, '+', "pong");
		return;
	case CHAT_OP_QUIT:
		hub_reply(c, '+', "bye");
		hub_client_gone(c, "quit", 1);
		return;
	case CHAT_OP_NAME:
		hub_reply(c, '-', "already named");
		return;
	default:
		return;
	}
}

/* Handles one line from c's worker. */
static void
hub_worker_line(struct chat_client *c, char *line, size_t len)
{
	struct chat_cmd cmd;

	if (c->rc == NULL)
		return;		/* gone: what is left in flight is moot */
	if (chat_decode_cmd(line, len, &cmd) == -1) {
		warnx("chat: %s: bad message from its worker", c->peer);
		hub_client_gone(c, "bad worker message", 1);
		return;
	}
	if (cmd.op == CHAT_OP_ERROR) {
		hub_reply(c, '-', cmd.text);
		return;
	}
	if (cmd.op == CHAT_OP_NONE) {
		hub_client_gone(c, cmd.arg != NULL ? cmd.arg : "gone", 1);
		return;
	}
	if (cmd.op == CHAT_OP_HANDOVER) {
		/* Only after the welcome, once all before it went to the pipe. */
		if (c->out != CHAT_OUT_HANDING || c->piped > 0) {
			warnx("chat: %s: bad message from its worker", c->peer);
			hub_client_gone(c, "bad worker message", 1);
			return;
		}
		c->out = CHAT_OUT_DIRECT;
		hub_dirty(c);
		return;
	}
	if (room_client_name(c->rc) == NULL) {
		if (cmd.op != CHAT_OP_NAME) {
			hub_reply(c, '-', "say your name first");
			return;
		}
		if (room_client_set_name(c->hub->room, c->rc, cmd.arg) == -1) {
			if (errno == EEXIST)
				hub_replyf(c, '-', "name taken: %s", cmd.arg);
			else
				hub_reply(c, '-', "out of memory");
			return;
		}
		hub_replyf(c, '+', "welcome %s", cmd.arg);
		if (c->sock >= 0) {
			/* The worker says when the welcome is out. */
			c->out = CHAT_OUT_HANDING;
			c->piped = c->q.len - c->q.off;
		}
		return;
	}
	hub_command(c, &cmd);
}

/* Reads a worker's messages and handles every complete line. */
static void
hub_on_from_worker(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	static char buf[HUB_READ];
	struct chat_client *c = arg;
	char *p, *lf, *end, *line;
	size_t len;
	ssize_t n;

	(void)events;
	/* A hand-over ("O") is never held back: it lets that output go. */
	if (c->hub->ncongested > 0 && c->out != CHAT_OUT_HANDING) {
		/* Someone is behind: this sender waits (see hub_decongest). */
		pv_loop_del_fd(loop, fd);
		c->parked = 1;
		TAILQ_INSERT_TAIL(&c->hub->parked, c, parked_entry);
		return;
	}
	n = read(fd, buf, sizeof(buf));
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return;
		hub_client_gone(c, strerror(errno), 1);
		return;
	}
	if (n == 0) {
		hub_client_gone(c, "its worker ended", 1);
		return;
	}
	p = buf;
	end = buf + n;
	/* A line begun in the last read is finished first. */
	if (c->carrylen > 0) {
		if ((lf = memchr(p, '\n', (size_t)(end - p))) == NULL)
			lf = end;
		len = (size_t)(lf - p);
		if (c->carrylen + len > HUB_LINE) {
			hub_client_gone(c, "overlong worker message", 1);
			return;
		}
		if ((line = realloc(c->carry, c->carrylen + len + 1)) == NULL) {
			hub_client_gone(c, "out of memory", 1);
			return;
		}
		c->carry = line;
		memcpy(c->carry + c->carrylen, p, len);
		c->carrylen += len;
		if (lf == end)
			return;
		c->carry[c->carrylen] = '\0';
		hub_worker_line(c, c->carry, c->carrylen);
		free(c->carry);
		c->carry = NULL;
		c->carrylen = 0;
		p = lf + 1;
	}
	while (p < end && c->rc != NULL) {
		if ((lf = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			len = (size_t)(end - p);
			if (len > HUB_LINE || (c->carry = malloc(len + 1)) ==
			    NULL) {
				hub_client_gone(c, "bad worker message", 1);
				return;
			}
			memcpy(c->carry, p, len);
			c->carrylen = len;
			return;
		}
		*lf = '\0';
		hub_worker_line(c, p, (size_t)(lf - p));
		p = lf + 1;
	}
}

/* A full pipe of a msgq or UDP client's input has room again. */
static void
hub_on_in_worker(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct chat_client *c = arg;
	int r;

	(void)events;
	r = queue_write(c->hub, &c->iq, fd, 0);
	if (r == 1)
		return;
	pv_loop_del_fd(loop, fd);
	c->in_watching = 0;
	if (r == -1)
		hub_close_input(c);
}

/* Queues a msgq or UDP client's input for its worker; see chat.h. */
void
hub_client_input(struct chat_client *c, const char *buf, size_t n)
{
	int r;

	if (c->in_w < 0)
		return;
	/* A client that floods faster than its worker reads is dropped. */
	if (c->iq.len - c->iq.off + n > c->hub->queue ||
	    queue_add(&c->iq, buf, n) == -1) {
		hub_client_gone(c, "sends too fast", 1);
		return;
	}
	if (c->in_watching)
		return;
	if ((r = queue_write(c->hub, &c->iq, c->in_w, 0)) == 1) {
		if (pv_loop_add_fd(c->hub->loop, c->in_w, PV_WRITE,
		    hub_on_in_worker, c) == 0)
			c->in_watching = 1;
	} else if (r == -1)
		hub_close_input(c);
}

/* The client will send no more (msgq 'X'). */
void
hub_client_input_end(struct chat_client *c)
{
	hub_close_input(c);
}

/* Frees a client whose worker has been reaped. */
static void
hub_client_free(struct chat_client *c)
{
	struct chat_hub *hub = c->hub;

	hub_client_gone(c, "its worker died", 1);
	hub_close_from_worker(c);
	hub_close_input(c);
	hub_close_to_worker(c);
	if (c->dirty)
		TAILQ_REMOVE(&hub->dirty, c, dirty_entry);
	pv_loop_cancel_timer(hub->loop, c->linger);
	if (c->pidfd >= 0) {
		pv_loop_del_fd(hub->loop, c->pidfd);
		close(c->pidfd);
	}
	TAILQ_REMOVE(&hub->clients, c, entry);
	hub->nclients--;
	queue_free(c->hub, &c->q);
	free(c);
	if (hub->stopping && hub->nclients == 0 && hub->stopped != NULL)
		hub->stopped(hub);
}

/* The worker has exited (its pidfd is readable): filters, then client. */
static void
hub_on_worker_exit(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct chat_client *c = arg;

	(void)loop;
	(void)fd;
	(void)events;
	if (c->hub->verbose)
		warnx("chat: %s: worker %ld exited", c->peer, (long)c->pgid);
	/* The group outlives its leader while a filter is in it. */
	if (c->pgid > 0)
		killpg(c->pgid, SIGKILL);
	hub_client_free(c);
}

/* Returns a new client; see chat.h. */
struct chat_client *
hub_client_new(struct chat_hub *hub, enum chat_transport t)
{
	struct chat_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->hub = hub;
	c->t = t;
	c->from_w = c->to_w = c->in_w = c->pidfd = c->sock = c->watch_fd = -1;
	c->wcfg.sink = t == CHAT_MSGQ ? CHAT_SINK_MSGQ : t == CHAT_UDP ?
	    CHAT_SINK_UDP : CHAT_SINK_FD;
	c->wcfg.peer = c->peer;
	c->wcfg.max_line = hub->max_line;
	c->wcfg.idle_ms = pv_ts_to_ms_ceil(hub->idle);
	c->wcfg.inbound = hub->inbound;
	c->wcfg.outbound = hub->outbound;
	c->wcfg.filters = hub->filters;
	c->wcfg.msqid = -1;
	return c;
}

/* Makes a CLOEXEC pipe whose ends are above 5, the worker's fds. */
static int
hub_pipe(int p[2])
{
	int i, fd;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	for (i = 0; i < 2; i++)
		if (p[i] <= CHAT_WFD_UDP) {
			fd = fcntl(p[i], F_DUPFD_CLOEXEC, CHAT_WFD_UDP + 1);
			if (fd == -1) {
				close(p[0]);
				close(p[1]);
				return -1;
			}
			close(p[i]);
			p[i] = fd;
		}
	return 0;
}

/* Starts a client's worker; see chat.h. */
int
hub_client_start(struct chat_hub *hub, struct chat_client *c, int in,
    int out)
{
	int h2w[2] = { -1, -1 }, w2h[2] = { -1, -1 }, inp[2] = { -1, -1 };
	int fds[5], nfds = 4, saved;
	pid_t pid;

	if (c->t == CHAT_MSGQ || c->t == CHAT_UDP) {
		if (hub_pipe(inp) == -1)
			return -1;
		in = inp[0];
	}
	if (hub_pipe(h2w) == -1 || hub_pipe(w2h) == -1)
		goto fail;
	fds[0] = in;
	fds[1] = out;
	fds[2] = h2w[0];
	fds[3] = w2h[1];
	if (c->t == CHAT_UDP)
		fds[nfds++] = hub->udp;
	if ((pid = chat_spawner_spawn(hub, &c->wcfg, c->peer, fds, nfds,
	    &c->pidfd)) == -1)
		goto fail;
	c->pgid = pid;
	close(h2w[0]);
	close(w2h[1]);
	if (inp[0] >= 0)
		close(inp[0]);
	c->to_w = h2w[1];
	c->from_w = w2h[0];
	c->in_w = inp[1];
	fcntl(c->to_w, F_SETFL, O_NONBLOCK);
	fcntl(c->from_w, F_SETFL, O_NONBLOCK);
	if (c->in_w >= 0)
		fcntl(c->in_w, F_SETFL, O_NONBLOCK);
	if ((c->rc = room_client_new(hub->room, c)) == NULL ||
	    pv_loop_add_fd(hub->loop, c->from_w, PV_READ, hub_on_from_worker,
	    c) == -1 || (c->pidfd >= 0 && pv_loop_add_fd(hub->loop, c->pidfd,
	    PV_READ, hub_on_worker_exit, c) == -1)) {
		saved = errno;
		killpg(c->pgid, SIGKILL);
		room_client_free(hub->room, c->rc);
		c->rc = NULL;
		pv_loop_del_fd(hub->loop, c->from_w);
		close(c->to_w);
		close(c->from_w);
		if (c->pidfd >= 0)
			close(c->pidfd);
		if (c->in_w >= 0)
			close(c->in_w);
		errno = saved;
		return -1;
	}
	pv_now(&c->since);
	c->heard = c->since;
	TAILQ_INSERT_TAIL(&hub->clients, c, entry);
	if (c->t == CHAT_UDP || c->t == CHAT_MSGQ)
		chat_peers_add(&hub->peers, c);
	hub->nclients++;
	hub->count.connections++;
	if (hub->verbose)
		warnx("chat: %s connected, worker %ld", c->peer, (long)c->pgid);
	return 0;
fail:
	saved = errno;
	if (h2w[0] >= 0) {
		close(h2w[0]);
		close(h2w[1]);
	}
	if (w2h[0] >= 0) {
		close(w2h[0]);
		close(w2h[1]);
	}
	if (inp[0] >= 0) {
		close(inp[0]);
		close(inp[1]);
	}
	errno = saved;
	return -1;
}

/* Sends SIGKILL to every worker's group; see chat.h. */
void
hub_kill_all(struct chat_hub *hub)
{
	struct chat_client *c;

	TAILQ_FOREACH(c, &hub->clients, entry)
		if (c->pgid > 0)
			killpg(c->pgid, SIGKILL);
}

/* Tells every client the hub stops, and closes them; see chat.h. */
void
hub_shutdown(struct chat_hub *hub)
{
	static const char bye[] = "* server shutting down\n";
	struct chat_client *c;

	TAILQ_FOREACH(c, &hub->clients, entry) {
		if (c->rc == NULL)
			continue;
		hub_send(c, bye, sizeof(bye) - 1);
		hub_client_gone(c, "server shutting down", 0);
	}
	hub_flush(hub);
}

/* Kills and reaps every worker and frees its client; see chat.h. */
void
hub_destroy(struct chat_hub *hub)
{
	struct chat_client *c;

	hub->stopping = 0;	/* no hub->stopped from here */
	hub_kill_all(hub);
	while ((c = TAILQ_FIRST(&hub->clients)) != NULL) {
		/* The spawner reaps it; its pidfd says when it is gone. */
		if (c->pidfd >= 0) {
			struct pollfd pfd = { c->pidfd, POLLIN, 0 };

			while (poll(&pfd, 1, 5000) == -1 && errno == EINTR)
				continue;
		}
		hub_client_gone(c, "stopped", 0);
		hub_client_free(c);
	}
}
