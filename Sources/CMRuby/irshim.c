// See include/irshim.h. Everything that depends on mruby's value boxing stays here.
#include "irshim.h"
#include <mruby.h>
#include <mruby/compile.h>
#include <mruby/irep.h>
#include <mruby/proc.h>
#include <mruby/array.h>
#include <mruby/hash.h>
#include <mruby/string.h>
#include <mruby/variable.h>
#include <mruby/class.h>
#include <mruby/debug.h>
#include <mruby/error.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

struct ir_session {
  mrb_state *mrb;
  mrb_value keep;   // an array rooting everything handed out
};

static inline mrb_value V(ir_value v) { mrb_value m; m.w = v.w; return m; }
static inline ir_value W(ir_session *s, mrb_value m) {
  if (!mrb_immediate_p(m)) mrb_ary_push(s->mrb, s->keep, m);
  ir_value v; v.w = m.w; return v;
}
static inline ir_value Wi(mrb_value m) { ir_value v; v.w = m.w; return v; }

// The build-time top level gets plain Ruby: the core and the gems of
// Debian's libmruby that extend it (strings, arrays, hashes, enumerators,
// sprintf, Struct, Math, …), but not io, socket, time, random, pack or
// objectspace. A build then depends on the file alone (no files, sockets,
// clock or randomness), and opening the interpreter costs ~0.1 ms less than
// mrb_open's every gem. The names are those of Debian 12's libmruby build.
#define BUILD_TIME_GEMS(X) \
  X(compar_ext) X(enum_ext) X(string_ext) X(numeric_ext) X(array_ext) X(hash_ext) X(range_ext) \
  X(proc_ext) X(symbol_ext) X(object_ext) X(fiber) X(enumerator) X(enum_lazy) X(toplevel_ext) \
  X(kernel_ext) X(class_ext) X(sprintf) X(struct) X(print) X(math) X(rational) X(complex) \
  X(metaprog) X(method) X(eval)
#define DECLARE(g) void GENERATED_TMP_mrb_mruby_##g##_gem_init(mrb_state *); \
                   void GENERATED_TMP_mrb_mruby_##g##_gem_final(mrb_state *);
BUILD_TIME_GEMS(DECLARE)
#define INIT(g) GENERATED_TMP_mrb_mruby_##g##_gem_init(mrb);
#define FINAL(g) GENERATED_TMP_mrb_mruby_##g##_gem_final(mrb);
static void final_gems(mrb_state *mrb) { BUILD_TIME_GEMS(FINAL) }
static mrb_value init_gems(mrb_state *mrb, void *unused) {
  (void)unused;
  BUILD_TIME_GEMS(INIT)
  mrb_state_atexit(mrb, final_gems);
  return mrb_nil_value();
}

ir_session *ir_open(void) {
  mrb_state *mrb = mrb_open_core(mrb_default_allocf, NULL);
  if (!mrb) return NULL;
  mrb_bool failed = FALSE;
  mrb_protect_error(mrb, init_gems, NULL, &failed);
  mrb_gc_arena_restore(mrb, 0);
  if (failed) { mrb_close(mrb); return NULL; }
  ir_session *s = calloc(1, sizeof *s);
  s->mrb = mrb;
  s->keep = mrb_ary_new(mrb);
  mrb_gc_register(mrb, s->keep);
  return s;
}

void ir_close(ir_session *s) {
  if (!s) return;
  mrb_close(s->mrb);
  free(s);
}

static void fill_exception(ir_session *s, const char *filename, ir_error *err) {
  mrb_state *mrb = s->mrb;
  mrb_value exc = mrb_obj_value(mrb->exc);
  mrb->exc = NULL;
  mrb_value msg = mrb_funcall(mrb, exc, "message", 0);
  const char *cls = mrb_obj_classname(mrb, exc);
  snprintf(err->message, sizeof err->message, "%s (%s)",
           mrb_string_p(msg) ? RSTRING_PTR(msg) : "exception", cls);
  err->is_syntax = 0;
  err->line = 0; err->column = 0;
  // First backtrace entry in the user's file gives the line.
  mrb_value bt = mrb_funcall(mrb, exc, "backtrace", 0);
  mrb->exc = NULL;
  if (mrb_array_p(bt)) {
    size_t flen = strlen(filename);
    for (mrb_int i = 0; i < RARRAY_LEN(bt); i++) {
      mrb_value e = mrb_ary_ref(mrb, bt, i);
      if (!mrb_string_p(e)) continue;
      const char *p = RSTRING_PTR(e);
      if (strncmp(p, filename, flen) == 0 && p[flen] == ':') {
        err->line = atoi(p + flen + 1);
        break;
      }
    }
  }
}

static int run(ir_session *s, const char *src, size_t len, const char *filename, ir_error *err) {
  mrb_state *mrb = s->mrb;
  mrbc_context *c = mrbc_context_new(mrb);
  mrbc_filename(mrb, c, filename);
  c->capture_errors = TRUE;
  /* Without mruby's peephole optimisations: they look for the previous
     instruction from the start of the body each time (mrb_prev_pc), which
     is quadratic in a body's length (a 10,000-line body: 6.9 s of 7.1 s),
     and their constant folding misreads negative 32-bit literals. The
     lowering reads both forms (`LOADI r c; ADD x r` is `ADDI x c`). */
  c->no_optimize = TRUE;
  /* Code first, kept in a global for MRubyFoldCheck (ir_top_irep), then
     run as mrb_load_exec runs it. */
  c->no_exec = TRUE;
  struct mrb_parser_state *p = mrb_parse_nstring(mrb, src, len, c);
  if (!p) {
    snprintf(err->message, sizeof err->message, "out of memory while parsing");
    mrbc_context_free(mrb, c);
    return -1;
  }
  if (p->nerr > 0) {
    err->is_syntax = 1;
    err->line = p->error_buffer[0].lineno;
    err->column = p->error_buffer[0].column;
    snprintf(err->message, sizeof err->message, "%s", p->error_buffer[0].message ? p->error_buffer[0].message : "syntax error");
    mrb_parser_free(p);
    mrbc_context_free(mrb, c);
    return -1;
  }
  mrb_value top = mrb_load_exec(mrb, p, c);   // frees p
  mrbc_context_free(mrb, c);
  if (!mrb->exc) {
    mrb_gv_set(mrb, mrb_intern_lit(mrb, "$__infrared_top"), top);
    struct RProc *proc = mrb_proc_ptr(top);
    MRB_PROC_SET_TARGET_CLASS(proc, mrb->object_class);
    if (mrb->c->ci) mrb_vm_ci_target_class_set(mrb->c->ci, mrb->object_class);
    mrb_top_run(mrb, proc, mrb_top_self(mrb), 0);
  }
  if (mrb->exc) {
    fill_exception(s, filename, err);
    return -1;
  }
  return 0;
}

ir_irep ir_top_irep(ir_session *s) {
  mrb_value top = mrb_gv_get(s->mrb, mrb_intern_lit(s->mrb, "$__infrared_top"));
  return mrb_proc_p(top) ? mrb_proc_ptr(top)->body.irep : NULL;
}

extern const uint8_t ir_prelude_irep[];
extern const size_t ir_prelude_irep_size;
extern const uint64_t ir_prelude_source_hash;
const uint8_t *ir_prelude_bytecode(size_t *size, uint64_t *source_hash) {
  *size = ir_prelude_irep_size;
  *source_hash = ir_prelude_source_hash;
  return ir_prelude_irep;
}

int ir_load_irep(ir_session *s, const uint8_t *bin, size_t len, const char *filename, ir_error *err) {
  memset(err, 0, sizeof *err);
  mrb_load_irep_buf(s->mrb, bin, len);
  if (s->mrb->exc) {
    fill_exception(s, filename, err);
    return -1;
  }
  return 0;
}

int ir_load(ir_session *s, const char *src, size_t len, const char *filename, ir_error *err) {
  memset(err, 0, sizeof *err);
  return run(s, src, len, filename, err);
}

ir_value ir_global(ir_session *s, const char *name) {
  return W(s, mrb_gv_get(s->mrb, mrb_intern_cstr(s->mrb, name)));
}

int ir_type(ir_value v) {
  mrb_value m = V(v);
  switch (mrb_type(m)) {
    case MRB_TT_FALSE: return mrb_nil_p(m) ? IR_NIL : IR_FALSE;
    case MRB_TT_TRUE: return IR_TRUE;
    case MRB_TT_INTEGER: return IR_INT;
#ifndef MRB_NO_FLOAT
    case MRB_TT_FLOAT: return IR_FLOAT;
#endif
    case MRB_TT_STRING: return IR_STRING;
    case MRB_TT_SYMBOL: return IR_SYMBOL;
    case MRB_TT_ARRAY: return IR_ARRAY;
    case MRB_TT_HASH: return IR_HASH;
    case MRB_TT_PROC: return IR_PROC;
    default: return IR_OTHER;
  }
}

int64_t ir_int(ir_value v) { return (int64_t)mrb_integer(V(v)); }
double ir_float(ir_value v) {
#ifndef MRB_NO_FLOAT
  return (double)mrb_float(V(v));
#else
  return 0;
#endif
}

const char *ir_str(ir_session *s, ir_value v, size_t *len) {
  mrb_value m = V(v);
  if (mrb_string_p(m)) { *len = RSTRING_LEN(m); return RSTRING_PTR(m); }
  if (mrb_symbol_p(m)) { mrb_int l; const char *p = mrb_sym_name_len(s->mrb, mrb_symbol(m), &l); *len = (size_t)l; return p; }
  *len = 0; return "";
}

const char *ir_classname(ir_session *s, ir_value v) { return mrb_obj_classname(s->mrb, V(v)); }
size_t ir_array_len(ir_value v) { return (size_t)RARRAY_LEN(V(v)); }
ir_value ir_array_at(ir_session *s, ir_value v, size_t i) { return W(s, mrb_ary_ref(s->mrb, V(v), (mrb_int)i)); }
ir_value ir_hash_keys(ir_session *s, ir_value v) { return W(s, mrb_hash_keys(s->mrb, V(v))); }
ir_value ir_hash_get(ir_session *s, ir_value h, ir_value key) { return W(s, mrb_hash_get(s->mrb, V(h), V(key))); }

int ir_const(ir_session *s, const char *name, ir_value *out) {
  mrb_state *mrb = s->mrb;
  mrb_sym sym = mrb_intern_cstr(mrb, name);
  if (!mrb_const_defined(mrb, mrb_obj_value(mrb->object_class), sym)) return 0;
  *out = W(s, mrb_const_get(mrb, mrb_obj_value(mrb->object_class), sym));
  return 1;
}

ir_irep ir_proc_irep(ir_value proc) {
  struct RProc *p = mrb_proc_ptr(V(proc));
  if (MRB_PROC_CFUNC_P(p)) return NULL;
  return p->body.irep;
}

ir_irep ir_method_irep(ir_session *s, const char *name) {
  mrb_state *mrb = s->mrb;
  struct RClass *c = mrb->object_class;
  mrb_method_t m = mrb_method_search_vm(mrb, &c, mrb_intern_cstr(mrb, name));
  if (MRB_METHOD_UNDEF_P(m) || MRB_METHOD_CFUNC_P(m)) return NULL;
  struct RProc *p = MRB_METHOD_PROC(m);
  return p ? p->body.irep : NULL;
}

int ir_proc_upvar(ir_session *s, ir_value proc, int up, int idx, ir_value *out) {
  const struct RProc *p = mrb_proc_ptr(V(proc));
  // Mirrors mruby's uvenv(): walk `up` levels of upper procs, then read that env's stack.
  while (up--) {
    p = p->upper;
    if (!p) return 0;
  }
  if (!MRB_PROC_ENV_P(p)) return 0;
  struct REnv *e = MRB_PROC_ENV(p);
  if (!e || idx >= MRB_ENV_LEN(e)) return 0;
  *out = W(s, e->stack[idx]);
  return 1;
}

#define IREP(r) ((const mrb_irep *)(r))
uint16_t ir_irep_nlocals(ir_irep r) { return IREP(r)->nlocals; }
uint16_t ir_irep_nregs(ir_irep r) { return IREP(r)->nregs; }
uint32_t ir_irep_ilen(ir_irep r) { return IREP(r)->ilen; }
const uint8_t *ir_irep_iseq(ir_irep r) { return IREP(r)->iseq; }
uint16_t ir_irep_plen(ir_irep r) { return IREP(r)->plen; }
uint16_t ir_irep_slen(ir_irep r) { return IREP(r)->slen; }
uint16_t ir_irep_rlen(ir_irep r) { return IREP(r)->rlen; }
uint16_t ir_irep_clen(ir_irep r) { return IREP(r)->clen; }
ir_irep ir_irep_rep(ir_irep r, uint16_t i) { return IREP(r)->reps[i]; }

int ir_irep_pool(ir_irep r, uint16_t i, const char **str, size_t *slen, int64_t *ival, double *fval) {
  const mrb_pool_value *pv = &IREP(r)->pool[i];
  switch (pv->tt) {
    case IREP_TT_INT32: *ival = pv->u.i32; return 1;
    case IREP_TT_INT64: *ival = pv->u.i64; return 1;
#ifndef MRB_NO_FLOAT
    case IREP_TT_FLOAT: *fval = pv->u.f; return 2;
#endif
    default:
      if ((pv->tt & IREP_TT_NFLAG) == 0) { *str = pv->u.str; *slen = pv->tt >> 2; return 0; }
      return 3;
  }
}

const char *ir_irep_sym(ir_session *s, ir_irep r, uint16_t i) { return mrb_sym_name(s->mrb, IREP(r)->syms[i]); }
const char *ir_irep_lv(ir_session *s, ir_irep r, uint16_t reg) {
  if (!IREP(r)->lv || reg == 0 || reg >= IREP(r)->nlocals) return NULL;
  mrb_sym sym = IREP(r)->lv[reg - 1];
  return sym ? mrb_sym_name(s->mrb, sym) : NULL;
}
int32_t ir_irep_line(ir_session *s, ir_irep r, uint32_t pc) { return mrb_debug_get_line(s->mrb, IREP(r), pc); }

// libmruby's own decoder of the packed line map (src/dump.c; not in its headers).
uint32_t mrb_packed_int_decode(const uint8_t *p, const uint8_t **newpos);

// mrb_debug_get_line decodes a packed line map from its start on every call,
// so a line for each pc of a body costs O(pc²). This walks each file's map
// once, pcs in order: the line of pc is the sum of the line steps of the
// entries whose position is at most pc (what mrb_debug_get_line computes
// for one pc); the array and flat-map forms are cheap to ask pc by pc.
void ir_irep_lines(ir_session *s, ir_irep r, int32_t *lines) {
  const mrb_irep *irep = IREP(r);
  const mrb_irep_debug_info *info = irep->debug_info;
  for (uint32_t pc = 0; pc < irep->ilen; pc++) lines[pc] = -1;
  if (!info) return;
  for (uint16_t i = 0; i < info->flen; i++) {
    const mrb_irep_debug_info_file *f = info->files[i];
    uint32_t end = i + 1 < info->flen ? info->files[i + 1]->start_pos : info->pc_count;
    if (end > irep->ilen) end = irep->ilen;
    if (f->line_type != mrb_debug_line_packed_map) {
      for (uint32_t pc = f->start_pos; pc < end; pc++) lines[pc] = mrb_debug_get_line(s->mrb, irep, pc);
      continue;
    }
    const uint8_t *p = f->lines.packed_map, *pend = p + f->line_entry_count;
    uint32_t pos = 0, line = 0;
    for (uint32_t pc = f->start_pos; pc < end; pc++) {
      while (p < pend) {
        const uint8_t *q = p;
        uint32_t next = pos + mrb_packed_int_decode(q, &q);
        uint32_t step = mrb_packed_int_decode(q, &q);
        if (pc < next) break;
        pos = next; line += step; p = q;
      }
      lines[pc] = (int32_t)line;
    }
  }
}
