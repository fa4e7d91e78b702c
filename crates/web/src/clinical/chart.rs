//! The patient chart (`/patients/{id}`): the patient's details and current version, their notes and
//! drug exposures in date order, and the forms that add either (`/patients/{id}/notes/new`,
//! `/patients/{id}/drug-exposures/new`).
//!
//! The contract lists a patient's records in id order; the chart reads at most
//! [`CHART_RECORDS_MAX`] of each kind and sorts them by date (a note's `note_date`, then its time; a
//! drug exposure's start date, then its time), oldest first, with the id breaking ties so the order is
//! stable. A chart with more says that it shows only the first ones.
//!
//! The add forms leave out the patient's id: the chart they were opened from names the patient, and the
//! handler sets `person_id` from the path, so a note cannot land on another patient by a typo.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use medledger_contract::ehr::{DrugExposure, Note, Patient, RecordKind};
use medledger_types::limits;
use serde_json::{Map, Value};

use super::super::forms::{FormView, defaults, form_values};
use super::super::page::{Page, WebUser};
use super::super::pages::{PageError, render};
use super::view::{
    FieldView, VersionView, common_views, display_value, more_views, patient_title, record_json,
    record_title, text_of, today,
};
use super::{
    Clinical, NewRecordPage, Refusal, check_csrf, create_from_form, doctor_only, drop_fields,
    id_of, record_path, unprocessable,
};
use medledger_service::records::{ListQuery, RecordVersion, get_record, patient_records};
use medledger_service::{AppState, ServiceError};

/// At most this many notes, and as many drug exposures, are read for one chart.
pub const CHART_RECORDS_MAX: usize = 1_000;
/// A note without a title is listed by this many characters of its text.
const NOTE_EXCERPT_CHARS: usize = 80;

/// One note or drug exposure in the chart: the columns the chart shows, and how it sorts.
pub struct ChartRow {
    pub href: String,
    /// The link text: a note's title or the start of its text; a drug exposure's drug.
    pub label: String,
    /// The other columns, already in the page's language.
    pub cells: Vec<String>,
    sort_key: (String, String, i64),
}

/// The patient's notes or drug exposures, at most [`CHART_RECORDS_MAX`]; `true` if there are more.
async fn all_of<M: Clinical>(
    state: &AppState,
    user: &WebUser,
    patient_id: i64,
) -> Result<(Vec<RecordVersion<M>>, bool), ServiceError> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let limit = (CHART_RECORDS_MAX - items.len()).min(limits::PAGE_LIMIT_MAX);
        let list = ListQuery {
            limit: Some(limit as u32),
            cursor,
        };
        let page = patient_records::<M>(state, &user.session, patient_id, &list).await?;
        items.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok((items, false));
        }
        if items.len() >= CHART_RECORDS_MAX {
            return Ok((items, true));
        }
    }
}

/// A field's value as the chart shows it.
fn cell(page: &Page, kind: RecordKind, record: &Map<String, Value>, name: &str) -> String {
    match super::super::fields::field(kind, name) {
        Some(spec) => display_value(page.lang, spec, record.get(name)),
        None => page.t("record.no_value").to_owned(),
    }
}

/// A string field for sorting (dates and datetimes sort as their ISO text).
fn sort_text(record: &Map<String, Value>, name: &str) -> String {
    record
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn note_row(page: &Page, version: &RecordVersion<Note>) -> Result<ChartRow, ServiceError> {
    let record = record_json(version)?;
    let label = match text_of(&record, "note_title") {
        Some(title) => title.to_owned(),
        None => match text_of(&record, "note_text") {
            Some(text) if text.chars().count() > NOTE_EXCERPT_CHARS => {
                format!(
                    "{}…",
                    text.chars().take(NOTE_EXCERPT_CHARS).collect::<String>()
                )
            }
            Some(text) => text.to_owned(),
            None => page.t("clinical.untitled").to_owned(),
        },
    };
    Ok(ChartRow {
        href: record_path(RecordKind::Note, version.id),
        label,
        cells: vec![
            cell(page, RecordKind::Note, &record, "note_date"),
            cell(page, RecordKind::Note, &record, "note_class_concept_id"),
        ],
        sort_key: (
            sort_text(&record, "note_date"),
            sort_text(&record, "note_datetime"),
            version.id,
        ),
    })
}

fn drug_exposure_row(
    page: &Page,
    version: &RecordVersion<DrugExposure>,
) -> Result<ChartRow, ServiceError> {
    let record = record_json(version)?;
    let label = text_of(&record, "drug_source_value").map_or_else(
        || record_title(page.lang, RecordKind::DrugExposure, version.id, &record),
        str::to_owned,
    );
    let kind = RecordKind::DrugExposure;
    Ok(ChartRow {
        href: record_path(kind, version.id),
        label,
        cells: vec![
            cell(page, kind, &record, "drug_exposure_start_date"),
            cell(page, kind, &record, "drug_exposure_end_date"),
            cell(page, kind, &record, "quantity"),
            cell(page, kind, &record, "route_concept_id"),
        ],
        sort_key: (
            sort_text(&record, "drug_exposure_start_date"),
            sort_text(&record, "drug_exposure_start_datetime"),
            version.id,
        ),
    })
}

/// The column headers of a kind's chart table: the labels of the fields its cells show.
fn headers(page: &Page, kind: RecordKind, names: &[&str]) -> Vec<&'static str> {
    names
        .iter()
        .filter_map(|name| super::super::fields::field(kind, name))
        .map(|spec| spec.label.get(page.lang))
        .collect()
}

#[derive(Template)]
#[template(path = "clinical/chart.html")]
struct ChartPage<'a> {
    page: &'a Page,
    id: i64,
    title: String,
    details: Vec<FieldView>,
    more: Vec<FieldView>,
    version: VersionView,
    notes: Vec<ChartRow>,
    notes_truncated: Option<String>,
    note_headers: Vec<&'static str>,
    drug_exposures: Vec<ChartRow>,
    drug_exposures_truncated: Option<String>,
    drug_exposure_headers: Vec<&'static str>,
    /// The header of the link column of both tables.
    record_header: String,
}

/// `GET /patients/{id}`: the chart.
pub async fn chart(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    let page = &user.page;
    let fail = |e| PageError::new(page, e);
    let id = id_of(page, &id)?;
    let patient = get_record::<Patient>(&state, &user.session, id)
        .await
        .map_err(fail)?;
    let record = record_json(&patient).map_err(fail)?;

    let (notes, more_notes) = all_of::<Note>(&state, &user, id).await.map_err(fail)?;
    let mut notes = notes
        .iter()
        .map(|v| note_row(page, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    notes.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));
    let (drugs, more_drugs) = all_of::<DrugExposure>(&state, &user, id)
        .await
        .map_err(fail)?;
    let mut drug_exposures = drugs
        .iter()
        .map(|v| drug_exposure_row(page, v))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fail)?;
    drug_exposures.sort_by(|a, b| a.sort_key.cmp(&b.sort_key));

    let truncated = |more: bool| {
        let count = CHART_RECORDS_MAX.to_string();
        more.then(|| page.tf("clinical.chart_truncated", &[("count", &count)]))
    };
    let name = patient_title(page.lang, id, &record);
    Ok(render(&ChartPage {
        page,
        id,
        title: page.tf("clinical.chart_of", &[("name", &name)]),
        details: common_views(page.lang, RecordKind::Patient, &record),
        more: more_views(page.lang, RecordKind::Patient, &record),
        version: VersionView::new(page.lang, &patient.header, patient.block_number),
        notes,
        notes_truncated: truncated(more_notes),
        note_headers: headers(
            page,
            RecordKind::Note,
            &["note_date", "note_class_concept_id"],
        ),
        drug_exposures,
        drug_exposures_truncated: truncated(more_drugs),
        drug_exposure_headers: headers(
            page,
            RecordKind::DrugExposure,
            &[
                "drug_exposure_start_date",
                "drug_exposure_end_date",
                "quantity",
                "route_concept_id",
            ],
        ),
        record_header: page.t("list.view").to_owned(),
    }))
}

// --- adding a note or a drug exposure from the chart ---------------------------------------------

/// What differs between the two add forms.
trait AddFromChart: Clinical {
    /// The path segment after `/patients/{id}/`.
    const SEGMENT: &'static str;
    /// The title, with `{name}`.
    const TITLE_KEY: &'static str;
    /// The date field prefilled with today.
    const DATE_FIELD: &'static str;
}

impl AddFromChart for Note {
    const SEGMENT: &'static str = "notes";
    const TITLE_KEY: &'static str = "clinical.add_note_for";
    const DATE_FIELD: &'static str = "note_date";
}

impl AddFromChart for DrugExposure {
    const SEGMENT: &'static str = "drug-exposures";
    const TITLE_KEY: &'static str = "clinical.add_drug_exposure_for";
    const DATE_FIELD: &'static str = "drug_exposure_start_date";
}

/// The patient a form adds to (it must exist and be readable) and their name.
async fn patient_of(
    state: &AppState,
    user: &WebUser,
    id: &str,
) -> Result<(i64, String), PageError> {
    let page = &user.page;
    let id = id_of(page, id)?;
    let patient = get_record::<Patient>(state, &user.session, id)
        .await
        .map_err(|e| PageError::new(page, e))?;
    let record = record_json(&patient).map_err(|e| PageError::new(page, e))?;
    Ok((id, patient_title(page.lang, id, &record)))
}

fn add_page<M: AddFromChart>(
    page: &Page,
    patient_id: i64,
    name: &str,
    values: &[(String, String)],
    refusal: Option<Refusal>,
) -> Response {
    let errors = match refusal {
        None => Default::default(),
        Some(Refusal::Fields(errors)) => errors,
        Some(Refusal::Page(error)) => return error.into_response(),
    };
    let failed = !errors.is_empty();
    let chart = format!("/patients/{patient_id}");
    let action = format!("{chart}/{}/new", M::SEGMENT);
    let mut form = FormView::new(page, &action, M::KIND, values, &errors)
        .with_submit(page.t("form.save"))
        .with_cancel(&chart, page.t("form.cancel"));
    // The patient comes from the path (see the module doc); an error about it stays in the summary.
    drop_fields(&mut form, &["person_id"]);
    let response = render(&NewRecordPage {
        page,
        title: page.tf(M::TITLE_KEY, &[("name", name)]),
        context: Some((chart, page.t("chart.back").to_owned())),
        form,
    });
    if failed {
        unprocessable(response)
    } else {
        response
    }
}

async fn add_form<M: AddFromChart>(
    state: AppState,
    user: WebUser,
    id: String,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    let (patient_id, name) = patient_of(&state, &user, &id).await?;
    let mut values = defaults(M::KIND);
    if let Some(today) = today(&state) {
        values.push((M::DATE_FIELD.to_owned(), today.to_string()));
    }
    Ok(add_page::<M>(&user.page, patient_id, &name, &values, None))
}

async fn add_submit<M: AddFromChart>(
    state: AppState,
    user: WebUser,
    id: String,
    pairs: Vec<(String, String)>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    check_csrf(&user, &pairs)?;
    let (patient_id, name) = patient_of(&state, &user, &id).await?;
    let mut values = form_values(&pairs);
    values.retain(|(n, _)| n != "person_id");
    values.push(("person_id".to_owned(), patient_id.to_string()));
    match create_from_form::<M>(&state, &user, &values).await {
        Ok(_) => Ok(Redirect::to(&format!("/patients/{patient_id}")).into_response()),
        Err(refusal) => Ok(add_page::<M>(
            &user.page,
            patient_id,
            &name,
            &values,
            Some(refusal),
        )),
    }
}

/// `GET /patients/{id}/notes/new`.
pub async fn new_note_form(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    add_form::<Note>(state, user, id).await
}

/// `POST /patients/{id}/notes/new`: writes the note and goes back to the chart.
pub async fn new_note_submit(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    add_submit::<Note>(state, user, id, pairs).await
}

/// `GET /patients/{id}/drug-exposures/new`.
pub async fn new_drug_exposure_form(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    add_form::<DrugExposure>(state, user, id).await
}

/// `POST /patients/{id}/drug-exposures/new`: writes the drug exposure and goes back to the chart.
pub async fn new_drug_exposure_submit(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    add_submit::<DrugExposure>(state, user, id, pairs).await
}
