//! One writer of validated changes a data directory. Validation at ingress decides each push against the records
//! as they stand, under a lock held in memory (sync_core::serve); two processes validating into one directory at
//! once could each accept a change the other makes invalid. So `serve`, `demo`, `import-bundle` and `rebuild`
//! take this lock, a file lock the system lets go when the process ends, however it ends.

use anyhow::{Context, Result, bail};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Held while a process may append to the data directory's log.
#[derive(Debug)]
pub struct DataLock {
    _file: File,
}

/// The lock file, beside the database.
const LOCK_FILE: &str = "writer.lock";

impl DataLock {
    /// Takes the data directory's lock for `what` (a command, named in the message another process gets), or says
    /// which process holds it and what to do.
    pub fn take(data_dir: &Path, what: &str) -> Result<DataLock> {
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                bail!(
                    "{} is in use by another fieldsync-server ({}): {what} validates and appends changes, which one \
                     process at a time may do; stop that one (Ctrl-C), then run this again. Nothing was changed.",
                    data_dir.display(),
                    if holder.is_empty() { "unknown process" } else { holder }
                );
            }
            Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
        // Who holds it, for the message above; the lock, not this text, is what excludes.
        let _ = file.set_len(0);
        let _ = std::io::Write::write_all(&mut &file, format!("{what}, pid {}", std::process::id()).as_bytes());
        Ok(DataLock { _file: file })
    }
}
