//! What each command does. Every failure becomes an error that says what to fix; nothing here panics on input.

use crate::read_input;
use crate::{Cli, Command, output};
use anyhow::{Context, Result, anyhow, bail};
use client_core::{BundleContents, ListFilter, Store};
use domain::{Record, RecordType};
use serde_json::{Value, json};
use std::process::ExitCode;
use uuid::Uuid;

pub fn run(cli: &Cli) -> Result<ExitCode> {
    if let Command::Init { device_name, user } = &cli.command {
        let store = Store::init(&cli.store, device_name, user)?;
        let id = store.identity();
        if cli.json {
            outln!(
                "{}",
                json!({"store": cli.store, "device_id": id.device_id, "device_name": id.device_name, "user": id.user})
            );
        } else {
            outln!(
                "created store {} for device {} ({}), user {}",
                cli.store.display(),
                id.device_name,
                id.device_id,
                id.user
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut store = Store::open(&cli.store)?;
    if let Some(now) = cli.clock {
        store.set_clock(move || now);
    }
    match &cli.command {
        Command::Init { .. } => unreachable!("handled above"),
        Command::Add { file } => {
            let value = read_input::json(file.as_deref())?;
            let saved = match value {
                Value::Array(items) => {
                    let records = items
                        .into_iter()
                        .enumerate()
                        .map(|(i, item)| {
                            Record::from_json(item, Uuid::now_v7())
                                .with_context(|| format!("record {} of the array", i + 1))
                        })
                        .collect::<Result<Vec<_>>>()?;
                    store.create_batch(records)?
                }
                one => vec![store.create(Record::from_json(one, Uuid::now_v7())?)?],
            };
            if cli.json {
                let out: Vec<Value> = saved
                    .iter()
                    .map(|s| json!({"id": s.id, "change": s.change, "warnings": s.warnings}))
                    .collect();
                outln!("{}", Value::Array(out));
            } else {
                for s in &saved {
                    outln!("added {}", s.id);
                    output::issues(&s.warnings);
                }
            }
        }
        Command::Edit { record, file } => {
            let id = store.resolve_reference(record)?;
            let patch = read_input::json(file.as_deref())?;
            let saved = store.patch(id, &patch)?;
            report_saved(cli, &saved, "edited");
        }
        Command::List {
            record_type,
            task,
            status,
            review,
            from,
            to,
            all,
        } => {
            let record_type = record_type
                .as_deref()
                .map(|t| {
                    RecordType::parse(t)
                        .ok_or_else(|| anyhow!("unknown record type {t}; expected one of: {}", RecordType::names()))
                })
                .transpose()?;
            let task = task.as_deref().map(|t| store.resolve_reference(t)).transpose()?;
            let filter = ListFilter {
                record_type,
                task,
                status: status.clone(),
                review: review.clone(),
                from: *from,
                to: *to,
                include_void: *all,
                only_conflicts: false,
            };
            let rows = store.list(&filter)?;
            if cli.json {
                outln!("{}", serde_json::to_string(&rows)?);
            } else {
                output::summaries(&rows);
            }
        }
        Command::Show { record } => {
            let id = store.resolve_reference(record)?;
            let stored = store.get(id)?;
            let reached = store.reached(id)?;
            if cli.json {
                let mut shown = output::stored_json(&stored);
                shown["reached"] = serde_json::to_value(reached)?;
                outln!("{shown}");
            } else {
                output::stored(&stored);
                if let Some(reached) = reached {
                    outln!("reached: {}", reached.describe());
                }
            }
        }
        Command::History { record } => {
            let history = store.history(store.resolve_reference(record)?)?;
            if cli.json {
                outln!("{}", serde_json::to_string(&history)?);
            } else {
                output::history(&history);
            }
        }
        Command::Conflicts => {
            let conflicts = store.conflicts()?;
            if cli.json {
                let out: Vec<Value> = conflicts
                    .iter()
                    .map(|(s, c)| json!({"record": s.id, "label": s.label, "conflicts": c}))
                    .collect();
                outln!("{}", Value::Array(out));
            } else if conflicts.is_empty() {
                outln!("no conflicts");
            } else {
                for (summary, fields) in &conflicts {
                    outln!("{} {} ({})", summary.record_type.as_str(), summary.label, summary.id);
                    output::conflicts(fields);
                }
            }
        }
        Command::Resolve { record, decisions } => {
            let id = store.resolve_reference(record)?;
            if decisions.len() % 2 != 0 {
                bail!(
                    "give FIELD VALUE pairs; `{}` has no value",
                    decisions[decisions.len() - 1]
                );
            }
            let decisions = decisions
                .chunks(2)
                .map(|pair| {
                    let value = serde_json::from_str(&pair[1]).map_err(|e| {
                        anyhow!(
                            "the value for `{}` must be JSON (quote text: '\"cleared\"'): {e}",
                            pair[0]
                        )
                    })?;
                    Ok((pair[0].clone(), value))
                })
                .collect::<Result<Vec<(String, Value)>>>()?;
            let saved = store.resolve(id, &decisions)?;
            report_saved(cli, &saved, "resolved");
        }
        Command::Validate { record, file } => return validate(cli, &store, record.as_deref(), file.as_deref()),
        Command::Void { record, reason } => {
            let saved = store.void(store.resolve_reference(record)?, reason)?;
            report_saved(cli, &saved, "voided");
        }
        Command::Submit { records } => {
            for reference in records {
                let saved = store.submit(store.resolve_reference(reference)?)?;
                report_saved(cli, &saved, "submitted");
            }
        }
        Command::Return { record, reason } => {
            let saved = store.return_record(store.resolve_reference(record)?, reason)?;
            report_saved(cli, &saved, "returned");
        }
        Command::Approve {
            records,
            accept,
            comment,
        } => {
            for reference in records {
                let saved = store.approve(store.resolve_reference(reference)?, accept, comment.as_deref())?;
                report_saved(cli, &saved, "approved");
            }
        }
        Command::Review => {
            let queue = store.review_queue()?;
            if cli.json {
                outln!("{}", serde_json::to_string(&queue)?);
            } else {
                match store.enrolled()? {
                    None => outln!("not enrolled: a supervisor's or HQ's device reviews records (fieldsync enroll)"),
                    Some(e) if e.role.decides_on().is_none() => {
                        outln!(
                            "a {} decides on no record; this device submits its drafts for review",
                            e.role
                        )
                    }
                    Some(_) => output::summaries(&queue),
                }
            }
        }
        Command::ExportBundle { file, again, all } => {
            let contents = match (all, again) {
                (true, _) => BundleContents::Everything,
                (false, true) => BundleContents::Unacknowledged,
                (false, false) => BundleContents::New,
            };
            let written = store.export_bundle(file, contents)?;
            if cli.json {
                outln!(
                    "{}",
                    json!({"file": file, "records": written.records, "changes": written.changes, "bytes": written.bytes})
                );
            } else {
                outln!(
                    "wrote {} changes of {} records to {} ({} bytes)",
                    written.changes,
                    written.records,
                    file.display(),
                    written.bytes
                );
                if written.changes == 0 {
                    outln!("  nothing new since the last bundle: --again writes every change the server lacks");
                }
            }
        }
        Command::ImportBundle { file } => {
            let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            let imported = store
                .import_bundle(&bytes)
                .with_context(|| format!("{} was not imported", file.display()))?;
            let report = &imported.report;
            if cli.json {
                outln!(
                    "{}",
                    json!({"from": imported.source, "new_changes": report.new_changes, "records_changed": report.records_changed, "incomplete": report.incomplete, "forwarded_at_next_sync": imported.carried})
                );
            } else {
                let from = match imported.source.name.as_str() {
                    "" => imported.source.id.to_string(),
                    name => name.to_string(),
                };
                outln!(
                    "merged {} new changes into {} records from {from}",
                    report.new_changes,
                    report.records_changed.len()
                );
                for (id, why) in &report.incomplete {
                    outln!("  not shown yet: {id}: {why}");
                }
                if imported.carried {
                    outln!("kept to forward to the server at the next sync, as {from}'s work");
                }
            }
        }
        Command::Enroll {
            code,
            server,
            token,
            ca,
            insecure_http,
        } => {
            let given = Given {
                server: server.as_deref(),
                ca: ca.as_deref(),
                insecure_http: *insecure_http,
            };
            match (code, token) {
                (Some(code), _) => enroll_by_code(cli, &mut store, code, &given)?,
                (None, Some(token)) => enroll_by_token(cli, &mut store, token, &given)?,
                (None, None) => anyhow::bail!("give --code (what `fieldsync-server device add` printed)"),
            }
        }
        Command::Sync => sync(cli, &mut store)?,
        Command::Status => {
            let status = store.sync_status()?;
            if cli.json {
                outln!("{}", serde_json::to_string(&status)?);
            } else {
                outln!(
                    "server: {}",
                    status.server.as_deref().unwrap_or("not enrolled (fieldsync enroll)")
                );
                outln!("last sync: {}", status.last_sync.as_deref().unwrap_or("never"));
                match store.enrolled()? {
                    Some(e) => outln!(
                        "enrolled as: {} ({}, teams {})",
                        e.name,
                        e.role,
                        e.teams.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                    None => outln!("role: none yet (a store never enrolled makes and submits drafts only)"),
                }
                let reached = status.reached;
                outln!(
                    "records changed here: {} only on this device, {} at the camp (not yet at HQ), {} at HQ",
                    reached.device,
                    reached.camp,
                    reached.hq
                );
                let waiting: usize = status.unacknowledged.values().sum();
                outln!(
                    "{waiting} change(s) of {} record(s) not yet acknowledged by the server",
                    status.unacknowledged.len()
                );
                for (label, count) in &status.unacknowledged {
                    outln!("  {label}: {count}");
                }
                for r in &status.rejected {
                    outln!(
                        "refused: {} [{:?}] {}",
                        r.label.as_deref().unwrap_or("?"),
                        r.code,
                        r.message
                    );
                    output::issues(&r.issues);
                }
            }
        }
        Command::Compact => {
            let report = store.compact()?;
            outln!(
                "compacted {} documents: {} change rows removed, {} kept (not yet acknowledged by a server, or waiting for earlier changes)",
                report.documents,
                report.change_rows_removed,
                report.change_rows_kept
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `enroll` was told beside the code or token.
struct Given<'a> {
    server: Option<&'a str>,
    ca: Option<&'a str>,
    insecure_http: bool,
}

/// How to reach the server: its address without a trailing slash, and the pinned authority's certificate if a
/// fingerprint was given (fetched and checked against it before anything else is sent).
fn reach(server: &str, ca: Option<&str>, insecure_http: bool) -> Result<client_core::Enrollment> {
    if insecure_http {
        eprintln!(
            "warning: --insecure-http: this device's credential and records will cross the network in clear; anyone \
             on it can read them and sync as this device"
        );
    }
    let server = server.trim().trim_end_matches('/');
    let authority = match ca {
        Some(fingerprint) => Some(
            client_core::fetch_authority(server, fingerprint)
                .with_context(|| format!("cannot enrol with {server}: nothing was changed"))?,
        ),
        None => None,
    };
    Ok(client_core::Enrollment {
        server_url: server.to_string(),
        token: String::new(),
        authority,
        insecure_http,
    })
}

/// `enroll --code`: the whole enrollment code (or a bare one with --server), exchanged once for this install's
/// credential, then the first sync; a failed exchange leaves the store as it was.
fn enroll_by_code(cli: &Cli, store: &mut Store, code: &str, given: &Given<'_>) -> Result<()> {
    let invitation = if code.trim().starts_with("fieldsync:") {
        if given.server.is_some() || given.ca.is_some() {
            anyhow::bail!(
                "the whole enrollment code holds the server and its authority already: drop --server and --ca"
            );
        }
        client_core::Invitation::parse(code).map_err(|why| anyhow::anyhow!(why))?
    } else {
        client_core::Invitation {
            server: given
                .server
                .context("a bare enrollment code needs --server (or give the whole fieldsync:enroll?… code)")?
                .to_string(),
            ca_fingerprint: given.ca.map(str::to_string),
            code: code.to_string(),
        }
    };
    let enrollment = reach(
        &invitation.server,
        invitation.ca_fingerprint.as_deref(),
        given.insecure_http,
    )?;
    let server = enrollment.server_url.clone();
    let enrolled = store
        .enroll_by_code(&enrollment, &invitation.code, progress(cli))
        .with_context(|| format!("cannot enrol with {server}: the store is enrolled as it was before"))?;
    outln!(
        "enrolled with {server}{} as {} ({}, teams: {})",
        pinned_note(&enrollment),
        enrolled.device.name,
        enrolled.device.role.as_str(),
        if enrolled.device.teams.is_empty() {
            "all".to_string()
        } else {
            enrolled.device.teams.join(", ")
        }
    );
    let report = enrolled.first_sync.context(
        "the first sync failed; the device is enrolled and its credential kept: run `fieldsync sync` when the \
         server can be reached",
    )?;
    print_report(cli, &report);
    Ok(())
}

/// `enroll --token`: a credential given directly; a first sync that gets no answer leaves the store as it was.
fn enroll_by_token(cli: &Cli, store: &mut Store, token: &str, given: &Given<'_>) -> Result<()> {
    let server = given.server.context("--token needs --server")?;
    let enrollment = client_core::Enrollment {
        token: token.to_string(),
        ..reach(server, given.ca, given.insecure_http)?
    };
    let server = enrollment.server_url.clone();
    let report = store
        .enroll_and_sync(&enrollment, progress(cli))
        .with_context(|| format!("cannot enrol with {server}: the store is enrolled as it was before"))?;
    outln!("enrolled with {server}{}", pinned_note(&enrollment));
    print_report(cli, &report);
    Ok(())
}

fn pinned_note(enrollment: &client_core::Enrollment) -> &'static str {
    if enrollment.authority.is_some() {
        " (its certificate authority pinned)"
    } else {
        ""
    }
}

/// The progress lines of a long sync, on stderr.
fn progress(cli: &Cli) -> impl FnMut(client_core::SyncProgress) {
    let quiet = cli.json;
    move |p| {
        if !quiet && (p.more || p.requests > 1) {
            eprintln!(
                "  request {}: pushed {}, received {}{}",
                p.requests,
                p.pushed,
                p.pulled,
                if p.more { ", more to come" } else { "" }
            );
        }
    }
}

fn sync(cli: &Cli, store: &mut Store) -> Result<()> {
    let quiet = cli.json;
    // Other devices' bundles this one carries go first, as theirs (client-core carried.rs).
    let forwarded = store.forward_carried_bundles()?;
    if !quiet && forwarded.bundles + forwarded.refused_whole.len() > 0 {
        outln!(
            "forwarded {} bundle(s) of other devices: {} change(s) accepted, {} record(s) refused (their devices hear why)",
            forwarded.bundles,
            forwarded.accepted,
            forwarded.refused
        );
        for why in &forwarded.refused_whole {
            outln!("bundle refused whole by the server, not sent again: {why}");
        }
    }
    let report = store.sync(progress(cli))?;
    print_report(cli, &report);
    Ok(())
}

fn print_report(cli: &Cli, report: &client_core::SyncReport) {
    if cli.json {
        outln!(
            "{}",
            json!({"requests": report.requests, "accepted": report.accepted, "rejected": report.rejected, "received": report.pulled, "records_changed": report.records_changed, "cursor": report.cursor})
        );
    } else {
        outln!(
            "synced: {} change(s) accepted, {} refused, {} received ({} record(s) changed) in {} request(s)",
            report.accepted,
            report.rejected.len(),
            report.pulled,
            report.records_changed,
            report.requests
        );
        for r in &report.rejected {
            outln!("refused: record {} [{:?}] {}", r.record_id, r.code, r.message);
            output::issues(&r.issues);
        }
    }
}

fn report_saved(cli: &Cli, saved: &client_core::Saved, verb: &str) {
    if cli.json {
        outln!(
            "{}",
            json!({"id": saved.id, "change": saved.change, "warnings": saved.warnings})
        );
    } else {
        match &saved.change {
            Some(_) => outln!("{verb} {}", saved.id),
            None => outln!("no change to {}", saved.id),
        }
        output::issues(&saved.warnings);
    }
}

/// Exit code 1 when any checked record has an error, so scripts can gate on it.
fn validate(cli: &Cli, store: &Store, record: Option<&str>, file: Option<&std::path::Path>) -> Result<ExitCode> {
    let checked: Vec<(String, Vec<domain::Issue>)> = match (record, file) {
        (Some(reference), _) => {
            let id = store.resolve_reference(reference)?;
            vec![(id.to_string(), store.validate(id)?)]
        }
        (None, Some(path)) => {
            let items = match read_input::json(Some(path))? {
                Value::Array(items) => items,
                one => vec![one],
            };
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let record = Record::from_json(item, Uuid::now_v7())
                        .with_context(|| format!("record {} of {}", i + 1, path.display()))?;
                    Ok((record.meta.label.clone(), store.check(&record)?))
                })
                .collect::<Result<_>>()?
        }
        (None, None) => store
            .list(&ListFilter::default())?
            .into_iter()
            .map(|s| Ok((s.label.clone(), store.validate(s.id)?)))
            .collect::<Result<_>>()?,
    };
    let errors = checked
        .iter()
        .flat_map(|(_, issues)| issues)
        .filter(|i| i.is_error())
        .count();
    let warnings = checked.iter().flat_map(|(_, issues)| issues).count() - errors;
    if cli.json {
        let out: Vec<Value> = checked
            .iter()
            .map(|(r, issues)| json!({"record": r, "issues": issues}))
            .collect();
        outln!("{}", Value::Array(out));
    } else {
        for (_, issues) in checked.iter().filter(|(_, i)| !i.is_empty()) {
            output::issues(issues);
        }
        outln!(
            "checked {} record(s): {errors} error(s), {warnings} warning(s)",
            checked.len()
        );
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
