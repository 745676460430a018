// See include/irhooks.h. Everything that depends on mruby's value boxing stays here.
#include "irhooks.h"
#include <mruby.h>
#include <mruby/compile.h>
#include <mruby/irep.h>
#include <mruby/dump.h>
#include <mruby/proc.h>
#include <mruby/array.h>
#include <mruby/hash.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include <mruby/class.h>
#include <mruby/error.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

struct irh_vm {
  mrb_state *mrb;
  irh_host_fn host;
  void *host_ctx;
  char host_error[1024];
  int host_failed;
};

static inline mrb_value V(irh_value v) { mrb_value m; m.w = v.w; return m; }
static inline irh_value W(mrb_value m) { irh_value v; v.w = m.w; return v; }

// Kernel#__infrared_host(*args): forwards to the host; raises after the host
// returned when it asked for it (a longjmp must not cross Swift frames).
static mrb_value host_call(mrb_state *mrb, mrb_value self) {
  const mrb_value *argv; mrb_int argc;
  mrb_get_args(mrb, "*", &argv, &argc);
  irh_vm *vm = (irh_vm *)mrb->ud;
  if (!vm || !vm->host) mrb_raise(mrb, E_RUNTIME_ERROR, "no host");
  vm->host_failed = 0;
  irh_value *args = (irh_value *)argv;   // same representation (word boxing)
  irh_value r = vm->host(vm->host_ctx, vm, (int)argc, args);
  if (vm->host_failed) {
    vm->host_failed = 0;
    mrb_raise(mrb, E_RUNTIME_ERROR, vm->host_error);
  }
  return V(r);
}

irh_vm *irh_open(void) {
  mrb_state *mrb = mrb_open();
  if (!mrb) return NULL;
  irh_vm *vm = calloc(1, sizeof *vm);
  vm->mrb = mrb;
  mrb->ud = vm;
  mrb_define_method(mrb, mrb->kernel_module, "__infrared_host", host_call, MRB_ARGS_ANY());
  return vm;
}

void irh_close(irh_vm *vm) {
  if (!vm) return;
  mrb_close(vm->mrb);
  free(vm);
}

void irh_set_host(irh_vm *vm, irh_host_fn fn, void *ctx) { vm->host = fn; vm->host_ctx = ctx; }

void irh_host_fail(irh_vm *vm, const char *message) {
  snprintf(vm->host_error, sizeof vm->host_error, "%s", message);
  vm->host_failed = 1;
}

static void parse_error(struct mrb_parser_state *p, const char *filename, char *err, size_t errlen) {
  snprintf(err, errlen, "%s:%d:%d: %s", filename, p->error_buffer[0].lineno, p->error_buffer[0].column,
           p->error_buffer[0].message ? p->error_buffer[0].message : "syntax error");
}

int irh_compile(const char *src, size_t len, const char *filename, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
  mrb_state *mrb = mrb_open_core(mrb_default_allocf, NULL);
  if (!mrb) { snprintf(err, errlen, "cannot start mruby"); return -1; }
  mrbc_context *c = mrbc_context_new(mrb);
  mrbc_filename(mrb, c, filename);
  c->capture_errors = TRUE;
  c->no_optimize = FALSE;
  int rc = -1;
  struct mrb_parser_state *p = mrb_parse_nstring(mrb, src, len, c);
  if (!p) { snprintf(err, errlen, "out of memory while parsing"); goto done; }
  if (p->nerr > 0) { parse_error(p, filename, err, errlen); mrb_parser_free(p); goto done; }
  struct RProc *proc = mrb_generate_code(mrb, p);
  mrb_parser_free(p);
  if (!proc) { snprintf(err, errlen, "%s: cannot generate mruby bytecode", filename); goto done; }
  uint8_t *bin = NULL; size_t size = 0;
  if (mrb_dump_irep(mrb, proc->body.irep, MRB_DUMP_DEBUG_INFO, &bin, &size) != MRB_DUMP_OK) {
    snprintf(err, errlen, "%s: cannot dump mruby bytecode", filename); goto done;
  }
  *out = malloc(size);
  memcpy(*out, bin, size);
  *outlen = size;
  mrb_free(mrb, bin);
  rc = 0;
done:
  mrbc_context_free(mrb, c);
  mrb_close(mrb);
  return rc;
}

void irh_free(void *p) { free(p); }

// The exception's message with its class and the first backtrace entry:
// "probe.rb:12: undefined method 'x' (NoMethodError)". Returns 1 when it is
// an InfraredExit (the prelude's `exit`), with its status.
static int describe_exception(mrb_state *mrb, mrb_value exc, int *status, char *err, size_t errlen) {
  const char *cls = mrb_obj_classname(mrb, exc);
  if (strcmp(cls, "InfraredExit") == 0) {
    mrb_value st = mrb_iv_get(mrb, exc, mrb_intern_lit(mrb, "@status"));
    if (status) *status = mrb_integer_p(st) ? (int)mrb_integer(st) : 0;
    return 1;
  }
  mrb_value msg = mrb_funcall(mrb, exc, "message", 0);
  if (mrb->exc) { mrb->exc = NULL; msg = mrb_str_new_cstr(mrb, "exception"); }
  mrb_value bt = mrb_funcall(mrb, exc, "backtrace", 0);
  if (mrb->exc) { mrb->exc = NULL; bt = mrb_nil_value(); }
  const char *where = NULL;
  if (mrb_array_p(bt)) {
    for (mrb_int i = 0; i < RARRAY_LEN(bt); i++) {
      mrb_value e = mrb_ary_ref(mrb, bt, i);
      if (mrb_string_p(e) && strncmp(RSTRING_PTR(e), "(infrared", 9) != 0) { where = mrb_str_to_cstr(mrb, e); break; }
    }
  }
  const char *m = mrb_string_p(msg) ? mrb_str_to_cstr(mrb, msg) : "exception";
  if (where) snprintf(err, errlen, "%s: %s (%s)", where, m, cls);
  else snprintf(err, errlen, "%s (%s)", m, cls);
  return -1;
}

static int finish(mrb_state *mrb, int *status, char *err, size_t errlen) {
  if (!mrb->exc) return 0;
  mrb_value exc = mrb_obj_value(mrb->exc);
  mrb->exc = NULL;
  return describe_exception(mrb, exc, status, err, errlen);
}

int irh_run_source(irh_vm *vm, const char *src, size_t len, const char *filename, int *status, char *err, size_t errlen) {
  mrb_state *mrb = vm->mrb;
  int ai = mrb_gc_arena_save(mrb);
  mrbc_context *c = mrbc_context_new(mrb);
  mrbc_filename(mrb, c, filename);
  c->capture_errors = TRUE;
  struct mrb_parser_state *p = mrb_parse_nstring(mrb, src, len, c);
  int rc;
  if (!p) { snprintf(err, errlen, "out of memory while parsing"); rc = -1; }
  else if (p->nerr > 0) { parse_error(p, filename, err, errlen); mrb_parser_free(p); rc = -1; }
  else { mrb_load_exec(mrb, p, c); rc = finish(mrb, status, err, errlen); }
  mrbc_context_free(mrb, c);
  mrb_gc_arena_restore(mrb, ai);
  return rc;
}

int irh_run_bytecode(irh_vm *vm, const uint8_t *bin, size_t len, int *status, char *err, size_t errlen) {
  mrb_state *mrb = vm->mrb;
  int ai = mrb_gc_arena_save(mrb);
  mrb_load_irep_buf(mrb, bin, len);
  int rc = finish(mrb, status, err, errlen);
  mrb_gc_arena_restore(mrb, ai);
  return rc;
}

struct call_args { mrb_value recv; mrb_sym name; mrb_int argc; const mrb_value *argv; };
static mrb_value do_call(mrb_state *mrb, void *ud) {
  struct call_args *a = ud;
  return mrb_funcall_argv(mrb, a->recv, a->name, a->argc, a->argv);
}

int irh_call(irh_vm *vm, irh_value recv, const char *name, int argc, const irh_value *argv, irh_value *result,
             int *status, char *err, size_t errlen) {
  mrb_state *mrb = vm->mrb;
  struct call_args a = { V(recv), mrb_intern_cstr(mrb, name), argc, (const mrb_value *)argv };
  mrb_bool failed = FALSE;
  mrb_value r = mrb_protect_error(mrb, do_call, &a, &failed);
  if (failed) {
    mrb->exc = NULL;
    return describe_exception(mrb, r, status, err, errlen);
  }
  int rc = finish(mrb, status, err, errlen);
  if (result) *result = W(r);
  return rc;
}

int irh_arena_save(irh_vm *vm) { return mrb_gc_arena_save(vm->mrb); }
void irh_arena_restore(irh_vm *vm, int ai) { mrb_gc_arena_restore(vm->mrb, ai); }

irh_value irh_nil(void) { return W(mrb_nil_value()); }
irh_value irh_bool(int b) { return W(mrb_bool_value(b != 0)); }
irh_value irh_int(irh_vm *vm, int64_t i) { return W(mrb_int_value(vm->mrb, (mrb_int)i)); }
irh_value irh_float(irh_vm *vm, double d) { return W(mrb_float_value(vm->mrb, d)); }
irh_value irh_str(irh_vm *vm, const char *p, size_t len) { return W(mrb_str_new(vm->mrb, p, (mrb_int)len)); }
irh_value irh_sym(irh_vm *vm, const char *name) { return W(mrb_symbol_value(mrb_intern_cstr(vm->mrb, name))); }
irh_value irh_array(irh_vm *vm) { return W(mrb_ary_new(vm->mrb)); }
void irh_array_push(irh_vm *vm, irh_value a, irh_value v) { mrb_ary_push(vm->mrb, V(a), V(v)); }
irh_value irh_hash(irh_vm *vm) { return W(mrb_hash_new(vm->mrb)); }
void irh_hash_set(irh_vm *vm, irh_value h, irh_value k, irh_value v) { mrb_hash_set(vm->mrb, V(h), V(k), V(v)); }
irh_value irh_global(irh_vm *vm, const char *name) { return W(mrb_gv_get(vm->mrb, mrb_intern_cstr(vm->mrb, name))); }
void irh_set_global(irh_vm *vm, const char *name, irh_value v) { mrb_gv_set(vm->mrb, mrb_intern_cstr(vm->mrb, name), V(v)); }
irh_value irh_top_self(irh_vm *vm) { return W(mrb_top_self(vm->mrb)); }

int irh_type(irh_value v) {
  mrb_value m = V(v);
  switch (mrb_type(m)) {
    case MRB_TT_FALSE: return mrb_nil_p(m) ? IRH_NIL : IRH_FALSE;
    case MRB_TT_TRUE: return IRH_TRUE;
    case MRB_TT_INTEGER: return IRH_INT;
#ifndef MRB_NO_FLOAT
    case MRB_TT_FLOAT: return IRH_FLOAT;
#endif
    case MRB_TT_STRING: return IRH_STRING;
    case MRB_TT_SYMBOL: return IRH_SYMBOL;
    case MRB_TT_ARRAY: return IRH_ARRAY;
    case MRB_TT_HASH: return IRH_HASH;
    default: return IRH_OTHER;
  }
}

int64_t irh_to_int(irh_value v) { return (int64_t)mrb_integer(V(v)); }
double irh_to_float(irh_value v) {
#ifndef MRB_NO_FLOAT
  return (double)mrb_float(V(v));
#else
  return 0;
#endif
}

const char *irh_string(irh_vm *vm, irh_value v, size_t *len) {
  mrb_value m = V(v);
  if (mrb_string_p(m)) { *len = RSTRING_LEN(m); return RSTRING_PTR(m); }
  if (mrb_symbol_p(m)) { mrb_int l; const char *p = mrb_sym_name_len(vm->mrb, mrb_symbol(m), &l); *len = (size_t)l; return p; }
  *len = 0; return "";
}

size_t irh_array_len(irh_value v) { return (size_t)RARRAY_LEN(V(v)); }
irh_value irh_array_at(irh_vm *vm, irh_value a, size_t i) { return W(mrb_ary_ref(vm->mrb, V(a), (mrb_int)i)); }
irh_value irh_hash_keys(irh_vm *vm, irh_value h) { return W(mrb_hash_keys(vm->mrb, V(h))); }
irh_value irh_hash_get(irh_vm *vm, irh_value h, irh_value k) { return W(mrb_hash_get(vm->mrb, V(h), V(k))); }
