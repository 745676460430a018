/* skelmain — the VM matrix's C skeleton check: Tests/VM/opencount.rb's
 * skeleton (`infrared gen skel`), linked statically against libbpf.
 *
 *   skelmain   forks `vmwork opens` (5 opens of a file, 3 of a missing one),
 *              sets target_pid to the child, loads and attaches the kprobe and
 *              kretprobe, lets the child run, prints "calls=N enoent=M".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include "opencount.skel.h"

int main(void) {
    const char *ready = "/tmp/skel.ready";
    unlink(ready);
    pid_t child = fork();
    if (child == 0) {
        execl("/bin/vmwork", "vmwork", "opens", ready, "/etc/vmtest-present", "5", "/nonexistent-vmtest", "3", (char *)NULL);
        _exit(127);
    }
    struct stat st;
    for (int i = 0; stat(ready, &st) != 0; i++) {
        if (i > 500) { fprintf(stderr, "skelmain: the workload never got ready\n"); return 2; }
        usleep(10000);
    }
    struct opencount *skel = opencount__open();
    if (!skel) { perror("opencount__open"); return 3; }
    skel->rodata->target_pid = child;
    if (opencount__load(skel)) { perror("opencount__load"); return 4; }
    if (opencount__attach(skel)) { perror("opencount__attach"); return 5; }
    kill(child, SIGUSR1);
    int status;
    waitpid(child, &status, 0);
    unsigned int key = 0;
    unsigned long long calls = 0, enoent = 0;
    bpf_map__lookup_elem(skel->maps.calls, &key, sizeof key, &calls, sizeof calls, 0);
    bpf_map__lookup_elem(skel->maps.enoent, &key, sizeof key, &enoent, sizeof enoent, 0);
    printf("calls=%llu enoent=%llu workload=%d\n", calls, enoent, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    opencount__destroy(skel);
    return 0;
}
