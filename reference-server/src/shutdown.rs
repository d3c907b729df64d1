//! The server's shutdown signal: a `watch` of a boolean that [`crate::shared::Shared`]
//! holds and SIGTERM (or the end of [`crate::Server::run_until`]'s future) turns true;
//! the accept loop and every driver wait on it with [`requested`].

use tokio::sync::watch;

/// Waits until shutdown is requested (the watch turns true, or its sender is gone).
pub(crate) async fn requested(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}
