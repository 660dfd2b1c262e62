//! What the scenarios measure and how they print it: latency percentiles, response status
//! tallies, the server's memory from /proc, and markdown tables.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

/// Resident memory of a process, from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss_kb: u64,
    /// `VmHWM`: the most the process has ever had resident.
    pub hwm_kb: u64,
}

impl Memory {
    /// Reads the memory of process `pid`.
    pub fn of(pid: u32) -> Result<Memory> {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> Result<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in {path}"))
        };
        Ok(Memory {
            rss_kb: field("VmRSS:")?,
            hwm_kb: field("VmHWM:")?,
        })
    }
}

/// The machine's 1/5/15-minute load averages, to show what else was running.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// KiB as MiB with one decimal.
pub fn mib(kb: u64) -> String {
    format!("{:.1}", kb as f64 / 1024.0)
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// Request latencies, for percentiles.
#[derive(Debug, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// All latencies added up.
    pub fn sum(&self) -> Duration {
        self.0.iter().sum()
    }

    /// The nearest-rank percentile `p` (0–100); zero when empty.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    /// p50, p95, p99 and max, formatted in milliseconds.
    pub fn summary(&mut self) -> [String; 4] {
        [
            ms(self.percentile(50.0)),
            ms(self.percentile(95.0)),
            ms(self.percentile(99.0)),
            ms(self.percentile(100.0)),
        ]
    }
}

/// Latencies overall and per request name, and what came back.
#[derive(Debug, Default)]
pub struct Recorder {
    pub all: Latencies,
    pub by_name: BTreeMap<&'static str, Latencies>,
    pub tally: Tally,
}

impl Recorder {
    pub fn latency(&mut self, name: &'static str, d: Duration) {
        self.all.push(d);
        self.by_name.entry(name).or_default().push(d);
    }

    pub fn merge(&mut self, other: Recorder) {
        self.all.extend(other.all);
        for (name, l) in other.by_name {
            self.by_name.entry(name).or_default().extend(l);
        }
        self.tally.merge(other.tally);
    }
}

/// What came back for each kind of request: how many succeeded, the unexpected statuses, the
/// transport failures (timeouts, refused connections), and the first few error bodies.
#[derive(Debug, Default)]
pub struct Tally {
    pub ok: u64,
    /// (request name, status) → count of answers other than the expected one.
    pub unexpected: BTreeMap<(String, u16), u64>,
    /// request name → count of requests that got no answer.
    pub transport: BTreeMap<String, u64>,
    /// Up to [`Tally::EXAMPLES`] error descriptions, to print.
    pub examples: Vec<String>,
}

impl Tally {
    const EXAMPLES: usize = 5;

    pub fn unexpected_total(&self) -> u64 {
        self.unexpected.values().sum()
    }

    pub fn transport_total(&self) -> u64 {
        self.transport.values().sum()
    }

    pub fn record_unexpected(&mut self, name: &str, status: u16, body: &str) {
        *self
            .unexpected
            .entry((name.to_string(), status))
            .or_default() += 1;
        self.example(format!("{name}: HTTP {status}: {}", truncate(body, 300)));
    }

    pub fn record_transport(&mut self, name: &str, error: &str) {
        *self.transport.entry(name.to_string()).or_default() += 1;
        self.example(format!("{name}: no answer: {}", truncate(error, 300)));
    }

    fn example(&mut self, text: String) {
        if self.examples.len() < Self::EXAMPLES {
            self.examples.push(text);
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        for (k, v) in other.unexpected {
            *self.unexpected.entry(k).or_default() += v;
        }
        for (k, v) in other.transport {
            *self.transport.entry(k).or_default() += v;
        }
        for e in other.examples {
            self.example(e);
        }
    }

    /// Prints the failures, if any (never hides them).
    pub fn print_failures(&self, what: &str) {
        if self.unexpected.is_empty() && self.transport.is_empty() {
            println!("{what}: every request got the expected status.\n");
            return;
        }
        println!("{what}: UNEXPECTED ANSWERS");
        for ((name, status), n) in &self.unexpected {
            println!("- {name}: HTTP {status} × {n}");
        }
        for (name, n) in &self.transport {
            println!("- {name}: no answer (timeout/connection) × {n}");
        }
        println!("First examples:");
        for e in &self.examples {
            println!("- {e}");
        }
        println!();
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    match one_line.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// Prints `label: done/total` to standard error every ten seconds until dropped, so a long
/// load shows it is moving.
pub struct Progress {
    stop: Arc<AtomicBool>,
}

impl Progress {
    pub fn start(label: String, counter: Arc<AtomicUsize>, total: usize) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let started = std::time::Instant::now();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            tick.tick().await;
            loop {
                tick.tick().await;
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                let done = counter.load(Ordering::Relaxed).min(total);
                eprintln!(
                    "{label}: {done}/{total} after {:.0} s (load average {})",
                    started.elapsed().as_secs_f64(),
                    load_average()
                );
            }
        });
        Progress { stop }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A markdown table.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n", headers.join(" | "));
    out.push_str(&format!(
        "|{}\n",
        headers
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
            .collect::<String>()
    ));
    for row in rows {
        out.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = Latencies::default();
        for i in 1..=100 {
            l.push(Duration::from_millis(i));
        }
        assert_eq!(l.percentile(50.0), Duration::from_millis(50));
        assert_eq!(l.percentile(95.0), Duration::from_millis(95));
        assert_eq!(l.percentile(99.0), Duration::from_millis(99));
        assert_eq!(l.percentile(100.0), Duration::from_millis(100));
        assert_eq!(Latencies::default().percentile(99.0), Duration::ZERO);
    }

    #[test]
    fn tables_are_markdown() {
        let t = table(&["a", "b"], &[vec!["x".into(), "1".into()]]);
        assert_eq!(t, "| a | b |\n|---|---:|\n| x | 1 |\n");
    }

    #[test]
    fn memory_of_self_is_readable() {
        let m = Memory::of(std::process::id()).expect("own /proc status");
        assert!(m.rss_kb > 0 && m.hwm_kb >= m.rss_kb);
    }
}
