//! Scrapes a zone's `/metrics` and extracts what the report needs. A plain HTTP/1.1
//! GET over loopback; the exposition is parsed just enough for counters and histograms.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The figures read from one scrape.
#[derive(Debug, Clone, Default)]
pub struct ServerSample {
    pub ticks: f64,
    pub cpu_seconds: f64,
    /// Cumulative tick-duration histogram: upper bound (s) → count.
    pub tick_buckets: BTreeMap<u64, (f64, f64)>,
    pub outbox_drops: f64,
    pub players: f64,
}

/// Fetches `url` (`http://host:port/path`) and returns the body.
pub async fn http_get(url: &str) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .context("only http:// metrics URLs are supported")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/"), |(h, p)| (h, p));
    let mut s = TcpStream::connect(host)
        .await
        .with_context(|| format!("cannot connect to {host}"))?;
    let req = format!(
        "GET /{} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        path.trim_start_matches('/')
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!(
            "metrics endpoint answered {}",
            head.lines().next().unwrap_or("")
        );
    }
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(body));
    }
    Ok(body.to_string())
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Splits `name{labels} value` into (name, labels, value).
fn parse_line(line: &str) -> Option<(&str, &str, f64)> {
    if line.starts_with('#') || line.is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value: f64 = value.parse().ok()?;
    let (name, labels) = match series.split_once('{') {
        Some((n, l)) => (n, l.trim_end_matches('}')),
        None => (series, ""),
    };
    Some((name, labels, value))
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim_matches('"'))
    })
}

/// Sum of every series of `name` in an exposition.
pub fn sum_of(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(parse_line)
        .filter(|(n, _, _)| *n == name)
        .map(|(_, _, v)| v)
        .sum()
}

/// Sum of the series of `name` whose label `key` is `value` (0 when none).
pub fn labelled(text: &str, name: &str, key: &str, value: &str) -> f64 {
    text.lines()
        .filter_map(parse_line)
        .filter(|(n, labels, _)| *n == name && label(labels, key) == Some(value))
        .map(|(_, _, v)| v)
        .sum()
}

/// p-quantile (0..1) of the histogram `name` (without `_bucket`) in an exposition, in
/// milliseconds, as the upper bound of the bucket it falls in (0 when empty).
pub fn histogram_quantile_ms(text: &str, name: &str, q: f64) -> f64 {
    let bucket = format!("{name}_bucket");
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for (n, labels, v) in text.lines().filter_map(parse_line) {
        if n != bucket {
            continue;
        }
        let Some(le) = label(labels, "le") else {
            continue;
        };
        let bound = le.parse().unwrap_or(f64::INFINITY);
        match buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some(b) => b.1 += v,
            None => buckets.push((bound, v)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total <= 0.0 {
        return 0.0;
    }
    buckets
        .iter()
        .find(|(_, cum)| *cum >= q * total)
        .map_or(f64::INFINITY, |(bound, _)| bound * 1e3)
}

impl ServerSample {
    pub fn parse(text: &str) -> ServerSample {
        let mut s = ServerSample {
            ticks: sum_of(text, "arcane_ticks_total"),
            cpu_seconds: sum_of(text, "process_cpu_seconds_total"),
            outbox_drops: sum_of(text, "arcane_outbox_drops_total"),
            players: sum_of(text, "arcane_players"),
            ..Default::default()
        };
        for (name, labels, v) in text.lines().filter_map(parse_line) {
            if name == "arcane_tick_duration_seconds_bucket"
                && let Some(le) = label(labels, "le")
            {
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::INFINITY)
                };
                let key = if bound.is_finite() {
                    (bound * 1e9) as u64
                } else {
                    u64::MAX
                };
                s.tick_buckets.entry(key).or_insert((bound, 0.0)).1 += v;
            }
        }
        s
    }

    /// p-quantile (0..1) of tick durations between `earlier` and `self`, in ms, taken
    /// as the upper bound of the bucket it falls in (an overestimate, never an under).
    pub fn tick_quantile_ms(&self, earlier: &ServerSample, q: f64) -> f64 {
        let delta: Vec<(f64, f64)> = self
            .tick_buckets
            .iter()
            .map(|(k, (bound, c))| (*bound, c - earlier.tick_buckets.get(k).map_or(0.0, |e| e.1)))
            .collect();
        let total = delta.last().map_or(0.0, |d| d.1);
        if total <= 0.0 {
            return 0.0;
        }
        let target = q * total;
        for (bound, cum) in &delta {
            if *cum >= target {
                return bound * 1e3;
            }
        }
        f64::INFINITY
    }
}

pub async fn sample(url: &str) -> anyhow::Result<ServerSample> {
    Ok(ServerSample::parse(&http_get(url).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE arcane_ticks counter\narcane_ticks_total{zone=\"m\"} 100\nprocess_cpu_seconds_total 2.5\narcane_tick_duration_seconds_bucket{zone=\"m\",le=\"0.001\"} 50\narcane_tick_duration_seconds_bucket{zone=\"m\",le=\"0.002\"} 99\narcane_tick_duration_seconds_bucket{zone=\"m\",le=\"+Inf\"} 100\n# EOF\n";

    #[test]
    fn parses_counters_and_histogram_quantiles() {
        let s = ServerSample::parse(TEXT);
        assert_eq!(s.ticks, 100.0);
        assert_eq!(s.cpu_seconds, 2.5);
        let zero = ServerSample::default();
        assert_eq!(s.tick_quantile_ms(&zero, 0.5), 1.0);
        assert_eq!(s.tick_quantile_ms(&zero, 0.99), 2.0);
        assert!(s.tick_quantile_ms(&zero, 1.0).is_infinite());
    }

    #[test]
    fn dechunks_bodies() {
        assert_eq!(
            dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            "hello world"
        );
    }
}
