/*
 * test_chat_room.c: unit tests of the hub's routing state (chat_room.c).
 *
 * Names unique ignoring case, groups made on first join and gone with
 * their last member, member order kept through leaves, the groups-per-
 * client limit, room_each_peer visiting each peer once however many
 * groups are shared, and a churn of thousands of clients through the
 * hash tables (run it under ASan or valgrind for leaks).  No signals.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pipevisor.h"
#include "chat.h"
#include "check.h"

/* Counts the peers room_each_peer hands out, and remembers the last. */
struct peers {
	int			 n;
	struct room_client	*last;
};

/* room_each_peer's callback for the tests. */
static void
count_peer(struct room_client *peer, void *arg)
{
	struct peers *p = arg;

	p->n++;
	p->last = peer;
}

/* Names: set once, unique ignoring case, freed with the client. */
static void
test_names(void)
{
	struct chat_room *room = room_new();
	struct room_client *a, *b;

	CHECK(room != NULL);
	a = room_client_new(room, NULL);
	b = room_client_new(room, NULL);
	CHECK(room_client_name(a) == NULL);
	CHECK_EQ(room_client_set_name(room, a, "alice"), 0);
	CHECK_STREQ(room_client_name(a), "alice");
	CHECK_EQ(room_client_set_name(room, b, "ALICE"), -1);
	CHECK_EQ(errno, EEXIST);
	CHECK_EQ(room_client_set_name(room, a, "other"), -1);
	CHECK_EQ(errno, EALREADY);
	CHECK(room_find(room, "Alice") == a);
	CHECK(room_find(room, "bob") == NULL);
	CHECK_EQ(room_nnamed(room), 1);
	room_client_free(room, a);
	CHECK(room_find(room, "alice") == NULL);
	CHECK_EQ(room_client_set_name(room, b, "ALICE"), 0);
	CHECK(room_find(room, "alice") == b);
	room_client_free(room, b);
	room_free(room);
}

/* Groups: created by a join, spelled by the first member, gone when empty. */
static void
test_groups(void)
{
	struct chat_room *room = room_new();
	static char da[] = "a", db[] = "b", dc[] = "c";
	struct room_client *a, *b, *c;
	struct room_client *const *m;
	struct room_group *g;
	size_t n;

	a = room_client_new(room, da);
	b = room_client_new(room, db);
	c = room_client_new(room, dc);
	room_client_set_name(room, a, "a");
	room_client_set_name(room, b, "b");
	room_client_set_name(room, c, "c");
	CHECK_EQ(room_join(room, a, "Lobby", 8), 0);
	CHECK_EQ(room_join(room, b, "lobby", 8), 0);
	CHECK_EQ(room_join(room, c, "LOBBY", 8), 0);
	CHECK_EQ(room_join(room, c, "lobby", 8), -1);
	CHECK_EQ(errno, EALREADY);
	g = room_group_find(room, "lobby");
	CHECK(g != NULL);
	CHECK_STREQ(room_group_name(g), "Lobby");
	m = room_group_members(g, &n);
	CHECK_EQ(n, 3);
	CHECK(m[0] == a && m[1] == b && m[2] == c);
	CHECK_STREQ(room_client_data(m[1]), "b");
	/* Leaving keeps the others in order of joining. */
	CHECK_EQ(room_leave(room, a, "LOBBY"), 0);
	CHECK_EQ(room_leave(room, a, "lobby"), -1);
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(room_leave(room, a, "nowhere"), -1);
	m = room_group_members(g, &n);
	CHECK_EQ(n, 2);
	CHECK(m[0] == b && m[1] == c);
	CHECK(!room_is_member(g, a));
	CHECK(room_is_member(g, b));
	/* The limit of groups per client. */
	CHECK_EQ(room_join(room, a, "one", 2), 0);
	CHECK_EQ(room_join(room, a, "two", 2), 0);
	CHECK_EQ(room_join(room, a, "three", 2), -1);
	CHECK_EQ(errno, E2BIG);
	CHECK_EQ(room_client_ngroups(a), 2);
	room_groups(room, &n);
	CHECK_EQ(n, 3);
	/* A group goes with its last member, however it leaves. */
	room_client_free(room, a);
	CHECK(room_group_find(room, "one") == NULL);
	CHECK(room_group_find(room, "two") == NULL);
	room_groups(room, &n);
	CHECK_EQ(n, 1);
	room_client_free(room, b);
	room_client_free(room, c);
	CHECK(room_group_find(room, "lobby") == NULL);
	room_groups(room, &n);
	CHECK_EQ(n, 0);
	room_free(room);
}

/* room_each_peer: each peer once, never the client itself. */
static void
test_peers(void)
{
	struct chat_room *room = room_new();
	struct room_client *a, *b, *c;
	struct peers p;

	a = room_client_new(room, NULL);
	b = room_client_new(room, NULL);
	c = room_client_new(room, NULL);
	room_join(room, a, "x", 8);
	room_join(room, a, "y", 8);
	room_join(room, b, "x", 8);
	room_join(room, b, "y", 8);
	room_join(room, c, "z", 8);
	memset(&p, 0, sizeof(p));
	room_each_peer(room, a, count_peer, &p);
	CHECK_EQ(p.n, 1);
	CHECK(p.last == b);
	memset(&p, 0, sizeof(p));
	room_each_peer(room, c, count_peer, &p);
	CHECK_EQ(p.n, 0);
	/* Twice in a row: the epoch marks do not leak between calls. */
	memset(&p, 0, sizeof(p));
	room_each_peer(room, b, count_peer, &p);
	room_each_peer(room, b, count_peer, &p);
	CHECK_EQ(p.n, 2);
	room_client_free(room, a);
	room_client_free(room, b);
	room_client_free(room, c);
	room_free(room);
}

/* Thousands of clients through the tables, then all gone. */
static void
test_churn(void)
{
	static struct room_client *cl[5000];
	struct chat_room *room = room_new();
	char name[CHAT_NAME_MAX + 1];
	size_t i, n;

	for (i = 0; i < 5000; i++) {
		cl[i] = room_client_new(room, NULL);
		snprintf(name, sizeof(name), "User%zu", i);
		CHECK_EQ(room_client_set_name(room, cl[i], name), 0);
		snprintf(name, sizeof(name), "g%zu", i % 97);
		CHECK_EQ(room_join(room, cl[i], name, 4), 0);
	}
	CHECK_EQ(room_nnamed(room), 5000);
	CHECK(room_find(room, "user4999") == cl[4999]);
	room_groups(room, &n);
	CHECK_EQ(n, 97);
	for (i = 0; i < 5000; i += 2)
		room_client_free(room, cl[i]);
	CHECK_EQ(room_nnamed(room), 2500);
	CHECK(room_find(room, "user0") == NULL);
	CHECK(room_find(room, "user1") == cl[1]);
	for (i = 1; i < 5000; i += 2)
		room_client_free(room, cl[i]);
	room_groups(room, &n);
	CHECK_EQ(n, 0);
	CHECK_EQ(room_nnamed(room), 0);
	room_free(room);
}

int
main(void)
{
	test_names();
	test_groups();
	test_peers();
	test_churn();
	return check_done("test_chat_room");
}
