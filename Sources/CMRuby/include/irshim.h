// A narrow C seam over libmruby for the Infrared front end.
//
// mruby's public API is mostly macros and inline functions over
// configuration-dependent value boxing; Swift sees none of that. This header
// exposes only opaque handles and plain C types: compile-and-run a file,
// read the values its top level recorded, and read the ireps of the program
// bodies (bytecode, pools, symbols, debug lines).
#ifndef INFRARED_IRSHIM_H
#define INFRARED_IRSHIM_H
#include <stdint.h>
#include <stddef.h>

typedef struct ir_session ir_session;
typedef struct { uintptr_t w; } ir_value;          // an mrb_value, rooted by the session
typedef const void *ir_irep;                      // a const mrb_irep *

enum ir_value_type {
  IR_NIL = 0, IR_FALSE, IR_TRUE, IR_INT, IR_FLOAT, IR_STRING, IR_SYMBOL,
  IR_ARRAY, IR_HASH, IR_PROC, IR_OTHER
};

typedef struct {
  int line;            // 0 when unknown
  int column;          // 0 when unknown
  int is_syntax;       // 1: parse error, 0: exception while running the top level
  char message[1024];
} ir_error;

ir_session *ir_open(void);
void ir_close(ir_session *s);

// Compiles and runs `src` with `filename` set on the compile context and
// parser errors captured.
// Returns 0, or -1 with `err` filled.
int ir_load(ir_session *s, const char *src, size_t len, const char *filename, ir_error *err);

ir_value ir_global(ir_session *s, const char *name);
int ir_type(ir_value v);
int64_t ir_int(ir_value v);
double ir_float(ir_value v);
// String contents or symbol name; valid while the session lives.
const char *ir_str(ir_session *s, ir_value v, size_t *len);
const char *ir_classname(ir_session *s, ir_value v);
size_t ir_array_len(ir_value v);
ir_value ir_array_at(ir_session *s, ir_value v, size_t i);
ir_value ir_hash_keys(ir_session *s, ir_value v);
ir_value ir_hash_get(ir_session *s, ir_value h, ir_value key);

// A top-level constant of Object (`MAX = 64`); returns 0 when undefined.
int ir_const(ir_session *s, const char *name, ir_value *out);
// The irep of a Proc value, or of a method of Object defined by `def`.
ir_irep ir_proc_irep(ir_value proc);
ir_irep ir_method_irep(ir_session *s, const char *name);
// Upvalue `idx` of the environment `up` levels above a block Proc; 0 if none.
int ir_proc_upvar(ir_session *s, ir_value proc, int up, int idx, ir_value *out);

// Irep contents.
uint16_t ir_irep_nlocals(ir_irep r);
uint16_t ir_irep_nregs(ir_irep r);
uint32_t ir_irep_ilen(ir_irep r);
const uint8_t *ir_irep_iseq(ir_irep r);
uint16_t ir_irep_plen(ir_irep r);
// Pool entry: returns its kind (0 string, 1 int, 2 float, 3 other); fills the matching out.
int ir_irep_pool(ir_irep r, uint16_t i, const char **str, size_t *slen, int64_t *ival, double *fval);
uint16_t ir_irep_slen(ir_irep r);
const char *ir_irep_sym(ir_session *s, ir_irep r, uint16_t i);
uint16_t ir_irep_rlen(ir_irep r);
ir_irep ir_irep_rep(ir_irep r, uint16_t i);
// Name of local variable register `reg` (1-based as in mruby), or NULL.
const char *ir_irep_lv(ir_session *s, ir_irep r, uint16_t reg);
int32_t ir_irep_line(ir_session *s, ir_irep r, uint32_t pc);
uint16_t ir_irep_clen(ir_irep r);

// Opcode names and operand formats, generated from <mruby/ops.h>.
int ir_opcode_count(void);
const char *ir_opcode_name(int op);
const char *ir_opcode_format(int op);
#endif
