/*
 * chat_room.c: the hub's routing state: which client has which name, and
 * who is in which group (DESIGN.md section 6).
 *
 * Names and group names are unique ignoring ASCII case and looked up in
 * hash tables keyed by their lowercase form; a group keeps the spelling
 * of the member that created it and exists only while it has members.
 * Each group keeps its members in order of joining (for `who`, and so a
 * delivery goes out in a stable order); each client keeps the groups it
 * is in.  Pure data: no I/O, no signals, and nothing here allocates per
 * delivered line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"

#define ROOM_BUCKETS_MIN	64

/* A hash table entry: a name (lowercase key) and what it names. */
struct room_entry {
	struct room_entry	*next;
	uint32_t		 hash;
	char			 key[CHAT_NAME_MAX + 1];
	void			*value;
};

struct room_table {
	struct room_entry	**buckets;
	size_t			  nbuckets, count;
};

struct room_client {
	void			 *data;
	char			  name[CHAT_NAME_MAX + 1];
	struct room_group	**groups;
	size_t			  ngroups, capgroups;
	uint64_t		  mark;		/* room_each_peer's epoch */
};

struct room_group {
	char			  name[CHAT_NAME_MAX + 1];
	size_t			  index;	/* in room->groups */
	struct room_client	**members;
	size_t			  n, cap;
};

struct chat_room {
	struct room_table	  names;	/* -> struct room_client */
	struct room_table	  groups;	/* -> struct room_group */
	struct room_group	**list;		/* every group */
	size_t			  nlist, caplist;
	uint64_t		  epoch;
};

/* Copies name in lowercase into key (CHAT_NAME_MAX + 1 bytes) and hashes it. */
static uint32_t
room_key(const char *name, char *key)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < CHAT_NAME_MAX && name[i] != '\0'; i++) {
		key[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] + ('a' - 'A') : name[i]);
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	}
	key[i] = '\0';
	return h;
}

/* Returns the entry for name in t, or NULL. */
static struct room_entry *
room_table_find(const struct room_table *t, const char *name)
{
	char key[CHAT_NAME_MAX + 1];
	struct room_entry *e;
	uint32_t h;

	if (t->nbuckets == 0)
		return NULL;
	h = room_key(name, key);
	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Doubles t's buckets (or makes the first ones).  Returns 0 or -1. */
static int
room_table_grow(struct room_table *t)
{
	struct room_entry **nb, *e, *next;
	size_t n = t->nbuckets ? t->nbuckets * 2 : ROOM_BUCKETS_MIN, i;

	if ((nb = calloc(n, sizeof(*nb))) == NULL)
		return -1;
	for (i = 0; i < t->nbuckets; i++)
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			e->next = nb[e->hash & (n - 1)];
			nb[e->hash & (n - 1)] = e;
		}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
	return 0;
}

/* Adds name -> value to t (the name must not be there).  0 or -1. */
static int
room_table_add(struct room_table *t, const char *name, void *value)
{
	struct room_entry *e;

	if (t->count >= t->nbuckets && room_table_grow(t) == -1)
		return -1;
	if ((e = malloc(sizeof(*e))) == NULL)
		return -1;
	e->hash = room_key(name, e->key);
	e->value = value;
	e->next = t->buckets[e->hash & (t->nbuckets - 1)];
	t->buckets[e->hash & (t->nbuckets - 1)] = e;
	t->count++;
	return 0;
}

/* Removes name from t, if there. */
static void
room_table_del(struct room_table *t, const char *name)
{
	char key[CHAT_NAME_MAX + 1];
	struct room_entry **ep, *e;
	uint32_t h;

	if (t->nbuckets == 0)
		return;
	h = room_key(name, key);
	for (ep = &t->buckets[h & (t->nbuckets - 1)]; (e = *ep) != NULL;
	    ep = &e->next)
		if (e->hash == h && strcmp(e->key, key) == 0) {
			*ep = e->next;
			free(e);
			t->count--;
			return;
		}
}

/* Frees every entry of t (not the values). */
static void
room_table_free(struct room_table *t)
{
	struct room_entry *e, *next;
	size_t i;

	for (i = 0; i < t->nbuckets; i++)
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(t->buckets);
}

/*
 * Returns p, or p moved to room for more than n elements of size bytes
 * (updating *cap), or NULL with errno ENOMEM (p is still valid then).
 */
static void *
room_more(void *p, size_t n, size_t *cap, size_t size)
{
	size_t ncap;

	if (n < *cap)
		return p;
	ncap = *cap ? *cap * 2 : 4;
	if ((p = reallocarray(p, ncap, size)) != NULL)
		*cap = ncap;
	return p;
}

/* Returns a new room; see chat.h. */
struct chat_room *
room_new(void)
{
	return calloc(1, sizeof(struct chat_room));
}

/* Frees a group with no members left. */
static void
room_group_free(struct chat_room *room, struct room_group *g)
{
	struct room_group *last;

	room_table_del(&room->groups, g->name);
	last = room->list[--room->nlist];
	last->index = g->index;
	room->list[g->index] = last;
	free(g->members);
	free(g);
}

/* Takes c out of g, keeping the order of the others. */
static void
room_group_remove(struct chat_room *room, struct room_group *g,
    struct room_client *c)
{
	size_t i;

	for (i = 0; i < g->n; i++)
		if (g->members[i] == c) {
			memmove(&g->members[i], &g->members[i + 1],
			    (g->n - i - 1) * sizeof(g->members[0]));
			g->n--;
			break;
		}
	if (g->n == 0)
		room_group_free(room, g);
}

/* Frees the room; see chat.h. */
void
room_free(struct chat_room *room)
{
	size_t i;

	if (room == NULL)
		return;
	for (i = 0; i < room->nlist; i++) {
		free(room->list[i]->members);
		free(room->list[i]);
	}
	free(room->list);
	room_table_free(&room->names);
	room_table_free(&room->groups);
	free(room);
}

/* Adds a nameless client; see chat.h. */
struct room_client *
room_client_new(struct chat_room *room, void *data)
{
	struct room_client *c;

	(void)room;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->data = data;
	return c;
}

/* Removes and frees a client; see chat.h. */
void
room_client_free(struct chat_room *room, struct room_client *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->ngroups; i++)
		room_group_remove(room, c->groups[i], c);
	if (c->name[0] != '\0')
		room_table_del(&room->names, c->name);
	free(c->groups);
	free(c);
}

/* The caller's data for c. */
void *
room_client_data(const struct room_client *c)
{
	return c->data;
}

/* The client's name, or NULL. */
const char *
room_client_name(const struct room_client *c)
{
	return c->name[0] != '\0' ? c->name : NULL;
}

/* Names a client; see chat.h. */
int
room_client_set_name(struct chat_room *room, struct room_client *c,
    const char *name)
{
	if (c->name[0] != '\0') {
		errno = EALREADY;
		return -1;
	}
	if (room_table_find(&room->names, name) != NULL) {
		errno = EEXIST;
		return -1;
	}
	if (room_table_add(&room->names, name, c) == -1)
		return -1;
	strlcpy(c->name, name, sizeof(c->name));
	return 0;
}

/* Finds a named client; see chat.h. */
struct room_client *
room_find(const struct chat_room *room, const char *name)
{
	struct room_entry *e = room_table_find(&room->names, name);

	return e != NULL ? e->value : NULL;
}

/* Finds a group; see chat.h. */
struct room_group *
room_group_find(const struct chat_room *room, const char *group)
{
	struct room_entry *e = room_table_find(&room->groups, group);

	return e != NULL ? e->value : NULL;
}

/* Adds c to a group; see chat.h. */
int
room_join(struct chat_room *room, struct room_client *c, const char *group,
    size_t max)
{
	struct room_group *g;
	void *p;
	int created = 0;

	if ((g = room_group_find(room, group)) != NULL &&
	    room_is_member(g, c)) {
		errno = EALREADY;
		return -1;
	}
	if (c->ngroups >= max) {
		errno = E2BIG;
		return -1;
	}
	if ((p = room_more(c->groups, c->ngroups, &c->capgroups,
	    sizeof(*c->groups))) == NULL)
		return -1;
	c->groups = p;
	if (g == NULL) {
		if ((p = room_more(room->list, room->nlist, &room->caplist,
		    sizeof(*room->list))) == NULL)
			return -1;
		room->list = p;
		if ((g = calloc(1, sizeof(*g))) == NULL)
			return -1;
		strlcpy(g->name, group, sizeof(g->name));
		if (room_table_add(&room->groups, group, g) == -1) {
			free(g);
			return -1;
		}
		g->index = room->nlist;
		room->list[room->nlist++] = g;
		created = 1;
	}
	if ((p = room_more(g->members, g->n, &g->cap,
	    sizeof(*g->members))) == NULL) {
		if (created)
			room_group_free(room, g);
		return -1;
	}
	g->members = p;
	g->members[g->n++] = c;
	c->groups[c->ngroups++] = g;
	return 0;
}

/* Takes c out of a group; see chat.h. */
int
room_leave(struct chat_room *room, struct room_client *c, const char *group)
{
	struct room_group *g;
	size_t i;

	if ((g = room_group_find(room, group)) == NULL)
		goto none;
	for (i = 0; i < c->ngroups; i++)
		if (c->groups[i] == g) {
			c->groups[i] = c->groups[--c->ngroups];
			room_group_remove(room, g, c);
			return 0;
		}
none:
	errno = ENOENT;
	return -1;
}

/* The group's name. */
const char *
room_group_name(const struct room_group *g)
{
	return g->name;
}

/* The group's members in order of joining. */
struct room_client *const *
room_group_members(const struct room_group *g, size_t *n)
{
	*n = g->n;
	return g->members;
}

/* Returns 1 if c is in g: looks through the shorter of the two lists. */
int
room_is_member(const struct room_group *g, const struct room_client *c)
{
	size_t i;

	if (c->ngroups <= g->n) {
		for (i = 0; i < c->ngroups; i++)
			if (c->groups[i] == g)
				return 1;
	} else
		for (i = 0; i < g->n; i++)
			if (g->members[i] == c)
				return 1;
	return 0;
}

/* Every group. */
struct room_group *const *
room_groups(const struct chat_room *room, size_t *n)
{
	*n = room->nlist;
	return room->list;
}

/* The number of groups c is in. */
size_t
room_client_ngroups(const struct room_client *c)
{
	return c->ngroups;
}

/* The number of named clients. */
size_t
room_nnamed(const struct chat_room *room)
{
	return room->names.count;
}

/* Calls fn once per client sharing a group with c; see chat.h. */
void
room_each_peer(struct chat_room *room, struct room_client *c,
    void (*fn)(struct room_client *, void *), void *arg)
{
	struct room_group *g;
	size_t i, j;

	room->epoch++;
	c->mark = room->epoch;
	for (i = 0; i < c->ngroups; i++) {
		g = c->groups[i];
		for (j = 0; j < g->n; j++)
			if (g->members[j]->mark != room->epoch) {
				g->members[j]->mark = room->epoch;
				fn(g->members[j], arg);
			}
	}
}
