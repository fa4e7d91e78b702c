//! `/patients`: the list of patients a page at a time, and the search by name, identity card number or
//! id; `/patients/new`: the registration form.
//!
//! Search: the contract has no name index yet, so an all-digits query is first tried as a patient id
//! (one direct read), and otherwise the patients are scanned a page at a time, at most
//! [`SEARCH_SCAN_RECORDS_MAX`] of them, keeping those whose names or identity card number contain the
//! query (case and accents ignored). The page says when the scan stopped before the end, so a doctor
//! never takes "no results" for "no such patient" on a large ledger.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use medledger_contract::ehr::{Patient, RecordKind};
use medledger_types::limits;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::super::fields;
use super::super::forms::{FormView, defaults, form_values};
use super::super::page::{Page, WebUser, urlencode};
use super::super::pages::{PageError, render};
use super::view::{fold, patient_matches, patient_title, record_json, text_of};
use super::{NewRecordPage, Refusal, check_csrf, create_from_form, doctor_only, unprocessable};
use medledger_service::records::{ListQuery, RecordPage, RecordVersion, get_record, list_records};
use medledger_service::{AppState, ServiceError};

/// At most this many patients are read by one search (ten pages of the largest size).
pub const SEARCH_SCAN_RECORDS_MAX: usize = 5_000;
/// At most this many matches are shown.
pub const SEARCH_RESULTS_MAX: usize = 100;
/// Patients per page of the list.
pub const LIST_PAGE_RECORDS: u32 = 50;

/// One patient in the list.
pub struct PatientRow {
    pub id: i64,
    pub name: String,
    pub national_id: String,
    pub year_of_birth: String,
}

impl PatientRow {
    fn new(page: &Page, id: i64, record: &Map<String, Value>) -> PatientRow {
        PatientRow {
            id,
            name: patient_title(page.lang, id, record),
            national_id: text_of(record, "national_id")
                .unwrap_or(page.t("record.no_value"))
                .to_owned(),
            year_of_birth: record
                .get("year_of_birth")
                .and_then(Value::as_i64)
                .map_or_else(|| page.t("record.no_value").to_owned(), |y| y.to_string()),
        }
    }

    fn of(page: &Page, version: &RecordVersion<Patient>) -> Result<PatientRow, ServiceError> {
        Ok(PatientRow::new(page, version.id, &record_json(version)?))
    }

    pub fn href(&self) -> String {
        format!("/patients/{}", self.id)
    }
}

#[derive(Template)]
#[template(path = "clinical/patients.html")]
struct PatientsPage<'a> {
    page: &'a Page,
    query: String,
    rows: Vec<PatientRow>,
    /// What the results are (a search's heading), if a search.
    results_heading: Option<String>,
    /// Why the results may be incomplete.
    notices: Vec<String>,
    next_page: Option<String>,
    first_page: Option<String>,
    national_id_label: &'static str,
    year_label: &'static str,
}

#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// Patients per page (the REST API's bounds); [`LIST_PAGE_RECORDS`] if absent.
    #[serde(default)]
    limit: Option<u32>,
}

/// What a search found.
struct Found {
    rows: Vec<PatientRow>,
    notices: Vec<String>,
}

/// The search: an id first if the query is all digits, else a bounded scan.
async fn search(state: &AppState, user: &WebUser, query: &str) -> Result<Found, ServiceError> {
    let page = &user.page;
    if query.bytes().all(|b| b.is_ascii_digit())
        && let Ok(id) = query.parse::<i64>()
    {
        match get_record::<Patient>(state, &user.session, id).await {
            Ok(version) => {
                return Ok(Found {
                    rows: vec![PatientRow::of(page, &version)?],
                    notices: vec![page.tf("clinical.found_by_id", &[("id", query)])],
                });
            }
            // Not an id after all (or not a valid one): an identity card number, perhaps.
            Err(
                ServiceError::NotFound(_)
                | ServiceError::BadRequest(_)
                | ServiceError::Validation(_),
            ) => {}
            Err(e) => return Err(e),
        }
    }
    scan(
        page,
        query,
        SEARCH_SCAN_RECORDS_MAX,
        SEARCH_RESULTS_MAX,
        |list| {
            let (state, session) = (state.clone(), user.session.clone());
            async move { list_records::<Patient>(&state, &session, &list).await }
        },
    )
    .await
}

/// The bounded scan of a search: reads pages through `fetch` until the end, `scan_max` patients, or
/// `results_max` matches, and says which limit stopped it.
async fn scan<F>(
    page: &Page,
    query: &str,
    scan_max: usize,
    results_max: usize,
    mut fetch: impl FnMut(ListQuery) -> F,
) -> Result<Found, ServiceError>
where
    F: Future<Output = Result<RecordPage<Patient>, ServiceError>>,
{
    let folded = fold(query);
    let mut found = Found {
        rows: Vec::new(),
        notices: Vec::new(),
    };
    let mut scanned = 0;
    let mut cursor = None;
    loop {
        let remaining = scan_max.saturating_sub(scanned).max(1);
        let list = ListQuery {
            limit: Some(remaining.min(limits::PAGE_LIMIT_MAX) as u32),
            cursor,
        };
        let batch = fetch(list).await?;
        scanned += batch.items.len();
        for version in &batch.items {
            let record = record_json(version)?;
            if patient_matches(&record, &folded) {
                if found.rows.len() == results_max {
                    let count = results_max.to_string();
                    found
                        .notices
                        .push(page.tf("clinical.search_too_many", &[("count", &count)]));
                    return Ok(found);
                }
                found.rows.push(PatientRow::new(page, version.id, &record));
            }
        }
        cursor = batch.next_cursor;
        if cursor.is_none() {
            return Ok(found);
        }
        if scanned >= scan_max || batch.items.is_empty() {
            let count = scanned.to_string();
            found
                .notices
                .push(page.tf("clinical.search_stopped", &[("count", &count)]));
            return Ok(found);
        }
    }
}

/// `GET /patients`: the list (`?cursor=` for later pages) or a search (`?q=`).
pub async fn list(
    State(state): State<AppState>,
    user: WebUser,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    let page = &user.page;
    let query = params.q.as_deref().unwrap_or("").trim().to_owned();
    let national_id_label = fields::field(RecordKind::Patient, "national_id")
        .map_or("national_id", |f| f.label.get(page.lang));
    let year_label = fields::field(RecordKind::Patient, "year_of_birth")
        .map_or("year_of_birth", |f| f.label.get(page.lang));
    let fail = |e| PageError::new(page, e);
    let view = if query.is_empty() {
        let list = ListQuery {
            limit: Some(params.limit.unwrap_or(LIST_PAGE_RECORDS)),
            cursor: params.cursor.clone(),
        };
        let batch = list_records::<Patient>(&state, &user.session, &list)
            .await
            .map_err(fail)?;
        let rows = batch
            .items
            .iter()
            .map(|version| PatientRow::of(page, version))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        PatientsPage {
            page,
            query,
            rows,
            results_heading: None,
            notices: Vec::new(),
            next_page: batch.next_cursor.map(|c| match params.limit {
                Some(limit) => format!("/patients?cursor={}&limit={limit}", urlencode(&c)),
                None => format!("/patients?cursor={}", urlencode(&c)),
            }),
            first_page: params.cursor.is_some().then(|| "/patients".to_owned()),
            national_id_label,
            year_label,
        }
    } else {
        let found = search(&state, &user, &query).await.map_err(fail)?;
        PatientsPage {
            page,
            results_heading: Some(page.tf("clinical.search_results", &[("q", &query)])),
            query,
            rows: found.rows,
            notices: found.notices,
            next_page: None,
            first_page: None,
            national_id_label,
            year_label,
        }
    };
    Ok(render(&view))
}

fn new_patient_page(
    page: &Page,
    values: &[(String, String)],
    refusal: Option<Refusal>,
) -> Response {
    let errors = match refusal {
        None => Default::default(),
        Some(Refusal::Fields(errors)) => errors,
        Some(Refusal::Page(error)) => return error.into_response(),
    };
    let failed = !errors.is_empty();
    let form = FormView::new(page, "/patients/new", RecordKind::Patient, values, &errors)
        .with_submit(page.t("form.save"))
        .with_cancel("/patients", page.t("form.cancel"));
    let response = render(&NewRecordPage {
        page,
        title: page.t("list.add_patient").to_owned(),
        context: Some((
            "/patients".to_owned(),
            page.t("clinical.back_to_patients").to_owned(),
        )),
        form,
    });
    if failed {
        unprocessable(response)
    } else {
        response
    }
}

/// `GET /patients/new`.
pub async fn new_form(user: WebUser) -> Result<Response, PageError> {
    doctor_only(&user)?;
    Ok(new_patient_page(
        &user.page,
        &defaults(RecordKind::Patient),
        None,
    ))
}

/// `POST /patients/new`: registers the patient and opens their chart.
pub async fn new_submit(
    State(state): State<AppState>,
    user: WebUser,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    check_csrf(&user, &pairs)?;
    let values = form_values(&pairs);
    match create_from_form::<Patient>(&state, &user, &values).await {
        Ok(version) => Ok(Redirect::to(&format!("/patients/{}", version.id)).into_response()),
        Err(refusal) => Ok(new_patient_page(&user.page, &values, Some(refusal))),
    }
}

#[cfg(test)]
mod tests {
    use medledger_contract::ehr::samples;

    use super::*;
    use crate::i18n::Lang;
    use medledger_service::people::RecordMeta;

    /// `count` patients with ids 1.., every third one named Núñez, served `limit` at a time.
    fn ledger(
        count: i64,
    ) -> impl FnMut(ListQuery) -> std::future::Ready<Result<RecordPage<Patient>, ServiceError>>
    {
        let mut reads = 0;
        move |list: ListQuery| {
            reads += 1;
            assert!(reads <= 100, "the scan must stop");
            let after: i64 = list.cursor.as_deref().map_or(0, |c| c.parse().unwrap_or(0));
            let limit = i64::from(list.limit.unwrap_or(50));
            let items: Vec<RecordVersion<Patient>> = (after + 1..=count.min(after + limit))
                .map(|id| {
                    let mut patient = samples::patient(id);
                    patient.family_name = Some(if id % 3 == 0 { "Núñez" } else { "Pérez" }.into());
                    RecordVersion {
                        kind: "patient".into(),
                        id,
                        patient_id: Some(id),
                        record: Some(patient),
                        header: RecordMeta {
                            version_number: 1,
                            author: "doctor@hospital.test".into(),
                            author_org: "Org1".into(),
                            timestamp: "2026-01-01T00:00:00Z".into(),
                            tx_id: "00".into(),
                            amendment_reason: None,
                        },
                        tx_id: "00".into(),
                        block_number: 1,
                        tx_index: 0,
                    }
                })
                .collect();
            let next_cursor = items
                .last()
                .filter(|v| v.id < count)
                .map(|v| v.id.to_string());
            std::future::ready(Ok(RecordPage { items, next_cursor }))
        }
    }

    fn page() -> Page {
        Page {
            lang: Lang::En,
            user: None,
            csrf: String::new(),
            path: "/patients".into(),
        }
    }

    #[tokio::test]
    async fn the_scan_reads_to_the_end_when_it_can() {
        let found = scan(&page(), "NUNEZ", 5_000, 100, ledger(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<i64> = found.rows.iter().map(|r| r.id).collect();
        assert_eq!(ids, (1..=10).map(|i| i * 3).collect::<Vec<_>>());
        assert!(found.notices.is_empty());
    }

    #[tokio::test]
    async fn the_scan_says_when_it_stopped_early() {
        let found = scan(&page(), "núñez", 12, 100, ledger(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.rows.len(), 4, "patients 3, 6, 9, 12");
        assert_eq!(found.notices.len(), 1);
        assert!(
            found.notices[0].contains("after looking at 12 patients"),
            "{:?}",
            found.notices
        );

        let found = scan(&page(), "nunez", 5_000, 2, ledger(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.rows.len(), 2);
        assert!(
            found.notices[0].contains("first 2 matches"),
            "{:?}",
            found.notices
        );
    }

    #[tokio::test]
    async fn a_scan_of_exactly_the_limit_is_complete() {
        let found = scan(&page(), "perez", 30, 100, ledger(30))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(found.rows.len(), 20);
        assert!(found.notices.is_empty(), "{:?}", found.notices);
    }
}
