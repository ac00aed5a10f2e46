/*
 * chat_udp.c: the hub's UDP transport (DESIGN.md section 6; the rules are
 * in chat.h).
 *
 * A datagram is one line and a client is its address.  The hub reads the
 * socket and hands each client's lines to its worker over a pipe; the
 * worker replies with sendto on its copy of the same socket, one datagram
 * per line.  UDP has no connection to lose, so a client not heard from
 * for --idle (an empty datagram is a keepalive) is expired: its peers see
 * "* NAME quit" and it gets an empty datagram, the hub's "closed".
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

#define UDP_BURST	64		/* datagrams per loop round */

static const char udp_full[] = "- server full, try again later";

/* Names an address "udp:HOST:PORT" into buf. */
static void
udp_name(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(buf, size, "udp:[%s]:%u", host, port);
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(buf, size, "udp:%s:%u", host, port);
	}
}

/* Starts a worker for a new address; NULL when it cannot be taken. */
static struct chat_client *
udp_client(struct chat_hub *hub, const struct sockaddr_storage *ss,
    socklen_t len)
{
	struct chat_client *c;

	if (hub->nclients >= hub->max_clients ||
	    (c = hub_client_new(hub, CHAT_UDP)) == NULL) {
		hub->count.refused++;
		sendto(hub->udp, udp_full, sizeof(udp_full) - 1, MSG_DONTWAIT,
		    (const struct sockaddr *)ss, len);
		return NULL;
	}
	memcpy(&c->addr, ss, len);
	c->addrlen = len;
	memcpy(&c->wcfg.addr, ss, len);
	c->wcfg.addrlen = len;
	udp_name(ss, c->peer, sizeof(c->peer));
	if (hub_client_start(hub, c, -1, hub->devnull) == -1) {
		warn("chat: %s: cannot start a worker", c->peer);
		hub->count.refused++;
		free(c);
		return NULL;
	}
	return c;
}

/* Reads datagrams, a bounded number per round. */
static void
udp_on_read(struct pv_loop *loop, int fd, unsigned events, void *arg)
{
	static char buf[CHAT_UDP_MAX + 1];
	struct chat_hub *hub = arg;
	struct sockaddr_storage ss;
	struct chat_client *c;
	socklen_t len;
	ssize_t n;
	size_t got;
	int i;

	(void)loop;
	(void)events;
	for (i = 0; i < UDP_BURST && hub->udp >= 0; i++) {
		len = sizeof(ss);
		/* MSG_TRUNC: the datagram's real length, to refuse it whole. */
		n = recvfrom(fd, buf, sizeof(buf) - 1, MSG_TRUNC |
		    MSG_DONTWAIT, (struct sockaddr *)&ss, &len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((c = chat_peers_find(&hub->peers, CHAT_UDP, &ss, len)) ==
		    NULL) {
			if (n == 0 || hub->stopping)
				continue;	/* a keepalive of an expired one */
			if ((c = udp_client(hub, &ss, len)) == NULL)
				continue;
		}
		pv_now(&c->heard);
		if (n == 0)
			continue;
		got = (size_t)n < sizeof(buf) - 1 ? (size_t)n :
		    sizeof(buf) - 1;
		if (buf[got - 1] == '\n')
			got--;
		/* Too long for any --max-line: the worker says so. */
		buf[got++] = '\n';
		hub_client_input(c, buf, got);
	}
}

/* Expires the clients not heard from for --idle. */
static void
udp_on_expire(struct pv_loop *loop, void *arg)
{
	struct chat_hub *hub = arg;
	struct chat_client *c;
	struct timespec now, when, period;

	pv_now(&now);
	TAILQ_FOREACH(c, &hub->clients, entry)
		if (c->t == CHAT_UDP && c->rc != NULL &&
		    pv_ts_cmp(pv_ts_add(c->heard, hub->idle), now) <= 0)
			hub_client_gone(c, "idle", 1);
	period.tv_sec = hub->idle.tv_sec / 4;
	period.tv_nsec = (hub->idle.tv_nsec + hub->idle.tv_sec % 4 *
	    1000000000L) / 4;
	if (period.tv_sec == 0 && period.tv_nsec < 50000000L)
		period.tv_nsec = 50000000L;
	when = pv_ts_add(now, period);
	hub->expire_timer = pv_loop_add_timer(loop, &when, udp_on_expire,
	    hub);
}

/* Opens the UDP transport; see chat.h. */
int
chat_udp_open(struct chat_hub *hub, const char *spec)
{
	char err[256];

	if ((hub->udp = net_listen(spec, SOCK_DGRAM, err, sizeof(err))) ==
	    -1) {
		warnx("chat: --udp: %s", err);
		return -1;
	}
	if (pv_loop_add_fd(hub->loop, hub->udp, PV_READ, udp_on_read, hub) ==
	    -1) {
		warn("chat: --udp %s", spec);
		return -1;
	}
	udp_on_expire(hub->loop, hub);
	if (hub->expire_timer == NULL) {
		warn("chat: --udp %s", spec);
		return -1;
	}
	return 0;
}

/* Closes the UDP socket (the workers keep their copies to say goodbye). */
void
chat_udp_close(struct chat_hub *hub)
{
	pv_loop_cancel_timer(hub->loop, hub->expire_timer);
	hub->expire_timer = NULL;
	if (hub->udp >= 0) {
		pv_loop_del_fd(hub->loop, hub->udp);
		close(hub->udp);
		hub->udp = -1;
	}
}
