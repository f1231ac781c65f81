#include "CMalloc.h"
#include <stdlib.h>  // defines __GLIBC__ on glibc systems

#if defined(__GLIBC__)
#include <malloc.h>

int cmalloc_set_mmap_threshold(int bytes) { return mallopt(M_MMAP_THRESHOLD, bytes); }
int cmalloc_set_arena_max(int arenas) { return mallopt(M_ARENA_MAX, arenas); }
#else
int cmalloc_set_mmap_threshold(int bytes) { (void)bytes; return 0; }
int cmalloc_set_arena_max(int arenas) { (void)arenas; return 0; }
#endif
