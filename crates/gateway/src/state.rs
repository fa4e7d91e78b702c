//! What every handler shares.

use std::sync::Arc;

use medledger_node::Node;

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

/// The gateway's shared parts. Fields are added by the modules that need them.
pub struct Inner {
    pub node: Arc<Node>,
    pub sessions: crate::auth::Sessions,
}

impl AppState {
    pub fn node(&self) -> &Node {
        &self.inner.node
    }
}
