//! What the bench's clients do: the workloads, the operations they are made of, the records they
//! write (a note of [`NOTE_TEXT_BYTES`] bytes of text, as the issue measures), the ids they use and
//! the small seeded generator that picks patients and mix operations.

use serde_json::{Value, json};

/// The length of a note's text: the issue measures "one ~300-byte record per transaction".
pub(crate) const NOTE_TEXT_BYTES: usize = 300;

/// The mix: out of [`MIX_PARTS`] operations, this many chart reads and note creations; the rest are
/// amendments. Reads dominate a clinic's day.
const MIX_CHART_PARTS: u64 = 7;
const MIX_CREATE_NOTE_PARTS: u64 = 2;
const MIX_PARTS: u64 = 10;
const _: () = assert!(MIX_CHART_PARTS + MIX_CREATE_NOTE_PARTS < MIX_PARTS);

/// Ids handed out per millisecond of the run's start time: a run's ids start at
/// `start_ms * IDS_PER_MS`, so a later run never reuses a former one's ids unless that one created
/// more than this many records per millisecond it ran. The largest id (year 2100: about 4.1e15) stays
/// below 2^53, exact as a JSON number anywhere.
pub(crate) const IDS_PER_MS: i64 = 1000;

/// A workload, as `--workload` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Workload {
    /// A blind insert: a new note for a random patient.
    CreateNote,
    /// A patient's chart: the patient and the first page of their notes.
    Chart,
    /// Read–modify–write of a random patient's first note: read it, amend it naming the version
    /// read (`If-Match`), so concurrent amendments conflict (412) instead of merging.
    Amend,
    /// 70% chart, 20% create-note, 10% amend.
    Mix,
}

impl Workload {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::CreateNote => "create-note",
            Workload::Chart => "chart",
            Workload::Amend => "amend",
            Workload::Mix => "mix",
        }
    }

    /// The operation to do next, `roll` a uniform random number.
    pub(crate) fn operation(self, roll: u64) -> Operation {
        match self {
            Workload::CreateNote => Operation::CreateNote,
            Workload::Chart => Operation::Chart,
            Workload::Amend => Operation::Amend,
            Workload::Mix => match roll % MIX_PARTS {
                part if part < MIX_CHART_PARTS => Operation::Chart,
                part if part < MIX_CHART_PARTS + MIX_CREATE_NOTE_PARTS => Operation::CreateNote,
                _ => Operation::Amend,
            },
        }
    }
}

/// One operation of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    CreateNote,
    Chart,
    Amend,
}

impl Operation {
    pub(crate) const ALL: [Operation; 3] =
        [Operation::CreateNote, Operation::Chart, Operation::Amend];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Operation::CreateNote => "create-note",
            Operation::Chart => "chart",
            Operation::Amend => "amend",
        }
    }
}

/// The ids of one run: the bench doctor, its patients, their first notes, then new notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ids {
    pub(crate) base: i64,
    pub(crate) patients: u32,
}

impl Ids {
    /// A run started at `start_ms` (Unix milliseconds) with `patients` patients.
    pub(crate) fn new(start_ms: i64, patients: u32) -> Ids {
        Ids {
            base: start_ms.saturating_mul(IDS_PER_MS),
            patients,
        }
    }

    pub(crate) fn doctor(self) -> i64 {
        self.base + 1
    }

    /// Patient `n`, 0-based.
    pub(crate) fn patient(self, n: u32) -> i64 {
        self.base + 2 + i64::from(n)
    }

    /// The note written for patient `n` at setup, which `amend` amends.
    pub(crate) fn first_note(self, n: u32) -> i64 {
        self.base + 2 + i64::from(self.patients) + i64::from(n)
    }

    /// The `k`-th note written while the run runs (0-based).
    pub(crate) fn new_note(self, k: u64) -> i64 {
        self.base + 2 + 2 * i64::from(self.patients) + k as i64
    }
}

/// A patient's registration body.
pub(crate) fn patient_body(person_id: i64) -> Value {
    json!({
        "person_id": person_id,
        "gender_concept_id": 8532,
        "year_of_birth": 1980,
        "race_concept_id": 0,
        "ethnicity_concept_id": 0,
        "given_name": "Bench",
        "family_name": format!("Patient {person_id}"),
    })
}

/// A note's text of exactly [`NOTE_TEXT_BYTES`] bytes (ASCII), naming `note_id` so no two are alike.
pub(crate) fn note_text(note_id: i64) -> String {
    const TEXT: &str = "Consulta de seguimiento. Refiere cefalea frontal de tres dias, sin fiebre ni \
        vomitos. TA 128/82, FC 76, afebril. Exploracion neurologica sin focalidad. Plan: paracetamol \
        1 g cada 8 horas, hidratacion, control en una semana o antes si empeora. ";
    let mut text = format!("Nota {note_id}. ");
    while text.len() < NOTE_TEXT_BYTES {
        text.push_str(TEXT);
    }
    text.truncate(NOTE_TEXT_BYTES);
    text
}

/// A note's creation body (OMOP CDM field names).
pub(crate) fn note_body(note_id: i64, person_id: i64) -> Value {
    json!({
        "note_id": note_id,
        "person_id": person_id,
        "note_date": "2026-12-02",
        "note_type_concept_id": 32817,
        "note_class_concept_id": 44814637,
        "note_title": "Seguimiento",
        "note_text": note_text(note_id),
        "encoding_concept_id": 32678,
        "language_concept_id": 4182511,
    })
}

/// An amendment's body: a new text for the note.
pub(crate) fn amendment_body(note_id: i64, n: u64) -> Value {
    json!({
        "changes": {"note_text": note_text(note_id.wrapping_add(n as i64))},
        "reason": "bench: read-modify-write",
    })
}

/// SplitMix64: a small, fast, seeded generator (the picks need to be spread out, not secret).
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0), up to a negligible bias.
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        (((self.next_u64() >> 32) * u64::from(n)) >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_has_the_measured_size_of_text() {
        for id in [1, 1_764_000_000_000_000, i64::MAX] {
            assert_eq!(note_text(id).len(), NOTE_TEXT_BYTES);
            assert!(note_text(id).starts_with(&format!("Nota {id}. ")));
        }
        assert_ne!(note_text(1), note_text(2));
        let body = serde_json::to_string(&note_body(5, 3)).expect("JSON");
        assert!(
            (NOTE_TEXT_BYTES..NOTE_TEXT_BYTES + 300).contains(&body.len()),
            "{body}"
        );
    }

    #[test]
    fn ids_of_a_run_do_not_overlap() {
        let ids = Ids::new(1_764_700_000_000, 3);
        let all = [
            ids.doctor(),
            ids.patient(0),
            ids.patient(2),
            ids.first_note(0),
            ids.first_note(2),
            ids.new_note(0),
        ];
        assert_eq!(
            all,
            [
                ids.base + 1,
                ids.base + 2,
                ids.base + 4,
                ids.base + 5,
                ids.base + 7,
                ids.base + 8
            ]
        );
        assert!(Ids::new(4_102_444_800_000, 100).new_note(1_000_000) < 1 << 53);
    }

    #[test]
    fn the_mix_is_in_its_proportions() {
        let counts = (0..MIX_PARTS).fold([0u64; 3], |mut counts, roll| {
            counts[Workload::Mix.operation(roll) as usize] += 1;
            counts
        });
        assert_eq!(counts, [2, 7, 1]);
        assert_eq!(Workload::Amend.operation(3), Operation::Amend);
    }

    #[test]
    fn the_generator_is_seeded_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut seen = [0u32; 4];
        for _ in 0..4000 {
            seen[a.below(4) as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 800), "{seen:?}");
    }
}
