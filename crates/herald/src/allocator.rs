//! The process's memory allocator: mimalloc, with its purge delay shortened.
//!
//! mimalloc costs less CPU than glibc's allocator on Herald's many short-lived allocations and
//! fragments less (measured in docs/benchmarks.md). By default it keeps freed memory for a
//! second before returning it to the operating system; after a burst of deliveries that is tens
//! of megabytes of resident memory nobody uses. Herald shortens the delay to 10 ms, which keeps
//! the resident set close to what is in use at no measured cost in throughput.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`, in its option table's order (the constant is missing
/// from `libmimalloc-sys`; the unit test below pins it to the option whose default is 1,000 ms).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Milliseconds freed memory is kept before it is purged.
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Shortens the purge delay, unless `MIMALLOC_PURGE_DELAY` sets it (mimalloc reads its
/// environment at start-up; an option set there is not overridden by a default).
#[allow(unsafe_code)]
pub fn tune() {
    // SAFETY: `mi_option_set_default` only stores an integer in mimalloc's option table (a valid
    // index, checked by mimalloc too); mimalloc reads it when it next purges. No pointer is
    // involved, and it is called before any thread is started.
    unsafe { libmimalloc_sys::mi_option_set_default(PURGE_DELAY, PURGE_DELAY_MS) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reads an integer from mimalloc's option table at a valid index.
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn the_purge_delay_is_shortened_unless_the_environment_sets_it() {
        let from_env =
            std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse::<std::ffi::c_long>().ok());
        // The index names mimalloc's purge delay: the only option whose default is 1,000 ms.
        assert_eq!(purge_delay(), from_env.unwrap_or(1000));
        tune();
        assert_eq!(purge_delay(), from_env.unwrap_or(PURGE_DELAY_MS));
    }
}
