//! The Python that runs the suites' independent tools (zeep as a SOAP client, lxml for XSD
//! validation): `TESSERA_PYTHON` when set (as `tests/run` does), otherwise the repository's
//! `.venv`, created from PyPI on first use by `tests/tools/venv`, so that plain
//! `cargo test --workspace` works on a fresh clone too.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The repository root (this crate is `testkit/` in it).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The Python interpreter with zeep and lxml. A machine without `python3 -m venv` or without
/// PyPI fails here, loudly and once, with what to do: these tools are what proves our WSDL
/// and envelopes to an independent stack, so a test must not quietly skip them.
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        if let Some(p) = std::env::var_os("TESSERA_PYTHON") {
            return Ok(PathBuf::from(p));
        }
        let script = repo_root().join("tests/tools/venv");
        let out = Command::new(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed (it needs python3 with venv, and PyPI):\n{}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(PathBuf::from(
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        ))
    });
    match found {
        Ok(p) => p.clone(),
        Err(e) => panic!("no Python for the interop tools: {e}"),
    }
}
