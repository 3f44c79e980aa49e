//! One writer per output: an exclusive advisory lock on a file the sensor
//! writes (the JSON Lines output, the spool directory's lock file).
//!
//! Two sensors writing one spool would replay each other's batches
//! (duplicate rows) and delete batches the other still indexes; two writing
//! one JSON Lines file would interleave partial lines. Both are refused at
//! start with the holder's process id when the kernel tells it.
//!
//! The lock is `flock` (std [`File::try_lock`]): the kernel drops it when the
//! process dies, so a sensor killed with SIGKILL leaves nothing stale for
//! its restart; readers (`tail -f`, a loader) do not take it and are not
//! affected.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Another process holds the lock: refuse to start.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is in use by another process{}: only one sensor may write {what} \
     (is another specula running with the same configuration?)",
    path.display(),
    holder.map(|p| format!(" (pid {p})")).unwrap_or_default()
)]
pub struct InUse {
    pub path: PathBuf,
    pub what: &'static str,
    /// The holder's process id, when `/proc/locks` tells it.
    pub holder: Option<u32>,
}

/// A file with its exclusive lock, held until it is dropped. Where the
/// file system does not support the lock (some network file systems) the
/// file is used without it, with a warning.
#[derive(Debug)]
pub struct LockedFile(Inner);

#[derive(Debug)]
enum Inner {
    Locked(Flock<File>),
    Unlocked(File),
}

impl LockedFile {
    pub fn file(&self) -> &File {
        match &self.0 {
            Inner::Locked(f) => f,
            Inner::Unlocked(f) => f,
        }
    }

    pub fn file_mut(&mut self) -> &mut File {
        match &mut self.0 {
            Inner::Locked(f) => f,
            Inner::Unlocked(f) => f,
        }
    }
}

impl Write for LockedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file_mut().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file_mut().flush()
    }
}

/// Take the exclusive lock on `file` (opened from `path`) or say who has it.
/// `what` names the thing in the error ("this spool directory").
pub fn lock_exclusive(file: File, path: &Path, what: &'static str) -> Result<LockedFile, InUse> {
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(LockedFile(Inner::Locked(locked))),
        Err((file, Errno::EWOULDBLOCK)) => Err(InUse {
            path: path.to_path_buf(),
            what,
            holder: holder_pid(&file),
        }),
        Err((file, errno)) => {
            tracing::warn!(
                path = %path.display(),
                error = %io::Error::from(errno),
                "cannot lock {what}: going on without the lock"
            );
            Ok(LockedFile(Inner::Unlocked(file)))
        }
    }
}

/// The process holding a `flock` on `file`, from `/proc/locks` (Linux): its
/// lines read `N: FLOCK ADVISORY WRITE <pid> <major>:<minor>:<inode> ...`
/// with major and minor in hex. `None` where that is not available.
///
/// The file is read a few times: it is listed in chunks from a list that
/// other processes change meanwhile, so one reading can miss a line.
fn holder_pid(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    (0..5).find_map(|_| {
        let locks = std::fs::read_to_string("/proc/locks").ok()?;
        holder_in(&locks, meta.dev(), meta.ino())
    })
}

fn holder_in(locks: &str, dev: u64, ino: u64) -> Option<u32> {
    // glibc's gnu_dev_major / gnu_dev_minor.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    locks.lines().find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        if fields.next()? != "FLOCK" {
            return None;
        }
        let mut rest = fields.skip(2);
        let pid = rest.next()?;
        let mut id = rest.next()?.split(':');
        let same = u64::from_str_radix(id.next()?, 16).ok()? == major
            && u64::from_str_radix(id.next()?, 16).ok()? == minor
            && id.next()?.parse::<u64>().ok()? == ino;
        // Open file description locks show pid -1: no holder to name.
        same.then(|| pid.parse().ok()).flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_with_our_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let first = lock_exclusive(File::create(&path).unwrap(), &path, "this output").unwrap();
        assert!(matches!(first.0, Inner::Locked(_)));
        // flock locks belong to the open file: a second open conflicts even
        // in the same process, as another sensor's would.
        let second = || File::options().append(true).open(&path).unwrap();
        let err = lock_exclusive(second(), &path, "this output").unwrap_err();
        assert_eq!(err.holder, Some(std::process::id()), "{err}");
        let text = err.to_string();
        assert!(text.contains("in use by another process"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        lock_exclusive(second(), &path, "this output").unwrap();
    }

    #[test]
    fn proc_locks_lines_are_matched_on_device_and_inode() {
        // Device 0x08:0x01 as st_dev encodes it (major 8, minor 1).
        let dev = (8 << 8) | 1;
        let locks = "1: POSIX  ADVISORY  WRITE 11 08:01:77 0 EOF\n\
                     2: FLOCK  ADVISORY  WRITE 22 08:02:77 0 EOF\n\
                     3: FLOCK  ADVISORY  WRITE 33 08:01:78 0 EOF\n\
                     4: FLOCK  ADVISORY  WRITE 44 08:01:77 0 EOF\n";
        assert_eq!(holder_in(locks, dev, 77), Some(44));
        assert_eq!(holder_in(locks, dev, 79), None);
        assert_eq!(
            holder_in("5: FLOCK  ADVISORY  WRITE -1 08:01:77 0 EOF\n", dev, 77),
            None
        );
    }
}
