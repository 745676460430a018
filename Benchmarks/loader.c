/* bench-loader: loads one BPF object with libbpf, attaches its programs,
 * runs a workload, and prints what the kernel measured (one JSON line).
 * Built with gcc by Benchmarks/run.sh; the same code loads Infrared's and
 * clang's objects.
 *
 *   bench-loader OBJ [--testrun N] [-- WORKLOAD ARGS...]
 *
 * Tracing programs (tracepoint, uprobe, usdt, ...) are attached with
 * bpf_program__attach (libbpf's auto-attach from the section name) and the
 * workload is run as a child. Socket filter, XDP and tc programs are run N
 * times with BPF_PROG_TEST_RUN on a 64-byte IPv4/UDP packet instead. Other
 * program types are loaded only. Per program, from bpf_prog_info:
 * verified_insns, xlated length (in instructions), and the growth of
 * run_cnt / run_time_ns over the workload (kernel.bpf_stats_enabled must be
 * 1 for those to move). Everything is attached through bpf_links owned by
 * this process and nothing is pinned: whatever way it exits, the kernel
 * detaches and frees it all. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int verbose;

static int print_fn(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG || (level == LIBBPF_INFO && !verbose))
		return 0;
	return vfprintf(stderr, fmt, ap);
}

struct stat_ {
	__u64 cnt, ns;
};

static int info(int fd, struct bpf_prog_info *i)
{
	__u32 len = sizeof(*i);
	memset(i, 0, sizeof(*i));
	return bpf_obj_get_info_by_fd(fd, i, &len);
}

static pid_t child;
static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

int main(int argc, char **argv)
{
	long testrun = 0;
	char **workload = NULL;
	const char *path = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) { workload = &argv[i + 1]; break; }
		else if (!strcmp(argv[i], "--testrun") && i + 1 < argc) testrun = atol(argv[++i]);
		else if (!strcmp(argv[i], "-v")) verbose = 1;
		else if (!path) path = argv[i];
		else { fprintf(stderr, "usage: %s OBJ [--testrun N] [-v] [-- WORKLOAD...]\n", argv[0]); return 2; }
	}
	if (!path) { fprintf(stderr, "usage: %s OBJ [--testrun N] [-v] [-- WORKLOAD...]\n", argv[0]); return 2; }
	libbpf_set_print(print_fn);
	signal(SIGINT, forward);
	signal(SIGTERM, forward);

	struct bpf_object *obj = bpf_object__open_file(path, NULL);
	if (!obj) { fprintf(stderr, "%s: open failed: %s\n", path, strerror(errno)); return 1; }
	if (bpf_object__load(obj)) { fprintf(stderr, "%s: load failed: %s\n", path, strerror(errno)); return 1; }

	struct bpf_program *prog;
	int n = 0;
	bpf_object__for_each_program(prog, obj) n++;
	struct bpf_link **links = calloc(n, sizeof(*links));
	struct stat_ *before = calloc(n, sizeof(*before));
	int k = 0, traced = 0;
	bpf_object__for_each_program(prog, obj) {
		enum bpf_prog_type t = bpf_program__type(prog);
		if (t == BPF_PROG_TYPE_SOCKET_FILTER || t == BPF_PROG_TYPE_XDP || t == BPF_PROG_TYPE_SCHED_CLS) {
			k++;
			continue;
		}
		if (t == BPF_PROG_TYPE_TRACEPOINT || t == BPF_PROG_TYPE_RAW_TRACEPOINT || t == BPF_PROG_TYPE_KPROBE ||
		    t == BPF_PROG_TYPE_TRACING) {
			links[k] = bpf_program__attach(prog);
			if (!links[k]) {
				fprintf(stderr, "%s: attach %s failed: %s\n", path, bpf_program__name(prog), strerror(errno));
				return 1;
			}
			traced++;
		}
		k++;
	}
	k = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info i;
		info(bpf_program__fd(prog), &i);
		before[k].cnt = i.run_cnt;
		before[k].ns = i.run_time_ns;
		k++;
	}

	int status = 0;
	if (testrun > 0) {
		/* Ethernet + IPv4 + UDP, 64 bytes. */
		unsigned char pkt[64] = {
			0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00,
			0x45, 0, 0, 50, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
			0x30, 0x39, 0x00, 0x35, 0, 30, 0, 0,
		};
		bpf_object__for_each_program(prog, obj) {
			enum bpf_prog_type t = bpf_program__type(prog);
			if (t != BPF_PROG_TYPE_SOCKET_FILTER && t != BPF_PROG_TYPE_XDP && t != BPF_PROG_TYPE_SCHED_CLS)
				continue;
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt), .repeat = testrun);
			if (bpf_prog_test_run_opts(bpf_program__fd(prog), &o)) {
				fprintf(stderr, "%s: test run of %s failed: %s\n", path, bpf_program__name(prog), strerror(errno));
				return 1;
			}
		}
	} else if (workload && workload[0]) {
		child = fork();
		if (child == 0) {
			execvp(workload[0], workload);
			perror(workload[0]);
			_exit(127);
		}
		waitpid(child, &status, 0);
		child = 0;
		if (!WIFEXITED(status) || WEXITSTATUS(status)) { fprintf(stderr, "workload failed (status %d)\n", status); return 1; }
	}

	printf("{\"programs\":[");
	k = 0;
	__u64 cnt = 0, ns = 0, verified = 0, xlated = 0;
	bpf_object__for_each_program(prog, obj) {
		struct bpf_prog_info i;
		info(bpf_program__fd(prog), &i);
		__u64 c = i.run_cnt - before[k].cnt, t = i.run_time_ns - before[k].ns;
		printf("%s{\"name\":\"%s\",\"id\":%u,\"verified_insns\":%u,\"xlated_insns\":%u,\"run_cnt\":%llu,\"run_time_ns\":%llu}",
		       k ? "," : "", bpf_program__name(prog), i.id, i.verified_insns, i.xlated_prog_len / 8,
		       (unsigned long long)c, (unsigned long long)t);
		cnt += c; ns += t; verified += i.verified_insns; xlated += i.xlated_prog_len / 8;
		k++;
	}
	printf("],\"verified_insns\":%llu,\"xlated_insns\":%llu,\"run_cnt\":%llu,\"run_time_ns\":%llu}\n",
	       (unsigned long long)verified, (unsigned long long)xlated, (unsigned long long)cnt, (unsigned long long)ns);
	for (k = 0; k < n; k++)
		bpf_link__destroy(links[k]);
	bpf_object__close(obj);
	return 0;
}
