//! Running CPU-bound work that borrows the caller's data from async code.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work` (a walk over a borrowed tree, say) without stalling the runtime: on a
/// multi-threaded runtime the current worker hands its other tasks over first
/// (`block_in_place`); elsewhere (a current-thread runtime, where that is impossible) it
/// simply runs.
pub(crate) fn run<R>(work: impl FnOnce() -> R) -> R {
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs_everywhere() {
        assert_eq!(super::run(|| 1 + 1), 2);
        let rt = tokio::runtime::Builder::new_current_thread().build();
        let value = rt.map(|rt| rt.block_on(async { super::run(|| 3) }));
        assert_eq!(value.ok(), Some(3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multi_thread() {
        assert_eq!(super::run(|| 4), 4);
    }
}
