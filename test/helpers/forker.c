/* Makes an exact number of forks or threads, for tests that count them.
 *   forker forks N [NAME_HEX [BEFORE]]
 *       fork BEFORE children and pause 300 ms (so a watcher learns the first name), then
 *       rename to the bytes NAME_HEX (prctl), then fork N children
 *   forker threads N            start and join N threads
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
