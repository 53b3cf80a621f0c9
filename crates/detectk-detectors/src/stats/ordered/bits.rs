//! A bitset of occupied ranks, so a search steps from one occupied rank to the next
//! (a `leading_zeros` or `trailing_zeros` over 64 ranks at a time) instead of looking
//! at every empty rank in between.

/// One bit per rank: set while the rank holds weight.
#[derive(Debug, Clone)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    /// All clear, over `ranks` ranks.
    pub(super) fn new(ranks: usize) -> Self {
        Self(vec![0; ranks.div_ceil(64)])
    }

    /// Marks rank `r` occupied.
    pub(super) fn set(&mut self, r: usize) {
        self.0[r / 64] |= 1 << (r % 64);
    }

    /// Marks rank `r` empty.
    pub(super) fn unset(&mut self, r: usize) {
        self.0[r / 64] &= !(1 << (r % 64));
    }

    /// Clears the word holding rank `r`.
    pub(super) fn clear_word_of(&mut self, r: usize) {
        self.0[r / 64] = 0;
    }

    /// Clears every rank.
    pub(super) fn clear(&mut self) {
        self.0.iter_mut().for_each(|w| *w = 0);
    }

    /// The last occupied rank in `limit..from`, spending one unit of `budget` however
    /// far it is; `None` when there is none or the budget is spent.
    pub(super) fn below(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        if from <= limit || *budget == 0 {
            return None;
        }
        *budget -= 1;
        let i = from - 1;
        let mut word = i / 64;
        let mut bits = self.0[word] & (u64::MAX >> (63 - i % 64));
        loop {
            if bits != 0 {
                let r = word * 64 + 63 - bits.leading_zeros() as usize;
                return (r >= limit).then_some(r);
            }
            if word == 0 || word * 64 <= limit {
                return None;
            }
            word -= 1;
            bits = self.0[word];
        }
    }

    /// The first occupied rank in `from..limit`, spending one unit of `budget`.
    pub(super) fn above(&self, from: usize, limit: usize, budget: &mut usize) -> Option<usize> {
        if from >= limit || *budget == 0 {
            return None;
        }
        *budget -= 1;
        let mut word = from / 64;
        let mut bits = self.0[word] & (u64::MAX << (from % 64));
        loop {
            if bits != 0 {
                let r = word * 64 + bits.trailing_zeros() as usize;
                return (r < limit).then_some(r);
            }
            word += 1;
            if word * 64 >= limit {
                return None;
            }
            bits = self.0[word];
        }
    }
}
