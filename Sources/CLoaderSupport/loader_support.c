#include "loader_support.h"
#include <signal.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <time.h>
#include <errno.h>
#include <sys/vfs.h>

static void termination_set(sigset_t *s) {
  sigemptyset(s);
  sigaddset(s, SIGINT);
  sigaddset(s, SIGTERM);
  sigaddset(s, SIGHUP);
}

int irl_termination_signals(void) {
  sigset_t s;
  termination_set(&s);
  signal(SIGPIPE, SIG_IGN);
  if (pthread_sigmask(SIG_BLOCK, &s, NULL) != 0) return -1;
  return signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC);
}

int irl_read_signal(int fd) {
  struct signalfd_siginfo si;
  ssize_t n = read(fd, &si, sizeof si);
  return n == (ssize_t)sizeof si ? (int)si.ssi_signo : 0;
}

void irl_unblock_termination_signals(void) {
  sigset_t s;
  termination_set(&s);
  pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

int irl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int irl_epoll_add(int epfd, int fd, uint64_t tag) {
  struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
  return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

int irl_epoll_wait(int epfd, uint64_t *tags, int max, int timeout_ms) {
  struct epoll_event evs[32];
  if (max > 32) max = 32;
  int n = epoll_wait(epfd, evs, max, timeout_ms);
  for (int i = 0; i < n; i++) tags[i] = evs[i].data.u64;
  return n;
}

uint64_t irl_monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t irl_fs_type(const char *path) {
  struct statfs fs;
  if (statfs(path, &fs) != 0) return -1;
  return (int64_t)(uint64_t)fs.f_type;
}
