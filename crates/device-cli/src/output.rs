//! Printing results for people (aligned text) or for scripts (`--json`).

use client_core::{RecordSummary, StoredRecord};
use domain::{FieldConflict, HistoryEntry, Issue};
use serde_json::{Value, json};

pub fn issues(issues: &[Issue]) {
    for issue in issues {
        outln!("  {issue}");
    }
}

pub fn summaries(rows: &[RecordSummary]) {
    outln!(
        "{:<18} {:<18} {:<18} {:<20} {:<10} {:<9} ID",
        "LABEL",
        "TYPE",
        "STATUS",
        "REVIEW",
        "DATE",
        "FLAGS"
    );
    for r in rows {
        let mut flags = String::new();
        for (count, mark) in [(r.conflicts, 'C'), (r.errors, 'E'), (r.warnings, 'W')] {
            if count > 0 {
                flags.push_str(&format!("{mark}{count} "));
            }
        }
        if r.voided {
            flags.push_str("void");
        }
        outln!(
            "{:<18} {:<18} {:<18} {:<20} {:<10} {:<9} {}",
            r.label,
            r.record_type.as_str(),
            r.status.as_deref().unwrap_or("-"),
            r.review,
            r.date_of_information,
            flags.trim_end(),
            r.id
        );
    }
    outln!("{} record(s)", rows.len());
}

pub fn stored_json(stored: &StoredRecord) -> Value {
    json!({
        "record": stored.record.to_json(),
        "conflicts": stored.conflicts,
        "issues": stored.issues,
        "entered_at": stored.entered_at,
    })
}

pub fn stored(stored: &StoredRecord) {
    let record = &stored.record;
    outln!("{} {} ({})", record.record_type(), record.meta.label, record.id());
    if let Some(void) = &record.meta.void {
        outln!("VOID: {} (by {})", void.reason, void.by);
    }
    outln!(
        "{}",
        serde_json::to_string_pretty(&record.to_json()).unwrap_or_default()
    );
    conflicts(&stored.conflicts);
    if !stored.issues.is_empty() {
        outln!("issues:");
        issues(&stored.issues);
    }
}

pub fn conflicts(conflicts: &[FieldConflict]) {
    for conflict in conflicts {
        outln!("conflict on `{}`:", conflict.field);
        for candidate in &conflict.candidates {
            let who = candidate
                .author
                .as_ref()
                .map_or("unknown author".to_string(), |a| format!("{} on {}", a.user, a.device));
            outln!("  {}  set by {who}", candidate.value);
        }
    }
}

pub fn history(entries: &[HistoryEntry]) {
    for entry in entries {
        let when =
            chrono::DateTime::from_timestamp(entry.time, 0).map_or_else(|| entry.time.to_string(), |t| t.to_rfc3339());
        let who = entry.author.as_ref().map_or("unknown".to_string(), |a| {
            format!("{} on {} ({})", a.user, a.device, a.action)
        });
        outln!("{when}  {who}  change {}", &entry.change[..12.min(entry.change.len())]);
        let empty = |v: &Value| {
            v.is_null() || v.as_object().is_some_and(|o| o.is_empty()) || v.as_array().is_some_and(|a| a.is_empty())
        };
        // A creation sets every field; the empty ones say nothing.
        let creation = entry.author.as_ref().is_some_and(|a| a.action == "create");
        for (field, value) in entry.changed.iter().filter(|(_, v)| !(creation && empty(v))) {
            outln!("    {field} = {value}");
        }
    }
}
