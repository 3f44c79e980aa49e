//! One writer per output: an exclusive advisory lock on what the sensor
//! writes (the JSON Lines output file, the spool directory).
//!
//! Two sensors writing one spool would replay each other's batches
//! (duplicate rows) and delete batches the other still indexes; two writing
//! one JSON Lines file would interleave partial lines. Both are refused at
//! start with the holder's process id when the kernel tells it.
//!
//! The lock is `flock` (through nix; std's `File::try_lock` needs Rust 1.89,
//! past the MSRV): the kernel drops it when the
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

/// Why a lock was not taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds it: refuse to start.
    #[error(transparent)]
    InUse(#[from] InUse),
    /// Locking failed for another reason than the file system not
    /// supporting it: refuse to start rather than run unprotected.
    #[error("cannot lock {}: {source}", path.display())]
    Failed {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Errors that mean the file system has no `flock` (or, over NFS, none on
/// this kind of descriptor): the caller goes on without the lock.
fn unsupported(errno: Errno) -> bool {
    matches!(errno, Errno::ENOLCK | Errno::EOPNOTSUPP | Errno::ENOSYS)
}

/// Take the exclusive lock on `file` (opened from `path`) or say who has it.
/// `what` names the thing in the error ("this spool directory").
pub fn lock_exclusive(
    file: File,
    path: &Path,
    what: &'static str,
) -> Result<LockedFile, LockError> {
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => Ok(LockedFile(Inner::Locked(locked))),
        Err((file, Errno::EWOULDBLOCK)) => Err(LockError::InUse(InUse {
            path: path.to_path_buf(),
            what,
            holder: holder_pid(&file),
        })),
        Err((file, errno)) if unsupported(errno) => {
            tracing::warn!(
                path = %path.display(),
                error = %io::Error::from(errno),
                "cannot lock {what}: going on without the lock"
            );
            Ok(LockedFile(Inner::Unlocked(file)))
        }
        Err((_, errno)) => Err(LockError::Failed {
            path: path.to_path_buf(),
            source: errno.into(),
        }),
    }
}

/// Take the exclusive lock of directory `dir`: on the directory itself,
/// which needs no file in it (nothing to create, nothing a user could
/// replace by a symlink or a FIFO, no owner or mode to get wrong). Where
/// the file system refuses a lock on a directory (NFS emulates `flock`
/// with a POSIX lock, which needs a descriptor open for writing), on the
/// regular file `lock_file` in it instead, opened read-write without
/// following a symlink or blocking on a FIFO. Two sensors on one file
/// system take the same one.
pub fn lock_dir(dir: &Path, lock_file: &str, what: &'static str) -> Result<LockedFile, LockError> {
    let failed = |path: &Path, source: io::Error| LockError::Failed {
        path: path.to_path_buf(),
        source,
    };
    let handle = File::open(dir).map_err(|e| failed(dir, e))?;
    match Flock::lock(handle, FlockArg::LockExclusiveNonblock) {
        Ok(locked) => return Ok(LockedFile(Inner::Locked(locked))),
        Err((handle, Errno::EWOULDBLOCK)) => {
            return Err(LockError::InUse(InUse {
                path: dir.to_path_buf(),
                what,
                holder: holder_pid(&handle),
            }))
        }
        Err((_, errno)) if errno == Errno::EBADF || unsupported(errno) => {}
        Err((_, errno)) => return Err(failed(dir, errno.into())),
    }
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(lock_file);
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc_flags())
        .open(&path)
        .map_err(|e| failed(&path, e))?;
    if !file.metadata().map_err(|e| failed(&path, e))?.is_file() {
        return Err(failed(
            &path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"),
        ));
    }
    lock_exclusive(file, &path, what)
}

/// `O_NOFOLLOW | O_NONBLOCK` for the lock file's open.
fn libc_flags() -> i32 {
    (nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK).bits()
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
        let LockError::InUse(e) = &err else {
            panic!("{err}");
        };
        assert_eq!(e.holder, Some(std::process::id()), "{err}");
        let text = err.to_string();
        assert!(text.contains("in use by another process"), "{text}");
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        lock_exclusive(second(), &path, "this output").unwrap();
    }

    /// A lock that fails for another reason than missing support (here
    /// EBADF, as NFS answers a lock on a read-only descriptor) refuses the
    /// start instead of letting a second writer in unlocked.
    #[test]
    fn a_lock_failing_otherwise_than_unsupported_is_an_error() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        std::fs::write(&path, b"").unwrap();
        let opath = File::options()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_PATH.bits())
            .open(&path)
            .unwrap();
        let err = lock_exclusive(opath, &path, "this output").unwrap_err();
        assert!(matches!(err, LockError::Failed { .. }), "{err}");
    }

    /// The spool directory's lock is on the directory: a second sensor is
    /// refused whatever sits in it under the fallback lock file's name (a
    /// symlink to a file of root's, a FIFO), and nothing there is opened.
    #[test]
    fn a_directory_lock_ignores_what_the_lock_file_name_holds() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"x").unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        std::os::unix::fs::symlink(&victim, spool.join("spool.lock")).unwrap();
        let first = lock_dir(&spool, "spool.lock", "this spool directory").unwrap();
        assert!(matches!(first.0, Inner::Locked(_)));
        // The symlink's target was not locked: another process could take it.
        let target = lock_exclusive(File::open(&victim).unwrap(), &victim, "x").unwrap();
        drop(target);
        let err = lock_dir(&spool, "spool.lock", "this spool directory").unwrap_err();
        let LockError::InUse(e) = &err else {
            panic!("{err}");
        };
        assert_eq!(e.holder, Some(std::process::id()), "{err}");
        drop(first);
        std::fs::remove_file(spool.join("spool.lock")).unwrap();
        assert!(nix::unistd::mkfifo(
            &spool.join("spool.lock"),
            nix::sys::stat::Mode::from_bits_truncate(0o600)
        )
        .is_ok());
        lock_dir(&spool, "spool.lock", "this spool directory").unwrap();
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
