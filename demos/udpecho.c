/*
 * udpecho: a UDP echo server and client, for scripts/demo-sockets.
 *
 * usage: udpecho server addr:port
 *        udpecho client addr:port message ...
 *
 * The server binds a datagram socket (port 0 takes a free one), prints
 * "listening on ADDR:PORT", and sends every datagram back to whoever sent
 * it: there is no connection and no accept, a client is just the address
 * a datagram came from.  SIGTERM, SIGINT and SIGHUP stop it (they are
 * caught with libpipevisor and end the recvfrom that runs in the armed
 * window, pv_sig_window).
 *
 * The client connect(2)s its socket, which only fixes the peer address,
 * sends each message as one datagram and waits up to one second for each
 * echo.  Datagram boundaries are kept: three sends are three receives.
 * Nothing guarantees delivery: with no server, the kernel's ICMP "port
 * unreachable" shows up as ECONNREFUSED on the connected socket, and
 * otherwise only the timeout tells.  Addresses are numeric IPv4.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"

#define DGRAM_MAX	2048
#define ECHO_MS		1000

/* Arguments of one recvfrom inside the armed window. */
struct rcv {
	int			 fd;
	char			*buf;
	size_t			 size;
	struct sockaddr_in	*from;
	socklen_t		*fromlen;
};

/* Prints the usage lines and exits 2. */
static void __attribute__((noreturn))
usage(void)
{
	fputs("usage: udpecho server addr:port\n"
	    "       udpecho client addr:port message ...\n", stderr);
	exit(2);
}

/* Parses "a.b.c.d:port" into sin, or dies. */
static void
parse_addr(const char *s, struct sockaddr_in *sin)
{
	char host[64];
	const char *colon, *errstr;
	long long port;

	if ((colon = strrchr(s, ':')) == NULL ||
	    (size_t)(colon - s) >= sizeof(host))
		errx(2, "bad address %s", s);
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	port = strtonum(colon + 1, 0, 65535, &errstr);
	if (errstr != NULL)
		errx(2, "bad port in %s: %s", s, errstr);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		errx(2, "bad address %s", s);
}

/* The recvfrom that pv_sig_window runs; a caught signal abandons it. */
static long
rcv_call(void *p)
{
	struct rcv *r = p;

	return (long)recvfrom(r->fd, r->buf, r->size, 0,
	    (struct sockaddr *)r->from, r->fromlen);
}

/* Echoes datagrams until a stop signal. */
static int
udp_server(const char *addr)
{
	struct sockaddr_in sin, from;
	socklen_t len, fromlen;
	struct rcv r;
	char buf[DGRAM_MAX], who[INET_ADDRSTRLEN];
	long n;
	int fd, sig;

	if (pv_sig_init() == -1 || pv_sig_catch(SIGTERM) == -1 ||
	    pv_sig_catch(SIGINT) == -1 || pv_sig_catch(SIGHUP) == -1)
		err(1, "signals");
	parse_addr(addr, &sin);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "bind %s", addr);
	len = sizeof(sin);
	if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		err(1, "getsockname");
	printf("udpecho: server %ld listening on %s:%u\n", (long)getpid(),
	    inet_ntop(AF_INET, &sin.sin_addr, who, sizeof(who)),
	    ntohs(sin.sin_port));
	r.fd = fd;
	r.buf = buf;
	r.size = sizeof(buf);
	r.from = &from;
	r.fromlen = &fromlen;
	for (;;) {
		fromlen = sizeof(from);
		n = pv_sig_window(rcv_call, &r);
		if (n == -1 && errno == EINTR) {
			if ((sig = pv_sig_take()) == 0)
				continue;
			printf("udpecho: server: SIG%s: bye\n",
			    pv_signal_name(sig));
			close(fd);
			return 0;
		}
		if (n == -1)
			err(1, "recvfrom");
		printf("udpecho: server: %ld bytes from %s:%u, sent back\n", n,
		    inet_ntop(AF_INET, &from.sin_addr, who, sizeof(who)),
		    ntohs(from.sin_port));
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from,
		    fromlen) == -1)
			warn("sendto");
	}
}

/* Sends each message as a datagram and prints each echo. */
static int
udp_client(const char *addr, int nmsg, char *msgs[])
{
	struct sockaddr_in sin;
	struct pollfd pfd;
	char buf[DGRAM_MAX];
	ssize_t n;
	int fd, i;

	parse_addr(addr, &sin);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(1, "connect %s", addr);
	for (i = 0; i < nmsg; i++)
		if (send(fd, msgs[i], strlen(msgs[i]), 0) == -1)
			err(1, "send");
	printf("udpecho: client sent %d datagram%s to %s\n", nmsg,
	    nmsg == 1 ? "" : "s", addr);
	pfd.fd = fd;
	pfd.events = POLLIN;
	for (i = 0; i < nmsg; i++) {
		if (poll(&pfd, 1, ECHO_MS) <= 0) {
			printf("udpecho: client: no echo within %d ms\n",
			    ECHO_MS);
			return 1;
		}
		if ((n = recv(fd, buf, sizeof(buf) - 1, 0)) == -1) {
			if (errno == ECONNREFUSED) {
				printf("udpecho: client: ECONNREFUSED: "
				    "nobody listens on %s (ICMP port "
				    "unreachable)\n", addr);
				return 1;
			}
			err(1, "recv");
		}
		buf[n] = '\0';
		printf("udpecho: client got datagram %d: \"%s\" (%zd bytes)\n",
		    i + 1, buf, n);
	}
	close(fd);
	return 0;
}

/* Runs the server or the client. */
int
main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return udp_server(argv[2]);
	if (argc >= 4 && strcmp(argv[1], "client") == 0)
		return udp_client(argv[2], argc - 3, argv + 3);
	usage();
}
