/* The fixed workloads of Benchmarks/run.sh (built with gcc at run time):
 *
 *   workload getpid N     N getpid() system calls
 *   workload exec N       N fork+exec of /bin/true, one after the other
 *   workload open N       N openat()+close() of /etc/hostname
 *   workload pingpong N   N one-byte round trips over two pipes with a child
 *                         (about 2N context switches)
 *   workload call N       N calls of bench_add(i, 2*i) (a uprobe's target)
 *   workload usdt N       N hits of the USDT probe bench:tick(i, 3*i)
 *
 * The USDT note is written by hand, as <sys/sdt.h> (systemtap-sdt-dev) would:
 * a nop, a .note.stapsdt entry with its address and argument spec, and the
 * .stapsdt.base section libbpf and bpftrace use to adjust addresses. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
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

__attribute__((noinline, used)) long bench_add(long a, long b)
{
	__asm__ __volatile__("" ::: "memory");
	return a + b;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s getpid|exec|open|pingpong|call|usdt|read N\n", argv[0]);
		return 2;
	}
	const char *mode = argv[1];
	long n = atol(argv[2]);
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
	} else {
		fprintf(stderr, "unknown workload %s\n", mode);
		return 2;
	}
	return 0;
}
