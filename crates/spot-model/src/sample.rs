//! Choosing the next token from logits: greedy (argmax, first index on ties, as numpy and torch)
//! or sampling with temperature, top-k and top-p in transformers' order, from a seeded
//! SplitMix64 generator so a seed reproduces a run. A guessed next token (prompt lookup) stands
//! or falls by speculative sampling's rule. Buffers are reused across tokens.
//! Knows nothing of tokenizers or sessions.

use super::{GenerateParams, ModelError};

/// SplitMix64: small, fast, and the same sequence on every platform.
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

pub(super) struct Sampler {
    temperature: f32,
    top_p: f32,
    top_k: usize,
    rng: Rng,
    candidates: Vec<u32>,
    weights: Vec<f64>,
}

impl Sampler {
    pub fn new(params: &GenerateParams) -> Result<Sampler, ModelError> {
        if !params.temperature.is_finite() || params.temperature < 0.0 {
            return Err(ModelError::InvalidParams(format!(
                "temperature must be a finite number >= 0, not {}",
                params.temperature
            )));
        }
        if !(params.top_p > 0.0 && params.top_p <= 1.0) {
            return Err(ModelError::InvalidParams(format!(
                "top_p must be in (0, 1], not {}",
                params.top_p
            )));
        }
        Ok(Sampler {
            temperature: params.temperature,
            top_p: params.top_p,
            top_k: params.top_k,
            rng: Rng::new(params.seed),
            candidates: Vec::new(),
            weights: Vec::new(),
        })
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0 || self.top_k == 1
    }

    /// The next token id; `None` when `logits` is empty or holds no number.
    #[cfg(test)]
    pub fn sample(&mut self, logits: &[f32]) -> Option<u32> {
        self.sample_given(logits, None).map(|(id, _)| id)
    }

    /// The next token id given a guess of it (`draft`, from prompt lookup), and whether the
    /// guess stands. Greedy: the argmax, which stands if it is the guess. Sampling: speculative
    /// sampling's rule for a guess made with certainty (Leviathan et al. 2023): the guess stands
    /// with its probability p(guess), else a token is drawn from p without the guess, so the id
    /// is drawn from p either way.
    pub fn sample_given(&mut self, logits: &[f32], draft: Option<u32>) -> Option<(u32, bool)> {
        // Greedy, or no logit to sample from: the argmax.
        let kept = if self.is_greedy() {
            None
        } else {
            self.distribution(logits)
        };
        let Some(kept) = kept else {
            let id = argmax(logits)?;
            return Some((id, draft == Some(id)));
        };
        let mut kept_total: f64 = self.weights.iter().take(kept).sum();
        let mut skip = None;
        if let Some(d) = draft {
            let w = self
                .candidates
                .iter()
                .zip(&self.weights)
                .take(kept)
                .find(|(id, _)| **id == d)
                .map_or(0.0, |(_, w)| *w);
            if self.rng.next_f64() * kept_total < w {
                return Some((d, true));
            }
            if w > 0.0 && w < kept_total {
                skip = Some(d);
                kept_total -= w;
            }
        }
        let mut r = self.rng.next_f64() * kept_total;
        let mut last = None;
        for (id, w) in self.candidates.iter().zip(&self.weights).take(kept) {
            if Some(*id) == skip {
                continue;
            }
            if r < *w {
                return Some((*id, false));
            }
            r -= w;
            last = Some(*id);
        }
        last.map(|id| (id, false))
    }

    /// Fills `candidates` (by logit, best first) and their unnormalized probabilities
    /// `weights` after temperature and top-k; returns how many of them top-p keeps. `None` when
    /// no logit is a number.
    fn distribution(&mut self, logits: &[f32]) -> Option<usize> {
        let key = |id: &u32| -> f32 {
            let value = usize::try_from(*id)
                .ok()
                .and_then(|i| logits.get(i))
                .copied()
                .unwrap_or(f32::NEG_INFINITY);
            if value.is_nan() {
                f32::NEG_INFINITY
            } else {
                value
            }
        };
        self.candidates.clear();
        let n = u32::try_from(logits.len()).unwrap_or(u32::MAX);
        self.candidates.extend(0..n);
        let by_logit_desc = |a: &u32, b: &u32| key(b).total_cmp(&key(a)).then(a.cmp(b));
        if self.top_k > 0 && self.top_k < self.candidates.len() {
            self.candidates
                .select_nth_unstable_by(self.top_k - 1, by_logit_desc);
            self.candidates.truncate(self.top_k);
        }
        self.candidates.sort_unstable_by(by_logit_desc);
        let max = key(self.candidates.first()?);
        if max == f32::NEG_INFINITY {
            return None;
        }
        let inv_t = 1.0 / f64::from(self.temperature);
        self.weights.clear();
        let mut total = 0.0f64;
        for id in &self.candidates {
            let w = ((f64::from(key(id)) - f64::from(max)) * inv_t).exp();
            total += w;
            self.weights.push(w);
        }
        // Nucleus: the smallest prefix whose probability reaches top_p (at least one token).
        let mut kept = self.weights.len();
        if self.top_p < 1.0 {
            let target = f64::from(self.top_p) * total;
            let mut cum = 0.0;
            for (i, w) in self.weights.iter().enumerate() {
                cum += w;
                if cum >= target {
                    kept = i + 1;
                    break;
                }
            }
        }
        Some(kept)
    }
}

/// Index of the largest logit (the first one on ties; NaN never wins).
pub(super) fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &value) in logits.iter().enumerate() {
        if value.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if value <= b => {}
            _ => best = Some((i, value)),
        }
    }
    best.and_then(|(i, _)| u32::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32, top_p: f32, top_k: usize, seed: u64) -> GenerateParams {
        GenerateParams {
            temperature,
            top_p,
            top_k,
            seed,
            ..GenerateParams::default()
        }
    }

    /// A guessed token changes how a token is drawn, not its distribution: with the guess the
    /// most likely token, a less likely one, or one top-p leaves out, the frequencies of 40,000
    /// draws match the probabilities within 0.01, and the guess stands exactly when drawn.
    #[test]
    fn a_guess_leaves_the_distribution_as_it_is() {
        let logits = [2.0, 1.0, 0.5, 0.0, -1.0, -3.0];
        let mut sampler = Sampler::new(&params(0.8, 0.9, 0, 7)).unwrap();
        let kept = sampler.distribution(&logits).unwrap();
        let total: f64 = sampler.weights.iter().take(kept).sum();
        let mut p = [0.0f64; 6];
        for (id, w) in sampler.candidates.iter().zip(&sampler.weights).take(kept) {
            p[*id as usize] = w / total;
        }
        assert!(kept < logits.len(), "top-p leaves some out");
        for draft in [Some(0), Some(2), Some(5), None] {
            let mut counts = [0usize; 6];
            let n = 40_000;
            for _ in 0..n {
                let (id, stands) = sampler.sample_given(&logits, draft).unwrap();
                assert_eq!(stands, Some(id) == draft);
                counts[id as usize] += 1;
            }
            for (id, &c) in counts.iter().enumerate() {
                let f = c as f64 / n as f64;
                assert!(
                    (f - p[id]).abs() < 0.01,
                    "draft {draft:?}: token {id} {f} vs {}",
                    p[id]
                );
            }
        }
    }

    #[test]
    fn argmax_takes_first_max_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, f32::NAN]), Some(1));
        assert_eq!(argmax(&[f32::NAN, -1.0]), Some(1));
        assert_eq!(argmax(&[]), None);
    }

    #[test]
    fn top_k_one_and_tiny_top_p_are_greedy() {
        let logits = [0.1, 2.0, 1.9, -5.0];
        let mut s = Sampler::new(&params(1.0, 1.0, 1, 7)).expect("valid");
        assert_eq!(s.sample(&logits), Some(1));
        let mut s = Sampler::new(&params(1.0, 1e-6, 0, 7)).expect("valid");
        for _ in 0..20 {
            assert_eq!(s.sample(&logits), Some(1));
        }
    }

    #[test]
    fn top_k_limits_the_candidates_and_seed_reproduces() {
        let logits = [0.0, 1.0, 2.0, 3.0, 4.0];
        let draw = |seed| {
            let mut s = Sampler::new(&params(5.0, 1.0, 2, seed)).expect("valid");
            (0..200).map(|_| s.sample(&logits)).collect::<Vec<_>>()
        };
        let a = draw(42);
        assert!(a.iter().all(|t| matches!(t, Some(3) | Some(4))));
        assert!(a.contains(&Some(3)) && a.contains(&Some(4)));
        assert_eq!(a, draw(42));
        assert_ne!(a, draw(43));
    }

    #[test]
    fn bad_settings_are_errors() {
        assert!(Sampler::new(&params(f32::NAN, 1.0, 0, 0)).is_err());
        assert!(Sampler::new(&params(1.0, 0.0, 0, 0)).is_err());
        assert!(Sampler::new(&params(-1.0, 1.0, 0, 0)).is_err());
    }
}
