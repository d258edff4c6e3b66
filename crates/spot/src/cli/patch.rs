//! `spot patch DIR ISSUE`: issue-to-patch from the command line. Prints the patch as a unified
//! diff and, on stderr, what spot can claim of it (the verdict: "fixes the 1 failing test", or "a
//! guess"); `--apply` writes it (atomically, and only when the files did not change meanwhile).
//!
//! Exit codes: 0 a patch (applied with `--apply`), 1 no patch, 2 bad input (model, runtime,
//! arguments).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::generate::RuntimeArgs;
use super::index::IndexFlags;
use super::localize::issue_text;
use spot_assist::edit;
use spot_assist::jobs::{JobKind, JobStage};
use spot_assist::patch::{PatchError, PatchOptions};
use spot_assist::rerank::RerankOptions;
use spot_learn::history::HISTORY_DEPTH;

#[derive(Debug, clap::Args)]
pub struct PatchArgs {
    /// Workspace directory.
    pub dir: PathBuf,
    /// The issue text; `-` reads it from stdin, `@FILE` from a file. May be empty with
    /// `--target-test`.
    pub issue: String,
    /// Write the patch to the files (atomically; refused if a file changed meanwhile).
    #[arg(long)]
    pub apply: bool,
    /// Model directory. Default: the workspace's learned model (`spot learn`), else the
    /// default model.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// No model: with a test command, only the one-line edits the tests judge.
    #[arg(long, conflicts_with_all = ["model", "backend_url"])]
    pub no_model: bool,
    /// Model answers to try (the first two greedy, the others sampled).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub candidates: usize,
    /// Most tokens per answer.
    #[arg(long, value_name = "N", default_value_t = 384)]
    pub max_tokens: usize,
    /// Seed of the sampled candidates.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The project's test command (run with `sh -c` from the workspace root, in scratch copies
    /// under spot's data dir). It runs once before any patch: the tests that fail there are the
    /// target, and a patch must make them pass without breaking another ("fixes the failing
    /// tests"); when none fails, a patch must keep the suite passing (a guess).
    #[arg(long, value_name = "CMD")]
    pub test_cmd: Option<String>,
    /// Fix this failing test only (its id as the runner prints it, or its name); needs
    /// `--test-cmd`.
    #[arg(long, value_name = "TEST", requires = "test_cmd")]
    pub target_test: Option<String>,
    /// Most seconds one test run may take.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub test_timeout: u64,
    /// The whole search's time budget in seconds: no candidate starts after it.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub budget: u64,
    /// Test copies judging candidates at once (default: the cores, at most 4).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// No per-test coverage (Python: coverage.py) when tests fail.
    #[arg(long)]
    pub no_coverage: bool,
    /// Past commits read for localization's history signals (0: none).
    #[arg(long, default_value_t = HISTORY_DEPTH)]
    pub history: usize,
    /// Let the model rerank the best N files of the localization (0: off; see bench/README.md).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rerank: usize,
    /// One-line edits ranked by the model when no test fails (0: none).
    #[arg(long, value_name = "N", default_value_t = 24)]
    pub mutants: usize,
    /// Also print the prompt, the model's answer and why candidates were rejected (stderr).
    #[arg(long, short = 'v')]
    pub verbose: bool,
    /// Guess up to N next tokens of each answer from the prompt (prompt lookup) and check them
    /// in one graph run (0: off). Faster; the same greedy answer on fp32 models (see `spot
    /// generate`).
    #[arg(long, value_name = "N", default_value_t = spot_model::DEFAULT_LOOKUP)]
    pub lookup: usize,
    /// Print the result as JSON (verdict, diff, files, tests, evidence, localization).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub backend: super::generate::BackendArgs,
    #[command(flatten)]
    pub common: IndexFlags,
}

pub fn run(args: PatchArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(Some(&args.dir))?;
    let issue = issue_text(&args.issue)?;
    anyhow::ensure!(
        !issue.trim().is_empty() || args.target_test.is_some(),
        "the issue text is empty (give one, or --target-test with --test-cmd)"
    );
    let host = super::host::open(
        root,
        &args.common,
        !args.json,
        args.model.as_deref(),
        &args.runtime,
        &args.backend,
        args.history,
    )?;
    let mut opts = PatchOptions {
        candidates: args.candidates.max(1),
        max_new_tokens: args.max_tokens,
        seed: args.seed,
        mutants: args.mutants,
        lookup: args.lookup,
        test_cmd: args.test_cmd.clone(),
        target_test: args.target_test.clone(),
        test_timeout: Duration::from_secs(args.test_timeout.max(1)),
        budget: Duration::from_secs(args.budget.max(1)),
        coverage: !args.no_coverage,
        rerank: (args.rerank > 0).then(|| RerankOptions {
            top: args.rerank,
            ..RerankOptions::default()
        }),
        ..PatchOptions::default()
    };
    if let Some(w) = args.workers {
        opts.test_workers = w.max(1);
    }
    let issue = if issue.trim().is_empty() {
        format!(
            "The test `{}` fails. Fix the code it tests.",
            args.target_test.as_deref().unwrap_or_default()
        )
    } else {
        issue
    };
    let spinner = (!args.json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let job = host.jobs().start(JobKind::IssueToPatch, None, None);
    let mut on_stage = |stage: &JobStage| {
        if let Some(bar) = &spinner {
            bar.set_message(stage.describe());
        } else if !matches!(stage, JobStage::Generating { tokens, .. } if *tokens > 0)
            && !matches!(stage, JobStage::Ranking { done, .. } if *done > 0)
        {
            tracing::info!("{}", stage.describe());
        }
    };
    let result = if args.no_model {
        host.issue_to_patch_without_model(&issue, None, opts.clone(), &job, &mut on_stage)
    } else {
        host.issue_to_patch(&issue, None, opts.clone(), &job, &mut on_stage)
    };
    drop(job);
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let mut out = std::io::stdout().lock();
    let patch = match result {
        Ok(patch) => patch,
        Err(PatchError::NoValidPatch {
            tried,
            reasons,
            prompt,
        }) => {
            if args.verbose && !prompt.is_empty() {
                eprintln!("--- prompt ---\n{prompt}\n---");
            }
            if args.json {
                let value = serde_json::json!({
                    "status": "no_patch",
                    "tried": tried,
                    "rejected": reasons,
                });
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            }
            eprintln!("spot patch: no patch ({tried} candidates tried):");
            for r in reasons {
                eprintln!("  {r}");
            }
            return Ok(ExitCode::from(1));
        }
        Err(e @ (PatchError::NothingLocalized | PatchError::Tests(_))) => {
            eprintln!("spot patch: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if args.verbose {
        if !patch.prompt.is_empty() {
            eprintln!("--- prompt ---\n{}\n---", patch.prompt);
        }
        for r in &patch.rejected {
            eprintln!("rejected {r}");
        }
        eprintln!(
            "--- answer ({}) ---\n{}\n---",
            patch.provenance(opts.candidates),
            patch.answer
        );
    }
    let applied = if args.apply {
        edit::write_atomically(host.index().root(), &patch.edits)?;
        true
    } else {
        false
    };
    let evidence: Vec<String> = patch
        .evidence
        .iter()
        .map(|e| serde_json::to_value(e).map(|v| v.as_str().unwrap_or_default().to_owned()))
        .collect::<Result<_, _>>()?;
    if args.json {
        let value = serde_json::json!({
            "status": if applied { "applied" } else { "proposed" },
            "verdict": patch.verdict,
            "verdictText": patch.verdict_text(),
            "diff": patch.diff,
            "files": patch.edits.iter().map(|e| &e.path).collect::<Vec<_>>(),
            "summary": patch.summary(),
            "candidates": patch.candidates,
            "source": patch.source,
            "tests": patch.tests,
            "evidence": evidence,
            "rejected": patch.rejected,
            "answer": patch.answer,
            "localization": patch.localization,
            "seconds": patch.seconds,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write!(out, "{}", patch.diff)?;
        eprintln!(
            "spot patch: {} — {} ({}; evidence: {}; {:.1} s){}",
            patch.summary(),
            patch.verdict_text(),
            patch.provenance(opts.candidates),
            evidence.join(", ").replace('_', " "),
            patch.seconds,
            if applied {
                "; written"
            } else {
                "; not written (pass --apply)"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
