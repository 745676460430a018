// Process plumbing the loader needs and Swift's Glibc module does not
// export (signalfd, epoll): termination signals as a file descriptor, so
// the event loop waits on records, timers and signals at once, and a signal
// arriving during start-up stays pending until the loader checks for it.
#ifndef INFRARED_LOADER_SUPPORT_H
#define INFRARED_LOADER_SUPPORT_H
#include <stdint.h>

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and the threads
/// it starts later), ignores SIGPIPE, and returns a non-blocking signalfd
/// that reads them, or -1.
int irl_termination_signals(void);
/// The number of a pending signal read from `fd`, or 0 when none is pending.
int irl_read_signal(int fd);
/// Unblocks the termination signals (before exec'ing or when done).
void irl_unblock_termination_signals(void);

int irl_epoll_create(void);
/// Adds `fd` to the epoll set, reporting readability with `tag`.
int irl_epoll_add(int epfd, int fd, uint64_t tag);
/// Waits up to `timeout_ms` (-1: forever); fills `tags` with up to `max`
/// ready tags; returns how many, 0 on timeout, -1 on error (EINTR included).
int irl_epoll_wait(int epfd, uint64_t *tags, int max, int timeout_ms);

/// CLOCK_MONOTONIC in nanoseconds.
uint64_t irl_monotonic_ns(void);
/* statfs(2)'s f_type of the file system holding path (Swift's Glibc module has no
   statfs), or -1 with errno set. */
int64_t irl_fs_type(const char *path);
#endif
