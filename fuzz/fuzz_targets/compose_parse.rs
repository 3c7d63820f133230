//! Any bytes as a compose file: parse_compose answers Ok or a list of diagnostics,
//! never panics, and stays within memory (aliases are capped).
#![no_main]

use libfuzzer_sys::fuzz_target;
use orc_spec::compose::{parse_compose, ComposeFile, ComposeInput, Environment};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Environment::from_process([("A".to_string(), "1".to_string())]);
    let mut read = |_: &str| Err("no files".to_string());
    let _ = parse_compose(ComposeInput {
        files: vec![ComposeFile {
            name: "fuzz.yml".into(),
            text: text.to_string(),
        }],
        env: &env,
        project_dir: "/p",
        name: None,
        default_name: "p",
        profiles: &[],
        read_file: &mut read,
    });
});
