//! Test-driven repair: the project's tests as the judge of a fix, and execution as evidence of
//! where the bug is.
//!
//! - [`TestGate::start`] runs the test command once on a scratch copy before any patch and reads
//!   its output (`testreport`). Tests that fail there become the **target**; the tests that pass
//!   there must keep passing. A suite that cannot run (a syntax, import or compile error, a
//!   time-out) cannot judge anything, and says why.
//! - [`TestGate::check`] judges a candidate: its edits are written into a copy, the target tests
//!   run first when the command can be narrowed to them (pytest, unittest, go, cargo: cheap and
//!   usually decisive), then the whole command. A candidate is **plausible** when every target
//!   test passes and no test that passed before fails; without a target, when the suite still
//!   passes. Several copies judge candidates in parallel ([`TestGate::check_all`]), the best-ranked
//!   plausible one wins, so a run is reproducible.
//! - [`suspicious_lines`] fuses the evidence of where the bug is, strongest first: the failing
//!   tests' stack frames in source files, per-test coverage turned into Ochiai suspiciousness
//!   (Python), frames in the issue text, then the text localization's best functions.
//! - Every result carries a [`Verdict`], the exact claim spot makes about it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use spot_base::cancel::CancelToken;
use spot_index::{Index, Lang};

use crate::coverage::{self, Spectrum};
use crate::edit::FileEdit;
use crate::localize::{is_test_path, Localization};
use crate::testreport::{self, Counts, Runner, TestReport};
use crate::testrun::{Outcome, RunOutput, TestRun};
use crate::trace;

/// What spot claims about a patch. The strings are the protocol's (`--json`, the LSP result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The target tests failed before the patch, pass with it, and nothing else broke.
    FixesFailingTests,
    /// No test failed before (there was nothing to aim at), and the suite still passes with the
    /// patch: a guess that breaks nothing known.
    PassesTests,
    /// No test command, or one that could not judge: not tested.
    Unverified,
}

impl Verdict {
    /// The claim in words, for people: never "validated" for a guess.
    pub fn describe(self, fixed: usize) -> String {
        match self {
            Verdict::FixesFailingTests if fixed == 1 => "fixes the 1 failing test".to_owned(),
            Verdict::FixesFailingTests if fixed == 0 => {
                "makes the failing test command pass".to_owned()
            }
            Verdict::FixesFailingTests => format!("fixes the {fixed} failing tests"),
            Verdict::PassesTests => {
                "a guess: no test shows this bug (the tests still pass with it)".to_owned()
            }
            Verdict::Unverified => "a guess: not tested".to_owned(),
        }
    }

    /// Whether the editor may offer it as a fix without saying it is a guess.
    pub fn is_fix(self) -> bool {
        self == Verdict::FixesFailingTests
    }
}

/// Which evidence a run used, as the result reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Evidence {
    /// Tests that failed before any patch were the target.
    FailingTests,
    /// Their stack frames pointed at lines of the source.
    TestFrames,
    /// Per-test coverage gave suspiciousness (Ochiai).
    Coverage,
    /// Stack frames in the issue text.
    IssueFrames,
    /// A reproduction test the model wrote, which failed on the code as it was.
    ReproductionTest,
    /// The text localization (issue words, names, history).
    Text,
    /// The model wrote or ranked the candidate.
    Model,
}

/// What the tests said, as the result reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestEvidence {
    pub command: String,
    /// The runner recognized in the output (`pytest`, `unittest`, …, `unknown`).
    pub runner: String,
    /// The tests that failed before any patch (the target), by the runner's ids.
    pub failing_before: Vec<String>,
    /// Passed / failed counts before the patch, where the runner prints them.
    pub passed_before: Option<usize>,
    /// Passed count with the patch, where the runner prints it.
    pub passed_after: Option<usize>,
    /// Why the tests could not judge, when they could not.
    pub unusable: Option<String>,
    /// The target is a reproduction test spot wrote into this test file (it is part of the
    /// patch, for the user to keep).
    pub reproduction: Option<String>,
}

/// The baseline run and what it makes the target.
pub struct TestGate {
    /// One copy per worker; the first is the original copy.
    runs: Vec<TestRun>,
    cmd: String,
    pub baseline: TestReport,
    /// The target: the tests that failed before any patch (or the one asked for).
    pub target: Vec<String>,
    /// Every test failing before (the target and any other failures, which may stay).
    failing_before: HashSet<String>,
    /// The target could not be named (an unknown runner): the command as a whole failed.
    whole_command: bool,
    /// The command narrowed to the target tests, when the runner allows it.
    narrowed: Option<Narrowed>,
    /// The baseline's output, kept for the prompt and for coverage.
    pub baseline_output: String,
    pub baseline_seconds: f64,
    /// Edits every check runs with: a reproduction test spot wrote and adopted as the target.
    extra: Vec<FileEdit>,
}

/// Why the tests cannot judge a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    pub command: String,
    pub why: String,
}

/// The judged candidates by rank: the plausible ones, then every rejection with its reason.
pub type Judged = (Vec<(usize, Check)>, Vec<(usize, String)>);

/// A candidate's judgement.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Plausible { passed_after: Option<usize> },
    Rejected(String),
}

/// A command narrowed to some tests: an environment variable or the command rewritten.
#[derive(Debug, Clone)]
struct Narrowed {
    cmd: String,
    env: Vec<(String, String)>,
}

impl TestGate {
    /// Copies the workspace, runs `cmd` once before any patch and reads the result. `want` is a
    /// test the user asked to fix: it must fail there and becomes the only target. With
    /// `workers` > 1 the copy is forked for parallel checks.
    pub fn start(
        root: &Path,
        scratch: &Path,
        cmd: &str,
        timeout: Duration,
        want: Option<&str>,
        workers: usize,
        cancel: &CancelToken,
    ) -> Result<TestGate, Unusable> {
        let unusable = |why: String| Unusable {
            command: cmd.to_owned(),
            why,
        };
        let run = TestRun::new(root, scratch, cmd)
            .map_err(|e| unusable(format!("cannot copy the workspace to run them: {e}")))?
            .with_timeout(timeout);
        let out = run
            .run(cmd, &[], cancel)
            .map_err(|e| unusable(format!("cannot run `{cmd}`: {e}")))?;
        if out.cancelled {
            return Err(unusable("cancelled".to_owned()));
        }
        if out.outcome == Outcome::TimedOut {
            return Err(unusable(format!(
                "`{cmd}` ran over {} s before any patch",
                timeout.as_secs()
            )));
        }
        let report = testreport::parse(&out.output, out.exit_code).relative_to(run.dir());
        if !report.ran {
            let why = report
                .broken
                .as_ref()
                .map(|b| b.message.clone())
                .unwrap_or_else(|| format!("…{}", crate::testrun::tail(&out.output)));
            return Err(unusable(format!(
                "`{cmd}` cannot run its tests before any patch: {why}"
            )));
        }
        let failing_before: HashSet<String> =
            report.failures.iter().map(|f| f.id.clone()).collect();
        let passed = out.outcome == Outcome::Pass;
        let (target, whole_command) = match want {
            Some(w) => {
                let found: Vec<String> = report
                    .failures
                    .iter()
                    .filter(|f| f.id == w || f.name == w || f.id.ends_with(w))
                    .map(|f| f.id.clone())
                    .collect();
                if found.is_empty() {
                    return Err(unusable(if passed {
                        format!("`{w}` passes before any patch: there is nothing to fix")
                    } else {
                        format!("`{w}` is not among the tests that fail before any patch")
                    }));
                }
                (found, false)
            }
            None if passed => (Vec::new(), false),
            None if failing_before.is_empty() => (Vec::new(), true),
            None => (
                report.failures.iter().map(|f| f.id.clone()).collect(),
                false,
            ),
        };
        let narrowed = narrow(cmd, report.runner, &report, &target);
        // A candidate may loop for ever or allocate without bound: its runs get a limit in
        // proportion to the baseline's time instead of the whole limit.
        let candidate_limit =
            Duration::from_secs_f64((out.seconds * 5.0 + 5.0).max(10.0)).min(timeout);
        let run = run.with_timeout(candidate_limit);
        let mut runs = vec![run];
        for _ in 1..workers.max(1) {
            match runs[0].fork() {
                Ok(fork) => runs.push(fork.with_timeout(candidate_limit)),
                Err(e) => {
                    tracing::warn!("one test copy only: {e}");
                    break;
                }
            }
        }
        Ok(TestGate {
            runs,
            cmd: cmd.to_owned(),
            baseline: report,
            target,
            failing_before,
            whole_command,
            narrowed,
            baseline_output: out.output,
            baseline_seconds: out.seconds,
            extra: Vec::new(),
        })
    }

    /// Runs the suite with `test` (a reproduction test added to a test file whose text before
    /// was `before`): it is one only if the suite runs, every failure is an assertion of a test
    /// that was not there before (not an error, an import failure or a changed old test), and
    /// nothing else fails. Returns the new failing tests and the run's report.
    pub fn try_reproduction(
        &self,
        test: &FileEdit,
        cancel: &CancelToken,
    ) -> Result<(Vec<String>, TestReport), String> {
        if self.has_target() {
            return Err("tests already fail: no reproduction test is needed".to_owned());
        }
        let run = &self.runs[0];
        let out = run
            .applied(std::slice::from_ref(test), || {
                run.run(&self.cmd, &[], cancel)
            })
            .map_err(|e| format!("the tests could not run: {e}"))?;
        if out.outcome == Outcome::Pass {
            return Err(
                "the test passes on the code as it is: it does not show the bug".to_owned(),
            );
        }
        if out.outcome == Outcome::TimedOut {
            return Err("the tests ran over their time limit with it".to_owned());
        }
        let report = testreport::parse(&out.output, out.exit_code).relative_to(run.dir());
        if !report.ran || report.failures.is_empty() {
            return Err(broken_reason(&report, &out));
        }
        for f in &report.failures {
            if f.kind != testreport::FailureKind::Assertion {
                return Err(format!(
                    "`{}` fails with an error, not an assertion: {}",
                    f.id, f.message
                ));
            }
            if test.before.contains(&f.name) {
                return Err(format!(
                    "`{}` was there before: the answer changed an old test",
                    f.id
                ));
            }
        }
        Ok((
            report.failures.iter().map(|f| f.id.clone()).collect(),
            report,
        ))
    }

    /// Makes a reproduction test the target: every later check runs with it.
    pub fn adopt_reproduction(&mut self, test: FileEdit, target: Vec<String>, report: TestReport) {
        self.failing_before = target.iter().cloned().collect();
        self.narrowed = narrow(&self.cmd, report.runner, &report, &target);
        self.target = target;
        self.baseline = report;
        self.extra = vec![test];
    }

    /// The reproduction test adopted, if any.
    pub fn reproduction(&self) -> Option<&FileEdit> {
        self.extra.first()
    }

    pub fn command(&self) -> &str {
        &self.cmd
    }

    /// The copy the baseline ran in (absolute paths in its output start with it).
    pub fn dir(&self) -> &Path {
        self.runs[0].dir()
    }

    /// Whether there is anything to aim at: failing tests, or a failing command.
    pub fn has_target(&self) -> bool {
        !self.target.is_empty() || self.whole_command
    }

    /// The verdict a plausible candidate gets.
    pub fn verdict(&self) -> Verdict {
        if self.has_target() {
            Verdict::FixesFailingTests
        } else {
            Verdict::PassesTests
        }
    }

    pub fn evidence(&self, passed_after: Option<usize>) -> TestEvidence {
        TestEvidence {
            command: self.cmd.clone(),
            runner: runner_name(self.baseline.runner).to_owned(),
            failing_before: self.target.clone(),
            passed_before: self.baseline.counts.passed,
            passed_after,
            unusable: None,
            reproduction: self.reproduction().map(|t| t.path.clone()),
        }
    }

    /// Judges `edits` in worker `worker`'s copy: see the module docs.
    pub fn check(&self, worker: usize, edits: &[FileEdit], cancel: &CancelToken) -> Check {
        let run = &self.runs[worker.min(self.runs.len() - 1)];
        if edits
            .iter()
            .any(|e| self.extra.iter().any(|x| x.path == e.path))
        {
            return Check::Rejected("it changes the reproduction test's file".to_owned());
        }
        let all: Vec<FileEdit> = self.extra.iter().chain(edits).cloned().collect();
        let result = run.applied(&all, || {
            if let Some(n) = &self.narrowed {
                let env: Vec<(&str, &str)> = n
                    .env
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let out = run.run(&n.cmd, &env, cancel)?;
                if out.cancelled {
                    return Ok(Check::Rejected("cancelled".to_owned()));
                }
                if let Some(why) = self.target_still_failing(&out, run.dir()) {
                    return Ok(Check::Rejected(why));
                }
            }
            let out = run.run(&self.cmd, &[], cancel)?;
            if out.cancelled {
                return Ok(Check::Rejected("cancelled".to_owned()));
            }
            Ok(self.judge(&out, run.dir()))
        });
        result.unwrap_or_else(|e| Check::Rejected(format!("the tests could not run: {e}")))
    }

    /// A narrowed run's word on the target: why it still fails, if it does.
    fn target_still_failing(&self, out: &RunOutput, dir: &Path) -> Option<String> {
        if out.outcome == Outcome::TimedOut {
            return Some(format!(
                "the target tests ran over {} s",
                run_limit(&self.runs)
            ));
        }
        let report = testreport::parse(&out.output, out.exit_code).relative_to(dir);
        if !report.ran {
            return Some(broken_reason(&report, out));
        }
        let still: Vec<&str> = report
            .failures
            .iter()
            .filter(|f| self.target.contains(&f.id))
            .map(|f| f.id.as_str())
            .collect();
        match still.first() {
            Some(id) => {
                let message = report
                    .failures
                    .iter()
                    .find(|f| f.id == *id)
                    .map(|f| f.message.clone())
                    .unwrap_or_default();
                Some(format!("`{id}` still fails: {message}"))
            }
            None => None,
        }
    }

    /// The whole command's word on a candidate.
    fn judge(&self, out: &RunOutput, dir: &Path) -> Check {
        if out.outcome == Outcome::TimedOut {
            return Check::Rejected(format!("the tests ran over {} s", run_limit(&self.runs)));
        }
        let report = testreport::parse(&out.output, out.exit_code).relative_to(dir);
        if out.outcome == Outcome::Pass {
            return Check::Plausible {
                passed_after: report.counts.passed,
            };
        }
        if !report.ran {
            return Check::Rejected(broken_reason(&report, out));
        }
        if self.whole_command || report.runner == Runner::Unknown {
            return Check::Rejected(format!(
                "the test command fails with it: …{}",
                crate::testrun::tail(&out.output)
            ));
        }
        let still: Vec<&str> = report
            .failures
            .iter()
            .filter(|f| self.target.contains(&f.id))
            .map(|f| f.id.as_str())
            .collect();
        if let Some(id) = still.first() {
            return Check::Rejected(format!("`{id}` still fails"));
        }
        let broke: Vec<&str> = report
            .failures
            .iter()
            .filter(|f| !self.failing_before.contains(&f.id))
            .map(|f| f.id.as_str())
            .collect();
        if let Some(id) = broke.first() {
            return Check::Rejected(format!(
                "it breaks `{id}`{}",
                if broke.len() > 1 {
                    format!(" and {} more", broke.len() - 1)
                } else {
                    String::new()
                }
            ));
        }
        // Only failures that were there before and were not the target remain (a suite with
        // unrelated failures when a test was asked for): the target passes, nothing broke.
        if report.failures.is_empty() {
            // A failing exit with no failure listed: something else went wrong.
            return Check::Rejected(format!(
                "the test command fails with it: …{}",
                crate::testrun::tail(&out.output)
            ));
        }
        Check::Plausible {
            passed_after: report.counts.passed,
        }
    }

    /// Judges `candidates` (edits, best first) in parallel copies, in rank order: returns the
    /// best-ranked plausible ones (at most `want`) with their rank, and every rejection in rank
    /// order. Stops dispatching once `want` plausible candidates ranked above everything still
    /// pending are found, when `deadline` passes, or when cancelled. `on_done(done)` hears each.
    pub fn check_all(
        &self,
        candidates: &[Vec<FileEdit>],
        want: usize,
        deadline: Instant,
        cancel: &CancelToken,
        on_done: &(dyn Fn(usize) + Sync),
    ) -> Judged {
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let results: parking_lot::Mutex<BTreeMap<usize, Check>> =
            parking_lot::Mutex::new(BTreeMap::new());
        // Enough plausible ones among a finished prefix of the ranking?
        let settled = |results: &BTreeMap<usize, Check>| {
            let mut found = 0;
            for (i, (&rank, check)) in results.iter().enumerate() {
                if rank != i {
                    return false; // a better-ranked candidate is still running
                }
                if matches!(check, Check::Plausible { .. }) {
                    found += 1;
                    if found >= want {
                        return true;
                    }
                }
            }
            false
        };
        std::thread::scope(|scope| {
            for worker in 0..self.runs.len() {
                let (next, done, stop, results) = (&next, &done, &stop, &results);
                scope.spawn(move || loop {
                    if stop.load(Ordering::Relaxed)
                        || cancel.is_cancelled()
                        || Instant::now() >= deadline
                    {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(edits) = candidates.get(i) else {
                        break;
                    };
                    let check = self.check(worker, edits, cancel);
                    let mut r = results.lock();
                    r.insert(i, check);
                    if settled(&r) {
                        stop.store(true, Ordering::Relaxed);
                    }
                    drop(r);
                    on_done(done.fetch_add(1, Ordering::Relaxed) + 1);
                });
            }
        });
        let results = results.into_inner();
        let mut plausible = Vec::new();
        let mut rejected = Vec::new();
        for (rank, check) in results {
            match check {
                Check::Plausible { .. } if plausible.len() < want => plausible.push((rank, check)),
                Check::Plausible { .. } => {}
                Check::Rejected(why) => rejected.push((rank, why)),
            }
        }
        (plausible, rejected)
    }

    /// Per-test coverage of the suite (Python, with coverage.py in the project's Python), for
    /// Ochiai; `None` with the reason when it cannot be had. The coverage run stops at `limit`
    /// (the caller gives it a share of the search's budget: a coverage run that cannot finish
    /// must not leave no time for the candidates).
    pub fn coverage(&self, limit: Duration, cancel: &CancelToken) -> Result<Spectrum, String> {
        if !matches!(self.baseline.runner, Runner::Pytest | Runner::Unittest) {
            return Err(format!(
                "no per-test coverage for {} (frames only)",
                runner_name(self.baseline.runner)
            ));
        }
        let run = &self.runs[0];
        let side = run.dir().parent().unwrap_or(run.dir());
        let tag = run
            .dir()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rc = side.join(format!("{tag}.coveragerc"));
        let data = side.join(format!("{tag}.coverage"));
        let report = side.join(format!("{tag}.coverage.json"));
        let Some((python, cmd)) = coverage::python_command(&self.cmd, &rc) else {
            return Err("the test command does not run pytest or unittest directly".to_owned());
        };
        let cleanup = || {
            for p in [&rc, &data, &report] {
                let _ = std::fs::remove_file(p);
            }
        };
        if let Err(e) = std::fs::write(&rc, coverage::python_rc(&data, run.dir())) {
            return Err(format!("cannot write the coverage configuration: {e}"));
        }
        let has = run.run(&format!("{python} -c 'import coverage'"), &[], cancel);
        if !matches!(&has, Ok(o) if o.outcome == Outcome::Pass) {
            cleanup();
            return Err(format!(
                "coverage.py is not installed for {python} (pip install coverage)"
            ));
        }
        let started = Instant::now();
        let ran = run.run_within(&cmd, &[], limit, cancel);
        if matches!(&ran, Ok(r) if r.outcome == Outcome::TimedOut) {
            cleanup();
            return Err(format!(
                "the coverage run did not finish within {:.0} s of the search's budget",
                started.elapsed().as_secs_f64()
            ));
        }
        let json = run.run(
            &format!(
                "{python} -m coverage json --rcfile={} --show-contexts -q -o {}",
                rc.display(),
                report.display()
            ),
            &[],
            cancel,
        );
        let spectrum = match (ran, json) {
            (Ok(r), Ok(j)) if r.outcome != Outcome::TimedOut && j.outcome == Outcome::Pass => {
                std::fs::read_to_string(&report)
                    .ok()
                    .and_then(|text| coverage::parse_python_json(&text, run.dir()))
            }
            _ => None,
        };
        cleanup();
        spectrum.ok_or_else(|| "the coverage run gave no report".to_owned())
    }
}

fn run_limit(runs: &[TestRun]) -> u64 {
    runs.first().map_or(0, |r| r.timeout().as_secs())
}

fn broken_reason(report: &TestReport, out: &RunOutput) -> String {
    let why = report
        .broken
        .as_ref()
        .map(|b| b.message.clone())
        .unwrap_or_else(|| format!("…{}", crate::testrun::tail(&out.output)));
    format!("the tests cannot run with it: {why}")
}

pub fn runner_name(runner: Runner) -> &'static str {
    match runner {
        Runner::Unittest => "unittest",
        Runner::Pytest => "pytest",
        Runner::Cargo => "cargo test",
        Runner::Nextest => "cargo nextest",
        Runner::Go => "go test",
        Runner::NodeTest => "node --test",
        Runner::Jest => "jest",
        Runner::Vitest => "vitest",
        Runner::Unknown => "unknown",
    }
}

/// The command narrowed to the target tests, where the runner allows it without guessing at
/// the command's own arguments: pytest through `PYTEST_ADDOPTS=-k …` (a command with its own
/// `-k` overrides it and runs everything, which is only slower), unittest's `-k` after
/// `unittest`/`discover`, `go test -run`, a `cargo test` filter. Names select by substring, so a
/// few more tests may run.
fn narrow(cmd: &str, runner: Runner, report: &TestReport, target: &[String]) -> Option<Narrowed> {
    if target.is_empty() {
        return None;
    }
    let names: Vec<String> = report
        .failures
        .iter()
        .filter(|f| target.contains(&f.id))
        .map(|f| f.name.split('[').next().unwrap_or(&f.name).to_owned())
        .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .collect();
    if names.len() != target.len() {
        return None; // a load failure or an odd name: run everything
    }
    match runner {
        Runner::Pytest => Some(Narrowed {
            cmd: cmd.to_owned(),
            env: vec![(
                "PYTEST_ADDOPTS".to_owned(),
                format!("-k '{}'", names.join(" or ")),
            )],
        }),
        Runner::Unittest => {
            let ks: String = names.iter().map(|n| format!(" -k {n}")).collect();
            let at = ["-m unittest discover", "-m unittest"]
                .iter()
                .find_map(|p| cmd.find(p).map(|i| i + p.len()))?;
            Some(Narrowed {
                cmd: format!("{}{ks}{}", &cmd[..at], &cmd[at..]),
                env: Vec::new(),
            })
        }
        Runner::Go if cmd.trim_start().starts_with("go test") && !cmd.contains("-run") => {
            Some(Narrowed {
                cmd: format!("{cmd} -run '^({})$'", names.join("|")),
                env: Vec::new(),
            })
        }
        Runner::Cargo
            if cmd.trim_start().starts_with("cargo test")
                && !cmd.contains(" -- ")
                && names.len() == 1 =>
        {
            Some(Narrowed {
                cmd: format!("{cmd} {}", names[0]),
                env: Vec::new(),
            })
        }
        _ => None,
    }
}

/// A line the evidence points at, and how strongly.
#[derive(Debug, Clone, PartialEq)]
pub struct SuspiciousLine {
    pub path: String,
    /// 1-based.
    pub line: u32,
    pub score: f64,
    /// Which evidence pointed here.
    pub why: Evidence,
}

/// Where the bug is, fused from every kind of evidence, best first (source files only, at most
/// `max`): frames of the target tests' failures (innermost source frame 1.0, each further one
/// out 0.8 times the previous), coverage suspiciousness (Ochiai, at most 0.95), frames in the
/// issue (0.9 × the same decay), and the text localization's best functions (0.3 / (rank + 1)
/// for each of their lines). A line takes its best score; the evidence used is returned too.
pub fn suspicious_lines(
    index: &Index,
    gate: Option<&TestGate>,
    spectrum: Option<&Spectrum>,
    issue: &str,
    localization: &Localization,
    max: usize,
) -> (Vec<SuspiciousLine>, Vec<Evidence>) {
    let mut best: BTreeMap<(String, u32), (f64, Evidence)> = BTreeMap::new();
    let mut add = |path: &str, line: u32, score: f64, why: Evidence| {
        if is_test_path(path) || Lang::from_path(Path::new(path)).is_none() || line == 0 {
            return;
        }
        let e = best.entry((path.to_owned(), line)).or_insert((0.0, why));
        if score > e.0 {
            *e = (score, why);
        }
    };
    let resolve = |tail: &str| resolve_file(index, tail);
    let mut used = Vec::new();
    if let Some(gate) = gate {
        if gate.has_target() {
            used.push(Evidence::FailingTests);
        }
        let roots = [gate.dir(), index.root()];
        let mut any = false;
        for failure in gate
            .baseline
            .failures
            .iter()
            .filter(|f| gate.target.contains(&f.id))
        {
            let frames = trace::in_workspace(&failure.frames, &roots, &resolve);
            let mut weight = 1.0;
            for f in frames.iter().rev() {
                if !is_test_path(&f.path) {
                    add(&f.path, f.line, weight, Evidence::TestFrames);
                    weight *= 0.8;
                    any = true;
                }
            }
        }
        if let Some(broken) = &gate.baseline.broken {
            for f in trace::in_workspace(&broken.frames, &roots, &resolve) {
                add(&f.path, f.line, 1.0, Evidence::TestFrames);
                any = true;
            }
        }
        if any {
            used.push(Evidence::TestFrames);
        }
        if let Some(spectrum) = spectrum {
            let failed = |test: &str| {
                gate.target
                    .iter()
                    .any(|id| coverage::context_matches(test, id))
            };
            let scores = coverage::ochiai(spectrum, &failed);
            if !scores.is_empty() {
                used.push(Evidence::Coverage);
            }
            for s in scores {
                add(&s.path, s.line, 0.95 * s.score, Evidence::Coverage);
            }
        }
    }
    let issue_frames = trace::innermost_last(&trace::frames(issue));
    let in_ws = trace::in_workspace(&issue_frames, &[index.root()], &resolve);
    if in_ws.iter().any(|f| !is_test_path(&f.path)) {
        used.push(Evidence::IssueFrames);
    }
    let mut weight = 0.9;
    for f in in_ws.iter().rev() {
        if !is_test_path(&f.path) {
            add(&f.path, f.line, weight, Evidence::IssueFrames);
            weight *= 0.8;
        }
    }
    let functions: Vec<_> = localization
        .functions
        .iter()
        .filter(|f| !is_test_path(&f.path))
        .take(3)
        .collect();
    if !functions.is_empty() {
        used.push(Evidence::Text);
    }
    for (rank, f) in functions.iter().enumerate() {
        for line in f.start_line..=f.end_line {
            add(&f.path, line, 0.3 / (rank as f64 + 1.0), Evidence::Text);
        }
    }
    let mut lines: Vec<SuspiciousLine> = best
        .into_iter()
        .map(|((path, line), (score, why))| SuspiciousLine {
            path,
            line,
            score,
            why,
        })
        .collect();
    lines.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.line.cmp(&b.line))
    });
    lines.truncate(max);
    used.sort();
    used.dedup();
    (lines, used)
}

/// The workspace file a printed path's tail names: itself, or the one indexed file ending with it.
fn resolve_file(index: &Index, tail: &str) -> Option<String> {
    let tail = tail.trim_start_matches("./");
    if index.file(tail).is_some() {
        return Some(tail.to_owned());
    }
    let suffix = format!("/{tail}");
    let mut found = index
        .snapshot()
        .into_iter()
        .map(|f| f.path.clone())
        .filter(|p| p.ends_with(&suffix));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// The failing tests in words, for the prompt and the localization: one line each, with the
/// message and where it failed.
pub fn failing_tests_text(gate: &TestGate, max: usize) -> String {
    let mut out = String::new();
    for f in gate
        .baseline
        .failures
        .iter()
        .filter(|f| gate.target.contains(&f.id))
        .take(max)
    {
        out.push_str(&format!("- {}: {}", f.id, f.message));
        if let Some(loc) = &f.location {
            out.push_str(&format!(" ({}:{})", loc.path, loc.line));
        }
        out.push('\n');
        // The frames, innermost last, as a traceback names them: localization reads paths.
        for frame in f.frames.iter().rev().take(6).rev() {
            out.push_str(&format!("    {}:{}", frame.path, frame.line));
            if let Some(func) = &frame.function {
                out.push_str(&format!(" in {func}"));
            }
            out.push('\n');
        }
    }
    out
}

/// The summary counts in words: `5 passed, 2 failed`.
pub fn counts_text(counts: &Counts) -> String {
    let mut parts = Vec::new();
    for (n, word) in [
        (counts.passed, "passed"),
        (counts.failed, "failed"),
        (counts.errors, "errors"),
        (counts.skipped, "skipped"),
    ] {
        if let Some(n) = n {
            parts.push(format!("{n} {word}"));
        }
    }
    parts.join(", ")
}
