/*
 * spawn-libpipeline: runs PROG | PROG | ... (N stages) with libpipeline,
 * for the spawn benchmark: pipeline_new, one pipeline_command_args per
 * stage, pipeline_run (start, wait, free).
 *
 * usage: spawn-libpipeline N PROG
 *
 * The first stage reads this program's stdin and the last writes its
 * stdout.  Signals are libpipeline's business (it ignores SIGINT and
 * SIGQUIT while it waits).  Exit status: pipeline_run's, which is the
 * last stage's status (128+N for signal N), or 127 if only an earlier
 * stage failed; 2 on usage.
 */
#include <err.h>
#include <errno.h>
#include <stdlib.h>

#include <pipeline.h>

int
main(int argc, char *argv[])
{
	pipeline *p;
	long i, n;

	if (argc != 3)
		errx(2, "usage: spawn-libpipeline N PROG");
	errno = 0;
	n = strtol(argv[1], NULL, 10);
	if (errno != 0 || n < 1 || n > 4096)
		errx(2, "bad stage count: %s", argv[1]);

	p = pipeline_new();
	for (i = 0; i < n; i++)
		pipeline_command_args(p, argv[2], (void *)NULL);
	return pipeline_run(p);
}
