//! The floor for any pcap-based tool: a bare libpcap loop that only reads
//! every packet of a file. `scripts/bench.sh` compares Specula against it.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: pcap_floor FILE.pcap");
        std::process::exit(2);
    };
    let mut cap = match pcap::Capture::from_file(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let (mut packets, mut bytes) = (0u64, 0u64);
    let started = std::time::Instant::now();
    while let Ok(p) = cap.next_packet() {
        packets += 1;
        bytes += p.data.len() as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{packets} packets, {bytes} bytes in {secs:.3} s ({:.2} Gbit/s)",
        bytes as f64 * 8.0 / secs / 1e9
    );
}
