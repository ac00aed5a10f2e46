/*
 * net.c: listening sockets for the servers (serve, the status page, the
 * chat hub) and peer addresses for their logs and environments.
 *
 * Addresses are numeric only, so starting a server never waits on DNS:
 * "ADDR:PORT", "[V6ADDR]:PORT", or a bare "PORT" on 127.0.0.1 (listeners
 * bind loopback unless told otherwise, DESIGN.md section 7); "localhost"
 * is taken as 127.0.0.1.  Every socket is non-blocking and close-on-exec.
 * A unix socket is created mode 0600 and replaces only a stale socket (one
 * nobody accepts on), never a live one or a file that is not a socket
 * (RELIABILITY.md item 20).  No signals; nothing here prints.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

/* Writes a one-line reason into err, keeping errno. */
static void __attribute__((format(printf, 3, 4)))
net_error(char *err, size_t errsize, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err != NULL && errsize > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsize, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

/*
 * Splits spec into host and port (copied into the buffers).  Returns 0,
 * or -1 when spec has no recognisable shape.
 */
static int
net_split(const char *spec, char *host, size_t hostsize, char *port,
    size_t portsize)
{
	const char *colon, *close;
	size_t hlen;

	if (spec[0] == '[') {
		if ((close = strchr(spec, ']')) == NULL || close[1] != ':')
			return -1;
		hlen = (size_t)(close - spec - 1);
		colon = close + 1;
		spec++;
	} else if ((colon = strrchr(spec, ':')) == NULL) {
		/* A bare port: loopback. */
		if (strlcpy(port, spec, portsize) >= portsize)
			return -1;
		strlcpy(host, "127.0.0.1", hostsize);
		goto check;
	} else {
		hlen = (size_t)(colon - spec);
		/* An IPv6 address must be bracketed: "::1:80" is ambiguous. */
		if (memchr(spec, ':', hlen) != NULL)
			return -1;
	}
	if (hlen == 0 || hlen >= hostsize)
		return -1;
	memcpy(host, spec, hlen);
	host[hlen] = '\0';
	if (strlcpy(port, colon + 1, portsize) >= portsize)
		return -1;
	if (strcmp(host, "localhost") == 0)
		strlcpy(host, "127.0.0.1", hostsize);
check:
	/* Digits only: getaddrinfo would take "+80" or " 80". */
	if (port[0] == '\0' || strspn(port, "0123456789") != strlen(port) ||
	    strlen(port) > 5 || atoi(port) > 65535)
		return -1;
	return 0;
}

/* Returns a listening socket on spec; see pv_private.h. */
int
net_listen(const char *spec, int type, char *err, size_t errsize)
{
	struct addrinfo hints, *ai = NULL;
	char host[INET6_ADDRSTRLEN + 1], port[8], name[INET6_ADDRSTRLEN + 16];
	int fd = -1, one = 1, r;

	if (err != NULL && errsize > 0)
		err[0] = '\0';
	if (spec == NULL || (type != SOCK_STREAM && type != SOCK_DGRAM)) {
		errno = EINVAL;
		net_error(err, errsize, "bad address '%s'",
		    spec != NULL ? spec : "");
		return -1;
	}
	if (net_split(spec, host, sizeof(host), port, sizeof(port)) == -1) {
		errno = EINVAL;
		net_error(err, errsize, "bad address '%s'", spec);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = type;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0 || ai == NULL) {
		errno = r == EAI_MEMORY ? ENOMEM : EINVAL;
		net_error(err, errsize, "bad address '%s'", spec);
		if (ai != NULL)
			freeaddrinfo(ai);
		return -1;
	}
	/* The canonical form names the address in every later message. */
	snprintf(name, sizeof(name), ai->ai_family == AF_INET6 ? "[%s]:%s" :
	    "%s:%s", host, port);
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		net_error(err, errsize, "%s: socket: %s", name,
		    strerror(errno));
		goto fail;
	}
	/* A restart must not wait out the old connections' TIME_WAIT. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1) {
		net_error(err, errsize, "%s: SO_REUSEADDR: %s", name,
		    strerror(errno));
		goto fail;
	}
	/* "[::]:80" means IPv6 only, never IPv4 through mapped addresses. */
	if (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) {
		net_error(err, errsize, "%s: IPV6_V6ONLY: %s", name,
		    strerror(errno));
		goto fail;
	}
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		net_error(err, errsize, "%s: %s", name, strerror(errno));
		goto fail;
	}
	if (type == SOCK_STREAM && listen(fd, SOMAXCONN) == -1) {
		net_error(err, errsize, "%s: listen: %s", name,
		    strerror(errno));
		goto fail;
	}
	freeaddrinfo(ai);
	return fd;
fail:
	r = errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	errno = r;
	return -1;
}

/*
 * Tells whether a unix socket at path has a listener: 1 if a connect
 * succeeds or would wait, 0 if it is refused (stale), -1 with errno on
 * another failure.
 */
static int
net_unix_live(const struct sockaddr_un *sun)
{
	int fd, r, saved;

	/* Non-blocking: a live server with a full backlog gives EAGAIN. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	do
		r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	while (r == -1 && errno == EINTR);
	saved = errno;
	close(fd);
	if (r == 0 || saved == EAGAIN || saved == EINPROGRESS)
		return 1;
	if (saved == ECONNREFUSED)
		return 0;
	errno = saved;
	return -1;
}

/* Returns a listening unix socket at path; see pv_private.h. */
int
net_listen_unix(const char *path)
{
	struct sockaddr_un sun;
	struct stat sb;
	int fd = -1, saved, tries;

	if (path == NULL || *path == '\0') {
		errno = EINVAL;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/*
	 * Linux creates the socket file with the socket inode's mode less
	 * the umask: set it first, so the file is never open to others,
	 * without touching the process-wide umask.
	 */
	if (fchmod(fd, 0600) == -1)
		goto fail;
	for (tries = 0; ; tries++) {
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno != EADDRINUSE || tries > 0)
			goto fail;
		/* Something is there: replace only a stale socket. */
		if (lstat(path, &sb) == -1) {
			if (errno == ENOENT)
				continue;	/* gone meanwhile: retry */
			goto fail;
		}
		if (!S_ISSOCK(sb.st_mode)) {
			errno = EEXIST;
			goto fail;
		}
		switch (net_unix_live(&sun)) {
		case 1:
			errno = EADDRINUSE;
			goto fail;
		case 0:
			if (unlink(path) == -1 && errno != ENOENT)
				goto fail;
			break;
		default:
			goto fail;
		}
	}
	/*
	 * In case the file system ignored the inode's mode; nobody can
	 * connect before listen, so there is no window.
	 */
	if (chmod(path, 0600) == -1 || listen(fd, SOMAXCONN) == -1) {
		saved = errno;
		unlink(path);
		errno = saved;
		goto fail;
	}
	return fd;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Formats the peer of fd; see pv_private.h. */
int
net_peer(int fd, char *host, size_t hostsize, unsigned *port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	struct sockaddr_un *sun;
	socklen_t len = sizeof(ss);
	size_t plen;

	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (port != NULL)
		*port = 0;
	switch (ss.ss_family) {
	case AF_INET:
		sin = (struct sockaddr_in *)&ss;
		if (inet_ntop(AF_INET, &sin->sin_addr, host,
		    (socklen_t)hostsize) == NULL)
			return -1;
		if (port != NULL)
			*port = ntohs(sin->sin_port);
		return 0;
	case AF_INET6:
		sin6 = (struct sockaddr_in6 *)&ss;
		if (inet_ntop(AF_INET6, &sin6->sin6_addr, host,
		    (socklen_t)hostsize) == NULL)
			return -1;
		if (port != NULL)
			*port = ntohs(sin6->sin6_port);
		return 0;
	case AF_UNIX:
		/* Usually unnamed: then the empty string. */
		sun = (struct sockaddr_un *)&ss;
		plen = len > offsetof(struct sockaddr_un, sun_path) ?
		    len - offsetof(struct sockaddr_un, sun_path) : 0;
		if (plen > 0 && sun->sun_path[0] == '\0')
			plen = 0;	/* abstract: not printable */
		plen = strnlen(sun->sun_path, plen);
		if (hostsize == 0 || plen >= hostsize) {
			errno = ENOSPC;
			return -1;
		}
		memcpy(host, sun->sun_path, plen);
		host[plen] = '\0';
		return 0;
	default:
		errno = EAFNOSUPPORT;
		return -1;
	}
}

/* Sheds one waiting connection using the reserve fd; see pv_private.h. */
int
net_shed(int lfd, int *reserve, void (*turn_away)(int fd, void *arg),
    void *arg)
{
	int fd, saved;

	if (*reserve < 0)
		return -1;
	close(*reserve);
	*reserve = -1;
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd == -1 && errno == EINTR);
	saved = errno;
	if (fd >= 0) {
		if (turn_away != NULL)
			turn_away(fd, arg);
		else
			close(fd);
	}
	*reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return 1;
	return saved == EAGAIN || saved == EWOULDBLOCK ? 0 : -1;
}

/*
 * Turns a client away with one line; see pv_private.h.  What it already
 * sent is read first: closing a socket with unread input resets it, which
 * can destroy the line before the client reads it.
 */
void
net_refuse(int fd, const char *line, size_t len)
{
	char buf[4096];
	ssize_t n;
	int i;

	for (i = 0; i < 8; i++) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0 && !(n == -1 && errno == EINTR))
			break;
	}
	/* A fresh socket's buffer takes one short line whole. */
	do
		n = send(fd, line, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	shutdown(fd, SHUT_WR);
	close(fd);
}
