// The kernel's floor for bench/spawn.mjs: the same spawn from C with nothing around it.
// clone(CLONE_VM | namespaces) onto a stack of its own, the id maps written by the parent while
// the child waits on a pipe, execve("/bin/true"), waitpid. Prints the mean milliseconds per spawn.
// Namespaces: all six by default, none with `plain`, or those named (user,mnt,pid,net,uts,ipc).
//   cc -O2 -o spawn-floor bench/spawn-floor.c && ./spawn-floor ROUNDS [plain | user,net,...]
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *const argv_true[] = {"/bin/true", NULL};
static int go[2];

static int child(void *unused) {
  char c;
  (void)unused;
  if (read(go[0], &c, 1) != 1) _exit(126);
  execve("/bin/true", argv_true, NULL);
  _exit(127);
}

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void write_map(int pid, const char *file) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", pid, file);
  int fd = open(path, O_WRONLY);
  if (fd < 0 || write(fd, "0 0 1\n", 6) != 6) exit(1);
  close(fd);
}

static int namespaces(const char *list) {
  static const struct { const char *name; int flag; } all[] = {
    {"user", CLONE_NEWUSER}, {"mnt", CLONE_NEWNS}, {"pid", CLONE_NEWPID},
    {"net", CLONE_NEWNET}, {"uts", CLONE_NEWUTS}, {"ipc", CLONE_NEWIPC},
  };
  int ns = 0;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    const char *at = strstr(list, all[i].name);
    size_t n = strlen(all[i].name);
    if (at && (at == list || at[-1] == ',') && (at[n] == ',' || at[n] == 0)) ns |= all[i].flag;
  }
  return ns;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 200;
  int ns = argc > 2 ? namespaces(argv[2]) : namespaces("user,mnt,pid,net,uts,ipc");
  size_t size = 64 * 1024;
  char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED) return 1;
  double start = now_ms();
  for (int i = 0; i < rounds; i++) {
    if (pipe2(go, O_CLOEXEC) < 0) return 1;
    int pid = clone(child, stack + size, CLONE_VM | ns | SIGCHLD, NULL);
    if (pid < 0) return 1;
    if (ns & CLONE_NEWUSER) {
      write_map(pid, "uid_map");
      write_map(pid, "gid_map");
    }
    if (write(go[1], "x", 1) != 1) return 1;
    int status;
    if (waitpid(pid, &status, 0) != pid || status != 0) return 1;
    close(go[0]);
    close(go[1]);
  }
  printf("%.4f\n", (now_ms() - start) / rounds);
  return 0;
}
