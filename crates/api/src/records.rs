//! Patients, notes and drug exposures — create, get, list, a patient's records — and, for every kind
//! of record including doctors and administrators, amendments and history. The handlers translate; the
//! service's [`medledger_service::records`] does the work.
//!
//! Every answer about a record is a `RecordVersion`: the record's fields under their OMOP names
//! (`record`, `null` when withheld from an auditor) beside the ledger's facts about that version (who
//! wrote it, when, why, and in which transaction and block). Lists and histories are `RecordPage`s:
//! `items` and an opaque `next_cursor` to pass back as `?cursor=`.
//!
//! ```json
//! {"kind": "note", "id": 7, "patient_id": 1,
//!  "record": {"note_id": 7, "person_id": 1, "note_date": "2024-06-01", ...},
//!  "header": {"version_number": 2, "author": "doctor@hospital.test", "author_org": "Org1",
//!             "timestamp": "2024-06-01T10:00:00Z", "tx_id": "9f…", "amendment_reason": "typo"},
//!  "tx_id": "9f…", "block_number": 12, "tx_index": 0}
//! ```
//!
//! Refusals: 422 when a request is invalid in itself, whatever the ledger holds; 409 when it is valid
//! but the ledger's current state refuses it: the id exists, the patient of a note or drug exposure
//! does not, or an amendment's change does not fit the fields it leaves as they are (an end before
//! the current start, a day the current month lacks). `errors` names the fields either way. An
//! amendment may not name the id, the patient, or a person's email or certificate.
//!
//! Versions: a record's answers (get, create, amend) carry `ETag: "<version_number>"`. An amendment may
//! name the version it was made on, as `If-Match: "<version_number>"` or as `expected_version` in its
//! body (both: each must be current); if the record is at another version nothing is written and the answer
//! is 412 `precondition_failed` whose `current` is the current version (and whose `ETag` is its). An
//! amendment that names no version (or `If-Match: *`) is still merged over whatever version is
//! current, so that scripts written before versions keep working; they may undo a concurrent change.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use medledger_contract::ehr::{Admin, Doctor, DrugExposure, Note, Patient};
use medledger_service::AppState;
use medledger_service::auth::Session;
use medledger_service::records::{
    self, AmendmentRequest, HistoryQuery, ListQuery, Served, amend_record, create_record,
    get_record, list_records, patient_records, record_history,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiError;
use crate::auth::Authenticated;
use crate::error::{JsonBody, PathParams, Problem, QueryParams};
use crate::openapi::models::{
    AdminAmendmentDoc, AdminDoc, DoctorAmendmentDoc, DoctorDoc, DrugExposureAmendmentDoc,
    DrugExposureDoc, NoteAmendmentDoc, NoteDoc, PatientAmendmentDoc, PatientDoc,
};
use crate::openapi::views::{RecordPage, RecordVersion};

/// `?limit=` and `?cursor=` of a list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Records per page, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page: the last id it held.
    #[param(pattern = r"^[0-9]{1,19}$")]
    pub cursor: Option<String>,
}

impl From<ListParams> for ListQuery {
    fn from(params: ListParams) -> ListQuery {
        ListQuery {
            limit: params.limit,
            cursor: params.cursor,
        }
    }
}

/// `?cursor=` of a history.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// The `next_cursor` of the previous page of versions: `{block}.{transaction index}` of the last
    /// version it held.
    #[param(pattern = r"^[0-9]{1,19}\.[0-9]{1,9}$")]
    pub cursor: Option<String>,
}

impl From<HistoryParams> for HistoryQuery {
    fn from(params: HistoryParams) -> HistoryQuery {
        HistoryQuery {
            cursor: params.cursor,
        }
    }
}

// --- versions ------------------------------------------------------------------------------------

/// The `ETag` of a record's version `version_number`: the number, quoted (a strong validator).
pub fn etag(version_number: u64) -> String {
    format!("\"{version_number}\"")
}

/// The pattern of an `If-Match` the amendments accept (the document states it): one version's `ETag`
/// (up to 9 digits, so that every match is a `u32`), `*`, or empty (as if left out).
pub const IF_MATCH_PATTERN: &str = r#"^("[0-9]{1,9}"|\*)?$"#;

/// The version an `If-Match` names (`"N"`); `None` for `*`, an empty value or no header. 400 for
/// anything else (a list, a weak tag, a number over `u32::MAX`, the header twice).
fn if_match_version(headers: &HeaderMap) -> Result<Option<u32>, ApiError> {
    let mut values = headers.get_all(header::IF_MATCH).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(None),
        (Some(value), None) => value,
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("If-Match is given more than once"));
        }
    };
    let malformed = || {
        ApiError::bad_request(
            "If-Match must be one record version's ETag (\"3\") or *; lists and weak tags are not accepted",
        )
    };
    let text = value.to_str().map_err(|_| malformed())?.trim();
    // An empty field value names no tag: as if the header were left out.
    if text == "*" || text.is_empty() {
        return Ok(None);
    }
    let number = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(malformed)?;
    number.parse().map(Some).map_err(|_| malformed())
}

/// The version an amendment is made on, from `If-Match` (`header`) and `expected_version` (`body`).
/// Both are preconditions: when they name different versions at most one is current, so the other
/// is the one checked, and the amendment is refused as stale (412).
async fn expected_version<M: Served>(
    state: &AppState,
    session: &Session,
    id: i64,
    header: Option<u32>,
    body: Option<u32>,
) -> Result<Option<u32>, ApiError> {
    match (header, body) {
        (Some(a), Some(b)) if a != b => {
            let current = get_record::<M>(state, session, id)
                .await?
                .header
                .version_number;
            Ok(Some(if current == a { b } else { a }))
        }
        (a, b) => Ok(a.or(b)),
    }
}

/// A record's version as an answer with `status`, its `ETag` set.
fn versioned<M: serde::Serialize>(
    status: StatusCode,
    version: records::RecordVersion<M>,
) -> Response {
    let tag = HeaderValue::from_str(&etag(u64::from(version.header.version_number)));
    let mut response = (status, Json(version)).into_response();
    if let Ok(tag) = tag {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

// --- handlers --------------------------------------------------------------------------------------

/// Create, get and list handlers of one collection.
macro_rules! collection_handlers {
    (
        model = $model:ty, doc = $doc:ty, tag = $tag:literal,
        collection = $collection:literal, item = $item:literal,
        create = $create:ident, get = $get:ident, list = $list:ident,
        what = $what:literal $(,)?
    ) => {
        #[utoipa::path(
            post, path = $collection, tag = $tag,
            summary = concat!("Create a ", $what),
            description = "Doctors only. Answers once the transaction has committed.",
            request_body(content = $doc, content_type = "application/json"),
            responses(
                (status = 201, description = "Created and committed", body = RecordVersion<$doc>,
                    headers(("ETag" = String, description = "The version's tag, `\"1\"`: send it as `If-Match` to amend this version"))),
                (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The id already exists, or (notes and drug exposures) the patient does not: `errors` names the field", body = Problem, content_type = "application/problem+json"),
                (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
                (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = [])),
        )]
        async fn $create(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            JsonBody(body): JsonBody<Value>,
        ) -> Result<Response, ApiError> {
            Ok(versioned(
                StatusCode::CREATED,
                create_record::<$model>(&state, &session, body).await?,
            ))
        }

        #[utoipa::path(
            get, path = $item, tag = $tag,
            summary = concat!("Get a ", $what, " (its current version)"),
            params(("id" = i64, Path, description = "The record's id")),
            responses(
                (status = 200, description = "The current version", body = RecordVersion<$doc>,
                    headers(("ETag" = String, description = "The version's tag, `\"<version_number>\"`: send it as `If-Match` to amend this version"))),
                (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = [])),
        )]
        async fn $get(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            PathParams(id): PathParams<i64>,
        ) -> Result<Response, ApiError> {
            Ok(versioned(
                StatusCode::OK,
                get_record::<$model>(&state, &session, id).await?,
            ))
        }

        #[utoipa::path(
            get, path = $collection, tag = $tag,
            summary = concat!("List ", $what, "s in id order"),
            params(ListParams),
            responses(
                (status = 200, description = "A page of records", body = RecordPage<$doc>),
                (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = [])),
        )]
        async fn $list(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            QueryParams(list): QueryParams<ListParams>,
        ) -> Result<Json<records::RecordPage<$model>>, ApiError> {
            Ok(Json(list_records::<$model>(&state, &session, &list.into()).await?))
        }
    };
}

/// Amendment and history handlers of one collection.
macro_rules! version_handlers {
    (
        model = $model:ty, doc = $doc:ty, amendment = $amendment:ty, tag = $tag:literal,
        amendments = $amendments:literal, history = $history:literal,
        amend = $amend:ident, versions = $versions:ident,
        what = $what:literal, writers = $writers:literal $(,)?
    ) => {
        #[utoipa::path(
            post, path = $amendments, tag = $tag,
            summary = concat!("Amend a ", $what),
            description = concat!(
                "Writes a new version: `changes` merged over the current version. ", $writers,
                " only. The id, the patient and a person's email cannot change. Answers once the \
                 transaction has committed. Name the version the changes were made on, as `If-Match` \
                 (its `ETag`) or `expected_version`, to have them refused with 412 and the current \
                 version if someone amended it meanwhile; without either (or with `If-Match: *`) they \
                 are merged over whatever version is current, as before versions were named."
            ),
            params(
                ("id" = i64, Path, description = "The record's id"),
                ("If-Match" = Option<String>, Header, description = "The `ETag` of the version the amendment was made on, `\"<version_number>\"`, or `*` for whatever is current"),
            ),
            request_body(content = $amendment, content_type = "application/json"),
            responses(
                (status = 201, description = "The new version, committed", body = RecordVersion<$doc>,
                    headers(("ETag" = String, description = "The new version's tag"))),
                (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
                (status = 409, description = "The record changed meanwhile, or a change does not fit the fields left as they are: `errors` names them", body = Problem, content_type = "application/problem+json"),
                (status = 412, description = "The record is no longer at the version named by `If-Match` or `expected_version`: nothing was written; `current` is the current version", body = Problem, content_type = "application/problem+json",
                    headers(("ETag" = String, description = "The current version's tag"))),
                (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
                (status = 422, description = "Invalid or unknown fields", body = Problem, content_type = "application/problem+json"),
                (status = 503, description = "The node is not ready", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = [])),
        )]
        async fn $amend(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            PathParams(id): PathParams<i64>,
            headers: HeaderMap,
            JsonBody(mut amendment): JsonBody<AmendmentRequest>,
        ) -> Result<Response, ApiError> {
            let named = if_match_version(&headers)?;
            amendment.expected_version = expected_version::<$model>(
                &state,
                &session,
                id,
                named,
                amendment.expected_version,
            )
            .await?;
            Ok(versioned(
                StatusCode::CREATED,
                amend_record::<$model>(&state, &session, id, amendment).await?,
            ))
        }

        #[utoipa::path(
            get, path = $history, tag = $tag,
            summary = concat!("Every version of a ", $what, ", oldest first"),
            params(("id" = i64, Path, description = "The record's id"), HistoryParams),
            responses(
                (status = 200, description = "A page of versions", body = RecordPage<$doc>),
                (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such record", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = [])),
        )]
        async fn $versions(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            PathParams(id): PathParams<i64>,
            QueryParams(history): QueryParams<HistoryParams>,
        ) -> Result<Json<records::RecordPage<$model>>, ApiError> {
            Ok(Json(record_history::<$model>(&state, &session, id, &history.into()).await?))
        }
    };
}

/// A patient's notes or drug exposures.
macro_rules! patient_records_handler {
    (model = $model:ty, doc = $doc:ty, path = $path:literal, name = $name:ident, what = $what:literal $(,)?) => {
        #[utoipa::path(
            get, path = $path, tag = "patients",
            summary = concat!("A patient's ", $what, " in id order"),
            params(("id" = i64, Path, description = "The patient's person_id"), ListParams),
            responses(
                (status = 200, description = "A page of records", body = RecordPage<$doc>),
                (status = 400, description = "Malformed request", body = Problem, content_type = "application/problem+json"),
                (status = 401, description = "Not logged in", body = Problem, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed for your role", body = Problem, content_type = "application/problem+json"),
                (status = 404, description = "No such patient", body = Problem, content_type = "application/problem+json"),
            ),
            security(("bearer" = [])),
        )]
        async fn $name(
            State(state): State<AppState>,
            Authenticated(session): Authenticated,
            PathParams(id): PathParams<i64>,
            QueryParams(list): QueryParams<ListParams>,
        ) -> Result<Json<records::RecordPage<$model>>, ApiError> {
            Ok(Json(patient_records::<$model>(&state, &session, id, &list.into()).await?))
        }
    };
}

collection_handlers!(
    model = Patient,
    doc = PatientDoc,
    tag = "patients",
    collection = "/patients",
    item = "/patients/{id}",
    create = create_patient,
    get = get_patient,
    list = list_patients,
    what = "patient",
);
collection_handlers!(
    model = Note,
    doc = NoteDoc,
    tag = "notes",
    collection = "/notes",
    item = "/notes/{id}",
    create = create_note,
    get = get_note,
    list = list_notes,
    what = "note",
);
collection_handlers!(
    model = DrugExposure,
    doc = DrugExposureDoc,
    tag = "drug-exposures",
    collection = "/drug-exposures",
    item = "/drug-exposures/{id}",
    create = create_drug_exposure,
    get = get_drug_exposure,
    list = list_drug_exposures,
    what = "drug exposure",
);
patient_records_handler!(
    model = Note,
    doc = NoteDoc,
    path = "/patients/{id}/notes",
    name = list_patient_notes,
    what = "notes",
);
patient_records_handler!(
    model = DrugExposure,
    doc = DrugExposureDoc,
    path = "/patients/{id}/drug-exposures",
    name = list_patient_drug_exposures,
    what = "drug exposures",
);
version_handlers!(
    model = Patient,
    doc = PatientDoc,
    amendment = PatientAmendmentDoc,
    tag = "patients",
    amendments = "/patients/{id}/amendments",
    history = "/patients/{id}/history",
    amend = amend_patient,
    versions = patient_history,
    what = "patient",
    writers = "Doctors",
);
version_handlers!(
    model = Note,
    doc = NoteDoc,
    amendment = NoteAmendmentDoc,
    tag = "notes",
    amendments = "/notes/{id}/amendments",
    history = "/notes/{id}/history",
    amend = amend_note,
    versions = note_history,
    what = "note",
    writers = "Doctors",
);
version_handlers!(
    model = DrugExposure,
    doc = DrugExposureDoc,
    amendment = DrugExposureAmendmentDoc,
    tag = "drug-exposures",
    amendments = "/drug-exposures/{id}/amendments",
    history = "/drug-exposures/{id}/history",
    amend = amend_drug_exposure,
    versions = drug_exposure_history,
    what = "drug exposure",
    writers = "Doctors",
);
version_handlers!(
    model = Doctor,
    doc = DoctorDoc,
    amendment = DoctorAmendmentDoc,
    tag = "doctors",
    amendments = "/doctors/{id}/amendments",
    history = "/doctors/{id}/history",
    amend = amend_doctor,
    versions = doctor_history,
    what = "doctor",
    writers = "Administrators",
);
version_handlers!(
    model = Admin,
    doc = AdminDoc,
    amendment = AdminAmendmentDoc,
    tag = "admins",
    amendments = "/admins/{id}/amendments",
    history = "/admins/{id}/history",
    amend = amend_admin,
    versions = admin_history,
    what = "administrator",
    writers = "Administrators",
);

/// The record routes, relative to `/api/v1`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_patient, list_patients))
        .routes(routes!(get_patient))
        .routes(routes!(list_patient_notes))
        .routes(routes!(list_patient_drug_exposures))
        .routes(routes!(create_note, list_notes))
        .routes(routes!(get_note))
        .routes(routes!(create_drug_exposure, list_drug_exposures))
        .routes(routes!(get_drug_exposure))
        .routes(routes!(amend_patient))
        .routes(routes!(patient_history))
        .routes(routes!(amend_note))
        .routes(routes!(note_history))
        .routes(routes!(amend_drug_exposure))
        .routes(routes!(drug_exposure_history))
        .routes(routes!(amend_doctor))
        .routes(routes!(doctor_history))
        .routes(routes!(amend_admin))
        .routes(routes!(admin_history))
}
