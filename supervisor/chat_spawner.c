/*
 * chat_spawner.c: the process that forks the chat workers (a "zygote").
 *
 * A worker forked straight from the hub shares the hub's pages only until
 * the hub writes them: every page of heap, stack or buffer the busy hub
 * touches afterwards is copied, and the worker's old copy becomes its own,
 * so each worker ends up owning most of the hub's writable memory (about
 * 120 KiB each, measured).  The spawner is forked once, early, while the
 * hub is still small, and then does nothing but fork workers: its pages
 * hardly change, so the workers keep sharing them, and a worker owns
 * little more than the pages it writes itself.
 *
 * The hub hands the spawner a worker's description and its fds (the
 * client's connection and the two pipes) over a SOCK_SEQPACKET socket
 * pair with SCM_RIGHTS; the spawner forks, and answers with the worker's
 * pid and a pidfd for it, through which the hub learns of the worker's
 * exit (the spawner, its parent, reaps it: SIGCHLD is ignored there, so
 * no worker is ever a zombie).  Each worker leads its own process group,
 * which its filter chains join, so the hub's killpg reaches them all.
 *
 * Signals: the spawner starts with every disposition at default (it is a
 * child of the hub, DESIGN.md section 8), then ignores SIGCHLD for the
 * automatic reaping; each worker is reset to the default state and an
 * empty mask before chat_worker_main runs.  The spawner ends when the hub
 * closes its end of the socket pair.
 */
#include <sys/types.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

#define SPAWNER_FD	3		/* the spawner's end, in the spawner */
#define SPAWNER_MAXFDS	5		/* in, out, from hub, to hub, UDP */

/*
 * A request: the worker's description; its fds ride along.  Pointers in
 * cfg (the FIFO directory, the filter SPECs) point into memory the hub
 * had before it forked the spawner, so they are valid there too; only
 * the peer's name is new.  Small, so the spawner writes one page per
 * request, not more.
 */
struct spawner_req {
	struct chat_worker	cfg;
	char			peer[64];
};

/* The answer; the pidfd rides along when pid > 0. */
struct spawner_reply {
	pid_t	pid;
	int	err;
};

/* Sends n bytes of buf with nfds fds.  Returns 0 or -1 with errno. */
static int
spawner_send(int sock, const void *buf, size_t n, const int *fds, int nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * SPAWNER_MAXFDS)];
	} ctl;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t r;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = n;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	do
		r = sendmsg(sock, &msg, MSG_NOSIGNAL);
	while (r == -1 && errno == EINTR);
	return r == (ssize_t)n ? 0 : -1;
}

/*
 * Receives one message of at most n bytes into buf, and up to maxfds fds
 * (CLOEXEC) into fds, their number in *nfds.  Returns the message's
 * length, 0 when the peer closed, or -1 with errno.
 */
static ssize_t
spawner_recv(int sock, void *buf, size_t n, int *fds, int maxfds, int *nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * SPAWNER_MAXFDS)];
	} ctl;
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	ssize_t r;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = buf;
	iov.iov_len = n;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = ctl.buf;
	msg.msg_controllen = sizeof(ctl.buf);
	do
		r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (r == -1 && errno == EINTR);
	*nfds = 0;
	if (r == -1)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) /
			    sizeof(int));

			if (k > maxfds - *nfds)
				k = maxfds - *nfds;
			memcpy(fds + *nfds, CMSG_DATA(cm),
			    sizeof(int) * (size_t)k);
			*nfds += k;
		}
	return r;
}

/*
 * In the new worker: puts fds[] on 0, 1, 3, 4 (and 5), closes the rest,
 * leads a process group, resets the signal state, and runs the worker.
 */
static void __attribute__((noreturn))
spawner_child(struct spawner_req *req, int *fds, int nfds)
{
	static const int to[SPAWNER_MAXFDS] = {
		0, 1, CHAT_WFD_FROM_HUB, CHAT_WFD_TO_HUB, CHAT_WFD_UDP
	};
	int i, moved[SPAWNER_MAXFDS];

	setpgid(0, 0);
	/* Above every target first: a received fd may sit on a target. */
	for (i = 0; i < nfds; i++)
		if ((moved[i] = fcntl(fds[i], F_DUPFD, 16)) == -1)
			_exit(1);
	for (i = 0; i < nfds; i++)
		if (dup2(moved[i], to[i]) == -1)
			_exit(1);
	closefrom(nfds > 4 ? CHAT_WFD_UDP + 1 : CHAT_WFD_TO_HUB + 1);
	if (nfds < 5)
		close(CHAT_WFD_UDP);	/* never another's socket on 5 */
	sig_child_reset(1, NULL);
	req->cfg.peer = req->peer;
	_exit(chat_worker_main(&req->cfg) & 0377);
}

/* The spawner's life: a request in, a worker out, until the hub closes. */
static int
spawner_main(void *arg)
{
	/* On the stack: a static would be one more page every worker owns. */
	struct spawner_req req;
	struct spawner_reply rep;
	struct sigaction sa;
	int fds[SPAWNER_MAXFDS], nfds, i, pidfd;
	ssize_t n;

	(void)arg;
	setproctitle("chat spawner");
	memset(&sa, 0, sizeof(sa));
	/* Ignored SIGCHLD: the kernel reaps the workers, none is a zombie. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	for (;;) {
		n = spawner_recv(SPAWNER_FD, &req, sizeof(req), fds,
		    SPAWNER_MAXFDS, &nfds);
		if (n <= 0)
			return n == 0 ? 0 : 1;
		memset(&rep, 0, sizeof(rep));
		pidfd = -1;
		if ((size_t)n != sizeof(req) || nfds < 4)
			rep.err = EINVAL;
		/*
		 * _Fork (POSIX.1-2024), not fork: the spawner has one thread
		 * and no atfork handlers, so what fork adds (running those,
		 * and in the child resetting the locks of the dynamic linker
		 * and of stdio, the NSS and arc4random state) could only
		 * write pages, two of ld.so's data and one of libc's, that
		 * every worker would then own: 12 KiB each, measured.  A
		 * worker uses neither NSS nor arc4random, and the filter
		 * chains it starts go through fork or vfork as usual.
		 */
		else if ((rep.pid = _Fork()) == 0)
			spawner_child(&req, fds, nfds);
		else if (rep.pid == -1) {
			rep.err = errno;
			rep.pid = 0;
		} else {
			setpgid(rep.pid, rep.pid);
			/* Without pidfds (valgrind, old kernels) the hub makes do. */
			pidfd = pidfd_open(rep.pid, 0);
		}
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		if (spawner_send(SPAWNER_FD, &rep, sizeof(rep), &pidfd,
		    pidfd >= 0 ? 1 : 0) == -1)
			return 1;
		if (pidfd >= 0)
			close(pidfd);
	}
}

/* Starts the spawner; see chat.h. */
int
chat_spawner_start(struct chat_hub *hub)
{
	struct pv_stage *st;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if ((hub->spawner = pv_pipeline_new()) == NULL ||
	    (st = pv_pipeline_add_func(hub->spawner, "chat-spawner",
	    spawner_main, NULL)) == NULL ||
	    pv_stage_pass_fd(st, sv[1], SPAWNER_FD) == -1)
		goto fail;
	pv_pipeline_set_sigmode(hub->spawner, PV_SIG_DEFAULT);
	pv_pipeline_set_input(hub->spawner, hub->devnull);
	pv_pipeline_set_output(hub->spawner, hub->devnull);
	if (pv_pipeline_start(hub->spawner) == -1)
		goto fail;
	close(sv[1]);
	hub->spawn_fd = sv[0];
	return 0;
fail:
	pv_pipeline_free(hub->spawner);
	hub->spawner = NULL;
	close(sv[0]);
	close(sv[1]);
	return -1;
}

/* Has a worker forked; see chat.h. */
pid_t
chat_spawner_spawn(struct chat_hub *hub, const struct chat_worker *cfg,
    const char *peer, const int *fds, int nfds, int *pidfd)
{
	static struct spawner_req req;
	struct spawner_reply rep;
	int got, extra[SPAWNER_MAXFDS], i;
	ssize_t n;

	if (hub->spawn_fd < 0) {
		errno = ESRCH;
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.cfg = *cfg;
	strlcpy(req.peer, peer, sizeof(req.peer));
	if (spawner_send(hub->spawn_fd, &req, sizeof(req), fds, nfds) == -1)
		return -1;
	n = spawner_recv(hub->spawn_fd, &rep, sizeof(rep), extra,
	    SPAWNER_MAXFDS, &got);
	if (n != (ssize_t)sizeof(rep) || rep.pid <= 0 || got > 1) {
		for (i = 0; i < got; i++)
			close(extra[i]);
		if (rep.pid > 0 && n == (ssize_t)sizeof(rep))
			killpg(rep.pid, SIGKILL);
		errno = n == (ssize_t)sizeof(rep) && rep.err != 0 ? rep.err :
		    EPROTO;
		return -1;
	}
	*pidfd = got == 1 ? extra[0] : -1;
	return rep.pid;
}

/* Stops the spawner: it ends when its socket closes; see chat.h. */
void
chat_spawner_stop(struct chat_hub *hub)
{
	if (hub->spawn_fd >= 0) {
		close(hub->spawn_fd);
		hub->spawn_fd = -1;
	}
	if (hub->spawner != NULL) {
		pv_pipeline_wait(hub->spawner, NULL);
		pv_pipeline_free(hub->spawner);
		hub->spawner = NULL;
	}
}
