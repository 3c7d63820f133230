//! Secrets and configs (`orc secret|config create/ls/inspect/update/rm`, and a
//! stack's `[secrets.NAME]` / `[configs.NAME]` at deploy): every value is sealed here,
//! on the manager that receives it, before anything is proposed, so only ciphertext
//! reaches Raft. Nothing here logs or returns a secret's value; a config's value is
//! returned only by `config inspect --value`.

use super::Ops;
use crate::cluster::seal::{self, value_aad};
use crate::cluster::Cluster;
use crate::util::{now_ms, random_id};
use crate::DaemonError;
use orc_api::{StackValue, ValueRow};
use orc_model::{
    ClearValue, ClusterState, Command, PutMode, SealedRevision, StoredValue, ValueKind,
};
use orc_spec::{SecretSource, StackSpec};
use serde_json::{json, Value};

/// "secret" or "config" as the API spells them.
pub fn kind(s: &str) -> Result<ValueKind, DaemonError> {
    match s {
        "secret" => Ok(ValueKind::Secret),
        "config" => Ok(ValueKind::Config),
        other => Err(DaemonError::Invalid(format!(
            "{other:?} is neither \"secret\" nor \"config\""
        ))),
    }
}

/// A name as `orc secret create` accepts it: letters, digits, `_`, `.`, `-`, at most
/// 63 characters (as in a stack file).
fn check_name(kind: ValueKind, name: &str) -> Result<(), DaemonError> {
    orc_spec::check_secret_name(name)
        .map_err(|why| DaemonError::Invalid(format!("{} {why}", kind.as_str())))
}

/// Refuses a value over its kind's limit (the message names the size, never bytes).
pub fn check_size(kind: ValueKind, what: &str, len: usize) -> Result<(), DaemonError> {
    let max = kind.max_bytes();
    if len as u64 > max {
        return Err(DaemonError::Invalid(format!(
            "{what}: {len} bytes, more than the {} KiB a {} may hold",
            max / 1024,
            kind.as_str()
        )));
    }
    Ok(())
}

/// Seals `value` on this manager into a revision.
fn seal_revision(
    ops: &Ops,
    kind: ValueKind,
    name: &str,
    value: &ClearValue,
) -> Result<SealedRevision, DaemonError> {
    let sealed = seal::seal(
        &ops.ca_keys,
        kind.into(),
        &value_aad(kind, name),
        value.as_bytes(),
    )
    .map_err(|e| DaemonError::Invalid(e.to_string()))?;
    Ok(SealedRevision {
        sealed,
        size: value.len() as u64,
        created_at: now_ms(),
    })
}

/// Opens the current revision of a stored value on this manager.
fn open_current(ops: &Ops, kind: ValueKind, v: &StoredValue) -> Result<ClearValue, DaemonError> {
    let rev = v.revisions.get(&v.current).ok_or_else(|| {
        DaemonError::Invalid(format!(
            "{} {}: its current revision is missing",
            kind.as_str(),
            v.name
        ))
    })?;
    seal::open(
        &ops.ca_keys,
        kind.into(),
        &value_aad(kind, &v.name),
        &rev.sealed,
    )
    .map(ClearValue::new)
    .map_err(|e| DaemonError::Invalid(e.to_string()))
}

fn row(state: &ClusterState, kind: ValueKind, v: &StoredValue) -> ValueRow {
    let used_by = state
        .services
        .values()
        .filter_map(|s| {
            kind.refs(&s.spec)
                .iter()
                .find(|r| r.name == v.name)
                .map(|r| (s.name.clone(), r.revision))
        })
        .collect();
    ValueRow {
        id: v.id.clone(),
        name: v.name.clone(),
        revision: v.current,
        revisions: v.revisions.keys().copied().collect(),
        size: v.revisions.get(&v.current).map_or(0, |r| r.size),
        created_at: v.created_at,
        updated_at: v.updated_at,
        stack: v.stack.clone(),
        used_by,
    }
}

impl Ops {
    /// `orc secret|config create NAME`.
    pub async fn value_create(
        &self,
        kind: ValueKind,
        name: &str,
        value: ClearValue,
        labels: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<ValueRow, DaemonError> {
        self.value_put(kind, name, value, PutMode::Create, labels, None)
            .await
    }

    /// `orc secret|config update NAME`: a new revision; every service using the
    /// value is re-pinned to it and rolls.
    pub async fn value_update(
        &self,
        kind: ValueKind,
        name: &str,
        value: ClearValue,
    ) -> Result<ValueRow, DaemonError> {
        self.value_put(kind, name, value, PutMode::Update, None, None)
            .await
    }

    /// The Docker API's update of a secret or config still at change index `index`:
    /// its labels, and (orc's extension) with `value` a new revision the services
    /// using it roll to; one guarded entry either way.
    pub async fn value_update_at(
        &self,
        kind: ValueKind,
        name: &str,
        index: u64,
        value: Option<ClearValue>,
        labels: std::collections::BTreeMap<String, String>,
    ) -> Result<(), DaemonError> {
        let guard = orc_model::Guard::Value(kind, name.to_string());
        match value {
            Some(v) => {
                self.value_put(kind, name, v, PutMode::Update, Some(labels), Some(index))
                    .await?;
            }
            None => {
                let then = Command::SetValueLabels {
                    kind,
                    name: name.to_string(),
                    labels,
                    at: now_ms(),
                };
                self.cluster()?
                    .propose(super::guarded(guard, Some(index), then))
                    .await?;
            }
        }
        Ok(())
    }

    /// A new value or revision; with `index`, only if the value is still at that
    /// change index.
    async fn value_put(
        &self,
        kind: ValueKind,
        name: &str,
        value: ClearValue,
        mode: PutMode,
        labels: Option<std::collections::BTreeMap<String, String>>,
        index: Option<u64>,
    ) -> Result<ValueRow, DaemonError> {
        check_name(kind, name)?;
        check_size(kind, &format!("{} {name}", kind.as_str()), value.len())?;
        let cluster = self.cluster()?;
        let revision = seal_revision(self, kind, name, &value)?;
        drop(value);
        let put = Command::PutValue {
            kind,
            name: name.to_string(),
            id: random_id(),
            revision,
            mode,
            roll: true,
            stack: None,
            at: now_ms(),
            labels,
        };
        let guard = orc_model::Guard::Value(kind, name.to_string());
        cluster.propose(super::guarded(guard, index, put)).await?;
        let state = cluster.snapshot();
        let v =
            state.values.of(kind).get(name).ok_or_else(|| {
                DaemonError::Invalid(format!("{} {name} vanished", kind.as_str()))
            })?;
        Ok(row(&state, kind, v))
    }

    /// `orc secret|config ls`.
    pub fn value_ls(&self, kind: ValueKind) -> Result<Vec<ValueRow>, DaemonError> {
        let state = self.state()?;
        Ok(state
            .values
            .of(kind)
            .values()
            .map(|v| row(&state, kind, v))
            .collect())
    }

    /// `orc secret|config inspect NAME`: everything but the value; a config's value
    /// (as text if it is UTF-8, else hex) with `with_value`.
    pub fn value_inspect(
        &self,
        kind: ValueKind,
        name: &str,
        with_value: bool,
    ) -> Result<Value, DaemonError> {
        let state = self.state()?;
        let v =
            state.values.of(kind).get(name).ok_or_else(|| {
                DaemonError::Invalid(format!("no {} named {name}", kind.as_str()))
            })?;
        let mut out = serde_json::to_value(row(&state, kind, v))
            .map_err(|e| DaemonError::Invalid(e.to_string()))?;
        if with_value {
            if kind == ValueKind::Secret {
                return Err(DaemonError::Invalid(
                    "a secret's value is never shown: only configs have --value".into(),
                ));
            }
            let clear = open_current(self, kind, v)?;
            out["value"] = match std::str::from_utf8(clear.as_bytes()) {
                Ok(s) => json!(s),
                Err(_) => json!({ "hex": serde_json::to_value(&clear).unwrap_or_default() }),
            };
        }
        Ok(out)
    }

    /// `orc secret|config rm NAME`: refused while a service uses it (naming them).
    pub async fn value_rm(&self, kind: ValueKind, name: &str) -> Result<Value, DaemonError> {
        self.cluster()?
            .propose(Command::RemoveValue {
                kind,
                name: name.to_string(),
            })
            .await?;
        Ok(json!({ "removed": name, "kind": kind.as_str() }))
    }
}

/// Resolves a stack's secrets and configs before its deploy: each service reference
/// gets the value's cluster name (its revision is pinned when the deploy is applied);
/// values from files that are new or changed are sealed here and returned as
/// `PutValue` commands to commit in the same entry, before the `DeployStack`. An
/// unchanged file adds nothing. Errors name the stack's field.
pub fn resolve_stack(
    ops: &Ops,
    cluster: &Cluster,
    stack: &mut StackSpec,
    values: Vec<StackValue>,
) -> Result<Vec<Command>, DaemonError> {
    let state = cluster.snapshot();
    let mut cmds = Vec::new();
    let mut names: [std::collections::BTreeMap<String, String>; 2] = Default::default();
    for (i, kind) in [ValueKind::Secret, ValueKind::Config]
        .into_iter()
        .enumerate()
    {
        let (decls, table) = match kind {
            ValueKind::Secret => (&stack.secrets, "secrets"),
            ValueKind::Config => (&stack.configs, "configs"),
        };
        for (key, decl) in decls {
            let name = decl.cluster_name(&stack.name, key);
            names[i].insert(key.clone(), name.clone());
            let field = format!("{table}.{key}");
            let existing = state.values.of(kind).get(&name);
            if decl.source == SecretSource::External {
                if existing.is_none() {
                    return Err(DaemonError::Invalid(format!(
                        "{field}.external: {k} {name} does not exist in the cluster \
                         (create it with `orc {k} create {name} FILE`)",
                        k = kind.as_str()
                    )));
                }
                continue;
            }
            let Some(v) = values
                .iter()
                .find(|v| v.kind == kind.as_str() && v.key == *key)
            else {
                return Err(DaemonError::Invalid(format!(
                    "{field}: its value was not sent with the deploy (deploy with the orc CLI, \
                     which reads it from the stack's files)"
                )));
            };
            check_size(kind, &field, v.value.len())?;
            if let Some(e) = existing {
                if open_current(ops, kind, e).ok().as_ref() == Some(&v.value) {
                    continue;
                }
            }
            cmds.push(Command::PutValue {
                kind,
                name: name.clone(),
                id: random_id(),
                revision: seal_revision(ops, kind, &name, &v.value)?,
                mode: PutMode::Upsert,
                roll: false,
                stack: Some(stack.name.clone()),
                at: now_ms(),
                labels: None,
            });
        }
    }
    for spec in stack.services.values_mut() {
        for (i, refs) in [&mut spec.secrets, &mut spec.configs]
            .into_iter()
            .enumerate()
        {
            for r in refs {
                r.name = names[i]
                    .get(&r.source)
                    .cloned()
                    .unwrap_or_else(|| r.source.clone());
                r.revision = 0;
            }
        }
    }
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names_are_checked_without_showing_values() {
        assert!(check_size(ValueKind::Secret, "s", 500 * 1024).is_ok());
        let e = check_size(ValueKind::Secret, "secrets.db", 500 * 1024 + 1).unwrap_err();
        assert!(e
            .to_string()
            .contains("secrets.db: 512001 bytes, more than the 500 KiB"));
        assert!(check_size(ValueKind::Config, "c", 1000 * 1024).is_ok());
        assert!(check_size(ValueKind::Config, "c", 1000 * 1024 + 1).is_err());
        assert!(check_name(ValueKind::Secret, "db_root.v2").is_ok());
        assert!(check_name(ValueKind::Secret, "a/b").is_err());
        assert!(kind("secret").is_ok() && kind("nope").is_err());
    }
}
