//! Dropping root: `live` opens its captures and listeners as root, then
//! becomes an unprivileged user before it parses a single packet, so a bug in
//! a parser never runs with root's rights. (Under systemd the unit starts it
//! unprivileged with `CAP_NET_RAW` instead, and nothing here happens.)

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
pub fn hand_over(dir: &Path, target: &Target) -> std::io::Result<()> {
    // Never through a symlink: one the service user planted in its own
    // directory (`spool/x -> /etc/shadow`) would hand it the target.
    let chown = |p: &Path| {
        nix::unistd::fchownat(
            nix::fcntl::AT_FDCWD,
            p,
            Some(target.uid),
            Some(target.gid),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(std::io::Error::from)
    };
    chown(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        chown(&entry.path())?;
        if entry.file_type()?.is_dir() {
            for inner in std::fs::read_dir(entry.path())? {
                chown(&inner?.path())?;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;
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
}
