//! `spot patch DIR ISSUE`: issue-to-patch from the command line. Prints the validated unified
//! diff; `--apply` writes it (atomically, and only when the files did not change meanwhile).
//!
//! Exit codes: 0 a valid patch (applied with `--apply`), 1 no valid patch, 2 bad input (model,
//! runtime, arguments).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::generate::{workspace_model_dir, RuntimeArgs};
use super::index::{open_index, IndexFlags};
use super::localize::issue_text;
use spot_assist::edit;
use spot_assist::patch::{
    issue_to_patch, patch_prompt, PatchError, PatchOptions, PatchSource, Stage, Workspace,
};
use spot_assist::rerank::RerankOptions;
use spot_base::cancel::CancelToken;
use spot_learn::history::{workspace_history, HISTORY_DEPTH};
use spot_model::{Model, Runtime};

#[derive(Debug, clap::Args)]
pub struct PatchArgs {
    /// Workspace directory.
    pub dir: PathBuf,
    /// The issue text; `-` reads it from stdin, `@FILE` from a file.
    pub issue: String,
    /// Write the patch to the files (atomically; refused if a file changed meanwhile).
    #[arg(long)]
    pub apply: bool,
    /// Model directory. Default: the workspace's learned model (`spot learn`), else the
    /// default model.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Model answers to try before giving up (the first is greedy, the others sampled).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub candidates: usize,
    /// Most tokens per answer.
    #[arg(long, value_name = "N", default_value_t = 384)]
    pub max_tokens: usize,
    /// Seed of the sampled candidates.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The project's test command (run with `sh -c` from the workspace root): a patch must also
    /// pass it. It runs in a scratch copy of the workspace under spot's data dir, and must pass
    /// before any patch, or it is not used.
    #[arg(long, value_name = "CMD")]
    pub test_cmd: Option<String>,
    /// Past commits read for localization's history signals (0: none).
    #[arg(long, default_value_t = HISTORY_DEPTH)]
    pub history: usize,
    /// Let the model rerank the best N files of the localization (0: off; see bench/README.md).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rerank: usize,
    /// One-line edits ranked by the model when no answer validates (0: none).
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
    /// Print the result as JSON (diff, files, localization, candidates).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
    #[command(flatten)]
    pub common: IndexFlags,
}

pub fn run(args: PatchArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(Some(&args.dir))?;
    let issue = issue_text(&args.issue)?;
    anyhow::ensure!(!issue.trim().is_empty(), "the issue text is empty");
    let data_dir = spot_base::data_dir::resolve();
    let dir = workspace_model_dir(args.model.as_deref(), &data_dir, &root)?;
    let (index, _, _) = open_index(root, &args.common, !args.json)?;
    let rt = Runtime::init(&args.runtime.options(&data_dir))?;
    let model = Model::load(&rt, &dir)?;

    let read = |rel: &str| {
        let abs = edit::check_path(index.root(), rel).ok()?;
        std::fs::read_to_string(abs).ok()
    };
    let history = workspace_history(index.root(), args.history);
    let ws = Workspace {
        index: &index,
        read: &read,
        history: history.as_ref(),
    };
    let opts = PatchOptions {
        candidates: args.candidates.max(1),
        max_new_tokens: args.max_tokens,
        seed: args.seed,
        mutants: args.mutants,
        lookup: args.lookup,
        test_cmd: args.test_cmd.clone(),
        scratch_dir: Some(spot_base::data_dir::scratch_dir(&data_dir)),
        rerank: (args.rerank > 0).then(|| RerankOptions {
            top: args.rerank,
            ..RerankOptions::default()
        }),
        ..PatchOptions::default()
    };
    let spinner = (!args.json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    });
    let cancel = CancelToken::new();
    if args.verbose {
        let (messages, ..) = patch_prompt(&ws, &model, &issue, None, &opts, &cancel)?;
        eprintln!(
            "--- prompt ---\n{}\n---",
            model.render_chat(&messages, true)?
        );
    }
    let started = std::time::Instant::now();
    let result = issue_to_patch(&ws, &model, &issue, None, &opts, &cancel, &mut |stage| {
        if let Some(bar) = &spinner {
            bar.set_message(stage.describe());
        } else if !matches!(stage, Stage::Generating { tokens, .. } if tokens > 0) {
            tracing::info!("{}", stage.describe());
        }
    });
    if let Some(bar) = spinner {
        bar.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let patch = match result {
        Ok(patch) => patch,
        Err(PatchError::NoValidPatch { tried, reasons }) => {
            if args.json {
                let value = serde_json::json!({"status": "no_valid_patch", "candidates": tried, "rejected": reasons});
                writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
            }
            eprintln!("spot patch: no valid patch in {tried} model answers ({elapsed:.1} s):");
            for r in reasons {
                eprintln!("  {r}");
            }
            return Ok(ExitCode::from(1));
        }
        Err(PatchError::NothingLocalized) => {
            eprintln!("spot patch: {}", PatchError::NothingLocalized);
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    if args.verbose {
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
        edit::write_atomically(index.root(), &patch.edits)?;
        true
    } else {
        false
    };
    if args.json {
        let value = serde_json::json!({
            "status": if applied { "applied" } else { "proposed" },
            "diff": patch.diff,
            "files": patch.edits.iter().map(|e| &e.path).collect::<Vec<_>>(),
            "summary": patch.summary(),
            "candidates": patch.candidates,
            "source": match patch.source {
                PatchSource::Answer => serde_json::json!({"kind": "answer"}),
                PatchSource::OneLineEdit { score } => serde_json::json!({"kind": "one_line_edit", "score": score}),
            },
            "tested": patch.tested,
            "rejected": patch.rejected,
            "answer": patch.answer,
            "localization": patch.localization,
            "seconds": elapsed,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    } else {
        write!(out, "{}", patch.diff)?;
        eprintln!(
            "spot patch: {} (validated: applies, parses, inside the workspace; {}; {elapsed:.1} s){}",
            patch.summary(),
            patch.provenance(opts.candidates),
            if applied { "; written" } else { "; not written (pass --apply)" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
