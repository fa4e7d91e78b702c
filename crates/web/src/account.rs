//! The logged-in person's own account: the password-change page. It is also where the first
//! administrator is sent while their password is the generated one.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{Page, WebUser};
use super::pages::{PageError, render};
use medledger_service::auth::{PASSWORD_CHARS_MIN, change_own_password};

use crate::page::ClientAddress;
use medledger_service::{AppState, ServiceError};

/// Field name → the message shown next to it.
pub type FieldMessages = BTreeMap<String, String>;

/// Turns an API error into per-field messages in the page's language, if it is about fields.
pub fn field_messages(page: &Page, error: &ServiceError) -> Option<FieldMessages> {
    match error {
        ServiceError::Validation(problems) | ServiceError::StateConflict(problems) => Some(
            problems
                .iter()
                .map(|p| {
                    let key = format!("error.{}", p.code);
                    let text = page.t(&key);
                    let text = if text == key {
                        p.message.clone()
                    } else {
                        text.to_owned()
                    };
                    (p.field.clone(), text)
                })
                .collect(),
        ),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    page: &'a Page,
    changed: bool,
    must_change: bool,
    min: usize,
    rules: String,
    errors: FieldMessages,
}

fn password_page(page: &Page, changed: bool, must_change: bool, errors: FieldMessages) -> Response {
    let min = PASSWORD_CHARS_MIN.to_string();
    let rules = page.tf("password.rules", &[("min", &min)]);
    render(&PasswordPage {
        page,
        changed,
        must_change,
        min: PASSWORD_CHARS_MIN,
        rules,
        errors,
    })
}

#[derive(Debug, Deserialize)]
pub struct PasswordQuery {
    #[serde(default)]
    changed: Option<String>,
    #[serde(default)]
    first_run: Option<String>,
}

/// `GET /password`.
pub async fn password_form(user: WebUser, Query(query): Query<PasswordQuery>) -> Response {
    password_page(
        &user.page,
        query.changed.is_some(),
        query.first_run.is_some(),
        FieldMessages::new(),
    )
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current_password: String,
    new_password: String,
    confirm_password: String,
}

/// `POST /password`: typed passwords are never echoed back; errors stand next to their fields.
pub async fn password_submit(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    user: WebUser,
    Form(form): Form<PasswordForm>,
) -> Response {
    if let Err(e) = user.check_csrf(Some(&form.csrf)) {
        return PageError::new(&user.page, e).into_response();
    }
    if form.new_password != form.confirm_password {
        let errors = FieldMessages::from([(
            "confirm_password".to_owned(),
            user.page.t("error.passwords_differ").to_owned(),
        )]);
        let mut response = password_page(&user.page, false, false, errors);
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return response;
    }
    match change_own_password(
        &state,
        address,
        &user.session,
        form.current_password,
        form.new_password,
    )
    .await
    {
        Ok(()) => Redirect::to("/password?changed=1").into_response(),
        Err(e @ ServiceError::RateLimited { .. }) => PageError::new(&user.page, e).into_response(),
        Err(e) => match field_messages(&user.page, &e) {
            Some(errors) => {
                let mut response = password_page(&user.page, false, false, errors);
                *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                response
            }
            None => PageError::new(&user.page, e).into_response(),
        },
    }
}
