//! The `jingtu` binary: everything lives in the library; see `jingtu::cli`.

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    jingtu::cli::main()
}

/// Buffers of a few megabytes are allocated and freed for every strip of a scene; glibc would map each
/// afresh from the system and return it when freed, and the process would then spend a tenth of its
/// time faulting in and zeroing pages it had a moment ago. Served from the heap and kept there instead,
/// they are reused. (Resident memory is bounded by what the job holds at once either way.)
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, before any thread is started.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
