//! A brake on repeated authentication failures (SPEC A.2: "Repeated failures are rate-limited
//! (429 with `Retry-After`)").
//!
//! Each key (a client id, a source address, or both joined) may fail `max_failures` times
//! within `window`; the failure that reaches the limit locks the key for `lockout`. While
//! locked, [`FailureLimiter::check`] returns the seconds to put in `Retry-After`, and the
//! server answers 429 without spending an argon2 verification. A success forgets the key.
//!
//! State is in memory and per node: losing it on restart only resets counters, which is
//! acceptable for a brake on online guessing of 256-bit secrets. Memory is bounded: at most
//! `max_keys` entries (100 000 by default); when full, entries whose window and lockout are
//! over are dropped first, then the oldest unlocked ones, so a flood of new keys is the last
//! thing able to lift an active lockout.
//!
//! Keying by client id alone lets anyone lock a client out by failing on purpose; keying by
//! source address alone lets a botnet spread its guesses. The server should check both.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest as _, Sha256};

/// Default bound on tracked keys (roughly 10 MB at most).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Keys longer than this are stored as a digest, so an attacker-chosen 1 MB client id costs
/// 43 bytes, not 1 MB, per entry.
const MAX_KEY_LEN: usize = 128;

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    window_start: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
    last_seen: DateTime<Utc>,
}

impl Entry {
    fn locked_at(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|until| until > now)
    }

    /// Nothing left to remember: not locked and the counting window is over.
    fn is_stale(&self, now: DateTime<Utc>, window: Duration) -> bool {
        !self.locked_at(now) && add(self.window_start, window) <= now
    }
}

/// Counts authentication failures per key and locks keys that fail too often. Thread-safe;
/// share it as `Arc<FailureLimiter>`.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    lockout: Duration,
    max_keys: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl FailureLimiter {
    /// `max_failures` failures within `window` lock the key for `lockout`. A `max_failures` of
    /// 0 is treated as 1; negative durations as zero.
    pub fn new(max_failures: u32, window: Duration, lockout: Duration) -> Self {
        FailureLimiter {
            max_failures: max_failures.max(1),
            window: window.max(Duration::zero()),
            lockout: lockout.max(Duration::zero()),
            max_keys: DEFAULT_MAX_KEYS,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Changes the bound on tracked keys (at least 1).
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// `Ok` if the key may try to authenticate now, `Err(seconds)` (at least 1, rounded up)
    /// while it is locked out.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let key = normalize(key);
        let entries = self.lock();
        match entries.get(key.as_ref()).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err(retry_after_secs(until - now)),
            _ => Ok(()),
        }
    }

    /// Counts one failed attempt; the one that reaches `max_failures` starts a lockout.
    pub fn record_failure(&self, key: &str, now: DateTime<Utc>) {
        let key = normalize(key);
        let mut entries = self.lock();
        if !entries.contains_key(key.as_ref()) && entries.len() >= self.max_keys {
            self.make_room(&mut entries, now);
        }
        let entry = entries.entry(key.into_owned()).or_insert(Entry {
            failures: 0,
            window_start: now,
            locked_until: None,
            last_seen: now,
        });
        entry.last_seen = now;
        if entry.locked_at(now) {
            // Already locked; the server should not have tried. Do not extend the lockout, so
            // a misbehaving caller cannot turn a brake into a permanent ban.
            return;
        }
        if entry.locked_until.is_some() || add(entry.window_start, self.window) <= now {
            // Previous lockout over, or the window has passed: start counting afresh.
            entry.locked_until = None;
            entry.failures = 0;
            entry.window_start = now;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures >= self.max_failures {
            entry.locked_until = Some(add(now, self.lockout));
            entry.failures = 0;
        }
    }

    /// Forgets the key: a client that proves it knows the secret is not guessing.
    pub fn record_success(&self, key: &str) {
        let key = normalize(key);
        self.lock().remove(key.as_ref());
    }

    /// Drops entries with nothing left to remember. Optional: insertion prunes when the map is
    /// full, but a periodic call keeps memory low after a burst.
    pub fn prune(&self, now: DateTime<Utc>) {
        let window = self.window;
        self.lock().retain(|_, e| !e.is_stale(now, window));
    }

    /// Number of keys currently tracked (for metrics).
    pub fn tracked_keys(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // Every mutation leaves the map consistent, so a panic elsewhere while holding the
        // lock does not make its contents unusable.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called when full: drop stale entries, then about a tenth of the capacity, unlocked and
    /// least recently seen first. Evicting a batch keeps the O(n) scan rare under a flood.
    fn make_room(&self, entries: &mut HashMap<String, Entry>, now: DateTime<Utc>) {
        let window = self.window;
        entries.retain(|_, e| !e.is_stale(now, window));
        if entries.len() < self.max_keys {
            return;
        }
        let target = (self.max_keys / 10).max(1).min(entries.len());
        // Rank: unlocked before locked, then oldest first.
        let rank = |e: &Entry| (e.locked_at(now), e.last_seen);
        let mut ranks: Vec<(bool, DateTime<Utc>)> = entries.values().map(rank).collect();
        let (_, &mut threshold, _) = ranks.select_nth_unstable(target - 1);
        let below = ranks.iter().filter(|r| **r < threshold).count();
        // Entries ranked exactly at the threshold are evicted only as far as the target needs,
        // so a batch of equal entries is not wiped out whole.
        let mut at_threshold_quota = target - below;
        entries.retain(|_, e| {
            let r = rank(e);
            if r < threshold {
                false
            } else if r == threshold && at_threshold_quota > 0 {
                at_threshold_quota -= 1;
                false
            } else {
                true
            }
        });
    }
}

/// `t + d` that saturates instead of panicking, so an absurd configured duration means
/// "forever" rather than a crash.
fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn normalize(key: &str) -> std::borrow::Cow<'_, str> {
    if key.len() <= MAX_KEY_LEN {
        std::borrow::Cow::Borrowed(key)
    } else {
        // A prefix no short key can have, so a digest never collides with a real short key.
        std::borrow::Cow::Owned(format!(
            "#sha256:{}",
            URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_bytes()))
        ))
    }
}

fn retry_after_secs(remaining: Duration) -> u64 {
    let ms = remaining.num_milliseconds().max(0);
    let secs = (ms + 999) / 1000;
    u64::try_from(secs.max(1)).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("valid")
    }

    fn limiter() -> FailureLimiter {
        // 5 failures within 10 minutes lock for 15 minutes.
        FailureLimiter::new(5, Duration::minutes(10), Duration::minutes(15))
    }

    #[test]
    fn locks_on_the_max_th_failure_and_releases_after_lockout() {
        let l = limiter();
        for i in 0..4 {
            l.record_failure("client", t(i));
            assert_eq!(l.check("client", t(i)), Ok(()), "failure {}", i + 1);
        }
        l.record_failure("client", t(4));
        assert_eq!(l.check("client", t(4)), Err(900));
        assert_eq!(l.check("client", t(5)), Err(899));
        assert_eq!(l.check("client", t(4 + 899)), Err(1));
        assert_eq!(l.check("client", t(4 + 900)), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let l = FailureLimiter::new(1, Duration::minutes(1), Duration::seconds(60));
        l.record_failure("k", t(0));
        let almost = t(59) + Duration::milliseconds(500);
        assert_eq!(l.check("k", almost), Err(1));
        assert_eq!(l.check("k", t(0) + Duration::milliseconds(1)), Err(60));
        assert_eq!(retry_after_secs(Duration::zero()), 1);
        assert_eq!(retry_after_secs(Duration::milliseconds(1001)), 2);
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let l = limiter();
        for i in 0..20 {
            // One failure every 3 minutes: at most 4 fall in any 10-minute window.
            l.record_failure("slow", t(i * 180));
            assert_eq!(l.check("slow", t(i * 180)), Ok(()), "failure {i}");
        }
    }

    #[test]
    fn window_is_fixed_from_the_first_failure() {
        let l = limiter();
        for i in 0..4 {
            l.record_failure("k", t(i * 60));
        }
        // The fifth failure lands just after the window that started at t(0): count restarts.
        l.record_failure("k", t(600));
        assert_eq!(l.check("k", t(600)), Ok(()));
        // Just inside the window, the fifth failure locks.
        let l = limiter();
        for i in 0..4 {
            l.record_failure("k", t(i * 60));
        }
        l.record_failure("k", t(599));
        assert!(l.check("k", t(599)).is_err());
    }

    #[test]
    fn failures_during_lockout_do_not_extend_it_and_counting_restarts_after() {
        let l = limiter();
        for i in 0..5 {
            l.record_failure("k", t(i));
        }
        l.record_failure("k", t(100));
        assert_eq!(l.check("k", t(100)), Err(804));
        // After the lockout a single failure does not re-lock.
        l.record_failure("k", t(1000));
        assert_eq!(l.check("k", t(1000)), Ok(()));
        for i in 1..5 {
            l.record_failure("k", t(1000 + i));
        }
        assert_eq!(l.check("k", t(1004)), Err(900));
    }

    #[test]
    fn success_forgets_and_keys_are_independent() {
        let l = limiter();
        for i in 0..4 {
            l.record_failure("a", t(i));
            l.record_failure("b", t(i));
        }
        l.record_success("a");
        l.record_failure("a", t(5));
        l.record_failure("b", t(5));
        assert_eq!(l.check("a", t(5)), Ok(()));
        assert!(l.check("b", t(5)).is_err());
        assert_eq!(l.check("never-seen", t(5)), Ok(()));
        l.record_success("b");
        assert_eq!(l.check("b", t(5)), Ok(()));
    }

    #[test]
    fn huge_durations_saturate_instead_of_panicking() {
        let l = FailureLimiter::new(1, Duration::MAX, Duration::MAX);
        l.record_failure("k", t(0));
        assert!(l.check("k", t(0)).is_err());
        l.prune(t(0));
        assert_eq!(l.tracked_keys(), 1);
    }

    #[test]
    fn zero_max_failures_means_one() {
        let l = FailureLimiter::new(0, Duration::minutes(1), Duration::minutes(1));
        l.record_failure("k", t(0));
        assert!(l.check("k", t(0)).is_err());
    }

    #[test]
    fn memory_is_bounded_and_lockouts_survive_a_flood() {
        let l = limiter().with_max_keys(50);
        for i in 0..5 {
            l.record_failure("victim-attacker", t(i));
        }
        for i in 0..10_000 {
            l.record_failure(&format!("flood-{i}"), t(10));
            assert!(l.tracked_keys() <= 50);
        }
        assert!(
            l.check("victim-attacker", t(10)).is_err(),
            "lockout evicted by a flood"
        );
    }

    #[test]
    fn eviction_removes_oldest_unlocked_first() {
        let l = limiter().with_max_keys(10);
        for i in 0..10 {
            l.record_failure(&format!("k{i}"), t(i));
        }
        l.record_failure("new", t(20));
        assert_eq!(l.tracked_keys(), 10);
        // k0 (oldest) went; k1 is still counting its failures.
        for _ in 0..4 {
            l.record_failure("k1", t(21));
        }
        assert!(l.check("k1", t(21)).is_err());
        for _ in 0..4 {
            l.record_failure("k0", t(21));
        }
        assert_eq!(
            l.check("k0", t(21)),
            Ok(()),
            "k0 was evicted and restarted its count"
        );
    }

    #[test]
    fn prune_drops_only_stale_entries() {
        let l = limiter();
        l.record_failure("counting", t(0));
        for i in 0..5 {
            l.record_failure("locked", t(i));
        }
        l.prune(t(599));
        assert_eq!(l.tracked_keys(), 2);
        l.prune(t(600));
        assert_eq!(l.tracked_keys(), 1, "window over for `counting`");
        l.prune(t(904));
        assert_eq!(l.tracked_keys(), 0, "lockout over for `locked`");
    }

    #[test]
    fn long_keys_are_digested_but_still_distinct() {
        let l = FailureLimiter::new(1, Duration::minutes(1), Duration::minutes(1));
        let a = "a".repeat(10_000);
        let b = format!("{}b", "a".repeat(9_999));
        l.record_failure(&a, t(0));
        assert!(l.check(&a, t(0)).is_err());
        assert_eq!(l.check(&b, t(0)), Ok(()));
        assert!(l.lock().keys().all(|k| k.len() <= MAX_KEY_LEN));
    }

    #[test]
    fn is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<FailureLimiter>();
        let l = std::sync::Arc::new(limiter());
        let handles: Vec<_> = (0..4)
            .map(|n| {
                let l = l.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        l.record_failure(&format!("t{n}-{i}"), t(0));
                        let _ = l.check("shared", t(0));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(l.tracked_keys(), 400);
    }
}
