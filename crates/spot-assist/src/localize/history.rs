//! What the repository's past commits say about an issue: files changed by commits whose
//! messages resemble it, files that past fixes changed most (a prior), and files changed
//! together with a given set (co-change). Plain data in, rankings out: the commits are read
//! by `learn/git`, and only commits older than the indexed state may be given (no leakage).

use std::collections::HashMap;

use spot_index::tokenize;

/// BM25 parameters over commit messages.
const K1: f64 = 1.2;
const B: f64 = 0.75;
/// Commits that touch more files than this are refactors, formatting or merges: they say
/// little about which files belong together.
const MAX_COCHANGE_FILES: usize = 12;

/// One past commit.
#[derive(Debug, Clone)]
pub struct PastCommit {
    /// The message, cleaned by [`message_text`].
    pub message: String,
    /// Paths it changed (relative to the repository root).
    pub files: Vec<String>,
    /// Its message reads like a bug fix.
    pub fix: bool,
}

/// Past commits, newest first, with a term index of their messages.
#[derive(Debug, Default)]
pub struct History {
    commits: Vec<PastCommit>,
    /// Per commit: (term hash, term frequency), sorted by term.
    terms: Vec<Vec<(u64, u32)>>,
    /// Per commit: number of terms.
    lens: Vec<u32>,
    /// Term hash → number of commits containing it.
    df: HashMap<u64, u32>,
    /// Path → indexes of the commits that changed it, newest first.
    touching: HashMap<String, Vec<u32>>,
}

impl History {
    /// `commits` newest first.
    pub fn new(commits: Vec<PastCommit>) -> History {
        let mut terms = Vec::with_capacity(commits.len());
        let mut lens = Vec::with_capacity(commits.len());
        let mut df: HashMap<u64, u32> = HashMap::new();
        let mut touching: HashMap<String, Vec<u32>> = HashMap::new();
        let mut hashes = Vec::new();
        for (k, c) in commits.iter().enumerate() {
            hashes.clear();
            tokenize::term_hashes(&c.message, &mut hashes);
            lens.push(hashes.len() as u32);
            hashes.sort_unstable();
            let mut tf: Vec<(u64, u32)> = Vec::new();
            for &h in &hashes {
                match tf.last_mut() {
                    Some((last, n)) if *last == h => *n += 1,
                    _ => tf.push((h, 1)),
                }
            }
            for (h, _) in &tf {
                *df.entry(*h).or_default() += 1;
            }
            terms.push(tf);
            for f in &c.files {
                touching.entry(f.clone()).or_default().push(k as u32);
            }
        }
        History {
            commits,
            terms,
            lens,
            df,
            touching,
        }
    }

    pub fn len(&self) -> usize {
        self.commits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }

    pub fn commits(&self) -> &[PastCommit] {
        &self.commits
    }

    /// Past commits whose messages are most like `query` (BM25), best first, at most
    /// `limit`: (commit index, score). Each distinct term counts once: weighing repeats (the
    /// issue's title, said twice) here cost 0.013 Acc@1 held out (bench/README.md).
    pub fn similar(&self, query: &str, limit: usize) -> Vec<(usize, f64)> {
        let q: Vec<u64> = tokenize::query_terms(query)
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        let n = self.commits.len() as f64;
        if q.is_empty() || n == 0.0 {
            return Vec::new();
        }
        let avg = self.lens.iter().map(|&l| f64::from(l)).sum::<f64>() / n;
        let idf: Vec<(u64, f64)> = q
            .iter()
            .filter_map(|h| {
                let d = f64::from(*self.df.get(h)?);
                Some((*h, (1.0 + (n - d + 0.5) / (d + 0.5)).ln()))
            })
            .collect();
        let mut scored: Vec<(usize, f64)> = Vec::new();
        for (k, tf) in self.terms.iter().enumerate() {
            let len = f64::from(self.lens.get(k).copied().unwrap_or(0));
            let mut score = 0.0;
            for &(h, w) in &idf {
                if let Ok(i) = tf.binary_search_by(|(t, _)| t.cmp(&h)) {
                    let f = f64::from(tf.get(i).map_or(0, |&(_, f)| f));
                    score += w * f * (K1 + 1.0) / (f + K1 * (1.0 - B + B * len / avg.max(1.0)));
                }
            }
            if score > 0.0 {
                scored.push((k, score));
            }
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        scored.truncate(limit);
        scored
    }

    /// How often past fixes changed `path`, recent ones counting more (`half_life` commits).
    pub fn fix_prior(&self, path: &str, half_life: f64) -> f64 {
        let Some(ks) = self.touching.get(path) else {
            return 0.0;
        };
        ks.iter()
            .filter(|&&k| self.commits.get(k as usize).is_some_and(|c| c.fix))
            .map(|&k| 0.5f64.powf(f64::from(k) / half_life))
            .sum()
    }

    /// Paths changed together with `path`: (other path, share of `path`'s commits that also
    /// changed it). Large commits are left out.
    pub fn cochanged(&self, path: &str) -> Vec<(String, f64)> {
        let Some(ks) = self.touching.get(path) else {
            return Vec::new();
        };
        let mut counts: HashMap<&str, f64> = HashMap::new();
        let mut n = 0.0;
        for &k in ks {
            let Some(c) = self.commits.get(k as usize) else {
                continue;
            };
            if c.files.len() > MAX_COCHANGE_FILES {
                continue;
            }
            n += 1.0;
            for f in &c.files {
                if f != path {
                    *counts.entry(f.as_str()).or_default() += 1.0;
                }
            }
        }
        if n == 0.0 {
            return Vec::new();
        }
        // Shrunk towards zero for files with few commits: one shared commit of one is weak.
        let mut out: Vec<(String, f64)> = counts
            .into_iter()
            .map(|(f, k)| (f.to_owned(), k / (n + 2.0)))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }
}

/// A commit message as issue text: subject and body without trailers (`Signed-off-by:`,
/// `Co-authored-by:`), bare issue references (`Fixes #12`, `Closes: https://…`) or the pull
/// request number of the subject (`(#123)`).
pub fn message_text(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for (k, line) in message.lines().enumerate() {
        let t = line.trim();
        if k > 0 && (is_trailer(t) || is_reference_line(t)) {
            continue;
        }
        let line = if k == 0 { strip_pr_number(line) } else { line };
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_owned()
}

/// `Key-by: value` and the other trailers git and hosting sites add.
fn is_trailer(line: &str) -> bool {
    let Some((key, _)) = line.split_once(": ") else {
        return false;
    };
    let key = key.to_ascii_lowercase();
    key.ends_with("-by")
        || matches!(
            key.as_str(),
            "change-id" | "reviewed-on" | "cc" | "bug" | "pr-url" | "pr-close" | "git-svn-id"
        )
}

/// A line that is only issue/PR references, with or without a verb: `Fixes #12`, `closes
/// #3, #4`, `Ref: https://github.com/o/r/issues/9`, `#12`.
fn is_reference_line(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let mut rest = lower.as_str();
    for verb in [
        "fixes",
        "fixed",
        "fix",
        "closes",
        "closed",
        "close",
        "resolves",
        "resolved",
        "resolve",
        "refs",
        "ref",
        "references",
        "see",
        "related to",
        "related",
        "part of",
        "cf.",
    ] {
        if let Some(r) = rest.strip_prefix(verb) {
            rest = r;
            break;
        }
    }
    let rest = rest.trim_start_matches([':', ' ']);
    !rest.is_empty()
        && rest
            .split([',', ' '])
            .filter(|w| !w.is_empty() && *w != "and")
            .all(is_reference)
}

/// `Fix the thing (#123)` → `Fix the thing`.
fn strip_pr_number(subject: &str) -> &str {
    let t = subject.trim_end();
    let Some((head, tail)) = t.rsplit_once(" (#") else {
        return t;
    };
    match tail.strip_suffix(')') {
        Some(n) if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) => head,
        _ => t,
    }
}

/// `#12`, `o/r#12`, or a URL.
fn is_reference(word: &str) -> bool {
    let w = word.trim_end_matches('.');
    let number = |n: &str| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit());
    w.starts_with("http://")
        || w.starts_with("https://")
        || w.split_once('#').is_some_and(|(_, n)| number(n))
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn commit(message: &str, files: &[&str], fix: bool) -> PastCommit {
        PastCommit {
            message: message.to_owned(),
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            fix,
        }
    }

    #[test]
    fn message_text_drops_trailers_and_references() {
        let text = message_text(
            "Fix empty query params (#2354)\n\nThe `params` were lost.\nFixes #2353\nSee https://x.org/y\n\nCo-authored-by: A B <a@b.c>\nSigned-off-by: C <c@d.e>",
        );
        expect![[r#"
            "Fix empty query params\n\nThe `params` were lost."
        "#]]
        .assert_debug_eq(&text);
        // A subject is kept whatever it looks like.
        assert_eq!(message_text("Fixes #12"), "Fixes #12");
    }

    #[test]
    fn similar_commits_prior_and_cochange() {
        let h = History::new(vec![
            commit("docs: typo", &["README.md"], false),
            commit(
                "fix pricing of bulk orders",
                &["shop/pricing.py", "shop/order.py"],
                true,
            ),
            commit(
                "fix tax rounding",
                &["shop/tax.py", "shop/pricing.py"],
                true,
            ),
            commit("add bulk discount tiers", &["shop/pricing.py"], false),
        ]);
        let similar: Vec<usize> = h
            .similar("bulk discount wrong", 10)
            .iter()
            .map(|s| s.0)
            .collect();
        assert_eq!(similar, vec![3, 1]);
        assert!(h.fix_prior("shop/pricing.py", 100.0) > h.fix_prior("shop/tax.py", 100.0));
        assert_eq!(h.fix_prior("README.md", 100.0), 0.0);
        expect![[r#"
            [
                (
                    "shop/order.py",
                    0.2,
                ),
                (
                    "shop/tax.py",
                    0.2,
                ),
            ]
        "#]]
        .assert_debug_eq(&h.cochanged("shop/pricing.py"));
    }
}
