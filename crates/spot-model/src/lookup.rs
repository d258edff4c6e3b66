//! Prompt lookup: draft tokens for decoding, copied from the text so far.
//!
//! A model that edits code copies long runs of its prompt (a search/replace block quotes the
//! code it changes). When the last few tokens generated also occur earlier in the prompt or
//! the answer, the tokens that followed them there are a good guess for what comes next. The
//! generation loop feeds the guess after the next token in one graph run and keeps the longest
//! prefix decoding agrees with, plus the model's own token after it; the guess grows by two
//! tokens after one that stood whole and shrinks by one after one that fell (Saxena 2023,
//! "prompt lookup decoding"; transformers' `prompt_lookup_num_tokens`). Decoding reads the
//! weights once per run, not once per token, so every accepted draft token is nearly free.

/// Longest and shortest run of last tokens looked up; a single token matches too often.
const MAX_NGRAM: usize = 3;
const MIN_NGRAM: usize = 2;

/// Up to `max` tokens that followed the most recent earlier occurrence of `history`'s last
/// tokens (3, else 2), empty when there is none.
pub(super) fn draft(history: &[u32], max: usize) -> &[u32] {
    if max == 0 {
        return &[];
    }
    for n in (MIN_NGRAM..=MAX_NGRAM).rev() {
        let Some(start) = history.len().checked_sub(n) else {
            continue;
        };
        let tail = &history[start..];
        // Most recent first: an answer that copies a passage goes on copying the same one.
        if let Some(at) = (0..start).rev().find(|&i| history[i..i + n] == *tail) {
            let from = at + n;
            let to = (from + max).min(history.len());
            if from < to {
                return &history[from..to];
            }
        }
    }
    &[]
}

#[cfg(test)]
mod tests {
    use super::draft;

    #[test]
    fn continues_the_most_recent_earlier_occurrence() {
        // ... 1 2 3 [4 5] ... 1 2 3 [9 9] ... 1 2 3 → what followed the later 1 2 3.
        let history = [1, 2, 3, 4, 5, 7, 1, 2, 3, 9, 9, 8, 1, 2, 3];
        assert_eq!(draft(&history, 2), &[9, 9]);
        assert_eq!(draft(&history, 10), &[9, 9, 8, 1, 2, 3]);
    }

    #[test]
    fn falls_back_to_two_tokens_and_never_to_one() {
        assert_eq!(draft(&[5, 6, 1, 2, 3, 6, 2, 3], 4), &[6, 2, 3]);
        assert!(draft(&[1, 2, 3, 4, 3], 4).is_empty());
        assert!(draft(&[3], 4).is_empty());
        assert!(draft(&[], 4).is_empty());
    }

    #[test]
    fn nothing_to_draft_when_no_room() {
        assert!(draft(&[1, 2, 7, 1, 2], 0).is_empty());
        // What followed may run into the tail itself.
        assert_eq!(draft(&[1, 2, 1, 2], 4), &[1, 2]);
    }
}
