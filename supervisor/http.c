/*
 * http.c: a tiny HTTP/1.1 server on the event loop, for status pages.
 *
 * One request and one response per connection ("Connection: close").
 * Every socket is non-blocking and every step is a loop callback, so a
 * slow or silent client never blocks the loop: a connection has a fixed
 * deadline (HTTP_DEADLINE_MS from its accept, not reset by activity, so a
 * client trickling a byte at a time is closed as surely as an idle one),
 * its request must fit in HTTP_MAXREQ bytes (else 414 or 431), and the
 * response is written as the socket takes it.  GET and HEAD are answered
 * by the caller's handler with the path (query string removed, not
 * decoded); any other method gets 405 with "Allow: GET, HEAD".
 *
 * After the response the server shuts its side down and reads what the
 * client still sends until end of file (a "lingering close"): closing
 * with unread input makes the kernel send a reset, which can destroy the
 * response before the client has read it.
 *
 * EMFILE/ENFILE on accept would leave the listener readable for ever and
 * spin the loop (RELIABILITY.md item 34): a reserve fd is closed to accept
 * and at once close the excess connection, then reopened; if even that
 * fails the listener pauses briefly.  Sends use MSG_NOSIGNAL, so SIGPIPE
 * is never raised here whatever the program's dispositions.  No signals.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define HTTP_MAXREQ		8192	/* request line and headers */
#define HTTP_DEADLINE_MS	5000	/* per connection, from accept */
#define HTTP_MAXCONNS		256	/* beyond: accepted and closed */
#define HTTP_ACCEPT_BURST	64	/* accepts per loop round */
#define HTTP_PAUSE_MS		100	/* listener rest when out of fds */

enum http_state {
	HTTP_READING,		/* collecting the request */
	HTTP_WRITING,		/* sending the response */
	HTTP_LINGERING		/* response sent: draining until EOF */
};

struct http_conn {
	TAILQ_ENTRY(http_conn)	 entry;
	struct http		*h;
	int			 fd;
	enum http_state		 state;
	struct pv_timer		*timer;
	size_t			 len;		/* bytes in req */
	char			 head[512];	/* status line and headers */
	size_t			 headlen;
	char			*body;		/* malloc'd, or NULL */
	size_t			 bodylen;
	size_t			 sent;		/* of head, then body */
	char			 req[HTTP_MAXREQ + 1];
};

TAILQ_HEAD(http_conns, http_conn);

struct http {
	struct pv_loop		*loop;
	int			 fd;		/* the listener */
	int			 reserve;	/* /dev/null, for EMFILE */
	int			 paused;
	struct pv_timer		*resume;
	struct http_conns	 conns;
	size_t			 nconns;
	int			(*handler)(const char *, struct http_response *,
				    void *);
	void			*arg;
};

static void	http_on_conn(struct pv_loop *, int, unsigned, void *);
static void	http_on_listen(struct pv_loop *, int, unsigned, void *);

/* Returns the reason phrase of an HTTP status code. */
static const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 303: return "See Other";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* Returns now + ms on the monotonic clock. */
static struct timespec
http_in_ms(long ms)
{
	struct timespec now, d = { ms / 1000, (ms % 1000) * 1000000L };

	pv_now(&now);
	return pv_ts_add(now, d);
}

/* Closes one connection and frees everything it holds. */
static void
http_close(struct http_conn *c)
{
	struct http *h = c->h;

	pv_loop_cancel_timer(h->loop, c->timer);
	/* Delete the watch before close: epoll must not keep the fd. */
	pv_loop_del_fd(h->loop, c->fd);
	close(c->fd);
	TAILQ_REMOVE(&h->conns, c, entry);
	h->nconns--;
	free(c->body);
	free(c);
}

/* The connection's deadline passed: it was idle, slow, or not reading. */
static void
http_on_deadline(struct pv_loop *loop, void *arg)
{
	struct http_conn *c = arg;

	(void)loop;
	c->timer = NULL;	/* the loop has freed it */
	http_close(c);
}

/* Response sent: stop writing, then drain the client's input until EOF. */
static void
http_linger(struct http_conn *c)
{
	if (shutdown(c->fd, SHUT_WR) == -1 ||
	    pv_loop_mod_fd(c->h->loop, c->fd, PV_READ) == -1) {
		http_close(c);
		return;
	}
	c->state = HTTP_LINGERING;
}

/* Writes as much of the response as the socket takes. */
static void
http_write(struct http_conn *c)
{
	struct iovec iov[2];
	struct msghdr msg;
	size_t total = c->headlen + c->bodylen;
	ssize_t n;

	while (c->sent < total) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = iov;
		if (c->sent < c->headlen) {
			iov[0].iov_base = c->head + c->sent;
			iov[0].iov_len = c->headlen - c->sent;
			iov[1].iov_base = c->body;
			iov[1].iov_len = c->bodylen;
			msg.msg_iovlen = c->bodylen > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = c->body + (c->sent - c->headlen);
			iov[0].iov_len = total - c->sent;
			msg.msg_iovlen = 1;
		}
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if (pv_loop_mod_fd(c->h->loop, c->fd,
				    PV_WRITE) == -1)
					http_close(c);
				return;
			}
			http_close(c);	/* EPIPE, ECONNRESET: gone */
			return;
		}
		c->sent += (size_t)n;
	}
	free(c->body);
	c->body = NULL;
	http_linger(c);
}

/*
 * Prepares the response: head from status and type, body taken over
 * (freed later; not sent for HEAD), and starts writing it.
 */
static void
http_respond(struct http_conn *c, int status, const char *type, char *body,
    size_t len, int head_only, const char *extra)
{
	int n;

	n = snprintf(c->head, sizeof(c->head),
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "Cache-Control: no-store\r\n"
	    "\r\n", status, http_reason(status),
	    type != NULL ? type : "text/plain; charset=utf-8", len,
	    extra != NULL ? extra : "");
	if (n < 0 || (size_t)n >= sizeof(c->head)) {
		/* Only a handler's absurd content type gets here. */
		free(body);
		http_close(c);
		return;
	}
	c->headlen = (size_t)n;
	if (head_only) {
		free(body);
		body = NULL;
		len = 0;
	}
	c->body = body;
	c->bodylen = len;
	c->sent = 0;
	c->state = HTTP_WRITING;
	http_write(c);
}

/* Answers with a short text page of the server's own making. */
static void
http_respond_error(struct http_conn *c, int status, int head_only,
    const char *extra)
{
	char *body;
	int n;

	if ((n = asprintf(&body, "%d %s\n", status, http_reason(status))) ==
	    -1) {
		http_close(c);
		return;
	}
	http_respond(c, status, NULL, body, (size_t)n, head_only, extra);
}

/*
 * Parses the complete request head in c->req and answers it.  Only the
 * request line matters: the headers are read and ignored.
 */
static void
http_handle(struct http_conn *c)
{
	struct http_response resp;
	char *method, *target, *version, *eol, *sp, *q;
	int head_only, r;

	/* The head's end was found, so there is a line end. */
	if ((eol = strchr(c->req, '\n')) == NULL)
		goto bad;
	*eol = '\0';
	if (eol > c->req && eol[-1] == '\r')
		eol[-1] = '\0';
	method = c->req;
	if ((sp = strchr(method, ' ')) == NULL)
		goto bad;
	*sp = '\0';
	target = sp + 1;
	if ((sp = strchr(target, ' ')) == NULL)
		goto bad;
	*sp = '\0';
	version = sp + 1;
	if (*method == '\0' || *target == '\0' || strchr(version, ' ') != NULL)
		goto bad;
	if (strncmp(version, "HTTP/", 5) != 0)
		goto bad;
	if (strncmp(version, "HTTP/1.", 7) != 0) {
		http_respond_error(c, 505, 0, NULL);
		return;
	}
	head_only = strcmp(method, "HEAD") == 0;
	if (!head_only && strcmp(method, "GET") != 0) {
		http_respond_error(c, 405, 0, "Allow: GET, HEAD\r\n");
		return;
	}
	/* Origin form only ("/path?query"); "*" and absolute URLs are not. */
	if (target[0] != '/')
		goto bad;
	if ((q = strpbrk(target, "?#")) != NULL)
		*q = '\0';

	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	r = c->h->handler(target, &resp, c->h->arg);
	/* A type with a line break would smuggle in headers of its own. */
	if (r == -1 || resp.status < 100 || resp.status > 999 ||
	    (resp.body == NULL && resp.len > 0) ||
	    (resp.content_type != NULL &&
	    strpbrk(resp.content_type, "\r\n") != NULL)) {
		free(resp.body);
		http_respond_error(c, 500, head_only, NULL);
		return;
	}
	http_respond(c, resp.status, resp.content_type, resp.body, resp.len,
	    head_only, NULL);
	return;
bad:
	http_respond_error(c, 400, 0, NULL);
}

/* Reads request bytes; answers once the head is complete or too big. */
static void
http_read(struct http_conn *c)
{
	ssize_t n;
	char *from;

	for (;;) {
		n = recv(c->fd, c->req + c->len, HTTP_MAXREQ - c->len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			/* End of file before a whole request, or an error. */
			http_close(c);
			return;
		}
		if (memchr(c->req + c->len, '\0', (size_t)n) != NULL) {
			http_respond_error(c, 400, 0, NULL);
			return;
		}
		/*
		 * Search only the new bytes (and 3 before): a client sending
		 * one byte at a time must not cost a rescan each.
		 */
		from = c->req + (c->len >= 3 ? c->len - 3 : 0);
		c->len += (size_t)n;
		c->req[c->len] = '\0';
		/* The head ends with an empty line; bare LF is tolerated. */
		if (strstr(from, "\r\n\r\n") != NULL ||
		    strstr(from, "\n\n") != NULL) {
			http_handle(c);
			return;
		}
		if (c->len == HTTP_MAXREQ) {
			http_respond_error(c, strchr(c->req, '\n') == NULL ?
			    414 : 431, 0, NULL);
			return;
		}
	}
}

/* Drains what the client still sends after the response, until EOF. */
static void
http_drain(struct http_conn *c)
{
	char buf[4096];
	ssize_t n;
	int rounds;

	/* Bounded per round so one client cannot hold the loop. */
	for (rounds = 0; rounds < 16; rounds++) {
		n = recv(c->fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0)
			break;
	}
	if (rounds == 16)
		return;
	http_close(c);
}

/* The loop's callback for one connection. */
static void
http_on_conn(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct http_conn *c = arg;

	(void)loop;
	(void)fd;
	switch (c->state) {
	case HTTP_READING:
		if (events & PV_READ)
			http_read(c);
		break;
	case HTTP_WRITING:
		if (events & PV_WRITE)
			http_write(c);
		break;
	case HTTP_LINGERING:
		if (events & PV_READ)
			http_drain(c);
		break;
	}
}

/* Sets up a freshly accepted connection, or closes it. */
static void
http_add_conn(struct http *h, int fd)
{
	struct http_conn *c;
	struct timespec when;

	if (h->nconns >= HTTP_MAXCONNS || (c = calloc(1, sizeof(*c))) ==
	    NULL) {
		close(fd);
		return;
	}
	c->h = h;
	c->fd = fd;
	c->state = HTTP_READING;
	when = http_in_ms(HTTP_DEADLINE_MS);
	if ((c->timer = pv_loop_add_timer(h->loop, &when, http_on_deadline,
	    c)) == NULL) {
		free(c);
		close(fd);
		return;
	}
	if (pv_loop_add_fd(h->loop, fd, PV_READ, http_on_conn, c) == -1) {
		pv_loop_cancel_timer(h->loop, c->timer);
		free(c);
		close(fd);
		return;
	}
	TAILQ_INSERT_TAIL(&h->conns, c, entry);
	h->nconns++;
}

/* Starts watching the listener again after a pause. */
static void
http_on_resume(struct pv_loop *loop, void *arg)
{
	struct http *h = arg;
	struct timespec when;

	h->resume = NULL;
	if (pv_loop_add_fd(loop, h->fd, PV_READ, http_on_listen, h) == 0) {
		h->paused = 0;
		return;
	}
	/* Still short of memory: try again later rather than go deaf. */
	when = http_in_ms(HTTP_PAUSE_MS);
	h->resume = pv_loop_add_timer(loop, &when, http_on_resume, h);
}

/*
 * Stops watching the listener for a moment: accept failed in a way that
 * would fail again at once (out of fds with no reserve, out of memory).
 */
static void
http_pause(struct http *h)
{
	struct timespec when;

	if (h->paused)
		return;
	when = http_in_ms(HTTP_PAUSE_MS);
	if ((h->resume = pv_loop_add_timer(h->loop, &when, http_on_resume,
	    h)) == NULL)
		return;		/* nothing better to do than stay watched */
	pv_loop_del_fd(h->loop, h->fd);
	h->paused = 1;
}

/* Accepts waiting connections, a bounded number per round. */
static void
http_on_listen(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	struct http *h = arg;
	int i, cfd;

	(void)loop;
	(void)events;
	for (i = 0; i < HTTP_ACCEPT_BURST; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			http_add_conn(h, cfd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			continue;	/* that one is gone; try the next */
		case EAGAIN:
#if EAGAIN != EWOULDBLOCK
		case EWOULDBLOCK:
#endif
			return;
		case EMFILE:
		case ENFILE:
			switch (net_shed(h->fd, &h->reserve, NULL, NULL)) {
			case 1:
				continue;
			case 0:
				return;
			default:
				http_pause(h);
				return;
			}
		default:
			/* ENOBUFS, ENOMEM, ...: would fail again at once. */
			http_pause(h);
			return;
		}
	}
}

/* Starts the server; see pv_private.h. */
struct http *
http_start(struct pv_loop *loop, const char *spec,
    int (*handler)(const char *, struct http_response *, void *), void *arg,
    char *err, size_t errsize)
{
	struct http *h;
	int saved;

	if (loop == NULL || handler == NULL) {
		errno = EINVAL;
		if (err != NULL && errsize > 0)
			snprintf(err, errsize, "http: no loop or handler");
		return NULL;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		if (err != NULL && errsize > 0)
			snprintf(err, errsize, "%s", strerror(errno));
		return NULL;
	}
	h->loop = loop;
	h->handler = handler;
	h->arg = arg;
	h->reserve = -1;
	TAILQ_INIT(&h->conns);
	if ((h->fd = net_listen(spec, SOCK_STREAM, err, errsize)) == -1) {
		saved = errno;
		free(h);
		errno = saved;
		return NULL;
	}
	if ((h->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1 ||
	    pv_loop_add_fd(loop, h->fd, PV_READ, http_on_listen, h) == -1) {
		saved = errno;
		if (err != NULL && errsize > 0)
			snprintf(err, errsize, "%s: %s", spec, strerror(saved));
		if (h->reserve >= 0)
			close(h->reserve);
		close(h->fd);
		free(h);
		errno = saved;
		return NULL;
	}
	return h;
}

/* Closes the listener and every connection; see pv_private.h. */
void
http_stop(struct http *h)
{
	if (h == NULL)
		return;
	while (!TAILQ_EMPTY(&h->conns))
		http_close(TAILQ_FIRST(&h->conns));
	pv_loop_cancel_timer(h->loop, h->resume);
	if (!h->paused)
		pv_loop_del_fd(h->loop, h->fd);
	close(h->fd);
	if (h->reserve >= 0)
		close(h->reserve);
	free(h);
}
