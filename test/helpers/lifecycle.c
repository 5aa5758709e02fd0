/* Makes the lifecycle events tests count. Copies run under unique names, so each test
 * reads the counts of its own name.
 *   lifecycle exec N        exec itself (by its own path, so the name stays) N more times
 *   lifecycle exit CODE     exit(CODE)
 *   lifecycle signal SIG    die of signal SIG, dumping no core (not dumpable)
 *   lifecycle core          abort() with RLIMIT_CORE unlimited: core_pattern says where it goes
 *   lifecycle live MS       live MS milliseconds, then exit 0
 *   lifecycle setuid UID T  as root, with T extra threads: setuid(0) (root to root), then
 *                           effective UID keeping saved uid 0, then back to 0; exit 0
 *   lifecycle ptrace        fork a child, PTRACE_ATTACH to it, detach, kill it
 *   lifecycle hold P T      fork P children that each start and join T threads, then start T
 *                           that stay; print the children's pids on one line, and wait for
 *                           stdin to close; then kill and reap them
 * Every mode but exec with more to go first lingers LINGER_MS: forkwatch reads a process's
 * name from /proc as its exec arrives, and a process gone before that counts as __unknown__.
 * Exits 100 or more when something failed, with the reason on stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINGER_MS 200

static void die(const char *what) {
  perror(what);
  exit(100);
}

static long number(const char *text) {
  char *end;
  long value = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0') {
    fprintf(stderr, "not a number: %s\n", text);
    exit(101);
  }
  return value;
}

static void *block(void *unused) {
  (void)unused;
  for (;;) pause();
  return NULL;
}

static void *end_at_once(void *unused) { return unused; }

static void start_threads(long count) {
  for (long i = 0; i < count; i++) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, block, NULL) != 0) die("pthread_create");
  }
}

static void set_core_limit(rlim_t limit) {
  struct rlimit rlimit = {limit, limit};
  if (setrlimit(RLIMIT_CORE, &rlimit) != 0) die("setrlimit");
}

static void reap(pid_t pid) {
  while (waitpid(pid, NULL, __WALL) < 0)
    if (errno != EINTR) die("waitpid");
}

static int exec_self(long more) {
  char path[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  if (length < 0) die("readlink");
  path[length] = '\0';
  char count[32];
  snprintf(count, sizeof count, "%ld", more - 1);
  // The kernel names the process after the file exec'd: its own path keeps the name.
  execl(path, path, "exec", count, (char *)NULL);
  die("execl");
  return 1;
}

static int die_of(int signal_number) {
  // Not dumpable: no core file anywhere, whatever kernel.core_pattern says.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) die("prctl");
  struct sigaction action = {.sa_handler = SIG_DFL};
  sigaction(signal_number, &action, NULL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, signal_number);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  raise(signal_number);
  fprintf(stderr, "still alive after signal %d\n", signal_number);
  return 102;
}

static int live(long ms) {
  struct timespec time = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&time, &time) != 0)
    if (errno != EINTR) die("nanosleep");
  return 0;
}

static int become_root_again(uid_t user, long threads) {
  start_threads(threads);
  if (setuid(0) != 0) die("setuid(0)"); // root to root: not a change to count
  if (setresuid(-1, user, -1) != 0) die("setresuid(-1, user, -1)");
  if (geteuid() != user) die("geteuid after the drop");
  if (setresuid(-1, 0, -1) != 0) die("setresuid(-1, 0, -1)");
  if (geteuid() != 0) die("geteuid after the return");
  return 0;
}

static int attach_to_child(void) {
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) block(NULL);
  if (ptrace(PTRACE_ATTACH, child, NULL, NULL) != 0) die("PTRACE_ATTACH");
  int status;
  if (waitpid(child, &status, 0) < 0 || !WIFSTOPPED(status)) die("waitpid for the stop");
  if (ptrace(PTRACE_DETACH, child, NULL, NULL) != 0) die("PTRACE_DETACH");
  kill(child, SIGKILL);
  reap(child);
  return 0;
}

static int hold(long processes, long threads) {
  pid_t *children = calloc((size_t)processes, sizeof *children);
  int ready[2];
  if (!children || pipe(ready) != 0) die("setup");
  for (long i = 0; i < processes; i++) {
    children[i] = fork();
    if (children[i] < 0) die("fork");
    if (children[i] == 0) {
      for (long t = 0; t < threads; t++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, end_at_once, NULL) != 0 || pthread_join(thread, NULL) != 0) die("a thread that ends");
      }
      start_threads(threads);
      if (write(ready[1], "", 1) != 1) die("write");
      block(NULL);
    }
  }
  // Every child has started all its threads before it writes its byte.
  for (long i = 0; i < processes; i++) {
    char byte;
    if (read(ready[0], &byte, 1) != 1) die("read");
  }
  for (long i = 0; i < processes; i++) printf("%s%d", i ? " " : "", (int)children[i]);
  printf("\n");
  fflush(stdout);
  char buffer[64];
  while (read(STDIN_FILENO, buffer, sizeof buffer) > 0) {
  }
  for (long i = 0; i < processes; i++) kill(children[i], SIGKILL);
  for (long i = 0; i < processes; i++) reap(children[i]);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: lifecycle exec|exit|signal|core|live|setuid|ptrace|hold ...\n");
    return 101;
  }
  const char *mode = argv[1];
  if (strcmp(mode, "exec") == 0 && argc == 3 && number(argv[2]) > 0) return exec_self(number(argv[2]));
  if (strcmp(mode, "live") != 0) live(LINGER_MS);
  if (strcmp(mode, "exec") == 0 && argc == 3) return 0;
  if (strcmp(mode, "exit") == 0 && argc == 3) return (int)number(argv[2]);
  if (strcmp(mode, "signal") == 0 && argc == 3) return die_of((int)number(argv[2]));
  if (strcmp(mode, "core") == 0 && argc == 2) {
    set_core_limit(RLIM_INFINITY);
    abort();
  }
  if (strcmp(mode, "live") == 0 && argc == 3) return live(number(argv[2]));
  if (strcmp(mode, "setuid") == 0 && argc == 4) return become_root_again((uid_t)number(argv[2]), number(argv[3]));
  if (strcmp(mode, "ptrace") == 0 && argc == 2) return attach_to_child();
  if (strcmp(mode, "hold") == 0 && argc == 4) return hold(number(argv[2]), number(argv[3]));
  fprintf(stderr, "bad arguments for mode %s\n", mode);
  return 101;
}
