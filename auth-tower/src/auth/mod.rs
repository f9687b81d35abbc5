//! The authentication layer, its service and its future.

mod exchange;
mod future;
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use service::AuthService;
