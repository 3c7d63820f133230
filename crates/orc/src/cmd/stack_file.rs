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
    })
}

fn notes(spec: &StackSpec) {
    for n in orc_spec::not_enforced(spec) {
        eprintln!("note: {n}");
    }
}
