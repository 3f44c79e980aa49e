//! Network namespaces, veth pairs and a running `specula live` for the live
//! end-to-end tests (`tests/live_nginx.rs`, `tests/live_replay.rs`).
//!
//! Everything made here is named after the test process (pid) and a
//! per-process counter, so parallel tests and parallel test binaries never
//! collide, and everything is undone by a `Drop` guard, also when a test
//! panics: namespaces (with every process still inside them), veth pairs and
//! child processes. Needs root (CI runs as root) and `ip` (iproute2); a
//! missing tool fails the test, it never skips.
//!
//! Addresses come from 100.64.0.0/10 (shared address space, RFC 6598), one
//! /30 per link, chosen from the pid and the counter, so they do not clash
//! with the host's own networks.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);
static LINKS: AtomicU32 = AtomicU32::new(0);

/// A number unique within this test process.
fn next() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// An interface name unique per process and call, at most 15 bytes
/// (IFNAMSIZ - 1): `sp` + pid in hex (≤ 6) + counter in hex + `role` (≤ 3).
pub fn ifname(role: &str) -> String {
    assert!(
        role.len() <= 3,
        "role {role:?} too long for an interface name"
    );
    let name = format!("sp{:x}{:x}{role}", std::process::id(), next() & 0xff);
    assert!(name.len() <= 15, "{name} is longer than IFNAMSIZ allows");
    name
}

/// Run a command to completion; panic with its output when it fails.
pub fn sh(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?}: {e} (is it installed? see scripts/deps.sh)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) -> String {
    sh(Command::new("ip").args(args))
}

/// A fresh /30 from 100.64.0.0/10: (first host, second host).
pub fn link_addrs() -> (Ipv4Addr, Ipv4Addr) {
    // 2^20 blocks of 4 addresses; 16 blocks per pid.
    let n = LINKS.fetch_add(1, Ordering::Relaxed);
    assert!(n < 16, "at most 16 links per test process");
    let block = ((std::process::id() & 0xffff) << 4) | n;
    let base = u32::from(Ipv4Addr::new(100, 64, 0, 0)) | (block << 2);
    (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2))
}

/// A network namespace, deleted on drop after every process still inside it
/// has been killed (they are ours: nobody else knows the name).
pub struct Netns {
    name: String,
}

impl Netns {
    pub fn new(role: &str) -> Netns {
        let name = format!("specula-{}-{}-{role}", std::process::id(), next());
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` to be run inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> String {
        sh(Command::new("ip").args(["-n", &self.name]).args(args))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", pid]).status();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Where one end of a veth pair lives.
#[derive(Clone, Copy)]
pub enum Side<'a> {
    Root,
    In(&'a Netns),
}

impl Side<'_> {
    fn ip(&self, args: &[&str]) -> String {
        match self {
            Side::Root => ip(args),
            Side::In(ns) => ns.ip(args),
        }
    }
}

/// A veth pair: `a` and `b`, each up, in its namespace, with an address of
/// one /30 when asked. Deleted on drop (deleting one end removes both; a
/// namespace that went first took it along, which is fine).
pub struct Veth {
    pub a: String,
    pub b: String,
    pub a_addr: Ipv4Addr,
    pub b_addr: Ipv4Addr,
    root_end: Option<String>,
}

impl Veth {
    /// Create the pair, move each end to its side, bring both up; with
    /// `addresses`, give `a` and `b` the two hosts of a fresh /30.
    pub fn new(side_a: Side, side_b: Side, addresses: bool) -> Veth {
        let a = ifname("a");
        let b = ifname("b");
        ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        let (a_addr, b_addr) = link_addrs();
        let mut veth = Veth {
            a: a.clone(),
            b: b.clone(),
            a_addr,
            b_addr,
            root_end: Some(a.clone()),
        };
        for (end, side, addr) in [(&a, side_a, a_addr), (&b, side_b, b_addr)] {
            if let Side::In(ns) = side {
                ip(&["link", "set", end, "netns", ns.name()]);
            }
            // No IPv6 autoconfiguration chatter on the test links.
            if let Side::In(ns) = side {
                let _ = ns
                    .command("sysctl")
                    .args(["-qw", &format!("net.ipv6.conf.{end}.disable_ipv6=1")])
                    .status();
            } else {
                let _ = Command::new("sysctl")
                    .args(["-qw", &format!("net.ipv6.conf.{end}.disable_ipv6=1")])
                    .status();
            }
            if addresses {
                side.ip(&["addr", "add", &format!("{addr}/30"), "dev", end]);
            }
            side.ip(&["link", "set", end, "up"]);
        }
        veth.root_end = match (side_a, side_b) {
            (Side::Root, _) => Some(a),
            (_, Side::Root) => Some(b),
            _ => None,
        };
        veth
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        if let Some(end) = &self.root_end {
            let _ = Command::new("ip")
                .args(["link", "del", end])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A child process killed (by its id) on drop unless it already ended.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn id(&self) -> u32 {
        self.0.id()
    }

    /// SIGTERM, then wait up to `limit` for the exit.
    pub fn terminate(&mut self, limit: Duration) -> ExitStatus {
        sh(Command::new("kill").args(["-TERM", &self.0.id().to_string()]));
        self.wait_for(limit)
    }

    pub fn wait_for(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(s) = self.0.try_wait().expect("wait for a child") {
                return s;
            }
            assert!(
                started.elapsed() < limit,
                "process {} did not end within {limit:?}",
                self.0.id()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A running `specula live`: its standard error is collected by a thread so
/// the pipe never fills; `start` returns once the capture is open.
pub struct Sensor {
    child: ChildGuard,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Sensor {
    /// Spawn `cmd` (a `specula live ...` command, possibly under `ip netns
    /// exec`) and wait for `capturing on IFACE` on its standard error.
    pub fn start(mut cmd: Command, iface: &str) -> Sensor {
        let mut child = ChildGuard(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")),
        );
        let pipe = child.0.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let collected = Arc::clone(&stderr);
        let want = format!("capturing on {iface}");
        let reader = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if line.contains(&want) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
                let mut s = collected.lock().expect("stderr lock");
                s.push_str(&line);
                s.push('\n');
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let status = child.0.try_wait();
            panic!(
                "specula live did not report `capturing on {iface}` ({status:?}): {}",
                stderr.lock().expect("stderr lock")
            );
        }
        Sensor {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the sensor wrote to standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr lock").clone()
    }

    /// SIGTERM; the exit status and the whole standard error (with the summary).
    pub fn stop(mut self) -> (ExitStatus, String) {
        let status = self.child.terminate(Duration::from_secs(60));
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        (status, self.stderr())
    }
}

/// A counter of the end summary's `drops and anomalies:` line, e.g.
/// `capture_dropped_packets{kernel}`; absent means zero (only non-zero
/// counters are listed).
pub fn summary_counter(summary: &str, name: &str) -> u64 {
    summary_list_values(summary, "drops and anomalies:", name).sum()
}

/// The values of `key=N` items in the end summary's lines that start with
/// `list` (after indentation), e.g. `packets per capture thread:`.
pub fn summary_list_values<'a>(
    summary: &'a str,
    list: &'a str,
    key: &str,
) -> impl Iterator<Item = u64> + 'a {
    let key = format!("{key}=");
    summary
        .lines()
        .filter_map(move |l| l.trim().strip_prefix(list))
        .flat_map(|l| l.split(','))
        .filter_map(move |item| {
            let v = item.trim().strip_prefix(key.as_str())?;
            Some(
                v.trim()
                    .parse::<u64>()
                    .unwrap_or_else(|e| panic!("{key}{v}: {e}")),
            )
        })
}
