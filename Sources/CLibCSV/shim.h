#ifndef CRMFLOW_CLIBCSV_SHIM_H
#define CRMFLOW_CLIBCSV_SHIM_H
#include <csv.h>
#endif
