/*
 * chat_peers.c: the hub's index of its UDP and message-queue clients by
 * address (DESIGN.md section 6).
 *
 * A TCP or FIFO client has a connection of its own, so the hub knows
 * whose bytes it reads.  UDP datagrams and queue messages come on one
 * shared fd, with only an address (the sender's sockaddr, or its pid) to
 * say whose they are, so the hub must find the client of an address for
 * every datagram or message.  A walk of all clients made that cost grow
 * with their number, TCP ones included; this hash table keeps it
 * constant.
 *
 * Chained through the clients themselves (no allocation per client), a
 * power-of-two number of buckets that doubles as clients come and never
 * shrinks.  The hash is seeded at random: a UDP sender picks its own
 * address and port, and with a fixed hash could pick many that collide
 * and turn each look-up back into a walk.  Only clients still in the room
 * are indexed, so one address has at most one entry.  No I/O, no signals.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipevisor.h"
#include "chat.h"

#define PEERS_BUCKETS_MIN	64

/* A client's address: the bytes that identify it on its transport. */
static const void *
peers_key(const struct chat_client *c, size_t *len)
{
	if (c->t == CHAT_UDP) {
		*len = c->addrlen;
		return &c->addr;
	}
	*len = sizeof(c->peer_pid);
	return &c->peer_pid;
}

/* Hashes transport t's address key (len bytes) with the table's seed. */
static uint64_t
peers_hash(uint64_t seed, enum chat_transport t, const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = seed ^ ((uint64_t)t << 56) ^ len, k;
	size_t n;

	while (len > 0) {
		n = len < sizeof(k) ? len : sizeof(k);
		k = 0;
		memcpy(&k, p, n);
		h = (h ^ k) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
		p += n;
		len -= n;
	}
	/* MurmurHash3's finaliser: every input bit reaches the low bits. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/* Sets up an empty index; see chat.h. */
int
chat_peers_init(struct chat_peers *p)
{
	p->buckets = calloc(PEERS_BUCKETS_MIN, sizeof(*p->buckets));
	if (p->buckets == NULL)
		return -1;
	p->nbuckets = PEERS_BUCKETS_MIN;
	p->count = 0;
	arc4random_buf(&p->seed, sizeof(p->seed));
	return 0;
}

/* Frees the buckets (the clients are the hub's); see chat.h. */
void
chat_peers_free(struct chat_peers *p)
{
	free(p->buckets);
	p->buckets = NULL;
	p->nbuckets = p->count = 0;
}

/* Doubles the buckets; on ENOMEM the chains just grow longer. */
static void
peers_grow(struct chat_peers *p)
{
	struct chat_client **nb, *c, *next;
	size_t i, n = p->nbuckets * 2;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return;
	for (i = 0; i < p->nbuckets; i++)
		for (c = p->buckets[i]; c != NULL; c = next) {
			next = c->peer_next;
			c->peer_next = nb[c->peer_hash & (n - 1)];
			nb[c->peer_hash & (n - 1)] = c;
		}
	free(p->buckets);
	p->buckets = nb;
	p->nbuckets = n;
}

/* Indexes c by its address; see chat.h. */
void
chat_peers_add(struct chat_peers *p, struct chat_client *c)
{
	const void *key;
	size_t len, b;

	if (c->peer_indexed || p->buckets == NULL)
		return;
	if (p->count >= p->nbuckets)
		peers_grow(p);
	key = peers_key(c, &len);
	c->peer_hash = peers_hash(p->seed, c->t, key, len);
	b = c->peer_hash & (p->nbuckets - 1);
	c->peer_next = p->buckets[b];
	p->buckets[b] = c;
	c->peer_indexed = 1;
	p->count++;
}

/* Takes c out of the index, if it is in; see chat.h. */
void
chat_peers_del(struct chat_peers *p, struct chat_client *c)
{
	struct chat_client **cp;

	if (!c->peer_indexed)
		return;
	for (cp = &p->buckets[c->peer_hash & (p->nbuckets - 1)]; *cp != NULL;
	    cp = &(*cp)->peer_next)
		if (*cp == c) {
			*cp = c->peer_next;
			break;
		}
	c->peer_next = NULL;
	c->peer_indexed = 0;
	p->count--;
}

/* Finds the client of transport t at address key; see chat.h. */
struct chat_client *
chat_peers_find(const struct chat_peers *p, enum chat_transport t,
    const void *key, size_t len)
{
	struct chat_client *c;
	const void *ckey;
	uint64_t h;
	size_t clen;

	if (p->buckets == NULL)
		return NULL;
	h = peers_hash(p->seed, t, key, len);
	for (c = p->buckets[h & (p->nbuckets - 1)]; c != NULL;
	    c = c->peer_next) {
		if (c->peer_hash != h || c->t != t)
			continue;
		ckey = peers_key(c, &clen);
		if (clen == len && memcmp(ckey, key, len) == 0)
			return c;
	}
	return NULL;
}
