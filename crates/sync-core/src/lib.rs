//! The server's side of sync. A backend keeps the [`store::SyncStore`] contract; everything here is written once
//! above it: validation at ingress, scope, device tokens, recovery after a restore, rebuilding derived data from
//! the log, and [`serve`], which turns one authenticated request into its response with no IO of its own, so
//! that the HTTP adapter and the tests' in-memory network serve sync alike; [`upstream`] is the other end, a base camp's server relaying to HQ.
//!
//! **Architecture invariant:** nothing here knows HTTP or SQL; time and the authenticated device are passed in.

pub mod auth;
pub mod bundles;
pub mod document_cache;
pub mod ingress;
pub mod pull;
pub mod rebuild;
pub mod recovery;
pub mod refused_upstream;
pub mod scope;
pub mod serve;
pub mod staging;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod upstream;
pub mod upstream_bundles;
pub mod vouching;

pub use serve::{Refusal, SyncServer};
