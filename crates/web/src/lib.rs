//! The web application: server-rendered pages (askama templates in `crates/web/templates/`), no
//! front-end build step, small plain JavaScript only where it helps (`static/app.js`); every form works
//! without JavaScript.
//!
//! - [`fields`]: every model's fields as forms, detail pages and form parsing are generated from them
//!   (as AdminBro generated its panel): the contract's field description joined with the web's labels,
//!   help and choices.
//! - [`forms`]: the generic record form (`templates/form.html`) generated from [`fields`], with values
//!   and errors next to each field.
//! - [`i18n`]: the Spanish and English text of every page, and local date formats.
//! - [`page`]: the per-request page context (language, person, CSRF token) and the extractor that sends
//!   anonymous visitors to the login page.
//! - [`pages`]: login, logout, the language switch, error pages, static files.
//! - [`account`]: the password-change page; `account::field_messages` turns field errors into messages
//!   shown next to their inputs.
//! - [`clinical`]: the doctor's pages: patients (list, search, registration), the patient chart, notes
//!   and drug exposures, amendments with a reason, and each record's history.
//!
//! Architecture invariant: pages call the same service functions as the REST API (`records`, `people`,
//! `ledger`, `auth`), so a rule is enforced once, whichever door a person comes in by.

pub mod account;
pub mod clinical;
pub mod explorer;
pub mod fields;
pub mod forms;
pub mod i18n;
pub mod page;
pub mod pages;
pub mod people_pages;

use axum::Router;
use axum::routing::{get, post};

use medledger_service::AppState;

/// The web application's routes (outside `/api`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route(
            "/password",
            get(account::password_form).post(account::password_submit),
        )
        .route("/lang/{code}", get(pages::switch_language))
        // Doctors' pages (patients, charts, records, amendments, history): web/clinical/.
        .merge(clinical::routes())
        // People (administrators only): web/people_pages.rs.
        .route("/admins", get(people_pages::list_admins))
        .route(
            "/admins/new",
            get(people_pages::new_admin_form).post(people_pages::create_admin),
        )
        .route("/admins/{id}", get(people_pages::admin_detail))
        .route("/doctors", get(people_pages::list_doctors))
        .route(
            "/doctors/new",
            get(people_pages::new_doctor_form).post(people_pages::create_doctor),
        )
        .route("/doctors/{id}", get(people_pages::doctor_detail))
        // The ledger explorer (anyone logged in): web/explorer.rs.
        .route("/explorer", get(explorer::home))
        .route("/explorer/blocks/{number}", get(explorer::block))
        .route("/explorer/tx/{tx_id}", get(explorer::transaction))
        .route("/static/app.css", get(pages::app_css))
        .route("/static/app.js", get(pages::app_js))
}
