//! How well a model knows a repository, measured on held-out experience, and the gate that
//! decides whether a newly learned model replaces the active one.
//!
//! Per sample: the teacher-forced loss of the reference answer (all units); for masked
//! functions, whether greedy decoding reproduces the function exactly; for bug replay, whether
//! the greedy answer names the file the real fix changed (localization). The gate wants a lower
//! held-out loss and no unit's task score lower than before.

use serde::Serialize;

use crate::experience::{Sample, Unit};
use spot_assist::edit;
use spot_base::cancel::CancelToken;
use spot_model::{GenerateParams, Model, ModelError};

/// Scores of one model on one set of samples.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ModelEval {
    /// Mean loss per answer token over every scored sample.
    pub loss: f64,
    pub masked_loss: Option<f64>,
    /// Share of masked functions reproduced exactly (greedy).
    pub masked_exact: Option<f64>,
    pub bug_loss: Option<f64>,
    /// Share of bug-replay answers that name a file the real fix changed.
    pub bug_localized: Option<f64>,
    pub scored: usize,
    /// Samples longer than the model's context.
    pub too_long: usize,
}

#[derive(Default)]
struct Acc {
    nll: f64,
    tokens: usize,
    hits: usize,
    tried: usize,
}

impl Acc {
    fn loss(&self) -> Option<f64> {
        (self.tokens > 0).then(|| self.nll / self.tokens as f64)
    }
    fn rate(&self) -> Option<f64> {
        (self.tried > 0).then(|| self.hits as f64 / self.tried as f64)
    }
}

/// The code inside the first fence of `text`, trimmed (or the whole text).
fn code_of(text: &str) -> String {
    edit::code_blocks(text)
        .into_iter()
        .next()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Evaluates `model` on `samples`; `progress(done, total)` after each.
pub fn evaluate(
    model: &Model,
    samples: &[Sample],
    cancel: &CancelToken,
    progress: &dyn Fn(usize, usize),
) -> Result<ModelEval, ModelError> {
    let mut all = Acc::default();
    let mut masked = Acc::default();
    let mut bugs = Acc::default();
    let mut too_long = 0;
    for (k, s) in samples.iter().enumerate() {
        progress(k, samples.len());
        let Some((answer, context)) = s.messages.split_last() else {
            continue;
        };
        let prompt = model.render_chat(context, true)?;
        let score = match model.score(&prompt, &answer.content, cancel) {
            Ok(score) => score,
            Err(ModelError::PromptTooLong { .. }) => {
                too_long += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        all.nll += score.nll;
        all.tokens += score.tokens;
        let acc = match s.meta.unit {
            Unit::MaskedFunction => &mut masked,
            Unit::BugReplay => &mut bugs,
            _ => continue,
        };
        acc.nll += score.nll;
        acc.tokens += score.tokens;
        let params = GenerateParams {
            max_new_tokens: score.tokens + 16,
            add_special_tokens: false,
            ..GenerateParams::default()
        };
        let generated = match model.generate(&prompt, &params, cancel, &mut |_| {}) {
            Ok(g) => g.text,
            Err(ModelError::PromptTooLong { .. }) => continue,
            Err(e) => return Err(e),
        };
        acc.tried += 1;
        let hit = match s.meta.unit {
            Unit::MaskedFunction => code_of(&generated) == code_of(&answer.content),
            _ => edit::parse_blocks(&answer.content)
                .iter()
                .filter_map(|b| b.path.as_deref())
                .any(|gold| generated.contains(gold)),
        };
        if hit {
            acc.hits += 1;
        }
    }
    progress(samples.len(), samples.len());
    Ok(ModelEval {
        loss: all.loss().unwrap_or(f64::NAN),
        masked_loss: masked.loss(),
        masked_exact: masked.rate(),
        bug_loss: bugs.loss(),
        bug_localized: bugs.rate(),
        scored: samples.len() - too_long,
        too_long,
    })
}

/// The gate: is `new` better than `old`? With the reason, for logs and the user.
pub fn better(new: &ModelEval, old: &ModelEval) -> (bool, String) {
    if new.scored == 0 {
        return (
            false,
            "no held-out sample fits the new model's context".to_owned(),
        );
    }
    if new.loss.partial_cmp(&old.loss) != Some(std::cmp::Ordering::Less) {
        return (
            false,
            format!("held-out loss {:.4} is not below {:.4}", new.loss, old.loss),
        );
    }
    for (name, n, o) in [
        (
            "masked-function exact match",
            new.masked_exact,
            old.masked_exact,
        ),
        (
            "bug-replay localization",
            new.bug_localized,
            old.bug_localized,
        ),
    ] {
        if let (Some(n), Some(o)) = (n, o) {
            if n < o {
                return (false, format!("{name} fell from {o:.2} to {n:.2}"));
            }
        }
    }
    (
        true,
        format!("held-out loss {:.4} → {:.4}", old.loss, new.loss),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(loss: f64, exact: Option<f64>) -> ModelEval {
        ModelEval {
            loss,
            masked_exact: exact,
            scored: 3,
            ..ModelEval::default()
        }
    }

    #[test]
    fn the_gate_wants_lower_loss_and_no_task_regression() {
        assert!(better(&eval(1.0, Some(0.5)), &eval(2.0, Some(0.5))).0);
        assert!(!better(&eval(2.0, Some(0.5)), &eval(2.0, Some(0.5))).0);
        let (ok, why) = better(&eval(1.0, Some(0.2)), &eval(2.0, Some(0.5)));
        assert!(!ok && why.contains("exact match"), "{why}");
        assert!(!better(&eval(f64::NAN, None), &eval(2.0, None)).0);
        let none = ModelEval {
            scored: 0,
            ..eval(0.1, None)
        };
        assert!(!better(&none, &eval(2.0, None)).0);
    }

    #[test]
    fn code_of_takes_the_fenced_code() {
        assert_eq!(
            code_of("Sure:\n```python\ndef f():\n    pass\n```\n"),
            "def f():\n    pass"
        );
        assert_eq!(code_of("def f(): pass"), "def f(): pass");
    }
}
