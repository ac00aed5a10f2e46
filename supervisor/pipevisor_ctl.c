/*
 * pipevisor_ctl.c: `pipevisor ctl COMMAND [NAME...]`: ask a running
 * supervisor to start, stop, restart or signal services, show their
 * status, reload its configuration or shut down.
 *
 * It connects to the owner-only socket in the runtime directory, sends
 * one request line and prints the reply; the last line of a reply is
 * "ok" or "error: ...".  `stop` returns once the services are down,
 * `start` and `restart` once they are ready (or have failed).  SIGINT or
 * SIGTERM while waiting ends ctl, not the request.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

#define CTL_EXIT_FAIL	1	/* the supervisor said error */
#define CTL_EXIT_USAGE	2
#define CTL_EXIT_DOWN	3	/* no supervisor to talk to */

/* Prints ctl's usage to fp. */
static void
ctl_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: pipevisor ctl [-hj] start|stop|restart NAME ...\n"
	    "       pipevisor ctl [-hj] signal SIGNAL NAME ...\n"
	    "       pipevisor ctl [-hj] status [NAME ...]\n"
	    "       pipevisor ctl [-hj] reload | shutdown\n");
}

/* Runs `pipevisor ctl`. */
int
pipevisor_ctl(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL, 'h' },
		{ "json",	no_argument,	NULL, 'j' },
		{ NULL,		0,		NULL, 0 }
	};
	static const char *const verbs[] = {
		"start", "stop", "restart", "signal", "status", "reload",
		"shutdown"
	};
	struct sockaddr_un sun;
	char rundir[PATH_MAX], path[PATH_MAX], *req, *reply = NULL;
	size_t len = 0, cap = 0, i, reqlen;
	ssize_t r;
	int ch, fd, json = 0, known = 0;
	char *last;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+hj", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			ctl_usage(stdout);
			return 0;
		case 'j':
			json = 1;
			break;
		default:
			warnx("ctl: unknown option '%s'", argv[optind - 1]);
			ctl_usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0) {
		warnx("ctl: missing COMMAND");
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		known |= strcmp(argv[0], verbs[i]) == 0;
	if (!known) {
		warnx("ctl: unknown command '%s'", argv[0]);
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	/* One line: the words may not carry a newline into the protocol. */
	reqlen = json ? 5 : 0;
	for (i = 0; i < (size_t)argc; i++) {
		if (strpbrk(argv[i], "\n\r \t") != NULL || *argv[i] == '\0') {
			warnx("ctl: bad word '%s'", argv[i]);
			return CTL_EXIT_USAGE;
		}
		reqlen += strlen(argv[i]) + 1;
	}
	if ((req = malloc(reqlen + 1)) == NULL)
		err(CTL_EXIT_FAIL, "ctl");
	strlcpy(req, json ? "json " : "", reqlen + 1);
	for (i = 0; i < (size_t)argc; i++) {
		strlcat(req, argv[i], reqlen + 1);
		strlcat(req, i + 1 < (size_t)argc ? " " : "\n", reqlen + 1);
	}

	if (rundir_path(rundir, sizeof(rundir)) == -1 ||
	    rundir_file(rundir, "ctl", path, sizeof(path)) == -1 ||
	    strlen(path) >= sizeof(sun.sun_path))
		errx(CTL_EXIT_FAIL, "ctl: runtime directory path too long");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(CTL_EXIT_FAIL, "ctl: socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		int saved = errno;

		free(req);
		close(fd);
		if (saved == ENOENT || saved == ECONNREFUSED) {
			warnx("ctl: no supervisor is running (%s)", path);
			return CTL_EXIT_DOWN;
		}
		errno = saved;
		err(CTL_EXIT_FAIL, "ctl: %s", path);
	}
	if (pv_write_all(fd, req, strlen(req)) == -1)
		err(CTL_EXIT_FAIL, "ctl: send");
	free(req);
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if ((reply = realloc(reply, cap)) == NULL)
				err(CTL_EXIT_FAIL, "ctl");
		}
		r = pv_read(fd, reply + len, cap - len - 1);
		if (r == -1)
			err(CTL_EXIT_FAIL, "ctl: receive");
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (len == 0 || reply[len - 1] != '\n') {
		warnx("ctl: the supervisor closed the connection without a "
		    "reply");
		free(reply);
		return CTL_EXIT_FAIL;
	}
	reply[len - 1] = '\0';
	last = strrchr(reply, '\n');
	last = last != NULL ? last + 1 : reply;
	fwrite(reply, 1, (size_t)(last - reply), stdout);
	if (strcmp(last, "ok") == 0) {
		free(reply);
		return 0;
	}
	warnx("ctl: %s", strncmp(last, "error: ", 7) == 0 ? last + 7 : last);
	free(reply);
	return CTL_EXIT_FAIL;
}
