//! Values known to match no pattern IOC: a small per-thread cache that spares the pattern
//! scans (StartWith, EndWith, Contains, Regex) of values that recur.
//!
//! Telemetry repeats itself: nearly every endpoint event names its initiating process, and
//! a fleet runs a few hundred distinct ones (`svchost.exe`, `chrome.exe`…); DNS queries and
//! URLs go to the same hosts over and over. Their pattern scans cost far more than the exact
//! look-ups, and their answer only changes when a pattern IOC does. So the answer "no
//! pattern of this index matches this value" is remembered, per thread, for the pattern
//! state it was computed against.
//!
//! - Only "no pattern candidate at all" is remembered, before definitions and expiry are
//!   looked at: whether a hit counts depends on the event's time and on definitions, which
//!   change without touching patterns; whether a pattern matches depends only on the value.
//! - An entry holds the value itself and is compared byte for byte: no collision of hashes
//!   can make a value skip its scans.
//! - Entries are tagged with the pattern version of the index they were computed against
//!   ([`next_pattern_version`]): every pattern IOC added or removed, in any tenant, makes a
//!   new version, so an entry never outlives the patterns it was true of.
//! - Direct-mapped, 256 slots of one cache line: a look-up touches one line; a value seen
//!   once costs a hash and a copy of at most [`MAX_VALUE`] bytes.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Values longer than this are not remembered (URLs with query strings rarely recur).
const MAX_VALUE: usize = 46;

const SLOTS: usize = 256;

/// A fresh pattern version, never handed out before in this process (0 is never one).
pub(crate) fn next_pattern_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Which pattern scans a value went through (the same text as a file name and as a URL
/// are different questions).
pub(crate) type Class = u8;

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Slot {
    version: u64,
    hash: u64,
    class: Class,
    len: u8,
    bytes: [u8; MAX_VALUE],
}

const EMPTY: Slot = Slot { version: 0, hash: 0, class: 0, len: 0, bytes: [0; MAX_VALUE] };

struct CleanValues {
    slots: Box<[Slot; SLOTS]>,
    hasher: foldhash::fast::RandomState,
}

thread_local! {
    static CLEAN: RefCell<CleanValues> = RefCell::new(CleanValues {
        slots: Box::new([EMPTY; SLOTS]),
        hasher: foldhash::fast::RandomState::default(),
    });
}

/// Where a value is or would be remembered.
#[derive(Clone, Copy)]
pub(crate) struct Ticket {
    hash: u64,
    class: Class,
}

/// Whether `value` (scanned as `class`) is known to match no pattern of `version`; if not,
/// the ticket to [`remember`] it with once a scan found nothing. `None` for values too long
/// to remember.
#[inline]
pub(crate) fn look_up(version: u64, class: Class, value: &str) -> Option<(bool, Ticket)> {
    if value.len() > MAX_VALUE {
        return None;
    }
    CLEAN.with_borrow(|c| {
        let hash = c.hasher.hash_one((class, value.as_bytes()));
        let slot = &c.slots[hash as usize % SLOTS];
        let known = slot.version == version
            && slot.hash == hash
            && slot.class == class
            && &slot.bytes[..usize::from(slot.len)] == value.as_bytes();
        Some((known, Ticket { hash, class }))
    })
}

/// Remembers that `value` matched no pattern of `version`.
#[inline]
pub(crate) fn remember(version: u64, ticket: Ticket, value: &str) {
    debug_assert!(value.len() <= MAX_VALUE);
    CLEAN.with_borrow_mut(|c| {
        let slot = &mut c.slots[ticket.hash as usize % SLOTS];
        slot.version = version;
        slot.hash = ticket.hash;
        slot.class = ticket.class;
        slot.len = value.len() as u8;
        slot.bytes[..value.len()].copy_from_slice(value.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_known_only_for_its_version_class_and_exact_bytes() {
        let v = next_pattern_version();
        let (known, ticket) = look_up(v, 1, "svchost.exe").unwrap();
        assert!(!known);
        remember(v, ticket, "svchost.exe");
        assert!(look_up(v, 1, "svchost.exe").unwrap().0);
        assert!(!look_up(v, 2, "svchost.exe").unwrap().0, "another class");
        assert!(!look_up(v, 1, "svchost.ex").unwrap().0, "another value");
        assert!(!look_up(next_pattern_version(), 1, "svchost.exe").unwrap().0, "another version");
        assert!(look_up(v, 1, &"x".repeat(MAX_VALUE + 1)).is_none());
        let long = "y".repeat(MAX_VALUE);
        let (_, ticket) = look_up(v, 1, &long).unwrap();
        remember(v, ticket, &long);
        assert!(look_up(v, 1, &long).unwrap().0);
    }

    #[test]
    fn versions_are_never_reused() {
        let a = next_pattern_version();
        let b = next_pattern_version();
        assert!(a != 0 && b > a);
    }
}
