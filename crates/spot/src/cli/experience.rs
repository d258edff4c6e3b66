//! `spot experience DIR --out OUT`: builds the repository's learning experience (design Q&A,
//! masked functions, bug replay, test writing) as chat JSONL with a held-out split.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use spot_learn::experience::{self, ExperienceOptions, Unit};

#[derive(Debug, clap::Args)]
pub struct ExperienceArgs {
    /// Repository (a work tree or a bare repository); read from git at HEAD and its history.
    pub dir: PathBuf,
    /// Output directory: train.jsonl, heldout.jsonl, summary.json.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Most design Q&A samples.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub max_qa: usize,
    /// Most masked-function samples.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub max_masked: usize,
    /// Most bug-replay samples.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub max_bugs: usize,
    /// Most test-writing samples.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_tests: usize,
    /// Share of each unit held out of training.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.1)]
    pub heldout: f64,
    /// Commits of history scanned for fixes.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub history: usize,
    /// Shell command running the repository's tests (in a checkout's root), to verify that
    /// each test-writing sample fails before its fix and passes after it.
    #[arg(long, value_name = "CMD")]
    pub test_cmd: Option<String>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: ExperienceArgs) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        (0.0..1.0).contains(&args.heldout),
        "--heldout must be in [0, 1)"
    );
    let root = args
        .dir
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("cannot open the repository {}: {e}", args.dir.display()))?;
    let opts = ExperienceOptions {
        max_design_qa: args.max_qa,
        max_masked: args.max_masked,
        max_bug_replay: args.max_bugs,
        max_test_writing: args.max_tests,
        heldout: args.heldout,
        history: args.history,
        test_cmd: args.test_cmd.clone(),
        scratch_dir: Some(spot_base::data_dir::scratch_dir(
            &spot_base::data_dir::resolve(),
        )),
        ..ExperienceOptions::default()
    };
    let bar = (!args.json && std::io::IsTerminal::is_terminal(&std::io::stderr())).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {pos}/{len} {wide_bar}")
                .expect("progress template is valid"),
        );
        bar
    });
    let (samples, summary) = experience::build(&root, &opts, &|unit, done, total| {
        if let Some(bar) = &bar {
            bar.set_message(unit.as_str());
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    experience::write(&args.out, &samples, &summary)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        writeln!(
            out,
            "experience of {} at {:.12} in {:.1} s -> {}",
            summary.repo,
            summary.head,
            summary.seconds,
            args.out.display()
        )?;
        writeln!(
            out,
            "  {:<16} {:>6} {:>8} {:>6}  skipped",
            "unit", "train", "held-out", "dups"
        )?;
        for unit in Unit::ALL {
            let u = summary.units.get(&unit).cloned().unwrap_or_default();
            let skipped: Vec<String> = u.skipped.iter().map(|(k, v)| format!("{v} {k}")).collect();
            writeln!(
                out,
                "  {:<16} {:>6} {:>8} {:>6}  {}",
                unit.as_str(),
                u.train,
                u.heldout,
                u.duplicates,
                skipped.join("; ")
            )?;
        }
    }
    if samples.is_empty() {
        eprintln!(
            "spot experience: no samples: is {} a git repository with source files?",
            root.display()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
