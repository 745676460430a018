// A narrow C seam over libmruby for the loader's user-space hooks
// (`on_event`, `every`, `at_exit`). The compiler has its own seam (CMRuby)
// for reading ireps; this one runs code: compile a file to RITE bytecode,
// run bytecode, call blocks, and let Ruby call back into the host (Swift)
// through one C function, `Kernel#__infrared_host(*args)`.
//
// Exceptions never unwind through Swift: every entry from the host is
// wrapped in mrb_protect_error, and a host callback reports failure with
// `irh_host_fail`, which raises only after the callback has returned.
#ifndef INFRARED_IRHOOKS_H
#define INFRARED_IRHOOKS_H
#include <stdint.h>
#include <stddef.h>

typedef struct irh_vm irh_vm;
typedef struct { uintptr_t w; } irh_value;          // an mrb_value (word boxing)

enum irh_type { IRH_NIL = 0, IRH_FALSE, IRH_TRUE, IRH_INT, IRH_FLOAT, IRH_STRING, IRH_SYMBOL, IRH_ARRAY, IRH_HASH, IRH_OTHER };

/// The host's side of `__infrared_host(*args)`; `argv` is valid during the call.
typedef irh_value (*irh_host_fn)(void *ctx, irh_vm *vm, int argc, const irh_value *argv);

irh_vm *irh_open(void);
void irh_close(irh_vm *vm);
void irh_set_host(irh_vm *vm, irh_host_fn fn, void *ctx);
/// Makes the host call in progress raise RuntimeError(message) once it returns.
void irh_host_fail(irh_vm *vm, const char *message);

/// Compiles `src` to RITE bytecode with debug info (line numbers). Returns 0
/// and a malloc'd buffer (free with irh_free), or -1 with `err` filled.
int irh_compile(const char *src, size_t len, const char *filename, uint8_t **out, size_t *outlen, char *err, size_t errlen);
void irh_free(void *p);

/// Runs source text / RITE bytecode at the top level. 0, -1 (error in
/// `err`), or 1 when the code called `exit` (status in *status).
int irh_run_source(irh_vm *vm, const char *src, size_t len, const char *filename, int *status, char *err, size_t errlen);
int irh_run_bytecode(irh_vm *vm, const uint8_t *bin, size_t len, int *status, char *err, size_t errlen);
/// `recv.name(*argv)`, same results as irh_run_source; the result in *result.
int irh_call(irh_vm *vm, irh_value recv, const char *name, int argc, const irh_value *argv, irh_value *result,
             int *status, char *err, size_t errlen);

/// Values made between save and restore stay alive until restore.
int irh_arena_save(irh_vm *vm);
void irh_arena_restore(irh_vm *vm, int ai);

irh_value irh_nil(void);
irh_value irh_bool(int b);
irh_value irh_int(irh_vm *vm, int64_t i);
irh_value irh_float(irh_vm *vm, double d);
irh_value irh_str(irh_vm *vm, const char *p, size_t len);
irh_value irh_sym(irh_vm *vm, const char *name);
irh_value irh_array(irh_vm *vm);
void irh_array_push(irh_vm *vm, irh_value a, irh_value v);
irh_value irh_hash(irh_vm *vm);
void irh_hash_set(irh_vm *vm, irh_value h, irh_value k, irh_value v);
irh_value irh_global(irh_vm *vm, const char *name);
void irh_set_global(irh_vm *vm, const char *name, irh_value v);
irh_value irh_top_self(irh_vm *vm);

int irh_type(irh_value v);
int64_t irh_to_int(irh_value v);
double irh_to_float(irh_value v);
/// String contents or a symbol's name; valid while the value is alive.
const char *irh_string(irh_vm *vm, irh_value v, size_t *len);
size_t irh_array_len(irh_value v);
irh_value irh_array_at(irh_vm *vm, irh_value a, size_t i);
irh_value irh_hash_keys(irh_vm *vm, irh_value h);
irh_value irh_hash_get(irh_vm *vm, irh_value h, irh_value k);
#endif
