//! The service runs with capture capabilities only.
//!
//! `specula live` is started the way `systemd/specula.service` starts it: an
//! unprivileged user (here `nobody`/`nogroup`, no supplementary groups), the
//! ambient and bounding capability sets reduced to CAP_NET_RAW, and
//! no-new-privileges, using util-linux's `setpriv` (the unit uses `User=`,
//! `AmbientCapabilities=`, `CapabilityBoundingSet=`, `NoNewPrivileges=`).
//! It captures on `lo` in promiscuous mode (the default; libpcap fails the open
//! when PACKET_ADD_MEMBERSHIP is refused, so a capture that runs proves the
//! mode was granted) with the default 64 MiB ring. While it runs, every thread's
//! `/proc/<pid>/task/<tid>/status` must show uid `nobody` and no capability
//! left (the sensor clears its sets once the capture is open; only the
//! bounding set, which it cannot lower, still names CAP_NET_RAW); the attack
//! sent over loopback must come out.
//!
//! The user has no writable directory at all: the binary and an empty config
//! are copied to a fresh read-only directory (the build tree may sit under a
//! 0700 home), the working directory is `/`, and the records go to standard
//! output, a pipe opened by this (root) test process.
//!
//! Needs root, `setpriv` (util-linux) and the `nobody` user and `nogroup`
//! group (Debian). CI runs as root; anything missing fails the test.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;

/// CAP_NET_RAW is capability 13.
const CAP_NET_RAW: u64 = 1 << 13;

/// The tests run one at a time: a fork in one test while the other still
/// holds its copy of the binary open for writing would make the exec fail
/// (ETXTBSY).
static SERIAL: Mutex<()> = Mutex::new(());

/// How long the sensor may take to open its capture (the CI machine is busy).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long it may take to drain and exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn live_runs_as_nobody_with_only_cap_net_raw_and_finds_the_attack() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_running_as_root();
    let dir = read_only_install();
    let port = answer_204_on("127.0.0.1");
    let filter = format!("tcp port {}", port);

    let mut sensor = Sensor::spawn(&dir, Privileges::CaptureOnly, &filter);
    sensor.wait_until_capturing();

    let requests: [(&str, &str, &str); 3] = [
        ("svc-1", "GET", "/index.html"),
        (
            "svc-2",
            "GET",
            "/search?q=1%27%20UNION%20SELECT%20password%20FROM%20users--",
        ),
        ("svc-3", "POST", "/cart"),
    ];
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for (id, method, uri) in requests {
        let body = if method == "POST" {
            "item=42&qty=1"
        } else {
            ""
        };
        let req = format!(
            "{method} {uri} HTTP/1.1\r\nHost: shop.example.com\r\nX-Request-ID: {id}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        let _ = conn.read(&mut buf);
    }
    drop(conn);
    // Let the capture thread see the last segments before the stop flag.
    std::thread::sleep(Duration::from_millis(500));

    // Every thread, read while the capture is open and the workers exist.
    let (nobody_uid, _) = passwd_ids("nobody");
    let nogroup_gid = group_id("nogroup");
    let tasks = sensor.task_statuses();
    assert!(
        tasks.len() >= 2,
        "expected the capture thread plus workers, got {} tasks",
        tasks.len()
    );
    for (tid, status) in &tasks {
        let ctx = format!("task {tid}:\n{status}");
        let ids = |key: &str| -> Vec<u32> {
            field(status, key)
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        };
        assert_eq!(
            ids("Uid:"),
            vec![nobody_uid; 4],
            "real, effective, saved, fs uid; {ctx}"
        );
        assert_eq!(
            ids("Gid:"),
            vec![nogroup_gid; 4],
            "real, effective, saved, fs gid; {ctx}"
        );
        assert_eq!(
            field(status, "Groups:"),
            "",
            "no supplementary groups; {ctx}"
        );
        // Needed to open the capture, given up before the first packet.
        assert_eq!(caps(status, "CapEff:"), 0, "effective; {ctx}");
        assert_eq!(caps(status, "CapPrm:"), 0, "permitted; {ctx}");
        assert_eq!(caps(status, "CapAmb:"), 0, "ambient; {ctx}");
        assert_eq!(caps(status, "CapInh:"), 0, "inheritable; {ctx}");
        assert_eq!(caps(status, "CapBnd:"), CAP_NET_RAW, "bounding; {ctx}");
        assert_eq!(field(status, "NoNewPrivs:"), "1", "{ctx}");
    }

    let (status, stdout, stderr) = sensor.terminate();
    assert!(status.success(), "exit {status}; stderr:\n{stderr}");
    let records = parse_jsonl(stdout.as_bytes());
    let ids: Vec<String> = records.iter().map(|r| s(r, "request_id")).collect();
    assert_eq!(
        ids,
        vec!["svc-1", "svc-2", "svc-3"],
        "{records:?}\n{stderr}"
    );
    assert_eq!(
        attack_classes(&records[1]).into_iter().collect::<Vec<_>>(),
        vec!["sqli"],
        "{}",
        records[1]
    );
    assert!(attack_classes(&records[0]).is_empty(), "{}", records[0]);
    assert!(attack_classes(&records[2]).is_empty(), "{}", records[2]);
    assert_eq!(s(&records[2], "body_len"), "13", "{}", records[2]);
    assert_eq!(s(&records[1], "dst_port"), port.to_string());
}

/// The negative control: the same start without CAP_NET_RAW cannot capture,
/// fails at once with an error naming the interface, and exits non-zero. So
/// the capability (and nothing else the test process might leak) is what
/// makes the test above work.
#[test]
fn live_without_cap_net_raw_fails_with_a_clear_error() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    assert_running_as_root();
    let dir = read_only_install();
    let sensor = Sensor::spawn(&dir, Privileges::None, "tcp port 9");
    let (status, _stdout, stderr) = sensor.wait_exit();
    assert!(!status.success(), "a capture without CAP_NET_RAW must fail");
    assert!(
        stderr.contains("lo"),
        "the error names the interface: {stderr}"
    );
    assert!(
        stderr.contains("permission") || stderr.contains("not permitted"),
        "the error says why: {stderr}"
    );
}

fn assert_running_as_root() {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let euid = field(&status, "Uid:")
        .split_whitespace()
        .nth(1)
        .map(str::to_owned);
    assert_eq!(
        euid.as_deref(),
        Some("0"),
        "tests/service.rs starts the sensor under setpriv and must run as root (CI does)"
    );
}

/// A fresh directory holding a copy of the binary and an empty config, that
/// every user can read and execute and nobody but root can write.
fn read_only_install() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("specula");
    fs::copy(env!("CARGO_BIN_EXE_specula"), &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    // Every key is optional: the defaults, and independence from whatever
    // /etc/specula/specula.toml this machine may have.
    let config = dir.path().join("specula.toml");
    fs::write(&config, "").unwrap();
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[derive(Clone, Copy)]
enum Privileges {
    /// What the unit grants: CAP_NET_RAW in the ambient and bounding sets.
    CaptureOnly,
    /// No capability at all.
    None,
}

struct Sensor {
    child: Child,
    stderr_lines: mpsc::Receiver<String>,
    stderr_seen: Vec<String>,
    stdout: Option<JoinHandle<String>>,
}

impl Sensor {
    fn spawn(dir: &tempfile::TempDir, privileges: Privileges, filter: &str) -> Sensor {
        let bin: PathBuf = dir.path().join("specula");
        let config: PathBuf = dir.path().join("specula.toml");
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            "--no-new-privs",
        ]);
        match privileges {
            Privileges::CaptureOnly => cmd.args([
                "--inh-caps=-all,+net_raw",
                "--ambient-caps=+net_raw",
                "--bounding-set=-all,+net_raw",
            ]),
            Privileges::None => cmd.args(["--inh-caps=-all", "--bounding-set=-all"]),
        };
        cmd.arg("--")
            .arg(&bin)
            .args(["live", "--interface", "lo", "--filter", filter])
            .args(["--emit", "requests", "--output", "-", "--config"])
            .arg(&config)
            .current_dir("/")
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run setpriv (util-linux): {e}"));

        let (tx, stderr_lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut s = String::new();
            out.read_to_string(&mut s).unwrap();
            s
        });
        Sensor {
            child,
            stderr_lines,
            stderr_seen: Vec::new(),
            stdout: Some(stdout),
        }
    }

    /// Wait for the line saying the capture is open; fail with what the
    /// sensor said if it exits first or takes too long.
    fn wait_until_capturing(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr_lines.recv_timeout(left) {
                Ok(line) => {
                    let ready = line.contains("capturing");
                    self.stderr_seen.push(line);
                    if ready {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let status = self.child.wait().unwrap();
                    panic!(
                        "specula live did not start capturing (exit {status}):\n{}",
                        self.stderr_seen.join("\n")
                    );
                }
            }
        }
    }

    /// `/proc/<pid>/task/<tid>/status` of every thread.
    fn task_statuses(&self) -> Vec<(String, String)> {
        let tasks = Path::new("/proc")
            .join(self.child.id().to_string())
            .join("task");
        let mut out = Vec::new();
        for entry in fs::read_dir(&tasks).unwrap() {
            let entry = entry.unwrap();
            // A thread may end between the listing and the read.
            if let Ok(status) = fs::read_to_string(entry.path().join("status")) {
                out.push((entry.file_name().to_string_lossy().into_owned(), status));
            }
        }
        out
    }

    /// SIGTERM, then wait for the drain and the exit.
    fn terminate(self) -> (ExitStatus, String, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success(), "kill -TERM {pid}");
        self.wait_exit()
    }

    fn wait_exit(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "specula live did not exit in {STOP_TIMEOUT:?}:\n{}",
                    self.stderr_seen.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        // The reader thread ends at EOF, which follows the exit.
        while let Ok(line) = self.stderr_lines.recv_timeout(Duration::from_secs(5)) {
            self.stderr_seen.push(line);
        }
        (status, stdout, self.stderr_seen.join("\n"))
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        // Only when a failed assertion left it running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The value of a `Key:\tvalue` line of a `/proc/*/status` file.
fn field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in:\n{status}"))
        .trim()
        .to_owned()
}

/// A capability mask (`CapEff:` ...), hexadecimal in `/proc/*/status`.
fn caps(status: &str, key: &str) -> u64 {
    u64::from_str_radix(&field(status, key), 16).unwrap()
}

/// Uid and primary gid of a user, from /etc/passwd.
fn passwd_ids(user: &str) -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&user))
        .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
        .unwrap_or_else(|| panic!("no user {user} in /etc/passwd"))
}

/// Gid of a group, from /etc/group.
fn group_id(group: &str) -> u32 {
    let groups = fs::read_to_string("/etc/group").unwrap();
    groups
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&group))
        .map(|f| f[2].parse().unwrap())
        .unwrap_or_else(|| panic!("no group {group} in /etc/group"))
}
