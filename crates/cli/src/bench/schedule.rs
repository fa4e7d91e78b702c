//! When each operation starts. Closed loop: a client starts its next operation when its last one is
//! answered. Open loop: operation `i` is due at `i / rate` seconds after the start whatever the
//! answers do, and its latency runs from that due time, so a slow answer that delays the ones behind
//! it (queueing) is counted in theirs too (no coordinated omission). Clients take the next due
//! operation from one shared counter, so an idle client sends it on time and, when every client is
//! busy, it is sent late and the lateness is in its latency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How the load is offered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Load {
    Closed {
        clients: u32,
    },
    /// `clients` connections at most carry the requests.
    Open {
        rate_per_s: f64,
        clients: u32,
    },
}

impl Load {
    pub(crate) fn clients(self) -> u32 {
        match self {
            Load::Closed { clients } | Load::Open { clients, .. } => clients,
        }
    }
}

/// When the run's phases end, from its start: the warm-up, then the measured window, which ends after
/// a duration or after a number of operations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Phases {
    pub(crate) warmup: Duration,
    pub(crate) end: End,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum End {
    /// The measured window lasts this long.
    After(Duration),
    /// The measured window holds this many operations (a test's deterministic size).
    Operations(u64),
}

/// The offset from the run's start at which open-loop operation `index` is due.
pub(crate) fn due_offset(index: u64, rate_per_s: f64) -> Duration {
    Duration::from_secs_f64(index as f64 / rate_per_s)
}

/// The operations of one run, handed out to the clients: for each, when it starts (an offset from
/// the run's start) and whether it is measured. `None`: the run is over.
#[derive(Debug)]
pub(crate) struct Schedule {
    load: Load,
    phases: Phases,
    /// Open loop: the next operation's index. Both loops: measured operations handed out.
    next: AtomicU64,
    measured: AtomicU64,
}

/// One operation to start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Slot {
    /// Open loop: when it is due (the client waits until then); closed loop: now.
    pub(crate) due: Duration,
    pub(crate) measured: bool,
}

impl Schedule {
    pub(crate) fn new(load: Load, phases: Phases) -> Schedule {
        Schedule {
            load,
            phases,
            next: AtomicU64::new(0),
            measured: AtomicU64::new(0),
        }
    }

    /// The next operation for a client whose clock reads `now` (since the run's start).
    pub(crate) fn next(&self, now: Duration) -> Option<Slot> {
        let due = match self.load {
            Load::Closed { .. } => now,
            Load::Open { rate_per_s, .. } => {
                due_offset(self.next.fetch_add(1, Ordering::Relaxed), rate_per_s)
            }
        };
        if due < self.phases.warmup {
            return Some(Slot {
                due,
                measured: false,
            });
        }
        match self.phases.end {
            End::After(window) if due >= self.phases.warmup + window => None,
            End::After(_) => Some(Slot {
                due,
                measured: true,
            }),
            End::Operations(count) => {
                // Counted before handing out, so that exactly `count` are measured.
                let taken = self.measured.fetch_add(1, Ordering::Relaxed);
                (taken < count).then_some(Slot {
                    due,
                    measured: true,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn open_loop_operations_are_due_at_fixed_times() {
        assert_eq!(due_offset(0, 1000.0), Duration::ZERO);
        assert_eq!(due_offset(1, 1000.0), MS);
        assert_eq!(due_offset(2500, 1000.0), 2500 * MS);
        assert_eq!(due_offset(3, 2.0), Duration::from_millis(1500));
        assert_eq!(due_offset(1, 3.0), Duration::from_secs_f64(1.0 / 3.0));
    }

    #[test]
    fn open_loop_hands_out_due_times_whatever_the_clock_says() {
        let schedule = Schedule::new(
            Load::Open {
                rate_per_s: 100.0,
                clients: 2,
            },
            Phases {
                warmup: 20 * MS,
                end: End::After(30 * MS),
            },
        );
        // A client far behind (its clock at 1 s) still gets the next due time, not its own.
        let slots: Vec<Option<Slot>> = (0..6).map(|_| schedule.next(1000 * MS)).collect();
        let expected =
            [(0, false), (10, false), (20, true), (30, true), (40, true)].map(|(ms, measured)| {
                Some(Slot {
                    due: ms * MS,
                    measured,
                })
            });
        assert_eq!(slots[..5], expected);
        assert_eq!(slots[5], None, "due at 50 ms: past the window's end");
    }

    #[test]
    fn closed_loop_starts_now_until_the_window_ends() {
        let schedule = Schedule::new(
            Load::Closed { clients: 1 },
            Phases {
                warmup: 5 * MS,
                end: End::After(10 * MS),
            },
        );
        assert_eq!(
            schedule.next(MS),
            Some(Slot {
                due: MS,
                measured: false
            })
        );
        assert_eq!(
            schedule.next(5 * MS),
            Some(Slot {
                due: 5 * MS,
                measured: true
            })
        );
        assert_eq!(schedule.next(15 * MS), None);
    }

    #[test]
    fn a_counted_window_measures_exactly_that_many() {
        let schedule = Schedule::new(
            Load::Closed { clients: 3 },
            Phases {
                warmup: Duration::ZERO,
                end: End::Operations(4),
            },
        );
        let measured = (0..10)
            .filter_map(|i| schedule.next(i * MS))
            .filter(|slot| slot.measured)
            .count();
        assert_eq!(measured, 4);
    }
}
