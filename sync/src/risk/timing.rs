//! When a check record counts: on time, late, or (no record when the window closed) missed.
//!
//! A record's time is the device's time, already bounded by the server's clock (see
//! [`crate::hlc::clamp_device_time`]): a phone that was offline for two days still gets its
//! records counted where they were done, and a phone whose clock runs ahead cannot make a late
//! record look early.

use serde::{Deserialize, Serialize};

/// When a task may be done: `[start_ms, end_ms)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Window {
    /// Opens, unix ms.
    pub start_ms: i64,
    /// Closes (exclusive), unix ms.
    pub end_ms: i64,
}

text_enum! {
    /// How a check record stands against its task's window.
    pub enum Timing as "record timing" {
        /// Done before the window opened: not accepted for this task.
        Early => "early",
        /// Done while the window was open.
        OnTime => "on_time",
        /// Done after the window closed.
        Late => "late",
    }
}

text_enum! {
    /// A task instance's state as lists and statistics show it.
    pub enum TaskState as "task state" {
        /// Its window has not opened yet.
        Upcoming => "upcoming",
        /// Its window is open and nothing is recorded yet.
        Due => "due",
        /// Recorded within the window.
        Done => "done",
        /// Recorded after the window closed.
        DoneLate => "done_late",
        /// The window closed with no record.
        Missed => "missed",
    }
}

/// Where a record done at `done_at_ms` (device time, bounded by server time) falls.
pub fn record_timing(window: Window, done_at_ms: i64) -> Timing {
    if done_at_ms < window.start_ms {
        Timing::Early
    } else if done_at_ms < window.end_ms {
        Timing::OnTime
    } else {
        Timing::Late
    }
}

/// A task's state at `now_ms`, given the timing of its record if there is one. A late record
/// turns a missed task into `done_late`; the task was still missed when its window closed, and
/// that event stays in the history.
pub fn task_state(window: Window, record: Option<Timing>, now_ms: i64) -> TaskState {
    match record {
        Some(Timing::OnTime) => TaskState::Done,
        Some(Timing::Late) => TaskState::DoneLate,
        Some(Timing::Early) | None => {
            if now_ms < window.start_ms {
                TaskState::Upcoming
            } else if now_ms < window.end_ms {
                TaskState::Due
            } else {
                TaskState::Missed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        start_ms: 1_000,
        end_ms: 2_000,
    };

    #[test]
    fn timing_at_the_edges() {
        assert_eq!(record_timing(W, 999), Timing::Early);
        assert_eq!(record_timing(W, 1_000), Timing::OnTime);
        assert_eq!(record_timing(W, 1_999), Timing::OnTime);
        assert_eq!(record_timing(W, 2_000), Timing::Late);
    }

    #[test]
    fn states_follow_the_clock_and_the_record() {
        assert_eq!(task_state(W, None, 500), TaskState::Upcoming);
        assert_eq!(task_state(W, None, 1_500), TaskState::Due);
        assert_eq!(task_state(W, None, 2_000), TaskState::Missed);
        assert_eq!(task_state(W, Some(Timing::OnTime), 9_000), TaskState::Done);
        assert_eq!(
            task_state(W, Some(Timing::Late), 9_000),
            TaskState::DoneLate
        );
    }

    #[test]
    fn a_clock_ahead_is_bounded_before_timing() {
        // Done offline at 1_500 (device time), received by the server at 2_500: on time.
        let (bounded, _) = crate::hlc::clamp_device_time(1_500, 2_500, 60_000);
        assert_eq!(record_timing(W, bounded), Timing::OnTime);
        // A phone claiming 9_000 when the server received it at 1_800 is bounded to 1_800.
        let (bounded, flagged) = crate::hlc::clamp_device_time(90_000, 1_800, 500);
        assert!(flagged);
        assert_eq!(record_timing(W, bounded), Timing::OnTime);
    }
}
