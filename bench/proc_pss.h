/*
 * proc_pss.h: the PSS of one process, shared by the benchmark programs
 * that sum it over a process tree (treepss.c, chatload.c).  Each bench
 * program is one file built on its own, so this is a header.
 */
#ifndef PROC_PSS_H
#define PROC_PSS_H

#include <stdio.h>

/* Returns the PSS of process pid in kB, or -1 if it is gone. */
static long
proc_pss(long pid)
{
	char path[64], line[256];
	FILE *f;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/smaps_rollup", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Pss: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

#endif /* PROC_PSS_H */
