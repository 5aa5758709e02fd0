/* Makes an exact number of forks or threads, for tests that count them.
 *   forker forks N [NAME_HEX [BEFORE]]
 *       fork BEFORE children and pause 300 ms (so a watcher learns the first name), then
 *       rename to the bytes NAME_HEX (prctl), then fork N children
 *   forker threads N            start and join N threads
 *   forker chains N PREFIX DEPTH
 *       N times: fork a child that names itself PREFIX<i> (prctl) and forks a chain of
 *       DEPTH processes without exec, each forking the next and waiting for it
 * Each child exits at once; the parent waits for every one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static void *nothing(void *arg) { return arg; }

static void rename_from_hex(const char *hex) {
  char name[16] = {0};
  size_t n = strlen(hex) / 2;
  if (n > 15) n = 15;
  for (size_t i = 0; i < n; i++) {
    unsigned byte;
    sscanf(hex + 2 * i, "%2x", &byte);
    name[i] = (char)byte;
  }
  if (prctl(PR_SET_NAME, name) != 0) { perror("prctl"); exit(1); }
}

static int fork_children(long count) {
  for (long i = 0; i < count; i++) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) _exit(0);
    if (waitpid(pid, NULL, 0) < 0) { perror("waitpid"); return 1; }
  }
  return 0;
}

/* This process forks a child that forks the next, DEPTH deep; each waits for its child. */
static int fork_chain(long depth) {
  if (depth == 0) return 0;
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 1; }
  if (pid == 0) _exit(fork_chain(depth - 1));
  int status;
  if (waitpid(pid, &status, 0) < 0) { perror("waitpid"); return 1; }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int named_chains(long count, const char *prefix, long depth) {
  for (long i = 0; i < count; i++) {
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) {
      char name[16];
      snprintf(name, sizeof name, "%s%ld", prefix, i);
      if (prctl(PR_SET_NAME, name) != 0) { perror("prctl"); _exit(1); }
      _exit(fork_chain(depth));
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) { perror("waitpid"); return 1; }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: forker forks|threads N [NAME_HEX]\n"); return 2; }
  long count = strtol(argv[2], NULL, 10);
  if (strcmp(argv[1], "forks") == 0) {
    if (argc > 4) {
      if (fork_children(strtol(argv[4], NULL, 10)) != 0) return 1;
      usleep(300 * 1000);
    }
    if (argc > 3) rename_from_hex(argv[3]);
    return fork_children(count);
  }
  if (strcmp(argv[1], "chains") == 0 && argc == 5) return named_chains(count, argv[3], strtol(argv[4], NULL, 10));
  if (strcmp(argv[1], "threads") == 0) {
    for (long i = 0; i < count; i++) {
      pthread_t thread;
      if (pthread_create(&thread, NULL, nothing, NULL) != 0) { perror("pthread_create"); return 1; }
      pthread_join(thread, NULL);
    }
    return 0;
  }
  fprintf(stderr, "unknown mode %s\n", argv[1]);
  return 2;
}
