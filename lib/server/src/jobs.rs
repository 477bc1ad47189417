//! Jobs (backups, restores, uploads: what runs, how far, how it ended) and the counters behind
//! `/metrics`.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use serde::Serialize;

/// Jobs kept in the list.
const KEEP: usize = 200;

/// One operation.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Job {
    pub id: u64,
    /// backup, restore, upload
    pub kind: String,
    /// running, succeeded, failed
    pub state: String,
    /// What it is doing now (dumping, packing, pushing, restoring ...).
    pub phase: String,
    /// Who asked: the API, or the schedule.
    pub by: String,
    pub started: String,
    pub finished: Option<String>,
    pub seconds: Option<f64>,
    pub error: Option<String>,
    /// What it gave (a backup id, keys restored ...).
    pub result: Option<serde_json::Value>,
    #[serde(skip)]
    begun: Option<Instant>,
}

/// The counters of /metrics.
#[derive(Debug, Default, Clone)]
pub struct Metrics {
    pub backups_ok: u64,
    pub backups_failed: u64,
    pub restores_ok: u64,
    pub restores_failed: u64,
    pub keys_restored: u64,
    pub last_success_unix: f64,
    pub last_duration: f64,
    pub last_keys: u64,
    pub last_bytes: u64,
    pub schedule_runs: u64,
    pub schedule_skipped: u64,
    pub schedule_lag: f64,
}

#[derive(Default)]
struct Inner {
    next: u64,
    jobs: VecDeque<Job>,
    metrics: Metrics,
}

/// The job list and the metrics, shared.
#[derive(Default)]
pub struct Jobs(Mutex<Inner>);

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start a job; its id.
    pub fn start(&self, kind: &str, by: &str) -> u64 {
        let mut g = self.lock();
        g.next += 1;
        let id = g.next;
        g.jobs.push_back(Job {
            id,
            kind: kind.into(),
            state: "running".into(),
            phase: "starting".into(),
            by: by.into(),
            started: now(),
            finished: None,
            seconds: None,
            error: None,
            result: None,
            begun: Some(Instant::now()),
        });
        while g.jobs.len() > KEEP {
            g.jobs.pop_front();
        }
        id
    }

    pub fn phase(&self, id: u64, phase: &str) {
        if let Some(j) = self.lock().jobs.iter_mut().find(|j| j.id == id) {
            j.phase = phase.into();
        }
    }

    /// End a job with its result or its error.
    pub fn finish(&self, id: u64, outcome: Result<serde_json::Value, String>) {
        if let Some(j) = self.lock().jobs.iter_mut().find(|j| j.id == id) {
            j.finished = Some(now());
            j.seconds = j.begun.map(|b| b.elapsed().as_secs_f64());
            j.phase = "done".into();
            match outcome {
                Ok(v) => {
                    j.state = "succeeded".into();
                    j.result = Some(v);
                }
                Err(e) => {
                    j.state = "failed".into();
                    j.error = Some(e);
                }
            }
        }
    }

    pub fn list(&self) -> Vec<Job> {
        self.lock().jobs.iter().rev().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Job> {
        self.lock().jobs.iter().find(|j| j.id == id).cloned()
    }

    /// Change the metrics.
    pub fn metrics(&self, f: impl FnOnce(&mut Metrics)) {
        f(&mut self.lock().metrics);
    }

    pub fn snapshot(&self) -> Metrics {
        self.lock().metrics.clone()
    }
}

impl Metrics {
    /// Prometheus' text format. ReShifter's names stay (`reshifter_api_backup_total{outcome}`,
    /// `reshifter_api_keys_restored`).
    pub fn render(&self, running: usize) -> String {
        let mut t = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, rows: &[(&str, f64)]| {
            t.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
            for (labels, v) in rows {
                t.push_str(&format!("{name}{labels} {v}\n"));
            }
        };
        metric(
            "reshifter_api_backup_total",
            "counter",
            "Backups by outcome.",
            &[("{outcome=\"success\"}", self.backups_ok as f64), ("{outcome=\"fail\"}", self.backups_failed as f64)],
        );
        metric("reshifter_api_keys_restored", "counter", "Keys restored, in all.", &[("", self.keys_restored as f64)]);
        metric(
            "reshifter_restore_total",
            "counter",
            "Restores by outcome (dry runs included).",
            &[("{outcome=\"success\"}", self.restores_ok as f64), ("{outcome=\"fail\"}", self.restores_failed as f64)],
        );
        metric(
            "reshifter_backup_last_success_timestamp_seconds",
            "gauge",
            "When the last successful backup ended (Unix seconds; 0: none yet).",
            &[("", self.last_success_unix)],
        );
        metric(
            "reshifter_backup_last_duration_seconds",
            "gauge",
            "How long the last successful backup took.",
            &[("", self.last_duration)],
        );
        metric(
            "reshifter_backup_last_keys",
            "gauge",
            "Keys in the last successful backup.",
            &[("", self.last_keys as f64)],
        );
        metric(
            "reshifter_backup_last_bytes",
            "gauge",
            "Bytes of keys and values in the last successful backup.",
            &[("", self.last_bytes as f64)],
        );
        metric(
            "reshifter_schedule_runs_total",
            "counter",
            "Scheduled backups started.",
            &[("", self.schedule_runs as f64)],
        );
        metric(
            "reshifter_schedule_skipped_total",
            "counter",
            "Scheduled backups skipped because a backup was still running.",
            &[("", self.schedule_skipped as f64)],
        );
        metric(
            "reshifter_schedule_lag_seconds",
            "gauge",
            "How late the last scheduled backup started after its time.",
            &[("", self.schedule_lag)],
        );
        metric("reshifter_jobs_running", "gauge", "Jobs running now.", &[("", running as f64)]);
        t
    }
}
