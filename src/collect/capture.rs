//! Read and write capture directories (format `fwdoctor-capture/1`), and single pasted files.

use crate::collect::Evidence;
use std::path::Path;

/// Write `evidence` as a capture directory.
pub fn write(dir: &Path, evidence: &Evidence) -> anyhow::Result<()> {
    let _ = (dir, evidence);
    anyhow::bail!("not implemented")
}

/// Read a capture directory, or a single iptables-save / `iptables -S` file.
pub fn read(path: &Path) -> anyhow::Result<Evidence> {
    let _ = path;
    anyhow::bail!("not implemented")
}
