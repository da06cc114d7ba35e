/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Run a program with its stdout and stderr going to a pipe the caller
 * reads: /init nests the test programs' output this way, and the CLI's
 * test reads what kvm-prefault prints.
 */
#ifndef KVMPF_SPAWN_H
#define KVMPF_SPAWN_H

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Start @argv (argv[0] is the path); *@out_fd gets the read end of its
 * output.  Returns the child's pid, or -1 with errno set.
 */
static inline pid_t spawn_piped(char *const argv[], int *out_fd)
{
	int pipefd[2];
	pid_t pid;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		execv(argv[0], argv);
		printf("# exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);
	*out_fd = pipefd[0];
	return pid;
}

/*
 * Run @argv to its end, printing each line of its output after @prefix;
 * returns its wait status, or -1 when it could not be started.
 */
static inline int run_prefixed(char *const argv[], const char *prefix)
{
	char line[4096];
	int fd, status = -1;
	FILE *out;
	pid_t pid;

	pid = spawn_piped(argv, &fd);
	if (pid < 0)
		return -1;
	out = fdopen(fd, "r");
	while (out && fgets(line, sizeof(line), out)) {
		printf("%s%s", prefix, line);
		if (!strchr(line, '\n'))
			printf("\n");
		fflush(stdout);
	}
	if (out)
		fclose(out);
	else
		close(fd);
	waitpid(pid, &status, 0);
	return status;
}

#endif
