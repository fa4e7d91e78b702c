//! The web forms and detail pages of each model's fields, and the conversions between HTML form values
//! and the JSON the models deserialize.
//!
//! The fields themselves are described once, in the contract (`medledger_contract::ehr::fields`: name,
//! type, required, limits). What the web application adds is here, per field name (`Label`): labels
//! in Spanish and English, help where an OMOP concept id needs explaining, suggested concept ids and
//! whether they are the only options (a `<select>`), and the form order. [`fields`] joins the two at
//! compile time, for each [`RecordKind`]: every field of its model except `certificate` (the
//! organization CA issues certificates; nobody types one), in form order: ids first, then names and
//! identity for people, then the everyday clinical fields, then the rarely used OMOP columns
//! ([`common_fields`] and [`more_fields`] split the list there, so a template can fold the second part
//! away). Each [`FieldSpec`] takes its [`InputKind`] from the field's type, `required` and the length
//! limit from the contract, and its texts from its label.
//!
//! A new model field therefore needs its labels here and no new template: a field without them, or a
//! label naming a field the model lacks, does not compile (`specs`).
//!
//! Conversions: [`form_to_json`] turns the strings of a submitted form into the JSON object of a model (or
//! every field's error, so the page can show each next to its input with the typed values kept);
//! [`json_to_form`] turns a record's JSON back into form values, to prefill an amendment. Times are UTC:
//! `<input type=datetime-local>` has no zone, and the labels say "(UTC)".

use medledger_contract::ehr::fields::{Field, FieldType, Fields, Shape};
use medledger_contract::ehr::validate::is_email;
use medledger_contract::ehr::{
    Admin, Date, DateTime, Decimal, Doctor, DrugExposure, Note, Patient, RecordKind,
};
use serde_json::{Map, Value};

use super::i18n::Lang;

/// A text in both languages of the web application.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Text {
    pub en: &'static str,
    pub es: &'static str,
}

impl Text {
    /// The text in `lang`.
    pub fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::En => self.en,
            Lang::Es => self.es,
        }
    }
}

/// How a field is typed in, and what JSON value it becomes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InputKind {
    /// One line of text (`<input type=text>`); JSON string.
    Text,
    /// Several lines (`<textarea>`); JSON string, line ends normalized to `\n`.
    LongText,
    /// A whole number; JSON integer.
    Integer,
    /// A decimal number, `.` or `,` as the separator (`<input type=text inputmode=decimal>`); JSON string
    /// (the model's [`Decimal`] keeps the text).
    Decimal,
    /// A date (`<input type=date>`): `YYYY-MM-DD`, or `DD/MM/YYYY` as typed in Cuba; JSON `"YYYY-MM-DD"`.
    Date,
    /// A UTC date and time (`<input type=datetime-local step=1>`): `YYYY-MM-DDTHH:MM[:SS]`, or RFC 3339
    /// with `Z`; JSON `"YYYY-MM-DDTHH:MM:SSZ"`.
    DateTime,
    /// An email address (`<input type=email>`); JSON string.
    Email,
    /// An OMOP concept id: a whole number, with [`FieldSpec::choices`] as suggestions (a `<datalist>`);
    /// any other concept id may be typed. JSON integer.
    Concept,
    /// An OMOP concept id chosen from [`FieldSpec::choices`] (a `<select>`). Parsed like [`Concept`]
    /// (any whole number), because a record imported from an OMOP file may hold a concept that is not in
    /// the list: its amendment form must offer (and keep) that value rather than silently change it, so a
    /// template adds the current value as an option when it is not among the choices. JSON integer.
    ///
    /// [`Concept`]: InputKind::Concept
    Select,
}

impl InputKind {
    /// The `type` attribute of the `<input>` for this kind; `None` for [`InputKind::LongText`] (a
    /// `<textarea>`) and [`InputKind::Select`] (a `<select>`).
    pub fn html_type(self) -> Option<&'static str> {
        match self {
            InputKind::Text | InputKind::Decimal => Some("text"),
            InputKind::Integer | InputKind::Concept => Some("number"),
            InputKind::Date => Some("date"),
            InputKind::DateTime => Some("datetime-local"),
            InputKind::Email => Some("email"),
            InputKind::LongText | InputKind::Select => None,
        }
    }

    /// How a value of the contract's field type `ty` is typed in: a concept id in a `<select>` when
    /// `select`, else the one input that fits the type. Compile-time errors: a certificate (the
    /// organization CA issues it; nobody types one) and a `<select>` for anything but a concept id.
    const fn of(ty: FieldType, select: bool) -> InputKind {
        match (ty, ty.shape()) {
            (FieldType::Concept, _) if select => InputKind::Select,
            _ if select => panic!("only a concept id is chosen from a <select>"),
            (FieldType::Concept, _) => InputKind::Concept,
            (FieldType::LongText, _) => InputKind::LongText,
            (FieldType::Email, _) => InputKind::Email,
            (_, Shape::Integer) => InputKind::Integer,
            (_, Shape::Text) => InputKind::Text,
            (_, Shape::Date) => InputKind::Date,
            (_, Shape::DateTime) => InputKind::DateTime,
            (_, Shape::Decimal) => InputKind::Decimal,
            (_, Shape::Bytes) => panic!("a certificate is issued, not typed in"),
        }
    }
}

/// A suggested value of a concept field: the concept id (as form text) and what it means.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Choice {
    pub value: &'static str,
    pub label: Text,
}

/// One field of a model, as a form shows it: the contract's field ([`Field`]: name, type, required,
/// length limit) with what the web adds (`Label`: labels, help, choices, `<select>` or not).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FieldSpec {
    /// The OMOP column (and serde field) name; also the form input's `name`.
    pub name: &'static str,
    /// From the contract's field type (`InputKind::of`).
    pub input: InputKind,
    /// The model requires it ([`Field::required`]: a non-`Option` field). See also
    /// [`FieldSpec::form_required`].
    pub required: bool,
    pub label: Text,
    pub help: Option<Text>,
    /// The contract's limit in characters ([`FieldType::max_chars`]: text, long text and email); `None`
    /// for other kinds. An HTML `maxlength` counts UTF-16 code units, so use it only as a hint:
    /// [`form_to_json`] counts characters.
    pub max_len: Option<usize>,
    /// Suggested concept ids ([`InputKind::Concept`]) or the options ([`InputKind::Select`]).
    pub choices: &'static [Choice],
}

impl FieldSpec {
    /// Whether the web form requires a value: what the model requires, plus the first given name and the
    /// first surname of a patient. The model leaves patients' names optional so that OMOP PERSON files
    /// (which carry none) import, but a clinic registering a patient by hand needs them.
    pub fn form_required(&self) -> bool {
        self.required || matches!(self.name, "given_name" | "family_name")
    }

    /// The choice with this value, to show a concept's meaning beside its id.
    pub fn choice(&self, value: &str) -> Option<&'static Choice> {
        self.choices.iter().find(|c| c.value == value.trim())
    }

    /// The field `label` names in the contract's `table`, with its labels. A label naming a field the
    /// table lacks is a compile-time error.
    const fn of(table: &'static [Field], label: Label) -> FieldSpec {
        let field = table_field(table, label.name);
        FieldSpec {
            name: field.name,
            input: InputKind::of(field.ty, label.select),
            required: field.required,
            label: label.text,
            help: label.help,
            max_len: field.ty.max_chars(),
            choices: label.choices,
        }
    }
}

/// What the web application adds to one of a model's fields: its labels in Spanish and English, help
/// where an OMOP concept id needs explaining, suggested concept ids, and whether those are the only
/// options (a `<select>`). Everything else is the contract's field description.
#[derive(Clone, Copy)]
struct Label {
    name: &'static str,
    text: Text,
    help: Option<Text>,
    choices: &'static [Choice],
    select: bool,
}

/// The label of the field `name`.
const fn label(name: &'static str, en: &'static str, es: &'static str) -> Label {
    Label {
        name,
        text: Text { en, es },
        help: None,
        choices: &[],
        select: false,
    }
}

impl Label {
    const fn with_help(mut self, en: &'static str, es: &'static str) -> Self {
        self.help = Some(Text { en, es });
        self
    }

    /// Suggested concept ids (a `<datalist>`); any other may be typed.
    const fn with_choices(mut self, choices: &'static [Choice]) -> Self {
        self.choices = choices;
        self
    }

    /// The concept ids to choose from (a `<select>`).
    const fn select_from(mut self, choices: &'static [Choice]) -> Self {
        self.choices = choices;
        self.select = true;
        self
    }
}

/// The field of the contract's `table` named `name`; a compile-time error if there is none.
const fn table_field(table: &'static [Field], name: &str) -> &'static Field {
    let mut i = 0;
    while i < table.len() {
        if same_text(table[i].name, name) {
            return &table[i];
        }
        i += 1;
    }
    panic!("a label names a field that the model does not have");
}

const fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A model's form fields, in the order of `labels`, from the contract's `table`. Compile-time errors: a
/// label naming a field the table lacks, and a field of the table (but the certificate) without one.
const fn specs<const N: usize>(table: &'static [Field], labels: [Label; N]) -> [FieldSpec; N] {
    let mut t = 0;
    while t < table.len() {
        let field = &table[t];
        let mut labelled = matches!(field.ty, FieldType::Certificate);
        let mut i = 0;
        while i < N {
            labelled = labelled || same_text(labels[i].name, field.name);
            i += 1;
        }
        assert!(labelled, "a field of the model has no label");
        t += 1;
    }
    const UNSET: FieldSpec = FieldSpec {
        name: "",
        input: InputKind::Text,
        required: false,
        label: Text { en: "", es: "" },
        help: None,
        max_len: None,
        choices: &[],
    };
    let mut specs = [UNSET; N];
    let mut i = 0;
    while i < N {
        specs[i] = FieldSpec::of(table, labels[i]);
        i += 1;
    }
    specs
}

// --- the fields of each model ------------------------------------------------------------------------

use InputKind::{
    Concept, Date as DateInput, DateTime as DateTimeInput, Decimal as DecimalInput, Email, Integer,
    LongText, Select, Text as TextInput,
};

const fn choice(value: &'static str, en: &'static str, es: &'static str) -> Choice {
    Choice {
        value,
        label: Text { en, es },
    }
}

/// OMOP Gender concepts (biological sex at birth).
const SEX: &[Choice] = &[
    choice("8507", "Male", "Masculino"),
    choice("8532", "Female", "Femenino"),
    choice("0", "Unknown", "Desconocido"),
];

/// OMOP Race concepts that fit Cuban records; OMOP has no concept for mixed race ("mestiza").
const RACE: &[Choice] = &[
    choice("8527", "White", "Blanca"),
    choice("8516", "Black or African American", "Negra"),
    choice(
        "0",
        "Not recorded or no matching concept",
        "No consta o sin concepto",
    ),
];

/// OMOP Ethnicity concepts (the US OMB categories; the only two there are).
const ETHNICITY: &[Choice] = &[
    choice("38003563", "Hispanic or Latino", "Hispano o latino"),
    choice("38003564", "Not Hispanic or Latino", "No hispano ni latino"),
    choice("0", "Not recorded", "No consta"),
];

/// OMOP Type Concepts for where a drug record comes from; 38000177 is the older Drug Type concept.
const DRUG_TYPE: &[Choice] = &[
    choice(
        "32838",
        "EHR prescription",
        "Prescripción en la historia clínica",
    ),
    choice(
        "32818",
        "EHR administration record",
        "Registro de administración",
    ),
    choice("32825", "EHR dispensing record", "Registro de dispensación"),
    choice(
        "38000177",
        "Prescription written (older concept)",
        "Receta emitida (concepto antiguo)",
    ),
];

/// OMOP Route concepts (SNOMED qualifiers).
const ROUTE: &[Choice] = &[
    choice("4132161", "Oral", "Oral"),
    choice("4171047", "Intravenous", "Intravenosa"),
    choice("4302612", "Intramuscular", "Intramuscular"),
    choice("4142048", "Subcutaneous", "Subcutánea"),
];

/// OMOP Type Concepts for a note's provenance; 44814645 is the older Note Type concept "Note".
const NOTE_TYPE: &[Choice] = &[
    choice("32817", "EHR", "Historia clínica electrónica"),
    choice(
        "44814645",
        "Note (older concept)",
        "Nota (concepto antiguo)",
    ),
];

/// The OMOP note kinds (the older Note Type concepts, still the common note classes).
const NOTE_CLASS: &[Choice] = &[
    choice("44814640", "Outpatient note", "Nota de consulta externa"),
    choice("44814638", "Admission note", "Nota de ingreso"),
    choice(
        "44814639",
        "Inpatient note",
        "Nota de evolución hospitalaria",
    ),
    choice(
        "44814637",
        "Discharge summary",
        "Resumen de egreso (epicrisis)",
    ),
    choice(
        "44814646",
        "Emergency department note",
        "Nota de cuerpo de guardia",
    ),
    choice("44814645", "Note", "Nota"),
];

/// OMOP's only encoding concept, and 0 for any other encoding (as OMOP prescribes).
const ENCODING: &[Choice] = &[
    choice("32678", "UTF-8", "UTF-8"),
    choice("0", "Other", "Otra"),
];

/// OMOP language concepts (descendants of World Languages, 4182347).
const LANGUAGE: &[Choice] = &[
    choice("4182511", "Spanish", "Español"),
    choice("4180186", "English", "Inglés"),
];

const fn opt_id(name: &'static str, en: &'static str, es: &'static str) -> Label {
    label(name, en, es).with_help(
        "The id of a row of another OMOP table, if any.",
        "El id de una fila de otra tabla OMOP, si la hay.",
    )
}

const fn source_value(name: &'static str, en: &'static str, es: &'static str) -> Label {
    label(name, en, es).with_help(
        "As written in the source data.",
        "Tal como aparece en los datos de origen.",
    )
}

const fn source_concept(name: &'static str, en: &'static str, es: &'static str) -> Label {
    label(name, en, es).with_help(
        "The source data's code as an OMOP concept id, if it has one; often 0.",
        "El código de los datos de origen como concepto OMOP, si lo tiene; a menudo 0.",
    )
}

const fn given_name() -> Label {
    label("given_name", "First name", "Primer nombre")
}
const fn second_given_name() -> Label {
    label("second_given_name", "Second name", "Segundo nombre")
}
const fn family_name() -> Label {
    label("family_name", "First surname", "Primer apellido")
}
const fn second_family_name() -> Label {
    label("second_family_name", "Second surname", "Segundo apellido")
}
const fn patient_id() -> Label {
    label("person_id", "Patient ID", "ID del paciente")
}
const fn sex() -> Label {
    label("gender_concept_id", "Sex", "Sexo").select_from(SEX)
}
const fn year_of_birth() -> Label {
    label("year_of_birth", "Year of birth", "Año de nacimiento")
}
const fn gender_source_value() -> Label {
    source_value(
        "gender_source_value",
        "Sex in the source",
        "Sexo en el origen",
    )
}
const fn gender_source_concept_id() -> Label {
    source_concept(
        "gender_source_concept_id",
        "Sex source concept",
        "Concepto de origen del sexo",
    )
}
const fn care_site_id() -> Label {
    opt_id("care_site_id", "Care site ID", "ID del centro de atención")
}
const fn visit_occurrence_id() -> Label {
    opt_id(
        "visit_occurrence_id",
        "Visit ID",
        "ID de la consulta o ingreso",
    )
}
const fn visit_detail_id() -> Label {
    opt_id(
        "visit_detail_id",
        "Visit detail ID",
        "ID del detalle de la consulta",
    )
}
const fn email() -> Label {
    label("email", "Email", "Correo electrónico").with_help(
        "Used to log in; unique.",
        "Se usa para iniciar sesión; no puede repetirse.",
    )
}

/// PERSON, plus names and the identity card number. Everyday fields first.
static PATIENT: [FieldSpec; 23] = specs(
    Patient::FIELDS,
    [
        patient_id().with_help(
            "A positive whole number that no other patient has (OMOP person_id).",
            "Un número entero positivo que no tenga otro paciente (person_id de OMOP).",
        ),
        label("national_id", "Identity card number", "Carné de identidad").with_help(
            "The 11 digits of the national identity card.",
            "Los 11 dígitos del carné de identidad.",
        ),
        given_name(),
        second_given_name(),
        family_name(),
        second_family_name(),
        sex().with_help(
            "Biological sex at birth (an OMOP gender concept).",
            "Sexo biológico al nacer (concepto de género de OMOP).",
        ),
        year_of_birth(),
        label("month_of_birth", "Month of birth", "Mes de nacimiento")
            .with_help("1 to 12.", "De 1 a 12."),
        label("day_of_birth", "Day of birth", "Día de nacimiento")
            .with_help("1 to 31; needs the month.", "De 1 a 31; requiere el mes."),
        label("race_concept_id", "Race", "Color de la piel")
            .with_help(
                "An OMOP race concept; 0 if not recorded or mixed (OMOP has no concept for \
                 mixed race).",
                "Un concepto de raza de OMOP; 0 si no consta o es mestiza (OMOP \
                 no tiene concepto para ella).",
            )
            .with_choices(RACE),
        label("ethnicity_concept_id", "Ethnicity", "Etnicidad")
            .with_help(
                "OMOP's US categories; 0 if not recorded.",
                "Las categorías de EE. UU. que usa OMOP; 0 si no consta.",
            )
            .select_from(ETHNICITY),
        // Everything below is folded away on forms (see `common_count`).
        label(
            "birth_datetime",
            "Date and time of birth (UTC)",
            "Fecha y hora de nacimiento (UTC)",
        ),
        label(
            "provider_id",
            "Family doctor (doctor ID)",
            "Médico de familia (ID del médico)",
        )
        .with_help(
            "The doctor ID of the patient's primary care doctor.",
            "El ID del médico de atención primaria del paciente.",
        ),
        opt_id(
            "location_id",
            "Address (location ID)",
            "Dirección (ID de ubicación)",
        ),
        care_site_id(),
        source_value(
            "person_source_value",
            "Patient identifier in the source",
            "Identificador en el origen",
        ),
        gender_source_value(),
        gender_source_concept_id(),
        source_value(
            "race_source_value",
            "Race in the source",
            "Color de la piel en el origen",
        ),
        source_concept(
            "race_source_concept_id",
            "Race source concept",
            "Concepto de origen del color de la piel",
        ),
        source_value(
            "ethnicity_source_value",
            "Ethnicity in the source",
            "Etnicidad en el origen",
        ),
        source_concept(
            "ethnicity_source_concept_id",
            "Ethnicity source concept",
            "Concepto de origen de la etnicidad",
        ),
    ],
);

static DRUG_EXPOSURE: [FieldSpec; 23] = specs(
    DrugExposure::FIELDS,
    [
        label(
            "drug_exposure_id",
            "Drug exposure ID",
            "ID de la exposición a medicamento",
        )
        .with_help(
            "A positive whole number that no other drug exposure has.",
            "Un número entero positivo que no tenga otra exposición a medicamento.",
        ),
        patient_id(),
        label(
            "drug_source_value",
            "Drug as prescribed",
            "Medicamento indicado",
        )
        .with_help(
            "The drug as written, e.g. \"Enalapril 20 mg tablets\".",
            "El medicamento tal como se escribió, p. ej. \"Enalapril 20 mg tabletas\".",
        ),
        label(
            "drug_concept_id",
            "Drug concept",
            "Concepto del medicamento",
        )
        .with_help(
            "The drug's standard OMOP concept id (RxNorm); 0 if it has none.",
            "El concepto OMOP estándar del medicamento (RxNorm); 0 si no lo tiene.",
        ),
        label("drug_exposure_start_date", "Start date", "Fecha de inicio"),
        label("drug_exposure_end_date", "End date", "Fecha de fin").with_help(
            "If not known, the start date plus the days of supply.",
            "Si no se conoce, la fecha de inicio más los días de tratamiento.",
        ),
        label("drug_type_concept_id", "Record type", "Tipo de registro")
            .with_help(
                "Where the record comes from (an OMOP type concept).",
                "De dónde procede el registro (concepto de tipo de OMOP).",
            )
            .with_choices(DRUG_TYPE),
        label("quantity", "Quantity", "Cantidad").with_help(
            "The total amount dispensed or ordered, e.g. 30 or 2.5.",
            "La cantidad total dispensada o indicada, p. ej. 30 o 2,5.",
        ),
        label("dose_unit_source_value", "Dose unit", "Unidad de dosis").with_help(
            "For example mg, ml or tablets.",
            "Por ejemplo mg, ml o tabletas.",
        ),
        label("days_supply", "Days of supply", "Días de tratamiento"),
        label("sig", "Instructions", "Indicaciones (posología)").with_help(
            "The instructions as the doctor wrote them.",
            "Las indicaciones tal como las escribió el médico.",
        ),
        label(
            "route_concept_id",
            "Route of administration",
            "Vía de administración",
        )
        .with_help("An OMOP route concept.", "Un concepto de vía de OMOP.")
        .with_choices(ROUTE),
        // Folded away on forms.
        label(
            "drug_exposure_start_datetime",
            "Start date and time (UTC)",
            "Fecha y hora de inicio (UTC)",
        ),
        label(
            "drug_exposure_end_datetime",
            "End date and time (UTC)",
            "Fecha y hora de fin (UTC)",
        ),
        label(
            "verbatim_end_date",
            "End date as recorded",
            "Fecha de fin registrada",
        )
        .with_help(
            "The end date exactly as the source gives it, if it does.",
            "La fecha de fin tal como la da el origen, si la da.",
        ),
        label("refills", "Refills", "Renovaciones de la receta"),
        source_value(
            "route_source_value",
            "Route in the source",
            "Vía en el origen",
        ),
        label("lot_number", "Lot number", "Número de lote"),
        label("stop_reason", "Reason for stopping", "Motivo de suspensión"),
        label(
            "provider_id",
            "Prescribing doctor (doctor ID)",
            "Médico que indica (ID del médico)",
        ),
        visit_occurrence_id(),
        visit_detail_id(),
        source_concept(
            "drug_source_concept_id",
            "Drug source concept",
            "Concepto de origen del medicamento",
        ),
    ],
);

static NOTE: [FieldSpec; 16] = specs(
    Note::FIELDS,
    [
        label("note_id", "Note ID", "ID de la nota").with_help(
            "A positive whole number that no other note has.",
            "Un número entero positivo que no tenga otra nota.",
        ),
        patient_id(),
        label("note_date", "Date", "Fecha"),
        label("note_title", "Title", "Título"),
        label("note_text", "Text", "Texto"),
        label("note_class_concept_id", "Kind of note", "Clase de nota")
            .with_help(
                "An OMOP note class concept.",
                "Un concepto de clase de nota de OMOP.",
            )
            .with_choices(NOTE_CLASS),
        label("note_type_concept_id", "Provenance", "Procedencia")
            .with_help(
                "Where the note comes from (an OMOP type concept); usually EHR.",
                "De dónde procede la nota (concepto de tipo de OMOP); casi \
                 siempre la historia clínica electrónica.",
            )
            .with_choices(NOTE_TYPE),
        label("language_concept_id", "Language", "Idioma")
            .with_help(
                "An OMOP language concept.",
                "Un concepto de idioma de OMOP.",
            )
            .with_choices(LANGUAGE),
        label(
            "encoding_concept_id",
            "Character encoding",
            "Codificación de caracteres",
        )
        .select_from(ENCODING),
        // Folded away on forms.
        label("note_datetime", "Date and time (UTC)", "Fecha y hora (UTC)"),
        label("provider_id", "Author (doctor ID)", "Autor (ID del médico)"),
        visit_occurrence_id(),
        visit_detail_id(),
        source_value(
            "note_source_value",
            "Kind of note in the source",
            "Clase de nota en el origen",
        ),
        label(
            "note_event_id",
            "Related record ID",
            "ID del registro relacionado",
        )
        .with_help(
            "The id of the record this note is about, if any.",
            "El id del registro al que se refiere la nota, si lo hay.",
        ),
        label(
            "note_event_field_concept_id",
            "Related record's field",
            "Campo del registro relacionado",
        )
        .with_help(
            "The OMOP concept of the table field that the related record ID belongs to.",
            "El concepto OMOP del campo de tabla al que pertenece el ID del registro relacionado.",
        ),
    ],
);

static DOCTOR: [FieldSpec; 18] = specs(
    Doctor::FIELDS,
    [
        label("provider_id", "Doctor ID", "ID del médico").with_help(
            "A positive whole number that no other doctor has (OMOP provider_id).",
            "Un número entero positivo que no tenga otro médico (provider_id de OMOP).",
        ),
        given_name(),
        second_given_name(),
        family_name(),
        second_family_name(),
        email(),
        label("specialty_source_value", "Specialty", "Especialidad").with_help(
            "As written, e.g. \"Medicina General Integral\".",
            "Tal como se escribe, p. ej. \"Medicina General Integral\".",
        ),
        label(
            "specialty_concept_id",
            "Specialty concept",
            "Concepto de la especialidad",
        )
        .with_help(
            "An OMOP provider specialty concept, if known.",
            "Un concepto de especialidad de OMOP, si se conoce.",
        ),
        // Folded away on forms.
        label(
            "provider_name",
            "Name in OMOP exports",
            "Nombre en las exportaciones OMOP",
        ),
        sex(),
        year_of_birth(),
        care_site_id(),
        label("npi", "NPI", "NPI").with_help(
            "US National Provider Identifier; leave empty in Cuba.",
            "Identificador de proveedor de EE. UU.; déjelo vacío en Cuba.",
        ),
        label("dea", "DEA number", "Número DEA").with_help(
            "US DEA registration; leave empty in Cuba.",
            "Registro DEA de EE. UU.; déjelo vacío en Cuba.",
        ),
        source_value(
            "provider_source_value",
            "Doctor identifier in the source",
            "Identificador del médico en el origen",
        ),
        source_concept(
            "specialty_source_concept_id",
            "Specialty source concept",
            "Concepto de origen de la especialidad",
        ),
        gender_source_value(),
        gender_source_concept_id(),
    ],
);

static ADMIN: [FieldSpec; 4] = specs(
    Admin::FIELDS,
    [
        label("admin_id", "Administrator ID", "ID del administrador").with_help(
            "A positive whole number that no other administrator has.",
            "Un número entero positivo que no tenga otro administrador.",
        ),
        given_name(),
        family_name(),
        email(),
    ],
);

/// How many of each kind's fields are the everyday ones (the rest are folded away).
const fn common_count(kind: RecordKind) -> usize {
    match kind {
        RecordKind::Patient => 12,
        RecordKind::DrugExposure => 12,
        RecordKind::Note => 9,
        RecordKind::Doctor => 8,
        RecordKind::Admin => 4,
    }
}

/// Every field of `kind`'s model except `certificate`, in form order.
pub fn fields(kind: RecordKind) -> &'static [FieldSpec] {
    match kind {
        RecordKind::Patient => &PATIENT,
        RecordKind::DrugExposure => &DRUG_EXPOSURE,
        RecordKind::Note => &NOTE,
        RecordKind::Doctor => &DOCTOR,
        RecordKind::Admin => &ADMIN,
    }
}

/// The everyday fields of `kind`: every required field is among them.
pub fn common_fields(kind: RecordKind) -> &'static [FieldSpec] {
    let all = fields(kind);
    &all[..common_count(kind).min(all.len())]
}

/// The rarely used OMOP columns of `kind`, which a form folds away (`<details>`).
pub fn more_fields(kind: RecordKind) -> &'static [FieldSpec] {
    let all = fields(kind);
    &all[common_count(kind).min(all.len())..]
}

/// The field of `kind` named `name`.
pub fn field(kind: RecordKind, name: &str) -> Option<&'static FieldSpec> {
    fields(kind).iter().find(|f| f.name == name)
}

/// The values a new record's form starts with: the concept ids nearly every record of `kind` written in
/// a Cuban clinic has (UTF-8, Spanish, EHR provenance, "not recorded").
pub fn new_form_defaults(kind: RecordKind) -> &'static [(&'static str, &'static str)] {
    match kind {
        RecordKind::Patient => &[("race_concept_id", "0"), ("ethnicity_concept_id", "0")],
        RecordKind::DrugExposure => &[("drug_type_concept_id", "32838")],
        RecordKind::Note => &[
            ("note_type_concept_id", "32817"),
            ("note_class_concept_id", "44814640"),
            ("encoding_concept_id", "32678"),
            ("language_concept_id", "4182511"),
        ],
        RecordKind::Doctor | RecordKind::Admin => &[],
    }
}

// --- form values <-> JSON -------------------------------------------------------------------------

/// Why a form value was refused. [`FieldErrorKind::code`] names it like the contract's field error codes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FieldErrorKind {
    /// Empty or missing, and the form requires it.
    Required,
    /// Longer than [`FieldSpec::max_len`] characters.
    TooLong,
    /// Not a whole number (integers and concept ids).
    NotAnInteger,
    /// Not a decimal number like `12.5`.
    NotADecimal,
    /// Not a real date in `YYYY-MM-DD` or `DD/MM/YYYY`.
    InvalidDate,
    /// Not a real date and time.
    InvalidDateTime,
    /// Not an email address of the shape the contract accepts.
    InvalidEmail,
    /// The form sent the field more than once.
    Duplicate,
}

impl FieldErrorKind {
    /// A stable code; the same as the contract's where it has one (`required`, `too_long`,
    /// `invalid_date`, `invalid_email`).
    pub fn code(self) -> &'static str {
        match self {
            FieldErrorKind::Required => "required",
            FieldErrorKind::TooLong => "too_long",
            FieldErrorKind::NotAnInteger => "not_an_integer",
            FieldErrorKind::NotADecimal => "not_a_decimal",
            FieldErrorKind::InvalidDate => "invalid_date",
            FieldErrorKind::InvalidDateTime => "invalid_datetime",
            FieldErrorKind::InvalidEmail => "invalid_email",
            FieldErrorKind::Duplicate => "duplicate_field",
        }
    }

    /// The key of its message in [`super::i18n`]: `error.{code}`.
    pub fn message_key(self) -> String {
        format!("error.{}", self.code())
    }
}

/// Turns a submitted form into the JSON object of a `kind` model (without `certificate`).
///
/// - Inputs that are not fields of `kind` (the CSRF token, the amendment reason, a password) are ignored.
/// - A field missing from the form is left out of the object; if the form requires it, that is an error.
/// - An empty (or blank) optional field becomes `null`, so that an amendment can clear it.
/// - Text and email are trimmed; long text keeps its spaces and has `\r\n` turned into `\n` (browsers
///   send textarea lines with `\r\n`; without this, every amendment would rewrite a note's line ends).
/// - Integers and concept ids become JSON integers; dates `"YYYY-MM-DD"` (typed as that or `DD/MM/YYYY`);
///   datetimes `"YYYY-MM-DDTHH:MM:SSZ"` (from `YYYY-MM-DDTHH:MM`, with seconds, or RFC 3339 UTC);
///   decimals their text with `.` (a `,` is accepted).
///
/// Range rules (positive ids, end after start, ...) are the contract's: its field errors come back with
/// the same field names. Outcomes: the object, or every failing field in form order.
pub fn form_to_json(
    kind: RecordKind,
    form: &[(String, String)],
) -> Result<Map<String, Value>, Vec<(String, FieldErrorKind)>> {
    let mut object = Map::new();
    let mut errors = Vec::new();
    for spec in fields(kind) {
        let mut values = form
            .iter()
            .filter(|(name, _)| name == spec.name)
            .map(|(_, value)| value.as_str());
        let first = values.next();
        if values.next().is_some() {
            errors.push((spec.name.to_owned(), FieldErrorKind::Duplicate));
            continue;
        }
        match first {
            None if spec.form_required() => {
                errors.push((spec.name.to_owned(), FieldErrorKind::Required));
            }
            None => {}
            Some(raw) => match parse_value(spec, raw) {
                Ok(value) => {
                    object.insert(spec.name.to_owned(), value);
                }
                Err(kind) => errors.push((spec.name.to_owned(), kind)),
            },
        }
    }
    if errors.is_empty() {
        Ok(object)
    } else {
        Err(errors)
    }
}

/// One form value as the JSON value of its field.
fn parse_value(spec: &FieldSpec, raw: &str) -> Result<Value, FieldErrorKind> {
    let text = match spec.input {
        LongText => raw.replace("\r\n", "\n"),
        _ => raw.trim().to_owned(),
    };
    if text.trim().is_empty() {
        return if spec.form_required() {
            Err(FieldErrorKind::Required)
        } else {
            Ok(Value::Null)
        };
    }
    if spec
        .max_len
        .is_some_and(|max| text.chars().nth(max).is_some())
    {
        return Err(FieldErrorKind::TooLong);
    }
    match spec.input {
        TextInput | LongText => Ok(Value::String(text)),
        Email if is_email(&text) => Ok(Value::String(text)),
        Email => Err(FieldErrorKind::InvalidEmail),
        Integer | Concept | Select => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| FieldErrorKind::NotAnInteger),
        DecimalInput => parse_decimal(&text)
            .map(|d| Value::String(d.to_string()))
            .ok_or(FieldErrorKind::NotADecimal),
        DateInput => parse_date(&text)
            .map(|d| Value::String(d.to_string()))
            .ok_or(FieldErrorKind::InvalidDate),
        DateTimeInput => parse_datetime(&text)
            .map(|t| Value::String(t.to_string()))
            .ok_or(FieldErrorKind::InvalidDateTime),
    }
}

/// `12.5`, or `12,5` as written in Spanish.
fn parse_decimal(text: &str) -> Option<Decimal> {
    if let Ok(d) = text.parse() {
        return Some(d);
    }
    if text.matches(',').count() == 1 && !text.contains('.') {
        return text.replace(',', ".").parse().ok();
    }
    None
}

/// `YYYY-MM-DD`, or `D/M/YYYY` (day first, as dates are written in Cuba; one or two digits each).
pub fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    if let Ok(date) = text.parse() {
        return Some(date);
    }
    let mut parts = text.split('/');
    let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let number = |s: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    Date::new(
        number(year, 4..=4)?,
        number(month, 1..=2)?,
        number(day, 1..=2)?,
    )
    .ok()
}

/// `YYYY-MM-DDTHH:MM` (what `<input type=datetime-local>` sends), the same with `:SS`, or anything
/// [`DateTime`]'s parser takes (`YYYY-MM-DDTHH:MM:SSZ`, ...). A time without a zone is taken as UTC.
pub fn parse_datetime(text: &str) -> Option<DateTime> {
    let text = text.trim();
    let candidate = match text.len() {
        16 => format!("{text}:00Z"),
        19 => format!("{text}Z"),
        _ => text.to_owned(),
    };
    candidate.parse().ok()
}

/// The value of an `<input type=datetime-local>` for `t`: `YYYY-MM-DDTHH:MM`, with `:SS` only when the
/// seconds are not zero (so the template's input needs `step=1` to accept those).
pub fn datetime_local(t: DateTime) -> String {
    let (h, m, s) = t.time();
    if s == 0 {
        format!("{}T{h:02}:{m:02}", t.date())
    } else {
        format!("{}T{h:02}:{m:02}:{s:02}", t.date())
    }
}

/// Whether a field of this name is a datetime in whichever model has it (the datetime names are
/// datetimes everywhere; a test checks this).
fn is_datetime_field(name: &str) -> bool {
    RecordKind::ALL
        .iter()
        .any(|&kind| field(kind, name).is_some_and(|f| f.input == DateTimeInput))
}

/// The form values of a record's JSON object, to prefill a form (an amendment): strings as they are,
/// numbers in decimal, `null` as empty, datetimes as [`datetime_local`] values. Every key is kept
/// (including ones no form shows, such as `certificate`); a value that is not an object gives nothing.
pub fn json_to_form(value: &Value) -> Vec<(String, String)> {
    let Value::Object(object) = value else {
        return Vec::new();
    };
    object
        .iter()
        .map(|(name, value)| {
            let text = match value {
                Value::Null => String::new(),
                Value::String(s) if is_datetime_field(name) => s
                    .parse::<DateTime>()
                    .map(datetime_local)
                    .unwrap_or_else(|_| s.clone()),
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use medledger_contract::ehr::samples;
    use medledger_contract::ehr::validate::SHORT_TEXT_CHARS_MAX;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::*;

    const CERTIFICATE: &str = "certificate";

    fn sample_json(kind: RecordKind) -> Value {
        let json = match kind {
            RecordKind::Patient => serde_json::to_value(samples::patient(7)),
            RecordKind::DrugExposure => serde_json::to_value(samples::drug_exposure(9, 7)),
            RecordKind::Note => serde_json::to_value(samples::note(8, 7)),
            RecordKind::Doctor => {
                serde_json::to_value(samples::doctor(3, "ana@example.cu", vec![0x30, 0x82]))
            }
            RecordKind::Admin => {
                serde_json::to_value(samples::admin(1, "raul@example.cu", vec![0x30, 0x82]))
            }
        };
        json.unwrap_or_else(|e| panic!("a sample serializes: {e}"))
    }

    /// The sample with every optional field filled in, with values that exercise the conversions.
    fn full_json(kind: RecordKind) -> Value {
        let mut json = sample_json(kind);
        let Value::Object(object) = &mut json else {
            panic!("a sample is an object")
        };
        for spec in fields(kind) {
            if !object.get(spec.name).is_some_and(Value::is_null) {
                continue;
            }
            let value = match spec.input {
                TextInput => Value::from("texto con ñ y acentos: María"),
                LongText => Value::from("línea 1\nlínea 2\n\n  sangría"),
                Integer => Value::from(7),
                Concept | Select => Value::from(0),
                DecimalInput => Value::from("2.50"),
                DateInput => Value::from("2024-02-29"),
                DateTimeInput => Value::from("2024-05-03T10:20:30Z"),
                Email => Value::from("otra@example.cu"),
            };
            object.insert(spec.name.to_owned(), value);
        }
        json
    }

    fn keys(json: &Value) -> BTreeSet<String> {
        json.as_object()
            .map(|o| o.keys().filter(|k| *k != CERTIFICATE).cloned().collect())
            .unwrap_or_default()
    }

    /// The failures this pins: a model field that no form shows (added to the contract without its
    /// labels), a label for a field the model no longer has, a field shown twice.
    #[test]
    fn every_field_but_the_certificate_has_its_labels() {
        for kind in RecordKind::ALL {
            let labelled: Vec<&str> = fields(kind).iter().map(|f| f.name).collect();
            let unique: BTreeSet<&str> = labelled.iter().copied().collect();
            assert_eq!(unique.len(), labelled.len(), "{kind:?}: a field twice");
            let table: BTreeSet<&str> = medledger_contract::ehr::fields::fields(kind)
                .iter()
                .filter(|f| f.ty != FieldType::Certificate)
                .map(|f| f.name)
                .collect();
            assert_eq!(unique, table, "{kind:?}");
            assert!(!unique.contains(CERTIFICATE));
            let json: BTreeSet<String> = unique.iter().map(|name| name.to_string()).collect();
            assert_eq!(json, keys(&sample_json(kind)), "{kind:?}: the model's JSON");
        }
    }

    #[test]
    fn required_fields_are_among_the_common_ones() {
        for kind in RecordKind::ALL {
            assert_eq!(
                common_fields(kind).len() + more_fields(kind).len(),
                fields(kind).len()
            );
            for spec in more_fields(kind) {
                assert!(
                    !spec.form_required(),
                    "{kind:?}.{} is folded away",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn ids_come_first() {
        let first = [
            (RecordKind::Patient, "person_id"),
            (RecordKind::DrugExposure, "drug_exposure_id"),
            (RecordKind::Note, "note_id"),
            (RecordKind::Doctor, "provider_id"),
            (RecordKind::Admin, "admin_id"),
        ];
        for (kind, name) in first {
            assert_eq!(fields(kind)[0].name, name);
        }
    }

    #[test]
    fn specs_are_well_formed() {
        for kind in RecordKind::ALL {
            for spec in fields(kind) {
                let at = format!("{kind:?}.{}", spec.name);
                for text in [Some(spec.label), spec.help].into_iter().flatten() {
                    assert!(
                        !text.en.trim().is_empty() && !text.es.trim().is_empty(),
                        "{at}"
                    );
                }
                let concept = matches!(spec.input, Concept | Select);
                assert!(
                    concept || spec.choices.is_empty(),
                    "{at}: choices on a non-concept"
                );
                assert!(
                    spec.input != Select || !spec.choices.is_empty(),
                    "{at}: empty select"
                );
                assert!(
                    !concept || spec.help.is_some() || !spec.choices.is_empty(),
                    "{at}: a concept id needs help or choices"
                );
                let mut values = BTreeSet::new();
                for c in spec.choices {
                    assert!(c.value.parse::<i64>().is_ok_and(|v| v >= 0), "{at}: {c:?}");
                    assert!(!c.label.en.is_empty() && !c.label.es.is_empty(), "{at}");
                    assert!(values.insert(c.value), "{at}: {} twice", c.value);
                }
                if spec.name.ends_with("_concept_id") {
                    assert!(concept, "{at} is a concept id");
                }
            }
        }
    }

    #[test]
    fn a_field_name_is_a_datetime_everywhere_or_nowhere() {
        for kind in RecordKind::ALL {
            for spec in fields(kind) {
                assert_eq!(
                    is_datetime_field(spec.name),
                    spec.input == DateTimeInput,
                    "{kind:?}.{}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn defaults_are_valid_form_values() {
        for kind in RecordKind::ALL {
            for (name, value) in new_form_defaults(kind) {
                let spec = field(kind, name).unwrap_or_else(|| panic!("{kind:?}.{name}"));
                assert!(parse_value(spec, value).is_ok_and(|v| !v.is_null()));
                if !spec.choices.is_empty() {
                    assert!(spec.choice(value).is_some(), "{kind:?}.{name}={value}");
                }
            }
        }
    }

    fn roundtrip_as<M: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(
        kind: RecordKind,
        json: &Value,
    ) {
        let original: M =
            serde_json::from_value(json.clone()).unwrap_or_else(|e| panic!("{kind:?} sample: {e}"));
        let form = json_to_form(json);
        let mut object = form_to_json(kind, &form)
            .unwrap_or_else(|errors| panic!("{kind:?}: {errors:?} from {form:?}"));
        if let Some(certificate) = json.get(CERTIFICATE) {
            object.insert(CERTIFICATE.to_owned(), certificate.clone());
        }
        let back: M = serde_json::from_value(Value::Object(object))
            .unwrap_or_else(|e| panic!("{kind:?} back: {e}"));
        assert_eq!(back, original, "{kind:?}");
    }

    #[test]
    fn records_round_trip_through_forms() {
        for kind in RecordKind::ALL {
            for json in [sample_json(kind), full_json(kind)] {
                match kind {
                    RecordKind::Patient => roundtrip_as::<Patient>(kind, &json),
                    RecordKind::DrugExposure => roundtrip_as::<DrugExposure>(kind, &json),
                    RecordKind::Note => roundtrip_as::<Note>(kind, &json),
                    RecordKind::Doctor => roundtrip_as::<Doctor>(kind, &json),
                    RecordKind::Admin => roundtrip_as::<Admin>(kind, &json),
                }
            }
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// A valid note form, with one field replaced (or removed when `value` is `None`).
    fn note_form(name: &str, value: Option<&str>) -> Vec<(String, String)> {
        let mut pairs = form(&[
            ("csrf", "token"),
            ("note_id", "8"),
            ("person_id", "7"),
            ("note_date", "2024-05-30"),
            ("note_datetime", ""),
            ("note_title", ""),
            ("note_text", "Cefalea."),
            ("note_type_concept_id", "32817"),
            ("note_class_concept_id", "44814640"),
            ("language_concept_id", "4182511"),
            ("encoding_concept_id", "32678"),
            ("amendment_reason", "typo"),
        ]);
        pairs.retain(|(k, _)| k != name);
        if let Some(v) = value {
            pairs.push((name.to_owned(), v.to_owned()));
        }
        pairs
    }

    #[test]
    fn form_values_become_json_values() {
        use FieldErrorKind::*;
        let long = "x".repeat(SHORT_TEXT_CHARS_MAX + 1);
        // (field, typed value or None for absent, expected JSON value or error)
        let cases: &[(&str, Option<&str>, Result<Value, FieldErrorKind>)] = &[
            ("note_id", Some(" 12 "), Ok(Value::from(12))),
            ("note_id", Some("12a"), Err(NotAnInteger)),
            ("note_id", Some(""), Err(Required)),
            ("note_id", None, Err(Required)),
            (
                "note_date",
                Some("2024-05-30"),
                Ok(Value::from("2024-05-30")),
            ),
            (
                "note_date",
                Some("30/05/2024"),
                Ok(Value::from("2024-05-30")),
            ),
            ("note_date", Some("1/2/2024"), Ok(Value::from("2024-02-01"))),
            ("note_date", Some("2023-02-29"), Err(InvalidDate)),
            ("note_date", Some("31/04/2024"), Err(InvalidDate)),
            ("note_date", Some("05/30/24"), Err(InvalidDate)),
            ("note_date", Some("30/05/2024/1"), Err(InvalidDate)),
            (
                "note_datetime",
                Some("2024-05-30T08:15"),
                Ok(Value::from("2024-05-30T08:15:00Z")),
            ),
            (
                "note_datetime",
                Some("2024-05-30T08:15:09"),
                Ok(Value::from("2024-05-30T08:15:09Z")),
            ),
            (
                "note_datetime",
                Some("2024-05-30T08:15:09Z"),
                Ok(Value::from("2024-05-30T08:15:09Z")),
            ),
            (
                "note_datetime",
                Some("2024-05-30T24:00"),
                Err(InvalidDateTime),
            ),
            (
                "note_datetime",
                Some("2024-05-30 08:1é"),
                Err(InvalidDateTime),
            ),
            (
                "note_datetime",
                Some("2024-05-30T08:15+02:00"),
                Err(InvalidDateTime),
            ),
            ("note_datetime", Some("  "), Ok(Value::Null)),
            (
                "note_title",
                Some("  Consulta  "),
                Ok(Value::from("Consulta")),
            ),
            ("note_title", Some(""), Ok(Value::Null)),
            ("note_title", Some(long.as_str()), Err(TooLong)),
            ("note_text", Some("a\r\nb\r\n"), Ok(Value::from("a\nb\n"))),
            ("note_text", Some(" \r\n "), Err(Required)),
            ("encoding_concept_id", Some("99"), Ok(Value::from(99))),
            ("language_concept_id", Some("-"), Err(NotAnInteger)),
        ];
        for (name, typed, expected) in cases {
            let result = form_to_json(RecordKind::Note, &note_form(name, *typed));
            let got = match result {
                Ok(object) => Ok(object.get(*name).cloned()),
                Err(errors) => {
                    assert_eq!(errors.len(), 1, "{name}={typed:?}: {errors:?}");
                    assert_eq!(errors[0].0, *name);
                    Err(errors[0].1)
                }
            };
            let want = match expected {
                Ok(v) => Ok(Some(v.clone())),
                Err(e) => Err(*e),
            };
            assert_eq!(got, want, "{name}={typed:?}");
        }
    }

    #[test]
    fn other_kinds_of_input() {
        use FieldErrorKind::*;
        // (kind, field, typed value, expected JSON value or error)
        let cases: &[(RecordKind, &str, &str, Result<Value, FieldErrorKind>)] = &[
            (
                RecordKind::DrugExposure,
                "quantity",
                "2,5",
                Ok(Value::from("2.5")),
            ),
            (
                RecordKind::DrugExposure,
                "quantity",
                "1.50",
                Ok(Value::from("1.50")),
            ),
            (
                RecordKind::DrugExposure,
                "quantity",
                "1,5.0",
                Err(NotADecimal),
            ),
            (
                RecordKind::DrugExposure,
                "quantity",
                "1e3",
                Err(NotADecimal),
            ),
            (
                RecordKind::DrugExposure,
                "sig",
                "1 tableta\r\ncada 8 h",
                Ok(Value::from("1 tableta\ncada 8 h")),
            ),
            (
                RecordKind::Admin,
                "email",
                " ana@example.cu ",
                Ok(Value::from("ana@example.cu")),
            ),
            (
                RecordKind::Admin,
                "email",
                "ana@localhost",
                Err(InvalidEmail),
            ),
            (RecordKind::Admin, "email", "", Err(Required)),
            (RecordKind::Patient, "given_name", " ", Err(Required)),
            (
                RecordKind::Patient,
                "second_given_name",
                " ",
                Ok(Value::Null),
            ),
            (RecordKind::Patient, "national_id", "", Ok(Value::Null)),
            (
                RecordKind::Patient,
                "gender_concept_id",
                "8551",
                Ok(Value::from(8551)),
            ),
            (
                RecordKind::Patient,
                "birth_datetime",
                "1980-01-02T03:04",
                Ok(Value::from("1980-01-02T03:04:00Z")),
            ),
            (RecordKind::Doctor, "gender_concept_id", "", Ok(Value::Null)),
            (
                RecordKind::Doctor,
                "year_of_birth",
                "19 80",
                Err(NotAnInteger),
            ),
        ];
        for (kind, name, typed, expected) in cases {
            let spec = field(*kind, name).unwrap_or_else(|| panic!("{kind:?}.{name}"));
            assert_eq!(
                &parse_value(spec, typed),
                expected,
                "{kind:?}.{name}={typed:?}"
            );
        }
    }

    #[test]
    fn a_field_sent_twice_is_refused() {
        let pairs = form(&[("email", "a@b.cu"), ("email", "c@d.cu")]);
        let errors = form_to_json(RecordKind::Admin, &pairs)
            .err()
            .unwrap_or_default();
        assert!(errors.contains(&("email".to_owned(), FieldErrorKind::Duplicate)));
    }

    #[test]
    fn missing_required_fields_are_all_reported_in_form_order() {
        let errors = form_to_json(RecordKind::Admin, &form(&[("csrf", "x")]))
            .err()
            .unwrap_or_default();
        let names: Vec<&str> = errors.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["admin_id", "given_name", "family_name", "email"]);
        assert!(errors.iter().all(|(_, e)| *e == FieldErrorKind::Required));
    }

    #[test]
    fn json_to_form_prefills_datetime_inputs() {
        let json = serde_json::json!({
            "note_datetime": "2024-05-30T08:15:00Z",
            "birth_datetime": "1980-01-02T03:04:05Z",
            "note_title": "2024-05-30T08:15:00Z",
            "note_id": 8,
            "provider_id": null,
        });
        let form: BTreeSet<(String, String)> = json_to_form(&json).into_iter().collect();
        let want: BTreeSet<(String, String)> = [
            ("note_datetime", "2024-05-30T08:15"),
            ("birth_datetime", "1980-01-02T03:04:05"),
            ("note_title", "2024-05-30T08:15:00Z"),
            ("note_id", "8"),
            ("provider_id", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(form, want);
        assert!(json_to_form(&Value::from("not an object")).is_empty());
    }

    #[test]
    fn choices_are_found_by_value() {
        let sex = field(RecordKind::Patient, "gender_concept_id");
        let female = sex
            .and_then(|s| s.choice("8532"))
            .map(|c| c.label.get(Lang::Es));
        assert_eq!(female, Some("Femenino"));
        assert!(sex.and_then(|s| s.choice("8551")).is_none());
        assert!(field(RecordKind::Patient, "certificate").is_none());
        assert!(field(RecordKind::Doctor, "certificate").is_none());
    }
}
