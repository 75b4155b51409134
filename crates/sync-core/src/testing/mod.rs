//! The sync store's conformance suite, public behind the `testing` feature so that every backend runs the same
//! checks (crates/store-sqlite/tests/sync_store_conformance.rs; a PostgreSQL backend's beside it).
//!
//! Each check is an `async fn` generic over [`SyncStore`](crate::store::SyncStore) that starts from an empty
//! store and panics, naming what broke, when the backend breaks the contract. A backend implements [`Backend`]
//! (make a fresh store, reopen the same data) and calls [`sync_store_conformance!`](crate::sync_store_conformance)
//! once, which makes one `#[tokio::test]` per check.
#![allow(clippy::unwrap_used, clippy::panic)]

mod concurrency;
mod devices;
mod enrollment;
mod fixtures;
mod log;
mod primitives;
mod pull;
mod relay;

pub use concurrency::*;
pub use devices::*;
pub use enrollment::*;
pub use log::*;
pub use primitives::*;
pub use pull::*;
pub use relay::*;

use crate::store::{Ingest, NewChange, SyncStore};
use domain::Record;
use domain::document::{self, Authorship};
use std::future::Future;

/// What ingress appends for `record` created in one change by `author`'s device as `actor`, at `time` (Unix
/// seconds): the change, the record's row and its layer row. For tests and benchmarks that store records without
/// a sync request.
pub fn ingest_of_new_record(record: &Record, actor: automerge::ActorId, author: &Authorship, time: i64) -> Ingest {
    let (doc, change) = document::create(record, actor, author, time).unwrap();
    Ingest {
        record: crate::ingress::row_of(record, vec![], vec![], &doc),
        changes: vec![NewChange {
            hash: change.hash().0,
            bytes: change.raw_bytes().to_vec(),
            actor: change.actor_id().to_bytes().to_vec(),
        }],
        device_id: author.device_id,
        received_at: chrono::Utc::now(),
        grants: vec![],
        snapshot: None,
        feature: Some(layers::feature(record)),
    }
}

/// A backend under test.
pub trait Backend: Sized {
    type S: SyncStore;
    /// A new, empty store.
    fn fresh() -> impl Future<Output = Self>;
    fn store(&self) -> &Self::S;
    /// Closes the store and opens the same data again.
    fn reopen(self) -> impl Future<Output = Self>;
}

/// One `#[tokio::test]` per check of the sync store contract, for a [`Backend`] type. The calling crate needs
/// tokio (with `macros` and `rt-multi-thread`) among its dev-dependencies.
#[macro_export]
macro_rules! sync_store_conformance {
    ($backend:ty) => {
        $crate::sync_store_conformance!(@checks $backend;
            devices_round_trip,
            duplicate_devices_are_refused,
            revoking_twice_revokes_once,
            ingest_appends_new_changes_once,
            document_changes_are_in_log_order,
            records_reflect_the_last_ingest,
            pull_all_returns_everything_and_pages,
            pull_teams_sees_its_tasks_and_taskless_records,
            grant_task_delivers_the_task_history,
            grant_record_delivers_the_record_history,
            idle_pull_returns_nothing,
            cursor_moves_past_invisible_entries,
            quarantine_round_trips,
            a_device_over_its_quarantine_quota_is_counted_not_kept,
            device_keys_are_the_unrevoked_devices_token_hashes,
            an_enrollment_code_is_exchanged_once,
            a_device_is_not_sent_its_own_changes,
            a_device_gets_back_what_it_pushed_before_its_mark,
            a_batch_appends_pushes_and_refusals_together,
            a_slice_dropped_before_its_flush_leaves_nothing_behind,
            snapshots_stand_in_for_the_changes_they_cover,
            heads_are_kept_and_listed_by_scope,
            cursor_checks_name_their_entry,
            a_writer_belongs_to_the_device_that_first_pushed_it,
            pull_primitives_answer_as_the_contract_says,
            records_are_listed_by_type_and_in_log_order,
            vouched_devices_are_carried_and_never_authenticate,
            forwardable_changes_are_those_of_devices_enrolled_here,
            upstream_state_round_trips,
            upstream_refusals_are_told_until_the_cursor_moves_past,
            a_relay_is_told_what_was_refused_of_the_devices_it_carries,
            a_relays_pull_leaves_out_what_it_carried,
        );

        #[tokio::test]
        async fn data_survives_reopening() {
            $crate::testing::data_survives_reopening(<$backend as $crate::testing::Backend>::fresh().await).await;
        }

        // Several threads, so that appends really run side by side with the pulls.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn a_cursor_never_skips_an_entry_committed_later() {
            let backend = <$backend as $crate::testing::Backend>::fresh().await;
            $crate::testing::a_cursor_never_skips_an_entry_committed_later(
                $crate::testing::Backend::store(&backend),
            )
            .await;
        }
    };
    (@checks $backend:ty; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let backend = <$backend as $crate::testing::Backend>::fresh().await;
                $crate::testing::$check($crate::testing::Backend::store(&backend)).await;
            }
        )+
    };
}
