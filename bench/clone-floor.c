/* The kernel's floor for bench/clone.mjs: clone(VM|VFORK|FILES|SIGCHLD) of a child that exits at
 * once, then waitpid(__WALL), in a process that, like Node, has other threads, and at least as
 * many memory mappings in all as asked for (a child's exit walks them all, so a bigger heap costs
 * the kernel more). Prints the mean milliseconds per round trip.
 *   cc -O2 -pthread bench/clone-floor.c && ./a.out [rounds] [mappings] */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char stack[64 * 1024] __attribute__((aligned(64)));

static int child(void *arg) {
  (void)arg;
  return 0;
}

static void *idle(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

/* The lines of /proc/self/maps: this process's memory mappings. */
static int count_mappings(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f) return -1;
  int n = 0;
  for (int c; (c = fgetc(f)) != EOF;) n += c == '\n';
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 2000;
  int mappings = argc > 2 ? atoi(argv[2]) : 0;
  pthread_t t;
  for (int i = 0; i < 8; i++) pthread_create(&t, NULL, idle, NULL);
  /* Up to `mappings` in all, counting this process's own (the program, the C library, the
   * threads' stacks). Alternate protections so that neighbouring mappings stay separate areas. */
  for (int have = count_mappings(), i = 0; have >= 0 && have < mappings; have = count_mappings()) {
    for (int missing = mappings - have; missing > 0; missing--, i++) {
      char *p = mmap(NULL, 256 * 1024, i % 2 ? PROT_READ | PROT_WRITE : PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
      }
      if (i % 2) p[0] = 1;
    }
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < rounds; i++) {
    int status;
    int pid = clone(child, stack + sizeof stack, CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, NULL);
    if (pid < 0 || waitpid(pid, &status, __WALL) != pid || status != 0) {
      perror("clone/waitpid");
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.6f\n", ((b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6) / rounds);
  return 0;
}
