//! The built-in rule files, compiled into the binary from `rules/*.toml`
//! (sorted by name, as `RuleSet::load` would read the folder).

/// `(file name, contents)` of every built-in rule file.
pub(crate) const FILES: [(&str, &str); 8] = [
    (
        "rules/injection.toml",
        include_str!("../../rules/injection.toml"),
    ),
    (
        "rules/protocol.toml",
        include_str!("../../rules/protocol.toml"),
    ),
    ("rules/ptrav.toml", include_str!("../../rules/ptrav.toml")),
    ("rules/rce.toml", include_str!("../../rules/rce.toml")),
    (
        "rules/scanner.toml",
        include_str!("../../rules/scanner.toml"),
    ),
    (
        "rules/session.toml",
        include_str!("../../rules/session.toml"),
    ),
    ("rules/sqli.toml", include_str!("../../rules/sqli.toml")),
    ("rules/xss.toml", include_str!("../../rules/xss.toml")),
];
