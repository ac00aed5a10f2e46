/*
 * chat_msgq.c: the hub's System V message queue transport (DESIGN.md
 * section 6; the message layout is in chat.h).
 *
 * The queue's key is ftok(PATH, CHAT_MSGQ_PROJ).  PATH is a file the hub
 * creates (0600), locks with flock and writes its pid into: a second hub
 * is refused, a client can tell whether the hub is alive, and a queue
 * found at the key while we hold the lock was left by a dead hub, so it
 * is removed and made anew (RELIABILITY.md item 20).
 *
 * Every client sends on mtype 1 and a message queue cannot be polled, so
 * a gateway process (forked, like a worker) blocks in msgrcv and passes
 * each request to the hub over a pipe as a small frame; the hub hands a
 * client's lines to that client's worker, which replies with msgsnd on
 * mtype = the client's pid (the seeds' client/server pattern).  Removing
 * the queue (IPC_RMID) at the stop ends the gateway's msgrcv with EIDRM.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

/* A request as the gateway passes it on: this header, then len bytes. */
struct msgq_frame {
	int32_t		pid;
	uint32_t	len;
	char		kind;
};

#define MSGQ_FRAME_MAX	(sizeof(struct msgq_frame) + CHAT_MSGQ_TEXT)
#define MSGQ_BUF	(64 * MSGQ_FRAME_MAX)

/* The hub's pid, for the gateway to check it was not orphaned at once. */
static pid_t msgq_hub_pid;

/* The gateway: msgrcv on mtype 1, frames to fd 1, until the queue goes. */
static int
msgq_gateway(void *arg)
{
	static struct chat_msg m;
	static char frame[MSGQ_FRAME_MAX];
	struct msgq_frame h;
	int msqid = *(int *)arg;
	pid_t hub_pid = msgq_hub_pid;
	ssize_t n;

	setproctitle("chat msgq gateway");
	/*
	 * Blocked in msgrcv, the gateway would never notice a hub killed
	 * with -9 (the queue stays): it dies with the hub instead.
	 */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != hub_pid)
		return 0;
	for (;;) {
		n = msgrcv(msqid, &m, CHAT_MSGQ_SIZE(CHAT_MSGQ_TEXT),
		    CHAT_MSGQ_REQUEST, MSG_NOERROR);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno == EIDRM || errno == EINVAL ? 0 : 1;
		}
		if ((size_t)n < CHAT_MSGQ_SIZE(0))
			continue;
		h.pid = m.pid;
		h.kind = m.kind;
		h.len = (uint32_t)((size_t)n - CHAT_MSGQ_SIZE(0));
		memcpy(frame, &h, sizeof(h));
		memcpy(frame + sizeof(h), m.text, h.len);
		if (pv_write_all(1, frame, sizeof(h) + h.len) == -1)
			return 0;	/* the hub is gone */
	}
}

/* Answers a client the hub cannot take, straight from the hub. */
static void
msgq_refuse(struct chat_hub *hub, pid_t pid)
{
	static const char full[] = "- server full, try again later";
	static struct chat_msg m;

	m.mtype = pid;
	m.pid = (int32_t)getpid();
	m.kind = 'D';
	memcpy(m.text, full, sizeof(full) - 1);
	msgsnd(hub->msqid, &m, CHAT_MSGQ_SIZE(sizeof(full) - 1), IPC_NOWAIT);
	m.kind = 'X';
	msgsnd(hub->msqid, &m, CHAT_MSGQ_SIZE(0), IPC_NOWAIT);
}

/* Starts a worker for a new msgq client. */
static struct chat_client *
msgq_client(struct chat_hub *hub, pid_t pid)
{
	struct chat_client *c;

	if (hub->stopping)
		return NULL;
	if (hub->nclients >= hub->max_clients ||
	    (c = hub_client_new(hub, CHAT_MSGQ)) == NULL) {
		hub->count.refused++;
		msgq_refuse(hub, pid);
		return NULL;
	}
	snprintf(c->peer, sizeof(c->peer), "msgq:%ld", (long)pid);
	c->peer_pid = pid;
	c->wcfg.peer_pid = pid;
	c->wcfg.msqid = hub->msqid;
	if (hub_client_start(hub, c, -1, hub->devnull) == -1) {
		warn("chat: %s: cannot start a worker", c->peer);
		hub->count.refused++;
		free(c);
		msgq_refuse(hub, pid);
		return NULL;
	}
	return c;
}

/* Handles one request frame from the gateway. */
static void
msgq_request(struct chat_hub *hub, const struct msgq_frame *h,
    const char *text)
{
	static char line[CHAT_MSGQ_TEXT + 2];
	struct chat_client *c;
	pid_t pid;

	if (h->pid <= 0)
		return;
	pid = h->pid;
	c = chat_peers_find(&hub->peers, CHAT_MSGQ, &pid, sizeof(pid));
	switch (h->kind) {
	case 'C':
		if (c == NULL)
			msgq_client(hub, h->pid);
		return;
	case 'X':
		if (c != NULL)
			hub_client_input_end(c);
		return;
	case 'D':
	case 'T':
		if (c == NULL && (c = msgq_client(hub, h->pid)) == NULL)
			return;
		memcpy(line, text, h->len);
		/* A cut line is made longer than any --max-line allows. */
		if (h->kind == 'T')
			memset(line + h->len, 'x', sizeof(line) - 1 - h->len);
		line[h->kind == 'T' ? sizeof(line) - 1 : h->len] = '\n';
		hub_client_input(c, line, h->kind == 'T' ? sizeof(line) :
		    h->len + 1);
		return;
	default:
		return;
	}
}

/* Reads frames from the gateway. */
static void
msgq_on_gateway(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct chat_hub *hub = arg;
	struct msgq_frame h;
	size_t off = 0;
	ssize_t n;

	(void)events;
	n = read(fd, hub->gwbuf + hub->gwlen, MSGQ_BUF - hub->gwlen);
	if (n == 0 || (n == -1 && errno != EINTR && errno != EAGAIN)) {
		pv_loop_del_fd(loop, fd);
		close(fd);
		hub->gw_fd = -1;
		if (!hub->stopping)
			warnx("chat: the msgq gateway ended");
		return;
	}
	if (n <= 0)
		return;
	hub->gwlen += (size_t)n;
	while (hub->gwlen - off >= sizeof(h)) {
		memcpy(&h, hub->gwbuf + off, sizeof(h));
		if (h.len > CHAT_MSGQ_TEXT || hub->gwlen - off < sizeof(h) +
		    h.len)
			break;
		msgq_request(hub, &h, hub->gwbuf + off + sizeof(h));
		off += sizeof(h) + h.len;
	}
	memmove(hub->gwbuf, hub->gwbuf + off, hub->gwlen - off);
	hub->gwlen -= off;
}

/* The gateway was reaped. */
static void
msgq_on_gateway_done(struct pv_pipeline *pl, void *arg)
{
	struct chat_hub *hub = arg;

	(void)pl;
	if (!hub->stopping)
		warnx("chat: the msgq gateway exited");
}

/* Opens the message queue transport at path; see chat.h. */
int
chat_msgq_open(struct chat_hub *hub, const char *path)
{
	struct pv_stage *st;
	char pid[32];
	key_t key;
	int len, id;

	if ((hub->msgq_path = strdup(path)) == NULL ||
	    (hub->gwbuf = malloc(MSGQ_BUF)) == NULL) {
		warn("chat");
		return -1;
	}
	hub->msgq_lock = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (hub->msgq_lock == -1) {
		warn("chat: --msgq %s", path);
		return -1;
	}
	if (flock(hub->msgq_lock, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			warnx("chat: --msgq %s: another hub is using it", path);
		else
			warn("chat: --msgq %s", path);
		close(hub->msgq_lock);
		hub->msgq_lock = -1;
		return -1;
	}
	len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(hub->msgq_lock, 0) == -1 ||
	    pv_write_all(hub->msgq_lock, pid, (size_t)len) == -1) {
		warn("chat: --msgq %s", path);
		return -1;
	}
	if ((key = ftok(path, CHAT_MSGQ_PROJ)) == -1) {
		warn("chat: --msgq %s: ftok", path);
		return -1;
	}
	hub->msqid = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	if (hub->msqid == -1 && errno == EEXIST) {
		/* We hold the lock: a dead hub left this queue. */
		if ((id = msgget(key, 0)) != -1)
			msgctl(id, IPC_RMID, NULL);
		hub->msqid = msgget(key, IPC_CREAT | IPC_EXCL | 0600);
	}
	if (hub->msqid == -1) {
		warn("chat: --msgq %s: msgget", path);
		return -1;
	}
	msgq_hub_pid = getpid();
	if ((hub->gateway = pv_pipeline_new()) == NULL ||
	    (st = pv_pipeline_add_func(hub->gateway, "chat-msgq-gateway",
	    msgq_gateway, &hub->msqid)) == NULL) {
		warn("chat");
		return -1;
	}
	pv_pipeline_set_sigmode(hub->gateway, PV_SIG_DEFAULT);
	pv_pipeline_set_input(hub->gateway, hub->devnull);
	pv_pipeline_want_output(hub->gateway);
	if (pv_pipeline_start(hub->gateway) == -1) {
		warn("chat: cannot start the msgq gateway");
		return -1;
	}
	hub->gw_fd = pv_pipeline_output_fd(hub->gateway);
	fcntl(hub->gw_fd, F_SETFL, O_NONBLOCK);
	if (pv_loop_add_fd(hub->loop, hub->gw_fd, PV_READ, msgq_on_gateway,
	    hub) == -1 || pv_pipeline_watch(hub->gateway, hub->loop,
	    msgq_on_gateway_done, hub) == -1) {
		warn("chat: msgq gateway");
		return -1;
	}
	return 0;
}

/* Removes the queue and the lock file, and reaps the gateway. */
void
chat_msgq_close(struct chat_hub *hub)
{
	struct stat sb, lsb;

	if (hub->gw_fd >= 0) {
		pv_loop_del_fd(hub->loop, hub->gw_fd);
		hub->gw_fd = -1;	/* pv_pipeline_free closes it */
	}
	if (hub->msqid >= 0) {
		/*
		 * The workers' last messages ("* server shutting down", 'X')
		 * may still be in the queue: give the clients a moment to take
		 * them before the removal destroys them.
		 */
		struct msqid_ds ds;
		struct timespec tick = { 0, 10 * 1000000L };
		int i;

		for (i = 0; i < 100; i++) {
			if (msgctl(hub->msqid, IPC_STAT, &ds) == -1 ||
			    ds.msg_qnum == 0)
				break;
			nanosleep(&tick, NULL);
		}
		msgctl(hub->msqid, IPC_RMID, NULL);
		hub->msqid = -1;
	}
	if (hub->gateway != NULL) {
		while (pv_pipeline_stop(hub->gateway, SIGKILL, NULL) == -1 &&
		    errno == EINTR)
			continue;
		pv_pipeline_free(hub->gateway);
		hub->gateway = NULL;
	}
	if (hub->msgq_lock >= 0) {
		/* Only the file we locked, not one put there since. */
		if (fstat(hub->msgq_lock, &lsb) == 0 &&
		    lstat(hub->msgq_path, &sb) == 0 &&
		    sb.st_ino == lsb.st_ino && sb.st_dev == lsb.st_dev)
			unlink(hub->msgq_path);
		close(hub->msgq_lock);
		hub->msgq_lock = -1;
	}
	free(hub->msgq_path);
	hub->msgq_path = NULL;
	free(hub->gwbuf);
	hub->gwbuf = NULL;
}
