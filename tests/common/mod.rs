//! Helpers shared by the integration tests that run fwdoctor against fake tools and a fake
//! Docker daemon. A test file takes them with `mod common;` (each file uses some of them).
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The system directories fwdoctor falls back to, after a fake tools directory.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A directory of fake tools (root's, as the test runs as root), placed first on PATH.
pub struct Fakes {
    pub dir: tempfile::TempDir,
}

impl Fakes {
    pub fn new() -> Fakes {
        Fakes {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// A shell script `name` running `script`.
    pub fn tool(&self, name: &str, script: &str) -> &Self {
        write_tool(self.dir.path(), name, script);
        self
    }

    /// `PATH` with the fakes first.
    pub fn path_env(&self) -> String {
        format!("{}:{SYSTEM_PATH}", self.dir.path().display())
    }
}

/// An executable shell script `dir/name` running `script`.
pub fn write_tool(dir: &Path, name: &str, script: &str) {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write fake");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A fake dockerd on `dir/docker.sock`, until the test ends: each request's path goes to
/// `answer` with the connection, which writes the whole response (status line included).
pub fn fake_docker<F>(dir: &Path, answer: F) -> PathBuf
where
    F: Fn(&str, &mut UnixStream) + Copy + Send + 'static,
{
    let path = dir.join("docker.sock");
    let listener = UnixListener::bind(&path).expect("bind");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            std::thread::spawn(move || {
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&req);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                answer(&path, &mut conn);
            });
        }
    });
    path
}

/// Every fixture directory (`fixtures/GROUP/NAME/`) holding one of `files`, sorted.
pub fn fixture_dirs_with(files: &[&str]) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut out = Vec::new();
    for group in std::fs::read_dir(&root).expect("fixtures/ exists") {
        let group = group.expect("readable").path();
        if !group.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&group).expect("readable") {
            let f = f.expect("readable").path();
            if files.iter().any(|name| f.join(name).exists()) {
                out.push(f);
            }
        }
    }
    out.sort();
    out
}
