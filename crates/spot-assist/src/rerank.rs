//! Model rerank of a localization (optional, off by default): the model reads each of the best
//! few files' code and is scored on how well it predicts the issue text after it (query
//! likelihood, as in UPR: Sachan et al., 2022): the file whose code makes the issue most likely
//! ranks first by the model. Its ranking joins the fused one by reciprocal rank; files below the
//! reranked few keep their places. One prefill per reranked file, no generation.

use serde::Serialize;

use super::localize::{Localization, Sources};
use spot_base::cancel::CancelToken;
use spot_model::{Model, ModelError};

/// Reciprocal rank constant of the model's ranking (as the fusion's).
const RRF_K: f64 = 10.0;

#[derive(Debug, Clone)]
pub struct RerankOptions {
    /// The best files the model reads (0: no rerank).
    pub top: usize,
    /// Weight of the model's ranking against the fused score (the fused signals' weights sum
    /// to 16.75).
    pub weight: f64,
    /// Characters of code shown per file: its best functions, else its beginning.
    pub code_chars: usize,
    /// Characters of the issue scored.
    pub issue_chars: usize,
    /// Keep each issue token's score in [`ModelScore::tokens`] (for analysis).
    pub keep_tokens: bool,
}

impl Default for RerankOptions {
    fn default() -> Self {
        Self {
            top: 10,
            weight: 4.0,
            code_chars: 1_200,
            issue_chars: 600,
            keep_tokens: false,
        }
    }
}

/// The model's view of one reranked file.
#[derive(Debug, Clone, Serialize)]
pub struct ModelScore {
    pub path: String,
    /// The fused score before the rerank.
    pub fused: f64,
    /// Mean negative log-likelihood (nats per token) of the issue after the file's code.
    pub nll: f64,
    /// With [`RerankOptions::keep_tokens`]: each issue token's negative log-likelihood.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<f32>,
}

/// Reranks the first `opts.top` files of `loc` by the model (the functions keep their order).
/// Returns the model's scores in the old order; on an error `loc` is left as it was.
pub fn rerank(
    model: &Model,
    issue: &str,
    loc: &mut Localization,
    sources: &Sources<'_>,
    opts: &RerankOptions,
    cancel: &CancelToken,
) -> Result<Vec<ModelScore>, ModelError> {
    let n = opts.top.min(loc.files.len());
    if n < 2 {
        return Ok(Vec::new());
    }
    let issue = truncate(issue.trim(), opts.issue_chars);
    let mut scores = Vec::with_capacity(n);
    for file in loc.files.iter().take(n) {
        let code = code_of(loc, sources, &file.path, opts.code_chars);
        let prompt = format!(
            "# {}\n{code}\n\n# A bug report about the code above:\n",
            file.path
        );
        let (score, mut tokens) = model.score_each(&prompt, issue, cancel)?;
        if !opts.keep_tokens {
            tokens = Vec::new();
        }
        scores.push(ModelScore {
            path: file.path.clone(),
            fused: file.score,
            nll: score.mean_nll(),
            tokens,
        });
    }
    let mut by_model: Vec<usize> = (0..n).collect();
    by_model.sort_by(|&a, &b| {
        let (x, y) = (&scores[a], &scores[b]);
        x.nll.total_cmp(&y.nll).then(a.cmp(&b))
    });
    for (rank, &i) in by_model.iter().enumerate() {
        if let Some(file) = loc.files.get_mut(i) {
            file.score += opts.weight / (RRF_K + rank as f64 + 1.0);
            file.reason = format!("model #{}, {}", rank + 1, file.reason);
        }
    }
    if let Some(head) = loc.files.get_mut(..n) {
        head.sort_by(|a, b| b.score.total_cmp(&a.score));
    }
    Ok(scores)
}

/// What the model reads of a file: its functions the localization ranked (best first), else
/// its beginning, at most `max` characters.
fn code_of(loc: &Localization, sources: &Sources<'_>, path: &str, max: usize) -> String {
    let Some(text) = (sources.text)(path) else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for f in loc.functions.iter().filter(|f| f.path == path) {
        let start = f.start_line.saturating_sub(1) as usize;
        let end = (f.end_line as usize).min(lines.len());
        for line in lines.get(start..end).unwrap_or_default() {
            if out.len() + line.len() + 1 > max {
                return out;
            }
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    if out.trim().is_empty() {
        out = truncate(&text, max).to_owned();
    }
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::localize::{FileCandidate, FunctionCandidate};

    fn localization() -> Localization {
        let file = |path: &str, score: f64| FileCandidate {
            path: path.into(),
            score,
            reason: "bm25 #1".into(),
        };
        Localization {
            files: vec![
                file("a.py", 0.90),
                file("b.py", 0.89),
                file("c.py", 0.88),
                file("d.py", 0.10),
            ],
            functions: vec![FunctionCandidate {
                path: "b.py".into(),
                name: "total".into(),
                start_line: 2,
                end_line: 3,
                score: 1.0,
                reason: String::new(),
            }],
            signals: Vec::new(),
        }
    }

    fn text(path: &str) -> Option<String> {
        Some(match path {
            "a.py" => "import os\n\ndef load(path):\n    return open(path).read()\n".into(),
            "b.py" => "# cart\ndef total(items):\n    return sum(items) - 1\n# end\n".into(),
            "c.py" => "class Store:\n    pass\n".into(),
            _ => return None,
        })
    }

    #[test]
    #[ignore = "needs ONNX Runtime: bash fixtures/models/setup.sh --runtime-only, then cargo test -- --include-ignored (tests/run.sh does)"]
    fn the_model_reorders_the_best_files_only() {
        let model = spot_model::testing::tiny();
        let sources = Sources {
            text: &text,
            history: None,
        };
        let issue = "total() is off by one";
        let cancel = CancelToken::new();
        // A weight far above the fused scores: the model's order alone.
        let opts = RerankOptions {
            top: 3,
            weight: 1e6,
            ..RerankOptions::default()
        };
        let mut loc = localization();
        let scores = rerank(model, issue, &mut loc, &sources, &opts, &cancel).expect("reranks");
        let paths: Vec<&str> = scores.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths, ["a.py", "b.py", "c.py"], "in the old order");
        assert!(scores.iter().all(|s| s.nll.is_finite() && s.nll > 0.0));
        assert!(
            scores.iter().all(|s| s.tokens.is_empty()),
            "only with keep_tokens"
        );
        let mut again = localization();
        let keep = RerankOptions {
            keep_tokens: true,
            ..opts.clone()
        };
        let each = rerank(model, issue, &mut again, &sources, &keep, &cancel).expect("reranks");
        for (s, e) in scores.iter().zip(&each) {
            let mean = e.tokens.iter().map(|&t| f64::from(t)).sum::<f64>() / e.tokens.len() as f64;
            assert!((mean - s.nll).abs() < 1e-4, "{mean} vs {}", s.nll);
        }
        let mut by_nll = scores.clone();
        by_nll.sort_by(|a, b| a.nll.total_cmp(&b.nll));
        let reranked: Vec<&str> = loc.files.iter().map(|f| f.path.as_str()).collect();
        let expected: Vec<&str> = by_nll.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(reranked[..3], expected[..], "{scores:?}");
        assert_eq!(
            reranked[3], "d.py",
            "below the reranked files nothing moves"
        );
        assert!(loc.files[0].reason.starts_with("model #1, bm25"));
        assert_eq!(loc.files[3].reason, "bm25 #1");
        // The model reads the ranked function of b.py, the beginning of the others.
        let with_function = code_of(&loc, &sources, "b.py", 1_000);
        assert_eq!(
            with_function,
            "def total(items):\n    return sum(items) - 1\n\n"
        );
        assert_eq!(code_of(&loc, &sources, "c.py", 8), "class St");

        // No weight: the fused order stays. A cancelled token leaves the localization as it was.
        let mut loc = localization();
        let opts = RerankOptions {
            weight: 0.0,
            ..opts
        };
        rerank(model, issue, &mut loc, &sources, &opts, &cancel).expect("reranks");
        let paths: Vec<&str> = loc.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.py", "b.py", "c.py", "d.py"]);
        let cancelled = CancelToken::new();
        cancelled.cancel();
        let mut loc = localization();
        assert!(matches!(
            rerank(model, issue, &mut loc, &sources, &opts, &cancelled),
            Err(ModelError::Cancelled)
        ));
        assert_eq!(loc.files[0].reason, "bm25 #1");
    }
}
