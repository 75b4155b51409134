//! fieldsync-server: the server binary's library part. It serves sync_core (the sync protocol) and hq (HQ's API
//! and dashboard) over HTTP on a storage backend `main` picks, and reads the server's settings.
//!
//! **Architecture invariant:** the server never links client-core except in tests; it shares the domain model and
//! the protocol crate with devices.

pub mod config;
pub mod data_lock;
pub mod enrollment;
pub mod http;
pub mod private_files;
pub mod relay;
pub mod serving;
pub mod tls;
pub mod upstream_credential;
