//! Per-client delivery bookkeeping: which sequence numbers of its room a client got,
//! how many twice, how many out of order; and, against the set of publishes the server
//! accepted (202), how many it lost. Plain data, no I/O.
//!
//! Every benchmark publish carries its room's sequence number in its payload; sequence
//! numbers of one room are dense from 0 and published in order through one HTTP
//! connection (each publish awaits its 202 before the next), so PUB-4 makes any
//! out-of-order arrival a real reordering.

/// A growable bit set of sequence numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqSet {
    words: Vec<u64>,
    len: u64,
}

impl SeqSet {
    /// Adds `seq`; returns whether it was new.
    pub fn insert(&mut self, seq: u64) -> bool {
        let (w, b) = ((seq / 64) as usize, seq % 64);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let new = self.words[w] & (1 << b) == 0;
        if new {
            self.words[w] |= 1 << b;
            self.len += 1;
        }
        new
    }

    /// Whether `seq` is in the set.
    pub fn contains(&self, seq: u64) -> bool {
        self.words
            .get((seq / 64) as usize)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    /// How many sequence numbers the set holds.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many members of `self` are missing from `other`.
    pub fn missing_from(&self, other: &SeqSet) -> u64 {
        self.words
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let o = other.words.get(i).copied().unwrap_or(0);
                u64::from((w & !o).count_ones())
            })
            .sum()
    }
}

/// What one client saw of its room's benchmark events.
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    seen: SeqSet,
    max_seen: Option<u64>,
    /// Deliveries received, duplicates included.
    pub deliveries: u64,
    /// Deliveries of a sequence number already received.
    pub duplicated: u64,
    /// Deliveries of a sequence number below one already received.
    pub reordered: u64,
}

impl SeqTracker {
    /// Records one delivery; returns whether it was the first of its sequence number.
    pub fn record(&mut self, seq: u64) -> bool {
        self.deliveries += 1;
        let new = self.seen.insert(seq);
        if !new {
            self.duplicated += 1;
        } else if self.max_seen.is_some_and(|m| seq < m) {
            self.reordered += 1;
        }
        self.max_seen = Some(self.max_seen.map_or(seq, |m| m.max(seq)));
        new
    }

    /// Distinct sequence numbers received.
    pub fn distinct(&self) -> u64 {
        self.seen.len()
    }

    /// Accepted publishes of the room this client never received.
    pub fn lost(&self, accepted: &SeqSet) -> u64 {
        accepted.missing_from(&self.seen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(seqs: &[u64]) -> SeqSet {
        let mut s = SeqSet::default();
        for &q in seqs {
            s.insert(q);
        }
        s
    }

    #[test]
    fn seq_set_grows_and_counts() {
        let mut s = SeqSet::default();
        assert!(s.is_empty());
        assert!(s.insert(0));
        assert!(s.insert(130));
        assert!(!s.insert(130));
        assert_eq!(s.len(), 2);
        assert!(s.contains(130) && !s.contains(129) && !s.contains(10_000));
        assert_eq!(set(&[1, 2, 3, 200]).missing_from(&set(&[2, 200])), 2);
        assert_eq!(set(&[1, 2]).missing_from(&SeqSet::default()), 2);
    }

    #[test]
    fn in_order_deliveries_are_clean() {
        let mut t = SeqTracker::default();
        for q in 0..100 {
            assert!(t.record(q));
        }
        assert_eq!((t.deliveries, t.duplicated, t.reordered), (100, 0, 0));
        assert_eq!(t.lost(&set(&(0..100).collect::<Vec<_>>())), 0);
    }

    #[test]
    fn duplicates_reorders_and_losses_are_counted_separately() {
        let mut t = SeqTracker::default();
        for q in [0, 2, 1, 2, 5] {
            t.record(q);
        }
        assert_eq!(t.deliveries, 5);
        assert_eq!(t.duplicated, 1, "2 twice");
        assert_eq!(t.reordered, 1, "1 after 2");
        assert_eq!(t.distinct(), 4);
        // 3 and 4 were accepted but never came; 5 came without a 202 and is not lost.
        assert_eq!(t.lost(&set(&[0, 1, 2, 3, 4])), 2);
    }
}
