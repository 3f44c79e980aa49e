//! Dropping privileges: `live` opens its captures and listeners with the
//! rights it was given, then gives them up before it parses a single packet,
//! so a bug in a parser never runs with them.
//!
//! - Started as root: it becomes an unprivileged user ([`drop_to`]); leaving
//!   uid 0 clears every capability of every thread.
//! - Started unprivileged with capabilities (systemd's
//!   `AmbientCapabilities=CAP_NET_RAW`): once the captures are open it clears
//!   its capability sets ([`drop_capabilities`]), so a parser bug cannot open
//!   a raw socket to forge or inject packets.

use std::path::Path;

use nix::unistd::{Gid, Uid, User};

/// The user tried first, then the fallback.
pub const DEFAULT_USER: &str = "specula";
const FALLBACK_USER: &str = "nobody";

/// Dropping privileges failed; the sensor must not go on as root.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("user '{0}' does not exist (create it, or choose one with --user)")]
    NoSuchUser(String),
    #[error("looking up user '{user}': {source}")]
    Lookup {
        user: String,
        #[source]
        source: nix::Error,
    },
    #[error("{step} for user '{user}': {source}")]
    Change {
        step: &'static str,
        user: String,
        #[source]
        source: nix::Error,
    },
    #[error("still root after switching to '{0}'")]
    StillRoot(String),
    #[error("clearing the {set} capability set: {source}")]
    Capabilities {
        set: &'static str,
        #[source]
        source: caps::errors::CapsError,
    },
}

/// Who the process will run as after [`drop_to`].
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// Whether the process runs as root (and so should drop).
pub fn is_root() -> bool {
    Uid::effective().is_root()
}

/// Resolve the user to drop to: `requested`, or `specula`, else `nobody`.
/// `None` when nothing must change (not root, or `root` asked for).
pub fn target(requested: Option<&str>) -> Result<Option<Target>, PrivilegeError> {
    if !is_root() {
        return Ok(None);
    }
    let lookup = |name: &str| -> Result<Option<Target>, PrivilegeError> {
        match User::from_name(name) {
            Ok(Some(u)) => Ok(Some(Target {
                name: name.to_string(),
                uid: u.uid,
                gid: u.gid,
            })),
            Ok(None) => Ok(None),
            Err(source) => Err(PrivilegeError::Lookup {
                user: name.to_string(),
                source,
            }),
        }
    };
    match requested {
        Some("root") => Ok(None),
        Some(name) => lookup(name)?
            .map(Some)
            .ok_or_else(|| PrivilegeError::NoSuchUser(name.to_string())),
        None => match lookup(DEFAULT_USER)? {
            Some(t) => Ok(Some(t)),
            None => lookup(FALLBACK_USER)?
                .map(Some)
                .ok_or_else(|| PrivilegeError::NoSuchUser(FALLBACK_USER.to_string())),
        },
    }
}

/// Give `dir` (and the files and folders directly in it, such as a spool's
/// dead-letter folder) to `target`, so the sensor can still write there
/// after dropping root.
///
/// Never through a symlink. The service user owns the directory the spool
/// sits in, so it can plant one anywhere below it: `spool/x -> /etc/shadow`,
/// or `spool -> /etc` itself (review round 15). `dir` is opened with
/// `O_NOFOLLOW` (a symlink there is refused) and everything inside is
/// reached through that descriptor, so swapping a name for a link while
/// this runs leads nowhere either.
pub fn hand_over(dir: &Path, target: &Target) -> std::io::Result<()> {
    let top = nix::dir::Dir::open(dir, NO_FOLLOW_DIR, nix::sys::stat::Mode::empty())
        .map_err(|e| not_plain_dir(e, dir))?;
    give(&top, dir, target, 1)
}

/// Fails when `path` is a symlink (a missing path is fine: it is created
/// as a directory). For what root opens in a directory the service user
/// owns; [`hand_over`] checks again, through a descriptor.
pub fn refuse_symlink(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is a symlink; give the directory itself", path.display()),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opening a directory that must not be a symlink.
const NO_FOLLOW_DIR: nix::fcntl::OFlag = nix::fcntl::OFlag::O_RDONLY
    .union(nix::fcntl::OFlag::O_DIRECTORY)
    .union(nix::fcntl::OFlag::O_NOFOLLOW)
    .union(nix::fcntl::OFlag::O_CLOEXEC);

fn not_plain_dir(e: nix::Error, p: &Path) -> std::io::Error {
    let io = std::io::Error::from(e);
    if e == nix::Error::ELOOP || e == nix::Error::ENOTDIR {
        std::io::Error::new(
            io.kind(),
            format!(
                "{} is not a plain directory (a symlink?): {io}",
                p.display()
            ),
        )
    } else {
        io
    }
}

/// Give the open directory `d` and what it holds to `target`, and the
/// contents of its subdirectories `depth` levels down; `path` names `d` in
/// errors.
fn give(d: &nix::dir::Dir, path: &Path, target: &Target, depth: u32) -> std::io::Result<()> {
    use nix::fcntl::AtFlags;
    nix::unistd::fchown(d, Some(target.uid), Some(target.gid))?;
    // `Dir::iter` needs `&mut`: a second handle lists the directory while
    // `d` anchors the `*at` calls.
    let mut list = nix::dir::Dir::from_fd(nix::unistd::dup(d)?)?;
    let mut subdirs = Vec::new();
    for entry in list.iter() {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        nix::unistd::fchownat(
            d,
            name,
            Some(target.uid),
            Some(target.gid),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        if depth > 0 && entry.file_type() == Some(nix::dir::Type::Directory) {
            subdirs.push(name.to_owned());
        }
    }
    for name in subdirs {
        let sub = path.join(String::from_utf8_lossy(name.to_bytes()).as_ref());
        // Swapped for a link since it was listed: refused, not followed.
        let inner = nix::dir::Dir::openat(
            d,
            name.as_c_str(),
            NO_FOLLOW_DIR,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| not_plain_dir(e, &sub))?;
        give(&inner, &sub, target, depth - 1)?;
    }
    Ok(())
}

/// Become `target` for good: supplementary groups, group, then user (the
/// order matters: after `setuid` the others are no longer allowed). glibc
/// applies each change to every thread of the process.
pub fn drop_to(target: &Target) -> Result<(), PrivilegeError> {
    let step = |step: &'static str| {
        move |source| PrivilegeError::Change {
            step,
            user: target.name.clone(),
            source,
        }
    };
    nix::unistd::setgroups(&[target.gid]).map_err(step("setgroups"))?;
    nix::unistd::setgid(target.gid).map_err(step("setgid"))?;
    nix::unistd::setuid(target.uid).map_err(step("setuid"))?;
    if Uid::effective().is_root() || Uid::current().is_root() {
        return Err(PrivilegeError::StillRoot(target.name.clone()));
    }
    Ok(())
}

/// Clear the calling thread's capability sets: ambient, inheritable,
/// effective, permitted (in that order: ambient must stay within the
/// others). Capabilities belong to threads, and a new thread copies its
/// creator's, so this runs on the main thread before any other is spawned.
/// The bounding set stays (lowering it needs CAP_SETPCAP); with an empty
/// permitted set and no-new-privileges it grants nothing.
///
/// Not for a process still running as root: it would lose the rights
/// [`hand_over`] and [`drop_to`] need, and `setuid` in the other threads.
pub fn drop_capabilities() -> Result<(), PrivilegeError> {
    use caps::CapSet;
    for (set, name) in [
        (CapSet::Ambient, "ambient"),
        (CapSet::Inheritable, "inheritable"),
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        caps::clear(None, set)
            .map_err(|source| PrivilegeError::Capabilities { set: name, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread ends with no capability in any set. Run on a
    /// thread of its own: the sets are per thread, so the test runner's
    /// other threads keep theirs.
    #[test]
    fn dropping_capabilities_empties_every_set() {
        use caps::CapSet;
        let sets = [
            CapSet::Ambient,
            CapSet::Inheritable,
            CapSet::Effective,
            CapSet::Permitted,
        ];
        let before_and_after = std::thread::spawn(move || {
            let before = caps::read(None, CapSet::Permitted).unwrap();
            drop_capabilities().unwrap();
            let after: Vec<_> = sets.iter().map(|s| caps::read(None, *s).unwrap()).collect();
            // A thread spawned now copies the emptied sets.
            let child = std::thread::spawn(move || caps::read(None, CapSet::Effective).unwrap())
                .join()
                .unwrap();
            (before, after, child)
        })
        .join()
        .unwrap();
        let (before, after, child) = before_and_after;
        if is_root() {
            assert!(!before.is_empty(), "root starts with capabilities");
        }
        for (set, held) in sets.iter().zip(&after) {
            assert!(held.is_empty(), "{set:?} still holds {held:?}");
        }
        assert!(child.is_empty(), "a new thread inherits {child:?}");
    }
    use std::os::unix::fs::MetadataExt;

    /// Handing a directory over never follows a symlink in it: one the
    /// service user planted (`spool/x -> /etc/shadow`) would otherwise give
    /// it the target at the next start as root.
    #[test]
    fn handing_over_does_not_follow_symlinks() {
        if !is_root() {
            // chown needs root; CI and sessions run as root.
            panic!("this test needs root");
        }
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"secret").unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        std::os::unix::fs::symlink(&victim, spool.join("x")).unwrap();
        std::fs::create_dir(spool.join("dead")).unwrap();
        std::os::unix::fs::symlink(&victim, spool.join("dead").join("y")).unwrap();
        let target = Target {
            name: "nobody".into(),
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
        };
        hand_over(&spool, &target).unwrap();
        assert_eq!(std::fs::metadata(&victim).unwrap().uid(), 0);
        assert_eq!(
            std::fs::symlink_metadata(spool.join("x")).unwrap().uid(),
            65534
        );
        assert_eq!(std::fs::metadata(&spool).unwrap().uid(), 65534);
    }

    /// Review round 15: the spool directory itself may be a symlink planted
    /// by the service user (it owns `/var/lib/specula`, the spool's parent,
    /// per systemd/specula.tmpfiles). `hand_over` chowns the link without
    /// following it, but then lists the directory through the link and
    /// chowns everything in the target: `spool -> /etc` gives the service
    /// user `/etc/shadow` at the next start as root.
    #[test]
    fn review15_hand_over_does_not_follow_a_symlinked_spool_dir() {
        if !is_root() {
            panic!("this test needs root");
        }
        let dir = tempfile::tempdir().unwrap();
        // Stands for /etc: root's, with a root-owned file in it.
        let etc = dir.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        let shadow = etc.join("shadow");
        std::fs::write(&shadow, b"root:secret").unwrap();
        // The state directory the service user owns: its `spool` replaced
        // by a link to /etc.
        let spool = dir.path().join("spool");
        std::os::unix::fs::symlink(&etc, &spool).unwrap();
        let target = Target {
            name: "nobody".into(),
            uid: Uid::from_raw(65534),
            gid: Gid::from_raw(65534),
        };
        // Refusing is fine; handing over what the link points at is not.
        let _ = hand_over(&spool, &target);
        assert_eq!(
            std::fs::metadata(&shadow).unwrap().uid(),
            0,
            "a file behind a symlinked spool directory was given to the service user"
        );
        assert_eq!(std::fs::metadata(&etc).unwrap().uid(), 0);
    }
}
