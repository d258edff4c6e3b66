//! `spot index [DIR]`: build (or refresh) the persisted index and print a summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use spot_index::{self as spot_index, BuildStats, CacheStart};

#[derive(Debug, clap::Args)]
pub struct IndexArgs {
    /// Workspace directory (default: the current directory).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub common: IndexFlags,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// List skipped files and the reason for each.
    #[arg(long)]
    pub show_skipped: bool,
}

/// Flags shared by every subcommand that builds an index.
#[derive(Debug, Clone, clap::Args)]
pub struct IndexFlags {
    /// Skip files larger than this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = spot_index::DEFAULT_MAX_FILE_SIZE)]
    pub max_file_size: u64,
    /// Neither read nor write the persisted index in spot's data dir.
    #[arg(long)]
    pub no_cache: bool,
}

/// Opens the workspace index: loads the cache, refreshes it against the disk (with a progress
/// bar on a terminal), saves it back. Shared by the index-consuming subcommands.
pub(crate) fn open_index(
    root: PathBuf,
    flags: &IndexFlags,
    progress_bar: bool,
) -> anyhow::Result<(spot_index::Index, BuildStats, CacheStart)> {
    let data_dir = spot_base::data_dir::resolve();
    let index_dir = spot_base::data_dir::index_dir(&data_dir);
    let options = spot_index::IndexOptions {
        max_file_size: flags.max_file_size,
    };
    let cache_dir = (!flags.no_cache).then_some(index_dir.as_path());
    let (index, start) = spot_index::open(root, options, cache_dir);

    let bar = if progress_bar && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} indexing {pos}/{len} files {wide_bar} {eta}",
            )
            .expect("progress template is valid"),
        );
        Some(bar)
    } else {
        None
    };
    let cancel = spot_base::cancel::CancelToken::new();
    let stats = index
        .build(&cancel, &|p| {
            if let Some(bar) = &bar {
                bar.set_length(p.total as u64);
                bar.set_position(p.done as u64);
            }
        })
        .context("indexing was cancelled")?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if let Some(dir) = cache_dir.filter(|_| index.needs_save()) {
        let path = spot_index::persist::cache_path(dir, index.root());
        if let Err(err) = index.save(&path) {
            tracing::warn!("could not save the index: {err}");
        }
    }
    Ok((index, stats, start))
}

pub fn run(args: IndexArgs) -> anyhow::Result<ExitCode> {
    let root = super::workspace_root(args.dir.as_deref())?;
    let (index, stats, start) = open_index(root, &args.common, !args.json)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "root": index.root(),
            "cache": match &start {
                CacheStart::Loaded(n) => format!("loaded {n} entries"),
                CacheStart::Missing => "none".to_owned(),
                CacheStart::Discarded(e) => format!("discarded: {e}"),
                CacheStart::Disabled => "disabled".to_owned(),
            },
            "stats": stats,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "indexed {}", index.root().display())?;
    writeln!(
        out,
        "  {} files ({} parsed, {} from cache, {} removed), {:.1} MB",
        stats.files,
        stats.parsed,
        stats.reused,
        stats.removed,
        stats.bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "  {} symbols, {} references, {} chunks",
        stats.symbols, stats.references, stats.chunks
    )?;
    if !stats.skipped.is_empty() || stats.lossy > 0 {
        writeln!(
            out,
            "  {} skipped, {} decoded lossily (invalid UTF-8)",
            stats.skipped.len(),
            stats.lossy
        )?;
    }
    if args.show_skipped {
        for s in &stats.skipped {
            writeln!(out, "    {}: {}", s.path, s.reason)?;
        }
    }
    writeln!(out, "  in {:.3} s", stats.elapsed.as_secs_f64())?;
    Ok(ExitCode::SUCCESS)
}
