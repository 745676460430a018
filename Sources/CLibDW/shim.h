// libdw (elfutils) for reading DWARF: Debian's libdw-dev.
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
