//! Turning untrusted JSON from a person, a file or a device into records, with errors that say what to fix.

use crate::records::{Record, RecordType};
use serde::de::DeserializeOwned;
use serde_json::Value;
use uuid::Uuid;

/// Why some input is not a record. Every message names the offending field or value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InputError {
    #[error("input is not valid JSON: {0}")]
    Syntax(String),
    #[error("a record must be a JSON object, found {found}")]
    NotAnObject { found: &'static str },
    #[error("missing field `type`: say which record this is, one of: {}", RecordType::names())]
    MissingType,
    #[error("unknown record type {name}; expected one of: {}", RecordType::names())]
    UnknownType { name: String },
    #[error("{record_type}: field `{path}`: {message}")]
    Field {
        record_type: RecordType,
        path: String,
        message: String,
    },
}

/// Parses one record from JSON text. A missing `id` takes `new_id`.
pub fn parse_record(text: &str, new_id: Uuid) -> Result<Record, InputError> {
    let value: Value = serde_json::from_str(text).map_err(|e| InputError::Syntax(e.to_string()))?;
    Record::from_json(value, new_id)
}

/// Deserializes part of a record, keeping the path of the field that failed.
/// Valid input (every stored record) takes the direct route; only a failure is retraced to find its path.
pub(crate) fn deserialize<T: DeserializeOwned>(record_type: RecordType, value: Value) -> Result<T, InputError> {
    if let Ok(parsed) = T::deserialize(&value) {
        return Ok(parsed);
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let message = match unknown_field(&inner) {
            Some(field) => format!("{inner}{}", unit_hint(field)),
            None => inner,
        };
        let path = if path == "." { "(record)".to_string() } else { path };
        InputError::Field {
            record_type,
            path,
            message,
        }
    })
}

fn unknown_field(message: &str) -> Option<&str> {
    message.strip_prefix("unknown field `")?.split('`').next()
}

/// Units are part of field names in fieldsync; a field in other units gets a pointer to the right one.
fn unit_hint(field: &str) -> &'static str {
    const UNITS: [(&str, &str); 9] = [
        (
            "_ha",
            ". Areas are stored in square metres: use the `_m2` field (1 ha = 10,000 m²)",
        ),
        ("_km2", ". Areas are stored in square metres: use the `_m2` field"),
        ("_acres", ". Areas are stored in square metres: use the `_m2` field"),
        (
            "_mm",
            ". Depths are whole centimetres (`depth_cm`), distances metres (`_m`)",
        ),
        (
            "_in",
            ". Depths are whole centimetres (`depth_cm`), distances metres (`_m`)",
        ),
        (
            "_ft",
            ". Distances are metres (`_m` fields), depths whole centimetres (`_cm`)",
        ),
        ("_km", ". Distances are metres (`_m` fields)"),
        (
            "_m",
            ". Depths are whole centimetres: use `depth_cm` or `depth_achieved_cm`",
        ),
        ("_deg_min", ". Coordinates are WGS84 decimal degrees"),
    ];
    if field.starts_with("depth") && field.ends_with("_m") {
        return UNITS[7].1;
    }
    UNITS
        .iter()
        .filter(|(suffix, _)| *suffix != "_m")
        .find(|(suffix, _)| field.ends_with(suffix))
        .map_or("", |(_, hint)| hint)
}
