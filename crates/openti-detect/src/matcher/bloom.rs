//! A split-block Bloom filter that snapshots share copy-on-write: the first probe of the exact
//! index (`exact.rs`).
//!
//! Nearly every observed value matches nothing. At a million IOCs the exact map is hundreds
//! of megabytes, so a probe that goes straight to it costs several cache misses; this filter
//! is about 2 bytes per key, stays in the last-level cache, and answers "certainly absent"
//! with one 32-byte read for all but a fraction of a percent of the probes.
//!
//! The layout is the split-block filter of Parquet (Putze et al., "Cache-, Hash- and
//! Space-Efficient Bloom Filters"): a key selects one 256-bit block and sets one bit in each
//! of its eight 32-bit words. Filter crates keep their bits in one allocation; here the
//! blocks live in 4 KiB chunks behind `Arc`s, like the shards of `sharded.rs`, so that adding
//! a key to the next snapshot copies one chunk rather than the whole filter.
//!
//! A Bloom filter cannot forget a key: removals leave stale bits (more false positives, never
//! a false negative). The exact index rebuilds the filter from its keys when they pile up or
//! when the filter is outgrown.

use std::sync::Arc;

const WORDS: usize = 8;
type Block = [u32; WORDS];
/// 128 blocks of 32 bytes: 4 KiB copied per changed chunk.
const CHUNK_BLOCKS: usize = 128;
type Chunk = [Block; CHUNK_BLOCKS];

/// Odd constants from the Parquet specification: one per word, to pick the bit in it.
const SALT: [u32; WORDS] =
    [0x47b6137b, 0x44974d91, 0x8824ad5b, 0xa2b7289d, 0x705495c7, 0x2df1424b, 0x9efc4947, 0x5c6bfb31];

/// Bits per key the filter is sized for (at its capacity; fewer keys mean more bits each).
/// About 1% false positives at capacity, 0.1–0.3% just after a rebuild.
const BITS_PER_KEY: usize = 10;

#[derive(Clone)]
pub(crate) struct Bloom {
    chunks: Arc<[Arc<Chunk>]>,
    /// Number of blocks - 1 (a power of two minus one); unused when there are no chunks.
    block_mask: u64,
    /// Keys the filter was sized for.
    capacity: usize,
}

impl Default for Bloom {
    fn default() -> Self {
        Bloom { chunks: Arc::from([]), block_mask: 0, capacity: 0 }
    }
}

#[inline]
fn word_bits(hash: u64) -> Block {
    let low = hash as u32;
    std::array::from_fn(|i| 1u32 << (low.wrapping_mul(SALT[i]) >> 27))
}

impl Bloom {
    /// An empty filter sized for `capacity` keys.
    pub fn with_capacity(capacity: usize) -> Bloom {
        let blocks = (capacity.max(1) * BITS_PER_KEY).div_ceil(WORDS * 32).next_power_of_two().max(CHUNK_BLOCKS);
        let chunks = (0..blocks / CHUNK_BLOCKS).map(|_| Arc::new([[0u32; WORDS]; CHUNK_BLOCKS])).collect();
        Bloom { chunks, block_mask: blocks as u64 - 1, capacity }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    #[inline]
    fn block_of(&self, hash: u64) -> (usize, usize) {
        let block = ((hash >> 32) & self.block_mask) as usize;
        (block / CHUNK_BLOCKS, block % CHUNK_BLOCKS)
    }

    /// Whether a key with this hash may be present (false: certainly absent). The hash must
    /// be well mixed: its high half picks the block, its low half the bits.
    #[inline]
    pub fn may_contain(&self, hash: u64) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let (chunk, block) = self.block_of(hash);
        let block = &self.chunks[chunk][block];
        let bits = word_bits(hash);
        (0..WORDS).all(|i| block[i] & bits[i] != 0)
    }

    /// Asks the processor to fetch the block of `hash` into the cache, so that a
    /// [`Bloom::may_contain`] a little later does not wait for memory.
    #[inline]
    pub fn prefetch(&self, hash: u64) {
        if self.chunks.is_empty() {
            return;
        }
        let (chunk, block) = self.block_of(hash);
        let block: *const Block = &self.chunks[chunk][block];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetching is a hint; it never faults and reads nothing into the program.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(block.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = block;
    }

    /// Adds a key. Copies its chunk if another snapshot shares it. The filter must have
    /// been created with a capacity (see [`Bloom::with_capacity`]).
    pub fn insert(&mut self, hash: u64) {
        debug_assert!(!self.chunks.is_empty());
        let (chunk, block) = self.block_of(hash);
        let block = &mut Arc::make_mut(&mut Arc::make_mut(&mut self.chunks)[chunk])[block];
        for (word, bit) in block.iter_mut().zip(word_bits(hash)) {
            *word |= bit;
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.chunks.len() * (std::mem::size_of::<Chunk>() + std::mem::size_of::<usize>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn no_false_negatives_few_false_positives_and_snapshots_are_independent() {
        let hasher = foldhash::quality::RandomState::default();
        let n = 100_000u64;
        let mut a = Bloom::with_capacity(n as usize);
        assert!(!a.may_contain(hasher.hash_one(1u64)));
        for i in 0..n {
            a.insert(hasher.hash_one(i));
        }
        assert!((0..n).all(|i| a.may_contain(hasher.hash_one(i))));
        let false_positives = (n..2 * n).filter(|i| a.may_contain(hasher.hash_one(*i))).count();
        assert!(false_positives < n as usize / 50, "{false_positives} false positives in {n}");

        let mut b = a.clone();
        let absent = (2 * n..3 * n).find(|i| !a.may_contain(hasher.hash_one(*i))).unwrap();
        b.insert(hasher.hash_one(absent));
        assert!(b.may_contain(hasher.hash_one(absent)));
        assert!(!a.may_contain(hasher.hash_one(absent)), "the older snapshot is unchanged");
        let shared = a.chunks.iter().zip(b.chunks.iter()).filter(|(x, y)| Arc::ptr_eq(x, y)).count();
        assert_eq!(shared, a.chunks.len() - 1, "one chunk copied");
    }

    #[test]
    fn an_empty_filter_contains_nothing() {
        assert!(!Bloom::default().may_contain(0));
        assert!(!Bloom::with_capacity(0).may_contain(u64::MAX));
    }
}
