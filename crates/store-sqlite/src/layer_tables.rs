//! HQ's materialized tables on SQLite: one table per record type, `layer_<name>`, with exactly the columns of the
//! record type's export layer (crates/layers), the geometry as GeoPackage binary and its bounding box, and
//! `superseded_by`: the live correction that replaces the record, which statistics and the map then leave out.
//!
//! They are written in the same transaction as the changes that touch a record, so HQ's statistics and exports read
//! typed rows and never load a document: an export reads a row back as the feature it was written from
//! ([`read_feature`]). They are derived data: their layout follows the layer schema, not the
//! numbered migrations. When the schema changes (a new column in a layer), the server drops them and rebuilds them
//! from `records` as it opens the file. (`records` is derived from the log in turn: `fieldsync-server rebuild`.)

use crate::Error;
use chrono::{DateTime, NaiveDate, Utc};
use domain::{Record, RecordType};
use layers::{ColumnType, Feature, Layer, Value};
use rusqlite::types::ValueRef;
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};
use sha2::{Digest, Sha256};
use sync_core::store::StorageError;

/// The `meta` key holding the fingerprint of the layout the tables were built with.
const LAYOUT_KEY: &str = "layer_tables";

/// The table of a record type's layer.
pub(super) fn table(record_type: RecordType) -> String {
    format!("layer_{}", layers::layer(record_type).name)
}

fn sql_type(column: ColumnType) -> &'static str {
    match column {
        ColumnType::Text | ColumnType::Date | ColumnType::DateTime => "TEXT",
        ColumnType::Integer | ColumnType::Boolean => "INTEGER",
        ColumnType::Real => "REAL",
    }
}

/// The table of one layer: its columns (the first, `record_id`, the key), then the geometry and its bounding box,
/// then `superseded_by`, which no record holds: it is the id of a live (not void), approved record of the table
/// whose `supersedes_id` names this one, kept by [`upsert`].
fn create_sql(record_type: RecordType, layer: &Layer) -> String {
    let mut columns: Vec<String> = layer
        .columns
        .iter()
        .map(|c| match c.name.as_str() {
            "record_id" => "record_id TEXT PRIMARY KEY".to_string(),
            name => format!("{name} {}", sql_type(c.column_type)),
        })
        .collect();
    columns.extend(
        [
            "geometry BLOB",
            "min_lon REAL",
            "min_lat REAL",
            "max_lon REAL",
            "max_lat REAL",
            "superseded_by TEXT",
        ]
        .map(String::from),
    );
    let table = table(record_type);
    let mut sql = format!("CREATE TABLE {table} (\n    {}\n) STRICT;\n", columns.join(",\n    "));
    // Statistics and exports filter by task and by period.
    for column in ["task_id", "date_of_information"] {
        if layer.column_index(column).is_some() {
            sql.push_str(&format!("CREATE INDEX {table}_by_{column} ON {table} ({column});\n"));
        }
    }
    // Keeping `superseded_by` looks up the corrections of a record; few records have one.
    sql.push_str(&format!(
        "CREATE INDEX {table}_by_supersedes_id ON {table} (supersedes_id) WHERE supersedes_id IS NOT NULL;\n"
    ));
    // The dashboard's totals read only these columns: a covering index, grouped in its order, is scanned instead
    // of the table's far wider rows (see crate::statistics::totals).
    let totals = match record_type {
        RecordType::WorkedArea => {
            Some("outcome, technical_asset, void, superseded_by, date_of_information, task_id, review, area_m2")
        }
        RecordType::Find => Some("category, void, superseded_by, date_of_information, task_id, review, quantity"),
        _ => None,
    };
    if let Some(columns) = totals {
        sql.push_str(&format!("CREATE INDEX {table}_totals ON {table} ({columns});\n"));
    }
    // The dashboard's map asks for what lies in a bounding box: an R*Tree of the boxes of the rows it draws (with
    // a geometry, not void), keyed by rowid (which `upsert` keeps stable). Attribute tables (tasks, daily reports) have no geometry and no tree.
    if layer.geometry != layers::GeometryKind::None {
        sql.push_str(&format!(
            "CREATE VIRTUAL TABLE {} USING rtree(id, min_lon, max_lon, min_lat, max_lat);\n",
            rtree(record_type)
        ));
    }
    sql
}

/// The R*Tree of a layer table's bounding boxes (`id` is the row's rowid), for layers with a geometry.
pub(super) fn rtree(record_type: RecordType) -> String {
    format!("{}_rtree", table(record_type))
}

/// Inserts or updates a row in place: an update keeps the rowid, which the R*Tree refers to.
fn upsert_sql(record_type: RecordType, layer: &Layer) -> String {
    let mut names: Vec<&str> = layer.columns.iter().map(|c| c.name.as_str()).collect();
    names.extend(["geometry", "min_lon", "min_lat", "max_lon", "max_lat"]);
    let updates: Vec<String> = names[1..].iter().map(|n| format!("{n} = excluded.{n}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (record_id) DO UPDATE SET {}",
        table(record_type),
        names.join(", "),
        (1..=names.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", "),
        updates.join(", ")
    )
}

/// Puts the row's box in the R*Tree, or takes it out when the row has no geometry (any more), is void or is
/// superseded: the tree holds what the map draws.
fn rtree_sql(record_type: RecordType) -> [String; 2] {
    let (table, rtree) = (table(record_type), rtree(record_type));
    [
        format!("DELETE FROM {rtree} WHERE id = (SELECT rowid FROM {table} WHERE record_id = ?1)"),
        format!(
            "INSERT INTO {rtree} (id, min_lon, max_lon, min_lat, max_lat) \
             SELECT rowid, min_lon, max_lon, min_lat, max_lat FROM {table} \
             WHERE record_id = ?1 AND min_lon IS NOT NULL AND NOT coalesce(void, 0) AND superseded_by IS NULL"
        ),
    ]
}

fn layout() -> String {
    let tables: String = RecordType::ALL
        .into_iter()
        .map(|t| create_sql(t, layers::layer(t)))
        .collect();
    // Part of the fingerprint: tables built when any live correction hid what it corrects are rebuilt.
    format!("{tables}-- superseded_by: approved corrections only\n")
}

/// Creates the tables, or rebuilds them when the layer schema changed since they were built.
pub(super) fn ensure(tx: &Transaction<'_>) -> Result<(), Error> {
    let layout = layout();
    let fingerprint: String = Sha256::digest(layout.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let built: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [LAYOUT_KEY], |r| r.get(0))
        .ok();
    if built.as_deref() == Some(fingerprint.as_str()) {
        return Ok(());
    }
    let old: Vec<String> = tx
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'layer\\_%' ESCAPE '\\'")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    // The R*Trees first: dropping one drops its shadow tables (`layer_…_rtree_node`…), which the list holds too.
    for name in old.iter().filter(|n| n.ends_with("_rtree")).chain(&old) {
        tx.execute_batch(&format!("DROP TABLE IF EXISTS {name};"))?;
    }
    tx.execute_batch(&layout)?;
    rebuild(tx)?;
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![LAYOUT_KEY, fingerprint],
    )?;
    Ok(())
}

/// Fills the tables from `records`, the merged record of each document as last validated.
fn rebuild(tx: &Transaction<'_>) -> Result<(), Error> {
    let mut stmt = tx.prepare("SELECT record_id, body FROM records")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (id, body) = row?;
        let damaged = |e: &dyn std::fmt::Display| StorageError::Damaged(format!("record {id}: {e}"));
        let id = uuid::Uuid::parse_str(&id).map_err(|e| damaged(&e))?;
        let body: serde_json::Value = serde_json::from_str(&body).map_err(|e| damaged(&e))?;
        let record = Record::from_json(body, id).map_err(|e| damaged(&e))?;
        upsert(tx, record.record_type(), &layers::feature(&record))?;
    }
    Ok(())
}

/// Writes a record's row in its layer's table, and keeps `superseded_by` true of it and of the records it
/// supersedes now and superseded before. Records arrive in any order, so a correction may come before the record
/// it corrects: each row's `superseded_by` is looked up afresh rather than set only by the correction.
pub(super) fn upsert(tx: &Transaction<'_>, record_type: RecordType, feature: &Feature) -> Result<(), Error> {
    use rusqlite::types::Value as Sql;
    let layer = layers::layer(record_type);
    let table = table(record_type);
    feature.check(layer).map_err(|e| {
        Error::from(StorageError::Database(format!(
            "the {} row of {}: {e}",
            layer.name, feature.record_id
        )))
    })?;
    let id = feature.record_id.to_string();
    let superseded_before: Option<String> = tx
        .prepare_cached(&format!("SELECT supersedes_id FROM {table} WHERE record_id = ?1"))?
        .query_row([&id], |r| r.get(0))
        .optional()?
        .flatten();
    let mut values: Vec<Sql> = feature
        .values
        .iter()
        .map(|v| match v {
            Value::Null => Sql::Null,
            Value::Text(s) => Sql::Text(s.clone()),
            Value::Integer(i) => Sql::Integer(*i),
            Value::Real(x) => Sql::Real(*x),
            Value::Date(d) => Sql::Text(layers::iso_date(*d)),
            Value::DateTime(t) => Sql::Text(layers::iso_datetime(*t)),
            Value::Boolean(b) => Sql::Integer(i64::from(*b)),
        })
        .collect();
    match feature.geometry.as_ref().map(layers::geopackage_geometry) {
        Some((blob, bbox)) => {
            values.push(Sql::Blob(blob));
            values.extend(bbox.map_or([Sql::Null, Sql::Null, Sql::Null, Sql::Null], |b| b.map(Sql::Real)));
        }
        None => values.extend([Sql::Null, Sql::Null, Sql::Null, Sql::Null, Sql::Null]),
    }
    tx.prepare_cached(&upsert_sql(record_type, layer))?
        .execute(params_from_iter(values))?;

    let supersedes = layer
        .column_index("supersedes_id")
        .and_then(|i| match &feature.values[i] {
            Value::Text(target) => Some(target.clone()),
            _ => None,
        });
    let mut touched = vec![id];
    touched.extend(superseded_before);
    touched.extend(supersedes);
    touched.dedup();
    // A correction hides what it corrects only once it is approved itself: until then HQ keeps counting the
    // approved original, and a draft cannot take another team's record out of the figures.
    let refresh = format!(
        "UPDATE {table} SET superseded_by = (SELECT s.record_id FROM {table} AS s \
             WHERE s.supersedes_id = ?1 AND NOT coalesce(s.void, 0) \
             AND s.review IN ('supervisor_approved', 'hq_approved') ORDER BY s.record_id LIMIT 1) \
         WHERE record_id = ?1"
    );
    for record_id in &touched {
        tx.prepare_cached(&refresh)?.execute([record_id])?;
        if layer.geometry != layers::GeometryKind::None {
            for sql in rtree_sql(record_type) {
                tx.prepare_cached(&sql)?.execute([record_id])?;
            }
        }
    }
    Ok(())
}

/// What [`read_feature`] reads of a layer table aliased `alias`: the layer's columns in order, then the geometry.
pub(super) fn feature_columns(layer: &Layer, alias: &str) -> String {
    let mut columns: Vec<String> = layer.columns.iter().map(|c| format!("{alias}.{}", c.name)).collect();
    columns.push(format!("{alias}.geometry"));
    columns.join(", ")
}

/// A row selected with [`feature_columns`], back as the feature [`upsert`] wrote: each value typed by its column
/// (dates and instants parsed from their ISO 8601 text), the geometry read from its GeoPackage binary.
pub(super) fn read_feature(row: &Row<'_>, layer: &Layer) -> Result<Feature, Error> {
    let id: String = row.get(0)?;
    let damaged = |problem: &dyn std::fmt::Display| {
        StorageError::Damaged(format!("the {} row of record {id}: {problem}", layer.name))
    };
    let record_id = uuid::Uuid::parse_str(&id).map_err(|e| damaged(&e))?;
    let mut values = Vec::with_capacity(layer.columns.len());
    for (i, column) in layer.columns.iter().enumerate() {
        let value = match (column.column_type, row.get_ref(i)?) {
            (_, ValueRef::Null) => Value::Null,
            (ColumnType::Text, ValueRef::Text(t)) => Value::Text(String::from_utf8_lossy(t).into_owned()),
            (ColumnType::Integer, ValueRef::Integer(n)) => Value::Integer(n),
            (ColumnType::Boolean, ValueRef::Integer(n)) => Value::Boolean(n != 0),
            (ColumnType::Real, ValueRef::Real(x)) => Value::Real(x),
            (ColumnType::Date, ValueRef::Text(t)) => std::str::from_utf8(t)
                .ok()
                .and_then(|t| NaiveDate::parse_from_str(t, "%Y-%m-%d").ok())
                .map(Value::Date)
                .ok_or_else(|| damaged(&format!("{} is not a date", column.name)))?,
            (ColumnType::DateTime, ValueRef::Text(t)) => std::str::from_utf8(t)
                .ok()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| Value::DateTime(t.with_timezone(&Utc)))
                .ok_or_else(|| damaged(&format!("{} is not an instant", column.name)))?,
            (expected, found) => {
                return Err(Error::from(damaged(&format!(
                    "{} holds {:?}, not {expected:?}",
                    column.name,
                    found.data_type()
                ))));
            }
        };
        values.push(value);
    }
    let geometry = match row.get_ref(layer.columns.len())? {
        ValueRef::Null => None,
        ValueRef::Blob(blob) => Some(layers::geometry_from_geopackage(blob).map_err(|e| damaged(&e))?),
        other => {
            return Err(Error::from(damaged(&format!(
                "the geometry is {:?}, not a blob",
                other.data_type()
            ))));
        }
    };
    Ok(Feature {
        record_id,
        geometry,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use demo::{Scale, Scenario, generate};

    /// An empty database with the layer tables and what building them reads.
    fn layer_tables() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("sqlite");
        conn.execute_batch(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE records (record_id TEXT PRIMARY KEY, body TEXT NOT NULL);",
        )
        .expect("tables");
        let tx = conn.transaction().expect("tx");
        ensure(&tx).expect("layer tables");
        tx.commit().expect("commit");
        conn
    }

    /// Every record of the demo (every record type, lanes, holes, optional fields left out) reads back from its
    /// row as exactly the feature written.
    #[test]
    fn a_row_reads_back_as_the_feature_it_was_written_from() {
        let mut conn = layer_tables();
        let tx = conn.transaction().expect("tx");
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let records: Vec<_> = generate(&Scenario::new(Scale::Small, 5, today))
            .records_by_team()
            .into_values()
            .flatten()
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for record in &records {
            let record_type = record.record_type();
            let layer = layers::layer(record_type);
            let written = layers::feature(record);
            upsert(&tx, record_type, &written).expect("upsert");
            let sql = format!(
                "SELECT {} FROM {} AS x WHERE x.record_id = ?1",
                feature_columns(layer, "x"),
                table(record_type)
            );
            let read = tx
                .query_row(&sql, [record.id().to_string()], |row| Ok(read_feature(row, layer)))
                .expect("row")
                .expect("feature");
            assert_eq!(read, written, "{record_type:?} {}", record.id());
            seen.insert(record_type);
        }
        assert_eq!(seen.len(), RecordType::ALL.len(), "the demo has every record type");
    }

    /// `superseded_by` of each worked area, and which of them the map's R*Tree holds.
    fn superseded(tx: &Transaction<'_>) -> Vec<(u128, Option<u128>, bool)> {
        let mut stmt = tx
            .prepare(
                "SELECT x.record_id, x.superseded_by, r.id IS NOT NULL FROM layer_worked_areas AS x \
                 LEFT JOIN layer_worked_areas_rtree AS r ON r.id = x.rowid ORDER BY x.record_id",
            )
            .expect("query");
        let number = |id: String| uuid::Uuid::parse_str(&id).expect("uuid").as_u128();
        stmt.query_map([], |r| {
            Ok((number(r.get(0)?), r.get::<_, Option<String>>(1)?.map(number), r.get(2)?))
        })
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows")
    }

    #[test]
    fn an_approved_live_correction_supersedes_its_record_whatever_order_they_arrive_in() {
        let mut conn = layer_tables();
        let tx = conn.transaction().expect("tx");
        let json: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/examples/worked-area.json")).expect("example");
        let worked_area = |id: u128, supersedes: Option<u128>, void: bool, review: &str| {
            let mut value = json.clone();
            value["id"] = serde_json::json!(uuid::Uuid::from_u128(id));
            value["supersedes"] = serde_json::json!(supersedes.map(uuid::Uuid::from_u128));
            value["review"] = serde_json::json!(review);
            if void {
                value["void"] = serde_json::json!({"reason": "entered twice", "by": "R. Mammadova"});
            }
            let record = Record::from_json(value, uuid::Uuid::nil()).expect("worked area");
            upsert(&tx, RecordType::WorkedArea, &layers::feature(&record)).expect("upsert");
        };
        // The correction 2 reaches the server before the record 1 it corrects; a draft, it hides nothing yet.
        worked_area(2, Some(1), false, "draft");
        worked_area(1, None, false, "supervisor_approved");
        worked_area(3, None, false, "supervisor_approved");
        assert_eq!(superseded(&tx), vec![(1, None, true), (2, None, true), (3, None, true)]);
        // Approved, the correction takes the record's place.
        worked_area(2, Some(1), false, "supervisor_approved");
        assert_eq!(
            superseded(&tx),
            vec![(1, Some(2), false), (2, None, true), (3, None, true)]
        );
        // The correction is edited to correct 3 instead: 1 is current again.
        worked_area(2, Some(3), false, "supervisor_approved");
        assert_eq!(
            superseded(&tx),
            vec![(1, None, true), (2, None, true), (3, Some(2), false)]
        );
        // Voided, the correction supersedes nothing (and is not drawn).
        worked_area(2, Some(3), true, "supervisor_approved");
        assert_eq!(
            superseded(&tx),
            vec![(1, None, true), (2, None, false), (3, None, true)]
        );
    }

    #[test]
    fn a_damaged_row_is_an_error_naming_the_record_and_column() {
        let mut conn = layer_tables();
        let tx = conn.transaction().expect("tx");
        let layer = layers::layer(RecordType::Find);
        let id = uuid::Uuid::from_u128(7).to_string();
        let read = |sql: &str| {
            tx.execute("DELETE FROM layer_finds", []).expect("delete");
            tx.execute(sql, [&id]).expect("insert");
            let select = format!("SELECT {} FROM layer_finds AS x", feature_columns(layer, "x"));
            tx.query_row(&select, [], |row| Ok(read_feature(row, layer)))
                .expect("row")
                .expect_err("damaged")
                .to_string()
        };
        let message = read("INSERT INTO layer_finds (record_id, date_of_information) VALUES (?1, '23 Nov 2026')");
        assert!(
            message.contains(&id) && message.contains("date_of_information is not a date"),
            "{message}"
        );
        let message = read("INSERT INTO layer_finds (record_id, geometry) VALUES (?1, x'00')");
        assert!(message.contains("unreadable GeoPackage geometry"), "{message}");
    }
}
