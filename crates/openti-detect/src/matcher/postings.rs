//! Postings: which IOCs a key (a hash, a block, a domain, a pattern) stands for.
//!
//! A posting carries what the match path needs to decide without another lookup whether the
//! IOC counts — its definition (whose Enabled flag is checked on a hit) and its expiry — so
//! that expiry and definition changes never force a rebuild of a compiled structure.

use smallvec::SmallVec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Posting {
    pub ioc_id: i64,
    pub def_id: i64,
    /// ExpiresAt in Unix microseconds; `i64::MAX` for never.
    pub expires_us: i64,
}

/// Nearly every key has exactly one IOC; several IOCs (of different definitions) may share a
/// value, and all of them must match.
pub(crate) type Postings = SmallVec<[Posting; 1]>;

/// Removes the posting of `ioc_id`.
pub(crate) fn remove_posting(postings: &mut Postings, ioc_id: i64) {
    postings.retain(|p| p.ioc_id != ioc_id);
}
