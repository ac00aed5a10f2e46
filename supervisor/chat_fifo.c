/*
 * chat_fifo.c: the hub's FIFO transport (DESIGN.md section 6; the
 * handshake is described in chat.h).
 *
 * The hub owns DIR (mode 0700; made if missing, refused if it is not
 * ours or is open to others), holds an flock on DIR/lock so a second hub
 * is refused while the first keeps working, and keeps DIR/lobby open
 * read-write: with a writer of its own the lobby never reads end of file
 * when the last client closes, so the loop never spins on it
 * (RELIABILITY.md item 19).  A lobby line is a client's pid: a worker is
 * forked to open that client's private pair.  After a crash the next hub
 * takes the lock and removes what the dead one left: the lobby and any
 * PID.c2s/PID.s2c FIFO of ours (item 20), after an lstat check that each
 * is a FIFO owned by us, never following a link.
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

/* Puts DIR/name in buf; 0, or -1 when too long. */
static int
fifo_path(const struct chat_hub *hub, const char *name, char *buf,
    size_t size)
{
	return (size_t)snprintf(buf, size, "%s/%s", hub->fifo_dir, name) >=
	    size ? -1 : 0;
}

/* Removes DIR/name if it is a FIFO of ours (never a link, never others'). */
static void
fifo_remove(const struct chat_hub *hub, const char *name)
{
	char path[PATH_MAX];
	struct stat sb;

	if (fifo_path(hub, name, path, sizeof(path)) == -1)
		return;
	if (lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode) &&
	    sb.st_uid == geteuid() && unlink(path) == -1)
		warn("chat: cannot remove %s", path);
}

/* Removes the FIFOs a dead hub's clients left: PID.c2s and PID.s2c. */
static void
fifo_sweep(const struct chat_hub *hub)
{
	DIR *d;
	struct dirent *e;
	const char *dot;

	if ((d = opendir(hub->fifo_dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		dot = strchr(e->d_name, '.');
		if (dot == NULL || dot == e->d_name ||
		    strspn(e->d_name, "0123456789") != (size_t)(dot -
		    e->d_name))
			continue;
		if (strcmp(dot + 1, CHAT_FIFO_C2S) == 0 ||
		    strcmp(dot + 1, CHAT_FIFO_S2C) == 0)
			fifo_remove(hub, e->d_name);
	}
	closedir(d);
}

/* Starts a worker for the client whose pid came through the lobby. */
static void
fifo_client(struct chat_hub *hub, const char *line)
{
	struct chat_client *c;
	const char *errstr;
	pid_t pid;

	pid = (pid_t)strtonum(line, 1, INT_MAX, &errstr);
	if (errstr != NULL) {
		if (hub->verbose)
			warnx("chat: %s/%s: not a pid: '%.32s'",
			    hub->fifo_dir, CHAT_FIFO_LOBBY, line);
		return;
	}
	if ((c = hub_client_new(hub, CHAT_FIFO)) == NULL) {
		hub->count.refused++;
		return;
	}
	snprintf(c->peer, sizeof(c->peer), "fifo:%ld", (long)pid);
	c->peer_pid = pid;
	c->wcfg.peer_pid = pid;
	c->wcfg.fifo_dir = hub->fifo_dir;
	if (hub->nclients >= hub->max_clients) {
		/* The client's open of its pair times out: it is told so. */
		hub->count.refused++;
		free(c);
		return;
	}
	if (hub_client_start(hub, c, hub->devnull, hub->devnull) == -1) {
		warn("chat: %s: cannot start a worker", c->peer);
		hub->count.refused++;
		free(c);
	}
}

/* Reads pids from the lobby, one per line. */
static void
fifo_on_lobby(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct chat_hub *hub = arg;
	char *p, *lf;
	ssize_t n;

	(void)loop;
	(void)events;
	n = read(fd, hub->lobbybuf + hub->lobbylen,
	    sizeof(hub->lobbybuf) - 1 - hub->lobbylen);
	if (n <= 0)
		return;		/* EAGAIN; never end of file: we are a writer */
	hub->lobbylen += (size_t)n;
	hub->lobbybuf[hub->lobbylen] = '\0';
	p = hub->lobbybuf;
	while ((lf = memchr(p, '\n', hub->lobbylen - (size_t)(p -
	    hub->lobbybuf))) != NULL) {
		*lf = '\0';
		if (!hub->stopping)
			fifo_client(hub, p);
		p = lf + 1;
	}
	hub->lobbylen -= (size_t)(p - hub->lobbybuf);
	memmove(hub->lobbybuf, p, hub->lobbylen);
	/* Garbage without a newline cannot fill the buffer for good. */
	if (hub->lobbylen == sizeof(hub->lobbybuf) - 1)
		hub->lobbylen = 0;
}

/* Opens the FIFO transport in dir; see chat.h. */
int
chat_fifo_open(struct chat_hub *hub, const char *dir)
{
	char path[PATH_MAX], err[256];
	struct stat sb;

	if ((hub->fifo_dir = strdup(dir)) == NULL) {
		warn("chat");
		return -1;
	}
	if (lstat(dir, &sb) == -1 && errno == ENOENT)
		hub->fifo_made = 1;
	if (rundir_ensure(dir, err, sizeof(err)) == -1) {
		warnx("chat: --fifo %s: %s", dir, err);
		hub->fifo_made = 0;
		return -1;
	}
	if (fifo_path(hub, CHAT_FIFO_LOCK, path, sizeof(path)) == -1 ||
	    (hub->fifo_lock = open(path, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		warn("chat: %s/%s", dir, CHAT_FIFO_LOCK);
		return -1;
	}
	if (flock(hub->fifo_lock, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK)
			warnx("chat: --fifo %s: another hub is using it", dir);
		else
			warn("chat: %s", path);
		close(hub->fifo_lock);
		hub->fifo_lock = -1;
		hub->fifo_made = 0;
		return -1;
	}
	/* We hold the lock: whatever is there was left by a dead hub. */
	fifo_remove(hub, CHAT_FIFO_LOBBY);
	fifo_sweep(hub);
	if (fifo_path(hub, CHAT_FIFO_LOBBY, path, sizeof(path)) == -1 ||
	    mkfifo(path, 0600) == -1) {
		warn("chat: %s/%s", dir, CHAT_FIFO_LOBBY);
		return -1;
	}
	/* Read-write: our own writer means no end of file, no spin. */
	if ((hub->lobby = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    pv_loop_add_fd(hub->loop, hub->lobby, PV_READ, fifo_on_lobby,
	    hub) == -1) {
		warn("chat: %s", path);
		return -1;
	}
	return 0;
}

/* Closes the lobby and removes every file the transport made. */
void
chat_fifo_close(struct chat_hub *hub)
{
	char path[PATH_MAX];

	if (hub->lobby >= 0) {
		pv_loop_del_fd(hub->loop, hub->lobby);
		close(hub->lobby);
		hub->lobby = -1;
	}
	if (hub->fifo_lock >= 0) {
		fifo_remove(hub, CHAT_FIFO_LOBBY);
		/* Pairs of clients that never got their worker. */
		fifo_sweep(hub);
		if (fifo_path(hub, CHAT_FIFO_LOCK, path, sizeof(path)) == 0)
			unlink(path);
		close(hub->fifo_lock);
		hub->fifo_lock = -1;
		if (hub->fifo_made && rmdir(hub->fifo_dir) == -1 &&
		    errno != ENOTEMPTY && errno != EEXIST)
			warn("chat: cannot remove %s", hub->fifo_dir);
		hub->fifo_made = 0;
	}
	free(hub->fifo_dir);
	hub->fifo_dir = NULL;
}
