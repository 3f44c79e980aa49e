//! The capture-file reader (pcap, pcapng, gzip) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use specula::capture::FileReader;

fuzz_target!(|data: &[u8]| {
    let mut reader = match FileReader::from_reader(std::path::Path::new("fuzz"), std::io::Cursor::new(data.to_vec())) {
        Ok(r) => r,
        Err(_) => return,
    };
    for _ in 0..10_000 {
        match reader.next_frame() {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
});
