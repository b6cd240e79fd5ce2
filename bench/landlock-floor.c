// The kernel's floor for bench/landlock.mjs: vfork+execve /bin/true, plain and with what a
// confined spawn sets in the child (no_new_privs, a Landlock ruleset handling every file right,
// TCP connect and both scopes, with three path rules and a port rule, and a 23-instruction
// seccomp filter). Prints `plain confined` in ms per round trip, medians of 7 trials:
//   cc -O2 -o landlock-floor bench/landlock-floor.c && ./landlock-floor 300
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
struct ll_ra { unsigned long long fs, net, scoped; };
struct ll_pb { unsigned long long allowed_access; int parent_fd; } __attribute__((packed));
struct ll_np { unsigned long long allowed_access, port; };
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
static void confine(void) {
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  struct ll_ra ra = { (1ULL << 16) - 1, 3, 3 };
  int rs = syscall(SYS_landlock_create_ruleset, &ra, sizeof ra, 0);
  const char *paths[] = { "/usr", "/tmp", "/dev/null" };
  unsigned long long acc[] = { 1 | 4 | 8, (1ULL << 16) - 1 - 1 - (1ULL << 15), 2 | 4 };
  for (int i = 0; i < 3; i++) {
    int fd = open(paths[i], O_PATH | O_CLOEXEC);
    struct ll_pb pb = { .allowed_access = acc[i] & (i == 2 ? (2 | 4 | (1ULL << 14)) : ~0ULL), .parent_fd = fd };
    syscall(SYS_landlock_add_rule, rs, 1, &pb, 0);
    close(fd);
  }
  struct ll_np np = { 2, 3128 };
  syscall(SYS_landlock_add_rule, rs, 2, &np, 0);
  syscall(SYS_landlock_restrict_self, rs, 0);
  close(rs);
  struct sock_filter f[23];
  for (int i = 0; i < 22; i++) f[i] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0);
  f[22] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog p = { 23, f };
  syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &p);
}
static double run(int n, int conf) {
  double t = now();
  for (int i = 0; i < n; i++) {
    pid_t pid = vfork();
    if (pid == 0) { if (conf) confine(); char *a[] = { "/bin/true", 0 }; execve(a[0], a, (char *[]){ 0 }); _exit(127); }
    waitpid(pid, 0, 0);
  }
  return (now() - t) / n;
}
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 300;
  double a[7], b[7];
  for (int r = 0; r < 7; r++) { a[r] = run(n, 0); b[r] = run(n, 1); }
  int c(const void *x, const void *y) { double d = *(double *)x - *(double *)y; return d < 0 ? -1 : d > 0; }
  qsort(a, 7, sizeof *a, c); qsort(b, 7, sizeof *b, c);
  printf("%.4f %.4f\n", a[3], b[3]);
}
