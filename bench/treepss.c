/*
 * treepss: the memory of a supervisor's whole process tree, for the
 * memory benchmark.  Sums the proportional set size (PSS) of ROOT and
 * every descendant of it, leaving out the processes whose command name is
 * one of COMM (the supervised services themselves), so that what is left
 * is the cost of the supervision.
 *
 * usage: treepss [-v] ROOT [COMM ...]
 *
 * Reads the parent of every process from /proc/PID/stat, then the "Pss:"
 * line of /proc/PID/smaps_rollup of each process of the tree.  Prints one
 * line "PSS_KB NPROCS NEXCLUDED": the sum in kB over the NPROCS processes
 * counted, and how many were left out.  -v first prints a line per
 * process on stderr.  A process that exits during the scan is skipped.
 * Handles no signals.  Exit status: 0, 1 if ROOT is not there or /proc
 * cannot be read, 2 on usage.
 */
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc_pss.h"

struct proc {
	long	 pid;
	long	 ppid;
	char	 comm[64];
	int	 in_tree;
};

/* Reads the pid, parent and command name of /proc/PID/stat into p. */
static int
proc_read(long pid, struct proc *p)
{
	char path[64], buf[512], *open, *close;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The name is in parentheses and may hold spaces and ')'. */
	if ((open = strchr(buf, '(')) == NULL ||
	    (close = strrchr(buf, ')')) == NULL || close < open)
		return -1;
	*close = '\0';
	snprintf(p->comm, sizeof(p->comm), "%s", open + 1);
	p->pid = pid;
	/* After ") " come the state and the parent's pid. */
	if (sscanf(close + 2, "%*c %ld", &p->ppid) != 1)
		return -1;
	p->in_tree = 0;
	return 0;
}

int
main(int argc, char *argv[])
{
	struct proc *procs = NULL, *np;
	struct dirent *de;
	DIR *d;
	size_t n = 0, cap = 0, i;
	long root, pss, total = 0, counted = 0, excluded = 0;
	int verbose = 0, changed, j, found = 0;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		argc--;
		argv++;
	}
	if (argc < 2 || (root = strtol(argv[1], NULL, 10)) <= 0)
		errx(2, "usage: treepss [-v] ROOT [COMM ...]");

	if ((d = opendir("/proc")) == NULL)
		err(1, "/proc");
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			if ((np = reallocarray(procs, cap, sizeof(*procs))) ==
			    NULL)
				err(1, NULL);
			procs = np;
		}
		if (proc_read(strtol(de->d_name, NULL, 10), &procs[n]) == 0)
			n++;
	}
	closedir(d);

	for (i = 0; i < n; i++)
		if (procs[i].pid == root)
			procs[i].in_tree = found = 1;
	if (!found)
		errx(1, "no process %ld", root);
	/* Mark descendants until nothing changes: the tree is shallow. */
	do {
		changed = 0;
		for (i = 0; i < n; i++) {
			if (procs[i].in_tree)
				continue;
			for (size_t k = 0; k < n; k++)
				if (procs[k].in_tree &&
				    procs[k].pid == procs[i].ppid) {
					procs[i].in_tree = changed = 1;
					break;
				}
		}
	} while (changed);

	for (i = 0; i < n; i++) {
		if (!procs[i].in_tree)
			continue;
		for (j = 2; j < argc; j++)
			if (strcmp(procs[i].comm, argv[j]) == 0)
				break;
		if (j < argc) {
			excluded++;
			continue;
		}
		if ((pss = proc_pss(procs[i].pid)) < 0)
			continue;
		if (verbose)
			fprintf(stderr, "%8ld %8ld kB  %s\n", procs[i].pid, pss,
			    procs[i].comm);
		total += pss;
		counted++;
	}
	printf("%ld %ld %ld\n", total, counted, excluded);
	free(procs);
	return 0;
}
