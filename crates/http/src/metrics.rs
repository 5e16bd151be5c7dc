//! Prometheus metrics an operator can use: requests by route template, method and
//! status; submissions by kind and outcome and findings by code; claim money accepted;
//! rate-limit refusals; the database pool; the audit log sequencer's lag; build and
//! process facts. Every label takes its values from a closed set (route templates, the
//! standard methods, kinds, outcomes, finding codes), so nothing a client sends can grow
//! the series.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use dayops_domain::finding::Report;
use dayops_domain::submission::SubmissionKind;

use crate::AppState;

/// Upper bounds of the latency histograms, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Series {
    count: u64,
    sum_seconds: f64,
    /// Count per bucket (not cumulative; summed when rendered).
    buckets: [u64; BUCKETS.len()],
}

impl Series {
    fn observe(&mut self, seconds: f64) {
        self.count += 1;
        self.sum_seconds += seconds;
        if let Some(i) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[i] += 1;
        }
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.buckets) {
            cumulative += n;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braced} {}", self.sum_seconds);
        let _ = writeln!(out, "{name}_count{braced} {}", self.count);
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A family of one sample without labels.
fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// What the process counts while it runs.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Keyed by (route template, method label, status).
    requests: Mutex<BTreeMap<(String, &'static str, u16), Series>>,
    /// Keyed by (kind, outcome).
    submissions: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Keyed by (finding code, severity).
    findings: Mutex<BTreeMap<(String, &'static str), u64>>,
    claim_accepted_pence: AtomicU64,
    rate_limited: AtomicU64,
    pool_wait: Mutex<Series>,
}

/// Gauges read when metrics are scraped.
#[derive(Debug, Default)]
pub struct Gauges {
    pub backend: &'static str,
    pub pool_size: u32,
    pub pool_connections: u32,
    pub pool_idle: u32,
    /// Audit events waiting for the sequencer, and the age of the oldest in seconds;
    /// `None` when the database could not say.
    pub sequencer_backlog: Option<(i64, f64)>,
}

impl Metrics {
    pub fn observe(&self, route: &str, method: &'static str, status: u16, seconds: f64) {
        locked(&self.requests)
            .entry((route.to_string(), method, status))
            .or_default()
            .observe(seconds);
    }

    /// A stored submission version (a create or an amendment): its outcome, its findings
    /// and, for a claim, the money its rules accepted.
    pub fn submission(&self, kind: SubmissionKind, report: &Report, accepted_pence: Option<i64>) {
        let outcome = match report.outcome {
            dayops_domain::finding::Outcome::Accepted => "accepted",
            dayops_domain::finding::Outcome::AcceptedWithWarnings => "accepted_with_warnings",
            dayops_domain::finding::Outcome::Rejected => "rejected",
        };
        *locked(&self.submissions)
            .entry((kind.as_str(), outcome))
            .or_default() += 1;
        let mut findings = locked(&self.findings);
        for finding in &report.findings {
            let severity = match finding.severity {
                dayops_domain::finding::Severity::Error => "error",
                dayops_domain::finding::Severity::Warning => "warning",
            };
            *findings
                .entry((finding.code.clone(), severity))
                .or_default() += 1;
        }
        if let Some(pence) = accepted_pence.and_then(|p| u64::try_from(p).ok()) {
            if report.outcome != dayops_domain::finding::Outcome::Rejected {
                self.claim_accepted_pence
                    .fetch_add(pence, Ordering::Relaxed);
            }
        }
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Time a request waited for a database connection.
    pub fn pool_wait(&self, seconds: f64) {
        locked(&self.pool_wait).observe(seconds);
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        let requests = locked(&self.requests).clone();
        family(
            &mut out,
            "dayops_http_requests_total",
            "counter",
            "HTTP requests answered.",
        );
        for ((route, method, status), s) in &requests {
            let _ = writeln!(
                out,
                "dayops_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {}",
                s.count
            );
        }
        family(
            &mut out,
            "dayops_http_request_duration_seconds",
            "histogram",
            "Time to answer HTTP requests.",
        );
        for ((route, method, status), s) in &requests {
            let labels = format!("route=\"{route}\",method=\"{method}\",status=\"{status}\"");
            s.render(&mut out, "dayops_http_request_duration_seconds", &labels);
        }
        family(
            &mut out,
            "dayops_submissions_total",
            "counter",
            "Submission versions stored, by kind and outcome.",
        );
        for ((kind, outcome), n) in locked(&self.submissions).iter() {
            let _ = writeln!(
                out,
                "dayops_submissions_total{{kind=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        family(
            &mut out,
            "dayops_findings_total",
            "counter",
            "Findings in stored submission versions, by code and severity.",
        );
        for ((code, severity), n) in locked(&self.findings).iter() {
            let _ = writeln!(
                out,
                "dayops_findings_total{{code=\"{code}\",severity=\"{severity}\"}} {n}"
            );
        }
        single(
            &mut out,
            "dayops_claim_accepted_pence_total",
            "counter",
            "Money accepted by the rules in stored claim versions, in pence.",
            self.claim_accepted_pence.load(Ordering::Relaxed),
        );
        single(
            &mut out,
            "dayops_rate_limited_total",
            "counter",
            "Requests refused by the per-principal rate limit.",
            self.rate_limited.load(Ordering::Relaxed),
        );
        family(
            &mut out,
            "dayops_db_pool_connections",
            "gauge",
            "Database connections, by state.",
        );
        let in_use = gauges.pool_connections.saturating_sub(gauges.pool_idle);
        let _ = writeln!(
            out,
            "dayops_db_pool_connections{{state=\"in_use\"}} {in_use}"
        );
        let _ = writeln!(
            out,
            "dayops_db_pool_connections{{state=\"idle\"}} {}",
            gauges.pool_idle
        );
        single(
            &mut out,
            "dayops_db_pool_max_connections",
            "gauge",
            "The pool's size (DAYOPS_DB_POOL_SIZE).",
            gauges.pool_size,
        );
        family(
            &mut out,
            "dayops_db_pool_wait_seconds",
            "histogram",
            "Time requests waited for a database connection.",
        );
        locked(&self.pool_wait).render(&mut out, "dayops_db_pool_wait_seconds", "");
        if let Some((pending, age)) = gauges.sequencer_backlog {
            single(
                &mut out,
                "dayops_audit_pending_events",
                "gauge",
                "Audit events recorded and not yet in the transparency log.",
                pending,
            );
            single(
                &mut out,
                "dayops_audit_sequencer_lag_seconds",
                "gauge",
                "Age of the oldest audit event not yet in the log (0 when none waits).",
                age,
            );
        }
        family(
            &mut out,
            "dayops_build_info",
            "gauge",
            "The running build: always 1.",
        );
        let _ = writeln!(
            out,
            "dayops_build_info{{version=\"{}\",backend=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            gauges.backend
        );
        process::render(&mut out);
        out
    }
}

/// The standard process metrics, from `/proc` (Linux; absent elsewhere).
mod process {
    use super::single;

    /// Clock ticks a second and the page size: fixed on Linux for the platforms we run.
    const TICKS_PER_SECOND: f64 = 100.0;
    const PAGE_BYTES: u64 = 4096;

    pub fn render(out: &mut String) {
        let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
            return;
        };
        // Fields after the command name, which is in parentheses and may hold spaces.
        let Some(fields) = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
        else {
            return;
        };
        // Numbered from field 3 (state) at index 0.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        if let (Some(utime), Some(stime)) = (field(14), field(15)) {
            single(
                out,
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent, in seconds.",
                (utime + stime) as f64 / TICKS_PER_SECOND,
            );
        }
        if let Some(vsize) = field(23) {
            single(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                "Virtual memory size in bytes.",
                vsize,
            );
        }
        if let Some(rss) = field(24) {
            single(
                out,
                "process_resident_memory_bytes",
                "gauge",
                "Resident memory size in bytes.",
                rss * PAGE_BYTES,
            );
        }
        if let (Some(start_ticks), Some(boot)) = (field(22), boot_time()) {
            single(
                out,
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since the Unix epoch, in seconds.",
                boot + start_ticks as f64 / TICKS_PER_SECOND,
            );
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            single(
                out,
                "process_open_fds",
                "gauge",
                "Open file descriptors.",
                fds.count(),
            );
        }
        let max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|limits| {
                limits
                    .lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| {
                        l.split_whitespace()
                            .nth(3)
                            .and_then(|v| v.parse::<u64>().ok())
                    })
            });
        if let Some(max) = max_fds {
            single(
                out,
                "process_max_fds",
                "gauge",
                "The limit of open file descriptors.",
                max,
            );
        }
    }

    fn boot_time() -> Option<f64> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        stat.lines()
            .find_map(|l| l.strip_prefix("btime "))
            .and_then(|v| v.trim().parse().ok())
    }
}

/// The method as a label: the standard ones by name, anything a client makes up as
/// `OTHER`, so labels (and log lines) stay bounded.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// The route template a request matched (`unmatched` for none): ids and whatever a
/// client puts in a path never become labels or log text.
pub fn route_label(req: &actix_web::HttpRequest) -> String {
    req.match_pattern()
        .unwrap_or_else(|| "unmatched".to_string())
}

/// Middleware recording every response.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    if let Some(state) = state {
        let route = route_label(response.request());
        state.metrics.observe(
            &route,
            method,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe("/v1/contracts/{id}", "GET", 200, 0.002);
        m.observe("/v1/contracts/{id}", "GET", 200, 0.2);
        let text = m.render(&Gauges::default());
        assert!(text.contains("dayops_http_requests_total{route=\"/v1/contracts/{id}\",method=\"GET\",status=\"200\"} 2"));
        assert!(text.contains("le=\"0.0025\"} 1"), "{text}");
        assert!(text.contains("le=\"0.25\"} 2"), "{text}");
        assert!(text.contains("le=\"+Inf\"} 2"), "{text}");
    }
}
