/* Holds PIDs in its cgroup, for tests of pids.current, pids.max and refused forks.
 *   pid-holder ATTEMPTS     (ATTEMPTS <= 200)
 * tries ATTEMPTS forks; each child that is born waits, doing nothing. It prints
 * "forked F refused R\n" (R: forks that failed with EAGAIN, the pids controller's answer at
 * a limit), then waits until its stdin closes, kills and reaps its children, and exits.
 * A child also dies if the holder dies first (PR_SET_PDEATHSIG), so nothing is left over.
 * Only the holder signals its children: they are unreaped, so their pids cannot have been
 * reused by anyone else's process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ATTEMPTS 200

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: pid-holder ATTEMPTS\n"); return 2; }
  long attempts = strtol(argv[1], NULL, 10);
  if (attempts < 0 || attempts > MAX_ATTEMPTS) { fprintf(stderr, "ATTEMPTS must be 0 to %d\n", MAX_ATTEMPTS); return 2; }

  pid_t self = getpid();
  pid_t children[MAX_ATTEMPTS];
  int forked = 0, refused = 0;
  for (long i = 0; i < attempts; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != self) _exit(1);
      for (;;) pause();
    }
    if (pid > 0) children[forked++] = pid;
    else if (errno == EAGAIN) refused++;
    else { perror("fork"); break; }
  }
  printf("forked %d refused %d\n", forked, refused);
  fflush(stdout);

  char buffer[64];
  while (read(0, buffer, sizeof buffer) > 0) {}
  for (int i = 0; i < forked; i++) kill(children[i], SIGKILL);
  for (int i = 0; i < forked; i++) waitpid(children[i], NULL, 0);
  return 0;
}
