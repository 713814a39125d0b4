#ifndef CRMFLOW_CLIBCSV_SHIM_H
#define CRMFLOW_CLIBCSV_SHIM_H
#include <csv.h>
/* mallopt, to tune glibc's allocator for large column buffers (see the crmflow entry point). */
#include <malloc.h>
#endif
