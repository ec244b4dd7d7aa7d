#include "CAllocator.h"

#if defined(__linux__)
#include <malloc.h>
#endif

int c_allocator_trim(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}
