/*
 * test_chat_peers.c: unit tests of the hub's index of UDP and msgq
 * clients by address (chat_peers.c).
 *
 * Each client found by its own address and by no other, IPv4 and IPv6
 * addresses told apart by port and by family, a pid never taken for an
 * address of the same bytes, removal (and a second removal doing
 * nothing), an address reused by a new client once the old one is out,
 * and thousands of clients through the table's growth (run it under ASan
 * or valgrind for leaks).  No signals.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipevisor.h"
#include "chat.h"
#include "check.h"

#define NPEERS	5000

/* A UDP client at 10.x.y.z:port, zeroed as recvfrom fills it. */
static void
udp4(struct chat_client *c, unsigned i, unsigned short port)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&c->addr;

	memset(c, 0, sizeof(*c));
	c->t = CHAT_UDP;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	s4->sin_addr.s_addr = htonl(0x0a000000u | i);
	c->addrlen = sizeof(*s4);
}

/* A UDP client at [2001:db8::i]:port. */
static void
udp6(struct chat_client *c, unsigned i, unsigned short port)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->addr;

	memset(c, 0, sizeof(*c));
	c->t = CHAT_UDP;
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	inet_pton(AF_INET6, "2001:db8::", &s6->sin6_addr);
	memcpy(&s6->sin6_addr.s6_addr[12], &i, sizeof(i));
	c->addrlen = sizeof(*s6);
}

/* A msgq client of process pid. */
static void
msgq(struct chat_client *c, pid_t pid)
{
	memset(c, 0, sizeof(*c));
	c->t = CHAT_MSGQ;
	c->peer_pid = pid;
}

/* Finds a UDP client by a copy of its address, as recvfrom gives it. */
static struct chat_client *
find_udp(struct chat_peers *p, const struct chat_client *like)
{
	struct sockaddr_storage ss;

	memcpy(&ss, &like->addr, sizeof(ss));
	return chat_peers_find(p, CHAT_UDP, &ss, like->addrlen);
}

/* Finds a msgq client by pid. */
static struct chat_client *
find_pid(struct chat_peers *p, pid_t pid)
{
	return chat_peers_find(p, CHAT_MSGQ, &pid, sizeof(pid));
}

/* Addresses that differ only in port, family or transport. */
static void
test_addresses(void)
{
	struct chat_peers p;
	struct chat_client a, b, v6, q, probe;

	CHECK_EQ(chat_peers_init(&p), 0);
	udp4(&a, 1, 4000);
	udp4(&b, 1, 4001);
	udp6(&v6, 1, 4000);
	msgq(&q, 4000);
	chat_peers_add(&p, &a);
	chat_peers_add(&p, &v6);
	chat_peers_add(&p, &q);
	CHECK_EQ(p.count, 3);

	CHECK(find_udp(&p, &a) == &a);
	CHECK(find_udp(&p, &v6) == &v6);
	CHECK(find_udp(&p, &b) == NULL);	/* another port */
	CHECK(find_pid(&p, 4000) == &q);
	CHECK(find_pid(&p, 4001) == NULL);
	/* The same bytes as q's pid, asked for as a UDP address. */
	msgq(&probe, 4000);
	CHECK(chat_peers_find(&p, CHAT_UDP, &probe.peer_pid,
	    sizeof(probe.peer_pid)) == NULL);
	/* An address cut short is not the address. */
	CHECK(chat_peers_find(&p, CHAT_UDP, &a.addr, a.addrlen - 1) == NULL);

	/* Added twice, indexed once. */
	chat_peers_add(&p, &a);
	CHECK_EQ(p.count, 3);

	chat_peers_del(&p, &a);
	CHECK(find_udp(&p, &a) == NULL);
	CHECK(find_udp(&p, &v6) == &v6);
	CHECK_EQ(p.count, 2);
	chat_peers_del(&p, &a);			/* not in: nothing */
	CHECK_EQ(p.count, 2);
	chat_peers_del(&p, &b);			/* never in: nothing */
	CHECK_EQ(p.count, 2);

	/* A new client at a gone one's address is the one found. */
	udp4(&b, 1, 4000);
	chat_peers_add(&p, &b);
	CHECK(find_udp(&p, &a) == &b);
	chat_peers_free(&p);
	CHECK(p.buckets == NULL);
	CHECK(find_udp(&p, &b) == NULL);
}

/* Thousands of each kind, through growth, then half of them removed. */
static void
test_many(void)
{
	struct chat_peers p;
	struct chat_client *cl;
	size_t i, found = 0, gone = 0;

	CHECK_EQ(chat_peers_init(&p), 0);
	CHECK((cl = calloc(3 * NPEERS, sizeof(*cl))) != NULL);
	if (cl == NULL)
		return;
	for (i = 0; i < NPEERS; i++) {
		udp4(&cl[i], (unsigned)i, (unsigned short)(1024 + i % 7));
		udp6(&cl[NPEERS + i], (unsigned)i, 53);
		msgq(&cl[2 * NPEERS + i], (pid_t)(100 + i));
	}
	for (i = 0; i < 3 * NPEERS; i++)
		chat_peers_add(&p, &cl[i]);
	CHECK_EQ(p.count, 3 * NPEERS);
	CHECK(p.nbuckets >= 3 * NPEERS);
	CHECK_EQ(p.nbuckets & (p.nbuckets - 1), 0);
	for (i = 0; i < NPEERS; i++)
		found += find_udp(&p, &cl[i]) == &cl[i] &&
		    find_udp(&p, &cl[NPEERS + i]) == &cl[NPEERS + i] &&
		    find_pid(&p, (pid_t)(100 + i)) == &cl[2 * NPEERS + i];
	CHECK_EQ(found, NPEERS);

	for (i = 0; i < 3 * NPEERS; i += 2)
		chat_peers_del(&p, &cl[i]);
	CHECK_EQ(p.count, 3 * NPEERS / 2);
	found = 0;
	for (i = 0; i < 3 * NPEERS; i++) {
		struct chat_client *c = cl[i].t == CHAT_UDP ?
		    find_udp(&p, &cl[i]) : find_pid(&p, cl[i].peer_pid);

		if (i % 2 == 0)
			gone += c == NULL;
		else
			found += c == &cl[i];
	}
	CHECK_EQ(gone, 3 * NPEERS / 2);
	CHECK_EQ(found, 3 * NPEERS / 2);
	chat_peers_free(&p);
	free(cl);
}

/* Two tables hash the same address differently (each has its seed). */
static void
test_seeded(void)
{
	struct chat_peers p1, p2;

	CHECK_EQ(chat_peers_init(&p1), 0);
	CHECK_EQ(chat_peers_init(&p2), 0);
	CHECK(p1.seed != p2.seed);
	chat_peers_free(&p1);
	chat_peers_free(&p2);
}

int
main(void)
{
	test_addresses();
	test_many();
	test_seeded();
	return check_done("test_chat_peers");
}
