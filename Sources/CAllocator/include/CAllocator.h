// glibc's allocator controls that Swift's Glibc module does not export (they live in <malloc.h>).
#pragma once

/// Returns the allocator's free pages to the system: glibc's `malloc_trim(0)`; a no-op elsewhere.
int c_allocator_trim(void);
