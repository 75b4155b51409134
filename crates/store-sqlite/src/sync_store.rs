//! [`SyncStore`] on the SQLite file.

use crate::rows::*;
use chrono::{DateTime, Utc};
use domain::RecordType;
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};
use sync_core::store::{
    Batch, Device, EnrollmentCode, Entries, Forwardable, Grant, HeadsInScope, LogChange, NewDevice, NewQuarantined,
    OwnChanges, QuarantineOverflow, Quarantined, RecordHeads, RecordRow, RecordSnapshot, Redemption, StorageError,
    StoredDocument, SyncStore, UpstreamState, Visibility, Vouched, Vouching,
};
use uuid::Uuid;

use crate::SqliteStorage;
use crate::append::append_ingest;
use crate::pull::{HEADS_TEAMS, entries, first_changes, granted, last_seq, snapshots};
use crate::quarantine::append_quarantined;
use crate::{enrollment, relay};

impl SyncStore for SqliteStorage {
    fn server_id(&self) -> Uuid {
        self.server_id
    }

    async fn add_device(&self, new: NewDevice) -> Result<(), StorageError> {
        self.write(move |tx| {
            let device = &new.device;
            let id = device.id.to_string();
            let exists: Option<i64> = tx
                .query_row("SELECT 1 FROM devices WHERE device_id = ?1", [&id], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                return Err(StorageError::DuplicateDevice(device.id).into());
            }
            let taken: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM devices WHERE token_hash = ?1",
                    [&new.token_hash[..]],
                    |r| r.get(0),
                )
                .optional()?;
            if taken.is_some() {
                // Tokens are random 256-bit values: this is a bug in the caller, never a coincidence.
                return Err(StorageError::Database("another device already holds this token".into()).into());
            }
            tx.execute(
                "INSERT INTO devices (device_id, name, teams, role, token_hash, created_at, revoked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id,
                    device.name,
                    json_text(&device.teams)?,
                    device.role.as_str(),
                    &new.token_hash[..],
                    time_text(&device.created_at),
                    device.revoked_at.as_ref().map(time_text),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn device_for_token(&self, token_hash: [u8; 32]) -> Result<Option<Device>, StorageError> {
        self.read(move |tx| {
            let raw = tx
                .prepare_cached(&format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1 AND carrier IS NULL"
                ))?
                .query_row([&token_hash[..]], RawDevice::from_row)
                .optional()?;
            raw.map(RawDevice::decode).transpose()
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<Device>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices ORDER BY created_at, device_id"
            ))?;
            let raws = stmt
                .query_map([], RawDevice::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(RawDevice::decode).collect()
        })
        .await
    }

    async fn device_keys(&self) -> Result<Vec<(Uuid, [u8; 32])>, StorageError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT device_id, token_hash FROM devices WHERE revoked_at IS NULL AND carrier IS NULL \
                 ORDER BY device_id",
            )?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, hash)| {
                    let damaged = || crate::Error::from(StorageError::Damaged(format!("device {id}'s token hash")));
                    let id = Uuid::parse_str(&id).map_err(|_| damaged())?;
                    let hash: [u8; 32] = hash.try_into().map_err(|_| damaged())?;
                    Ok((id, hash))
                })
                .collect()
        })
        .await
    }

    async fn issue_code(&self, code: EnrollmentCode) -> Result<bool, StorageError> {
        self.write(move |tx| enrollment::issue_code(tx, &code)).await
    }

    async fn redeem_code(
        &self,
        code_hash: [u8; 32],
        credential_hash: [u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Redemption, StorageError> {
        self.write(move |tx| enrollment::redeem_code(tx, &code_hash, &credential_hash, now))
            .await
    }

    async fn vouch(&self, vouched: Vouched) -> Result<Vouching, StorageError> {
        self.write(move |tx| relay::vouch(tx, &vouched)).await
    }

    async fn carriers(&self) -> Result<Vec<(Uuid, Uuid)>, StorageError> {
        self.read(relay::carriers).await
    }

    async fn forwardable_count(&self, after: u64) -> Result<u64, StorageError> {
        self.read(move |tx| relay::forwardable_count(tx, after)).await
    }

    async fn forwardable(&self, after: u64, limit: u32) -> Result<Vec<Forwardable>, StorageError> {
        self.read(move |tx| relay::forwardable(tx, after, limit)).await
    }

    async fn upstream_state(&self) -> Result<UpstreamState, StorageError> {
        self.read(relay::upstream_state).await
    }

    async fn set_upstream_state(&self, state: UpstreamState) -> Result<(), StorageError> {
        self.write(move |tx| relay::set_upstream_state(tx, &state)).await
    }

    async fn revoke_device(&self, id: Uuid, at: DateTime<Utc>) -> Result<bool, StorageError> {
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE devices SET revoked_at = ?2 WHERE device_id = ?1 AND revoked_at IS NULL",
                params![id.to_string(), time_text(&at)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    async fn record(&self, id: Uuid) -> Result<Option<RecordRow>, StorageError> {
        self.read(move |tx| {
            let raw = tx
                .prepare_cached(&format!("SELECT {RECORD_COLUMNS} FROM records WHERE record_id = ?1"))?
                .query_row([id.to_string()], RawRecord::from_row)
                .optional()?;
            raw.map(|raw| raw.decode(tx)).transpose()
        })
        .await
    }

    async fn records_of_task(&self, task_id: Uuid) -> Result<Vec<RecordRow>, StorageError> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {RECORD_COLUMNS} FROM records WHERE task_id = ?1 ORDER BY record_id"
            ))?;
            let raws = stmt
                .query_map([task_id.to_string()], RawRecord::from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            raws.into_iter().map(|raw| raw.decode(tx)).collect()
        })
        .await
    }

    async fn record_ids(&self, record_type: RecordType) -> Result<Vec<Uuid>, StorageError> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT record_id FROM records WHERE record_type = ?1 ORDER BY record_id")?;
            let ids = stmt.query_map([record_type.as_str()], |r| r.get::<_, String>(0))?;
            ids.map(|id| parse_uuid(&id?, "record id")).collect()
        })
        .await
    }

    async fn tasks_covering(&self, hazard_area: Uuid) -> Result<Vec<Uuid>, StorageError> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT task_id FROM task_hazards WHERE hazard_id = ?1 ORDER BY task_id")?;
            let ids = stmt.query_map([hazard_area.to_string()], |r| r.get::<_, String>(0))?;
            ids.map(|id| parse_uuid(&id?, "task id")).collect()
        })
        .await
    }

    async fn document_changes(&self, id: Uuid) -> Result<Vec<Vec<u8>>, StorageError> {
        self.read(move |tx| {
            let mut stmt =
                tx.prepare_cached("SELECT bytes FROM log WHERE record_id = ?1 AND kind = 'change' ORDER BY seq")?;
            let bytes = stmt.query_map([id.to_string()], |r| r.get::<_, Vec<u8>>(0))?;
            Ok(bytes.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn change_pushers(&self, id: Uuid) -> Result<Vec<([u8; 32], Uuid)>, StorageError> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT hash, device_id FROM log WHERE record_id = ?1 AND kind = 'change' ORDER BY seq",
            )?;
            let rows = stmt.query_map([id.to_string()], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
            })?;
            rows.map(|row| {
                let (hash, device) = row?;
                let hash = <[u8; 32]>::try_from(hash.as_slice())
                    .map_err(|_| StorageError::Damaged(format!("a change hash of record {id}")))?;
                Ok((hash, parse_uuid(&device, "pushing device id")?))
            })
            .collect()
        })
        .await
    }

    async fn logged_records(&self) -> Result<Vec<Uuid>, StorageError> {
        self.read(|tx| {
            let mut stmt =
                tx.prepare("SELECT record_id FROM log WHERE kind = 'change' GROUP BY record_id ORDER BY min(seq)")?;
            let ids = stmt.query_map([], |r| r.get::<_, String>(0))?;
            ids.map(|id| parse_uuid(&id?, "logged record id")).collect()
        })
        .await
    }

    async fn documents(&self, ids: Vec<Uuid>) -> Result<Vec<StoredDocument>, StorageError> {
        self.read(move |tx| {
            let mut snapshots = tx.prepare_cached("SELECT covers_seq, bytes FROM snapshots WHERE record_id = ?1")?;
            let mut changes = tx.prepare_cached(
                "SELECT bytes FROM log WHERE record_id = ?1 AND kind = 'change' AND seq > ?2 ORDER BY seq",
            )?;
            let mut documents = Vec::with_capacity(ids.len());
            for id in ids {
                let id = id.to_string();
                let snapshot = snapshots
                    .query_row([&id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)))
                    .optional()?;
                let covers = snapshot.as_ref().map_or(0, |(seq, _)| *seq);
                let changes = changes
                    .query_map(params![id, covers], |r| r.get::<_, Vec<u8>>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                documents.push(StoredDocument {
                    snapshot: snapshot.map(|(_, bytes)| bytes),
                    changes,
                });
            }
            Ok(documents)
        })
        .await
    }

    async fn append(&self, batch: Batch) -> Result<usize, StorageError> {
        self.write(move |tx| {
            let mut new = 0;
            // The last change each device pushed that the log took, for pushed_through.
            let mut pushed: std::collections::HashMap<Uuid, i64> = std::collections::HashMap::new();
            for ingest in batch.ingests {
                let device = ingest.device_id;
                let appended = append_ingest(tx, ingest)?;
                new += appended.new;
                if let Some(seq) = appended.last_seq {
                    pushed.insert(device, seq);
                }
            }
            let mut mark =
                tx.prepare_cached("UPDATE devices SET pushed_through = max(pushed_through, ?2) WHERE device_id = ?1")?;
            for (device, seq) in pushed {
                mark.execute(params![device.to_string(), seq])?;
            }
            for item in batch.quarantined {
                append_quarantined(tx, item, batch.quarantine_quota)?;
            }
            Ok(new)
        })
        .await
    }

    async fn actor_owner(&self, actor: &[u8]) -> Result<Option<Uuid>, StorageError> {
        let actor = actor.to_vec();
        self.read(move |tx| {
            let device: Option<String> = tx
                .prepare_cached("SELECT device_id FROM log WHERE actor = ?1 ORDER BY seq LIMIT 1")?
                .query_row([actor], |r| r.get(0))
                .optional()?;
            device.map(|d| parse_uuid(&d, "device id")).transpose()
        })
        .await
    }

    async fn pushed_through(&self, device: Uuid) -> Result<u64, StorageError> {
        self.read(move |tx| {
            let seq: Option<i64> = tx
                .prepare_cached("SELECT pushed_through FROM devices WHERE device_id = ?1")?
                .query_row([device.to_string()], |r| r.get(0))
                .optional()?;
            Ok(seq.map_or(0, |seq| u64::try_from(seq).unwrap_or(0)))
        })
        .await
    }

    async fn quarantined(&self) -> Result<Vec<Quarantined>, StorageError> {
        self.read(|tx| quarantine_rows(tx, "1 = 1 ORDER BY id", rusqlite::params![]))
            .await
    }

    async fn quarantine_overflow(&self) -> Result<Vec<QuarantineOverflow>, StorageError> {
        self.read(crate::quarantine::overflow).await
    }

    async fn refused_upstream(&self, device: Uuid, cursor: u64, limit: u32) -> Result<Vec<Quarantined>, StorageError> {
        self.read(move |tx| relay::refused_upstream(tx, device, cursor, limit))
            .await
    }

    async fn refused_carried(&self, relay: Uuid, cursor: u64, limit: u32) -> Result<Vec<Quarantined>, StorageError> {
        self.read(move |tx| relay::refused_carried(tx, relay, cursor, limit))
            .await
    }

    async fn bundled_through(&self, relay: Uuid) -> Result<u64, StorageError> {
        self.read(move |tx| relay::bundled_through(tx, relay)).await
    }

    async fn set_bundled_through(&self, relay: Uuid, through: u64) -> Result<(), StorageError> {
        self.write(move |tx| relay::set_bundled_through(tx, relay, through))
            .await
    }

    async fn told(&self, ids: Vec<i64>, cursor: u64) -> Result<(), StorageError> {
        self.write(move |tx| relay::told(tx, ids, cursor)).await
    }

    async fn entries(
        &self,
        visibility: &Visibility,
        own: Option<OwnChanges>,
        after: u64,
        limit: u32,
    ) -> Result<Entries, StorageError> {
        let teams = teams_json(visibility)?;
        self.read(move |tx| entries(tx, teams.as_deref(), own, after, limit))
            .await
    }

    async fn granted(&self, grant: &Grant, seq: u64, visibility: &Visibility) -> Result<Vec<LogChange>, StorageError> {
        // A device that sees everything is sent no grants; should one ask, it is granted what it already sees.
        let teams = teams_json(visibility)?;
        let grant = grant.clone();
        self.read(move |tx| match teams {
            Some(teams) => granted(tx, &grant, seq, &teams),
            None => Ok(Vec::new()),
        })
        .await
    }

    async fn first_changes(&self, records: &[Uuid]) -> Result<Vec<(Uuid, u64)>, StorageError> {
        let records = records.to_vec();
        self.read(move |tx| first_changes(tx, &records)).await
    }

    async fn snapshots(&self, records: &[Uuid]) -> Result<Vec<RecordSnapshot>, StorageError> {
        let records = records.to_vec();
        self.read(move |tx| snapshots(tx, &records)).await
    }

    async fn last_seq(&self) -> Result<u64, StorageError> {
        self.read(last_seq).await
    }

    async fn cursor_check(&self, seq: u64) -> Result<Option<[u8; 8]>, StorageError> {
        let seq = i64::try_from(seq).unwrap_or(i64::MAX);
        self.read(move |tx| {
            let entry = tx
                .prepare_cached(
                    "SELECT kind, record_id, task_id, team, hash, device_id, received_at FROM log WHERE seq = ?1",
                )?
                .query_row([seq], |r| {
                    Ok([
                        r.get::<_, String>(0)?.into_bytes(),
                        r.get::<_, Option<String>>(1)?.unwrap_or_default().into_bytes(),
                        r.get::<_, Option<String>>(2)?.unwrap_or_default().into_bytes(),
                        r.get::<_, Option<String>>(3)?.unwrap_or_default().into_bytes(),
                        r.get::<_, Option<Vec<u8>>>(4)?.unwrap_or_default(),
                        r.get::<_, Option<String>>(5)?.unwrap_or_default().into_bytes(),
                        r.get::<_, String>(6)?.into_bytes(),
                    ])
                })
                .optional()?;
            Ok(entry.map(|fields| {
                let mut hasher = Sha256::new();
                hasher.update(seq.to_be_bytes());
                for field in fields {
                    // Length-prefixed, so that no two different entries hash the same bytes.
                    hasher.update((field.len() as u64).to_be_bytes());
                    hasher.update(field);
                }
                let mut check = [0; 8];
                check.copy_from_slice(&hasher.finalize()[..8]);
                check
            }))
        })
        .await
    }

    async fn heads_in_scope(&self, visibility: &Visibility) -> Result<HeadsInScope, StorageError> {
        let teams = match visibility {
            Visibility::All => None,
            Visibility::Teams(teams) => Some(json_text(teams)?),
        };
        self.read(move |tx| {
            // First, in the same read transaction: the heads below are those of this log position.
            let through = last_seq(tx)?;
            let row = |r: &rusqlite::Row<'_>| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            };
            let rows = match &teams {
                None => tx
                    .prepare_cached("SELECT record_id, task_id, heads FROM records")?
                    .query_map([], row)?
                    .collect::<Result<Vec<_>, _>>()?,
                Some(teams) => tx
                    .prepare_cached(HEADS_TEAMS)?
                    .query_map([teams], row)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            let records = rows
                .into_iter()
                .map(|(record_id, task_id, heads)| {
                    Ok(RecordHeads {
                        record_id: parse_uuid(&record_id, "record id")?,
                        task_id: task_id.as_deref().map(|t| parse_uuid(t, "task id")).transpose()?,
                        heads: parse_heads(&heads)?,
                    })
                })
                .collect::<Result<Vec<_>, crate::Error>>()?;
            Ok(HeadsInScope { through, records })
        })
        .await
    }
}

/// The teams of a visibility as the JSON array the queries take, or None for a device that sees everything.
fn teams_json(visibility: &Visibility) -> Result<Option<String>, StorageError> {
    Ok(match visibility {
        Visibility::All => None,
        Visibility::Teams(teams) => Some(json_text(teams)?),
    })
}

/// The quarantined changes that `filter` (a WHERE clause and its order) selects.
pub(crate) fn quarantine_rows(
    tx: &rusqlite::Transaction<'_>,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Quarantined>, crate::Error> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT id, device_id, record_id, change_hash, bytes, code, message, issues, received_at \
         FROM quarantine WHERE {filter}"
    ))?;
    let rows = stmt
        .query_map(params, |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Vec<u8>>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, String>(8)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter()
        .map(
            |(id, device_id, record_id, change_hash, bytes, code, message, issues, received_at)| {
                Ok(Quarantined {
                    id,
                    item: NewQuarantined {
                        device_id: parse_uuid(&device_id, "quarantined device id")?,
                        record_id: parse_uuid(&record_id, "quarantined record id")?,
                        change_hash,
                        bytes,
                        code,
                        message,
                        issues: parse_json(&issues, "quarantined issues")?,
                        received_at: parse_time(&received_at, "quarantined received_at")?,
                    },
                })
            },
        )
        .collect()
}
