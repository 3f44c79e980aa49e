//! `specula-gen`: deterministic synthetic captures for tests and benchmarks.
//!
//! `specula-gen mix --seed 1 --size 1GiB --flows 2000 --attack-ratio 0.03 --out big.pcap --truth big.truth.jsonl`
//! `specula-gen testdata --dir testdata`
//! `specula-gen adversary --scenario syn-flood --out flood.pcap` (see `scripts/adversarial.sh`)

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use specula::synth::adversary::{write_adversary, AdversaryConfig, Scenario};
use specula::synth::{generate_mix_streaming, testdata, MixConfig};

#[derive(Parser)]
#[command(
    name = "specula-gen",
    about = "Deterministic synthetic HTTP captures",
    version
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Realistic HTTP/1.1 mirror traffic (Ethernet pcap) with ground truth.
    Mix {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Target file size: bytes, or with KiB/MiB/GiB/KB/MB/GB.
        #[arg(long, default_value = "10MiB", value_parser = parse_size)]
        size: u64,
        /// Stop after this many requests as well.
        #[arg(long)]
        requests: Option<u64>,
        /// Concurrent connections, interleaved.
        #[arg(long, default_value_t = 64)]
        flows: usize,
        #[arg(long, default_value_t = 0.03)]
        attack_ratio: f64,
        /// 802.1Q tag every frame.
        #[arg(long)]
        vlan: bool,
        /// Probability of swapping a client segment with the next.
        #[arg(long, default_value_t = 0.0)]
        reorder: f64,
        /// Probability of retransmitting a client segment.
        #[arg(long, default_value_t = 0.0)]
        retrans: f64,
        /// Leave out X-Real-IP / X-Forwarded-For.
        #[arg(long)]
        no_mirror_headers: bool,
        #[arg(long, default_value_t = 8445)]
        port: u16,
        /// Output pcap (`-` for standard output).
        #[arg(long)]
        out: PathBuf,
        /// Ground truth as JSON Lines.
        #[arg(long)]
        truth: Option<PathBuf>,
    },
    /// Hostile traffic followed by attack canaries (load and evasion tests).
    Adversary {
        /// syn-flood, half-open, trickle, big-body, many-headers, deep-nesting, pathological.
        #[arg(long)]
        scenario: String,
        /// Flows, bytes, headers or depth (see `synth::adversary::Scenario`);
        /// default: the full scale of issue 8. Sizes take units (1GB).
        #[arg(long, value_parser = parse_size)]
        scale: Option<u64>,
        /// Ordinary attack requests sent after the hostile traffic.
        #[arg(long, default_value_t = 20)]
        canaries: u32,
        #[arg(long)]
        out: PathBuf,
        /// The request ids a sensor must report, one per line.
        #[arg(long)]
        ids: Option<PathBuf>,
    },
    /// Rebuild the committed testdata/ fixtures (byte-identical).
    Testdata {
        #[arg(long, default_value = "testdata")]
        dir: PathBuf,
    },
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad size `{s}`"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        u => return Err(format!("unknown size unit `{u}`")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("size `{s}` too large"))
}

fn run() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Mix {
            seed,
            size,
            requests,
            flows,
            attack_ratio,
            vlan,
            reorder,
            retrans,
            no_mirror_headers,
            port,
            out,
            truth,
        } => {
            if !(0.0..=1.0).contains(&attack_ratio)
                || !(0.0..=1.0).contains(&reorder)
                || !(0.0..=1.0).contains(&retrans)
            {
                bail!("--attack-ratio, --reorder and --retrans must be within 0..=1");
            }
            let cfg = MixConfig {
                seed,
                target_bytes: size,
                max_requests: requests,
                concurrent_flows: flows.max(1),
                attack_ratio,
                vlan,
                reorder_prob: reorder,
                retrans_prob: retrans,
                mirror_headers: !no_mirror_headers,
                server_port: port,
                ..MixConfig::default()
            };
            let sink: Box<dyn Write> = if out.as_os_str() == "-" {
                Box::new(std::io::stdout().lock())
            } else {
                Box::new(File::create(&out).with_context(|| format!("creating {}", out.display()))?)
            };
            let mut truth_w = match &truth {
                Some(p) => Some(BufWriter::new(
                    File::create(p).with_context(|| format!("creating {}", p.display()))?,
                )),
                None => None,
            };
            let sum = generate_mix_streaming(&cfg, sink, &mut |t| {
                if let Some(w) = truth_w.as_mut() {
                    serde_json::to_writer(&mut *w, t)?;
                    w.write_all(b"\n")?;
                }
                Ok(())
            })
            .with_context(|| format!("writing {}", out.display()))?;
            if let Some(mut w) = truth_w {
                w.flush().context("writing truth")?;
            }
            eprintln!(
                "wrote {} packets, {} bytes, {} requests ({} attacks)",
                sum.packets, sum.bytes, sum.requests, sum.attacks
            );
        }
        Cmd::Adversary {
            scenario,
            scale,
            canaries,
            out,
            ids,
        } => {
            let Some(scenario) = Scenario::parse(&scenario) else {
                let names: Vec<_> = Scenario::ALL.iter().map(|s| s.as_str()).collect();
                bail!(
                    "unknown scenario `{scenario}` (one of {})",
                    names.join(", ")
                );
            };
            let cfg = AdversaryConfig {
                scenario,
                scale: scale.unwrap_or_else(|| scenario.full_scale()),
                canaries,
            };
            let f = File::create(&out).with_context(|| format!("creating {}", out.display()))?;
            let sum = write_adversary(BufWriter::with_capacity(1 << 20, f), &cfg)
                .with_context(|| format!("writing {}", out.display()))?;
            if let Some(p) = ids {
                let mut text = sum.attack_request_ids.join("\n");
                text.push('\n');
                std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
            }
            eprintln!(
                "wrote {} {} (scale {}): {} packets, {} bytes, {} attack requests",
                out.display(),
                scenario.as_str(),
                cfg.scale,
                sum.frames,
                sum.bytes,
                sum.attack_request_ids.len()
            );
        }
        Cmd::Testdata { dir } => {
            let files =
                testdata::write_all(&dir).with_context(|| format!("writing {}", dir.display()))?;
            for (name, n) in files {
                eprintln!("{name}: {n} requests");
            }
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("specula-gen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("123"), Ok(123));
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }
}
