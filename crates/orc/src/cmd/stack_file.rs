//! Reading the stack a command names: a stack.toml, or compose files (`-c`, or a
//! FILE that is YAML). Compose warnings, variable sources (`-v`) and the keys parsed
//! but not enforced yet go to stderr.

use crate::cli::StackSource;
use anyhow::bail;
use orc_spec::compose::{is_compose, load_compose, EnvSource};
use orc_spec::StackSpec;
use std::path::PathBuf;

/// A stack read from its files.
pub struct Loaded {
    pub spec: StackSpec,
    /// The stack.toml equivalent, for compose files.
    pub toml: Option<String>,
    /// The file(s) as named, for messages.
    pub shown: String,
    /// The first file (where the stack's secrets and configs are declared) and
    /// whether it is a compose file: to point at a field in messages.
    pub first: PathBuf,
    pub yaml: bool,
}

impl Loaded {
    /// `FILE:LINE:COL: FIELD: message` for a `FIELD: message` about this stack (a
    /// field of its secrets or configs); other messages unchanged.
    pub fn locate(&self, message: &str) -> String {
        let Some((field, _)) = message.split_once(": ") else {
            return message.to_string();
        };
        if !(field.starts_with("secrets.") || field.starts_with("configs.")) || field.contains(' ')
        {
            return message.to_string();
        }
        let text = std::fs::read_to_string(&self.first).unwrap_or_default();
        match orc_spec::locate(&text, field, self.yaml) {
            Some((line, col)) => format!("{}:{line}:{col}: {message}", self.first.display()),
            None => format!("{}: {message}", self.first.display()),
        }
    }

    /// The values of the stack's secrets and configs that come from its files, the
    /// environment or inline content (external ones are the cluster's). A file that
    /// can't be read, a value over the limit or an unset variable is an error naming
    /// FILE:LINE:COL and the field; the message never holds a value.
    pub fn read_values(&self) -> anyhow::Result<Vec<orc_api::StackValue>> {
        use orc_spec::{ClearValue, SecretSource};
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (kind, table, decls, max) in [
            (
                "secret",
                "secrets",
                &self.spec.secrets,
                orc_spec::MAX_SECRET_BYTES,
            ),
            (
                "config",
                "configs",
                &self.spec.configs,
                orc_spec::MAX_CONFIG_BYTES,
            ),
        ] {
            for (key, decl) in decls {
                let (field, value) = match &decl.source {
                    SecretSource::External => continue,
                    SecretSource::File(path) => (
                        format!("{table}.{key}.file"),
                        std::fs::metadata(path)
                            .map_err(|e| format!("cannot read {path}: {e}"))
                            .and_then(|m| {
                                if !m.is_file() {
                                    Err(format!("{path} is not a file"))
                                } else if m.len() > max {
                                    Err(format!(
                                        "{path} is {} bytes, more than the {} KiB a {kind} may hold",
                                        m.len(),
                                        max / 1024
                                    ))
                                } else {
                                    std::fs::read(path)
                                        .map_err(|e| format!("cannot read {path}: {e}"))
                                }
                            }),
                    ),
                    SecretSource::Environment(var) => (
                        format!("{table}.{key}.environment"),
                        std::env::var_os(var)
                            .map(|v| v.into_encoded_bytes())
                            .ok_or_else(|| format!("${var} is not set")),
                    ),
                    SecretSource::Content(c) => {
                        (format!("{table}.{key}.content"), Ok(c.as_bytes().to_vec()))
                    }
                };
                match value {
                    Ok(v) if v.len() as u64 > max => errors.push(self.locate(&format!(
                        "{field}: {} bytes, more than the {} KiB a {kind} may hold",
                        v.len(),
                        max / 1024
                    ))),
                    Ok(v) => out.push(orc_api::StackValue {
                        kind: kind.into(),
                        key: key.clone(),
                        value: ClearValue::new(v),
                    }),
                    Err(why) => errors.push(self.locate(&format!("{field}: {why}"))),
                }
            }
        }
        if !errors.is_empty() {
            anyhow::bail!("{}", errors.join("\n"));
        }
        Ok(out)
    }
}

pub fn load(src: &StackSource) -> anyhow::Result<Loaded> {
    let (files, name): (Vec<PathBuf>, Option<String>) = if src.compose_file.is_empty() {
        let Some(file) = &src.target else {
            bail!("name a stack file, or compose files with -c FILE");
        };
        (vec![PathBuf::from(file)], src.name.clone())
    } else {
        if src.target.is_some() && src.name.is_some() {
            bail!("give the stack's name once: as NAME or with --name");
        }
        (
            src.compose_file.clone(),
            src.target.clone().or_else(|| src.name.clone()),
        )
    };
    let shown = files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let compose = !src.compose_file.is_empty() || {
        let text = std::fs::read_to_string(&files[0]).unwrap_or_default();
        is_compose(&files[0], &text)
    };
    if !compose {
        if !src.env_file.is_empty() || !src.profile.is_empty() {
            bail!("--env-file and --profile apply to compose files only");
        }
        let spec =
            orc_spec::load_stack(&files[0], name.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
        notes(&spec);
        return Ok(Loaded {
            spec,
            toml: None,
            shown,
            first: files[0].clone(),
            yaml: false,
        });
    }
    let loaded = load_compose(
        &files,
        &src.env_file,
        name.as_deref(),
        &src.profile,
        std::env::vars().collect(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if src.verbose {
        for v in &loaded.variables {
            let from = match &v.source {
                Some(EnvSource::Process) => "the environment".to_string(),
                Some(s @ EnvSource::File { .. }) => s.to_string(),
                None => "nowhere: not set (its default, or empty)".to_string(),
            };
            eprintln!(
                "{}:{}:{}: ${} from {from}",
                v.file, v.line, v.column, v.name
            );
        }
    }
    for w in &loaded.warnings {
        eprintln!("warning: {w}");
    }
    notes(&loaded.spec);
    Ok(Loaded {
        spec: loaded.spec,
        toml: Some(loaded.toml),
        shown,
        first: files[0].clone(),
        yaml: true,
    })
}

fn notes(spec: &StackSpec) {
    for n in orc_spec::not_enforced(spec) {
        eprintln!("note: {n}");
    }
}
