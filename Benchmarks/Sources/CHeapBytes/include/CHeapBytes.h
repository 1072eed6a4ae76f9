#ifndef C_HEAP_BYTES_H
#define C_HEAP_BYTES_H

#include <stddef.h>

/// Bytes of the C heap handed out and not yet freed (malloc's bookkeeping per chunk included), or 0 where the C
/// library does not say: glibc's mallinfo2 uordblks + hblkhd. The same measure as the main package's
/// Tools/retained-memory (whose C target is not a product); Swift's Glibc module does not include <malloc.h>.
size_t heap_bytes_in_use(void);

/// Gives the pages of freed heap memory back to the system (glibc's malloc_trim(0)), so that the resident set
/// size grows again when they are next used; does nothing elsewhere.
void heap_trim(void);

#endif
