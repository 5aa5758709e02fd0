/* A fork bomb: every process forks forever, and so does every copy.
 * Run it only through test/helpers/bombs.ts, inside a pids cgroup: it refuses to start
 * unless its pids cgroup (v1 "N:pids:" line, else the v2 "0::" line) is a
 * forkwatch-test-* containment. At the cap, fork() fails and each copy keeps trying. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int contained(void) {
  FILE *f = fopen("/proc/self/cgroup", "r");
  if (!f) return 0;
  char line[4096];
  int v1_pids = 0, v1_ok = 0, v2_ok = 0;
  while (fgets(line, sizeof line, f)) {
    int ours = strstr(line, "/forkwatch-test-") != NULL;
    if (strstr(line, ":pids:") || strstr(line, ",pids:") || strstr(line, ":pids,")) {
      v1_pids = 1;
      v1_ok = ours;
    } else if (strncmp(line, "0::", 3) == 0) {
      v2_ok = ours;
    }
  }
  fclose(f);
  return v1_pids ? v1_ok : v2_ok;
}

int main(void) {
  if (!contained()) {
    fputs("bomb: not inside a forkwatch-test pids cgroup; refusing to fork\n", stderr);
    return 2;
  }
  for (;;) fork();
}
