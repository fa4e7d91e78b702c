//! The generic record form: one partial template (`templates/form.html`) that renders any model's fields
//! from their description ([`super::fields`]), with the values typed so far and each field's error next to
//! it. A new model field therefore needs no template change.
//!
//! # Using it
//!
//! 1. Build a [`FormView`] in the handler:
//!
//!    ```ignore
//!    let form = FormView::new(&page, "/doctors/new", RecordKind::Doctor, &values, &errors)
//!        .with_extra(FieldView::password(&page, "password", page.t("form.initial_password"), true, &errors))
//!        .with_submit(page.t("form.save"));
//!    ```
//!
//!    `values` are the form's current values as `(name, text)` pairs: the submitted form on an error (so
//!    the typed values are kept), [`super::fields::json_to_form`] of a record to prefill an amendment, or
//!    [`defaults`] for a new record. `errors` are [`FieldMessages`] (field name → message in the page's
//!    language), from [`form_errors`] (an API refusal) or [`parse_errors`] (what
//!    [`super::fields::form_to_json`] refused).
//! 2. Give the page template a field named `form` of type [`FormView`] and write
//!    `{% include "form.html" %}` where the form goes. The partial needs nothing else from the template:
//!    every text is already in the page's language.
//!
//! # What the partial renders
//!
//! `<form method="post" novalidate>` (the server's messages, in the page's language, are the ones that
//! count; `required` is still set for assistive technology) with the CSRF hidden input, an error summary
//! (`role="alert"`, listing errors about fields the form does not show), the everyday fields
//! ([`super::fields::common_fields`]), the rarely used OMOP fields folded in a `<details>` (open when one
//! of them has an error), then the extra fields (a password, an amendment reason), then the submit button.
//! Each field: `<label for=id>` (with a `*` marker when required), the control with `id` = the field name
//! (plus [`FormView::id_prefix`]), `aria-invalid="true"` and `aria-describedby="{id}-error"` when it has an
//! error, `{id}-help` for its help text; `<input type>` from [`InputKind::html_type`], `step="1"` on
//! datetimes, a `<datalist id="{id}-choices">` of suggested concepts, a `<select>` of choices (with the
//! current value added when it is not a listed choice, so an imported record's concept is never silently
//! changed), a `<textarea>` for long text.
//!
//! Escaping: every value goes through askama's HTML escaping; nothing here is marked safe.

use medledger_contract::ehr::RecordKind;

use super::account::{FieldMessages, field_messages};
use super::fields::{self, FieldErrorKind, FieldSpec, InputKind};
use super::page::Page;
use medledger_service::ServiceError;

/// An option of a `<select>` or a `<datalist>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionView {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// Which HTML control a field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Input,
    TextArea,
    Select,
}

/// One field as the partial renders it; every text is in the page's language.
#[derive(Debug, Clone)]
pub struct FieldView {
    /// The input's `name`.
    pub name: String,
    /// The control's `id` (the name, plus the form's prefix).
    pub id: String,
    pub label: String,
    pub control: Control,
    /// `<input type>`; empty for textareas and selects.
    pub input_type: &'static str,
    /// `inputmode`, when the type alone does not bring up the right keyboard (decimals).
    pub inputmode: &'static str,
    /// `step="1"` for datetimes (so seconds are accepted).
    pub step: &'static str,
    /// `autocomplete`; empty: not set.
    pub autocomplete: &'static str,
    pub required: bool,
    /// The current value (never shown for password inputs).
    pub value: String,
    pub help: Option<String>,
    pub error: Option<String>,
    /// The `maxlength` hint (characters; the server checks bytes).
    pub max_len: Option<usize>,
    /// A select's options (the first may be the empty "choose" option).
    pub options: Vec<OptionView>,
    /// Suggested concept ids, as a `<datalist id="{id}-choices">`.
    pub suggestions: Vec<OptionView>,
}

impl FieldView {
    /// The view of a described model field with its current value and error.
    pub fn of_spec(
        page: &Page,
        prefix: &str,
        spec: &FieldSpec,
        value: &str,
        error: Option<&String>,
    ) -> FieldView {
        let lang = page.lang;
        let id = format!("{prefix}{}", spec.name);
        let required = spec.form_required();
        let choices = || {
            spec.choices.iter().map(|c| OptionView {
                value: c.value.to_owned(),
                label: format!("{} ({})", c.label.get(lang), c.value),
                selected: c.value == value.trim(),
            })
        };
        let (control, input_type) = match spec.input {
            InputKind::LongText => (Control::TextArea, ""),
            InputKind::Select => (Control::Select, ""),
            other => (Control::Input, other.html_type().unwrap_or("text")),
        };
        let mut options = Vec::new();
        if control == Control::Select {
            // An empty "choose" option unless a value is chosen already: a required select must not
            // silently submit its first choice.
            if value.trim().is_empty() || !required {
                options.push(OptionView {
                    value: String::new(),
                    label: page.t("form.choose").to_owned(),
                    selected: value.trim().is_empty(),
                });
            }
            options.extend(choices());
            if !value.trim().is_empty() && spec.choice(value).is_none() {
                options.push(OptionView {
                    value: value.to_owned(),
                    label: value.to_owned(),
                    selected: true,
                });
            }
        }
        let suggestions = if spec.input == InputKind::Concept {
            choices().collect()
        } else {
            Vec::new()
        };
        FieldView {
            name: spec.name.to_owned(),
            id,
            label: spec.label.get(lang).to_owned(),
            control,
            input_type,
            inputmode: if spec.input == InputKind::Decimal {
                "decimal"
            } else {
                ""
            },
            step: if spec.input == InputKind::DateTime {
                "1"
            } else {
                ""
            },
            autocomplete: if spec.input == InputKind::Email {
                "off"
            } else {
                ""
            },
            required,
            value: value.to_owned(),
            help: spec.help.map(|h| h.get(lang).to_owned()),
            error: error.cloned(),
            max_len: spec.max_len,
            options,
            suggestions,
        }
    }

    /// A field that is not a model field (an amendment reason, ...): a text input, or a textarea when
    /// `long`.
    pub fn text(
        name: &str,
        label: &str,
        long: bool,
        required: bool,
        value: &str,
        errors: &FieldMessages,
    ) -> FieldView {
        FieldView {
            name: name.to_owned(),
            id: name.to_owned(),
            label: label.to_owned(),
            control: if long {
                Control::TextArea
            } else {
                Control::Input
            },
            input_type: if long { "" } else { "text" },
            inputmode: "",
            step: "",
            autocomplete: "",
            required,
            value: value.to_owned(),
            help: None,
            error: errors.get(name).cloned(),
            max_len: None,
            options: Vec::new(),
            suggestions: Vec::new(),
        }
    }

    /// A new password input (an initial password). Its value is never sent back to the browser.
    pub fn new_password(
        name: &str,
        label: &str,
        help: Option<String>,
        errors: &FieldMessages,
    ) -> FieldView {
        FieldView {
            input_type: "password",
            autocomplete: "new-password",
            help,
            ..FieldView::text(name, label, false, true, "", errors)
        }
    }

    /// With this help text under the label.
    pub fn with_help(mut self, help: impl Into<String>) -> FieldView {
        self.help = Some(help.into());
        self
    }

    /// The `aria-describedby` value: the help and the error, if any; empty if neither.
    pub fn described_by(&self) -> String {
        let mut ids = Vec::new();
        if self.help.is_some() {
            ids.push(format!("{}-help", self.id));
        }
        if self.error.is_some() {
            ids.push(format!("{}-error", self.id));
        }
        ids.join(" ")
    }

    pub fn is_input(&self) -> bool {
        self.control == Control::Input
    }

    pub fn is_textarea(&self) -> bool {
        self.control == Control::TextArea
    }

    pub fn is_select(&self) -> bool {
        self.control == Control::Select
    }

    /// Whether the value is echoed into the page (never for passwords).
    pub fn shows_value(&self) -> bool {
        self.input_type != "password"
    }
}

/// A whole form, ready for `templates/form.html`.
#[derive(Debug, Clone)]
pub struct FormView {
    /// Where the form posts.
    pub action: String,
    pub csrf: String,
    /// Prepended to every control's id, for a page with two generated forms (default: none).
    pub id_prefix: String,
    /// The everyday fields.
    pub common: Vec<FieldView>,
    /// The rarely used fields, folded away.
    pub more: Vec<FieldView>,
    /// Fields after the model's (a password, an amendment reason).
    pub extra: Vec<FieldView>,
    /// Open the folded part (one of its fields has an error).
    pub more_open: bool,
    pub more_label: String,
    pub submit_label: String,
    /// "Some fields need correcting", when there are errors.
    pub error_summary: Option<String>,
    /// Errors about fields this form does not show (`label: message` lines).
    pub other_errors: Vec<String>,
    /// The text behind the required marker, for its `title`.
    pub required_label: String,
    /// A link back (cancel), if any.
    pub cancel: Option<(String, String)>,
    /// Hidden inputs after the CSRF token (`name`, `value`): what the form was opened on.
    pub hidden: Vec<(String, String)>,
}

/// The first value of `name` in `values`, or empty.
pub fn value_of<'v>(values: &'v [(String, String)], name: &str) -> &'v str {
    values
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The starting values of a new `kind` form ([`fields::new_form_defaults`]).
pub fn defaults(kind: RecordKind) -> Vec<(String, String)> {
    fields::new_form_defaults(kind)
        .iter()
        .map(|&(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

impl FormView {
    /// The form of a `kind` record posting to `action`, with current `values` and `errors`.
    pub fn new(
        page: &Page,
        action: &str,
        kind: RecordKind,
        values: &[(String, String)],
        errors: &FieldMessages,
    ) -> FormView {
        FormView::with_prefix(page, action, kind, values, errors, "")
    }

    /// [`FormView::new`] with every control id prefixed by `prefix`.
    pub fn with_prefix(
        page: &Page,
        action: &str,
        kind: RecordKind,
        values: &[(String, String)],
        errors: &FieldMessages,
        prefix: &str,
    ) -> FormView {
        let view = |specs: &[FieldSpec]| -> Vec<FieldView> {
            specs
                .iter()
                .map(|spec| {
                    FieldView::of_spec(
                        page,
                        prefix,
                        spec,
                        value_of(values, spec.name),
                        errors.get(spec.name),
                    )
                })
                .collect()
        };
        let common = view(fields::common_fields(kind));
        let more = view(fields::more_fields(kind));
        let more_open = more.iter().any(|f| f.error.is_some());
        let mut form = FormView {
            action: action.to_owned(),
            csrf: page.csrf.clone(),
            id_prefix: prefix.to_owned(),
            common,
            more,
            extra: Vec::new(),
            more_open,
            more_label: page.t("form.more_fields").to_owned(),
            submit_label: page.t("form.save").to_owned(),
            error_summary: None,
            other_errors: Vec::new(),
            required_label: page.t("form.required").to_owned(),
            cancel: None,
            hidden: Vec::new(),
        };
        form.set_errors(page, errors);
        form
    }

    /// Recomputes the summary: errors about fields the form does not show are listed in it.
    fn set_errors(&mut self, page: &Page, errors: &FieldMessages) {
        self.error_summary = (!errors.is_empty()).then(|| page.t("form.fix_errors").to_owned());
        let shown: Vec<&str> = self.all_fields().map(|f| f.name.as_str()).collect();
        self.other_errors = errors
            .iter()
            .filter(|(name, _)| !shown.contains(&name.as_str()))
            .map(|(name, message)| {
                if name.is_empty() {
                    message.clone()
                } else {
                    format!("{name}: {message}")
                }
            })
            .collect();
    }

    /// Adds a field after the model's, and moves an error about it from the summary to the field.
    pub fn with_extra(mut self, field: FieldView) -> FormView {
        let name = field.name.clone();
        self.other_errors.retain(|line| {
            !line
                .strip_prefix(name.as_str())
                .is_some_and(|rest| rest.starts_with(": "))
        });
        self.extra.push(field);
        self
    }

    /// Adds a hidden input (not a field of the model: the form's own state, such as the version an
    /// amendment form was opened on).
    pub fn with_hidden(mut self, name: &str, value: &str) -> FormView {
        self.hidden.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn with_submit(mut self, label: &str) -> FormView {
        self.submit_label = label.to_owned();
        self
    }

    pub fn with_cancel(mut self, href: &str, label: &str) -> FormView {
        self.cancel = Some((href.to_owned(), label.to_owned()));
        self
    }

    /// Every field, in page order.
    pub fn all_fields(&self) -> impl Iterator<Item = &FieldView> {
        self.common.iter().chain(&self.more).chain(&self.extra)
    }
}

/// The field errors of an API refusal in the page's language ([`field_messages`]); `None` if the
/// refusal is not about fields (show it as an error page, or a message above the form).
pub fn form_errors(page: &Page, error: &ServiceError) -> Option<FieldMessages> {
    field_messages(page, error)
}

/// The errors [`fields::form_to_json`] found, in the page's language.
pub fn parse_errors(page: &Page, errors: &[(String, FieldErrorKind)]) -> FieldMessages {
    errors
        .iter()
        .map(|(name, kind)| (name.clone(), page.t(&kind.message_key()).to_owned()))
        .collect()
}

/// A submitted form as `(name, value)` pairs, without the CSRF token; keeps repeated names, so that
/// [`fields::form_to_json`] can refuse them.
pub fn form_values(pairs: &[(String, String)]) -> Vec<(String, String)> {
    pairs.iter().filter(|(n, _)| n != "csrf").cloned().collect()
}

#[cfg(test)]
mod tests {
    use askama::Template;

    use super::*;
    use crate::i18n::Lang;

    #[derive(Template)]
    #[template(source = "<main>{% include \"form.html\" %}</main>", ext = "html")]
    struct Harness {
        form: FormView,
    }

    fn page(lang: Lang) -> Page {
        Page {
            lang,
            user: None,
            csrf: "tok\"en".into(),
            path: "/".into(),
        }
    }

    fn render(form: FormView) -> String {
        Harness { form }
            .render()
            .unwrap_or_else(|e| panic!("renders: {e}"))
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn every_field_has_a_label_and_its_value_escaped() {
        let page = page(Lang::En);
        for kind in RecordKind::ALL {
            let values = pairs(&[("given_name", "<b>\"Ana\" & 'co'</b>")]);
            let html = render(FormView::new(
                &page,
                "/x",
                kind,
                &values,
                &FieldMessages::new(),
            ));
            for spec in fields::fields(kind) {
                assert!(
                    html.contains(&format!("<label for=\"{}\"", spec.name)),
                    "{kind:?} {}",
                    spec.name
                );
                assert!(html.contains(&format!("id=\"{}\"", spec.name)));
            }
            assert!(!html.contains("<b>"), "{html}");
            assert!(
                html.contains("name=\"csrf\" value=\"tok&#34;en\""),
                "{html}"
            );
            if fields::field(kind, "given_name").is_some() {
                assert!(
                    html.contains("&#60;b&#62;&#34;Ana&#34; &#38; &#39;co&#39;&#60;/b&#62;"),
                    "{html}"
                );
            }
            if !fields::more_fields(kind).is_empty() {
                assert!(html.contains("<details"));
            }
        }
    }

    #[test]
    fn errors_stand_next_to_their_fields_and_open_the_folded_part() {
        let page = page(Lang::Es);
        let errors = FieldMessages::from([
            ("given_name".to_owned(), "mal <nombre>".to_owned()),
            ("birth_datetime".to_owned(), "mal".to_owned()),
            ("certificate".to_owned(), "raro".to_owned()),
        ]);
        let form = FormView::new(&page, "/p", RecordKind::Patient, &[], &errors);
        assert!(form.more_open);
        let html = render(form);
        assert!(html.contains("aria-invalid=\"true\""));
        assert!(
            html.contains("aria-describedby=\"given_name-error\""),
            "{html}"
        );
        assert!(html.contains("id=\"given_name-error\""));
        assert!(html.contains("mal &#60;nombre&#62;"));
        assert!(html.contains("<details open"), "{html}");
        assert!(html.contains("certificate: raro"), "{html}");
        assert!(html.contains("role=\"alert\""));
    }

    #[test]
    fn inputs_have_their_types_choices_and_steps() {
        let page = page(Lang::En);
        let values = pairs(&[("gender_concept_id", "123456"), ("note_text", "a\nb")]);
        let html = render(FormView::new(
            &page,
            "/p",
            RecordKind::Patient,
            &values,
            &FieldMessages::new(),
        ));
        assert!(html.contains("type=\"datetime-local\""));
        assert!(html.contains("step=\"1\""));
        assert!(html.contains("<select id=\"gender_concept_id\""), "{html}");
        assert!(
            html.contains("<option value=\"123456\" selected>123456</option>"),
            "an unlisted current value is offered and kept: {html}"
        );
        assert!(html.contains("list=\"race_concept_id-choices\""));
        assert!(html.contains("<datalist id=\"race_concept_id-choices\">"));
        let note = render(FormView::new(
            &page,
            "/n",
            RecordKind::Note,
            &values,
            &FieldMessages::new(),
        ));
        assert!(note.contains("<textarea id=\"note_text\""), "{note}");
        assert!(note.contains(">a\nb</textarea>"), "{note}");
        assert!(note.contains("<input type=\"date\""), "{note}");
    }

    #[test]
    fn extra_fields_take_their_errors_and_passwords_are_not_echoed() {
        let page = page(Lang::En);
        let errors = FieldMessages::from([("password".to_owned(), "too short".to_owned())]);
        let values = pairs(&[("password", "secret typed")]);
        let form = FormView::new(&page, "/d", RecordKind::Doctor, &values, &errors).with_extra(
            FieldView::new_password("password", "Initial password", None, &errors),
        );
        assert!(form.other_errors.is_empty(), "{:?}", form.other_errors);
        let html = render(form);
        assert!(!html.contains("secret typed"));
        assert!(html.contains("id=\"password-error\""));
        assert!(html.contains("type=\"password\""));
    }

    #[test]
    fn parse_errors_are_translated() {
        let page = page(Lang::Es);
        let errors = fields::form_to_json(
            RecordKind::Doctor,
            &pairs(&[("provider_id", "x"), ("email", "no")]),
        )
        .err()
        .unwrap_or_default();
        let messages = parse_errors(&page, &errors);
        assert_eq!(
            messages.get("provider_id").map(String::as_str),
            Some("Escriba un número entero.")
        );
        assert!(messages.contains_key("given_name"));
        assert!(messages.contains_key("email"));
        let api = ServiceError::field("email", "invalid_email", "bad");
        assert!(form_errors(&page, &api).is_some_and(|m| m.contains_key("email")));
        assert!(form_errors(&page, &ServiceError::NotFound("x".into())).is_none());
    }
}
