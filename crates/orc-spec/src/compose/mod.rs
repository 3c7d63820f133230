//! Compose files (`docker-compose.yml`) → the same normalised [`StackSpec`] as
//! stack.toml.
//!
//! The pipeline: each file is parsed as YAML 1.2 ([`yaml`]: anchors, aliases and `<<`
//! merge keys resolved, duplicate keys refused), its `x-*` extensions dropped, every
//! string interpolated ([`interp`]: `$VAR`, `${VAR:-d}`, `${VAR:?err}`, `$$`, …) from
//! the [`Environment`] (process, `--env-file` or `.env`), the plain scalars typed
//! by the core schema; the files are merged in order ([`merge`]); the result is
//! converted key by key into stack.toml ([`convert`], one line per key or element,
//! each line remembering its compose origin), and that text is validated by the
//! stack.toml parser itself. So both formats can express exactly the same stacks, and
//! `orc stack convert` prints the very text that was validated. Every problem is a
//! [`Diagnostic`] at the compose file's line and column, named by its compose path.

mod convert;
mod emit;
mod env;
mod interp;
mod merge;
mod yaml;

pub use env::{DotenvError, EnvSource, EnvValue, Environment};

use crate::error::Diagnostic;
use crate::{parse_stack, SpecError, StackSpec};
use emit::Toml;
use std::path::{Path, PathBuf};
use yaml::{Pos, YNode, Y};

/// One compose file's name (as the user gave it) and text.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    /// The file as named on the command line (used in messages).
    pub name: String,
    /// Its content.
    pub text: String,
}

/// What a compose load needs besides the files.
pub struct ComposeInput<'a> {
    /// The files, merged in order (the first is the base).
    pub files: Vec<ComposeFile>,
    /// Variables for interpolation.
    pub env: &'a Environment,
    /// Relative paths (binds, env_file, secret files) are resolved against it: the
    /// first file's directory.
    pub project_dir: &'a str,
    /// The stack name from the command line; wins over the file's `name:`.
    pub name: Option<&'a str>,
    /// The name if neither the command line nor the file gives one.
    pub default_name: &'a str,
    /// Selected profiles: services with `profiles:` run only if one is selected.
    pub profiles: &'a [String],
    /// Reads a file named by the compose file (`env_file`).
    pub read_file: &'a mut dyn FnMut(&str) -> Result<String, String>,
}

/// A variable interpolation looked up, and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariableUse {
    /// The variable.
    pub name: String,
    /// Where it was used: file, line, column.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Where its value came from; None = not set.
    pub source: Option<EnvSource>,
}

/// A loaded compose stack.
#[derive(Debug, Clone)]
pub struct Compose {
    /// The normalised stack, as stack.toml would give it.
    pub spec: StackSpec,
    /// The equivalent stack.toml (with a comment for each dropped key).
    pub toml: String,
    /// Keys dropped or changed, each at FILE:LINE.
    pub warnings: Vec<Diagnostic>,
    /// Every variable interpolated, with where its value came from.
    pub variables: Vec<VariableUse>,
}

/// Whether a stack file is a compose file: `.yml`/`.yaml`, or (any other name but
/// `.toml`) content that is not TOML.
pub fn is_compose(path: &Path, text: &str) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("yml" | "yaml") => true,
        Some("toml") => false,
        _ => toml_edit::ImDocument::parse(text).is_err(),
    }
}

/// Loads compose files: parse, interpolate, merge, convert and validate.
pub fn parse_compose(input: ComposeInput<'_>) -> Result<Compose, SpecError> {
    let names: Vec<String> = input.files.iter().map(|f| f.name.clone()).collect();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut variables = Vec::new();
    let mut docs = Vec::new();
    for (i, f) in input.files.iter().enumerate() {
        match yaml::parse(&f.text, i) {
            Ok(mut doc) => {
                if !matches!(doc.v, Y::Map(_)) {
                    errors.push(diag(
                        &names,
                        doc.pos,
                        "(document)",
                        "a compose file is a mapping with a `services:` key",
                    ));
                    continue;
                }
                strip_extensions(&mut doc);
                let mut walk = Interp {
                    env: input.env,
                    names: &names,
                    errors: &mut errors,
                    warnings: &mut warnings,
                    variables: &mut variables,
                };
                walk.node(&mut doc, "");
                yaml::resolve(&mut doc);
                docs.push(doc);
            }
            Err(e) => errors.push(diag(&names, e.pos, "(document)", e.message)),
        }
    }
    if !errors.is_empty() {
        return Err(SpecError::Invalid(errors));
    }
    let mut docs = docs.into_iter();
    let Some(mut root) = docs.next() else {
        return Err(SpecError::Invalid(vec![diag(
            &names,
            Pos::default(),
            "(document)",
            "no compose file given",
        )]));
    };
    for doc in docs {
        merge::merge_documents(&mut root, doc);
    }

    let mut toml = Toml::default();
    toml.comment(&format!(
        "stack.toml converted by orc from {}",
        names.join(", ")
    ));
    let mut ctx = convert::Ctx {
        files: &names,
        project_dir: input.project_dir,
        env: input.env,
        read_file: input.read_file,
        profiles: input.profiles,
        errors: Vec::new(),
        warnings,
    };
    convert::convert(&mut ctx, &root, &mut toml);
    let (mut errors, mut warnings) = (ctx.errors, ctx.warnings);
    sort(&mut warnings);
    if !errors.is_empty() {
        sort(&mut errors);
        return Err(SpecError::Invalid(errors));
    }
    let text = toml.text();
    let file = format!("{}/(converted compose)", input.project_dir);
    match parse_stack(&text, &file, input.name, input.default_name) {
        Ok(spec) => Ok(Compose {
            spec,
            toml: text,
            warnings,
            variables,
        }),
        Err(SpecError::Invalid(diags)) => {
            let mut mapped: Vec<Diagnostic> = diags
                .into_iter()
                .map(|d| map_back(&names, &toml, d))
                .collect();
            sort(&mut mapped);
            mapped.dedup();
            Err(SpecError::Invalid(mapped))
        }
        Err(e) => Err(e),
    }
}

/// Reads compose files from disk and loads them. `env_files` replace the `.env`
/// beside the first file; the process environment `process_env` wins over both.
pub fn load_compose(
    paths: &[PathBuf],
    env_files: &[PathBuf],
    name: Option<&str>,
    profiles: &[String],
    process_env: Vec<(String, String)>,
) -> Result<Compose, SpecError> {
    let mut files = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|source| SpecError::Io {
            file: name.clone(),
            source,
        })?;
        files.push(ComposeFile { name, text });
    }
    let first = paths.first().cloned().unwrap_or_default();
    let dir = first
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let project_dir = dir.display().to_string();
    let mut env = Environment::from_process(process_env);
    let dotenv = dir.join(".env");
    let env_paths: Vec<PathBuf> = if env_files.is_empty() {
        if dotenv.is_file() {
            vec![dotenv]
        } else {
            Vec::new()
        }
    } else {
        env_files.to_vec()
    };
    for p in &env_paths {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|source| SpecError::Io {
            file: name.clone(),
            source,
        })?;
        env.add_file(&name, &text).map_err(|e| {
            SpecError::Invalid(vec![Diagnostic {
                file: name.clone(),
                line: e.line,
                column: 1,
                field: "(env file)".into(),
                message: e.message,
            }])
        })?;
    }
    let default_name = default_stack_name(&dir);
    let mut read = |p: &str| std::fs::read_to_string(p).map_err(|e| e.to_string());
    parse_compose(ComposeInput {
        files,
        env: &env,
        project_dir: &project_dir,
        name,
        default_name: &default_name,
        profiles,
        read_file: &mut read,
    })
}

/// Compose's default project name: the directory's name, lowercased, with what a
/// stack name can't hold replaced by `-`.
pub fn default_stack_name(dir: &Path) -> String {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mapped: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = mapped.trim_matches('-').to_string();
    if trimmed.is_empty() {
        "stack".into()
    } else {
        trimmed
    }
}

fn diag(names: &[String], pos: Pos, field: &str, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: names.get(pos.file).cloned().unwrap_or_default(),
        line: pos.line,
        column: pos.col,
        field: field.to_string(),
        message: message.into(),
    }
}

fn sort(d: &mut [Diagnostic]) {
    d.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
}

/// A stack.toml diagnostic of the converted text, told at the compose line it came
/// from and by its compose path.
fn map_back(names: &[String], toml: &Toml, d: Diagnostic) -> Diagnostic {
    let index = d
        .line
        .saturating_sub(1)
        .min(toml.lines.len().saturating_sub(1));
    let line = toml.lines[..=index]
        .iter()
        .rev()
        .find(|l| l.origin.is_some());
    let Some(line) = line else {
        return Diagnostic {
            file: names.first().cloned().unwrap_or_default(),
            line: 1,
            column: 1,
            ..d
        };
    };
    let origin = line.origin.clone().unwrap_or_default();
    let field = match d.field.strip_prefix(&line.toml_path) {
        Some(rest) if !line.toml_path.is_empty() => format!("{}{rest}", origin.path),
        _ if origin.path.is_empty() => d.field.clone(),
        _ => origin.path.clone(),
    };
    diag(names, origin.pos, &field, d.message)
}

/// Drops `x-*` keys at the top level and in each service, network, volume, secret
/// and config definition.
fn strip_extensions(doc: &mut YNode) {
    let Y::Map(entries) = &mut doc.v else { return };
    entries.retain(|(k, _)| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    for (_, section) in entries.iter_mut() {
        let Y::Map(defs) = &mut section.v else {
            continue;
        };
        for (_, def) in defs.iter_mut() {
            if let Y::Map(keys) = &mut def.v {
                keys.retain(|(k, _)| !k.as_str().is_some_and(|k| k.starts_with("x-")));
            }
        }
    }
}

/// Interpolates every string value (not keys) of a document.
struct Interp<'a> {
    env: &'a Environment,
    names: &'a [String],
    errors: &'a mut Vec<Diagnostic>,
    warnings: &'a mut Vec<Diagnostic>,
    variables: &'a mut Vec<VariableUse>,
}

impl Interp<'_> {
    fn node(&mut self, n: &mut YNode, path: &str) {
        match &mut n.v {
            Y::Map(entries) => {
                for (k, v) in entries.iter_mut() {
                    let key = k.as_str().unwrap_or_default();
                    let p = if path.is_empty() {
                        key.to_string()
                    } else {
                        format!("{path}.{key}")
                    };
                    self.node(v, &p);
                }
            }
            Y::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.node(item, &format!("{path}[{i}]"));
                }
            }
            Y::Str(s) if s.contains('$') => {
                let mut used: Vec<String> = Vec::new();
                let env = self.env;
                let mut lookup = |name: &str| {
                    used.push(name.to_string());
                    env.get(name).map(|v| v.value.clone())
                };
                let result = interp::interpolate(s, &mut lookup);
                for name in used {
                    self.variables.push(VariableUse {
                        source: env.get(&name).map(|v| v.source.clone()),
                        name,
                        file: self.names.get(n.pos.file).cloned().unwrap_or_default(),
                        line: n.pos.line,
                        column: n.pos.col,
                    });
                }
                match result {
                    Ok(out) => {
                        for name in &out.unset {
                            self.warnings.push(diag(
                                self.names,
                                n.pos,
                                path,
                                format!(
                                    "variable {name} is not set; it is replaced by an empty string"
                                ),
                            ));
                        }
                        *s = out.value;
                    }
                    Err(why) => self.errors.push(diag(self.names, n.pos, path, why)),
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
