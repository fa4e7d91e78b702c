//! The administrators' pages for people: lists of administrators and doctors (paginated with the REST
//! cursor, searchable by name or email), registration forms generated from the field descriptions, and
//! detail pages with the version's ledger facts. Only administrators may use them: anyone else gets a 403
//! page.
//!
//! Routes: `GET /admins`, `GET /doctors` (`?q=` search, `?cursor=` next page); `GET|POST /admins/new`,
//! `GET|POST /doctors/new`; `GET /admins/{id}`, `GET /doctors/{id}`.
//!
//! Everything goes through the REST API's service functions ([`list_records`], [`get_record`],
//! [`register_admin`], [`register_doctor`]), so registration issues the certificate, writes the ledger
//! record and the wallet entry exactly as `POST /api/v1/doctors` does.
//!
//! Search: the contract has no name index yet, so `?q=` is a filter over a bounded scan in id order: at
//! most [`SEARCH_SCAN_RECORDS_MAX`] records per page view, and the page says so when the scan stopped
//! there (with a link to go on from where it stopped). Matching ignores case and Spanish accents.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use medledger_contract::ehr::{Admin, Doctor, RecordKind};
use medledger_types::Role;
use serde::Deserialize;
use serde_json::Value;

use super::account::FieldMessages;
use super::fields::{self, FieldSpec, InputKind};
use super::forms::{FieldView, FormView, form_errors, form_values, parse_errors};
use super::i18n::{self, Lang};
use super::page::{Page, WebUser, urlencode};
use super::pages::{PageError, render};
use medledger_service::auth::{PASSWORD_CHARS_MIN, check_new_password};
use medledger_service::people::{RecordMeta, register_admin, register_doctor};
use medledger_service::records::{
    ListQuery, RecordPage, RecordVersion, Served, get_record, list_records,
};
use medledger_service::{AppState, ServiceError};

/// Rows shown per list page.
pub const LIST_ROWS: u32 = 50;
/// At most this many records are read to answer one search page (the contract has no name index).
pub const SEARCH_SCAN_RECORDS_MAX: usize = 5_000;
/// Records read per query while searching.
const SEARCH_BATCH: u32 = medledger_types::limits::PAGE_LIMIT_MAX as u32;
/// Longest search text read (longer is cut), so a hostile query costs bounded work.
pub const SEARCH_CHARS_MAX: usize = 100;

/// The two kinds of people these pages serve.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PeopleKind {
    Admins,
    Doctors,
}

impl PeopleKind {
    fn record_kind(self) -> RecordKind {
        match self {
            PeopleKind::Admins => RecordKind::Admin,
            PeopleKind::Doctors => RecordKind::Doctor,
        }
    }

    /// The list's path: `/admins` or `/doctors`.
    pub fn base(self) -> &'static str {
        match self {
            PeopleKind::Admins => "/admins",
            PeopleKind::Doctors => "/doctors",
        }
    }

    fn title_key(self) -> &'static str {
        match self {
            PeopleKind::Admins => "nav.admins",
            PeopleKind::Doctors => "nav.doctors",
        }
    }

    fn add_key(self) -> &'static str {
        match self {
            PeopleKind::Admins => "list.add_admin",
            PeopleKind::Doctors => "list.add_doctor",
        }
    }
}

// --- shared views ------------------------------------------------------------------------------------

/// One `label: value` line of a detail page.
#[derive(Debug, Clone)]
pub struct DetailRow {
    pub name: String,
    pub label: String,
    pub value: String,
}

/// The ledger facts of a version, as pages show them.
#[derive(Debug, Clone)]
pub struct VersionView {
    pub version_number: u32,
    pub author: String,
    pub author_org: String,
    /// In the page's local format.
    pub when: String,
    pub block_number: u64,
    pub tx_index: u32,
    pub tx_id: String,
    /// `/explorer/tx/{tx_id}`.
    pub tx_link: String,
    pub reason: Option<String>,
}

impl VersionView {
    pub fn new<M>(lang: Lang, version: &RecordVersion<M>) -> VersionView {
        VersionView::of_meta(
            lang,
            &version.header,
            version.block_number,
            version.tx_index,
        )
    }

    pub fn of_meta(lang: Lang, meta: &RecordMeta, block_number: u64, tx_index: u32) -> VersionView {
        VersionView {
            version_number: meta.version_number,
            author: meta.author.clone(),
            author_org: meta.author_org.clone(),
            when: local_time(lang, &meta.timestamp),
            block_number,
            tx_index,
            tx_id: meta.tx_id.clone(),
            tx_link: format!("/explorer/tx/{}", urlencode(&meta.tx_id)),
            reason: meta.amendment_reason.clone(),
        }
    }
}

/// An RFC 3339 UTC time in the page's local format (as it came, if it does not parse).
pub fn local_time(lang: Lang, rfc3339: &str) -> String {
    fields::parse_datetime(rfc3339)
        .map(|t| i18n::format_datetime(lang, t))
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// A form value as a detail page shows it: dates in the local format, a concept with its meaning, `—`
/// for nothing.
pub fn display_value(lang: Lang, spec: &FieldSpec, value: &str) -> String {
    if value.trim().is_empty() {
        return i18n::t(lang, "record.no_value").to_owned();
    }
    match spec.input {
        InputKind::Date => fields::parse_date(value)
            .map(|d| i18n::format_date(lang, d))
            .unwrap_or_else(|| value.to_owned()),
        InputKind::DateTime => fields::parse_datetime(value)
            .map(|t| i18n::format_datetime(lang, t))
            .unwrap_or_else(|| value.to_owned()),
        InputKind::Concept | InputKind::Select => match spec.choice(value) {
            Some(choice) => format!("{} ({value})", choice.label.get(lang)),
            None => value.to_owned(),
        },
        _ => value.to_owned(),
    }
}

/// Every described field of a `kind` record, labelled, in form order.
pub fn detail_rows(lang: Lang, kind: RecordKind, record: &Value) -> Vec<DetailRow> {
    let values = fields::json_to_form(record);
    fields::fields(kind)
        .iter()
        .map(|spec| DetailRow {
            name: spec.name.to_owned(),
            label: spec.label.get(lang).to_owned(),
            value: display_value(lang, spec, super::forms::value_of(&values, spec.name)),
        })
        .collect()
}

fn to_json<M: Served>(record: &Option<M>) -> Value {
    record
        .as_ref()
        .and_then(|r| serde_json::to_value(r).ok())
        .unwrap_or(Value::Null)
}

fn text(record: &Value, name: &str) -> String {
    record
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A person's full name from their record's name fields.
pub fn full_name(record: &Value) -> String {
    [
        "given_name",
        "second_given_name",
        "family_name",
        "second_family_name",
    ]
    .iter()
    .map(|name| text(record, name))
    .filter(|part| !part.trim().is_empty())
    .collect::<Vec<_>>()
    .join(" ")
}

/// Lower case without Spanish accents, for matching what people type.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'ä' => 'a',
            'é' | 'è' | 'ë' => 'e',
            'í' | 'ì' | 'ï' => 'i',
            'ó' | 'ò' | 'ö' => 'o',
            'ú' | 'ù' | 'ü' => 'u',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

// --- lists -------------------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct PeopleQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    created: Option<String>,
}

/// A row of a people list.
#[derive(Debug, Clone)]
pub struct PersonRow {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub link: String,
}

#[derive(Template)]
#[template(path = "people/list.html")]
struct ListPage<'a> {
    page: &'a Page,
    title: &'a str,
    base: &'static str,
    add_label: &'a str,
    q: String,
    rows: Vec<PersonRow>,
    next_link: Option<String>,
    /// Set when a search stopped at the scan limit.
    scan_note: Option<String>,
    /// Whether this is not the first page (offers the first page's link).
    later_page: bool,
}

fn row_of<M: Served>(kind: PeopleKind, version: &RecordVersion<M>) -> PersonRow {
    let record = to_json(&version.record);
    PersonRow {
        id: version.id,
        name: full_name(&record),
        email: text(&record, "email"),
        link: format!("{}/{}", kind.base(), version.id),
    }
}

fn matches(row: &PersonRow, needle: &str) -> bool {
    fold(&row.name).contains(needle) || fold(&row.email).contains(needle)
}

/// A page of rows and the cursor after it; with `needle`, a bounded scan. The third value is whether the
/// scan stopped at [`SEARCH_SCAN_RECORDS_MAX`].
async fn collect_rows<M: Served>(
    state: &AppState,
    user: &WebUser,
    kind: PeopleKind,
    needle: Option<&str>,
    cursor: Option<String>,
) -> Result<(Vec<PersonRow>, Option<String>, bool), ServiceError> {
    let Some(needle) = needle else {
        let page: RecordPage<M> = list_records(
            state,
            &user.session,
            &ListQuery {
                limit: Some(LIST_ROWS),
                cursor,
            },
        )
        .await?;
        let rows = page.items.iter().map(|v| row_of(kind, v)).collect();
        return Ok((rows, page.next_cursor, false));
    };
    let mut rows = Vec::new();
    let mut scanned = 0usize;
    let mut cursor = cursor;
    loop {
        let batch = SEARCH_BATCH.min((SEARCH_SCAN_RECORDS_MAX - scanned).max(1) as u32);
        let page: RecordPage<M> = list_records(
            state,
            &user.session,
            &ListQuery {
                limit: Some(batch),
                cursor: cursor.clone(),
            },
        )
        .await?;
        for version in &page.items {
            scanned += 1;
            let row = row_of(kind, version);
            if matches(&row, needle) {
                rows.push(row);
                if rows.len() == LIST_ROWS as usize {
                    // Go on after this match next time (the rest of this batch is read again then).
                    let more = page.next_cursor.is_some()
                        || page.items.last().is_some_and(|v| v.id != version.id);
                    return Ok((rows, more.then(|| version.id.to_string()), false));
                }
            }
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            return Ok((rows, None, false));
        }
        if scanned >= SEARCH_SCAN_RECORDS_MAX {
            return Ok((rows, cursor, true));
        }
    }
}

async fn list<M: Served>(
    state: AppState,
    user: WebUser,
    kind: PeopleKind,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> Response {
    let page = &user.page;
    if let Err(e) = user.require(&[Role::Admin]) {
        return PageError::new(page, e).into_response();
    }
    let Query(query) = match query {
        Ok(query) => query,
        Err(e) => {
            return PageError::new(page, ServiceError::BadRequest(e.body_text())).into_response();
        }
    };
    let q: String = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(SEARCH_CHARS_MAX)
        .collect();
    let needle = (!q.is_empty()).then(|| fold(&q));
    let later_page = query.cursor.is_some();
    let (rows, next, stopped) =
        match collect_rows::<M>(&state, &user, kind, needle.as_deref(), query.cursor).await {
            Ok(found) => found,
            Err(e) => return PageError::new(page, e).into_response(),
        };
    let next_link = next.map(|cursor| {
        if q.is_empty() {
            format!("{}?cursor={}", kind.base(), urlencode(&cursor))
        } else {
            format!(
                "{}?q={}&cursor={}",
                kind.base(),
                urlencode(&q),
                urlencode(&cursor)
            )
        }
    });
    let scan_note = stopped.then(|| {
        page.tf(
            "people.search_stopped",
            &[("count", &SEARCH_SCAN_RECORDS_MAX.to_string())],
        )
    });
    render(&ListPage {
        page,
        title: page.t(kind.title_key()),
        base: kind.base(),
        add_label: page.t(kind.add_key()),
        q,
        rows,
        next_link,
        scan_note,
        later_page,
    })
}

/// `GET /admins`.
pub async fn list_admins(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> Response {
    list::<Admin>(state, user, PeopleKind::Admins, query).await
}

/// `GET /doctors`.
pub async fn list_doctors(
    State(state): State<AppState>,
    user: WebUser,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> Response {
    list::<Doctor>(state, user, PeopleKind::Doctors, query).await
}

// --- detail ------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "people/detail.html")]
struct DetailPage<'a> {
    page: &'a Page,
    base: &'static str,
    list_title: &'a str,
    kind_name: &'a str,
    name: String,
    rows: Vec<DetailRow>,
    version: VersionView,
    created: bool,
}

async fn detail<M: Served>(
    state: AppState,
    user: WebUser,
    kind: PeopleKind,
    id: Result<Path<i64>, PathRejection>,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> Response {
    let page = &user.page;
    if let Err(e) = user.require(&[Role::Admin]) {
        return PageError::new(page, e).into_response();
    }
    let Ok(Path(id)) = id else {
        return PageError::new(page, ServiceError::NotFound("no such person".into()))
            .into_response();
    };
    let version = match get_record::<M>(&state, &user.session, id).await {
        Ok(version) => version,
        Err(e) => return PageError::new(page, e).into_response(),
    };
    let record = to_json(&version.record);
    let name = full_name(&record);
    render(&DetailPage {
        page,
        base: kind.base(),
        list_title: page.t(kind.title_key()),
        kind_name: i18n::kind_name(page.lang, kind.record_kind(), false),
        name: if name.is_empty() {
            id.to_string()
        } else {
            name
        },
        rows: detail_rows(page.lang, kind.record_kind(), &record),
        version: VersionView::new(page.lang, &version),
        created: query.is_ok_and(|Query(q)| q.created.is_some()),
    })
}

/// `GET /admins/{id}`.
pub async fn admin_detail(
    State(state): State<AppState>,
    user: WebUser,
    id: Result<Path<i64>, PathRejection>,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> Response {
    detail::<Admin>(state, user, PeopleKind::Admins, id, query).await
}

/// `GET /doctors/{id}`.
pub async fn doctor_detail(
    State(state): State<AppState>,
    user: WebUser,
    id: Result<Path<i64>, PathRejection>,
    query: Result<Query<PeopleQuery>, QueryRejection>,
) -> Response {
    detail::<Doctor>(state, user, PeopleKind::Doctors, id, query).await
}

// --- registration ------------------------------------------------------------------------------------

/// The name of the initial password input.
pub const PASSWORD_FIELD: &str = "password";

#[derive(Template)]
#[template(path = "people/new.html")]
struct NewPage<'a> {
    page: &'a Page,
    title: &'a str,
    base: &'static str,
    list_title: &'a str,
    form: FormView,
}

fn new_page(
    page: &Page,
    kind: PeopleKind,
    values: &[(String, String)],
    errors: &FieldMessages,
) -> Response {
    let rules = page.tf(
        "password.rules",
        &[("min", &PASSWORD_CHARS_MIN.to_string())],
    );
    let action = format!("{}/new", kind.base());
    let form = FormView::new(page, &action, kind.record_kind(), values, errors)
        .with_extra(FieldView::new_password(
            PASSWORD_FIELD,
            page.t("form.initial_password"),
            Some(rules),
            errors,
        ))
        .with_cancel(kind.base(), page.t("form.cancel"));
    let mut response = render(&NewPage {
        page,
        title: page.t(kind.add_key()),
        base: kind.base(),
        list_title: page.t(kind.title_key()),
        form,
    });
    if !errors.is_empty() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

async fn new_form(user: WebUser, kind: PeopleKind) -> Response {
    if let Err(e) = user.require(&[Role::Admin]) {
        return PageError::new(&user.page, e).into_response();
    }
    new_page(&user.page, kind, &[], &FieldMessages::new())
}

/// `GET /admins/new`.
pub async fn new_admin_form(user: WebUser) -> Response {
    new_form(user, PeopleKind::Admins).await
}

/// `GET /doctors/new`.
pub async fn new_doctor_form(user: WebUser) -> Response {
    new_form(user, PeopleKind::Doctors).await
}

async fn submit(
    state: AppState,
    user: WebUser,
    kind: PeopleKind,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let page = &user.page;
    if let Err(e) = user.require(&[Role::Admin]) {
        return PageError::new(page, e).into_response();
    }
    let Form(pairs) = match form {
        Ok(form) => form,
        Err(e) => {
            return PageError::new(page, ServiceError::BadRequest(e.body_text())).into_response();
        }
    };
    let csrf = pairs
        .iter()
        .find(|(n, _)| n == "csrf")
        .map(|(_, v)| v.as_str());
    if let Err(e) = user.check_csrf(csrf) {
        return PageError::new(page, e).into_response();
    }
    let password = pairs
        .iter()
        .find(|(n, _)| n == PASSWORD_FIELD)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    // The typed values, kept on errors (the password is never sent back).
    let values: Vec<(String, String)> = form_values(&pairs)
        .into_iter()
        .filter(|(n, _)| n != PASSWORD_FIELD)
        .collect();
    let mut object = match fields::form_to_json(kind.record_kind(), &values) {
        Ok(object) => object,
        Err(problems) => {
            let mut errors = parse_errors(page, &problems);
            // Report a bad password at the same time, rather than after the next attempt.
            if let Err(e) = check_new_password(PASSWORD_FIELD, &password)
                && let Some(more) = form_errors(page, &e)
            {
                errors.extend(more);
            }
            return new_page(page, kind, &values, &errors);
        }
    };
    object.insert(PASSWORD_FIELD.to_owned(), Value::String(password));
    let body = Value::Object(object);
    let registered = match kind {
        PeopleKind::Admins => register_admin(&state, &user.session, body)
            .await
            .map(|v| v.id),
        PeopleKind::Doctors => register_doctor(&state, &user.session, body)
            .await
            .map(|v| v.id),
    };
    match registered {
        Ok(id) => Redirect::to(&format!("{}/{id}?created=1", kind.base())).into_response(),
        Err(e) => {
            let errors = match (&e, form_errors(page, &e)) {
                (_, Some(errors)) => errors,
                // A taken id or email: shown above the form, with the typed values kept.
                (ServiceError::Conflict(_), None) => {
                    FieldMessages::from([(String::new(), page.t("error.conflict").to_owned())])
                }
                _ => return PageError::new(page, e).into_response(),
            };
            let mut response = new_page(page, kind, &values, &errors);
            if matches!(e, ServiceError::Conflict(_)) {
                *response.status_mut() = StatusCode::CONFLICT;
            }
            response
        }
    }
}

/// `POST /admins/new`.
pub async fn create_admin(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    submit(state, user, PeopleKind::Admins, form).await
}

/// `POST /doctors/new`.
pub async fn create_doctor(
    State(state): State<AppState>,
    user: WebUser,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    submit(state, user, PeopleKind::Doctors, form).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_ignores_case_and_accents() {
        assert_eq!(fold("María PÉREZ Núñez"), "maria perez nunez");
        assert!(fold("José").contains(&fold("jose")));
    }

    #[test]
    fn names_join_the_parts_that_are_there() {
        let record = serde_json::json!({"given_name": "Ana", "second_given_name": null,
            "family_name": "Pérez", "second_family_name": "Gil"});
        assert_eq!(full_name(&record), "Ana Pérez Gil");
        assert_eq!(full_name(&Value::Null), "");
    }

    #[test]
    fn values_are_displayed_in_the_local_format() {
        let spec = fields::field(RecordKind::Patient, "gender_concept_id");
        let spec = spec.unwrap_or_else(|| panic!("the patient has a sex"));
        assert_eq!(display_value(Lang::Es, spec, "8532"), "Femenino (8532)");
        assert_eq!(display_value(Lang::Es, spec, "99"), "99");
        assert_eq!(display_value(Lang::En, spec, ""), "—");
        assert_eq!(
            local_time(Lang::Es, "2026-11-27T14:05:09Z"),
            "27/11/2026 14:05:09 UTC"
        );
    }
}
