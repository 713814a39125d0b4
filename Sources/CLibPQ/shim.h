#ifndef CRMFLOW_CLIBPQ_SHIM_H
#define CRMFLOW_CLIBPQ_SHIM_H
/* libpq, PostgreSQL's own client library (Debian's libpq-dev), for PostgreSQL sources and sinks. */
#include <postgresql/libpq-fe.h>
#endif
