//! A GeoPackage writer (OGC GeoPackage 1.3, SQLite) that streams: features go into the file as they arrive and
//! nothing accumulates in memory but SQLite's bounded page cache.
//!
//! The file is a fresh one that nobody reads until it is complete, so the writer trades the durability of each
//! statement for speed, and makes the whole file durable once at the end:
//! - everything is one transaction, with the rollback journal off and `synchronous = OFF`: no journal writes and
//!   no fsync per page; SQLite writes each page once;
//! - it writes to `<name>.partial` beside the target and renames it over the target only after the commit and an
//!   fsync, so a crash, an error or a dropped writer never leaves a half-written GeoPackage under the real name
//!   (a dropped writer removes its partial file);
//! - inserts go through one prepared (cached) statement per layer, geometry blobs through one reused buffer;
//! - the `record_id` index is built once a layer is complete (a sort, much cheaper than a million B-tree inserts);
//! - the spatial index (the `gpkg_rtree_index` extension QGIS uses to draw big layers) is filled row by row from
//!   the envelope the geometry encoder already computed, and its triggers are created when the layer is complete,
//!   so they never fire during the export (SQLite has no `ST_MinX` functions; GDAL and QGIS register them).
//!
//! After an error from SQLite the file may be inconsistent (there is no journal to roll back), so the writer
//! refuses any further call; drop it, and its partial file goes with it.

use crate::error::LayerError;
use crate::feature::Feature;
use crate::schema::{GeometryKind, Layer};
use crate::value::Value;
use crate::wkb::{Envelope, SRS_WGS84, geopackage_binary};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql, params};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// `PRAGMA application_id` of a GeoPackage: the ASCII bytes "GPKG".
const APPLICATION_ID: i32 = 0x4750_4B47;
/// `PRAGMA user_version` of GeoPackage 1.3.0. We write 1.3 rather than 1.4: 1.4 changes only the R*Tree update
/// triggers, and GDAL 3.6 (Debian 12's, and the GDAL of many QGIS installations) warns that a 1.4 file "may only
/// be partially supported".
const USER_VERSION: i32 = 10300;

/// The WKT of EPSG:4326, as GDAL and the specification's examples write it.
const WGS84_WKT: &str = r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]"#;

/// The tables every GeoPackage has (1.3 §1.1.2, §1.1.3, §2.1.5, §2.3.2) and the three required SRS rows.
const CORE_TABLES: &str = "
CREATE TABLE gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL PRIMARY KEY,
  organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL,
  definition TEXT NOT NULL,
  description TEXT
);
CREATE TABLE gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY,
  data_type TEXT NOT NULL,
  identifier TEXT UNIQUE,
  description TEXT DEFAULT '',
  last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE,
  min_y DOUBLE,
  max_x DOUBLE,
  max_y DOUBLE,
  srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);
CREATE TABLE gpkg_geometry_columns (
  table_name TEXT NOT NULL,
  column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL,
  srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL,
  m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT uk_gc_table_name UNIQUE (table_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);
CREATE TABLE gpkg_extensions (
  table_name TEXT,
  column_name TEXT,
  extension_name TEXT NOT NULL,
  definition TEXT NOT NULL,
  scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name)
);
INSERT INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');
";

/// The R*Tree extension's triggers (GeoPackage 1.3 Annex F.3), which keep the index in step when a GIS edits the
/// layer later. `{t}` is the table; the geometry column is `geom` and the primary key `fid`.
const RTREE_TRIGGERS: &str = r#"
CREATE TRIGGER "rtree_{t}_geom_insert" AFTER INSERT ON "{t}"
  WHEN (new."geom" NOT NULL AND NOT ST_IsEmpty(NEW."geom"))
BEGIN
  INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (
    NEW."fid", ST_MinX(NEW."geom"), ST_MaxX(NEW."geom"), ST_MinY(NEW."geom"), ST_MaxY(NEW."geom"));
END;
CREATE TRIGGER "rtree_{t}_geom_update1" AFTER UPDATE OF "geom" ON "{t}"
  WHEN OLD."fid" = NEW."fid" AND (NEW."geom" NOTNULL AND NOT ST_IsEmpty(NEW."geom"))
BEGIN
  INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (
    NEW."fid", ST_MinX(NEW."geom"), ST_MaxX(NEW."geom"), ST_MinY(NEW."geom"), ST_MaxY(NEW."geom"));
END;
CREATE TRIGGER "rtree_{t}_geom_update2" AFTER UPDATE OF "geom" ON "{t}"
  WHEN OLD."fid" = NEW."fid" AND (NEW."geom" ISNULL OR ST_IsEmpty(NEW."geom"))
BEGIN
  DELETE FROM "rtree_{t}_geom" WHERE id = OLD."fid";
END;
CREATE TRIGGER "rtree_{t}_geom_update3" AFTER UPDATE ON "{t}"
  WHEN OLD."fid" != NEW."fid" AND (NEW."geom" NOTNULL AND NOT ST_IsEmpty(NEW."geom"))
BEGIN
  DELETE FROM "rtree_{t}_geom" WHERE id = OLD."fid";
  INSERT OR REPLACE INTO "rtree_{t}_geom" VALUES (
    NEW."fid", ST_MinX(NEW."geom"), ST_MaxX(NEW."geom"), ST_MinY(NEW."geom"), ST_MaxY(NEW."geom"));
END;
CREATE TRIGGER "rtree_{t}_geom_update4" AFTER UPDATE ON "{t}"
  WHEN OLD."fid" != NEW."fid" AND (NEW."geom" ISNULL OR ST_IsEmpty(NEW."geom"))
BEGIN
  DELETE FROM "rtree_{t}_geom" WHERE id IN (OLD."fid", NEW."fid");
END;
CREATE TRIGGER "rtree_{t}_geom_delete" AFTER DELETE ON "{t}"
  WHEN old."geom" NOT NULL
BEGIN
  DELETE FROM "rtree_{t}_geom" WHERE id = OLD."fid";
END;
"#;

/// What to build beside the rows. Both default to on; the benchmark measures what each costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeoPackageOptions {
    /// The `gpkg_rtree_index` spatial index on each geometry layer, which QGIS uses to draw and query big layers.
    pub spatial_index: bool,
    /// A unique index on `record_id`, for joins between layers (`task_id` → `tasks.record_id`) and lookups by id.
    /// Building it fails the layer if two features share a record id.
    pub record_id_index: bool,
}

impl Default for GeoPackageOptions {
    fn default() -> Self {
        GeoPackageOptions {
            spatial_index: true,
            record_id_index: true,
        }
    }
}

/// What was written to one layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSummary {
    pub name: String,
    pub features: u64,
    /// `[min_lon, min_lat, max_lon, max_lat]` of the features' geometries; None without any geometry.
    pub bbox: Option<[f64; 4]>,
}

/// Writes layers into a new GeoPackage: `begin_layer`, `write` for each feature, `finish_layer`, and once every
/// layer is written, `finish`, which commits and puts the file in place.
#[derive(Debug)]
pub struct GeoPackageWriter {
    conn: Option<Connection>,
    path: PathBuf,
    partial: PathBuf,
    options: GeoPackageOptions,
    written: Vec<LayerSummary>,
    names: HashSet<String>,
    open: Option<OpenLayer>,
    /// The geometry blob of the row being written, reused from row to row.
    blob: Vec<u8>,
    /// Set by an SQLite error: the file may be inconsistent and nothing more is written.
    failed: bool,
}

#[derive(Debug)]
struct OpenLayer {
    layer: Layer,
    insert: String,
    rtree_insert: Option<String>,
    features: u64,
    envelope: Option<Envelope>,
}

impl GeoPackageWriter {
    /// Starts a GeoPackage that will be at `path` once [`GeoPackageWriter::finish`] succeeds, replacing any file
    /// there. Until then it is written to `<path>.partial`.
    pub fn create(path: impl AsRef<Path>) -> Result<GeoPackageWriter, LayerError> {
        GeoPackageWriter::create_with(path, GeoPackageOptions::default())
    }

    pub fn create_with(path: impl AsRef<Path>, options: GeoPackageOptions) -> Result<GeoPackageWriter, LayerError> {
        let path = path.as_ref().to_path_buf();
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        // A partial file is ours by name: one left by a crashed export is garbage.
        match std::fs::remove_file(&partial) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(LayerError::Io { path: partial, source }),
        }
        let sqlite = |action| {
            let partial = partial.clone();
            move |source| LayerError::Sqlite {
                path: partial,
                action,
                source,
            }
        };
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&partial, flags).map_err(sqlite("create"))?;
        let writer = GeoPackageWriter {
            conn: Some(conn),
            path,
            partial: partial.clone(),
            options,
            written: Vec::new(),
            names: HashSet::new(),
            open: None,
            blob: Vec::with_capacity(1024),
            failed: false,
        };
        let setup = format!(
            "PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {USER_VERSION};
             PRAGMA journal_mode = OFF;
             PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE;
             PRAGMA cache_size = -{CACHE_KIB};
             BEGIN;
             {CORE_TABLES}"
        );
        let conn = writer.conn()?;
        conn.execute_batch(&setup).map_err(sqlite("set up"))?;
        conn.execute(
            "INSERT INTO gpkg_spatial_ref_sys VALUES ('WGS 84 geodetic', ?1, 'EPSG', ?1, ?2, ?3)",
            params![
                SRS_WGS84,
                WGS84_WKT,
                "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid"
            ],
        )
        .map_err(sqlite("set up"))?;
        Ok(writer)
    }

    /// Creates the layer's table and registers it; features written next go into it.
    pub fn begin_layer(&mut self, layer: &Layer) -> Result<(), LayerError> {
        if let Some(open) = &self.open {
            return Err(LayerError::LayerStillOpen {
                open: open.layer.name.clone(),
                next: layer.name.clone(),
            });
        }
        layer.validate()?;
        if self.names.contains(&layer.name) {
            return Err(LayerError::DuplicateLayer {
                layer: layer.name.clone(),
            });
        }
        let t = &layer.name;
        let geometry = layer.geometry.gpkg_name();
        let mut create = format!(r#"CREATE TABLE "{t}" ("fid" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL"#);
        let mut insert_columns = Vec::with_capacity(layer.columns.len() + 1);
        if let Some(geometry) = geometry {
            create.push_str(&format!(r#", "geom" {geometry}"#));
            insert_columns.push(r#""geom""#.to_string());
        }
        for column in &layer.columns {
            create.push_str(&format!(r#", "{}" {}"#, column.name, column.column_type.gpkg_name()));
            insert_columns.push(format!(r#""{}""#, column.name));
        }
        create.push(')');
        let placeholders: Vec<String> = (1..=insert_columns.len()).map(|i| format!("?{i}")).collect();
        let insert = format!(
            r#"INSERT INTO "{t}" ({}) VALUES ({})"#,
            insert_columns.join(", "),
            placeholders.join(", ")
        );
        let spatial_index = geometry.is_some() && self.options.spatial_index;
        let rtree_insert =
            spatial_index.then(|| format!(r#"INSERT INTO "rtree_{t}_geom" VALUES (?1, ?2, ?3, ?4, ?5)"#));

        let conn = self.conn()?;
        let result = (|| {
            conn.execute_batch(&create)?;
            let data_type = if geometry.is_some() { "features" } else { "attributes" };
            conn.execute(
                "INSERT INTO gpkg_contents (table_name, data_type, identifier, description, srs_id)
                 VALUES (?1, ?2, ?1, ?3, ?4)",
                params![t, data_type, layer.description, geometry.map(|_| SRS_WGS84)],
            )?;
            if let Some(geometry) = geometry {
                conn.execute(
                    "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, ?3, 0, 0)",
                    params![t, geometry, SRS_WGS84],
                )?;
            }
            if spatial_index {
                conn.execute_batch(&format!(
                    r#"CREATE VIRTUAL TABLE "rtree_{t}_geom" USING rtree(id, minx, maxx, miny, maxy)"#
                ))?;
                conn.execute(
                    "INSERT INTO gpkg_extensions VALUES (?1, 'geom', 'gpkg_rtree_index',
                     'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
                    params![t],
                )?;
            }
            Ok(())
        })();
        self.sqlite(result, "create layer")?;
        self.names.insert(layer.name.clone());
        self.open = Some(OpenLayer {
            layer: layer.clone(),
            insert,
            rtree_insert,
            features: 0,
            envelope: None,
        });
        Ok(())
    }

    /// Writes one feature into the open layer. A feature that does not fit the layer is refused with nothing
    /// written, and the writer stays usable.
    pub fn write(&mut self, feature: &Feature) -> Result<(), LayerError> {
        if self.failed {
            return Err(self.poisoned());
        }
        let Some(open) = &self.open else {
            return Err(LayerError::NoLayerOpen);
        };
        let Some(conn) = &self.conn else {
            return Err(poisoned(&self.partial));
        };
        feature.check(&open.layer)?;
        self.blob.clear();
        let with_geometry = open.layer.geometry != GeometryKind::None;
        let envelope = feature
            .geometry
            .as_ref()
            .filter(|_| with_geometry)
            .and_then(|g| geopackage_binary(&mut self.blob, g, SRS_WGS84));
        let has_blob = with_geometry && feature.geometry.is_some();
        let result = (|| {
            let mut insert = conn.prepare_cached(&open.insert)?;
            let mut index = 1;
            if with_geometry {
                if has_blob {
                    insert.raw_bind_parameter(index, self.blob.as_slice())?;
                } else {
                    insert.raw_bind_parameter(index, rusqlite::types::Null)?;
                }
                index += 1;
            }
            for value in &feature.values {
                insert.raw_bind_parameter(index, value)?;
                index += 1;
            }
            insert.raw_execute()?;
            if let (Some(sql), Some(e)) = (&open.rtree_insert, &envelope) {
                let fid = conn.last_insert_rowid();
                conn.prepare_cached(sql)?
                    .execute(params![fid, e.min_x, e.max_x, e.min_y, e.max_y])?;
            }
            Ok(())
        })();
        self.sqlite(result, "insert feature")?;
        if let Some(open) = self.open.as_mut() {
            open.features += 1;
            if let Some(e) = envelope {
                match &mut open.envelope {
                    Some(layer_envelope) => layer_envelope.extend(&e),
                    None => open.envelope = Some(e),
                }
            }
        }
        Ok(())
    }

    /// Completes the open layer: its extent in gpkg_contents, its spatial index triggers, its record id index.
    pub fn finish_layer(&mut self) -> Result<LayerSummary, LayerError> {
        let open = self.open.take().ok_or(LayerError::NoLayerOpen)?;
        let t = &open.layer.name;
        let bbox = open.envelope.map(|e| [e.min_x, e.min_y, e.max_x, e.max_y]);
        let index_record_id = self.options.record_id_index && open.layer.column_index("record_id").is_some();
        let conn = self.conn()?;
        let result = (|| {
            conn.execute(
                "UPDATE gpkg_contents SET min_x = ?2, min_y = ?3, max_x = ?4, max_y = ?5,
                 last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE table_name = ?1",
                params![
                    t,
                    bbox.map(|b| b[0]),
                    bbox.map(|b| b[1]),
                    bbox.map(|b| b[2]),
                    bbox.map(|b| b[3])
                ],
            )?;
            if open.rtree_insert.is_some() {
                conn.execute_batch(&RTREE_TRIGGERS.replace("{t}", t))?;
            }
            if index_record_id {
                conn.execute_batch(&format!(
                    r#"CREATE UNIQUE INDEX "{t}_record_id" ON "{t}" ("record_id")"#
                ))?;
            }
            Ok(())
        })();
        self.sqlite(result, "finish layer")?;
        let summary = LayerSummary {
            name: open.layer.name,
            features: open.features,
            bbox,
        };
        self.written.push(summary.clone());
        Ok(summary)
    }

    /// Commits, makes the file durable and puts it at its path. A layer still open is finished first.
    /// Returns what each layer holds.
    pub fn finish(mut self) -> Result<Vec<LayerSummary>, LayerError> {
        if self.open.is_some() {
            self.finish_layer()?;
        }
        let result = self.conn()?.execute_batch("COMMIT");
        self.sqlite(result, "commit")?;
        if let Some(conn) = self.conn.take() {
            conn.close().map_err(|(_, source)| LayerError::Sqlite {
                path: self.partial.clone(),
                action: "close",
                source,
            })?;
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| LayerError::Io { path, source }
        };
        std::fs::File::open(&self.partial)
            .and_then(|f| f.sync_all())
            .map_err(io(&self.partial))?;
        std::fs::rename(&self.partial, &self.path).map_err(io(&self.path))?;
        // The rename is durable once the directory is; where a directory cannot be opened, the file still is.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(std::mem::take(&mut self.written))
    }

    fn conn(&self) -> Result<&Connection, LayerError> {
        match (&self.conn, self.failed) {
            (Some(conn), false) => Ok(conn),
            _ => Err(self.poisoned()),
        }
    }

    fn poisoned(&self) -> LayerError {
        poisoned(&self.partial)
    }

    /// Passes an SQLite result on, marking the writer failed on an error.
    fn sqlite<T>(&mut self, result: rusqlite::Result<T>, action: &'static str) -> Result<T, LayerError> {
        result.map_err(|source| {
            self.failed = true;
            LayerError::Sqlite {
                path: self.partial.clone(),
                action,
                source,
            }
        })
    }
}

/// The error of any call after an SQLite error.
fn poisoned(partial: &Path) -> LayerError {
    LayerError::Unusable {
        path: partial.to_path_buf(),
    }
}

impl Drop for GeoPackageWriter {
    /// An unfinished export leaves nothing behind: the partial file is removed.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn);
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// SQLite's page cache for the export, in KiB. Bounded, so memory stays flat whatever the export's size, and
/// large enough for the R*Tree's working set. Temporary storage stays on disk (`temp_store` is left at its
/// default): in memory, the sort that builds the `record_id` index would grow with the layer instead of spilling.
/// Measured at 1,000,000 records (docs/benchmarks.md): peak RSS about 70 MB.
const CACHE_KIB: u32 = 32 * 1024;

/// GeoPackage column values: TEXT for text, dates and instants (ISO 8601; DATETIME as `YYYY-MM-DDTHH:MM:SS.SSSZ`,
/// the form GeoPackage 1.3 requires), INTEGER 0/1 for booleans, NULL for null and for a non-finite real.
impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Value::Integer(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Real(r) if r.is_finite() => ToSqlOutput::Borrowed(ValueRef::Real(*r)),
            Value::Real(_) => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Date(d) => ToSqlOutput::from(crate::value::iso_date(*d)),
            Value::DateTime(t) => ToSqlOutput::from(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            Value::Boolean(b) => ToSqlOutput::Borrowed(ValueRef::Integer(i64::from(*b))),
        })
    }
}

#[cfg(test)]
mod tests;
