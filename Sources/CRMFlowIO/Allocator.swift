import CLibCSV
import Foundation

/// glibc allocator settings for crmflow's buffers, set once at start-up by the command-line tool.
public enum Allocator {
    public static func tuneForColumnBuffers() {
        #if canImport(Glibc)
        // NB: chunk buffers (hundreds of KiB, freed as soon as the next stage has copied them) stay in malloc's heap and
        // are reused instead of being mapped and unmapped per chunk, which cost a page fault per 4 KiB; whole-table
        // columns are larger than the threshold and go straight to mmap.
        _ = mallopt(M_MMAP_THRESHOLD, 32 << 20)
        // NB: and freed chunk memory is kept for the next chunk rather than handed back at once (same page faults).
        _ = mallopt(M_TRIM_THRESHOLD, 64 << 20)
        // NB: one arena per core, not glibc's eight: worker threads come and go (Dispatch, ConcurrentMap), and memory
        // freed in one thread's arena was not reused by the next thread's; on the 1 M-record merge the peak fell from
        // 0.94-1.11 GB (varying run to run) to 0.94 GB, with the same CPU time.
        _ = mallopt(M_ARENA_MAX, Int32(max(2, min(64, ProcessInfo.processInfo.activeProcessorCount))))
        #endif
    }
}
