//! Receipts: how far each record this device changed has travelled (docs/relay.md, "Receipts"): only on this
//! device, held by the server it syncs with (a base camp's), or at the top of the chain (HQ).
//!
//! A change is on this device until its server acknowledges it. A server that relays upstream says in every
//! response how far its log has been answered upstream (`relayed_through`) and where this device's last pushed
//! change sits in it (`pushed_through`, kept with each change acknowledged, `logged_through`); a change logged at
//! or before `relayed_through` and not refused upstream has reached HQ. A server that does not relay is the top:
//! what it acknowledges has arrived. A record is as far as its least-travelled change.

use crate::error::StoreError;
use crate::store::Store;
use crate::sync::RELAYED_THROUGH;
use serde::Serialize;
use uuid::Uuid;

/// How far a record's changes made on this device have travelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reached {
    /// Some of its changes are not yet acknowledged (or were refused).
    Device,
    /// Its server (a base camp's) holds every change; not all of them have been answered by HQ, or HQ refused
    /// one.
    Camp,
    /// Every change is at the top of the chain.
    Hq,
}

impl Reached {
    pub fn describe(self) -> &'static str {
        match self {
            Reached::Device => "only on this device",
            Reached::Camp => "at the camp, not yet at HQ",
            Reached::Hq => "at HQ",
        }
    }
}

/// Records changed on this device, counted by how far they have travelled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReachedCounts {
    pub device: usize,
    pub camp: usize,
    pub hq: usize,
}

/// Per record: whether a change waits here, and whether one has not reached upstream.
const STAGES: &str = "SELECT record_id, MAX(acknowledged = 0), \
     MAX(rejection IS NOT NULL OR logged_through IS NULL OR logged_through > ?1) \
     FROM changes WHERE origin = 'local'";

impl Store {
    /// How far this record's changes made here have travelled; `None` if none was made here.
    pub fn reached(&self, id: Uuid) -> Result<Option<Reached>, StoreError> {
        let relayed = self.relayed_through()?;
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{STAGES} AND record_id = ?2 GROUP BY record_id"))?;
        let mut rows = stmt.query(rusqlite::params![relayed.unwrap_or(i64::MAX), id.to_string()])?;
        match rows.next()? {
            Some(row) => Ok(Some(stage(row.get(1)?, row.get(2)?, relayed.is_some()))),
            None => Ok(None),
        }
    }

    /// Every record changed here, counted by how far it has travelled.
    pub fn reached_counts(&self) -> Result<ReachedCounts, StoreError> {
        let relayed = self.relayed_through()?;
        let mut stmt = self.conn.prepare_cached(&format!("{STAGES} GROUP BY record_id"))?;
        let mut rows = stmt.query([relayed.unwrap_or(i64::MAX)])?;
        let mut counts = ReachedCounts::default();
        while let Some(row) = rows.next()? {
            match stage(row.get(1)?, row.get(2)?, relayed.is_some()) {
                Reached::Device => counts.device += 1,
                Reached::Camp => counts.camp += 1,
                Reached::Hq => counts.hq += 1,
            }
        }
        Ok(counts)
    }

    fn relayed_through(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.meta(RELAYED_THROUGH)?.and_then(|v| v.parse().ok()))
    }
}

fn stage(waiting: bool, not_upstream: bool, relays: bool) -> Reached {
    match (waiting, relays && not_upstream) {
        (true, _) => Reached::Device,
        (false, true) => Reached::Camp,
        (false, false) => Reached::Hq,
    }
}
