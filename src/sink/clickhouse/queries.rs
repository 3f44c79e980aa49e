//! The queries users need, as named reports (for the README and a future
//! `specula query`). Each one runs on ClickHouse 18.16 and current releases
//! (tested against the real server in `tests/clickhouse.rs`).
//!
//! `{db}` stands for the database; `{client_ip}`, `{request_key}` are
//! parameters that [`render`] fills in as quoted string literals.

/// A named report.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub name: &'static str,
    pub title: &'static str,
    pub sql: &'static str,
}

/// Every report, in README order.
pub const REPORTS: &[Report] = &[
    Report {
        name: "last-hour-by-class",
        title: "Last hour's attacks by class",
        sql: "SELECT attack_class, count() AS hits, uniqExact(request_key) AS requests, \
              uniqExact(client_ip) AS clients \
              FROM {db}.attacks WHERE ts >= now() - 3600 \
              GROUP BY attack_class ORDER BY hits DESC",
    },
    Report {
        name: "top-ips",
        title: "Top attacking client IPs (last 24 hours)",
        sql: "SELECT client_ip, count() AS hits, uniqExact(request_key) AS requests, \
              groupUniqArray(attack_class) AS classes, min(ts) AS first_seen, max(ts) AS last_seen \
              FROM {db}.attacks WHERE ts >= now() - 86400 \
              GROUP BY client_ip ORDER BY hits DESC LIMIT 20",
    },
    Report {
        name: "client",
        title: "One client's activity",
        sql: "SELECT ts, ts_us, host, method, uri, attack_class, rule_id, severity, location, matched \
              FROM {db}.attacks WHERE client_ip = {client_ip} \
              ORDER BY ts DESC, ts_us DESC LIMIT 1000",
    },
    Report {
        name: "request",
        title: "One request's hits",
        sql: "SELECT rule_id, attack_class, severity, location, matched, request_line, \
              header_names, header_values \
              FROM {db}.attacks FINAL WHERE request_key = {request_key} ORDER BY rule_id",
    },
    Report {
        name: "attacks-per-1000",
        title: "Attacked requests per thousand requests, per host (last 24 hours)",
        sql: "SELECT host, sum(requests) AS total_requests, sum(attacked_requests) AS attacked, \
              round(1000 * sum(attacked_requests) / greatest(sum(requests), 1), 2) AS per_1000 \
              FROM {db}.requests_1m WHERE minute >= now() - 86400 \
              GROUP BY host ORDER BY per_1000 DESC LIMIT 50",
    },
    Report {
        name: "reached-vs-blocked",
        title: "Attacks that reached the application vs blocked, per class (last 24 hours)",
        sql: "SELECT attack_class, uniqExact(request_key) AS requests, \
              uniqExactIf(request_key, blocked = 1) AS refused, \
              uniqExactIf(request_key, response_status > 0 AND blocked = 0) AS reached_app, \
              uniqExactIf(request_key, response_status = 0) AS no_response \
              FROM {db}.attacks WHERE ts >= now() - 86400 \
              GROUP BY attack_class ORDER BY requests DESC",
    },
];

/// A ClickHouse string literal.
pub fn quote_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The report's SQL for `database`, with `params` (name, value) quoted in.
pub fn render(report: &Report, database: &str, params: &[(&str, &str)]) -> String {
    let mut sql = report
        .sql
        .replace("{db}", &super::schema::quote_ident(database));
    for (name, value) in params {
        sql = sql.replace(&format!("{{{name}}}"), &quote_str(value));
    }
    sql
}

/// The README section: each report's title and SQL for the default database.
pub fn markdown() -> String {
    let mut s = String::new();
    for r in REPORTS {
        s.push_str(&format!(
            "### {}\n\n```sql\n{};\n```\n\n",
            r.title,
            r.sql.replace("{db}", "specula")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_parameters() {
        let r = REPORTS.iter().find(|r| r.name == "client").unwrap();
        let sql = render(r, "specula", &[("client_ip", "1.2.3.4' OR 1")]);
        assert!(sql.contains("client_ip = '1.2.3.4\\' OR 1'"));
        assert!(sql.contains("FROM `specula`.attacks"));
        assert!(markdown().contains("### One request's hits"));
    }
}
