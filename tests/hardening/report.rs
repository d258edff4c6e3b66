//! The suite's figures: each test adds rows (cases tried, crashes, unanswered requests, lost
//! edits, peak RSS) and latency samples; the table is rewritten to `target/hardening-report.md`
//! whenever a test ends and printed to stderr when the last one ends.
//!
//! Leaves out pass/fail logic: tests assert on their own figures, this only records them.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Every test of the suite, in table order; the table prints when all of them have ended.
pub const TESTS: &[&str] = &[
    "fuzz_protocol_storm",
    "fuzz_initialized_sent_before_the_initialize_reply",
    "load_pipelined_requests_with_an_edit_storm",
    "load_edits_to_a_buffer_over_max_file_size",
    "fault_corrupt_index_cache",
    "fault_unwritable_data_dir",
    "fault_files_and_directories_swapped_while_watched",
    "fault_burst_of_10000_files",
    "fault_client_killed",
    "fault_model_dir_missing_or_corrupt",
    "fault_watcher_quiet_when_nothing_changes",
    "fs_requests_outside_the_workspace_get_nothing",
    "fs_session_writes_only_its_data_dir",
    "privacy_no_network_socket_under_strace",
    "privacy_serves_without_a_network_namespace",
];

#[derive(Debug, Clone, Default)]
pub struct Row {
    pub test: &'static str,
    pub case: String,
    pub tried: u64,
    pub crashes: u64,
    pub panics: u64,
    pub unanswered: u64,
    pub lost_edits: Option<u64>,
    pub peak_rss_kb: Option<u64>,
    pub notes: String,
}

#[derive(Debug, Clone)]
pub struct Latency {
    pub kind: String,
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

struct State {
    rows: Vec<Row>,
    latencies: Vec<Latency>,
    /// (test, passed)
    finished: Vec<(&'static str, bool)>,
}

static STATE: Mutex<State> = Mutex::new(State {
    rows: Vec::new(),
    latencies: Vec::new(),
    finished: Vec::new(),
});

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn row(row: Row) {
    state().rows.push(row);
}

pub fn latency(l: Latency) {
    state().latencies.push(l);
}

/// Marks a test as running; when dropped (also by a panic) it records the outcome and rewrites
/// the report.
pub struct TestGuard {
    name: &'static str,
}

pub fn test(name: &'static str) -> TestGuard {
    assert!(TESTS.contains(&name), "{name} missing from report::TESTS");
    TestGuard { name }
}

impl Drop for TestGuard {
    fn drop(&mut self) {
        let passed = !std::thread::panicking();
        let (table, all_done) = {
            let mut st = state();
            st.finished.push((self.name, passed));
            (render(&st), st.finished.len() == TESTS.len())
        };
        let path = report_path();
        if let Err(err) = std::fs::write(&path, &table) {
            eprintln!("could not write {}: {err}", path.display());
        }
        if all_done {
            eprintln!("\n{table}\n(written to {})", path.display());
        }
    }
}

/// `target/hardening-report.md`, found from the binary under test (`target/<profile>/spot`), so
/// a custom CARGO_TARGET_DIR is honoured.
pub fn report_path() -> PathBuf {
    let bin = crate::common::spot_bin();
    let target = bin
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    target.join("hardening-report.md")
}

/// The profile of the binary under test, from its directory (`target/<profile>/spot`).
fn build_profile() -> &'static str {
    let bin = crate::common::spot_bin();
    match bin
        .parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
    {
        Some("release") => "release build",
        Some("debug") => "dev build: spot at opt-level 1, dependencies at 2",
        _ => "custom build",
    }
}

fn render(st: &State) -> String {
    let mut out = String::new();
    let passed = st.finished.iter().filter(|(_, ok)| *ok).count();
    let _ = writeln!(out, "# spot hardening report\n");
    let _ = writeln!(
        out,
        "{} of {} tests ended, {passed} passed. Server: `spot lsp` ({}), one process per session, on {} cores.\n",
        st.finished.len(),
        TESTS.len(),
        build_profile(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    let _ = writeln!(
        out,
        "| test | case | result | tried | crashes | panics | unanswered | lost edits | peak RSS MB | notes |"
    );
    let _ = writeln!(out, "|---|---|---|---:|---:|---:|---:|---:|---:|---|");
    for name in TESTS {
        let result = match st.finished.iter().find(|(n, _)| n == name) {
            Some((_, true)) => "pass",
            Some((_, false)) => "**FAIL**",
            None => "not run",
        };
        let rows: Vec<&Row> = st.rows.iter().filter(|r| r.test == *name).collect();
        if rows.is_empty() {
            let _ = writeln!(out, "| {name} | | {result} | | | | | | | |");
        }
        for r in rows {
            let lost = r.lost_edits.map(|n| n.to_string()).unwrap_or_default();
            let rss = r
                .peak_rss_kb
                .map(|kb| format!("{:.0}", kb as f64 / 1024.0))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "| {name} | {} | {result} | {} | {} | {} | {} | {lost} | {rss} | {} |",
                r.case,
                r.tried,
                r.crashes,
                r.panics,
                r.unanswered,
                r.notes.replace('|', "/")
            );
        }
    }
    if !st.latencies.is_empty() {
        let _ = writeln!(
            out,
            "\n## Latency under load (pipelined, with the edit storm)\n"
        );
        let _ = writeln!(out, "| request | n | p50 ms | p99 ms | max ms |");
        let _ = writeln!(out, "|---|---:|---:|---:|---:|");
        for l in &st.latencies {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} |",
                l.kind, l.n, l.p50_ms, l.p99_ms, l.max_ms
            );
        }
    }
    out
}
