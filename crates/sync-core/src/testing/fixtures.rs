//! The records, devices and changes the checks store, and helpers that pull and compare.

use crate::store::{
    Device, Grant, Ingest, LogChange, NewChange, NewQuarantined, Page, RecordRow, Role, SyncStore, Visibility,
};
use chrono::{DateTime, TimeZone, Utc};
use domain::{Candidate, FieldConflict, Issue, RecordType, Rule, Severity};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use uuid::Uuid;

pub fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
    Utc.timestamp_opt(1_760_000_000 + seconds, nanos).unwrap()
}

pub fn device(name: &str, teams: &[&str], role: Role) -> Device {
    Device {
        id: Uuid::now_v7(),
        name: name.into(),
        teams: teams.iter().map(|t| t.to_string()).collect(),
        role,
        // Nanoseconds: a backend must not round times.
        created_at: at(0, 123_456_789),
        revoked_at: None,
    }
}

pub fn token(n: u8) -> [u8; 32] {
    Sha256::digest([n]).into()
}

pub fn change(bytes: &[u8]) -> NewChange {
    NewChange {
        hash: Sha256::digest(bytes).into(),
        bytes: bytes.to_vec(),
        // Placeholder changes share one writer; the authorship story below gives each its own.
        actor: b"conformance".to_vec(),
    }
}

pub fn teams(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|t| t.to_string()).collect()
}

pub fn sees(names: &[&str]) -> Visibility {
    Visibility::Teams(teams(names))
}

pub fn warning(record: Uuid) -> Issue {
    Issue {
        severity: Severity::Warning,
        rule: Rule::Overlap,
        record,
        label: "WA-1".into(),
        field: "shape".into(),
        value: "2.5 %".into(),
        message: "overlaps WA-2".into(),
    }
}

pub fn task(id: Uuid, team_names: &[&str], hazards: &[Uuid]) -> RecordRow {
    RecordRow {
        record_id: id,
        record_type: RecordType::Task,
        task_id: Some(id),
        task_teams: teams(team_names),
        hazard_areas: hazards.iter().copied().collect(),
        body: json!({ "teams": team_names, "hazard_areas": hazards }),
        warnings: vec![],
        heads: vec![],
        conflicts: vec![],
        review_since: None,
        review_by: None,
    }
}

pub fn record_in(id: Uuid, record_type: RecordType, task_id: Option<Uuid>) -> RecordRow {
    RecordRow {
        record_id: id,
        record_type,
        task_id,
        task_teams: BTreeSet::new(),
        hazard_areas: BTreeSet::new(),
        body: json!({ "type": record_type.as_str(), "task": task_id }),
        warnings: vec![],
        heads: vec![],
        conflicts: vec![open_conflict()],
        review_since: DateTime::from_timestamp(1_780_000_000, 0),
        review_by: Some(Uuid::from_u128(7)),
    }
}

/// Two devices set a quantity concurrently: every record row carries one, so that each read-back checks it.
pub fn open_conflict() -> FieldConflict {
    let candidate = |quantity: i64, winner: bool| Candidate {
        value: json!(quantity),
        author: None,
        change: None,
        winner,
    };
    FieldConflict {
        field: "quantity".into(),
        candidates: vec![candidate(1, false), candidate(2, true)],
    }
}

pub fn quarantined_item(record_id: Uuid) -> NewQuarantined {
    NewQuarantined {
        device_id: Uuid::from_u128(7),
        record_id,
        change_hash: None,
        bytes: b"refused".to_vec(),
        code: "invalid".into(),
        message: "breaks a rule".into(),
        issues: vec![],
        received_at: at(60, 0),
    }
}

pub fn push(record: RecordRow, changes: &[&[u8]], grants: Vec<Grant>) -> Ingest {
    Ingest {
        record,
        changes: changes.iter().map(|b| change(b)).collect(),
        device_id: Uuid::from_u128(7),
        received_at: at(60, 0),
        grants,
        snapshot: None,
        feature: None,
    }
}

/// Pulls pages until `more` is false; returns every page.
pub async fn pull_pages(storage: &impl SyncStore, visibility: &Visibility, mut after: u64, limit: u32) -> Vec<Page> {
    let mut pages = Vec::new();
    loop {
        let page = crate::pull::pull(storage, visibility, None, after, limit)
            .await
            .unwrap();
        assert!(
            page.cursor >= after,
            "a cursor never goes back: {} after {after}",
            page.cursor
        );
        // A page holds nothing beyond what it covered: a later change comes with its own entry, once.
        assert!(
            page.changes.iter().all(|c| c.seq <= page.cursor),
            "a change beyond the cursor {}",
            page.cursor
        );
        after = page.cursor;
        let more = page.more;
        pages.push(page);
        if !more {
            return pages;
        }
        assert!(pages.len() < 1000, "pull never ends");
    }
}

/// Every change a device gets when pulling from `after` to the end, with the final cursor.
pub async fn pull_to_end(storage: &impl SyncStore, visibility: &Visibility, after: u64) -> (Vec<LogChange>, u64) {
    let pages = pull_pages(storage, visibility, after, 1000).await;
    let cursor = pages.last().unwrap().cursor;
    (pages.into_iter().flat_map(|p| p.changes).collect(), cursor)
}

pub fn bytes_of(changes: &[LogChange]) -> Vec<Vec<u8>> {
    changes.iter().map(|c| c.bytes.clone()).collect()
}

pub fn records_seen(changes: &[LogChange]) -> BTreeSet<Uuid> {
    changes.iter().map(|c| c.record_id).collect()
}

pub fn assert_log_order(changes: &[LogChange]) {
    for pair in changes.windows(2) {
        assert!(
            pair[0].seq < pair[1].seq,
            "not in log order or duplicated: {} then {}",
            pair[0].seq,
            pair[1].seq
        );
    }
}

/// Ids whose text sorts like their numbers, so expected orders are easy to write.
pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + n)
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
