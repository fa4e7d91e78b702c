//! A record's own pages: `/notes/{id}` and `/drug-exposures/{id}` (a patient's is the chart), and for
//! patients, notes and drug exposures `/{collection}/{id}/amend` (the form prefilled with the current
//! values and a required reason) and `/{collection}/{id}/history` (every version, oldest first, with the
//! fields each one changed).
//!
//! The form carries the version it was opened on (a hidden `expected_version`), and the amendment names
//! it: if someone amended the record meanwhile, nothing is written and the form comes back (412) with
//! the fields they changed — then, now, and the person's input — and the person's changes over the
//! current version, to check and save again. Nothing is overwritten unseen. An amendment sends only the
//! fields that differ from the version the form was opened on as `changes`. The id and the patient are
//! not on the form: they cannot change, and the handler takes them from the current version.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use medledger_contract::ehr::RecordKind;
use serde_json::{Map, Value};

use super::super::account::FieldMessages;
use super::super::fields::{self, json_to_form};
use super::super::forms::{self, FormView, form_values, parse_errors};
use super::super::page::{Page, WebUser};
use super::super::pages::{PageError, render};
use super::view::{
    ChangeView, FieldView, StaleChange, VersionView, common_views, diff, more_views, patient_title,
    record_json, record_title, stale_changes,
};
use super::{
    Clinical, check_csrf, doctor_only, drop_fields, form_value, id_of, record_path, unprocessable,
};
use medledger_service::records::{
    AmendmentRequest, HistoryQuery, RecordVersion, amend_record, get_record, record_history,
};
use medledger_service::{AppState, ServiceError};

/// At most this many versions are shown on a history page.
pub const HISTORY_VERSIONS_MAX: usize = 1_000;
/// The amendment reason's input (`name` and `id`).
pub const REASON: &str = "reason";
/// The amendment form's hidden input holding the version it was opened on.
pub const EXPECTED_VERSION: &str = "expected_version";

/// The fields an amendment form leaves out: the record's id and its patient.
fn fixed_fields(kind: RecordKind, id_field: &str) -> Vec<&str> {
    let mut fixed = vec![id_field];
    if kind != RecordKind::Patient {
        fixed.push("person_id");
    }
    fixed
}

/// The patient a record belongs to, and the link back to their chart.
fn chart_link<M>(page: &Page, version: &RecordVersion<M>) -> Option<(String, String)> {
    let patient = version.patient_id.unwrap_or(version.id);
    Some((
        format!("/patients/{patient}"),
        page.t("chart.back").to_owned(),
    ))
}

#[derive(Template)]
#[template(path = "clinical/record.html")]
struct RecordPage<'a> {
    page: &'a Page,
    title: String,
    path: String,
    chart: Option<(String, String)>,
    details: Vec<FieldView>,
    more: Vec<FieldView>,
    version: VersionView,
}

/// `GET /notes/{id}`, `GET /drug-exposures/{id}`.
pub async fn record<M: Clinical>(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    let page = &user.page;
    let fail = |e| PageError::new(page, e);
    let id = id_of(page, &id)?;
    let version = get_record::<M>(&state, &user.session, id)
        .await
        .map_err(fail)?;
    let record = record_json(&version).map_err(fail)?;
    Ok(render(&RecordPage {
        page,
        title: record_title(page.lang, M::KIND, id, &record),
        path: format!("{}/{id}", M::PATH),
        chart: chart_link(page, &version),
        details: common_views(page.lang, M::KIND, &record),
        more: more_views(page.lang, M::KIND, &record),
        version: VersionView::new(page.lang, &version.header, version.block_number),
    }))
}

// --- amendments ---------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "clinical/amend.html")]
struct AmendPage<'a> {
    page: &'a Page,
    title: String,
    back: (String, String),
    version: VersionView,
    form: FormView,
    stale: Option<Stale>,
}

/// Why an amendment form came back unsaved: the record was amended after it was opened.
struct Stale {
    notice: String,
    changes: Vec<StaleChange>,
}

fn amend_page<M: Clinical>(
    page: &Page,
    current: &RecordVersion<M>,
    record: &Map<String, Value>,
    values: &[(String, String)],
    errors: &FieldMessages,
    stale: Option<Stale>,
) -> Response {
    let id = current.id;
    let path = format!("{}/{id}", M::PATH);
    let back = (
        record_path(M::KIND, id),
        page.t("clinical.back_to_record").to_owned(),
    );
    let reason = form_value(values, REASON).unwrap_or_default();
    let mut form = FormView::new(page, &format!("{path}/amend"), M::KIND, values, errors)
        .with_extra(
            forms::FieldView::text(
                REASON,
                page.t("record.amendment_reason"),
                true,
                true,
                reason,
                errors,
            )
            .with_help(page.t("record.amendment_reason_help")),
        )
        .with_hidden(EXPECTED_VERSION, &current.header.version_number.to_string())
        .with_submit(page.t("record.amend"))
        .with_cancel(&back.0, page.t("form.cancel"));
    let fixed = fixed_fields(M::KIND, M::ID_FIELD);
    drop_fields(&mut form, &fixed);
    let what = record_title(page.lang, M::KIND, id, record);
    let is_stale = stale.is_some();
    let response = render(&AmendPage {
        page,
        title: page.tf("clinical.amend_title", &[("what", &what)]),
        back,
        version: VersionView::new(page.lang, &current.header, current.block_number),
        form,
        stale,
    });
    if is_stale {
        with_status(response, StatusCode::PRECONDITION_FAILED)
    } else if errors.is_empty() {
        response
    } else {
        unprocessable(response)
    }
}

fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// The current version of the record to amend, as JSON.
async fn current<M: Clinical>(
    state: &AppState,
    user: &WebUser,
    id: &str,
) -> Result<(RecordVersion<M>, Map<String, Value>), PageError> {
    let page = &user.page;
    let id = id_of(page, id)?;
    let version = get_record::<M>(state, &user.session, id)
        .await
        .map_err(|e| PageError::new(page, e))?;
    let record = record_json(&version).map_err(|e| PageError::new(page, e))?;
    Ok((version, record))
}

/// `GET /{collection}/{id}/amend`: the form, prefilled with the current values.
pub async fn amend_form<M: Clinical>(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    let (version, record) = current::<M>(&state, &user, &id).await?;
    let values = json_to_form(&Value::Object(record.clone()));
    Ok(amend_page(
        &user.page,
        &version,
        &record,
        &values,
        &FieldMessages::new(),
        None,
    ))
}

/// `POST /{collection}/{id}/amend`: writes the changed fields with the reason, then shows the record.
/// If the record was amended after the form was opened, writes nothing and shows the form again
/// ([`stale_form`]).
pub async fn amend_submit<M: Clinical>(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    check_csrf(&user, &pairs)?;
    let page = &user.page;
    let (version, record) = current::<M>(&state, &user, &id).await?;
    // The id and the patient are not on the form: they come from the current version.
    let fixed = fixed_fields(M::KIND, M::ID_FIELD);
    let mut values = form_values(&pairs);
    // A form without a version (or a garbled one) is judged on the current version, as before forms
    // carried it.
    let opened = form_value(&values, EXPECTED_VERSION)
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(version.header.version_number);
    values.retain(|(n, _)| !fixed.contains(&n.as_str()) && n != EXPECTED_VERSION);
    for name in &fixed {
        if let Some(value) = record.get(*name) {
            values.extend(json_to_form(&Value::Object(Map::from_iter([(
                (*name).to_owned(),
                value.clone(),
            )]))));
        }
    }
    if opened != version.header.version_number {
        return stale_form::<M>(&state, &user, &id, opened, &values).await;
    }
    let reason = form_value(&values, REASON).unwrap_or_default().to_owned();
    let mut errors = FieldMessages::new();
    // The reason is required as any required field of the form is; its other rules are the contract's.
    if reason.trim().is_empty() {
        errors.insert(REASON.to_owned(), page.t("error.required").to_owned());
    }
    let parsed = fields::form_to_json(M::KIND, &values);
    let changes = match parsed {
        Err(parse) => {
            errors.extend(parse_errors(page, &parse));
            None
        }
        Ok(object) => Some(super::view::changes(&record, object)),
    };
    if let Some(changes) = &changes
        && changes.is_empty()
        && errors.is_empty()
    {
        errors.insert(String::new(), page.t("clinical.nothing_changed").to_owned());
    }
    let changes = match changes {
        Some(changes) if errors.is_empty() => changes,
        _ => return Ok(amend_page(page, &version, &record, &values, &errors, None)),
    };
    let amendment = AmendmentRequest {
        changes,
        reason,
        expected_version: Some(opened),
    };
    match amend_record::<M>(&state, &user.session, version.id, amendment).await {
        Ok(_) => Ok(Redirect::to(&record_path(M::KIND, version.id)).into_response()),
        // Amended between the read above and the write.
        Err(ServiceError::PreconditionFailed { .. }) => {
            stale_form::<M>(&state, &user, &id, opened, &values).await
        }
        // A 409 here is a write race that outlived its retries, not an existing id: an error page.
        Err(e) => match forms::form_errors(page, &e) {
            Some(errors) => Ok(amend_page(page, &version, &record, &values, &errors, None)),
            None => Err(PageError::new(page, e)),
        },
    }
}

/// The amendment form again (412) for a person who opened it on version `opened` of a record amended
/// since: the fields changed meanwhile (then, now, and `values`, the person's input), and a form holding
/// the person's changes over the current version — a field they did not touch shows its current value,
/// one they changed keeps their input — so that saving it again undoes nobody's change unseen.
async fn stale_form<M: Clinical>(
    state: &AppState,
    user: &WebUser,
    id: &str,
    opened: u32,
    values: &[(String, String)],
) -> Result<Response, PageError> {
    let page = &user.page;
    let fail = |e| PageError::new(page, e);
    let (version, record) = current::<M>(state, user, id).await?;
    let (all, _) = versions::<M>(state, user, version.id).await.map_err(fail)?;
    let then = match all.iter().find(|v| v.header.version_number == opened) {
        Some(then) => record_json(then).map_err(fail)?,
        // Not a version of this record: everything the form holds is compared with the current one.
        None => record.clone(),
    };
    let yours = fields::form_to_json(M::KIND, values).unwrap_or_default();
    let changes = stale_changes(page.lang, M::KIND, &then, &record, &yours);
    let mut rebased = record.clone();
    rebased.extend(super::view::changes(&then, yours));
    let mut form = json_to_form(&Value::Object(rebased));
    if let Some(reason) = form_value(values, REASON) {
        form.push((REASON.to_owned(), reason.to_owned()));
    }
    let notice = page.tf(
        "clinical.stale",
        &[
            ("opened", &opened.to_string()),
            ("current", &version.header.version_number.to_string()),
        ],
    );
    Ok(amend_page(
        page,
        &version,
        &record,
        &form,
        &FieldMessages::new(),
        Some(Stale { notice, changes }),
    ))
}

// --- history ------------------------------------------------------------------------------------

/// One version on the history page.
pub struct HistoryEntry {
    pub version: VersionView,
    /// `None` for the first version (nothing to compare with).
    pub changes: Option<Vec<ChangeView>>,
}

#[derive(Template)]
#[template(path = "clinical/history.html")]
struct HistoryPage<'a> {
    page: &'a Page,
    title: String,
    back: (String, String),
    entries: Vec<HistoryEntry>,
    truncated: Option<String>,
}

/// Every version, oldest first, at most [`HISTORY_VERSIONS_MAX`]; `true` if there are more.
async fn versions<M: Clinical>(
    state: &AppState,
    user: &WebUser,
    id: i64,
) -> Result<(Vec<RecordVersion<M>>, bool), ServiceError> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = record_history::<M>(state, &user.session, id, &HistoryQuery { cursor }).await?;
        items.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok((items, false));
        }
        if items.len() >= HISTORY_VERSIONS_MAX {
            items.truncate(HISTORY_VERSIONS_MAX);
            return Ok((items, true));
        }
    }
}

/// `GET /{collection}/{id}/history`.
pub async fn history<M: Clinical>(
    State(state): State<AppState>,
    user: WebUser,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    doctor_only(&user)?;
    let page = &user.page;
    let fail = |e| PageError::new(page, e);
    let id = id_of(page, &id)?;
    let (all, more) = versions::<M>(&state, &user, id).await.map_err(fail)?;
    let mut entries = Vec::with_capacity(all.len());
    let mut previous: Option<Map<String, Value>> = None;
    let mut latest = Map::new();
    for version in &all {
        let record = record_json(version).map_err(fail)?;
        let changes = previous
            .as_ref()
            .map(|before| diff(page.lang, M::KIND, before, &record));
        entries.push(HistoryEntry {
            version: VersionView::new(page.lang, &version.header, version.block_number),
            changes,
        });
        latest = record.clone();
        previous = Some(record);
    }
    let what = match M::KIND {
        RecordKind::Patient => patient_title(page.lang, id, &latest),
        kind => record_title(page.lang, kind, id, &latest),
    };
    let count = HISTORY_VERSIONS_MAX.to_string();
    Ok(render(&HistoryPage {
        page,
        title: page.tf("clinical.history_title", &[("what", &what)]),
        back: (
            record_path(M::KIND, id),
            page.t("clinical.back_to_record").to_owned(),
        ),
        entries,
        truncated: more.then(|| page.tf("clinical.history_truncated", &[("count", &count)])),
    }))
}
