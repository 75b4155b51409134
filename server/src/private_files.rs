//! Files only the server's user may read: the camp's certificate authority key and the directory that holds it,
//! and a camp's credential at HQ.

use anyhow::{Context, Result};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its parents) if absent, and makes it 0700.
pub fn create_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private", dir.display()))
}

/// Writes a new file, 0600 from its creation (never readable by others, not even for a moment), and syncs it.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces `path` whole with a new private file: written 0600 beside it, then renamed over it, so that a reader
/// finds the old file or the new one, never a part.
pub fn replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let staged = path.with_extension("new");
    let _ = std::fs::remove_file(&staged);
    write_new(&staged, bytes)?;
    std::fs::rename(&staged, path).with_context(|| format!("cannot write {}", path.display()))
}
