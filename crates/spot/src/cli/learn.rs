//! `spot learn [DIR]`: one learning run (experience → trainer → gate → install) in the
//! foreground with progress, or `--rollback` to the previous learned model; and
//! `spot eval model`: two models compared on held-out experience.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::generate::RuntimeArgs;
use spot_base::cancel::CancelToken;
use spot_learn::eval_model::{self, ModelEval};
use spot_learn::experience::Sample;
use spot_learn::job::{learn, LearnEvent, LearnOptions};
use spot_learn::store::ModelStore;
use spot_model::{Model, Runtime};

#[derive(Debug, clap::Args)]
pub struct LearnArgs {
    /// The repository to learn (default: the current directory).
    pub dir: Option<PathBuf>,
    /// Return to the previously active learned model (or the default model) and exit.
    #[arg(long)]
    pub rollback: bool,
    /// Hugging Face checkpoint to fine-tune (default: the active model's checkpoint/, else the
    /// default model's checkpoint that setup left in the data dir).
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// The model the new one must beat (default: the workspace's active model).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// `full` fine-tuning or `lora`.
    #[arg(long, default_value = "full", value_parser = ["full", "lora"])]
    pub method: String,
    #[arg(long, default_value_t = 2)]
    pub epochs: u32,
    /// Stop training after this many optimizer steps.
    #[arg(long, value_name = "N")]
    pub max_steps: Option<u32>,
    /// Tokens per training sample.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_seq_len: u32,
    /// Torch CPU threads of the trainer.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Most samples per experience unit.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_samples: usize,
    /// Held-out samples the gate evaluates.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub eval_limit: usize,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

pub fn run(args: LearnArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(args.dir.as_deref())?;
    let data_dir = spot_base::data_dir::resolve();
    let store = ModelStore::for_workspace(&data_dir, &root);
    let mut out = std::io::stdout().lock();
    if args.rollback {
        let now = store.rollback()?;
        writeln!(
            out,
            "{}: now using {}",
            root.display(),
            now.map(|v| format!("learned model {v}"))
                .unwrap_or_else(|| "the default model".to_owned())
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let active = match &args.model {
        Some(m) => m.clone(),
        None => spot_learn::store::model_for_workspace(&data_dir, &root),
    };
    anyhow::ensure!(
        active.is_dir(),
        "the active model {} does not exist: run fixtures/models/setup.sh or pass --model",
        active.display()
    );
    let rt = Runtime::init(&args.runtime.options(&data_dir))?;
    let mut opts = LearnOptions {
        base: args.base.clone(),
        method: args.method.clone(),
        epochs: args.epochs,
        max_steps: args.max_steps,
        max_seq_len: args.max_seq_len,
        threads: args.threads,
        eval_limit: args.eval_limit,
        ..LearnOptions::default()
    };
    opts.experience.max_design_qa = args.max_samples;
    opts.experience.max_masked = args.max_samples;
    opts.experience.max_bug_replay = args.max_samples;
    opts.experience.max_test_writing = args.max_samples;
    let cancel = CancelToken::new();
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let outcome = learn(&root, &data_dir, &active, &rt, &opts, &cancel, &mut |ev| {
        if !args.json || tty {
            match &ev {
                LearnEvent::Train { step, .. } if *step % 10 != 0 => {}
                _ => eprintln!("spot learn: {}", ev.describe()),
            }
        }
    })?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&outcome)?)?;
    } else {
        print_comparison(&mut out, &outcome.before, &outcome.after)?;
        writeln!(
            out,
            "{} samples learned in {:.0} s (training {:.0} s); run: {}",
            outcome.train_samples,
            outcome.seconds,
            outcome.train_seconds,
            outcome.run_dir.display()
        )?;
        match &outcome.installed {
            Some(v) => writeln!(out, "installed {v} ({}); spot uses it now", outcome.reason)?,
            None => writeln!(out, "kept the active model: {}", outcome.reason)?,
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |x| format!("{x:.3}"))
}

/// The before → after table.
pub fn print_comparison(
    out: &mut impl Write,
    before: &ModelEval,
    after: &ModelEval,
) -> std::io::Result<()> {
    writeln!(out, "{:<30} {:>9} {:>9}", "held-out", "before", "after")?;
    let rows = [
        ("loss (all units)", Some(before.loss), Some(after.loss)),
        (
            "masked-function loss",
            before.masked_loss,
            after.masked_loss,
        ),
        (
            "masked-function exact match",
            before.masked_exact,
            after.masked_exact,
        ),
        ("bug-replay loss", before.bug_loss, after.bug_loss),
        (
            "bug-replay localization",
            before.bug_localized,
            after.bug_localized,
        ),
    ];
    for (name, b, a) in rows {
        writeln!(out, "{name:<30} {:>9} {:>9}", fmt(b), fmt(a))?;
    }
    writeln!(
        out,
        "{:<30} {:>9} {:>9}",
        "samples scored", before.scored, after.scored
    )
}

#[derive(Debug, clap::Args)]
pub struct ModelEvalArgs {
    /// The model before learning.
    #[arg(long, value_name = "DIR")]
    pub before: PathBuf,
    /// The model after learning.
    #[arg(long, value_name = "DIR")]
    pub after: PathBuf,
    /// An experience directory (`spot experience`); its heldout.jsonl is evaluated.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// At most this many held-out samples.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

fn read_samples(path: &Path) -> anyhow::Result<Vec<Sample>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| anyhow::anyhow!("{}:{}: not a sample: {e}", path.display(), i + 1))
        })
        .collect()
}

/// `spot eval model`: before → after on held-out experience.
pub fn eval_models(args: ModelEvalArgs) -> anyhow::Result<ExitCode> {
    let data_dir = spot_base::data_dir::resolve();
    let mut samples = read_samples(&args.data.join("heldout.jsonl"))?;
    samples.truncate(args.limit);
    anyhow::ensure!(
        !samples.is_empty(),
        "no held-out samples in {}",
        args.data.display()
    );
    let rt = Runtime::init(&args.runtime.options(&data_dir))?;
    let cancel = CancelToken::new();
    let score = |dir: &Path| -> anyhow::Result<ModelEval> {
        let model = Model::load(&rt, dir)?;
        Ok(eval_model::evaluate(&model, &samples, &cancel, &|_, _| {})?)
    };
    let started = std::time::Instant::now();
    let before = score(&args.before)?;
    let after = score(&args.after)?;
    let (better, reason) = eval_model::better(&after, &before);
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({"before": before, "after": after, "better": better, "reason": reason,
            "seconds": started.elapsed().as_secs_f64()});
        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        print_comparison(&mut out, &before, &after)?;
        writeln!(
            out,
            "{}: {reason} ({:.1} s)",
            if better { "better" } else { "not better" },
            started.elapsed().as_secs_f64()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, clap::Args)]
pub struct PatchEvalArgs {
    /// The git repository (its history is read; its work tree is not touched).
    #[arg(long)]
    pub repo: PathBuf,
    /// Model directory (default: the repository's learned model, else the default model).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// No model: with a test command, only the one-line edits the tests judge.
    #[arg(long, conflicts_with_all = ["model", "backend_url"])]
    pub no_model: bool,
    /// Cases wanted, newest first (with a test command: fixes whose tests fail before and pass
    /// after).
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Commits of the history looked at (default: 50 per case wanted, at least 500).
    #[arg(long, value_name = "N")]
    pub scan: Option<usize>,
    /// Only this fix commit (a full or abbreviated sha; repeatable): replay chosen cases, e.g.
    /// the one-line fixes that bench/patch/reach.py lists.
    #[arg(long = "commit", value_name = "SHA")]
    pub commits: Vec<String>,
    /// Model answers per case.
    #[arg(long, default_value_t = 1)]
    pub candidates: usize,
    /// The repository's test command (`sh -c`, from the root of a tree written out under spot's
    /// data dir). A case qualifies when it fails on the fix's tree with the fixed source files
    /// put back, and passes with the real fix; then issue-to-patch runs there as it would live,
    /// and its patch is checked by the command again.
    #[arg(long, value_name = "CMD")]
    pub test_cmd: Option<String>,
    /// No per-test coverage (Python: coverage.py).
    #[arg(long)]
    pub no_coverage: bool,
    /// Time budget of one case's search, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub budget: u64,
    /// Most seconds one test run may take.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub test_timeout: u64,
    /// Test copies judging candidates at once (default: the cores, at most 4).
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub backend: super::generate::BackendArgs,
}

/// `spot eval patch`: issue-to-patch on the repository's own fixes.
pub fn eval_patches(args: PatchEvalArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(Some(&args.repo))?;
    let data_dir = spot_base::data_dir::resolve();
    let model = if args.no_model {
        None
    } else if let Some(model) = args.backend.connect()? {
        Some(model)
    } else {
        let dir = args
            .model
            .clone()
            .unwrap_or_else(|| spot_learn::store::model_for_workspace(&data_dir, &root));
        let rt = Runtime::init(&args.runtime.options(&data_dir))?;
        Some(Model::load(&rt, &dir)?)
    };
    let mut patch = spot_assist::patch::PatchOptions {
        candidates: args.candidates.max(1),
        test_cmd: args.test_cmd.clone(),
        scratch_dir: Some(spot_base::data_dir::scratch_dir(&data_dir)),
        coverage: !args.no_coverage,
        budget: std::time::Duration::from_secs(args.budget.max(1)),
        test_timeout: std::time::Duration::from_secs(args.test_timeout.max(1)),
        ..Default::default()
    };
    if let Some(w) = args.workers {
        patch.test_workers = w.max(1);
    }
    let opts = spot_learn::eval_patch::EvalPatchOptions {
        model: model.as_ref(),
        limit: args.limit,
        scan: args.scan.unwrap_or((args.limit * 50).max(500)),
        commits: args.commits.clone(),
        patch,
        data_dir: data_dir.clone(),
    };
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report =
        spot_learn::eval_patch::eval_patch(&root, &opts, &CancelToken::new(), &|done, total| {
            if tty {
                eprint!("\rcase {done}/{total}");
            } else {
                tracing::info!("case {done}/{total}");
            }
        })?;
    if tty {
        eprintln!();
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    for c in &report.cases {
        let result = match (c.patched, c.plausible, c.exact) {
            (false, _, _) => "no patch",
            (true, _, true) => "equal to the fix",
            (true, Some(true), false) => "plausible",
            (true, Some(false), false) => "fails the tests",
            (true, None, false) if c.right_file => "patch, right file",
            (true, None, false) => "patch, other file",
        };
        let verdict = c
            .verdict
            .and_then(|v| {
                serde_json::to_value(v)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .unwrap_or_default();
        writeln!(
            out,
            "{:.10}  {result:<17} {verdict:<19} {:<11} {:>6.1} s  {}{}",
            c.commit,
            c.source.as_deref().unwrap_or("-"),
            c.seconds,
            c.subject,
            if c.wrong_verdict {
                "  WRONG VERDICT"
            } else {
                ""
            }
        )?;
    }
    let n = report.cases.len();
    match &report.test_cmd {
        None => {
            writeln!(
            out,
            "{n} fixes of {} with {}: {} patches, {} on a file the fix changed, {} equal to the \
             real fix (not tested: verdicts are `unverified`); {:.1} s per case",
            report.repo, report.model, report.patched, report.right_file, report.exact,
            report.mean_seconds
        )?
        }
        Some(cmd) => writeln!(
            out,
            "{n} qualified fixes of {} (of {} fix commits tried; `{cmd}`, coverage {}) with {}: \
             {} patches, {} plausible (they pass the tests), {} equal to the real fix, {} wrong \
             verdicts; {:.1} s per case",
            report.repo,
            report.scanned,
            if report.coverage { "on" } else { "off" },
            report.model,
            report.patched,
            report.plausible,
            report.exact,
            report.wrong_verdicts,
            report.mean_seconds
        )?,
    }
    Ok(ExitCode::SUCCESS)
}
