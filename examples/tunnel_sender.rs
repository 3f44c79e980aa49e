//! A load generator for the UDP tunnel listener: wraps every Ethernet frame
//! of a capture in VXLAN (or Geneve) and sends the datagrams to
//! `specula live --listen-vxlan ADDR`, then reads the sensor's `/metrics`
//! to report what it received and what the kernel dropped.
//!
//!   cargo run --release --example tunnel_sender -- ADDR FILE.pcap [--geneve]
//!       [--vni N] [--loops N] [--pps N] [--metrics HOST:PORT]
//!
//! `--pps 0` (the default) sends as fast as one thread can. Frames are held
//! in memory, so use a capture that fits.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use specula::capture::{FileReader, LinkType};

fn usage() -> ! {
    eprintln!("usage: tunnel_sender ADDR FILE.pcap [--geneve] [--vni N] [--loops N] [--pps N] [--metrics HOST:PORT]");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(path)) = (args.next(), args.next()) else {
        usage()
    };
    let (mut geneve, mut vni, mut loops, mut pps, mut metrics) = (false, 7u32, 1u32, 0u64, None);
    while let Some(a) = args.next() {
        let mut num = || {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--geneve" => geneve = true,
            "--vni" => vni = num() as u32,
            "--loops" => loops = num() as u32,
            "--pps" => pps = num(),
            "--metrics" => metrics = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let header: Vec<u8> = if geneve {
        let mut h = vec![0x00, 0x00, 0x65, 0x58];
        h.extend_from_slice(&(vni << 8).to_be_bytes());
        h
    } else {
        let mut h = vec![0x08, 0, 0, 0];
        h.extend_from_slice(&(vni << 8).to_be_bytes());
        h
    };
    let mut reader = FileReader::open(std::path::Path::new(&path)).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let mut datagrams = Vec::new();
    while let Ok(Some(f)) = reader.next_frame() {
        if f.linktype != LinkType::ETHERNET {
            eprintln!("{path}: only Ethernet captures can be wrapped");
            std::process::exit(1);
        }
        let mut d = header.clone();
        d.extend_from_slice(f.data);
        datagrams.push(d);
    }
    let sock = UdpSocket::bind("0.0.0.0:0").expect("bind a sending socket");
    sock.connect(&addr).expect("connect to the listener");
    let before = metrics.as_deref().map(received).unwrap_or((0, 0));
    let started = Instant::now();
    let (mut sent, mut bytes, mut send_errors) = (0u64, 0u64, 0u64);
    for _ in 0..loops {
        for d in &datagrams {
            if pps > 0 {
                // Pace against the schedule, not per datagram, so sleeps add up right.
                let due = Duration::from_secs_f64(sent as f64 / pps as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            match sock.send(d) {
                Ok(n) => {
                    sent += 1;
                    bytes += n as u64;
                }
                Err(_) => send_errors += 1,
            }
        }
    }
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    println!(
        "sent {sent} datagrams, {bytes} bytes in {secs:.3} s: {:.0} datagrams/s, {:.2} Gbit/s of UDP payload ({send_errors} send errors)",
        sent as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e9
    );
    let Some(m) = metrics else { return };
    // Wait until the sensor's count stops moving (it publishes twice a second).
    let mut last = received(&m);
    let mut last_change = Instant::now();
    while last_change.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(100));
        let now = received(&m);
        if now != last {
            last = now;
            last_change = Instant::now();
        }
    }
    let got = last.0 - before.0;
    let dropped = last.1 - before.1;
    let span = (last_change.duration_since(started).as_secs_f64()).max(secs);
    println!(
        "sensor received {got} datagrams ({:.0}/s, {:.2} Gbit/s over {span:.3} s), kernel dropped {dropped}",
        got as f64 / span,
        bytes as f64 * (got as f64 / sent.max(1) as f64) * 8.0 / span / 1e9
    );
}

/// (packets received, kernel drops) from the sensor's /metrics.
fn received(addr: &str) -> (u64, u64) {
    let mut text = String::new();
    if let Ok(mut c) = TcpStream::connect(addr) {
        let _ = write!(
            c,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        );
        let _ = c.read_to_string(&mut text);
    }
    let get = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or(0)
    };
    (
        get("specula_capture_packets_total "),
        get("specula_capture_dropped_packets_total{reason=\"kernel\"} "),
    )
}
