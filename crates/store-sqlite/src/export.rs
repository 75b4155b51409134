//! Exports on SQLite: each layer's rows are selected with the filter from HQ's materialized tables and streamed,
//! in record id order, into the layer writers. The rows are already the layers' features (typed columns, the
//! geometry as GeoPackage binary): no record is parsed. Runs on a connection of its own, so a long
//! export never holds up sync.

use crate::Error;
use domain::RecordType;
use hq::export::{ExportRequest, ExportSummary, Format};
use hq::statistics::UNASSIGNED;
use layers::{CsvWriter, GeoJsonWriter, GeoPackageWriter, LayerError};
use rusqlite::{Connection, OpenFlags, named_params};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use sync_core::store::StorageError;

/// A task's teams (`;`-joined in `teams`) include `:team`.
const TASK_HAS_TEAM: &str = "instr(';' || t.teams || ';', ';' || :team || ';') > 0";

/// The query selecting a layer's records, with the filter of crate::statistics (void records included: the
/// layers carry `void`, and an analyst sees what was withdrawn).
fn select_sql(record_type: RecordType) -> String {
    let layer = layers::layer(record_type);
    let table = crate::layer_tables::table(record_type);
    let has = |column: &str| layer.column_index(column).is_some();
    let (joins, team, task, organisation) = if record_type == RecordType::Task {
        (
            "LEFT JOIN layer_tasks AS t ON t.record_id = x.record_id".to_string(),
            TASK_HAS_TEAM.to_string(),
            "x.record_id = :task".to_string(),
            "t.organisation = :organisation".to_string(),
        )
    } else if has("task_id") {
        let team_of_task =
            format!("COALESCE(CASE WHEN t.teams <> '' AND instr(t.teams, ';') = 0 THEN t.teams END, '{UNASSIGNED}')");
        let (daily_join, team) = if has("team") {
            (String::new(), format!("COALESCE(x.team, '{UNASSIGNED}') = :team"))
        } else if has("daily_report_id") {
            (
                "LEFT JOIN layer_daily_reports AS d ON d.record_id = x.daily_report_id".to_string(),
                format!("COALESCE(d.team, {team_of_task}) = :team"),
            )
        } else {
            (String::new(), format!("{team_of_task} = :team"))
        };
        (
            format!("{daily_join} LEFT JOIN layer_tasks AS t ON t.record_id = x.task_id"),
            team,
            "x.task_id = :task".to_string(),
            "t.organisation = :organisation".to_string(),
        )
    } else {
        // A hazard area belongs to no team: it is selected by the tasks covering it.
        let covered = |condition: &str| {
            format!(
                "EXISTS (SELECT 1 FROM task_hazards AS h JOIN layer_tasks AS t ON t.record_id = h.task_id \
                 WHERE h.hazard_id = x.record_id AND {condition})"
            )
        };
        (
            String::new(),
            covered(TASK_HAS_TEAM),
            covered("t.record_id = :task"),
            covered("t.organisation = :organisation"),
        )
    };
    format!(
        "SELECT {} FROM {table} AS x {joins} \
         WHERE (:from IS NULL OR x.date_of_information >= :from) AND (:to IS NULL OR x.date_of_information <= :to) \
         AND (:review IS NULL OR x.review IN (SELECT value FROM json_each(:review))) AND (:task IS NULL OR {task}) \
         AND (:organisation IS NULL OR {organisation}) AND (:team IS NULL OR {team}) \
         ORDER BY x.record_id",
        crate::layer_tables::feature_columns(layer, "x")
    )
}

pub(super) fn export(
    db: &Path,
    request: &ExportRequest,
    progress: &mut dyn FnMut(&str, u64),
) -> Result<ExportSummary, Error> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let mut summary = ExportSummary::default();
    if request.format == Format::Gpkg {
        // One file, a layer per record type.
        let mut gpkg = GeoPackageWriter::create(&request.path).map_err(failed)?;
        for &record_type in &request.record_types {
            let layer = layers::layer(record_type);
            gpkg.begin_layer(layer).map_err(failed)?;
            let count = each_feature(&conn, request, record_type, progress, |f| gpkg.write(f))?;
            gpkg.finish_layer().map_err(failed)?;
            summary.layers.push((layer.name.clone(), count));
        }
        gpkg.finish().map_err(failed)?;
        return Ok(summary);
    }
    // A file per layer: `path` itself for one layer, else a directory of `<layer>.<extension>` files.
    let many = request.record_types.len() > 1;
    if many {
        std::fs::create_dir_all(&request.path).map_err(|e| {
            Error::from(StorageError::Database(format!(
                "cannot create {}: {e}",
                request.path.display()
            )))
        })?;
    }
    for &record_type in &request.record_types {
        let layer = layers::layer(record_type);
        let path = if many {
            request
                .path
                .join(format!("{}.{}", layer.name, request.format.extension()))
        } else {
            request.path.clone()
        };
        let count = if request.format == Format::Csv {
            let mut csv = CsvWriter::new(file(&path)?, layer).map_err(failed)?;
            let count = each_feature(&conn, request, record_type, progress, |f| csv.write(f))?;
            flush(csv.finish().map_err(failed)?)?;
            count
        } else {
            let mut geojson = GeoJsonWriter::new(file(&path)?, layer).map_err(failed)?;
            let count = each_feature(&conn, request, record_type, progress, |f| geojson.write(f))?;
            flush(geojson.finish().map_err(failed)?)?;
            count
        };
        summary.layers.push((layer.name.clone(), count));
    }
    Ok(summary)
}

/// Streams the features of one layer that the request's filter selects into `write`, in record id order, calling
/// `progress` every 10,000 features and at the end; returns how many were written.
fn each_feature(
    conn: &Connection,
    request: &ExportRequest,
    record_type: RecordType,
    progress: &mut dyn FnMut(&str, u64),
    mut write: impl FnMut(&layers::Feature) -> Result<(), LayerError>,
) -> Result<u64, Error> {
    let layer = layers::layer(record_type);
    let name = &layer.name;
    let filter = &request.filter;
    let mut stmt = conn.prepare(&select_sql(record_type))?;
    let mut rows = stmt.query(named_params! {
        ":from": filter.from.map(|d| d.to_string()), ":to": filter.to.map(|d| d.to_string()),
        ":review": filter.review.and_then(hq::statistics::ReviewFilter::statuses_json), ":task": filter.task.map(|t| t.to_string()),
        ":organisation": filter.organisation, ":team": filter.team,
    })?;
    let mut count = 0u64;
    while let Some(row) = rows.next()? {
        write(&crate::layer_tables::read_feature(row, layer)?).map_err(failed)?;
        count += 1;
        if count.is_multiple_of(10_000) {
            progress(name, count);
        }
    }
    progress(name, count);
    Ok(count)
}

fn failed(e: LayerError) -> StorageError {
    StorageError::Database(format!("export: {e}"))
}

fn file(path: &PathBuf) -> Result<BufWriter<File>, Error> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| Error::from(StorageError::Database(format!("cannot write {}: {e}", path.display()))))
}

fn flush(mut out: BufWriter<File>) -> Result<(), Error> {
    use std::io::Write;
    out.flush()
        .and_then(|()| out.get_ref().sync_all())
        .map_err(|e| Error::from(StorageError::Database(format!("export: cannot finish the file: {e}"))))
}
