//! Command line: argument definitions and the `read`, `rules check` and
//! `config check` commands. A thin layer: parsing options, building the
//! pipeline from the library, printing results. Errors are `anyhow` with
//! context naming the file or option.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::capture::{
    Fanout, FrameFilter, LiveCapture, LiveOptions, TunnelKind, UdpTunnelOptions, UdpTunnelSocket,
    VniFilter,
};
use crate::config::{parse_cidrs, Config, EmitMode, LogFormat};
use crate::decode::{DecodeOptions, Decoder};
use crate::detect::{Detector, RuleSet};
use crate::metrics::PipelineReport;
use crate::pipeline::{
    live, offline, ClientIpPolicy, Pipeline, PipelineOptions, PipelineView, RulesHandle, StopAfter,
    WhenFull,
};
use crate::privilege;
use crate::sink::clickhouse::{schema, ClickHouseConfig, ClickHouseSink, ServerVersion};
use crate::sink::{JsonLinesWriter, RecordSink, SinkError};

/// Specula: a passive HTTP attack sensor.
#[derive(Debug, Parser)]
#[command(name = "specula", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse pcap or pcapng files (gzip too); `-` reads standard input.
    Read(ReadArgs),
    /// Capture from interfaces and/or UDP tunnel listeners until SIGINT/SIGTERM, then flush and exit.
    Live(LiveArgs),
    /// Rule files.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Print the ClickHouse DDL the sensor uses (it creates what is missing at start).
    Schema {
        /// Database name.
        #[arg(long, value_name = "NAME", default_value = "specula")]
        database: String,
        /// DDL for this server version (e.g. 18.16.1, 24.8); default: the oldest supported.
        #[arg(long, value_name = "VERSION")]
        server_version: Option<String>,
        /// Days of attack rows kept (0 = forever).
        #[arg(long, value_name = "DAYS")]
        retention_days: Option<u32>,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate a rule file or folder (default: the built-in set) and print the rule count.
    Check { path: Option<PathBuf> },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file.
    Check { path: PathBuf },
}

/// Options shared by `read` and `live`.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Log level or `tracing` filter (default `info`; `RUST_LOG` also works).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Log lines as `human` text or `json` objects.
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// TOML configuration (command-line options override it).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// `attacks`: one record per attack hit; `requests`: one record per request.
    #[arg(long, value_enum)]
    pub emit: Option<EmitMode>,
    /// JSON Lines destination, `-` for standard output (the default).
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Insert into ClickHouse at URL (HTTP interface; https:// verifies the server, CA in `[clickhouse] tls_ca_file`).
    #[arg(long, value_name = "URL")]
    pub clickhouse: Option<String>,
    /// ClickHouse database (default `specula`).
    #[arg(long, value_name = "NAME")]
    pub database: Option<String>,
    /// Rule file or folder replacing the built-in set.
    #[arg(long, value_name = "PATH")]
    pub rules: Option<PathBuf>,
    /// Detection worker threads (default: available cores).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// BPF capture filter (also applied to files).
    #[arg(long, value_name = "BPF")]
    pub filter: Option<String>,
    /// Packet sources whose X-Real-IP / X-Forwarded-For are believed (repeatable).
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxy: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ReadArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Measurement aid: run only up to STAGE and skip the rest, to see what
    /// each stage costs on a capture. `http` parses requests but inspects
    /// none, so such a run detects nothing.
    #[arg(long, value_enum, value_name = "STAGE")]
    pub stop_after: Option<StopAfter>,
    /// Capture files (pcap, pcapng, gzip of either); `-` is standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Interface to capture from (a SPAN port, the mirror target's NIC, `lo`,
    /// `any`); repeat for several (e.g. both directions of a TAP). Default:
    /// `[capture] interfaces`.
    #[arg(long, short = 'i', value_name = "IFACE")]
    pub interface: Vec<String>,
    /// Do not put the interfaces in promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Capture threads per interface, 1 to 64 (default 1): above 1, a kernel
    /// fan-out group splits the interface's flows between them.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=i64::from(crate::config::MAX_THREADS_PER_INTERFACE)))]
    pub threads_per_interface: Option<u16>,
    /// Bytes captured per packet (default 65535).
    #[arg(long, value_name = "BYTES")]
    pub snaplen: Option<u32>,
    /// Kernel capture buffer per interface in bytes (default 64 MiB).
    #[arg(long, value_name = "BYTES")]
    pub buffer_bytes: Option<u32>,
    /// Run the built-in mirror target on ADDR:PORT: accept mirrored requests
    /// and answer 204 (NGINX `mirror` and Envoy need a server). Not needed on
    /// a SPAN/TAP port.
    #[arg(long, value_name = "ADDR:PORT")]
    pub sink: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics and health at /healthz.
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics: Option<String>,
    /// Receive VXLAN mirror traffic (AWS VPC Traffic Mirroring, Azure vTAP)
    /// on this UDP address, e.g. 0.0.0.0:4789; repeatable. No interface is
    /// needed. Default: `[capture] listen_vxlan`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen_vxlan: Vec<String>,
    /// Receive Geneve traffic (AWS Gateway Load Balancer) on this UDP
    /// address, e.g. 0.0.0.0:6081; repeatable. Default: `[capture] listen_geneve`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen_geneve: Vec<String>,
    /// Analyse only this VNI on the UDP listeners (repeatable); datagrams
    /// with another are counted and dropped. Default: `[capture] vnis` (all).
    #[arg(long = "vni", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=0xFF_FFFF))]
    pub vnis: Vec<u32>,
    /// Accept UDP tunnel datagrams only from this outer source (CIDR or
    /// address; repeatable): the mirror sources, the GWLB. Others are counted
    /// and dropped. Default: `[capture] tunnel_sources` (any).
    #[arg(long = "tunnel-source", value_name = "CIDR")]
    pub tunnel_sources: Vec<String>,
    /// Kernel receive buffer per UDP listener in bytes (default 32 MiB).
    #[arg(long, value_name = "BYTES")]
    pub udp_buffer_bytes: Option<u32>,
    /// When started as root: the user to become once capture and listeners
    /// are open (default `specula`, else `nobody`; `root` keeps root).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
}

/// Default configuration file of `live`, used when present.
pub const DEFAULT_LIVE_CONFIG: &str = "/etc/specula/specula.toml";

/// How a command ended, for the exit status.
pub enum Outcome {
    Success,
    /// Finished, but something the user must know failed (exit 1).
    Failed,
    /// Standard output was closed by its reader: stop quietly.
    OutputClosed,
}

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Read(args) => run_read(args),
        Command::Live(args) => run_live(args),
        Command::Schema {
            database,
            server_version,
            retention_days,
        } => {
            let version = match server_version {
                None => ServerVersion::OLDEST,
                Some(v) => ServerVersion::parse(&v).with_context(|| {
                    format!("--server-version {v}: expected a version like 18.16.1")
                })?,
            };
            let retention = retention_days.unwrap_or(ClickHouseConfig::default().retention_days);
            print!("{}", schema::schema_text_for(&database, version, retention));
            Ok(Outcome::Success)
        }
        Command::Rules {
            command: RulesCommand::Check { path },
        } => rules_check(path.as_deref()),
        Command::Config {
            command: ConfigCommand::Check { path },
        } => {
            Config::load(&path)?;
            println!("{}: ok", path.display());
            Ok(Outcome::Success)
        }
    }
}

fn rules_check(path: Option<&Path>) -> Result<Outcome> {
    let set = match path {
        None => RuleSet::builtin(),
        Some(p) => match RuleSet::load(p) {
            Ok(s) => s,
            Err(errors) => {
                for e in &errors {
                    eprintln!("{e}");
                }
                bail!("{}: {} error(s) in rules", p.display(), errors.len());
            }
        },
    };
    let what = path.map_or_else(|| "built-in rules".to_string(), |p| p.display().to_string());
    println!("{what}: {} rules ok", set.len());
    Ok(Outcome::Success)
}

/// The configuration after applying command-line overrides.
struct Effective {
    config: Config,
    workers: usize,
    rules: RuleSet,
    trusted: ClientIpPolicy,
    filter: Option<String>,
}

fn effective(common: &CommonArgs, default_filter: Option<&str>) -> Result<Effective> {
    let mut config = match &common.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(e) = common.emit {
        config.output.emit = e;
    }
    if let Some(o) = &common.output {
        config.output.path = Some(o.clone());
    }
    if let Some(r) = &common.rules {
        config.detect.rules = Some(r.clone());
    }
    if let Some(w) = common.workers {
        config.pipeline.workers = w;
    }
    if let Some(f) = &common.filter {
        config.capture.filter = Some(f.clone());
    }
    if !common.trusted_proxy.is_empty() {
        config.trust.trusted_proxies = common.trusted_proxy.clone();
    }
    let workers = match config.pipeline.workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        n => n,
    };
    if workers > 1024 {
        bail!("--workers {workers}: at most 1024");
    }
    let rules = match &config.detect.rules {
        None => RuleSet::builtin(),
        Some(p) => RuleSet::load(p).map_err(|errors| {
            let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
            anyhow::anyhow!(
                "{}: {} error(s) in rules, first: {first}",
                p.display(),
                errors.len()
            )
        })?,
    };
    let trusted = ClientIpPolicy {
        trusted_proxies: parse_cidrs("--trusted-proxy", &config.trust.trusted_proxies)?,
        header: config.trust.client_ip_header,
    };
    let filter = config
        .capture
        .filter
        .clone()
        .or(default_filter.map(str::to_string));
    Ok(Effective {
        config,
        workers,
        rules,
        trusted,
        filter,
    })
}

fn masker(eff: &Effective) -> Result<Arc<crate::pipeline::Masker>> {
    Ok(Arc::new(crate::pipeline::Masker::from_config(
        &eff.config.masking,
    )?))
}

fn pipeline_options(
    eff: &Effective,
    when_full: WhenFull,
    masker: Arc<crate::pipeline::Masker>,
) -> PipelineOptions {
    PipelineOptions {
        workers: eff.workers,
        queue_batches: eff.config.pipeline.queue_batches,
        batch_segments: eff.config.pipeline.batch_segments,
        sink_queue_max_bytes: eff.config.pipeline.sink_queue_max_bytes,
        reassembly: eff.config.reassembly_config(eff.workers),
        http: eff.config.http_limits(eff.workers),
        detector: Arc::new(Detector::with_tuning(
            &eff.rules,
            eff.config.detect_limits(),
            &eff.config.detect_tuning(),
        )),
        emit: eff.config.output.emit,
        client_ip: eff.trusted.clone(),
        when_full,
        masker,
        pairing: eff
            .config
            .responses
            .pairing_options(&eff.config.reassembly_config(eff.workers)),
        stop_after: None,
    }
}

fn run_live(mut args: LiveArgs) -> Result<Outcome> {
    if args.common.config.is_none() && Path::new(DEFAULT_LIVE_CONFIG).exists() {
        args.common.config = Some(PathBuf::from(DEFAULT_LIVE_CONFIG));
    }
    let mut eff = effective(&args.common, Some("tcp port 8445"))?;
    init_logging(&args.common, &eff.config);
    let cfg = &eff.config;
    let interfaces = if args.interface.is_empty() {
        cfg.capture.interfaces.clone()
    } else {
        args.interface.clone()
    };
    let mut tunnels = Vec::new();
    let vxlan = if args.listen_vxlan.is_empty() {
        cfg.capture.listen_vxlan.clone()
    } else {
        let parsed: Result<Vec<_>> = args
            .listen_vxlan
            .iter()
            .map(|a| parse_addr("--listen-vxlan", a))
            .collect();
        parsed?
    };
    let geneve = if args.listen_geneve.is_empty() {
        cfg.capture.listen_geneve.clone()
    } else {
        let parsed: Result<Vec<_>> = args
            .listen_geneve
            .iter()
            .map(|a| parse_addr("--listen-geneve", a))
            .collect();
        parsed?
    };
    let udp_buffer_bytes = args
        .udp_buffer_bytes
        .unwrap_or(cfg.capture.udp_buffer_bytes);
    let (key, sources) = if args.tunnel_sources.is_empty() {
        ("tunnel_sources", &cfg.capture.tunnel_sources)
    } else {
        ("--tunnel-source", &args.tunnel_sources)
    };
    let tunnel_sources = parse_cidrs(key, sources)?;
    for (kind, addrs) in [(TunnelKind::Vxlan, vxlan), (TunnelKind::Geneve, geneve)] {
        for listen in addrs {
            tunnels.push(UdpTunnelOptions {
                kind,
                listen,
                recv_buffer_bytes: usize::try_from(udp_buffer_bytes).unwrap_or(usize::MAX),
                sources: tunnel_sources.clone(),
            });
        }
    }
    let vnis = VniFilter::new(if args.vnis.is_empty() {
        &cfg.capture.vnis
    } else {
        &args.vnis
    });
    if interfaces.is_empty() && tunnels.is_empty() {
        bail!(
            "no packet source: give --interface IFACE, --listen-vxlan ADDR:PORT or --listen-geneve ADDR:PORT \
             (or [capture] interfaces, listen_vxlan, listen_geneve in the config)"
        );
    }
    if interfaces.is_empty() && cfg.capture.filter.is_some() {
        tracing::warn!(
            "the BPF filter applies to interfaces only; the UDP listeners analyse every inner TCP packet \
             (filter in the mirror session, or with --vni)"
        );
    }
    let as_i32 = |what: &str, v: u32| {
        i32::try_from(v).with_context(|| format!("{what} {v}: at most {}", i32::MAX))
    };
    let threads_per_interface = args
        .threads_per_interface
        .unwrap_or(cfg.capture.threads_per_interface);
    let mut options = Vec::new();
    for interface in &interfaces {
        options.push(LiveOptions {
            interface: interface.clone(),
            filter: eff.filter.clone().unwrap_or_default(),
            snaplen: as_i32("--snaplen", args.snaplen.unwrap_or(cfg.capture.snaplen))?,
            promiscuous: cfg.capture.promiscuous && !args.no_promisc,
            buffer_bytes: as_i32(
                "--buffer-bytes",
                args.buffer_bytes.unwrap_or(cfg.capture.buffer_bytes),
            )?,
            immediate: cfg.capture.immediate,
            fanout: None,
        });
    }
    // Everything that needs root first: captures, listeners, the sink's files.
    let mut captures = Vec::new();
    for o in &options {
        if threads_per_interface == 1 {
            captures.push(LiveCapture::open(o)?);
            continue;
        }
        // The first member creates a group with a fresh id; the others join it.
        let mut group = None;
        for member in 0..threads_per_interface {
            let fanout = Fanout {
                group,
                member,
                members: threads_per_interface,
            };
            let cap = LiveCapture::open(&LiveOptions {
                fanout: Some(fanout),
                ..o.clone()
            })?;
            group = cap.fanout_group();
            captures.push(cap);
        }
        tracing::info!(
            interface = %o.interface,
            sockets = threads_per_interface,
            group = group.map_or(-1, i32::from),
            "kernel fan-out group {} on {}",
            group.map_or("?".to_string(), |g| g.to_string()),
            o.interface
        );
    }
    let mut listeners = Vec::new();
    for t in &tunnels {
        let sock = UdpTunnelSocket::bind(t)?;
        let asked = t
            .recv_buffer_bytes
            .min(crate::capture::udp::MAX_RECV_BUFFER_BYTES);
        if sock.recv_buffer_bytes() < asked {
            tracing::warn!(
                listener = %sock.name(),
                "the kernel granted a {} byte receive buffer instead of {} (net.core.rmem_max; \
                 start as root or raise it)",
                sock.recv_buffer_bytes(),
                asked
            );
        }
        listeners.push(sock);
    }
    // Started unprivileged with CAP_NET_RAW (systemd): the captures are
    // open, nothing later needs a capability, and no other thread exists
    // yet, so every thread from here on starts without any.
    drop_capabilities_unless_root(
        "the sensor keeps the capabilities it was started with \
         (systemd/specula.service must allow the capset system call)",
    );
    let sources: Vec<String> = interfaces
        .iter()
        .map(|i| match threads_per_interface {
            1 => i.clone(),
            n => format!("{i} ({n} threads, kernel fan-out)"),
        })
        .chain(listeners.iter().map(|l| l.name().to_string()))
        .collect();
    let view_slot: Arc<OnceLock<Arc<PipelineView>>> = Arc::new(OnceLock::new());
    let sink_listen = match &args.sink {
        Some(a) => Some(parse_addr("--sink", a)?),
        None => cfg.sink.listen,
    };
    let mirror_target = match &sink_listen {
        Some(addr) => Some(servers::start_mirror_target(addr, &cfg.sink)?),
        None => None,
    };
    let metrics_listen = match &args.metrics {
        Some(a) => Some(parse_addr("--metrics", a)?),
        None => cfg.metrics.listen,
    };
    let metrics_server = match &metrics_listen {
        Some(addr) => Some(servers::start_metrics(
            addr,
            Arc::clone(&view_slot),
            mirror_target.clone(),
        )?),
        None => None,
    };
    let user = args.user.clone().or(cfg.sensor.user.clone());
    let target = privilege::target(user.as_deref())?;
    let spool_dir = eff
        .config
        .clickhouse
        .as_ref()
        .and_then(|c| c.spool_dir.clone());
    if let (Some(_), Some(dir)) = (&target, &spool_dir) {
        // The spool is opened as root, before it is handed over: a symlink
        // the service user planted there would have root create, lock and
        // delete files wherever it points (review round 15).
        privilege::refuse_symlink(dir)
            .with_context(|| format!("opening the spool {} as root", dir.display()))?;
    }
    let (sink, emit) = open_sink(&args.common, &eff, OutputOpen::Append)?;
    eff.config.output.emit = emit;
    // Before the drop too: the key file may be readable by root only.
    let masker = masker(&eff)?;
    if let Some(t) = &target {
        if let Some(dir) = &spool_dir {
            privilege::hand_over(dir, t)
                .with_context(|| format!("giving the spool {} to {}", dir.display(), t.name))?;
        }
        privilege::drop_to(t)?;
    }
    let running_as = match &target {
        Some(t) => t.name.clone(),
        None => nix::unistd::User::from_uid(nix::unistd::Uid::effective())
            .ok()
            .flatten()
            .map_or_else(|| nix::unistd::Uid::effective().to_string(), |u| u.name),
    };

    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))
        .context("cannot install the SIGHUP handler")?;

    let started = Instant::now();
    // Wait a bounded time for a busy worker: the kernel ring buffers meanwhile.
    let when_full = match eff.config.pipeline.full_queue_wait_ms {
        0 => WhenFull::DropNewest,
        ms => WhenFull::WaitThenDrop(Duration::from_millis(ms)),
    };
    let pipeline = Pipeline::start(pipeline_options(&eff, when_full, masker), sink)?;
    let view = pipeline.view();
    let _ = view_slot.set(Arc::clone(&view));
    let rules = pipeline.rules();
    let mut threads = Vec::new();
    for cap in captures {
        let d = pipeline.new_dispatcher();
        threads.push(
            live::spawn_capture(
                cap,
                d,
                Decoder::new(eff.config.decode_options()),
                Arc::clone(&view),
                Arc::clone(&stop),
            )
            .context("cannot start a capture thread")?,
        );
    }
    for sock in listeners {
        let d = pipeline.new_dispatcher();
        threads.push(
            crate::pipeline::udp::spawn_listener(
                sock,
                vnis.clone(),
                d,
                Decoder::new(DecodeOptions::default()),
                Arc::clone(&view),
                Arc::clone(&stop),
            )
            .context("cannot start a UDP listener thread")?,
        );
    }
    tracing::info!(
        interfaces = %interfaces.join(","),
        vnis = ?vnis.vnis(),
        filter = %options.first().map(|o| o.filter.as_str()).unwrap_or(""),
        user = %running_as,
        sink = %sink_listen.map_or("off".into(), |a| a.to_string()),
        metrics = %metrics_listen.map_or("off".into(), |a| a.to_string()),
        "capturing on {} (filter: {})",
        sources.join(", "),
        options.first().map_or("none", |o| o.filter.as_str())
    );

    while !stop.load(Ordering::Relaxed) {
        if threads.iter().all(|t| t.is_finished()) {
            tracing::error!("every capture ended; stopping");
            break;
        }
        if reload.swap(false, Ordering::Relaxed) {
            reload_rules(&eff, &rules);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    tracing::info!("stopping: draining the pipeline and flushing the output");
    let mut capture = crate::metrics::CaptureCounters::default();
    let mut extra_dispatch = crate::metrics::DispatchStats::default();
    let mut capture_errors = Vec::new();
    let mut per_source = Vec::new();
    for t in threads {
        match t.join() {
            Ok(o) => {
                per_source.push(format!("{}={}", o.interface, o.capture.frames));
                capture.add(&o.capture);
                extra_dispatch.add(&o.dispatch);
                if let Some(e) = o.error {
                    capture_errors.push(e);
                }
            }
            Err(_) => capture_errors.push(crate::capture::CaptureError::Live {
                interface: "?".into(),
                message: "capture thread panicked".into(),
            }),
        }
    }
    let (mut report, sink_result) = pipeline.finish();
    report.capture = capture;
    report.dispatch.add(&extra_dispatch);
    if let Ok(stats) = &sink_result {
        report.sink = stats.clone();
    }
    if let Some(m) = metrics_server {
        m.shutdown();
    }
    let mut summary = report.summary(started.elapsed());
    if per_source.len() > 1 {
        summary.push_str(&format!(
            "  packets per capture thread: {}\n",
            per_source.join(", ")
        ));
    }
    if let Some(t) = mirror_target {
        let s = t.stats();
        summary.push_str(&format!(
            "  mirror target: {} connections ({} refused), {} requests answered, {} body bytes discarded\n",
            s.connections_accepted, s.connections_refused, s.requests_answered, s.body_bytes_discarded
        ));
        // The metrics server held the other reference; it is shut down.
        if let Ok(t) = Arc::try_unwrap(t) {
            t.shutdown();
        }
    }
    let _ = std::io::stderr().write_all(summary.as_bytes());
    if let Some(e) = capture_errors.into_iter().next() {
        return Err(e.into());
    }
    match sink_result {
        Ok(_) | Err(SinkError::Closed) => Ok(Outcome::Success),
        Err(e) => Err(e).context("output failed"),
    }
}

/// When not root, clear this thread's capability sets (see
/// [`privilege::drop_capabilities`]; root drops them by switching user).
/// A seccomp filter denying capset (an older copy of the unit) must not
/// stop the sensor: it warns that it `keeps` them and goes on.
fn drop_capabilities_unless_root(keeps: &str) {
    if privilege::is_root() {
        return;
    }
    if let Err(e) = privilege::drop_capabilities() {
        tracing::warn!("{e:#}: {keeps}");
    }
}

fn parse_addr(what: &str, v: &str) -> Result<std::net::SocketAddr> {
    v.parse().with_context(|| {
        format!("{what} {v}: expected ADDRESS:PORT like 0.0.0.0:8445 or [::]:8445")
    })
}

/// SIGHUP: load the rules again; on any error keep the running ones.
fn reload_rules(eff: &Effective, handle: &RulesHandle) {
    let loaded = match &eff.config.detect.rules {
        None => Ok(RuleSet::builtin()),
        Some(p) => RuleSet::load(p).map_err(|errors| {
            let all: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            format!(
                "{}: {} error(s): {}",
                p.display(),
                errors.len(),
                all.join("; ")
            )
        }),
    };
    match loaded {
        Ok(set) => {
            let n = set.len();
            handle.replace(
                Detector::with_tuning(
                    &set,
                    eff.config.detect_limits(),
                    &eff.config.detect_tuning(),
                ),
                n,
            );
            tracing::info!(rules = n, "rules reloaded");
        }
        Err(message) => {
            handle.failed();
            tracing::error!("rule reload failed, keeping the running rules: {message}");
        }
    }
}

/// Set up `tracing` once: command line, then `RUST_LOG`, then the config.
fn init_logging(common: &CommonArgs, config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = match (&common.log_level, std::env::var("RUST_LOG")) {
        (Some(level), _) => crate::config::parse_log_filter(level),
        (None, Ok(env)) if !env.is_empty() => crate::config::parse_log_filter(&env),
        _ => crate::config::parse_log_filter(&config.logging.level),
    }
    .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match common.log_format.unwrap_or(config.logging.format) {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// The sink a run writes to: ClickHouse when asked for (command line or
/// `[clickhouse]`), else JSON Lines (an output file opened per `open`).
/// Also returns the emit mode the sink needs.
fn open_sink(
    common: &CommonArgs,
    eff: &Effective,
    open: OutputOpen,
) -> Result<(Box<dyn RecordSink>, EmitMode)> {
    if common.clickhouse.is_none() && eff.config.clickhouse.is_none() {
        return Ok((
            open_output(eff.config.output.path.as_deref(), open)?,
            eff.config.output.emit,
        ));
    }
    if let Some(url) = common.clickhouse.as_deref() {
        if url_has_password(url) {
            bail!(
                "--clickhouse: a password on the command line is visible to every user in `ps`; \
                 set SPECULA_CLICKHOUSE_PASSWORD or [clickhouse] password instead"
            );
        }
    }
    let mut cfg = eff
        .config
        .clickhouse
        .clone()
        .unwrap_or_default()
        .with_overrides(
            common.clickhouse.as_deref(),
            common.database.as_deref(),
            eff.config.sensor.name.as_deref(),
        );
    credentials_from_env(&mut cfg, |k| std::env::var(k).ok());
    let url = cfg.url.clone();
    let sink = ClickHouseSink::start(cfg).with_context(|| {
        format!(
            "ClickHouse at {}",
            crate::sink::clickhouse::redact_url(&url)
        )
    })?;
    // The attack table needs the hits, the traffic rollup every request.
    Ok((Box::new(sink), EmitMode::Both))
}

/// Whether a URL's user-info carries a password (`scheme://user:pass@host`).
fn url_has_password(url: &str) -> bool {
    !crate::sink::clickhouse::url_secrets(url).is_empty()
}

/// `SPECULA_CLICKHOUSE_USER` / `SPECULA_CLICKHOUSE_PASSWORD` (systemd's
/// `EnvironmentFile`, readable by root only) take precedence over the file:
/// they keep the password out of configuration files and of `ps`.
fn credentials_from_env(cfg: &mut ClickHouseConfig, var: impl Fn(&str) -> Option<String>) {
    if let Some(user) = var("SPECULA_CLICKHOUSE_USER").filter(|u| !u.is_empty()) {
        cfg.user = Some(user);
    }
    if let Some(password) = var("SPECULA_CLICKHOUSE_PASSWORD").filter(|p| !p.is_empty()) {
        cfg.password = Some(password);
    }
    // A password alone would be sent with an empty user name, which the
    // server reports as an unknown user: it is the `default` user's.
    if cfg.password.is_some() && cfg.user.is_none() {
        cfg.user = Some("default".into());
    }
}

/// How an `--output` file is opened.
#[derive(Clone, Copy)]
enum OutputOpen {
    /// `read`: the file holds this run's results only.
    Replace,
    /// `live`: a restart of the service must not wipe what was recorded.
    Append,
}

fn open_output(path: Option<&Path>, open: OutputOpen) -> Result<Box<dyn RecordSink>> {
    match path {
        None => Ok(Box::new(JsonLinesWriter::new(
            Box::new(std::io::stdout()),
            "standard output",
        ))),
        Some(p) if p == Path::new("-") => Ok(Box::new(JsonLinesWriter::new(
            Box::new(std::io::stdout()),
            "standard output",
        ))),
        Some(p) => {
            use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
            // Attack rows: not for other users (the spool's rule). Opened as
            // root in a folder another user owns (the service user's state
            // directory), a symlink there would have root write wherever
            // it points (review round 15): not followed then.
            let folder = match p.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let foreign_folder =
                privilege::is_root() && std::fs::metadata(folder).is_ok_and(|m| m.uid() != 0);
            let mut options = std::fs::OpenOptions::new();
            options.create(true).mode(0o640);
            if foreign_folder {
                options.custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits());
            }
            // Not truncated yet: only once the file is ours (below).
            let f = match open {
                OutputOpen::Replace => options.write(true).truncate(false).open(p),
                OutputOpen::Append => options.append(true).open(p),
            }
            .with_context(|| format!("cannot create output {}", p.display()))?;
            let regular = f.metadata().is_ok_and(|m| m.is_file());
            // A FIFO, /dev/null or a terminal may be shared; a file two
            // sensors append to would get interleaved partial lines.
            let out: Box<dyn std::io::Write + Send> = if regular {
                let mut f = crate::sink::lock::lock_exclusive(f, p, "this output file")?;
                match open {
                    OutputOpen::Replace => f
                        .file()
                        .set_len(0)
                        .with_context(|| format!("cannot truncate output {}", p.display()))?,
                    OutputOpen::Append => warn_if_torn_line_ended(p, f.file_mut()),
                }
                Box::new(f)
            } else {
                Box::new(f)
            };
            Ok(Box::new(JsonLinesWriter::new(out, p.display().to_string())))
        }
    }
}

/// [`end_torn_line`], with a warning when it added a newline or could not
/// check.
fn warn_if_torn_line_ended(p: &Path, f: &mut std::fs::File) {
    match end_torn_line(p, f) {
        Ok(false) => {}
        Ok(true) => tracing::warn!(
            output = %p.display(),
            "the output ended in a torn line (an earlier run was stopped while \
             writing); a newline was added so that new records start on a line of \
             their own"
        ),
        // Not worth refusing to start over: records still go out.
        Err(e) => tracing::warn!(
            output = %p.display(),
            error = %e,
            "cannot check whether the output ends in a torn line"
        ),
    }
}

/// End an output opened for appending with a newline if its last line is
/// torn (a SIGKILL or a full disk in the middle of a write): the first new
/// record would otherwise be glued to it, and both lines would be lost to a
/// JSON Lines reader. Returns whether a newline was added.
///
/// Only a regular file is checked, through a handle of its own opened for
/// reading: the output's handle stays write-only, so a FIFO or a pipe still
/// reports a reader that went away (EPIPE), and a file the service may only
/// append to still opens.
fn end_torn_line(path: &Path, out: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let meta = out.metadata()?;
    if !meta.is_file() || meta.len() == 0 {
        return Ok(false);
    }
    let mut f = std::fs::File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(false);
    }
    // Opened for appending: the write goes to the end.
    out.write_all(b"\n")?;
    Ok(true)
}

/// At debug level, every counter that moved, under its Prometheus name: the
/// summary shows drops only, and `read` has no metrics endpoint to scrape.
fn log_every_counter(report: &PipelineReport) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    for (name, label, value) in report.counters() {
        if value == 0 {
            continue;
        }
        tracing::debug!("{}", crate::metrics::sample_line(name, label, value));
    }
}

fn run_read(args: ReadArgs) -> Result<Outcome> {
    let mut eff = effective(&args.common, None)?;
    init_logging(&args.common, &eff.config);
    // `read` needs no capability: one the binary was given for `live`
    // (`setcap cap_net_raw=ep`, docs/INSTALL.md) must not stay with the
    // parsers of an untrusted capture file. No thread exists yet.
    drop_capabilities_unless_root("reading with the capabilities the binary was given");
    let mut filter = match &eff.filter {
        Some(expr) => Some(FrameFilter::new(expr).with_context(|| format!("--filter '{expr}'"))?),
        None => None,
    };
    let stdin_count = args.files.iter().filter(|p| p.as_os_str() == "-").count();
    if stdin_count > 1 {
        bail!("standard input (-) can be read only once");
    }
    let (sink, emit) = open_sink(&args.common, &eff, OutputOpen::Replace)?;
    eff.config.output.emit = emit;
    let mut opts = pipeline_options(&eff, WhenFull::Block, masker(&eff)?);
    opts.stop_after = args.stop_after;
    let started = Instant::now();
    let bar = (!args.no_progress && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let mut progress = |path: &Path, done: u64, total: Option<u64>| {
        if let Some(bar) = &bar {
            bar.set_message(path.display().to_string());
            bar.set_length(total.unwrap_or(done));
            bar.set_position(done);
        }
    };
    let offline::OfflineRun {
        outcomes,
        mut report,
        sink: sink_result,
    } = offline::run(
        &args.files,
        filter.as_mut(),
        &mut Decoder::new(eff.config.decode_options()),
        opts,
        sink,
        &mut progress,
    )?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed();
    let mut failed = false;
    for o in &outcomes {
        if let Some(e) = &o.error {
            // A damaged file analysed up to the damage is reported; it fails
            // the run only if nothing could be read from it.
            eprintln!(
                "specula: {e}{}",
                if o.frames > 0 {
                    format!(" (analysed the {} packets before it)", o.frames)
                } else {
                    String::new()
                }
            );
            if o.frames == 0 {
                failed = true;
            }
        }
    }
    match sink_result {
        Ok(stats) => report.sink = stats,
        Err(SinkError::Closed) => return Ok(Outcome::OutputClosed),
        Err(e) => {
            eprint!("{}", report.summary(elapsed));
            return Err(e).context("output failed");
        }
    }
    let _ = std::io::stderr().write_all(report.summary(elapsed).as_bytes());
    if let Some(stage) = args.stop_after.and_then(|s| s.to_possible_value()) {
        eprintln!(
            "specula: stopped after {}: later stages did not run, so this run detected nothing",
            stage.get_name()
        );
    }
    log_every_counter(&report);
    if report.worker_panics > 0 {
        failed = true;
    }
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

/// The two small HTTP servers of `live`, built from the configuration.
mod servers {
    use std::net::SocketAddr;
    use std::sync::{Arc, OnceLock};
    use std::time::Duration;

    use anyhow::{Context, Result};

    use crate::config::SinkSection;
    use crate::metrics::http::{Health, MetricsServer};
    use crate::mirror_target::{MirrorTarget, MirrorTargetOptions};
    use crate::pipeline::PipelineView;

    pub fn start_mirror_target(addr: &SocketAddr, cfg: &SinkSection) -> Result<Arc<MirrorTarget>> {
        let opts = MirrorTargetOptions {
            listen: *addr,
            max_connections: cfg.max_connections,
            header_timeout: Duration::from_secs(cfg.header_timeout_secs),
            idle_timeout: Duration::from_secs(cfg.idle_timeout_secs),
            max_head_bytes: cfg.max_head_bytes,
            allowed_peers: crate::config::parse_cidrs("allowed_peers", &cfg.allowed_peers)?,
        };
        let target = MirrorTarget::start(opts).with_context(|| format!("--sink {addr}"))?;
        Ok(Arc::new(target))
    }

    /// `/metrics` renders the pipeline's live view (and the mirror target's
    /// counters); `/healthz` is unhealthy until the pipeline runs.
    pub fn start_metrics(
        addr: &SocketAddr,
        view: Arc<OnceLock<Arc<PipelineView>>>,
        target: Option<Arc<MirrorTarget>>,
    ) -> Result<MetricsServer> {
        let render_view = Arc::clone(&view);
        let render = Arc::new(move || {
            let mut text = render_view
                .get()
                .map(|v| v.prometheus())
                .unwrap_or_default();
            if let Some(t) = &target {
                text.push_str(&t.stats().prometheus());
            }
            text
        });
        let health = Arc::new(move || match view.get() {
            Some(v) => {
                let (healthy, body) = v.health();
                Health { healthy, body }
            }
            None => Health {
                healthy: false,
                body: r#"{"status":"starting"}"#.to_string(),
            },
        });
        MetricsServer::start(*addr, render, health).with_context(|| format!("--metrics {addr}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `live` appends to its output: a line torn by a killed earlier run is
    /// ended first, so the file stays valid JSON Lines; a whole file, an
    /// empty one and a new one are left as they are.
    #[test]
    fn appending_ends_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        // (file, content before or none, content after)
        type Case<'a> = (&'a str, Option<&'a [u8]>, &'a [u8]);
        let cases: [Case; 4] = [
            ("torn", Some(b"{\"a\":1}\n{\"b\":"), b"{\"a\":1}\n{\"b\":\n"),
            ("whole", Some(b"{\"a\":1}\n"), b"{\"a\":1}\n"),
            ("empty", Some(b""), b""),
            ("new", None, b""),
        ];
        for (name, before, after) in cases {
            let path = dir.path().join(name);
            if let Some(b) = before {
                std::fs::write(&path, b).unwrap();
            }
            drop(open_output(Some(&path), OutputOpen::Append).unwrap());
            assert_eq!(std::fs::read(&path).unwrap(), after, "{name}");
        }
    }

    /// One writer per output file: a second sensor (`read` or `live`) on a
    /// file another one writes is refused before it truncates or writes
    /// anything; /dev/null stays shared.
    #[test]
    fn a_second_writer_of_an_output_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("attacks.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n").unwrap();
        let first = open_output(Some(&path), OutputOpen::Append).unwrap();
        for open in [OutputOpen::Append, OutputOpen::Replace] {
            let err = open_output(Some(&path), open).err().unwrap();
            let text = format!("{err:#}");
            assert!(text.contains("in use by another process"), "{text}");
            assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n");
        }
        drop(first);
        drop(open_output(Some(&path), OutputOpen::Replace).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        let null = Path::new("/dev/null");
        let _a = open_output(Some(null), OutputOpen::Append).unwrap();
        let _b = open_output(Some(null), OutputOpen::Replace).unwrap();
    }

    /// A FIFO as `live --output`: the output's handle is write-only, so when
    /// the reader goes away the writer sees it (EPIPE: unhealthy, records
    /// counted lost) instead of filling a pipe it holds the read end of, and
    /// then blocking forever.
    #[test]
    fn a_fifo_output_notices_its_reader_going_away() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("out.fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let path = fifo.clone();
        let reader = std::thread::spawn(move || {
            let mut f = std::fs::File::open(&path).unwrap();
            let mut first = [0u8; 1];
            // One byte read, then the reader is gone.
            f.read_exact(&mut first).unwrap();
            first[0]
        });
        let mut sink = open_output(Some(&fifo), OutputOpen::Append).unwrap();
        let record = crate::sink::clickhouse::row::tests::record(1, true);
        sink.write_batch(std::slice::from_ref(&record)).unwrap();
        let _ = sink.flush();
        assert_eq!(reader.join().unwrap(), b'{');
        // Enough to overflow a pipe buffer many times over if nothing read.
        let batch = vec![record; 2000];
        for _ in 0..10 {
            let _ = sink.write_batch(&batch);
        }
        let _ = sink.flush();
        let stats = sink.stats();
        assert!(!stats.healthy, "{stats:?}");
        assert!(stats.rows_lost > 0, "{stats:?}");
    }

    #[test]
    fn passwords_in_urls_are_found() {
        assert!(url_has_password("http://u:secret@127.0.0.1:8123"));
        assert!(url_has_password("https://u:p%40ss@h/"));
        assert!(!url_has_password("http://u@127.0.0.1:8123"));
        assert!(!url_has_password("http://127.0.0.1:8123/?a=b:c@d"));
        assert!(!url_has_password("127.0.0.1:8123"));
    }

    /// Review round 15: ClickHouse's HTTP interface takes the password as a
    /// query parameter too (`?user=u&password=p`, kept by the client crate,
    /// which only appends its own parameters). Such a `--clickhouse` URL is
    /// not refused, so the password sits in `ps`.
    #[test]
    fn review15_a_password_in_the_url_query_is_found() {
        assert!(url_has_password(
            "http://127.0.0.1:8123/?user=default&password=hunter2"
        ));
        assert!(url_has_password("http://127.0.0.1:8123?password=hunter2"));
    }

    /// Review round 30 found a password with an unescaped `/` left in a
    /// `--clickhouse` URL; one with an unescaped `?` or `#` (random
    /// passwords hold them) is still not found: the user-info was cut at
    /// the first `?`/`#`, so `--clickhouse http://default:s3cr?t@ch:8123`
    /// is not refused (the password sits in `ps`), and the URL parser (the
    /// client's, WHATWG: authority ends at `?`/`#`) then fails on port
    /// "s3cr", and the start error "ClickHouse at …" prints the URL through
    /// `redact_url`, which leaves it in clear: in the journal.
    /// Severity: Medium (a secret in clear in `ps` and the journal).
    #[test]
    fn review35c_a_password_with_a_question_mark_or_hash_is_found() {
        for url in [
            "http://default:s3cr?t@127.0.0.1:8123",
            "http://default:s3cr#t@127.0.0.1:8123/",
            "https://default:a?b#c@ch.local/?database=x",
        ] {
            assert!(url_has_password(url), "{url}");
            let shown = crate::sink::clickhouse::redact_url(url);
            assert!(!shown.contains("s3cr") && !shown.contains("a?b"), "{shown}");
        }
        // A query right after the port is not user-info.
        assert!(!url_has_password("http://127.0.0.1:8123?user=bob@corp"));
        assert!(!url_has_password("http://ch.local?user=a@b"));
        assert!(!url_has_password("http://127.0.0.1:8123/?a=b:c@d"));
    }

    #[test]
    fn environment_credentials_win_over_the_file() {
        let mut cfg = ClickHouseConfig {
            user: Some("file".into()),
            password: Some("from-file".into()),
            ..ClickHouseConfig::default()
        };
        credentials_from_env(&mut cfg, |_| None);
        assert_eq!(cfg.password.as_deref(), Some("from-file"));
        credentials_from_env(&mut cfg, |k| match k {
            "SPECULA_CLICKHOUSE_PASSWORD" => Some("from-env".into()),
            "SPECULA_CLICKHOUSE_USER" => Some(String::new()),
            _ => None,
        });
        assert_eq!(cfg.password.as_deref(), Some("from-env"));
        assert_eq!(cfg.user.as_deref(), Some("file"));
        let mut cfg = ClickHouseConfig::default();
        credentials_from_env(&mut cfg, |k| {
            (k == "SPECULA_CLICKHOUSE_PASSWORD").then(|| "p".to_string())
        });
        assert_eq!(cfg.user.as_deref(), Some("default"));
    }

    /// `live` appends to its output file, so a restart keeps
    /// what was recorded; `read` replaces it.
    #[test]
    fn live_appends_to_the_output_and_read_replaces_it() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("out.jsonl");
        std::fs::write(&path, "earlier\n").unwrap();
        let rec = crate::sink::clickhouse::row::tests::record(1, true);
        let lines = |open| {
            let mut sink = open_output(Some(&path), open).unwrap();
            sink.write_batch(std::slice::from_ref(&rec)).unwrap();
            sink.flush().unwrap();
            drop(sink);
            std::fs::read_to_string(&path).unwrap().lines().count()
        };
        assert_eq!(lines(OutputOpen::Append), 2);
        assert_eq!(lines(OutputOpen::Append), 3);
        assert_eq!(lines(OutputOpen::Replace), 1);
    }

    /// The mirror target served anybody who reached its port: one peer
    /// holding `max_connections` connections (an empty connection every
    /// header timeout, a GET every idle timeout, or a body trickled a byte
    /// at a time) kept NGINX's mirror connections out, and there was no
    /// way to say whose connections to serve (the UDP tunnel listeners have
    /// `tunnel_sources` for the same reason). `[sink] allowed_peers` now
    /// lists them; others are closed at accept, before they count against
    /// the cap, and counted; empty (the default) serves anybody. An IPv4
    /// peer of a dual-stack socket (`::ffff:127.0.0.1`) matches its IPv4 net.
    /// Severity: Medium (denial of service of the mirror target).
    #[test]
    fn review32a_mirror_target_closes_peers_outside_allowed_peers() {
        use std::io::{Read, Write};
        use std::time::Duration;
        let start = |listen: &str, peers: &str| {
            let text = format!("[sink]\nmax_connections = 1\nallowed_peers = [{peers}]\n");
            let cfg = Config::parse(&text, std::path::Path::new("s.toml")).unwrap();
            servers::start_mirror_target(&listen.parse().unwrap(), &cfg.sink)
        };
        let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let answer = |addr: std::net::SocketAddr| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            // The request may or may not be written before a close.
            let _ = s.write_all(get);
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            while !got.ends_with(b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => got.extend_from_slice(&buf[..k]),
                }
            }
            (s, String::from_utf8_lossy(&got).into_owned())
        };
        let outside = start("127.0.0.1:0", "\"192.0.2.0/24\"").unwrap();
        let (_kept, text) = answer(outside.local_addr());
        assert_eq!(text, "");
        // The refused peer did not take the one slot.
        let (_kept, text) = answer(outside.local_addr());
        assert_eq!(text, "");
        let st = outside.stats().prometheus();
        assert!(
            st.contains("specula_mirror_connections_denied_total 2\n"),
            "{st}"
        );
        assert!(
            st.contains("specula_mirror_connections_refused_total 0\n"),
            "{st}"
        );
        assert!(
            st.contains("specula_mirror_connections_accepted_total 0\n"),
            "{st}"
        );
        if let Ok(t) = std::sync::Arc::try_unwrap(outside) {
            t.shutdown();
        }
        for listen in ["127.0.0.1:0", "[::]:0"] {
            // Dual-stack sockets may be unavailable (no IPv6): skip those.
            let Ok(inside) = start(listen, "\"192.0.2.0/24\", \"127.0.0.1\"") else {
                continue;
            };
            let port = inside.local_addr().port();
            let (_kept, text) = answer(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
            assert!(text.starts_with("HTTP/1.1 204"), "{listen}: {text:?}");
            if let Ok(t) = std::sync::Arc::try_unwrap(inside) {
                t.shutdown();
            }
        }
        // A bad entry names the key and line.
        let e = Config::parse(
            "[sink]\nallowed_peers = [\"nope\"]\n",
            std::path::Path::new("s"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}
