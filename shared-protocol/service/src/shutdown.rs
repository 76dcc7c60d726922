//! The process-wide stop request: SIGTERM or Ctrl-C.

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not
/// when the future is first polled, so a process that calls it before its slow
/// start-up already owns SIGTERM (instead of dying from the default action) by the
/// time it logs that it is listening. Must be called inside a tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(not(unix))]
    let term: Option<()> = None;
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
        let _ = term;
        let _ = tokio::signal::ctrl_c().await;
    }
}
