//! The one JSON line a run prints: scenario, parameters and figures, in a stable order.
//!
//! Results are appended to `.jsonl` files and plotted later (see [`super::plot`]), so every
//! run prints exactly one flat JSON object on stdout, keys in the order they were set, and
//! nothing else; progress goes to stderr.

use serde_json::Value as Json;

/// An ordered set of report fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    fields: Vec<(String, Json)>,
}

impl Report {
    /// A report for `scenario` (its first field).
    pub fn new(scenario: &str) -> Self {
        let mut report = Report::default();
        report.set("scenario", scenario);
        report
    }

    /// Sets `key` to `value`, replacing an earlier value in place.
    pub fn set(&mut self, key: &str, value: impl Into<Json>) -> &mut Self {
        let value = value.into();
        match self.fields.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.fields.push((key.to_owned(), value)),
        }
        self
    }

    /// Sets `key` to `value` rounded to `decimals` places (NaN and infinities become null).
    pub fn set_f64(&mut self, key: &str, value: f64, decimals: i32) -> &mut Self {
        let factor = 10f64.powi(decimals);
        let rounded = (value * factor).round() / factor;
        let json = serde_json::Number::from_f64(rounded).map_or(Json::Null, Json::Number);
        self.set(key, json)
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The report as one line of JSON (no trailing newline).
    pub fn to_json_line(&self) -> String {
        let mut out = String::from("{");
        for (i, (key, value)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Json::String(key.clone()).to_string());
            out.push(':');
            out.push_str(&value.to_string());
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_single_line() {
        let mut r = Report::new("fanout");
        r.set("serializer", "json")
            .set("subscribers", 1000)
            .set_f64("deliveries_per_sec", 3_123_456.789, 1)
            .set_f64("nan", f64::NAN, 1)
            .set("subscribers", 999);
        let line = r.to_json_line();
        assert_eq!(
            line,
            r#"{"scenario":"fanout","serializer":"json","subscribers":999,"deliveries_per_sec":3123456.8,"nan":null}"#
        );
        assert!(!line.contains('\n'));
        let parsed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["subscribers"], 999);
        assert_eq!(r.get("serializer"), Some(&Json::from("json")));
    }
}
