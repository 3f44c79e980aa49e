//! Property: any segmentation, reordering or duplication of a client stream
//! (with any initial sequence number, wrap-around included) yields exactly
//! the same HTTP requests as the clean stream, through the real decode →
//! reassembly → http path, on frames the synthetic generator writes.

use std::net::SocketAddr;

use proptest::prelude::*;
use specula::capture::{LinkType, Timestamp};
use specula::decode::decode_frame;
use specula::http::{HttpEvent, HttpLimits, HttpSession, HttpStats, Request};
use specula::reassembly::{
    Direction, EndReason, FlowInfo, FlowTable, ReassemblyConfig, Reread, Stamp, StreamHandler,
};
use specula::synth::{Impairment, TcpConversation, Teardown};

const CLIENT_STREAM: &[u8] = b"GET /search?q=1%27%20UNION%20SELECT%20password%20FROM%20users-- HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0\r\nX-Request-ID: r1\r\n\r\n\
POST /login HTTP/1.1\r\nHost: shop.example.com\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 29\r\nX-Request-ID: r2\r\n\r\nuser=admin&pass=%27+or+1%3D1-\
POST /api/items HTTP/1.1\r\nHost: shop.example.com\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\nX-Request-ID: r3\r\n\r\n\
a\r\n{\"name\": \"\r\n12\r\n<script>x</script>\r\n3\r\n\"}\n\r\n0\r\n\r\n\
GET /static/app.js HTTP/1.1\r\nHost: shop.example.com\r\nX-Request-ID: r4\r\n\r\n";

const SERVER_STREAM: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 302 Found\r\nContent-Length: 0\r\n\r\n\
HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n\
HTTP/1.1 304 Not Modified\r\n\r\n";

#[derive(Default)]
struct Collect {
    limits: HttpLimits,
    stats: HttpStats,
    events: Vec<HttpEvent>,
    requests: Vec<Request>,
    gaps: u64,
}

impl Collect {
    fn take(&mut self) {
        for e in self.events.drain(..) {
            if let HttpEvent::Request(mut r) = e {
                r.ts = Timestamp(0); // segmentation moves first-byte times
                self.requests.push(r);
            }
        }
    }
}

impl StreamHandler<HttpSession> for Collect {
    fn on_data(
        &mut self,
        _: &FlowInfo,
        s: &mut HttpSession,
        dir: Direction,
        at: Stamp,
        data: &[u8],
    ) {
        s.on_data(
            &self.limits,
            &mut self.stats,
            dir,
            at,
            data,
            &mut self.events,
        );
        self.take();
    }
    fn on_gap(&mut self, _: &FlowInfo, s: &mut HttpSession, dir: Direction, len: u64) {
        self.gaps += 1;
        s.on_gap(&self.limits, &mut self.stats, dir, len, &mut self.events);
        self.take();
    }
    fn on_end(&mut self, _: &FlowInfo, s: &mut HttpSession, _: EndReason) {
        s.on_end(&self.limits, &mut self.stats, &mut self.events);
        self.take();
    }
    fn on_restart(&mut self, _: &FlowInfo, s: &mut HttpSession, dir: Direction) -> Reread {
        let reread = s.on_restart(&self.limits, &mut self.stats, dir, &mut self.events);
        self.take();
        reread
    }
}

/// The requests of a conversation whose client ISN is `isn`, each `seq`
/// made an offset in the client's stream (the same for every ISN).
fn requests_of(conv: &TcpConversation, isn: u32) -> (Vec<Request>, u64) {
    let frames = conv.frames(LinkType::ETHERNET).expect("frames");
    let mut table: FlowTable<HttpSession> = FlowTable::new(ReassemblyConfig::default());
    let mut c = Collect::default();
    for (ts, frame) in &frames {
        let seg = decode_frame(LinkType::ETHERNET, frame).expect("decodes");
        table.process(*ts, &seg, &mut c);
    }
    table.end_all(&mut c);
    for r in &mut c.requests {
        r.seq = r.seq.wrapping_sub(isn.wrapping_add(1));
    }
    (c.requests, c.gaps)
}

fn conversation(isn: u32, mss: usize, with_server: bool) -> TcpConversation {
    let client: SocketAddr = "10.1.2.3:51000".parse().unwrap();
    let server: SocketAddr = "10.9.8.7:8445".parse().unwrap();
    let conv = TcpConversation::new(client, server)
        .isns(isn, isn.wrapping_mul(7).wrapping_add(12345))
        .handshake(true)
        .client(CLIENT_STREAM)
        .mss(mss)
        .teardown(Teardown::Fin);
    if with_server {
        conv.server(SERVER_STREAM)
    } else {
        conv.server_silent(true)
    }
}

fn baseline() -> Vec<Request> {
    let (reqs, gaps) = requests_of(&conversation(1000, 1460, false), 1000);
    assert_eq!(gaps, 0);
    assert_eq!(reqs.len(), 4, "the fixture holds four requests");
    assert!(reqs.iter().all(|r| r.complete));
    // Stamped with the offset of each request's first byte.
    let mut at = 0;
    for r in &reqs {
        let line = [&r.method[..], b" ", &r.uri[..]].concat();
        let found = CLIENT_STREAM[at..]
            .windows(line.len())
            .position(|w| w == &line[..])
            .expect("request line in the stream");
        assert_eq!(r.seq as usize, at + found);
        at += found + 1;
    }
    reqs
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_segmentation_reordering_or_duplication_gives_the_same_requests(
        isn in any::<u32>(),
        mss in 1usize..300,
        window in 1usize..8,
        retransmits in proptest::collection::vec(0usize..400, 0..6),
        overlaps in proptest::collection::vec(0usize..400, 0..4),
        with_server in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut conv = conversation(isn, mss, with_server).seed(seed);
        if window > 1 {
            conv = conv.impair(Impairment::Reorder { window });
        }
        for i in retransmits {
            conv = conv.impair(Impairment::Retransmit { index: i });
        }
        for i in overlaps {
            conv = conv.impair(Impairment::OverlapRetransmit { index: i });
        }
        let (reqs, gaps) = requests_of(&conv, isn);
        prop_assert_eq!(gaps, 0);
        prop_assert_eq!(reqs, baseline());
    }
}

#[test]
fn seq_wrap_inside_a_request_changes_nothing() {
    // ISN so that the wrap falls inside the first request at mss 7.
    let (reqs, gaps) = requests_of(&conversation(u32::MAX - 40, 7, true), u32::MAX - 40);
    assert_eq!(gaps, 0);
    assert_eq!(reqs, baseline());
}
