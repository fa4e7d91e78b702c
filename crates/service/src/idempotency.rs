//! Retries that never write twice: the first answer to a write sent with an idempotency key is kept, and
//! a repeat of the same request with the same key gets that answer again instead of a second write.
//!
//! Keys are the client's (any 1..=[`IDEMPOTENCY_KEY_CHARS_MAX`] visible ASCII characters) and belong to
//! the person who sent them: two people's equal keys never meet. Each entry holds the SHA-256 of the
//! request (method, path, body) and, once answered, the answer's status, content type and body. A key
//! sent again with another request is refused (the client reused it by mistake); a key whose first
//! request is still being answered is refused too, at once (the client retried too early). Answers that
//! say nothing about the write — 429 and 5xx — are not kept, so a retry after them is a new attempt; a
//! 202 (ordered, not committed yet) is kept: the retry learns the transaction to look up instead of
//! ordering it twice.
//!
//! The table is bounded ([`IDEMPOTENCY_ENTRIES_MAX`]) and forgets entries after
//! [`IDEMPOTENCY_TTL_MS`]; past the bound, the oldest answered entry goes first (an entry in progress is
//! never forgotten: its request would then run twice).

use std::collections::HashMap;
use std::sync::Mutex;

/// Longest idempotency key, in characters.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;
/// Most keys kept at once (all people together).
pub const IDEMPOTENCY_ENTRIES_MAX: usize = 10_000;
/// How long a key's answer is kept: a day, longer than any client's retries.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Largest answer body kept (every answer of the API fits).
pub const IDEMPOTENCY_ANSWER_BYTES_MAX: usize = 1024 * 1024;

/// A kept answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

enum State {
    InProgress,
    Answered(KeptAnswer),
}

struct Entry {
    request: [u8; 32],
    state: State,
    created_ms: i64,
}

/// What to do with a write that carries a key.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// The key is new: run the write, then [`Idempotency::finish`] (or [`Idempotency::abandon`]).
    Run,
    /// The same request was answered before: answer this again.
    Replay(KeptAnswer),
    /// The key was used for another request.
    Reused,
    /// The first request with this key is still being answered.
    InProgress,
    /// The table is full of requests in progress: try again shortly.
    Full,
}

/// Whether `key` is a well-formed idempotency key.
pub fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= IDEMPOTENCY_KEY_CHARS_MAX
        && key.bytes().all(|b| (0x21..=0x7E).contains(&b))
}

/// The table of keys (one per service).
#[derive(Default)]
pub struct Idempotency {
    table: Mutex<HashMap<(String, String), Entry>>,
}

impl Idempotency {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts `person`'s write with `key`, whose request hashes to `request`.
    pub fn begin(&self, person: &str, key: &str, request: [u8; 32], now_ms: i64) -> Begin {
        let expired = |e: &Entry| {
            matches!(e.state, State::Answered(_)) && now_ms - e.created_ms >= IDEMPOTENCY_TTL_MS
        };
        let mut table = self.lock();
        let id = (person.to_owned(), key.to_owned());
        if let Some(entry) = table.get(&id).filter(|e| !expired(e)) {
            return match &entry.state {
                _ if entry.request != request => Begin::Reused,
                State::InProgress => Begin::InProgress,
                State::Answered(answer) => Begin::Replay(answer.clone()),
            };
        }
        // Only a full table is swept (a write does not scan every key): expired answers first, then
        // the oldest answer.
        if !table.contains_key(&id) && table.len() >= IDEMPOTENCY_ENTRIES_MAX {
            table.retain(|_, e| !expired(e));
            if table.len() >= IDEMPOTENCY_ENTRIES_MAX {
                let oldest = table
                    .iter()
                    .filter(|(_, e)| matches!(e.state, State::Answered(_)))
                    .min_by_key(|(_, e)| e.created_ms)
                    .map(|(id, _)| id.clone());
                match oldest {
                    Some(oldest) => {
                        table.remove(&oldest);
                    }
                    None => return Begin::Full,
                }
            }
        }
        table.insert(
            id,
            Entry {
                request,
                state: State::InProgress,
                created_ms: now_ms,
            },
        );
        Begin::Run
    }

    /// Keeps the answer to `person`'s write with `key` (429 and 5xx are not kept: the key is freed).
    pub fn finish(&self, person: &str, key: &str, answer: KeptAnswer) {
        let id = (person.to_owned(), key.to_owned());
        let mut table = self.lock();
        if answer.status == 429
            || answer.status >= 500
            || answer.body.len() > IDEMPOTENCY_ANSWER_BYTES_MAX
        {
            table.remove(&id);
        } else if let Some(entry) = table.get_mut(&id) {
            entry.state = State::Answered(answer);
        }
    }

    /// Frees `person`'s `key` without an answer (the write could not be run).
    pub fn abandon(&self, person: &str, key: &str) {
        self.lock().remove(&(person.to_owned(), key.to_owned()));
    }

    /// Keys held now.
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16) -> KeptAnswer {
        KeptAnswer {
            status,
            content_type: Some("application/json".into()),
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn a_repeat_gets_the_first_answer_and_another_request_is_refused() {
        let table = Idempotency::default();
        assert_eq!(table.begin("ana", "k1", [1; 32], 0), Begin::Run);
        assert_eq!(table.begin("ana", "k1", [1; 32], 1), Begin::InProgress);
        table.finish("ana", "k1", answer(201));
        assert_eq!(
            table.begin("ana", "k1", [1; 32], 2),
            Begin::Replay(answer(201))
        );
        assert_eq!(table.begin("ana", "k1", [2; 32], 3), Begin::Reused);
        // Another person's equal key is theirs.
        assert_eq!(table.begin("luis", "k1", [2; 32], 4), Begin::Run);
        // Forgotten after a day.
        assert_eq!(
            table.begin("ana", "k1", [2; 32], IDEMPOTENCY_TTL_MS + 5),
            Begin::Run
        );
    }

    #[test]
    fn answers_that_say_nothing_about_the_write_free_the_key() {
        let table = Idempotency::default();
        for status in [429, 500, 503] {
            assert_eq!(table.begin("ana", "k", [1; 32], 0), Begin::Run);
            table.finish("ana", "k", answer(status));
        }
        assert_eq!(table.begin("ana", "k", [1; 32], 0), Begin::Run);
        table.finish("ana", "k", answer(202));
        assert_eq!(
            table.begin("ana", "k", [1; 32], 0),
            Begin::Replay(answer(202))
        );
    }

    #[test]
    fn the_bound_forgets_answers_never_requests_in_progress() {
        let table = Idempotency::default();
        for i in 0..IDEMPOTENCY_ENTRIES_MAX {
            assert_eq!(
                table.begin("ana", &i.to_string(), [0; 32], i as i64),
                Begin::Run
            );
        }
        assert_eq!(table.begin("ana", "one more", [0; 32], 0), Begin::Full);
        table.finish("ana", "0", answer(201));
        assert_eq!(table.begin("ana", "one more", [0; 32], 0), Begin::Run);
        assert_eq!(table.count(), IDEMPOTENCY_ENTRIES_MAX);
        // An expired answer makes room before any live one goes.
        table.finish("ana", "2", answer(201));
        table.finish("ana", "3", answer(201));
        let later = IDEMPOTENCY_TTL_MS + 3;
        assert_eq!(table.begin("ana", "newest", [0; 32], later), Begin::Run);
        assert_eq!(
            table.count(),
            IDEMPOTENCY_ENTRIES_MAX - 1,
            "both expired answers swept"
        );
        assert_eq!(
            table.begin("ana", "1", [0; 32], 0),
            Begin::InProgress,
            "never forgotten"
        );
    }

    #[test]
    fn keys_are_visible_ascii() {
        assert!(is_key("a8f3-01"));
        assert!(!is_key(""));
        assert!(!is_key("with space"));
        assert!(!is_key(&"x".repeat(IDEMPOTENCY_KEY_CHARS_MAX + 1)));
        assert!(!is_key("ñ"));
    }
}
