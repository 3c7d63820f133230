//! The `filters` query parameter: JSON of `{"key":{"value":true}}` (current clients)
//! or `{"key":["value"]}` (older clients, docker-py, Portainer).

use crate::ApiError;
use serde_json::Value;
use std::collections::BTreeMap;

/// Filter values by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(pub BTreeMap<String, Vec<String>>);

impl Filters {
    /// Parses the (already URL-decoded) parameter; only keys in `allowed` may appear
    /// (400 "invalid filter 'KEY'" otherwise, as Docker answers).
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Filters, ApiError> {
        let mut out = BTreeMap::new();
        let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
            return Ok(Filters(out));
        };
        let v: Value =
            serde_json::from_str(raw).map_err(|e| ApiError::bad(format!("invalid filter: {e}")))?;
        let Value::Object(map) = v else {
            return Err(ApiError::bad("invalid filter: not a JSON object"));
        };
        for (k, vals) in map {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad(format!("invalid filter '{k}'")));
            }
            let list: Vec<String> = match vals {
                Value::Object(m) => m
                    .into_iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(v, _)| v)
                    .collect(),
                Value::Array(a) => a
                    .into_iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s),
                        other => Err(ApiError::bad(format!(
                            "invalid filter '{k}': {other} is not a string"
                        ))),
                    })
                    .collect::<Result<_, _>>()?,
                Value::String(s) => vec![s],
                other => {
                    return Err(ApiError::bad(format!(
                        "invalid filter '{k}': {other} is neither a list nor a map"
                    )))
                }
            };
            out.insert(k, list);
        }
        Ok(Filters(out))
    }

    /// The values of `key` (empty: no such filter).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.is_empty())
    }

    /// True when `key` is not filtered on, or `pred` holds for one of its values.
    pub fn any(&self, key: &str, pred: impl Fn(&str) -> bool) -> bool {
        let v = self.get(key);
        v.is_empty() || v.iter().any(|x| pred(x))
    }

    /// The `label` filter: every value (`k` or `k=v`) must match `labels`.
    pub fn labels_match(&self, key: &str, labels: &BTreeMap<String, String>) -> bool {
        self.get(key).iter().all(|f| match f.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
            None => labels.contains_key(f.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_encodings() {
        let a = Filters::parse(Some(r#"{"name":{"web":true,"off":false}}"#), &["name"]).unwrap();
        let b = Filters::parse(Some(r#"{"name":["web"]}"#), &["name"]).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get("name"), ["web".to_string()]);
        assert!(Filters::parse(None, &[]).unwrap().0.is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_json_are_400() {
        let e = Filters::parse(Some(r#"{"colour":["x"]}"#), &["name"]).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "invalid filter 'colour'")
        );
        assert_eq!(
            Filters::parse(Some("{"), &["name"]).unwrap_err().status,
            400
        );
        assert_eq!(
            Filters::parse(Some("[1]"), &["name"]).unwrap_err().status,
            400
        );
    }

    #[test]
    fn labels() {
        let f = Filters::parse(Some(r#"{"label":["a","b=2"]}"#), &["label"]).unwrap();
        let mut l = BTreeMap::new();
        l.insert("a".to_string(), "x".to_string());
        assert!(!f.labels_match("label", &l));
        l.insert("b".to_string(), "2".to_string());
        assert!(f.labels_match("label", &l));
    }
}
