/*
 * board_render.c: a board snapshot as text for people (the table of
 * `pipevisor status`), JSON for scripts (`status --json`, /status.json),
 * an HTML page (the --http status page) and Prometheus text format 0.0.4
 * (/metrics).
 *
 * Every string is built in a buffer that grows as needed, so nothing is
 * ever cut short.  Names come from shared memory, which any process of
 * the same user can scribble on: each is first made terminal-safe valid
 * UTF-8 with pv_vis and then escaped for the format at hand.  Pure
 * functions; they react to no signal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipevisor.h"
#include "pv_private.h"

#define NSEC_PER_SEC	1000000000LL

/* A growing string; after an allocation failure it only remembers that. */
struct rbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 failed;
};

/* Makes room for n more bytes and the NUL.  Returns 0 or -1. */
static int
rb_reserve(struct rbuf *rb, size_t n)
{
	size_t cap;
	char *p;

	if (rb->failed)
		return -1;
	if (rb->len + n + 1 <= rb->cap)
		return 0;
	cap = rb->cap > 0 ? rb->cap : 256;
	while (cap < rb->len + n + 1) {
		if (cap > SIZE_MAX / 2)
			goto fail;
		cap *= 2;
	}
	if ((p = realloc(rb->p, cap)) == NULL)
		goto fail;
	rb->p = p;
	rb->cap = cap;
	return 0;
fail:
	rb->failed = 1;
	return -1;
}

/* Appends n bytes of s. */
static void
rb_addn(struct rbuf *rb, const char *s, size_t n)
{
	if (rb_reserve(rb, n) == -1)
		return;
	memcpy(rb->p + rb->len, s, n);
	rb->len += n;
	rb->p[rb->len] = '\0';
}

/* Appends the string s. */
static void
rb_add(struct rbuf *rb, const char *s)
{
	rb_addn(rb, s, strlen(s));
}

/* Appends printf-style formatted text. */
static void __attribute__((format(printf, 2, 3)))
rb_printf(struct rbuf *rb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		rb->failed = 1;
		return;
	}
	if (rb_reserve(rb, (size_t)n) == -1)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(rb->p + rb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rb->len += (size_t)n;
}

/* Returns the finished string, or NULL with errno ENOMEM. */
static char *
rb_finish(struct rbuf *rb)
{
	if (rb->p == NULL && !rb->failed)
		rb_reserve(rb, 0);
	if (rb->failed) {
		free(rb->p);
		errno = ENOMEM;
		return NULL;
	}
	if (rb->len == 0)
		rb->p[0] = '\0';
	return rb->p;
}

/* The size of a buffer holding a board name made visible. */
#define RENDER_NAMESIZE	PV_VIS_SIZE(BOARD_NAMELEN)

/* Puts the service's name, made terminal-safe, in buf. */
static void
render_name(const struct board_service *s, char buf[RENDER_NAMESIZE])
{
	pv_vis(buf, s->name, strnlen(s->name, BOARD_NAMELEN - 1));
}

/* Returns the seconds the service has run, or -1 when it does not run. */
static int64_t
render_uptime_secs(const struct board_service *s, int64_t now)
{
	if (s->pid <= 0 || s->started <= 0)
		return -1;
	if (now <= s->started)
		return 0;
	return (now - s->started) / NSEC_PER_SEC;
}

/* Formats a duration for people: 3s, 2m05s, 1h02m, 3d04h. */
static void
render_duration(char *buf, size_t size, int64_t secs)
{
	if (secs < 0)
		(void)snprintf(buf, size, "-");
	else if (secs < 60)
		(void)snprintf(buf, size, "%" PRId64 "s", secs);
	else if (secs < 3600)
		(void)snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s",
		    secs / 60, secs % 60);
	else if (secs < 86400)
		(void)snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m",
		    secs / 3600, secs % 3600 / 60);
	else
		(void)snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h",
		    secs / 86400, secs % 86400 / 3600);
}

/* Formats a last exit for people: "exit N", "signal NAME" or "-". */
static void
render_last(char *buf, size_t size, int32_t status)
{
	const char *sig;

	if (status < 0)
		(void)snprintf(buf, size, "-");
	else if (status > 128 &&
	    strcmp(sig = pv_signal_name(status - 128), "?") != 0)
		(void)snprintf(buf, size, "signal %s", sig);
	else
		(void)snprintf(buf, size, "exit %" PRId32, status);
}

/* Appends the line about the supervisor, without a newline. */
static void
render_supervisor(struct rbuf *rb, const struct board_info *info,
    int64_t now)
{
	char up[32];

	if (info->stale) {
		rb_printf(rb, "supervisor gone (stale board), was pid %" PRId32,
		    info->pid);
		return;
	}
	rb_printf(rb, "supervisor pid %" PRId32, info->pid);
	if (info->started > 0) {
		render_duration(up, sizeof(up), now > info->started ?
		    (now - info->started) / NSEC_PER_SEC : 0);
		rb_printf(rb, ", up %s", up);
	}
}

/* The table `pipevisor status` prints. */
char *
board_render_text(const struct board_service *s, size_t n,
    const struct board_info *info, int64_t now)
{
	char name[RENDER_NAMESIZE], pid[16], up[32], restarts[16], last[48];
	struct rbuf rb = { NULL, 0, 0, 0 };
	size_t i, w = 4, len;

	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		if ((len = strlen(name)) > w)
			w = len;
	}
	render_supervisor(&rb, info, now);
	rb_add(&rb, "\n");
	rb_printf(&rb, "%-*s  %-8s  %7s  %7s  %8s  %s\n", (int)w, "NAME",
	    "STATE", "PID", "UPTIME", "RESTARTS", "LAST");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		if (s[i].pid > 0)
			(void)snprintf(pid, sizeof(pid), "%" PRId32, s[i].pid);
		else
			(void)snprintf(pid, sizeof(pid), "-");
		render_duration(up, sizeof(up), render_uptime_secs(&s[i], now));
		(void)snprintf(restarts, sizeof(restarts), "%" PRIu32,
		    s[i].restarts);
		render_last(last, sizeof(last), s[i].last_status);
		rb_printf(&rb, "%-*s  %-8s  %7s  %7s  %8s  %s\n", (int)w, name,
		    board_state_name(s[i].state), pid, up, restarts, last);
	}
	return rb_finish(&rb);
}

/* Appends s as a JSON string, quotes included. */
static void
render_json_string(struct rbuf *rb, const char *s)
{
	const unsigned char *p;

	rb_add(rb, "\"");
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"')
			rb_add(rb, "\\\"");
		else if (*p == '\\')
			rb_add(rb, "\\\\");
		else if (*p < 0x20 || *p == 0x7f)
			rb_printf(rb, "\\u%04x", *p);
		else
			rb_addn(rb, (const char *)p, 1);
	}
	rb_add(rb, "\"");
}

/* Appends a JSON integer, or null when absent. */
static void
render_json_int(struct rbuf *rb, int present, int64_t v)
{
	if (present)
		rb_printf(rb, "%" PRId64, v);
	else
		rb_add(rb, "null");
}

/* One JSON object on one line: the supervisor and its services. */
char *
board_render_json(const struct board_service *s, size_t n,
    const struct board_info *info, int64_t now)
{
	char name[RENDER_NAMESIZE];
	struct rbuf rb = { NULL, 0, 0, 0 };
	int64_t up;
	size_t i;

	rb_printf(&rb, "{\"supervisor\":{\"pid\":%" PRId32 ",\"started\":",
	    info->pid);
	render_json_int(&rb, info->started > 0, info->started / NSEC_PER_SEC);
	rb_printf(&rb, ",\"stale\":%s},\"services\":[",
	    info->stale ? "true" : "false");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		up = render_uptime_secs(&s[i], now);
		rb_add(&rb, i > 0 ? ",{\"name\":" : "{\"name\":");
		render_json_string(&rb, name);
		rb_add(&rb, ",\"state\":");
		render_json_string(&rb, board_state_name(s[i].state));
		rb_add(&rb, ",\"pid\":");
		render_json_int(&rb, s[i].pid > 0, s[i].pid);
		rb_add(&rb, ",\"uptime_seconds\":");
		render_json_int(&rb, up >= 0, up);
		rb_printf(&rb, ",\"restarts\":%" PRIu32 ",\"last_status\":",
		    s[i].restarts);
		render_json_int(&rb, s[i].last_status >= 0, s[i].last_status);
		rb_add(&rb, "}");
	}
	rb_add(&rb, "]}\n");
	return rb_finish(&rb);
}

/* Appends s with HTML's five special characters escaped. */
static void
render_html_text(struct rbuf *rb, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			rb_add(rb, "&amp;");
			break;
		case '<':
			rb_add(rb, "&lt;");
			break;
		case '>':
			rb_add(rb, "&gt;");
			break;
		case '"':
			rb_add(rb, "&quot;");
			break;
		case '\'':
			rb_add(rb, "&#39;");
			break;
		default:
			rb_addn(rb, s, 1);
		}
	}
}

/* The --http status page: self-contained HTML5 that refreshes itself. */
char *
board_render_html(const struct board_service *s, size_t n,
    const struct board_info *info, int64_t now)
{
	char name[RENDER_NAMESIZE], up[32], last[48];
	struct rbuf rb = { NULL, 0, 0, 0 }, sup = { NULL, 0, 0, 0 };
	const char *state;
	size_t i;

	rb_add(&rb,
	    "<!DOCTYPE html>\n"
	    "<html lang=\"en\">\n"
	    "<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta http-equiv=\"refresh\" content=\"2\">\n"
	    "<title>pipevisor status</title>\n"
	    "<style>\n"
	    "body{font-family:sans-serif;margin:2em}\n"
	    "table{border-collapse:collapse}\n"
	    "th,td{padding:.25em .75em;border-bottom:1px solid #ddd;"
	    "text-align:left}\n"
	    "td.num{text-align:right}\n"
	    ".ready{color:#080}\n"
	    ".starting,.stopping,.backoff{color:#a60}\n"
	    ".exited,.fatal,.stale{color:#c00}\n"
	    ".stopped{color:#666}\n"
	    "</style>\n"
	    "</head>\n"
	    "<body>\n"
	    "<h1>pipevisor</h1>\n");
	render_supervisor(&sup, info, now);
	if (sup.failed)
		rb.failed = 1;
	rb_printf(&rb, "<p id=\"supervisor\" class=\"%s\">",
	    info->stale ? "stale" : "live");
	render_html_text(&rb, sup.p != NULL ? sup.p : "");
	free(sup.p);
	rb_add(&rb, "</p>\n"
	    "<table id=\"services\">\n"
	    "<thead><tr><th>name</th><th>state</th><th>pid</th>"
	    "<th>uptime</th><th>restarts</th><th>last</th></tr></thead>\n"
	    "<tbody>\n");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		state = board_state_name(s[i].state);
		render_duration(up, sizeof(up), render_uptime_secs(&s[i], now));
		render_last(last, sizeof(last), s[i].last_status);
		rb_add(&rb, "<tr><td class=\"name\">");
		render_html_text(&rb, name);
		/* state is one of board_state_name's fixed words. */
		rb_printf(&rb, "</td><td class=\"state %s\">%s</td>", state,
		    state);
		if (s[i].pid > 0)
			rb_printf(&rb, "<td class=\"num pid\">%" PRId32 "</td>",
			    s[i].pid);
		else
			rb_add(&rb, "<td class=\"num pid\">-</td>");
		rb_printf(&rb, "<td class=\"num uptime\">%s</td>"
		    "<td class=\"num restarts\">%" PRIu32 "</td>"
		    "<td class=\"last\">%s</td></tr>\n", up, s[i].restarts,
		    last);
	}
	rb_add(&rb, "</tbody>\n</table>\n</body>\n</html>\n");
	return rb_finish(&rb);
}

/* Appends s escaped as a Prometheus label value (without quotes). */
static void
render_label(struct rbuf *rb, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			rb_add(rb, "\\\\");
		else if (*s == '"')
			rb_add(rb, "\\\"");
		else if (*s == '\n')
			rb_add(rb, "\\n");
		else
			rb_addn(rb, s, 1);
	}
}

/* Appends one metric family's HELP and TYPE lines. */
static void
render_family(struct rbuf *rb, const char *name, const char *type,
    const char *help)
{
	rb_printf(rb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Appends `NAME{service="x"} ` (the value follows). */
static void
render_sample(struct rbuf *rb, const char *metric, const char *name)
{
	rb_printf(rb, "%s{service=\"", metric);
	render_label(rb, name);
	rb_add(rb, "\"} ");
}

/* The board in Prometheus text exposition format 0.0.4. */
char *
board_render_metrics(const struct board_service *s, size_t n,
    const struct board_info *info, int64_t now)
{
	char name[RENDER_NAMESIZE];
	struct rbuf rb = { NULL, 0, 0, 0 };
	int64_t up;
	uint32_t st;
	size_t i;

	render_family(&rb, "pipevisor_supervisor_stale", "gauge",
	    "1 if the supervisor that wrote the board is gone.");
	rb_printf(&rb, "pipevisor_supervisor_stale %d\n", info->stale ? 1 : 0);

	render_family(&rb, "pipevisor_service_up", "gauge",
	    "1 if the service has a running process, else 0.");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		render_sample(&rb, "pipevisor_service_up", name);
		rb_printf(&rb, "%d\n", s[i].pid > 0 ? 1 : 0);
	}

	render_family(&rb, "pipevisor_service_state", "gauge",
	    "1 for the service's current state, 0 for the others.");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		for (st = BOARD_STOPPED; st <= BOARD_FATAL; st++) {
			rb_add(&rb, "pipevisor_service_state{service=\"");
			render_label(&rb, name);
			rb_printf(&rb, "\",state=\"%s\"} %d\n",
			    board_state_name(st), s[i].state == st ? 1 : 0);
		}
	}

	render_family(&rb, "pipevisor_service_restarts_total", "counter",
	    "Times the supervisor restarted the service.");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		render_sample(&rb, "pipevisor_service_restarts_total", name);
		rb_printf(&rb, "%" PRIu32 "\n", s[i].restarts);
	}

	render_family(&rb, "pipevisor_service_uptime_seconds", "gauge",
	    "Seconds the service's current process has run, 0 if none.");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		up = render_uptime_secs(&s[i], now);
		render_sample(&rb, "pipevisor_service_uptime_seconds", name);
		rb_printf(&rb, "%" PRId64 "\n", up >= 0 ? up : 0);
	}

	render_family(&rb, "pipevisor_service_last_exit_status", "gauge",
	    "Shell status of the service's last exit (128+N: signal N), "
	    "-1 if none.");
	for (i = 0; i < n; i++) {
		render_name(&s[i], name);
		render_sample(&rb, "pipevisor_service_last_exit_status", name);
		rb_printf(&rb, "%" PRId32 "\n",
		    s[i].last_status >= 0 ? s[i].last_status : -1);
	}
	return rb_finish(&rb);
}
