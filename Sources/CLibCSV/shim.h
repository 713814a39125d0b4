#ifndef CRMFLOW_CLIBCSV_SHIM_H
#define CRMFLOW_CLIBCSV_SHIM_H
#include <csv.h>
/* mallopt, to tune glibc's allocator for large column buffers (see the crmflow entry point). */
#include <malloc.h>
#include <string.h>

/* libcsv trims spaces and tabs around unquoted fields unless told that no character is a space.
   A C function, so libcsv's per-character call does not go through a Swift thunk. */
static inline int crmflow_csv_no_space(unsigned char c) { (void)c; return 0; }

/* A hint to bring the cache line at p in before it is read or written (hash-table probes issued in batches). */
static inline void crmflow_prefetch(const void *p) { __builtin_prefetch(p, 1, 0); }
/* 1 when libcsv's default handling of spaces and tabs (trimmed around unquoted fields, skipped before an opening
   quote and after a closing one) could give other fields than the byte-exact parse, for a chunk that starts at a
   record boundary; 0 when the two parses agree, so the inline space test can stay and the per-character call go.
   Blanks inside quotes and between two ordinary bytes of an unquoted field are harmless; a blank next to a
   delimiter, a line end, the chunk's ends or a quote outside quotes is not, nor is a quote inside an unquoted field
   (libcsv keeps it as text), nor text right after a closing quote (libcsv keeps the field open): this scan does
   not model those. */
static inline int crmflow_csv_blanks_matter(const unsigned char *p, size_t n, unsigned char delim, unsigned char quote) {
    size_t i = 0;
    unsigned char prev = '\n';
    while (i < n) {
        unsigned char c = p[i];
        if (c == quote) {
            if (prev != delim && prev != '\n' && prev != '\r') return 1;
            /* a quoted field: jump to its closing quote (memchr), stepping over escaped pairs */
            size_t j = i + 1;
            for (;;) {
                const unsigned char *e = (const unsigned char *)memchr(p + j, quote, n - j);
                if (e == NULL) return 0; /* open to the end: only quoted bytes follow */
                size_t k = (size_t)(e - p);
                unsigned char next = k + 1 < n ? p[k + 1] : '\n';
                if (next == quote) { j = k + 2; if (j >= n) return 0; continue; }
                if (next != delim && next != '\n' && next != '\r') return 1;
                i = k + 1;
                prev = quote;
                break;
            }
            continue;
        }
        if ((c == ' ' || c == '\t') && c != delim) {
            unsigned char next = i + 1 < n ? p[i + 1] : '\n';
            if (prev == delim || prev == '\n' || prev == '\r' || prev == quote) return 1;
            if (next == delim || next == '\n' || next == '\r' || next == quote) return 1;
        }
        prev = c;
        i++;
    }
    return 0;
}
#endif
