//! Minimal valid records of each model, for tests, benchmarks and demonstrations: only OMOP's required
//! columns (and the names a clinic needs) are filled. Not used by the contract itself.

use super::{Admin, Date, Doctor, DrugExposure, Note, Patient};

fn date(year: i64, month: i64, day: i64) -> Date {
    Date::new(year, month, day).unwrap_or_else(|e| unreachable!("sample dates are real dates: {e}"))
}

/// A patient with only OMOP's required columns (and a name).
pub fn patient(id: i64) -> Patient {
    Patient {
        person_id: id,
        gender_concept_id: 8532,
        year_of_birth: 1980,
        month_of_birth: None,
        day_of_birth: None,
        birth_datetime: None,
        race_concept_id: 0,
        ethnicity_concept_id: 0,
        location_id: None,
        provider_id: None,
        care_site_id: None,
        person_source_value: None,
        gender_source_value: None,
        gender_source_concept_id: None,
        race_source_value: None,
        race_source_concept_id: None,
        ethnicity_source_value: None,
        ethnicity_source_concept_id: None,
        given_name: Some("María".into()),
        second_given_name: None,
        family_name: Some("Pérez".into()),
        second_family_name: None,
        national_id: None,
    }
}

pub fn note(id: i64, patient_id: i64) -> Note {
    Note {
        note_id: id,
        person_id: patient_id,
        note_date: date(2024, 5, 30),
        note_datetime: None,
        note_type_concept_id: 44814645,
        note_class_concept_id: 44814639,
        note_title: None,
        note_text: "Paciente refiere cefalea de tres días.".into(),
        encoding_concept_id: 32678,
        language_concept_id: 4182511,
        provider_id: None,
        visit_occurrence_id: None,
        visit_detail_id: None,
        note_source_value: None,
        note_event_id: None,
        note_event_field_concept_id: None,
    }
}

pub fn drug_exposure(id: i64, patient_id: i64) -> DrugExposure {
    DrugExposure {
        drug_exposure_id: id,
        person_id: patient_id,
        drug_concept_id: 1125315,
        drug_exposure_start_date: date(2024, 5, 1),
        drug_exposure_start_datetime: None,
        drug_exposure_end_date: date(2024, 5, 10),
        drug_exposure_end_datetime: None,
        verbatim_end_date: None,
        drug_type_concept_id: 38000177,
        stop_reason: None,
        refills: None,
        quantity: None,
        days_supply: None,
        sig: None,
        route_concept_id: None,
        lot_number: None,
        provider_id: None,
        visit_occurrence_id: None,
        visit_detail_id: None,
        drug_source_value: None,
        drug_source_concept_id: None,
        route_source_value: None,
        dose_unit_source_value: None,
    }
}

pub fn doctor(id: i64, email: &str, certificate: Vec<u8>) -> Doctor {
    Doctor {
        provider_id: id,
        provider_name: None,
        npi: None,
        dea: None,
        specialty_concept_id: None,
        care_site_id: None,
        year_of_birth: None,
        gender_concept_id: None,
        provider_source_value: None,
        specialty_source_value: None,
        specialty_source_concept_id: None,
        gender_source_value: None,
        gender_source_concept_id: None,
        given_name: "Ana".into(),
        second_given_name: None,
        family_name: "García".into(),
        second_family_name: None,
        email: email.into(),
        certificate,
    }
}

pub fn admin(id: i64, email: &str, certificate: Vec<u8>) -> Admin {
    Admin {
        admin_id: id,
        given_name: "Raúl".into(),
        family_name: "Díaz".into(),
        email: email.into(),
        certificate,
    }
}
