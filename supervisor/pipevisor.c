/*
 * pipevisor.c: main for the pipevisor program; picks the subcommand.
 *
 * Before anything else it opens /dev/null on any closed standard fd and
 * takes over signal handling (sig.c), so no signal sent during start-up
 * is lost and no child inherits pipevisor's own dispositions.  Each
 * subcommand lives in pipevisor_NAME.c.
 */
#include <err.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipevisor.h"
#include "pv_private.h"

/* Prints the top-level usage to fp. */
static void
usage(FILE *fp)
{
	fprintf(fp,
	    "usage: pipevisor run [options] SPEC\n"
	    "       pipevisor up [-hn] [-f FILE] [--http ADDR:PORT] "
	    "[--subreaper]\n"
	    "       pipevisor ctl [-hj] COMMAND [NAME ...]\n"
	    "       pipevisor status [-hjw] [-b NAME] [SERVICE ...]\n"
	    "       pipevisor serve (--tcp ADDR:PORT | --unix PATH) [-hv]\n"
	    "                       [--grace DURATION] [--max N] [--shell] "
	    "SPEC\n"
	    "       pipevisor chat [-hv] [--tcp ADDR:PORT]... [--fifo DIR] "
	    "[--msgq PATH]\n"
	    "                      [--udp ADDR:PORT] [--http ADDR:PORT] "
	    "[options]\n"
	    "       pipevisor --help | --version\n");
}

/*
 * Reports a usage mistake of subcommand cmd ("pipevisor: cmd: what"),
 * prints its usage on stderr and returns status, for the subcommand to
 * exit with.
 */
int
pipevisor_usage_error(const char *cmd, void (*cmd_usage)(FILE *), int status,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warnx("%s: %s", cmd, msg);
	cmd_usage(stderr);
	return status;
}

/* Returns the filters' directory: $PIPEVISOR_FILTERS or ../libexec/pipevisor. */
const char *
pipevisor_filters_dir(void)
{
	static char dir[PATH_MAX];
	const char *env;
	char exe[PATH_MAX], *slash;
	ssize_t n;

	if (dir[0] != '\0')
		return dir;
	if ((env = getenv("PIPEVISOR_FILTERS")) != NULL && *env != '\0') {
		strlcpy(dir, env, sizeof(dir));
		return dir;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return NULL;
	*slash = '\0';		/* .../bin */
	if ((slash = strrchr(exe, '/')) == NULL)
		return NULL;
	*slash = '\0';		/* the prefix */
	if ((size_t)snprintf(dir, sizeof(dir), "%s/libexec/pipevisor", exe) >=
	    sizeof(dir))
		dir[0] = '\0';
	return dir[0] != '\0' ? dir : NULL;
}

/* Dispatches to the subcommand named by argv[1]. */
int
main(int argc, char *argv[])
{
	if (pv_stdio_ensure() == -1)
		err(RUN_EXIT_ERROR, "cannot open /dev/null");
	if (pv_stderr_lines() == -1 || pv_stdout_retry() == -1)
		err(RUN_EXIT_ERROR, "cannot set up stdout and stderr");
	if (pv_sig_init() == -1)
		err(RUN_EXIT_ERROR, "cannot set up signals");
	/* Lets `up` name each process's role in ps (libbsd). */
	setproctitle_init(argc, argv, environ);

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "run") == 0)
		return pipevisor_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "up") == 0)
		return pipevisor_up(argc - 1, argv + 1);
	if (strcmp(argv[1], "ctl") == 0)
		return pipevisor_ctl(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return pipevisor_status(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return pipevisor_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "chat") == 0)
		return pipevisor_chat(argc - 1, argv + 1);
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("pipevisor %s\n", PV_VERSION);
		return 0;
	}
	warnx("unknown command '%s'", argv[1]);
	usage(stderr);
	return 2;
}
