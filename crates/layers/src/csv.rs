//! A CSV writer for one layer: a header from the layer's columns, one row per feature, streamed.
//!
//! CSV is for spreadsheets and for tools that read tables (IMSMA Core imports, QGIS "delimited text"), so the
//! geometry comes last and in the form such tools detect: point layers get `longitude` and `latitude` columns
//! (WGS84 degrees), polygon layers a `geometry_wkt` column of OGC well-known text (georust's `wkt` crate, the
//! maintained writer for the same geo-types our features hold), attribute-only layers no geometry column.
//! Coordinates keep their full precision here; a spreadsheet user rounds as they need.
//!
//! Values follow the schema: ISO 8601 dates and UTC instants, `true`/`false`, numbers in plain decimal notation
//! (never `1e-7`), and an empty field for an absent value. Quoting and escaping are the `csv` crate's (RFC 4180).

use crate::error::LayerError;
use crate::feature::Feature;
use crate::schema::{GeometryKind, Layer};
use crate::value::{Value, iso_date, iso_datetime};
use geo_types::Geometry;
use std::fmt::Write as _;
use std::io::Write;

#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    out: ::csv::Writer<W>,
    layer: Layer,
    /// One field's text, reused from field to field.
    field: String,
}

impl<W: Write> CsvWriter<W> {
    /// Starts the layer's CSV on `out` with its header row.
    pub fn new(out: W, layer: &Layer) -> Result<CsvWriter<W>, LayerError> {
        layer.validate()?;
        let mut out = ::csv::WriterBuilder::new().buffer_capacity(256 * 1024).from_writer(out);
        let geometry_columns: &[&str] = match layer.geometry {
            GeometryKind::None => &[],
            GeometryKind::Point => &["longitude", "latitude"],
            GeometryKind::Polygon | GeometryKind::MultiPolygon => &["geometry_wkt"],
        };
        let header = layer
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .chain(geometry_columns.iter().copied());
        out.write_record(header)?;
        Ok(CsvWriter {
            out,
            layer: layer.clone(),
            field: String::new(),
        })
    }

    /// Writes one feature as a row. A feature that does not fit the layer is refused before anything is written.
    pub fn write(&mut self, feature: &Feature) -> Result<(), LayerError> {
        feature.check(&self.layer)?;
        for value in &feature.values {
            self.field.clear();
            format_value(&mut self.field, value);
            self.out.write_field(&self.field)?;
        }
        match (self.layer.geometry, &feature.geometry) {
            (GeometryKind::None, _) => {}
            (GeometryKind::Point, Some(Geometry::Point(p))) => {
                for coordinate in [p.x(), p.y()] {
                    self.field.clear();
                    let _ = write!(self.field, "{coordinate}");
                    self.out.write_field(&self.field)?;
                }
            }
            (GeometryKind::Point, _) => {
                self.out.write_field("")?;
                self.out.write_field("")?;
            }
            (_, Some(geometry)) => {
                self.field.clear();
                // Writing into a String cannot fail, and check() let only points and polygons through.
                let _ = wkt::to_wkt::write_geometry(&mut self.field, geometry);
                self.out.write_field(&self.field)?;
            }
            (_, None) => self.out.write_field("")?,
        }
        self.out.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Flushes and hands back the output.
    pub fn finish(self) -> Result<W, LayerError> {
        self.out.into_inner().map_err(|e| LayerError::Write(e.into_error()))
    }
}

fn format_value(field: &mut String, value: &Value) {
    // Formatting into a String cannot fail.
    let _ = match value {
        Value::Null => Ok(()),
        Value::Text(s) => {
            field.push_str(s);
            Ok(())
        }
        Value::Integer(i) => write!(field, "{i}"),
        Value::Real(r) if r.is_finite() => write!(field, "{r}"),
        Value::Real(_) => Ok(()),
        Value::Date(d) => {
            field.push_str(&iso_date(*d));
            Ok(())
        }
        Value::DateTime(t) => {
            field.push_str(&iso_datetime(*t));
            Ok(())
        }
        Value::Boolean(b) => {
            field.push_str(if *b { "true" } else { "false" });
            Ok(())
        }
    };
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_written_in_plain_iso_and_decimal_forms() {
        let text = |v: Value| {
            let mut s = String::new();
            format_value(&mut s, &v);
            s
        };
        assert_eq!(text(Value::Real(0.0000001)), "0.0000001");
        assert_eq!(text(Value::Real(9400.5)), "9400.5");
        assert_eq!(text(Value::Real(f64::NAN)), "");
        assert_eq!(text(Value::Null), "");
        assert_eq!(text(Value::Boolean(true)), "true");
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-20T09:15:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(text(Value::DateTime(at)), "2026-11-20T09:15:00Z");
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(text(Value::Date(day)), "2026-11-20");
    }
}
