// libbpf (BTF, loading) and libelf (object files), as one system module.
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include <bpf/bpf.h>
#include <libelf.h>
#include <gelf.h>
#include <linux/bpf.h>
#include <linux/btf.h>
