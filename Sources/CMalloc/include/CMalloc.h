#ifndef CMALLOC_H
#define CMALLOC_H

/// Fixes glibc's mmap threshold (M_MMAP_THRESHOLD), which also turns off its dynamic adjustment.
/// Returns 1 on success, 0 where it is not supported (not glibc) or failed.
int cmalloc_set_mmap_threshold(int bytes);

#endif
