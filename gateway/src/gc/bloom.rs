//! A Bloom filter of marked block ids: bounded memory whatever the number of blocks.
//!
//! A false positive only keeps a garbage block one more collection; there are no false
//! negatives, so a marked block is never deleted.

/// Bits of a Bloom filter and the number of probes per key.
#[derive(Debug)]
pub struct Bloom {
    bits: Vec<u64>,
    len: u64,
    probes: u32,
}

impl Bloom {
    /// A filter for `capacity` keys at false-positive rate `fp_rate` (clamped to 1e-9..0.5).
    /// 10 million keys at 1 % take about 12 MB.
    pub fn new(capacity: u64, fp_rate: f64) -> Self {
        let capacity = capacity.max(1) as f64;
        let fp_rate = fp_rate.clamp(1e-9, 0.5);
        let ln2 = std::f64::consts::LN_2;
        let len = (-(capacity * fp_rate.ln()) / (ln2 * ln2)).ceil().max(64.0) as u64;
        let probes = ((len as f64 / capacity) * ln2).round().clamp(1.0, 32.0) as u32;
        let words = usize::try_from(len.div_ceil(64)).unwrap_or(usize::MAX);
        Self {
            bits: vec![0; words],
            len,
            probes,
        }
    }

    /// Memory held by the bit array, in bytes.
    pub fn bytes(&self) -> usize {
        self.bits.len() * 8
    }

    /// Adds `key`.
    pub fn insert(&mut self, key: &[u8]) {
        for bit in self.positions(key) {
            if let Some(word) = self.bits.get_mut((bit / 64) as usize) {
                *word |= 1 << (bit % 64);
            }
        }
    }

    /// Whether `key` may have been added (never `false` for an added key).
    pub fn contains(&self, key: &[u8]) -> bool {
        self.positions(key).all(|bit| {
            self.bits
                .get((bit / 64) as usize)
                .is_some_and(|word| word & (1 << (bit % 64)) != 0)
        })
    }

    /// Double hashing (Kirsch–Mitzenmacher) over one BLAKE2b digest: keys are mostly hashes
    /// already, but object keys share a prefix, so the key is hashed again.
    fn positions(&self, key: &[u8]) -> impl Iterator<Item = u64> + use<> {
        let digest = blake2b_simd::Params::new().hash_length(16).hash(key);
        let bytes = digest.as_bytes();
        let mut first = [0u8; 8];
        let mut second = [0u8; 8];
        first.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
        second.copy_from_slice(bytes.get(8..16).unwrap_or(&[0; 8]));
        let h1 = u64::from_le_bytes(first);
        // Odd, so the probes of one key never all land on the same bit.
        let h2 = u64::from_le_bytes(second) | 1;
        let len = self.len;
        (0..u64::from(self.probes)).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) % len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_keys_are_always_found_and_others_rarely() {
        let mut bloom = Bloom::new(10_000, 0.01);
        for i in 0u32..10_000 {
            bloom.insert(&i.to_le_bytes());
        }
        assert!((0u32..10_000).all(|i| bloom.contains(&i.to_le_bytes())));
        let false_positives = (10_000u32..20_000)
            .filter(|i| bloom.contains(&i.to_le_bytes()))
            .count();
        assert!(false_positives < 300, "{false_positives} false positives");
    }

    #[test]
    fn ten_million_keys_at_one_percent_take_about_twelve_megabytes() {
        let bytes = Bloom::new(10_000_000, 0.01).bytes();
        assert!((11_000_000..13_000_000).contains(&bytes), "{bytes}");
    }
}
