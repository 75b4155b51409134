//! One attribute value of a feature, typed like its column so that every writer renders it the same way:
//! dates as ISO 8601, instants in UTC with a `Z`, booleans as booleans, absent values as null (or empty in CSV).

use crate::schema::ColumnType;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Integer(i64),
    Real(f64),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    Boolean(bool),
}

impl Value {
    /// Whether the value may stand in a column of that type. Null fits every column: every field can be absent
    /// in an export (a void record, an optional field).
    pub fn fits(&self, column: ColumnType) -> bool {
        matches!(
            (self, column),
            (Value::Null, _)
                | (Value::Text(_), ColumnType::Text)
                | (Value::Integer(_), ColumnType::Integer)
                | (Value::Real(_), ColumnType::Real)
                | (Value::Date(_), ColumnType::Date)
                | (Value::DateTime(_), ColumnType::DateTime)
                | (Value::Boolean(_), ColumnType::Boolean)
        )
    }

    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Text(_) => "text",
            Value::Integer(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Date(_) => "a date",
            Value::DateTime(_) => "a date-time",
            Value::Boolean(_) => "a boolean",
        }
    }

    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// An optional value: `None` is null.
    pub fn opt<T>(value: Option<T>, make: impl FnOnce(T) -> Value) -> Value {
        value.map_or(Value::Null, make)
    }
}

/// An ISO 8601 date, `2026-11-20`.
pub fn iso_date(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// An ISO 8601 (RFC 3339) instant in UTC with a `Z`, whole seconds unless the instant has a fraction:
/// `2026-11-20T09:15:00Z`. GDAL reads this form as a DateTime in GeoJSON and CSV.
pub fn iso_datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}
