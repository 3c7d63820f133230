//! Docker's secret and config create/update bodies: `{ Name, Labels, Data }` (`Data`
//! base64); `Driver` and `Templating` are refused by name.

use crate::ApiError;
use base64::Engine;
use orc_spec::ClearValue;
use serde_json::Value;
use std::collections::BTreeMap;

/// A create or update body, read.
#[derive(Debug, PartialEq, Eq)]
pub struct ValueBody {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `None`: no `Data` (an update that changes labels only).
    pub data: Option<ClearValue>,
}

/// Reads a `/secrets/create` (`kind` "secrets") or `/configs/create` body, or the
/// spec of an update.
pub fn value_body(kind: &str, body: Value) -> Result<ValueBody, ApiError> {
    let Value::Object(mut map) = body else {
        return Err(ApiError::bad(format!(
            "the {kind} spec must be a JSON object"
        )));
    };
    let mut take = |k: &str| {
        let key = map.keys().find(|x| x.eq_ignore_ascii_case(k)).cloned();
        key.and_then(|k| map.remove(&k)).filter(|v| !v.is_null())
    };
    let name = match take("Name") {
        Some(Value::String(s)) if !s.is_empty() => s,
        _ => return Err(ApiError::bad("Name: a name is needed")),
    };
    let mut labels = BTreeMap::new();
    if let Some(Value::Object(l)) = take("Labels") {
        for (k, v) in l {
            match v {
                Value::String(s) => {
                    labels.insert(k, s);
                }
                _ => return Err(ApiError::bad(format!("Labels.{k}: expected a string"))),
            }
        }
    }
    let data = match take("Data") {
        None => None,
        Some(Value::String(s)) => Some(ClearValue::new(
            base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|_| ApiError::bad("Data: not base64"))?,
        )),
        Some(_) => return Err(ApiError::bad("Data: expected a base64 string")),
    };
    if let Some((k, _)) = map.iter().find(|(_, v)| !v.is_null()) {
        return Err(ApiError::bad(format!(
            "orc does not support the {kind} field {k}; leave it out"
        )));
    }
    Ok(ValueBody { name, labels, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::STACK_LABEL;
    use serde_json::json;

    #[test]
    fn bodies_are_read_and_other_fields_refused_without_the_value() {
        let b = value_body(
            "secrets",
            json!({"Name": "pw", "Data": "czNjcmV0", "Labels": {STACK_LABEL: "shop"}}),
        )
        .unwrap();
        assert_eq!(b.name, "pw");
        assert_eq!(b.labels[STACK_LABEL], "shop");
        assert_eq!(b.data.unwrap().as_bytes(), b"s3cret");
        let e = value_body(
            "secrets",
            json!({"Name": "pw", "Driver": {"Name": "vault"}}),
        )
        .unwrap_err();
        assert!(e.message.contains("Driver"), "{}", e.message);
        assert!(value_body("secrets", json!({"Data": "eA=="})).is_err());
        let e = value_body("configs", json!({"Name": "c", "Data": "not base64!"})).unwrap_err();
        assert!(!e.message.contains("not base64!"));
        assert_eq!(
            value_body("configs", json!({"Name": "c"})).unwrap().data,
            None
        );
    }
}
