//! Injected time.
//!
//! Token lifetimes, lockouts and expiry all read the time through a [`Clock`], so production uses
//! [`SystemClock`] and tests use [`ManualClock`] to jump across an edge instead of sleeping.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
}

impl ManualClock {
    pub fn new(now: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(now),
        }
    }

    pub fn set(&self, now: DateTime<Utc>) {
        *self.lock() = now;
    }

    /// Moves the clock by `by` (which may be negative) and returns the new time.
    pub fn advance(&self, by: Duration) -> DateTime<Utc> {
        let mut now = self.lock();
        *now += by;
        *now
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        // A panic while holding the lock cannot leave a DateTime half-written, so a poisoned
        // lock is still a valid time.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.lock()
    }
}

/// Lets the server share one clock as `Arc<dyn Clock>` and still pass it where a `Clock` is
/// expected.
impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).expect("valid timestamp");
        let clock = ManualClock::new(t0);
        assert_eq!(clock.now(), t0);
        assert_eq!(
            clock.advance(Duration::seconds(90)),
            t0 + Duration::seconds(90)
        );
        assert_eq!(clock.now(), t0 + Duration::seconds(90));
        clock.set(t0);
        assert_eq!(clock.now(), t0);
    }

    #[test]
    fn arc_dyn_clock_is_a_clock() {
        let t0 = DateTime::from_timestamp(42, 0).expect("valid timestamp");
        let shared: Arc<dyn Clock> = Arc::new(ManualClock::new(t0));
        fn read<C: Clock>(c: &C) -> DateTime<Utc> {
            c.now()
        }
        assert_eq!(read(&shared), t0);
        let system = SystemClock.now();
        assert!(system > t0);
    }
}
