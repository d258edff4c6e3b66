//! `spot doctor`: checks the installation and prints one section per part (data dir, ONNX
//! Runtime, execution providers, model directory file by file, model load, index), exiting
//! non-zero when something needed is broken. Only reports; it repairs nothing.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::generate::RuntimeArgs;
use spot_model::{default_model_dir, inspect_dir, FileStatus, Model, Runtime};

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Model directory to check (default: the default model under the data dir).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Delete the cached indexes of workspaces that no longer exist and those this spot cannot
    /// read (an old format, a corrupt file); they are only listed without it.
    #[arg(long)]
    pub prune: bool,
    #[command(flatten)]
    pub runtime: RuntimeArgs,
}

/// Collects the report lines and whether anything needed failed.
struct Report<W: Write> {
    out: W,
    broken: usize,
}

impl<W: Write> Report<W> {
    fn line(&mut self, status: Status, what: &str, detail: &str) -> anyhow::Result<()> {
        if status == Status::Fail {
            self.broken += 1;
        }
        writeln!(self.out, "{:<5} {what:<24} {detail}", status.label())
            .context("cannot write to stdout")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
    Info,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Info => "-",
        }
    }
}

pub fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut report = Report {
        out: stdout.lock(),
        broken: 0,
    };
    let data_dir = spot_base::data_dir::resolve();
    check_data_dir(&mut report, &data_dir)?;
    let runtime = check_runtime(&mut report, &args.runtime, &data_dir)?;
    let model_dir = args
        .model
        .clone()
        .unwrap_or_else(|| default_model_dir(&data_dir));
    check_model(&mut report, runtime.as_ref(), &model_dir)?;

    check_indexes(
        &mut report,
        &spot_base::data_dir::index_dir(&data_dir),
        args.prune,
    )?;

    if report.broken > 0 {
        writeln!(report.out, "\n{} problem(s) found", report.broken)?;
        Ok(ExitCode::FAILURE)
    } else {
        writeln!(report.out, "\nall checks passed")?;
        Ok(ExitCode::SUCCESS)
    }
}

/// One line per persisted workspace index. A cache of a workspace that no longer exists, or one
/// this spot cannot read (rebuilt on next use), is a warning; `prune` deletes those.
fn check_indexes<W: Write>(report: &mut Report<W>, dir: &Path, prune: bool) -> anyhow::Result<()> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "idx"))
            .collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    if paths.is_empty() {
        return report.line(Status::Info, "index", "no workspace indexed yet");
    }
    let mut stale = 0usize;
    for path in paths {
        let problem = match spot_index::persist::inspect(&path) {
            Ok(s) if Path::new(&s.root).is_dir() => {
                report.line(
                    Status::Ok,
                    "index",
                    &format!(
                        "{} ({} files, {:.1} MB cache)",
                        s.root,
                        s.files,
                        s.bytes as f64 / 1e6
                    ),
                )?;
                continue;
            }
            Ok(s) => format!(
                "{} no longer exists ({:.1} MB cache: {})",
                s.root,
                s.bytes as f64 / 1e6,
                path.display()
            ),
            Err(err) => format!("{err} (rebuilt on next use)"),
        };
        stale += 1;
        if prune {
            match std::fs::remove_file(&path) {
                Ok(()) => report.line(Status::Info, "index", &format!("{problem}: deleted"))?,
                Err(e) => report.line(
                    Status::Warn,
                    "index",
                    &format!("{problem}: could not delete it: {e}"),
                )?,
            }
        } else {
            report.line(Status::Warn, "index", &problem)?;
        }
    }
    if stale > 0 && !prune {
        report.line(
            Status::Info,
            "index",
            &format!("{stale} stale cache(s): `spot doctor --prune` deletes them"),
        )?;
    }
    Ok(())
}

fn check_data_dir<W: Write>(report: &mut Report<W>, data_dir: &Path) -> anyhow::Result<()> {
    let (status, note) = if data_dir.is_dir() {
        (Status::Ok, "")
    } else {
        (Status::Warn, " (does not exist yet)")
    };
    report.line(status, "data dir", &format!("{}{note}", data_dir.display()))
}

fn check_runtime<W: Write>(
    report: &mut Report<W>,
    args: &RuntimeArgs,
    data_dir: &Path,
) -> anyhow::Result<Option<Runtime>> {
    match Runtime::init(&args.options(data_dir)) {
        Ok(rt) => {
            let info = rt.info();
            report.line(
                Status::Ok,
                "onnx runtime",
                &format!(
                    "{} at {} (found via {})",
                    info.version,
                    info.lib_path.display(),
                    info.source
                ),
            )?;
            report.line(
                Status::Ok,
                "execution providers",
                &format!(
                    "available: {}; requested: {}",
                    info.providers_available.join(", "),
                    info.provider
                ),
            )?;
            Ok(Some(rt))
        }
        Err(e) => {
            report.line(Status::Fail, "onnx runtime", &e.to_string())?;
            Ok(None)
        }
    }
}

fn check_model<W: Write>(
    report: &mut Report<W>,
    runtime: Option<&Runtime>,
    dir: &Path,
) -> anyhow::Result<()> {
    let files = inspect_dir(dir);
    if !files.exists {
        return report.line(
            Status::Fail,
            "model dir",
            &format!(
                "{} does not exist (build the default model with fixtures/models/setup.sh, or \
                 pass --model DIR)",
                dir.display()
            ),
        );
    }
    report.line(Status::Info, "model dir", &dir.display().to_string())?;
    for file in &files.files {
        let (status, detail) = match (&file.status, file.required) {
            (FileStatus::Ok(detail), _) => (Status::Ok, detail.clone()),
            (FileStatus::Missing, true) => (Status::Fail, "missing".to_owned()),
            (FileStatus::Missing, false) => (Status::Info, "absent (optional)".to_owned()),
            (FileStatus::Invalid(message), true) => (Status::Fail, message.clone()),
            (FileStatus::Invalid(message), false) => (Status::Warn, message.clone()),
        };
        report.line(status, &format!("  {}", file.name), &detail)?;
    }
    let Some(rt) = runtime else {
        return report.line(Status::Info, "model load", "skipped: no ONNX Runtime");
    };
    if !files.is_ok() {
        return report.line(Status::Info, "model load", "skipped: files missing");
    }
    match Model::load(rt, dir) {
        Ok(model) => {
            let info = model.info();
            report.line(
                Status::Ok,
                "model load",
                &format!(
                    "{} layers, {} KV heads x {}, KV {}{}, vocab {}, context {}, chat template \
                     {}, logits {}, provider {}",
                    info.layers,
                    info.kv_heads,
                    info.head_dim,
                    info.kv_dtype,
                    if info.shared_kv_buffer {
                        " (shared buffer)"
                    } else {
                        ""
                    },
                    info.vocab_size,
                    info.context_length,
                    if info.has_chat_template { "yes" } else { "no" },
                    if info.last_logits_only {
                        "last position only"
                    } else {
                        "every position"
                    },
                    info.provider
                ),
            )
        }
        Err(e) => report.line(Status::Fail, "model load", &e.to_string()),
    }
}
