//! Hostile repositories and hostile model answers (issue 19): the workspace, its git
//! configuration and a model's answer are untrusted. Each test here failed on the code before its
//! fix.
//!
//! - a repository whose `.git/config` and `.gitattributes` name programs for git to run
//!   (fsmonitor, external diff, textconv, smudge/clean filters, pager) runs none of them through
//!   `spot eval localize`, `spot localize` (history signals) or `spot experience --test-cmd`
//!   (which writes commits' trees out);
//! - `spot patch --apply` and the validation behind every editor edit refuse to touch `.git/`,
//!   files the index does not know, and paths behind symlinks (including dangling ones).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{git, write_fixture};

/// `spot ARGS` with `data` as its data dir: success, stdout, stderr.
fn spot(data: &Path, args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = common::spot_code(data, args);
    (code == Some(0), out, err)
}

/// A repository with a short history of fixes, then a configuration that would run `evil.sh
/// <what>` (which touches `marks/<what>`) from every place git lets a repository name a program.
fn hostile_repo(dir: &Path) -> (PathBuf, PathBuf) {
    let repo = dir.join("repo");
    let marks = dir.join("marks");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(&marks).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["config", "user.email", "t@example.com"]);
    git(&repo, &["config", "user.name", "t"]);
    write_fixture(
        &repo,
        r#"
//- /shop/pricing.py
def bulk_discount(qty, price):
    """Ten percent off from 10 units."""
    if qty > 10:
        return price * 0.9
    return price
//- /shop/cart.py
def total(items):
    return sum(i.price for i in items)
//- /tests/test_pricing.py
from shop.pricing import bulk_discount

def test_ten():
    assert bulk_discount(10, 100) == 90
"#,
    );
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-qm", "Add pricing and cart"]);
    let fixes = [
        (
            "shop/pricing.py",
            "qty > 10",
            "qty >= 10",
            "Fix bulk discount at exactly 10 units",
        ),
        (
            "shop/cart.py",
            "i.price for",
            "i.price * 1 for",
            "Fix cart total rounding bug",
        ),
        (
            "shop/pricing.py",
            "price * 0.9",
            "price * 0.90",
            "Fix discount factor typo",
        ),
    ];
    for (path, from, to, message) in fixes {
        let p = repo.join(path);
        let text = std::fs::read_to_string(&p).unwrap().replace(from, to);
        std::fs::write(&p, text).unwrap();
        git(&repo, &["commit", "-qam", message]);
    }
    // The attack: written after the history, as a repository someone else prepared would be.
    let evil = dir.join("evil.sh");
    std::fs::write(
        &evil,
        format!("#!/bin/sh\ntouch '{}'/\"$1\"\n", marks.display()),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(repo.join(".gitattributes"), "*.py diff=evil filter=evil\n").unwrap();
    let run = |what: &str| format!("{} {what}", evil.display());
    let mut config = std::fs::read_to_string(repo.join(".git/config")).unwrap();
    config.push_str(&format!(
        "[core]\n\tfsmonitor = {}\n\tpager = {}\n\thooksPath = {}\n\
         [diff]\n\texternal = {}\n\
         [diff \"evil\"]\n\ttextconv = {}\n\tcommand = {}\n\
         [filter \"evil\"]\n\tsmudge = {}\n\tclean = {}\n\
         [pager]\n\tlog = {}\n\tdiff = {}\n",
        run("fsmonitor"),
        run("pager"),
        marks.display(),
        run("diff-external"),
        run("textconv"),
        run("diff-command"),
        run("smudge"),
        run("clean"),
        run("pager-log"),
        run("pager-diff"),
    ));
    std::fs::write(repo.join(".git/config"), config).unwrap();
    for hook in [
        "post-checkout",
        "pre-commit",
        "post-index-change",
        "reference-transaction",
    ] {
        let h = repo.join(".git/hooks").join(hook);
        std::fs::create_dir_all(h.parent().unwrap()).unwrap();
        std::fs::write(&h, format!("#!/bin/sh\n{} hook-{hook}\n", evil.display())).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&h, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    // The configuration is live: plain git runs the planted program.
    let probe = Command::new("git")
        .arg("-C")
        .arg(&repo)
        .args(["diff", "HEAD~1", "HEAD"])
        .output()
        .unwrap();
    assert!(probe.status.success(), "{probe:?}");
    assert!(
        std::fs::read_dir(&marks).unwrap().next().is_some(),
        "the planted configuration is not live, so the test would prove nothing"
    );
    for m in std::fs::read_dir(&marks).unwrap() {
        std::fs::remove_file(m.unwrap().path()).unwrap();
    }
    (repo, marks)
}

fn marks_in(marks: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(marks)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn issue_19_a_hostile_git_config_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (repo, marks) = hostile_repo(dir.path());
    let repo_s = repo.to_str().unwrap();

    let (ok, out, err) = spot(&data, &["eval", "localize", "--repo", repo_s, "--json"]);
    assert!(ok, "{err}");
    assert!(out.contains("\"cases\""), "{out}");
    assert_eq!(marks_in(&marks), Vec::<String>::new(), "eval localize");

    let (ok, _, err) = spot(&data, &["localize", repo_s, "bulk discount at 10 units"]);
    assert!(ok, "{err}");
    assert_eq!(marks_in(&marks), Vec::<String>::new(), "localize");

    let out_dir = dir.path().join("experience");
    let (ok, _, err) = spot(
        &data,
        &[
            "experience",
            repo_s,
            "--out",
            out_dir.to_str().unwrap(),
            "--test-cmd",
            "true",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(marks_in(&marks), Vec::<String>::new(), "experience");
}
