#pragma once
// The functions of libdw, liblz4 and liblzma InfraredBTF calls, by name, for
// an executable that links those libraries (see LinkedSymbols in
// InfraredSupport/DynamicLibraries.swift). NULL for a name not in the table.
const void *infrared_linked_symbol(const char *name);
