// The `infrared` CLI links libdw, liblz4 and liblzma (statically in the
// release build: a static executable cannot dlopen them) and hands
// InfraredSupport's LinkedSymbols their functions through this table. The names are those
// InfraredSupport/DynamicLibraries.swift looks up.
#include <string.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <lz4.h>
#include <lzma.h>
#include "linked_libraries.h"

#define S(f) { #f, (const void *)f }
static const struct { const char *name; const void *fn; } table[] = {
  S(dwarf_errmsg), S(dwarf_nextcu), S(dwarf_offdie), S(dwarf_child), S(dwarf_siblingof), S(dwarf_tag),
  S(dwarf_diename), S(dwarf_attr), S(dwarf_attr_integrate), S(dwarf_hasattr), S(dwarf_hasattr_integrate),
  S(dwarf_whatform), S(dwarf_formudata), S(dwarf_formsdata), S(dwarf_formref_die), S(dwarf_dieoffset),
  S(dwarf_bytesize), S(dwarf_bitsize), S(dwarf_getlocation),
  S(dwfl_errmsg), S(dwfl_begin), S(dwfl_end), S(dwfl_report_offline_memory), S(dwfl_report_end),
  S(dwfl_module_getdwarf), S(dwfl_build_id_find_elf), S(dwfl_offline_section_address),
  S(LZ4_decompress_safe),
  S(lzma_stream_decoder), S(lzma_code), S(lzma_end),
};

const void *infrared_linked_symbol(const char *name) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].name, name) == 0) return table[i].fn;
  return NULL;
}
