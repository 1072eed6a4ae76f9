#ifndef C_HEAP_STATISTICS_H
#define C_HEAP_STATISTICS_H

#include <stddef.h>

/// Bytes of the C heap handed out and not yet freed (malloc's own bookkeeping per chunk included), or 0 where the
/// C library does not say. glibc: mallinfo2's uordblks (arena chunks in use) plus hblkhd (chunks mmapped on their
/// own); Darwin: the default zone's size_in_use. Swift's Glibc module does not include <malloc.h>, hence C.
size_t heap_statistics_bytes_in_use(void);

#endif
