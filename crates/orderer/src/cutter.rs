//! The block cutter: decides when the pending envelopes become a batch, by count and by bytes.
//!
//! As Fabric's `blockcutter`, an envelope that would push the pending batch over the byte limit first cuts the
//! pending batch, and an envelope larger than the byte limit on its own travels alone. The timeout is not
//! here: the service loop asks for [`BlockCutter::cut`] when the timer fires, so the cutter stays a pure,
//! clock-free function of its input.

use medledger_types::BatchConfig;

/// Batches envelopes by count and bytes.
#[derive(Debug)]
pub struct BlockCutter {
    tx_count_max: usize,
    bytes_max: usize,
    pending: Vec<Vec<u8>>,
    pending_bytes: usize,
}

impl BlockCutter {
    pub fn new(config: &BatchConfig) -> Self {
        BlockCutter {
            tx_count_max: (config.tx_count_max as usize)
                .clamp(1, medledger_types::limits::BLOCK_TX_COUNT_MAX),
            bytes_max: (config.bytes_max as usize)
                .clamp(1, medledger_types::limits::BLOCK_BYTES_MAX),
            pending: Vec::new(),
            pending_bytes: 0,
        }
    }

    /// Adds one envelope; returns the batches that are now complete (zero, one or two), oldest first.
    pub fn ordered(&mut self, envelope: Vec<u8>) -> Vec<Vec<Vec<u8>>> {
        let mut batches = Vec::new();
        let size = envelope.len();
        if size > self.bytes_max {
            // Too big to share a block: flush what is pending, then send it alone.
            batches.extend(self.cut());
            batches.push(vec![envelope]);
            return batches;
        }
        if self.pending_bytes + size > self.bytes_max {
            batches.extend(self.cut());
        }
        self.pending_bytes += size;
        self.pending.push(envelope);
        if self.pending.len() >= self.tx_count_max {
            batches.extend(self.cut());
        }
        batches
    }

    /// Takes the pending envelopes as a batch, if there are any.
    pub fn cut(&mut self) -> Option<Vec<Vec<u8>>> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending_bytes = 0;
        Some(std::mem::take(&mut self.pending))
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cutter(count: u32, bytes: u32) -> BlockCutter {
        BlockCutter::new(&BatchConfig {
            tx_count_max: count,
            bytes_max: bytes,
            timeout_ms: 10,
        })
    }

    fn sizes(batches: &[Vec<Vec<u8>>]) -> Vec<Vec<usize>> {
        batches
            .iter()
            .map(|b| b.iter().map(Vec::len).collect())
            .collect()
    }

    #[test]
    fn cuts_by_count() {
        let mut c = cutter(3, 1000);
        assert!(c.ordered(vec![0; 1]).is_empty());
        assert!(c.ordered(vec![0; 2]).is_empty());
        assert_eq!(sizes(&c.ordered(vec![0; 3])), vec![vec![1, 2, 3]]);
        assert!(!c.has_pending());
        assert_eq!(c.cut(), None);
    }

    #[test]
    fn cuts_before_an_envelope_that_would_overflow_the_bytes() {
        let mut c = cutter(100, 10);
        assert!(c.ordered(vec![0; 6]).is_empty());
        assert_eq!(sizes(&c.ordered(vec![0; 5])), vec![vec![6]]);
        assert!(c.has_pending());
        assert_eq!(c.cut().map(|b| b.len()), Some(1));
    }

    #[test]
    fn an_oversized_envelope_travels_alone_after_the_pending_batch() {
        let mut c = cutter(100, 10);
        assert!(c.ordered(vec![0; 4]).is_empty());
        assert_eq!(sizes(&c.ordered(vec![0; 11])), vec![vec![4], vec![11]]);
        assert!(!c.has_pending());
    }

    #[test]
    fn exact_fit_stays_in_the_batch() {
        let mut c = cutter(100, 10);
        assert!(c.ordered(vec![0; 4]).is_empty());
        assert!(c.ordered(vec![0; 6]).is_empty());
        assert_eq!(c.cut().map(|b| b.len()), Some(2));
    }

    #[test]
    fn zero_limits_are_clamped_to_one() {
        let mut c = cutter(0, 0);
        assert_eq!(sizes(&c.ordered(vec![])), vec![vec![0]]);
    }
}
