/* vmwork — the VM matrix's workload (built with cc -static into the guest).
 *
 *   vmwork exit CODE                      exits with CODE
 *   vmwork opens READY PATH N MISSING M   blocks SIGUSR1, creates READY, waits for
 *                                         SIGUSR1, then opens PATH N times and
 *                                         MISSING M times (each open(2) once)
 *   vmwork sleeps N USEC                  N sleeps of USEC microseconds
 *   vmwork syscalls READY N               waits like `opens`, then N getppid(2)
 *   vmwork devopen PATH                   exit 0 if PATH opens, 1 if EPERM, 2 otherwise
 *   vmwork unlinks READY PREFIX N MISSING M  creates PREFIX.0..N-1, waits like `opens`,
 *                                         unlinks them, then unlinks MISSING M times
 *   vmwork burn MS                        spins MS milliseconds of CPU in burn_cpu_here
 *   vmwork reads READY SIZE...            waits like `opens`, then one read(2) of SIZE bytes
 *                                         of /dev/zero each; "bad": a read of a closed fd
 *                                         (-EBADF before vfs_read is called)
 *   vmwork bpfprogs                       prints how many BPF programs the kernel holds
 *   vmwork udp N                          N UDP datagrams to itself on 127.0.0.1 (a bound
 *                                         receiver reads them: no ICMP port-unreachable)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <time.h>

/* Named in profile's folded stacks (vmwork is built with frame pointers). */
__attribute__((noinline)) static void burn_cpu_here(int ms) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile unsigned long x = 0;
    do {
        for (int i = 0; i < 100000; i++) x += i;
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static void wait_for_go(const char *ready) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int fd = open(ready, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror(ready); exit(3); }
    close(fd);
    int sig;
    sigwait(&set, &sig);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
    if (argc == 7 && strcmp(argv[1], "opens") == 0) {
        wait_for_go(argv[2]);
        int n = atoi(argv[4]), m = atoi(argv[6]);
        for (int i = 0; i < n; i++) {
            int fd = open(argv[3], O_RDONLY);
            if (fd < 0) { perror(argv[3]); return 4; }
            close(fd);
        }
        for (int i = 0; i < m; i++)
            if (open(argv[5], O_RDONLY) >= 0 || errno != ENOENT) { fprintf(stderr, "%s: expected ENOENT\n", argv[5]); return 5; }
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "sleeps") == 0) {
        int n = atoi(argv[2]), us = atoi(argv[3]);
        for (int i = 0; i < n; i++) usleep(us);
        return 0;
    }
    if (argc == 4 && strcmp(argv[1], "syscalls") == 0) {
        wait_for_go(argv[2]);
        int n = atoi(argv[3]);
        for (int i = 0; i < n; i++) syscall(SYS_getppid);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "devopen") == 0) {
        int fd = open(argv[2], O_RDONLY);
        if (fd >= 0) return 0;
        return errno == EPERM ? 1 : 2;
    }
    if (argc == 3 && strcmp(argv[1], "udp") == 0) {
        int n = atoi(argv[2]);
        int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(rx, (struct sockaddr *)&a, &len) < 0) { perror("udp"); return 6; }
        char buf[16] = "infrared";
        for (int i = 0; i < n; i++) {
            if (sendto(tx, buf, 8, 0, (struct sockaddr *)&a, sizeof a) != 8) { perror("sendto"); return 6; }
            if (recv(rx, buf, sizeof buf, 0) != 8) { perror("recv"); return 6; }
        }
        return 0;
    }
    if (argc == 7 && strcmp(argv[1], "unlinks") == 0) {
        int n = atoi(argv[4]), m = atoi(argv[6]);
        char path[256];
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s.%d", argv[3], i);
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) { perror(path); return 8; }
            close(fd);
        }
        wait_for_go(argv[2]);
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "%s.%d", argv[3], i);
            if (unlink(path) != 0) { perror(path); return 8; }
        }
        for (int i = 0; i < m; i++)
            if (unlink(argv[5]) == 0 || errno != ENOENT) { fprintf(stderr, "%s: expected ENOENT\n", argv[5]); return 8; }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "burn") == 0) { burn_cpu_here(atoi(argv[2])); return 0; }
    if (argc >= 3 && strcmp(argv[1], "reads") == 0) {
        static char buf[1 << 16];
        int fd = open("/dev/zero", O_RDONLY);
        if (fd < 0) { perror("/dev/zero"); return 9; }
        wait_for_go(argv[2]);
        for (int i = 3; i < argc; i++) {
            if (strcmp(argv[i], "bad") == 0) {
                if (read(999, buf, 1) != -1 || errno != EBADF) { fprintf(stderr, "read(999): expected EBADF\n"); return 9; }
                continue;
            }
            int n = atoi(argv[i]);
            if (n < 0 || n > (int)sizeof buf || read(fd, buf, n) != n) { fprintf(stderr, "read %d bytes failed\n", n); return 9; }
        }
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "bpfprogs") == 0) {
        union bpf_attr attr;
        int n = 0;
        __u32 id = 0;
        for (;;) {
            memset(&attr, 0, sizeof attr);
            attr.start_id = id;
            if (syscall(SYS_bpf, BPF_PROG_GET_NEXT_ID, &attr, sizeof attr) < 0) break;
            id = attr.next_id;
            n++;
        }
        if (errno != ENOENT) { perror("BPF_PROG_GET_NEXT_ID"); return 7; }
        printf("%d\n", n);
        return 0;
    }
    fprintf(stderr, "usage: vmwork exit CODE | opens READY PATH N MISSING M | sleeps N USEC | syscalls READY N | devopen PATH | unlinks READY PREFIX N MISSING M | burn MS | bpfprogs | udp N | reads READY SIZE...\n");
    return 64;
}
