//! `spot eval …`: measurements on a repository's own history.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use spot_assist::rerank::RerankOptions;
use spot_base::cancel::CancelToken;
use spot_learn::eval_localize::{eval_localize, EvalOptions};
use spot_learn::history::HISTORY_DEPTH;
use spot_model::{Model, Runtime};

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub what: EvalCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Localization on the repository's bug-fix commits: spot, the lexical floor, plain BM25
    /// over files and (with `--ablation`) spot with each signal removed, in the same run.
    Localize(LocalizeEvalArgs),
    /// Two models (before and after learning) on held-out experience: loss, masked-function
    /// exact match, bug-replay localization.
    Model(super::learn::ModelEvalArgs),
    /// Issue-to-patch replayed on the repository's bug-fix commits: valid patches, right
    /// file, equal to the real fix.
    Patch(super::learn::PatchEvalArgs),
}

#[derive(Debug, clap::Args)]
pub struct LocalizeEvalArgs {
    /// The git repository (its history is read; its work tree is not touched).
    #[arg(long)]
    pub repo: PathBuf,
    /// At most this many bug-fix commits, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Also measure spot with each signal removed, one at a time, and without the rule that
    /// ranks declaration files below code.
    #[arg(long)]
    pub ablation: bool,
    /// Past commits (the parent's ancestors) spot reads for its history signals.
    #[arg(long, default_value_t = HISTORY_DEPTH)]
    pub history: usize,
    /// Print the report, with every case, as JSON.
    #[arg(long)]
    pub json: bool,
    /// With `--json`: add each signal's ranking to every case (what the fusion weights are
    /// fitted on; see bench/localize/fit_fusion.py), and with `--rerank-model` each issue
    /// token's score per reranked file.
    #[arg(long, requires = "json")]
    pub signals: bool,
    /// Also measure spot with a model reranking its best files (`spot +rerank`): `default`
    /// for the default model, or a model directory.
    #[arg(long, value_name = "DIR")]
    pub rerank_model: Option<PathBuf>,
    /// Files the model reranks.
    #[arg(long, value_name = "N", default_value_t = RerankOptions::default().top)]
    pub rerank_top: usize,
    /// Weight of the model's ranking (the fused signals' weights sum to 16.75).
    #[arg(long, value_name = "W", default_value_t = RerankOptions::default().weight)]
    pub rerank_weight: f64,
    /// Characters of each file's code the model reads.
    #[arg(long, value_name = "N", default_value_t = RerankOptions::default().code_chars)]
    pub rerank_code_chars: usize,
    #[command(flatten)]
    pub runtime: super::generate::RuntimeArgs,
}

pub fn run(args: EvalArgs) -> anyhow::Result<ExitCode> {
    match args.what {
        EvalCommand::Localize(a) => localize(a),
        EvalCommand::Model(a) => super::learn::eval_models(a),
        EvalCommand::Patch(a) => super::learn::eval_patches(a),
    }
}

fn localize(args: LocalizeEvalArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(Some(&args.repo))?;
    let rerank_model = match &args.rerank_model {
        None => None,
        Some(dir) => {
            let data_dir = spot_base::data_dir::resolve();
            let flag = (dir.as_os_str() != "default").then_some(dir.as_path());
            let dir = super::generate::model_dir(flag, &data_dir)?;
            let rt = Runtime::init(&args.runtime.options(&data_dir))?;
            Some(std::sync::Arc::new(Model::load(&rt, &dir)?))
        }
    };
    let opts = EvalOptions {
        limit: args.limit,
        ablation: args.ablation,
        history_depth: args.history,
        signals: args.signals,
        rerank_model,
        rerank: RerankOptions {
            top: args.rerank_top,
            weight: args.rerank_weight,
            code_chars: args.rerank_code_chars,
            keep_tokens: args.signals,
            ..RerankOptions::default()
        },
        ..EvalOptions::default()
    };
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let started = std::time::Instant::now();
    let report = eval_localize(&root, &opts, &CancelToken::new(), &|done, total| {
        if tty {
            eprint!("\rcase {done}/{total}");
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
    writeln!(
        out,
        "{}: {} bug-fix commits, {:.1} s",
        report.repo,
        report.cases.len(),
        started.elapsed().as_secs_f64()
    )?;
    writeln!(
        out,
        "{:<18} {:>6} {:>6} {:>9} {:>12}",
        "method", "Acc@1", "Acc@5", "Recall@5", "fn Recall@5"
    )?;
    for (name, m) in &report.methods {
        let fr = m.fn_recall5.map_or("-".to_owned(), |r| format!("{r:.3}"));
        writeln!(
            out,
            "{name:<18} {:>6.3} {:>6.3} {:>9.3} {fr:>12}",
            m.acc1, m.acc5, m.recall5
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
