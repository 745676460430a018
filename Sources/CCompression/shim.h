// The decompressors a kernel image may need (gzip, zstd, lz4, xz), as one
// system module: zlib, libzstd, liblz4, liblzma (Debian: zlib1g-dev,
// libzstd-dev, liblz4-dev, liblzma-dev).
#include <zlib.h>
#include <zstd.h>
#include <lz4.h>
#include <lzma.h>
