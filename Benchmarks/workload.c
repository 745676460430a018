/* The fixed workloads of Benchmarks/run.sh (built with gcc at run time):
 *
 *   workload getpid N     N getpid() system calls
 *   workload exec N       N fork+exec of /bin/true, one after the other
 *   workload open N       N openat()+close() of /etc/hostname
 *   workload pingpong N   N one-byte round trips over two pipes with a child
 *                         (about 2N context switches)
 *   workload call N       N calls of bench_add(i, 2*i) (a uprobe's target)
 *   workload usdt N       N hits of the USDT probe bench:tick(i, 3*i)
 *   workload read N       N read()s of /dev/zero, of 1 to 1000 bytes
 *   workload nanosleep N  N nanosleep(2) system calls (not glibc's
 *                         clock_nanosleep) of 1 µs each
 *   workload badfd N      N close(-1) and N dup(-1), each failing with EBADF
 *   workload kill N       N SIGUSR1 sent to itself (a handler counts them)
 *   workload tcp N        N TCP connections to a listener on 127.0.0.1:
 *                         connect, accept, then a reset close (SO_LINGER 0,
 *                         so no TIME_WAIT piles up)
 *
 * With WORKLOAD_CPUS=K (K > 1) the workload runs K times at once, in K
 * processes each pinned to one of CPUs 0..K-1 (run.sh --cpus K): the
 * events of an aggregation then race for the same map entries, as on a
 * busy machine. Each copy runs all N; the exit status is the first failure.
 *
 * The USDT note is written by hand, as <sys/sdt.h> (systemtap-sdt-dev) would:
 * a nop, a .note.stapsdt entry with its address and argument spec, and the
 * .stapsdt.base section libbpf and bpftrace use to adjust addresses. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define BENCH_TICK(a, b)                                                        \
	__asm__ __volatile__(                                                   \
		"990: nop\n"                                                    \
		".pushsection .note.stapsdt,\"?\",\"note\"\n"                   \
		".balign 4\n"                                                   \
		".4byte 992f-991f, 994f-993f, 3\n"                              \
		"991: .asciz \"stapsdt\"\n"                                     \
		"992: .balign 4\n"                                              \
		"993: .8byte 990b\n"                                            \
		".8byte _.stapsdt.base\n"                                       \
		".8byte 0\n"                                                    \
		".asciz \"bench\"\n"                                            \
		".asciz \"tick\"\n"                                             \
		".asciz \"-8@%0 -8@%1\"\n"                                      \
		"994: .balign 4\n"                                              \
		".popsection\n"                                                 \
		".ifndef _.stapsdt.base\n"                                      \
		".pushsection .stapsdt.base,\"aG\",\"progbits\",.stapsdt.base,comdat\n" \
		".weak _.stapsdt.base\n"                                        \
		".hidden _.stapsdt.base\n"                                      \
		"_.stapsdt.base: .space 1\n"                                    \
		".size _.stapsdt.base, 1\n"                                     \
		".popsection\n"                                                 \
		".endif\n"                                                      \
		:: "r"((long)(a)), "r"((long)(b)))

static volatile sig_atomic_t signals;
static void on_usr1(int sig) { (void)sig; signals++; }

__attribute__((noinline, used)) long bench_add(long a, long b)
{
	__asm__ __volatile__("" ::: "memory");
	return a + b;
}

static int run(const char *mode, long n)
{
	volatile long sink = 0;
	if (!strcmp(mode, "getpid")) {
		for (long i = 0; i < n; i++)
			syscall(SYS_getpid);
	} else if (!strcmp(mode, "exec")) {
		char *args[] = {"/bin/true", NULL};
		for (long i = 0; i < n; i++) {
			pid_t p;
			int st;
			if (posix_spawn(&p, "/bin/true", NULL, NULL, args, environ) != 0) { perror("posix_spawn"); return 1; }
			waitpid(p, &st, 0);
		}
	} else if (!strcmp(mode, "open")) {
		for (long i = 0; i < n; i++) {
			int fd = openat(AT_FDCWD, "/etc/hostname", O_RDONLY);
			if (fd >= 0) close(fd);
		}
	} else if (!strcmp(mode, "pingpong")) {
		int up[2], down[2];
		char c = 0;
		if (pipe(up) || pipe(down)) { perror("pipe"); return 1; }
		pid_t p = fork();
		if (p == 0) {
			close(down[1]);
			close(up[0]);
			while (read(down[0], &c, 1) == 1)
				if (write(up[1], &c, 1) != 1) break;
			_exit(0);
		}
		close(down[0]);
		close(up[1]);
		for (long i = 0; i < n; i++)
			if (write(down[1], &c, 1) != 1 || read(up[0], &c, 1) != 1) break;
		close(down[1]);
		waitpid(p, NULL, 0);
	} else if (!strcmp(mode, "read")) {
		/* N read(2)s of /dev/zero, of 1 to 1000 bytes (i % 1000 + 1). */
		static char buf[1000];
		int fd = open("/dev/zero", O_RDONLY);
		if (fd < 0) { perror("/dev/zero"); return 1; }
		for (long i = 0; i < n; i++)
			if (read(fd, buf, i % 1000 + 1) <= 0) { perror("read"); return 1; }
		close(fd);
	} else if (!strcmp(mode, "call")) {
		for (long i = 0; i < n; i++)
			sink += bench_add(i, 2 * i);
	} else if (!strcmp(mode, "usdt")) {
		for (long i = 0; i < n; i++) {
			BENCH_TICK(i, 3 * i);
			sink += i;
		}
	} else if (!strcmp(mode, "nanosleep")) {
		struct timespec ts = {0, 1000};
		for (long i = 0; i < n; i++)
			syscall(SYS_nanosleep, &ts, NULL);
	} else if (!strcmp(mode, "badfd")) {
		for (long i = 0; i < n; i++) {
			sink += syscall(SYS_close, -1);
			sink += syscall(SYS_dup, -1);
		}
	} else if (!strcmp(mode, "kill")) {
		signal(SIGUSR1, on_usr1);
		for (long i = 0; i < n; i++)
			kill(getpid(), SIGUSR1);
		if (signals != n) { fprintf(stderr, "kill: %d of %ld signals\n", (int)signals, n); return 1; }
	} else if (!strcmp(mode, "tcp")) {
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t alen = sizeof(a);
		int l = socket(AF_INET, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 16) ||
		    getsockname(l, (struct sockaddr *)&a, &alen)) { perror("listen"); return 1; }
		struct linger lg = {1, 0};
		for (long i = 0; i < n; i++) {
			int c = socket(AF_INET, SOCK_STREAM, 0);
			if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a))) { perror("connect"); return 1; }
			int s = accept(l, NULL, NULL);
			if (s < 0) { perror("accept"); return 1; }
			setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			close(c);
			close(s);
		}
		close(l);
	} else {
		fprintf(stderr, "unknown workload %s\n", mode);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: [WORKLOAD_CPUS=K] %s getpid|exec|open|pingpong|call|usdt|read|nanosleep|badfd|kill|tcp N\n", argv[0]);
		return 2;
	}
	const char *cpus = getenv("WORKLOAD_CPUS");
	int k = cpus ? atoi(cpus) : 1;
	if (k <= 1)
		return run(argv[1], atol(argv[2]));
	pid_t kids[64];
	if (k > 64) { fprintf(stderr, "WORKLOAD_CPUS: at most 64\n"); return 2; }
	for (int i = 0; i < k; i++) {
		kids[i] = fork();
		if (kids[i] < 0) { perror("fork"); return 1; }
		if (kids[i] == 0) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(i, &set);
			if (sched_setaffinity(0, sizeof(set), &set)) { perror("sched_setaffinity"); _exit(1); }
			_exit(run(argv[1], atol(argv[2])));
		}
	}
	int status = 0;
	for (int i = 0; i < k; i++) {
		int st;
		if (waitpid(kids[i], &st, 0) < 0 || !WIFEXITED(st)) { if (!status) status = 1; continue; }
		if (WEXITSTATUS(st) && !status) status = WEXITSTATUS(st);
	}
	return status;
}
