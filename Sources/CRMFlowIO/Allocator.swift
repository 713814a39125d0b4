import CLibCSV

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
        #endif
    }
}
