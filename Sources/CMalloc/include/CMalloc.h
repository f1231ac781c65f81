#ifndef CMALLOC_H
#define CMALLOC_H

/// Fixes glibc's mmap threshold (M_MMAP_THRESHOLD), which also turns off its dynamic adjustment.
/// Returns 1 on success, 0 where it is not supported (not glibc) or failed.
int cmalloc_set_mmap_threshold(int bytes);

/// Caps how many malloc arenas glibc creates (M_ARENA_MAX; by default 8 per core).
/// Returns 1 on success, 0 where it is not supported (not glibc) or failed.
int cmalloc_set_arena_max(int arenas);

#endif
