//! Test data with known properties.

/// `len` deterministic pseudo-random bytes: the same `seed` always gives the same bytes,
/// different seeds give unrelated streams, and the bytes neither compress nor repeat, so every
/// 512 KiB block of a file made of them is a block of its own.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    // Multiplying by an odd constant spreads nearby seeds (1, 2, 3…) over the whole state, and
    // the low bit keeps the xorshift state non-zero, where it would stay zero forever.
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::noise;

    #[test]
    fn seeds_repeat_and_differ() {
        assert_eq!(noise(1000, 7), noise(1000, 7));
        assert_eq!(noise(1001, 7).len(), 1001);
        assert_eq!(noise(100, 7)[..], noise(1000, 7)[..100]);
        // Neighbouring seeds, which a bare `seed | 1` would have merged.
        assert_ne!(noise(64, 2), noise(64, 3));
        assert_ne!(noise(64, 0), noise(64, 1));
    }

    #[test]
    fn blocks_do_not_repeat_or_compress() {
        const BLOCK: usize = 512 * 1024;
        let data = noise(3 * BLOCK, 1);
        let blocks: Vec<&[u8]> = data.chunks(BLOCK).collect();
        assert_ne!(blocks[0], blocks[1]);
        assert_ne!(blocks[1], blocks[2]);
        // Every byte value shows up about equally often: nothing for a compressor to take.
        let mut counts = [0usize; 256];
        for byte in &data {
            counts[usize::from(*byte)] += 1;
        }
        let expected = data.len() / 256;
        assert!(
            counts
                .iter()
                .all(|&n| n > expected * 9 / 10 && n < expected * 11 / 10),
            "{counts:?}"
        );
    }
}
