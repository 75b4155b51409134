//! fieldsync-server: the sync server. It merges what devices push, validates it at ingress, serves each device
//! what its scope allows, and keeps an append-only log that cursors walk.
//!
//! **Architecture invariant:** the server never links client-core except in tests; it shares the domain model and
//! the protocol crate with devices.

pub mod app;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod demo;
pub mod documents;
pub mod enrollment;
pub mod export;
pub mod hq;
pub mod ingress;
pub mod map;
pub mod quality;
pub mod quality_report;
pub mod rebuild;
pub mod recovery;
pub mod scope;
pub mod staging;
pub mod statistics;
pub mod storage;
pub mod sync;
