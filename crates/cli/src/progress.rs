//! Progress on standard error, shared by the long-running commands (`verify`, `bench`): a line redrawn
//! in place on a terminal, else a line every [`PROGRESS_LOG_INTERVAL_MS`] (a log file or CI gets a
//! few lines, not thousands); nothing for a run shorter than the interval.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often progress is redrawn on a terminal, and printed as a line otherwise.
const PROGRESS_TERMINAL_INTERVAL_MS: u64 = 200;
const PROGRESS_LOG_INTERVAL_MS: u64 = 10_000;

pub(crate) struct Progress {
    terminal: bool,
    started: Instant,
    last: Instant,
    drawn: bool,
}

impl Progress {
    pub(crate) fn new() -> Progress {
        let now = Instant::now();
        Progress {
            terminal: std::io::stderr().is_terminal(),
            started: now,
            last: now,
            drawn: false,
        }
    }

    /// Redraws the line if the interval has passed since the last one; `line` is given the time since
    /// [`Progress::new`] and is called only then.
    pub(crate) fn update(&mut self, line: impl FnOnce(Duration) -> String) {
        let interval = if self.terminal {
            PROGRESS_TERMINAL_INTERVAL_MS
        } else {
            PROGRESS_LOG_INTERVAL_MS
        };
        if self.last.elapsed() < Duration::from_millis(interval) {
            return;
        }
        self.last = Instant::now();
        let line = line(self.started.elapsed());
        if self.terminal {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
        self.drawn = true;
    }

    /// Ends the redrawn line, if one was drawn.
    pub(crate) fn finish(&self) {
        if self.terminal && self.drawn {
            eprintln!();
        }
    }
}
