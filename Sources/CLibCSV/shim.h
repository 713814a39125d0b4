#ifndef CRMFLOW_CLIBCSV_SHIM_H
#define CRMFLOW_CLIBCSV_SHIM_H
#include <csv.h>
/* mallopt, to tune glibc's allocator for large column buffers (see the crmflow entry point). */
#include <malloc.h>

/* libcsv trims spaces and tabs around unquoted fields unless told that no character is a space.
   A C function, so libcsv's per-character call does not go through a Swift thunk. */
static inline int crmflow_csv_no_space(unsigned char c) { (void)c; return 0; }
#endif
