//! What a doctor does in the browser: find and register patients, read a patient's chart, add notes and
//! drug exposures to it, read any of those records, amend it (with a reason) and read its history.
//!
//! - [`patients`]: `/patients` (list and search) and `/patients/new`.
//! - [`chart`]: `/patients/{id}` (the chart) and the forms that add a note or a drug exposure to it.
//! - [`records`]: `/notes/{id}`, `/drug-exposures/{id}`, and `/{collection}/{id}/amend` and `/history`
//!   for patients, notes and drug exposures.
//! - [`view`]: how records, versions and changes look on a page.
//!
//! Every handler calls the REST API's service functions (`crate::records`), so the contract decides
//! what is valid and who may do what; the pages only translate forms to JSON and answers to HTML. Only
//! doctors use these pages: anyone else gets the 403 page before any ledger call.

pub mod chart;
pub mod patients;
pub mod records;
pub mod view;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use medledger_contract::ehr::{DrugExposure, Note, Patient, RecordKind};
use medledger_types::Role;
use serde_json::Value;

use super::account::FieldMessages;
use super::fields;
use super::forms::{FormView, form_errors, parse_errors};
use super::page::{Page, WebUser};
use super::pages::PageError;
use medledger_service::records::{RecordVersion, Served, create_record};
use medledger_service::{AppState, ServiceError};

/// A clinical record kind and where its pages live.
pub trait Clinical: Served {
    /// The path of the collection's pages: `/patients`, `/notes`, `/drug-exposures`.
    const PATH: &'static str;
}

impl Clinical for Patient {
    const PATH: &'static str = "/patients";
}
impl Clinical for Note {
    const PATH: &'static str = "/notes";
}
impl Clinical for DrugExposure {
    const PATH: &'static str = "/drug-exposures";
}

/// The page of a record: a patient's is their chart.
pub fn record_path(kind: RecordKind, id: i64) -> String {
    match kind {
        RecordKind::Patient => format!("/patients/{id}"),
        RecordKind::Note => format!("/notes/{id}"),
        RecordKind::DrugExposure => format!("/drug-exposures/{id}"),
        RecordKind::Doctor => format!("/doctors/{id}"),
        RecordKind::Admin => format!("/admins/{id}"),
    }
}

/// The clinical pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/patients", get(patients::list))
        .route(
            "/patients/new",
            get(patients::new_form).post(patients::new_submit),
        )
        .route("/patients/{id}", get(chart::chart))
        .route(
            "/patients/{id}/notes/new",
            get(chart::new_note_form).post(chart::new_note_submit),
        )
        .route(
            "/patients/{id}/drug-exposures/new",
            get(chart::new_drug_exposure_form).post(chart::new_drug_exposure_submit),
        )
        .route(
            "/patients/{id}/amend",
            get(records::amend_form::<Patient>).post(records::amend_submit::<Patient>),
        )
        .route("/patients/{id}/history", get(records::history::<Patient>))
        .route("/notes/{id}", get(records::record::<Note>))
        .route(
            "/notes/{id}/amend",
            get(records::amend_form::<Note>).post(records::amend_submit::<Note>),
        )
        .route("/notes/{id}/history", get(records::history::<Note>))
        .route("/drug-exposures/{id}", get(records::record::<DrugExposure>))
        .route(
            "/drug-exposures/{id}/amend",
            get(records::amend_form::<DrugExposure>).post(records::amend_submit::<DrugExposure>),
        )
        .route(
            "/drug-exposures/{id}/history",
            get(records::history::<DrugExposure>),
        )
}

/// Refuses (the 403 page) anyone but a doctor.
pub fn doctor_only(user: &WebUser) -> Result<(), PageError> {
    user.require(&[Role::Doctor])
        .map_err(|e| PageError::new(&user.page, e))
}

/// A record id from the path; anything else is a page that does not exist.
pub fn id_of(page: &Page, text: &str) -> Result<i64, PageError> {
    text.parse::<i64>()
        .map_err(|_| PageError::new(page, ServiceError::NotFound(format!("no record {text:?}"))))
}

/// The value of a form input (the first, if sent more than once).
pub fn form_value<'f>(form: &'f [(String, String)], name: &str) -> Option<&'f str> {
    form.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Refuses a form without this session's CSRF token.
pub fn check_csrf(user: &WebUser, form: &[(String, String)]) -> Result<(), PageError> {
    user.check_csrf(form_value(form, "csrf"))
        .map_err(|e| PageError::new(&user.page, e))
}

/// Why a form was not accepted: messages next to its fields (the page is shown again with the typed
/// values), or a page of its own (403, 404, 503, ...).
pub enum Refusal {
    Fields(FieldMessages),
    Page(PageError),
}

impl Refusal {
    /// An API refusal: field problems stand next to their fields; an existing id stands next to the id
    /// field (the contract's 409 names no field); anything else is an error page.
    pub fn of(page: &Page, id_field: &str, error: ServiceError) -> Refusal {
        if let Some(messages) = form_errors(page, &error) {
            return Refusal::Fields(messages);
        }
        match error {
            ServiceError::Conflict(_) => Refusal::Fields(FieldMessages::from([(
                id_field.to_owned(),
                page.t("error.conflict").to_owned(),
            )])),
            other => Refusal::Page(PageError::new(page, other)),
        }
    }
}

/// Creates a record from a submitted form (its values without the CSRF token) through the records
/// service: the form parser's errors, then the contract's, come back as [`Refusal::Fields`].
pub async fn create_from_form<M: Clinical>(
    state: &AppState,
    user: &WebUser,
    values: &[(String, String)],
) -> Result<RecordVersion<M>, Refusal> {
    let object = fields::form_to_json(M::KIND, values)
        .map_err(|errors| Refusal::Fields(parse_errors(&user.page, &errors)))?;
    match create_record::<M>(state, &user.session, Value::Object(object)).await {
        Ok(version) => Ok(version),
        Err(e) => Err(Refusal::of(&user.page, M::ID_FIELD, e)),
    }
}

/// A page that failed validation: 422, so that a browser test (or a proxy) can tell it from a success.
pub fn unprocessable(mut response: Response) -> Response {
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    response
}

/// The page of a new record: a title, what it belongs to, and the generated form.
#[derive(Template)]
#[template(path = "clinical/new.html")]
pub struct NewRecordPage<'a> {
    pub page: &'a Page,
    pub title: String,
    /// A link to what the record belongs to (the patient's chart), with its text.
    pub context: Option<(String, String)>,
    pub form: FormView,
}

/// Takes fields off a generated form (the patient of a note added from the chart; the id and patient of
/// an amendment): the handler sets their values. An error about one of them moves to the form's summary,
/// so that it is not lost with its field.
pub fn drop_fields(form: &mut FormView, names: &[&str]) {
    let mut moved = Vec::new();
    for part in [&mut form.common, &mut form.more] {
        part.retain(|field| {
            let fixed = names.contains(&field.name.as_str());
            if fixed && let Some(error) = &field.error {
                moved.push(format!("{}: {error}", field.label));
            }
            !fixed
        });
    }
    form.other_errors.extend(moved);
}
