//! Logging through `env_logger` (`RUST_LOG` filters, default `info`), as plain text or as
//! one JSON object per line (`--log-format json`): `ts`, `level`, `target`, `msg`, then the
//! record's structured fields (for example the access log's `method`, `route`, `status`).

use std::io::Write;

use log::kv::{Key, Value, VisitSource};
use serde_json::{Map, Value as Json};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// env_logger's human-readable lines, structured fields appended as `key=value`.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Starts the logger once, writing to stderr. Call it in `main` before serving.
pub fn init(format: LogFormat) {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let line = json_line(record, &humantime_now());
            writeln!(buf, "{line}")
        });
    }
    builder.init();
}

fn humantime_now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// One record as a JSON object. Field names that would clash with the fixed ones are
/// prefixed with `field_`.
pub fn json_line(record: &log::Record<'_>, ts: &str) -> String {
    let mut object = Map::new();
    object.insert("ts".into(), Json::from(ts));
    object.insert(
        "level".into(),
        Json::from(record.level().as_str().to_ascii_lowercase()),
    );
    object.insert("target".into(), Json::from(record.target()));
    object.insert("msg".into(), Json::from(record.args().to_string()));
    let mut fields = Fields(&mut object);
    let _ = record.key_values().visit(&mut fields);
    Json::Object(object).to_string()
}

struct Fields<'a>(&'a mut Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let json = if let Some(n) = value.to_u64() {
            Json::from(n)
        } else if let Some(n) = value.to_i64() {
            Json::from(n)
        } else if let Some(b) = value.to_bool() {
            Json::from(b)
        } else if let Some(f) = value.to_f64() {
            Json::from(f)
        } else {
            Json::from(value.to_string())
        };
        let mut name = key.as_str().to_owned();
        if self.0.contains_key(&name) {
            name = format!("field_{name}");
        }
        self.0.insert(name, json);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_becomes_one_json_object_with_its_fields() {
        let fields: &[(&str, Value<'_>)] = &[
            ("status", Value::from(409u16)),
            ("route", Value::from("/{owner}")),
            ("msg", Value::from("clash")),
        ];
        let line = json_line(
            &log::Record::builder()
                .args(format_args!("POST \"quoted\"\nnext"))
                .level(log::Level::Warn)
                .target("mq_lease::access")
                .key_values(&fields)
                .build(),
            "2026-01-01T00:00:00.000Z",
        );
        assert!(!line.contains('\n'), "{line}");
        let v: Json = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ts"], "2026-01-01T00:00:00.000Z");
        assert_eq!(v["level"], "warn");
        assert_eq!(v["target"], "mq_lease::access");
        assert_eq!(v["msg"], "POST \"quoted\"\nnext");
        assert_eq!(v["status"], 409);
        assert_eq!(v["route"], "/{owner}");
        assert_eq!(v["field_msg"], "clash");
    }
}
