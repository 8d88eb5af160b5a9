//! Finding the system programs some suites drive (Prometheus, chromedriver, HAProxy).

use std::path::PathBuf;

/// `name` on the `PATH`, or in `/usr/sbin` and `/sbin` (where Debian puts daemons such as
/// HAProxy, and which a non-root `PATH` often lacks).
pub fn installed(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
