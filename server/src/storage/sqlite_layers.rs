//! HQ's materialized tables on SQLite: one table per record type, `layer_<name>`, with exactly the columns of the
//! record type's export layer (crates/layers), the geometry as GeoPackage binary and its bounding box.
//!
//! They are written in the same transaction as the changes that touch a record, so HQ's statistics and exports read
//! typed rows and never load a document. They are derived data: their layout follows the layer schema, not the
//! numbered migrations. When the schema changes (a new column in a layer), the server drops them and rebuilds them
//! from `records` as it opens the file. (`records` is derived from the log in turn; a command that rebuilds it from
//! the log is not written yet.)

use super::StorageError;
use domain::{Record, RecordType};
use layers::{ColumnType, Feature, Layer, Value};
use rusqlite::{Transaction, params, params_from_iter};
use sha2::{Digest, Sha256};

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

/// The table of one layer: its columns (the first, `record_id`, the key), then the geometry and its bounding box.
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
    // The dashboard's totals read only these columns: a covering index, grouped in its order, is scanned instead
    // of the table's far wider rows (see sqlite_statistics::totals).
    let totals = match record_type {
        RecordType::WorkedArea => Some("outcome, technical_asset, void, date_of_information, task_id, review, area_m2"),
        RecordType::Find => Some("category, void, date_of_information, task_id, review, quantity"),
        _ => None,
    };
    if let Some(columns) = totals {
        sql.push_str(&format!("CREATE INDEX {table}_totals ON {table} ({columns});\n"));
    }
    sql
}

fn insert_sql(record_type: RecordType, layer: &Layer) -> String {
    let names: Vec<&str> = layer.columns.iter().map(|c| c.name.as_str()).collect();
    let count = names.len() + 5;
    format!(
        "INSERT OR REPLACE INTO {} ({}, geometry, min_lon, min_lat, max_lon, max_lat) VALUES ({})",
        table(record_type),
        names.join(", "),
        (1..=count).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
    )
}

fn layout() -> String {
    RecordType::ALL
        .into_iter()
        .map(|t| create_sql(t, layers::layer(t)))
        .collect()
}

/// Creates the tables, or rebuilds them when the layer schema changed since they were built.
pub(super) fn ensure(tx: &Transaction<'_>) -> Result<(), StorageError> {
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
    for name in old {
        tx.execute_batch(&format!("DROP TABLE {name};"))?;
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
fn rebuild(tx: &Transaction<'_>) -> Result<(), StorageError> {
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

/// Writes a record's row in its layer's table.
pub(super) fn upsert(tx: &Transaction<'_>, record_type: RecordType, feature: &Feature) -> Result<(), StorageError> {
    use rusqlite::types::Value as Sql;
    let layer = layers::layer(record_type);
    feature
        .check(layer)
        .map_err(|e| StorageError::Database(format!("the {} row of {}: {e}", layer.name, feature.record_id)))?;
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
    tx.prepare_cached(&insert_sql(record_type, layer))?
        .execute(params_from_iter(values))?;
    Ok(())
}
