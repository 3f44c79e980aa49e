//! Synth: deterministic synthetic capture generation, for tests, `testdata/`
//! and benchmarks. Writes pcap files of TCP/HTTP conversations.
