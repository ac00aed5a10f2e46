/*
 * chat_render.c: the hub's --http pages (DESIGN.md section 6): `/` an
 * HTML status page (rooms with their members, clients, counters),
 * `/status.json` for scripts and `/metrics` in Prometheus text format
 * 0.0.4.  Names and group names follow the name rule ([A-Za-z0-9_.-]),
 * so they need no escaping in HTML or JSON; peers are built by the hub
 * from addresses and pids.  Built with open_memstream in the loop's
 * normal context; no signal is involved.
 */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"
#include "chat.h"

static const char *const render_transport[] = {
	"tcp", "fifo", "msgq", "udp"
};

/* The groups sorted by name, malloc'd (the caller frees); NULL if none. */
static struct room_group **
render_groups(const struct chat_hub *hub, size_t *n)
{
	struct room_group *const *all = room_groups(hub->room, n);
	struct room_group **v;
	size_t i, j;

	if (*n == 0 || (v = reallocarray(NULL, *n, sizeof(*v))) == NULL) {
		*n = 0;
		return NULL;
	}
	memcpy(v, all, *n * sizeof(*v));
	/* Insertion sort: a status page, not a hot path. */
	for (i = 1; i < *n; i++)
		for (j = i; j > 0 && chat_name_cmp(room_group_name(v[j - 1]),
		    room_group_name(v[j])) > 0; j--) {
			struct room_group *t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v;
}

/* Seconds since t on the monotonic clock. */
static long long
render_age(const struct timespec *t)
{
	struct timespec now;

	pv_now(&now);
	return (long long)pv_ts_sub(now, *t).tv_sec;
}

/* Who writes c's lines to it: the hub (handed over) or its worker. */
static const char *
render_writer(const struct chat_client *c)
{
	return c->out == CHAT_OUT_DIRECT ? "hub" : "worker";
}

/* Writes the HTML page. */
static void
render_html(FILE *f, const struct chat_hub *hub)
{
	struct room_group **g;
	struct room_client *const *m;
	const struct chat_client *c;
	size_t ng, i, j, n;

	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
	    "<meta http-equiv=\"refresh\" content=\"2\">"
	    "<title>pipevisor chat</title>"
	    "<style>body{font-family:sans-serif}table{border-collapse:"
	    "collapse}td,th{border:1px solid #999;padding:2px 8px}"
	    "</style></head><body>\n<h1>pipevisor chat</h1>\n");
	fprintf(f, "<p id=\"summary\">hub pid %ld, %zu client%s, %zu named, "
	    "%llu message%s, %llu deliveries, %llu dropped</p>\n",
	    (long)getpid(), hub->nclients, hub->nclients == 1 ? "" : "s",
	    room_nnamed(hub->room), (unsigned long long)hub->count.messages,
	    hub->count.messages == 1 ? "" : "s",
	    (unsigned long long)hub->count.deliveries,
	    (unsigned long long)hub->count.dropped);
	fprintf(f, "<h2>Rooms</h2>\n<table id=\"rooms\"><tr><th>room</th>"
	    "<th>members</th><th>who</th></tr>\n");
	g = render_groups(hub, &ng);
	for (i = 0; i < ng; i++) {
		m = room_group_members(g[i], &n);
		fprintf(f, "<tr><td>%s</td><td>%zu</td><td>",
		    room_group_name(g[i]), n);
		for (j = 0; j < n; j++)
			fprintf(f, "%s%s", j ? " " : "",
			    room_client_name(m[j]));
		fprintf(f, "</td></tr>\n");
	}
	free(g);
	fprintf(f, "</table>\n<h2>Clients</h2>\n<table id=\"clients\"><tr>"
	    "<th>name</th><th>peer</th><th>worker</th><th>rooms</th>"
	    "<th>connected</th><th>queued</th><th>written by</th></tr>\n");
	TAILQ_FOREACH(c, &hub->clients, entry) {
		if (c->rc == NULL)
			continue;
		fprintf(f, "<tr><td>%s</td><td>%s</td><td>%ld</td><td>%zu</td>"
		    "<td>%llds</td><td>%zu</td><td>%s</td></tr>\n",
		    room_client_name(c->rc) ? room_client_name(c->rc) : "",
		    c->peer, (long)c->pgid, room_client_ngroups(c->rc),
		    render_age(&c->since), c->q.len - c->q.off,
		    render_writer(c));
	}
	fprintf(f, "</table>\n</body></html>\n");
}

/* Writes /status.json. */
static void
render_json(FILE *f, const struct chat_hub *hub)
{
	struct room_group **g;
	struct room_client *const *m;
	const struct chat_client *c;
	const char *name;
	size_t ng, i, j, n;
	int first = 1;

	fprintf(f, "{\"pid\":%ld,\"started\":%lld,\"clients\":[",
	    (long)getpid(), (long long)hub->started.tv_sec);
	TAILQ_FOREACH(c, &hub->clients, entry) {
		if (c->rc == NULL)
			continue;
		name = room_client_name(c->rc);
		fprintf(f, "%s{\"name\":%s%s%s,\"transport\":\"%s\","
		    "\"peer\":\"%s\",\"worker\":%ld,\"rooms\":%zu,"
		    "\"connected\":%lld,\"queued\":%zu,\"writer\":\"%s\"}",
		    first ? "" : ",",
		    name ? "\"" : "", name ? name : "null", name ? "\"" : "",
		    render_transport[c->t], c->peer, (long)c->pgid,
		    room_client_ngroups(c->rc), render_age(&c->since),
		    c->q.len - c->q.off, render_writer(c));
		first = 0;
	}
	fprintf(f, "],\"rooms\":[");
	g = render_groups(hub, &ng);
	for (i = 0; i < ng; i++) {
		m = room_group_members(g[i], &n);
		fprintf(f, "%s{\"name\":\"%s\",\"members\":[", i ? "," : "",
		    room_group_name(g[i]));
		for (j = 0; j < n; j++)
			fprintf(f, "%s\"%s\"", j ? "," : "",
			    room_client_name(m[j]));
		fprintf(f, "]}");
	}
	free(g);
	fprintf(f, "],\"counters\":{\"connections\":%llu,\"refused\":%llu,"
	    "\"messages\":%llu,\"deliveries\":%llu,\"dropped\":%llu,"
	    "\"errors\":%llu}}\n",
	    (unsigned long long)hub->count.connections,
	    (unsigned long long)hub->count.refused,
	    (unsigned long long)hub->count.messages,
	    (unsigned long long)hub->count.deliveries,
	    (unsigned long long)hub->count.dropped,
	    (unsigned long long)hub->count.errors);
}

/* Writes one Prometheus metric with its HELP and TYPE lines. */
static void
render_metric(FILE *f, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	fprintf(f, "# HELP pipevisor_chat_%s %s\n# TYPE pipevisor_chat_%s %s\n"
	    "pipevisor_chat_%s %llu\n", name, help, name, type, name, v);
}

/* Writes /metrics. */
static void
render_metrics(FILE *f, const struct chat_hub *hub)
{
	size_t ng;

	room_groups(hub->room, &ng);
	render_metric(f, "clients", "gauge", "Clients connected.",
	    hub->nclients);
	render_metric(f, "named_clients", "gauge", "Clients with a name.",
	    room_nnamed(hub->room));
	render_metric(f, "rooms", "gauge", "Rooms with members.", ng);
	render_metric(f, "connections_total", "counter",
	    "Clients ever connected.", hub->count.connections);
	render_metric(f, "refused_total", "counter",
	    "Clients turned away.", hub->count.refused);
	render_metric(f, "messages_total", "counter",
	    "send and msg lines routed.", hub->count.messages);
	render_metric(f, "deliveries_total", "counter",
	    "Lines queued to clients.", hub->count.deliveries);
	render_metric(f, "dropped_total", "counter",
	    "Clients dropped for not reading.", hub->count.dropped);
	render_metric(f, "errors_total", "counter", "Error replies sent.",
	    hub->count.errors);
}

/* Answers one --http request; see chat.h. */
int
chat_render(const char *path, struct http_response *resp, void *arg)
{
	const struct chat_hub *hub = arg;
	char *body = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&body, &len)) == NULL)
		return -1;
	resp->status = 200;
	if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0) {
		resp->content_type = "text/html; charset=utf-8";
		render_html(f, hub);
	} else if (strcmp(path, "/status.json") == 0) {
		resp->content_type = "application/json";
		render_json(f, hub);
	} else if (strcmp(path, "/metrics") == 0) {
		resp->content_type = "text/plain; version=0.0.4";
		render_metrics(f, hub);
	} else {
		resp->status = 404;
		resp->content_type = "text/plain";
		fputs("not found\n", f);
	}
	if (fclose(f) != 0 || body == NULL) {
		free(body);
		return -1;
	}
	resp->body = body;
	resp->len = len;
	return 0;
}
