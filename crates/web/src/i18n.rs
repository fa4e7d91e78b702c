//! The web application's two languages: choosing one ([`Lang`], from the browser's `Accept-Language`,
//! Spanish by default because the product is for Cuba's health system), every text the pages show ([`t`]
//! over one static table of key, English, Spanish), and dates and times in each language's local format.
//!
//! Keys are dotted and grouped by page (`login.*`, `nav.*`, `list.*`, `chart.*`, `form.*`, `record.*`,
//! `explorer.*`, `password.*`) plus the names of things: `error.{code}` for every field and problem code
//! the gateway and the contract use, `validation.{code}` for the ledger's validation codes, `kind.{kind}` and
//! `kind.{kind}.plural` for record kinds (lower case, for use inside sentences), `role.{role}`. A key that
//! is not in the table is shown as itself and remembered ([`missing_keys`]) so that tests can fail on it.
//!
//! Date formats: Spanish `27/11/2026`, as dates are written in Cuba; English `27 Nov 2026`, day first with
//! the month's name, so that neither a British nor an American reader can misread it. Times are UTC with
//! 24-hour clocks and a `UTC` suffix: the ledger's clock is UTC and the network may span time zones.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{LazyLock, Mutex};

use medledger_contract::ehr::{Date, DateTime, RecordKind};
use medledger_types::{Role, ValidationCode};

/// A language of the web application.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Lang {
    /// Spanish, the default.
    #[default]
    Es,
    En,
}

/// At most this many entries of an `Accept-Language` header are read (the rest are ignored), so that a
/// hostile header costs a bounded amount of work.
pub const ACCEPT_LANGUAGE_ENTRIES_MAX: usize = 32;

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Es, Lang::En];

    /// The language's code: `es` or `en` (for `<html lang>`, cookies and `?lang=`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// The language's name in itself, for the language switch.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Es => "Español",
            Lang::En => "English",
        }
    }

    /// The language an `Accept-Language` header prefers: the highest `q` among Spanish and English
    /// ranges (`es`, `es-CU`, `en-GB`, ...; `*` stands for Spanish), the earlier entry on a tie, and
    /// Spanish when none matches. Ranges with `q=0` or a malformed `q` are not acceptable.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for entry in header.split(',').take(ACCEPT_LANGUAGE_ENTRIES_MAX) {
            let mut parts = entry.split(';');
            let range = parts.next().unwrap_or_default().trim();
            let primary = range.split('-').next().unwrap_or_default();
            let lang = if range == "*" {
                Lang::default()
            } else if let Ok(lang) = primary.parse::<Lang>() {
                lang
            } else {
                continue;
            };
            let mut q = Some(1000);
            for param in parts {
                if let Some((name, value)) = param.split_once('=')
                    && name.trim().eq_ignore_ascii_case("q")
                {
                    q = parse_q(value.trim());
                }
            }
            match q {
                Some(q) if q > 0 && best.is_none_or(|(b, _)| q > b) => best = Some((q, lang)),
                _ => {}
            }
        }
        best.map(|(_, lang)| lang).unwrap_or_default()
    }
}

/// An RFC 9110 quality value (`0`, `0.5`, `1.000`) in thousandths; `None` if malformed.
fn parse_q(value: &str) -> Option<u16> {
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{frac:0<3}").parse::<u16>().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A string that is not `es` or `en`.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unknown language {0:?} (expected es or en)")]
pub struct UnknownLang(pub String);

impl FromStr for Lang {
    type Err = UnknownLang;
    /// `es` or `en`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("es") {
            Ok(Lang::Es)
        } else if s.eq_ignore_ascii_case("en") {
            Ok(Lang::En)
        } else {
            Err(UnknownLang(s.chars().take(16).collect()))
        }
    }
}

// --- the catalogue ----------------------------------------------------------------------------------

/// Every text of the web application: (key, English, Spanish). `{name}` marks a value filled in by
/// [`tf`].
static MESSAGES: &[(&str, &str, &str)] = &[
    // The application.
    ("app.name", "medledger", "medledger"),
    (
        "app.tagline",
        "Electronic health records on a permissioned blockchain",
        "Historias clínicas electrónicas en una cadena de bloques permisionada",
    ),
    (
        "app.skip_to_content",
        "Skip to the content",
        "Saltar al contenido",
    ),
    ("app.language", "Language", "Idioma"),
    ("app.home", "Home", "Inicio"),
    (
        "app.welcome",
        "Welcome, {name}",
        "Le damos la bienvenida, {name}",
    ),
    // Login.
    ("login.title", "Log in", "Iniciar sesión"),
    ("login.email", "Email", "Correo electrónico"),
    ("login.password", "Password", "Contraseña"),
    ("login.submit", "Log in", "Entrar"),
    (
        "login.wrong_credentials",
        "Wrong email or password.",
        "Correo electrónico o contraseña incorrectos.",
    ),
    (
        "login.logged_out",
        "You have logged out.",
        "Ha cerrado la sesión.",
    ),
    // Navigation.
    ("nav.label", "Main menu", "Menú principal"),
    ("nav.patients", "Patients", "Pacientes"),
    ("nav.doctors", "Doctors", "Médicos"),
    ("nav.admins", "Administrators", "Administradores"),
    (
        "nav.explorer",
        "Ledger explorer",
        "Explorador de la cadena de bloques",
    ),
    ("nav.logout", "Log out", "Cerrar sesión"),
    (
        "nav.change_password",
        "Change password",
        "Cambiar contraseña",
    ),
    (
        "nav.logged_in_as",
        "Logged in as {name}",
        "Sesión iniciada como {name}",
    ),
    // Lists.
    ("list.search", "Search", "Buscar"),
    (
        "list.search_patients",
        "Name, identity card number or patient ID",
        "Nombre, carné de identidad o ID del paciente",
    ),
    (
        "list.search_people",
        "Name or email",
        "Nombre o correo electrónico",
    ),
    ("list.next_page", "Next page", "Página siguiente"),
    ("list.previous_page", "Previous page", "Página anterior"),
    ("list.first_page", "First page", "Primera página"),
    ("list.no_results", "No results.", "No hay resultados."),
    ("list.name", "Name", "Nombre"),
    ("list.id", "ID", "ID"),
    ("list.email", "Email", "Correo electrónico"),
    ("list.view", "View", "Ver"),
    ("list.add_patient", "Add a patient", "Agregar paciente"),
    ("list.add_doctor", "Add a doctor", "Agregar médico"),
    (
        "list.add_admin",
        "Add an administrator",
        "Agregar administrador",
    ),
    // The patient chart.
    ("chart.title", "Patient chart", "Historia clínica"),
    ("chart.details", "Details", "Datos del paciente"),
    ("chart.notes", "Notes", "Notas"),
    (
        "chart.drug_exposures",
        "Drug exposures",
        "Exposiciones a medicamentos",
    ),
    ("chart.add_note", "Add a note", "Agregar nota"),
    (
        "chart.add_drug_exposure",
        "Add a drug exposure",
        "Agregar exposición a medicamento",
    ),
    ("chart.no_notes", "No notes yet.", "Todavía no hay notas."),
    (
        "chart.no_drug_exposures",
        "No drug exposures yet.",
        "Todavía no hay exposiciones a medicamentos.",
    ),
    ("chart.birth", "Born", "Nacimiento"),
    (
        "chart.back",
        "Back to the chart",
        "Volver a la historia clínica",
    ),
    // Forms.
    ("form.save", "Save", "Guardar"),
    ("form.cancel", "Cancel", "Cancelar"),
    ("form.required", "required", "obligatorio"),
    ("form.choose", "Choose…", "Seleccione…"),
    ("form.more_fields", "More OMOP fields", "Más campos OMOP"),
    (
        "form.fix_errors",
        "Some fields need correcting; see the messages next to them.",
        "Hay campos que corregir; vea los mensajes junto a ellos.",
    ),
    ("form.saved", "Saved.", "Guardado."),
    (
        "form.initial_password",
        "Initial password",
        "Contraseña inicial",
    ),
    (
        "form.times_utc",
        "Times are in UTC.",
        "Las horas están en UTC.",
    ),
    // Records and their history.
    ("record.history", "History", "Historial"),
    ("record.amend", "Amend", "Enmendar"),
    (
        "record.amendment_reason",
        "Reason for the amendment",
        "Motivo de la enmienda",
    ),
    (
        "record.amendment_reason_help",
        "Required. It is kept in the record's history.",
        "Obligatorio. Queda en el historial del registro.",
    ),
    ("record.version", "Version", "Versión"),
    (
        "record.current_version",
        "Current version",
        "Versión actual",
    ),
    ("record.signed_by", "Signed by", "Firmado por"),
    ("record.when", "When", "Cuándo"),
    ("record.block", "Block", "Bloque"),
    ("record.transaction", "Transaction", "Transacción"),
    ("record.reason", "Reason", "Motivo"),
    ("record.created", "Created", "Creado"),
    ("record.amended", "Amended", "Enmendado"),
    ("record.no_value", "—", "—"),
    (
        "record.view_in_explorer",
        "See it on the ledger",
        "Verlo en la cadena de bloques",
    ),
    // Web: clinical pages
    ("clinical.patient_untitled", "Patient {id}", "Paciente {id}"),
    ("clinical.note_title", "Note {id}", "Nota {id}"),
    (
        "clinical.drug_exposure_title",
        "Drug exposure {id}",
        "Exposición a medicamento {id}",
    ),
    ("clinical.record_title", "Record {id}", "Registro {id}"),
    (
        "clinical.chart_of",
        "Patient chart: {name}",
        "Historia clínica: {name}",
    ),
    ("clinical.patient", "Patient", "Paciente"),
    (
        "clinical.search_results",
        "Patients matching “{q}”",
        "Pacientes que coinciden con «{q}»",
    ),
    (
        "clinical.found_by_id",
        "The patient with ID {id}.",
        "El paciente con ID {id}.",
    ),
    (
        "clinical.search_stopped",
        "The search stopped after looking at {count} patients; there are more. Search by patient ID, or type more of the name or identity card number.",
        "La búsqueda se detuvo tras revisar {count} pacientes; hay más. Busque por ID del paciente o escriba más del nombre o del carné de identidad.",
    ),
    (
        "clinical.search_too_many",
        "Only the first {count} matches are shown; type more of the name or number.",
        "Solo se muestran las primeras {count} coincidencias; escriba más del nombre o del número.",
    ),
    (
        "clinical.all_patients",
        "Show all patients",
        "Ver todos los pacientes",
    ),
    (
        "clinical.chart_truncated",
        "Only the first {count} are shown.",
        "Solo se muestran los primeros {count}.",
    ),
    ("clinical.untitled", "(untitled)", "(sin título)"),
    (
        "clinical.add_note_for",
        "Add a note: {name}",
        "Agregar nota: {name}",
    ),
    (
        "clinical.add_drug_exposure_for",
        "Add a drug exposure: {name}",
        "Agregar exposición a medicamento: {name}",
    ),
    ("clinical.amend_title", "Amend: {what}", "Enmendar: {what}"),
    (
        "clinical.stale",
        "Someone amended this record after you opened the form (version {opened}); it is now at version {current}. Nothing was saved. The form below holds your changes over the current version: check it and save again.",
        "Alguien enmendó este registro después de que usted abrió el formulario (versión {opened}); ahora está en la versión {current}. No se guardó nada. El formulario de abajo tiene sus cambios sobre la versión actual: revíselo y vuelva a guardar.",
    ),
    (
        "clinical.changed_since",
        "Changed since you opened the form",
        "Cambiado desde que abrió el formulario",
    ),
    (
        "clinical.when_opened",
        "When you opened it",
        "Cuando lo abrió",
    ),
    ("clinical.now", "Now", "Ahora"),
    ("clinical.yours", "Yours", "Suyo"),
    (
        "clinical.history_title",
        "History: {what}",
        "Historial: {what}",
    ),
    ("clinical.changes", "Changes", "Cambios"),
    ("clinical.field", "Field", "Campo"),
    ("clinical.before", "Before", "Antes"),
    ("clinical.after", "After", "Después"),
    (
        "clinical.first_version",
        "The record as first written.",
        "El registro tal como se escribió por primera vez.",
    ),
    (
        "clinical.no_field_changed",
        "No field changed.",
        "No cambió ningún campo.",
    ),
    (
        "clinical.nothing_changed",
        "Nothing was changed: change at least one field.",
        "No se cambió nada: modifique al menos un campo.",
    ),
    (
        "clinical.history_truncated",
        "Only the first {count} versions are shown.",
        "Solo se muestran las primeras {count} versiones.",
    ),
    (
        "clinical.back_to_record",
        "Back to the record",
        "Volver al registro",
    ),
    (
        "clinical.back_to_patients",
        "Back to the patients",
        "Volver a los pacientes",
    ),
    // The ledger explorer.
    (
        "explorer.title",
        "Ledger explorer",
        "Explorador de la cadena de bloques",
    ),
    ("explorer.latest_blocks", "Latest blocks", "Últimos bloques"),
    ("explorer.block", "Block {number}", "Bloque {number}"),
    ("explorer.block_number", "Block number", "Número de bloque"),
    ("explorer.transactions", "Transactions", "Transacciones"),
    ("explorer.transaction", "Transaction", "Transacción"),
    (
        "explorer.transaction_id",
        "Transaction ID",
        "ID de la transacción",
    ),
    (
        "explorer.validation_code",
        "Validation code",
        "Código de validación",
    ),
    (
        "explorer.inclusion_proof",
        "Inclusion proof",
        "Prueba de inclusión",
    ),
    ("explorer.verified", "Verified", "Verificada"),
    ("explorer.not_verified", "Not verified", "No verificada"),
    ("explorer.verifying", "Checking…", "Comprobando…"),
    (
        "explorer.proof_mismatch",
        "the proof does not lead to the root hash of the signed checkpoint.",
        "la prueba no conduce al hash raíz del punto de control firmado.",
    ),
    (
        "explorer.no_webcrypto",
        "This browser cannot check the proof (no WebCrypto).",
        "Este navegador no puede comprobar la prueba (no tiene WebCrypto).",
    ),
    (
        "explorer.needs_javascript",
        "The proof is checked in your browser with JavaScript.",
        "La prueba se comprueba en su navegador con JavaScript.",
    ),
    ("explorer.checkpoint", "Checkpoint", "Punto de control"),
    ("explorer.ledger_size", "Ledger size", "Tamaño del registro"),
    ("explorer.root_hash", "Root hash", "Hash raíz"),
    ("explorer.leaf_index", "Leaf index", "Índice de hoja"),
    ("explorer.header_hash", "Header hash", "Hash de la cabecera"),
    (
        "explorer.previous_hash",
        "Previous block's hash",
        "Hash del bloque anterior",
    ),
    (
        "explorer.entries_root",
        "Entries root",
        "Raíz de las entradas",
    ),
    ("explorer.time", "Time", "Hora"),
    ("explorer.creator", "Signed by", "Firmada por"),
    ("explorer.function", "Function", "Función"),
    ("explorer.channel", "Channel", "Canal"),
    (
        "explorer.no_blocks",
        "No blocks yet.",
        "Todavía no hay bloques.",
    ),
    // Web: people and explorer pages
    (
        "people.clear_search",
        "Clear the search",
        "Quitar la búsqueda",
    ),
    ("people.pages", "Pages", "Páginas"),
    ("people.details", "Details", "Datos"),
    (
        "people.created",
        "Registered. They can log in now with the initial password.",
        "Registrado. Ya puede iniciar sesión con la contraseña inicial.",
    ),
    (
        "people.search_stopped",
        "The search looked through {count} records and stopped there; there may be more matches after them.",
        "La búsqueda revisó {count} registros y se detuvo; puede haber más coincidencias después.",
    ),
    (
        "explorer.older_blocks",
        "Older blocks",
        "Bloques anteriores",
    ),
    (
        "explorer.newest_blocks",
        "Newest blocks",
        "Bloques más recientes",
    ),
    ("explorer.index", "Index", "Índice"),
    ("explorer.contract", "Contract", "Contrato"),
    (
        "explorer.envelope_size",
        "Envelope size",
        "Tamaño del sobre",
    ),
    ("explorer.bytes", "{count} bytes", "{count} bytes"),
    ("explorer.tree_size", "Tree size", "Tamaño del árbol"),
    ("explorer.audit_path", "Audit path", "Ruta de auditoría"),
    ("explorer.leaf_hash", "Leaf hash", "Hash de la hoja"),
    (
        "explorer.ledger_root",
        "Ledger root after this block",
        "Raíz del registro tras este bloque",
    ),
    (
        "explorer.not_a_transaction",
        "Channel configuration",
        "Configuración del canal",
    ),
    (
        "explorer.proof_explained",
        "Your browser checks, with WebCrypto: (1) the checkpoint's Ed25519 signature, with the key in the signer's certificate; (2) that this certificate names a peer of the organization, was valid at the checkpoint's time, and carries the Ed25519 signature of the organization's root certificate shown below; (3) that SHA-256 of the envelope on this page is the proof's leaf, and that the audit path climbs from it to the root hash inside the signed checkpoint. It does not check whether the signer's certificate was revoked, and it cannot tell whether the root certificate is really your organization's: compare its fingerprint with the one your organization publishes elsewhere.",
        "Su navegador comprueba, con WebCrypto: (1) la firma Ed25519 del punto de control, con la clave del certificado del firmante; (2) que ese certificado nombra a un par (peer) de la organización, era válido en la hora del punto de control y lleva la firma Ed25519 del certificado raíz de la organización que se muestra abajo; (3) que el SHA-256 del sobre de esta página es la hoja de la prueba, y que la ruta de auditoría sube desde ella hasta el hash raíz que contiene el punto de control firmado. No comprueba si el certificado del firmante fue revocado, ni puede saber si el certificado raíz es de verdad el de su organización: compare su huella con la que su organización publica por otra vía.",
    ),
    (
        "explorer.proof_explained_withheld",
        "Your browser checks, with WebCrypto: (1) the checkpoint's Ed25519 signature, with the key in the signer's certificate; (2) that this certificate names a peer of the organization, was valid at the checkpoint's time, and carries the Ed25519 signature of the organization's root certificate shown below; (3) that the audit path climbs from the leaf hash to the root hash inside the signed checkpoint. The envelope is withheld from your role, so the leaf hash is the one this node gives: the check shows that a transaction with this leaf hash is in the signed ledger, not what the transaction contains. It does not check whether the signer's certificate was revoked, and it cannot tell whether the root certificate is really your organization's: compare its fingerprint with the one your organization publishes elsewhere.",
        "Su navegador comprueba, con WebCrypto: (1) la firma Ed25519 del punto de control, con la clave del certificado del firmante; (2) que ese certificado nombra a un par (peer) de la organización, era válido en la hora del punto de control y lleva la firma Ed25519 del certificado raíz de la organización que se muestra abajo; (3) que la ruta de auditoría sube desde el hash de la hoja hasta el hash raíz que contiene el punto de control firmado. El sobre no se muestra a su rol, así que el hash de la hoja es el que da este nodo: la comprobación muestra que una transacción con ese hash de hoja está en el registro firmado, no lo que contiene. No comprueba si el certificado del firmante fue revocado, ni puede saber si el certificado raíz es de verdad el de su organización: compare su huella con la que su organización publica por otra vía.",
    ),
    (
        "explorer.envelope_withheld",
        "Not shown: the envelope holds the call's content, and your role may not read clinical records.",
        "No se muestra: el sobre contiene los datos de la llamada, y su rol no puede leer registros clínicos.",
    ),
    (
        "explorer.signature_mismatch",
        "the checkpoint's signature does not verify with the key in the signer's certificate.",
        "la firma del punto de control no se verifica con la clave del certificado del firmante.",
    ),
    (
        "explorer.chain_mismatch",
        "the signer's certificate is not signed by an organization root certificate of this ledger.",
        "el certificado del firmante no está firmado por un certificado raíz de una organización de este registro.",
    ),
    (
        "explorer.signer_not_peer",
        "the signer's certificate does not name a peer of the root certificate's organization.",
        "el certificado del firmante no nombra a un par (peer) de la organización del certificado raíz.",
    ),
    (
        "explorer.signer_not_valid",
        "the signer's certificate was not valid at the checkpoint's time.",
        "el certificado del firmante no era válido en la hora del punto de control.",
    ),
    (
        "explorer.root_differs",
        "the root hash or tree size on this page is not the one in the signed checkpoint.",
        "el hash raíz o el tamaño del árbol de esta página no son los del punto de control firmado.",
    ),
    (
        "explorer.leaf_differs",
        "the envelope on this page does not hash to the proof's leaf.",
        "el sobre de esta página no da el hash de la hoja de la prueba.",
    ),
    (
        "explorer.no_ed25519",
        "This browser cannot check Ed25519 signatures (WebCrypto without Ed25519).",
        "Este navegador no puede comprobar firmas Ed25519 (WebCrypto sin Ed25519).",
    ),
    (
        "explorer.root_fingerprint",
        "Organization root certificate, SHA-256 fingerprint",
        "Certificado raíz de la organización, huella SHA-256",
    ),
    (
        "explorer.fingerprint_compare",
        "Computed by your browser from the certificate it checked, as “openssl x509 -noout -fingerprint -sha256” prints it. Compare it with the one your organization publishes elsewhere.",
        "Calculada por su navegador a partir del certificado que comprobó, como la escribe «openssl x509 -noout -fingerprint -sha256». Compárela con la que su organización publica por otra vía.",
    ),
    (
        "explorer.signed_root",
        "Root hash in the signed checkpoint",
        "Hash raíz del punto de control firmado",
    ),
    (
        "explorer.checkpoint_signer",
        "Checkpoint signed by",
        "Punto de control firmado por",
    ),
    (
        "explorer.proof_bad_data",
        "the proof data on this page is malformed.",
        "los datos de la prueba en esta página están mal formados.",
    ),
    (
        "explorer.proof_failed",
        "the check could not run: {reason}",
        "la comprobación no pudo hacerse: {reason}",
    ),
    ("explorer.envelope", "Envelope (base64)", "Sobre (base64)"),
    (
        "explorer.transactions_count",
        "Transactions",
        "Transacciones",
    ),
    // Password change and the first run.
    ("password.title", "Change password", "Cambiar contraseña"),
    ("password.current", "Current password", "Contraseña actual"),
    ("password.new", "New password", "Contraseña nueva"),
    (
        "password.confirm",
        "New password again",
        "Repita la contraseña nueva",
    ),
    (
        "password.rules",
        "At least {min} characters, and not easy to guess (no common password, keyboard run or repeated characters).",
        "Al menos {min} caracteres, y que no sea fácil de adivinar (ni una contraseña común, ni una secuencia del teclado, ni caracteres repetidos).",
    ),
    ("password.submit", "Change password", "Cambiar contraseña"),
    (
        "password.changed",
        "Your password has been changed.",
        "Su contraseña ha sido cambiada.",
    ),
    (
        "first_run.change_password",
        "Your password was chosen for you: choose your own before you go on.",
        "Su contraseña fue elegida por otra persona: elija la suya antes de continuar.",
    ),
    // Errors: field codes (contract and gateway) and problem codes.
    ("error.title", "Error", "Error"),
    (
        "error.required",
        "This field is required.",
        "Este campo es obligatorio.",
    ),
    ("error.too_long", "This is too long.", "Es demasiado largo."),
    (
        "error.too_short",
        "This is too short.",
        "Es demasiado corto.",
    ),
    (
        "error.too_weak",
        "Too easy to guess: avoid common passwords, keyboard runs and repeated characters. A few unrelated words make a strong password.",
        "Es demasiado fácil de adivinar: evite contraseñas comunes, secuencias del teclado y caracteres repetidos. Unas cuantas palabras sin relación entre sí forman una contraseña segura.",
    ),
    (
        "error.invalid_date",
        "Not a real date; write it as YYYY-MM-DD.",
        "No es una fecha válida; escríbala como DD/MM/AAAA o AAAA-MM-DD.",
    ),
    (
        "error.invalid_datetime",
        "Not a real date and time.",
        "No es una fecha y hora válida.",
    ),
    (
        "error.end_before_start",
        "The end is before the start.",
        "El fin es anterior al inicio.",
    ),
    (
        "error.unknown_patient",
        "There is no patient with this ID.",
        "No hay ningún paciente con este ID.",
    ),
    (
        "error.out_of_range",
        "This value is out of range.",
        "Este valor está fuera del rango permitido.",
    ),
    (
        "error.invalid_email",
        "Not an email address like name@example.org.",
        "No es un correo electrónico como nombre@ejemplo.cu.",
    ),
    (
        "error.immutable",
        "This value identifies the record and cannot change.",
        "Este valor identifica el registro y no puede cambiar.",
    ),
    (
        "error.not_an_integer",
        "Write a whole number.",
        "Escriba un número entero.",
    ),
    (
        "error.not_a_decimal",
        "Write a number such as 12.5.",
        "Escriba un número como 12,5.",
    ),
    (
        "error.duplicate_field",
        "This field was sent twice.",
        "Este campo se envió dos veces.",
    ),
    (
        "error.unknown_field",
        "There is no such field.",
        "No existe ese campo.",
    ),
    (
        "error.wrong_password",
        "The current password is wrong.",
        "La contraseña actual es incorrecta.",
    ),
    (
        "error.passwords_differ",
        "The two new passwords are not the same.",
        "Las dos contraseñas nuevas no coinciden.",
    ),
    (
        "error.bad_request",
        "The request was not understood.",
        "No se entendió la solicitud.",
    ),
    ("error.unauthorized", "Please log in.", "Inicie sesión."),
    (
        "error.invalid_credentials",
        "Wrong email or password.",
        "Correo electrónico o contraseña incorrectos.",
    ),
    (
        "error.forbidden",
        "You are not allowed to do this.",
        "No tiene permiso para hacer esto.",
    ),
    (
        "error.pending",
        "Sent, but not confirmed yet: it may still be saved. Look up its transaction before you send it again.",
        "Enviado, pero aún sin confirmar: puede que todavía se guarde. Consulte su transacción antes de enviarlo de nuevo.",
    ),
    (
        "error.password_change_required",
        "Choose your own password first.",
        "Primero elija su propia contraseña.",
    ),
    (
        "error.blank",
        "Has nothing visible in it: leave it empty instead.",
        "No tiene nada visible: déjelo vacío.",
    ),
    (
        "error.control_character",
        "Holds a control character, which is not allowed here.",
        "Contiene un carácter de control, que aquí no se admite.",
    ),
    (
        "error.bidi_control",
        "Holds a character that reverses the direction of the text, which is not allowed in names.",
        "Contiene un carácter que invierte la dirección del texto, que no se admite en nombres.",
    ),
    (
        "error.not_found",
        "This page or record does not exist.",
        "Esta página o registro no existe.",
    ),
    (
        "error.conflict",
        "A record with this ID or email already exists.",
        "Ya existe un registro con este ID o correo electrónico.",
    ),
    (
        "error.precondition_failed",
        "The record was amended by someone else since you opened it.",
        "Otra persona enmendó el registro desde que usted lo abrió.",
    ),
    (
        "error.payload_too_large",
        "What you sent is too large.",
        "Lo que envió es demasiado grande.",
    ),
    (
        "error.validation_failed",
        "Some fields need correcting.",
        "Hay campos que corregir.",
    ),
    (
        "error.rate_limited",
        "Too many attempts. Wait a moment and try again.",
        "Demasiados intentos. Espere un momento y vuelva a intentarlo.",
    ),
    (
        "error.rate_limited_seconds",
        "Too many attempts. Try again in {seconds} s.",
        "Demasiados intentos. Vuelva a intentarlo dentro de {seconds} s.",
    ),
    (
        "error.rate_limited_minutes",
        "Too many attempts. Try again in {minutes} min.",
        "Demasiados intentos. Vuelva a intentarlo dentro de {minutes} min.",
    ),
    (
        "error.unavailable",
        "The node is not ready. Try again shortly.",
        "El nodo no está listo. Vuelva a intentarlo en breve.",
    ),
    (
        "error.internal",
        "Something went wrong on the server.",
        "Algo falló en el servidor.",
    ),
    (
        "error.session_expired",
        "Your session has expired. Please log in again.",
        "Su sesión ha caducado. Inicie sesión de nuevo.",
    ),
    (
        "error.csrf",
        "This form has expired. Reload the page and try again.",
        "Este formulario ha caducado. Recargue la página y vuelva a intentarlo.",
    ),
    // The ledger's validation codes (`ValidationCode::as_str`).
    ("validation.valid", "Valid", "Válida"),
    (
        "validation.malformed_envelope",
        "Malformed envelope",
        "Sobre mal formado",
    ),
    (
        "validation.bad_signature",
        "Bad signature",
        "Firma no válida",
    ),
    (
        "validation.unknown_certificate",
        "Unknown certificate",
        "Certificado desconocido",
    ),
    (
        "validation.revoked_certificate",
        "Revoked certificate",
        "Certificado revocado",
    ),
    (
        "validation.endorsement_policy_failure",
        "Endorsement policy not met",
        "Política de respaldo no cumplida",
    ),
    (
        "validation.duplicate_tx_id",
        "Duplicate transaction ID",
        "ID de transacción repetido",
    ),
    (
        "validation.mvcc_read_conflict",
        "Read conflict (the data changed meanwhile)",
        "Conflicto de lectura (los datos cambiaron mientras tanto)",
    ),
    (
        "validation.contract_refused",
        "Refused by the contract",
        "Rechazada por el contrato",
    ),
    (
        "validation.wrong_channel",
        "Wrong channel",
        "Canal equivocado",
    ),
    (
        "validation.bad_config_update",
        "Invalid configuration update",
        "Actualización de configuración no válida",
    ),
    (
        "validation.unknown_certificate_hash",
        "Certificate named by an unknown hash",
        "Certificado nombrado por un hash desconocido",
    ),
    (
        "validation.outside_time_window",
        "Dated outside the allowed time window",
        "Fechada fuera del margen de tiempo permitido",
    ),
    // Record kinds, lower case.
    ("kind.patient", "patient", "paciente"),
    ("kind.patient.plural", "patients", "pacientes"),
    ("kind.note", "note", "nota"),
    ("kind.note.plural", "notes", "notas"),
    (
        "kind.drug_exposure",
        "drug exposure",
        "exposición a medicamento",
    ),
    (
        "kind.drug_exposure.plural",
        "drug exposures",
        "exposiciones a medicamentos",
    ),
    ("kind.doctor", "doctor", "médico"),
    ("kind.doctor.plural", "doctors", "médicos"),
    ("kind.admin", "administrator", "administrador"),
    ("kind.admin.plural", "administrators", "administradores"),
    // Roles.
    ("role.admin", "Administrator", "Administrador"),
    ("role.doctor", "Doctor", "Médico"),
    ("role.peer", "Peer", "Nodo par"),
    ("role.orderer", "Orderer", "Ordenador"),
    ("role.client", "Client", "Cliente"),
    ("role.auditor", "Auditor", "Auditor"),
];

static INDEX: LazyLock<HashMap<&'static str, (&'static str, &'static str)>> = LazyLock::new(|| {
    MESSAGES
        .iter()
        .map(|&(key, en, es)| (key, (en, es)))
        .collect()
});

/// At most this many distinct missing keys are remembered.
pub const MISSING_KEYS_COUNT_MAX: usize = 256;

static MISSING: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The text of `key` in `lang`; an unknown key is returned as it is (and remembered, see
/// [`missing_keys`]), so a page never fails over a missing text.
pub fn t(lang: Lang, key: &str) -> &str {
    match INDEX.get(key) {
        Some(&(en, es)) => match lang {
            Lang::En => en,
            Lang::Es => es,
        },
        None => {
            remember_missing(key);
            key
        }
    }
}

/// [`t`] with every `{name}` replaced by its value, e.g. `tf(lang, "password.rules", &[("min", "12")])`.
pub fn tf(lang: Lang, key: &str, values: &[(&str, &str)]) -> String {
    let mut text = t(lang, key).to_owned();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// Whether the catalogue has `key`.
pub fn has(key: &str) -> bool {
    INDEX.contains_key(key)
}

/// Every key of the catalogue, in table order.
pub fn keys() -> impl Iterator<Item = &'static str> {
    MESSAGES.iter().map(|&(key, _, _)| key)
}

fn remember_missing(key: &str) {
    let mut missing = MISSING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if missing.len() < MISSING_KEYS_COUNT_MAX && !missing.contains(key) {
        tracing::warn!(key, "no text for this key");
        missing.insert(key.to_owned());
    }
}

/// The keys looked up so far that the catalogue does not have (at most [`MISSING_KEYS_COUNT_MAX`]).
/// Page tests assert that this stays empty.
pub fn missing_keys() -> Vec<String> {
    let missing = MISSING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    missing.iter().cloned().collect()
}

/// The name of a record kind, lower case: `paciente` / `pacientes`.
pub fn kind_name(lang: Lang, kind: RecordKind, plural: bool) -> &'static str {
    let key = match (kind, plural) {
        (RecordKind::Patient, false) => "kind.patient",
        (RecordKind::Patient, true) => "kind.patient.plural",
        (RecordKind::Note, false) => "kind.note",
        (RecordKind::Note, true) => "kind.note.plural",
        (RecordKind::DrugExposure, false) => "kind.drug_exposure",
        (RecordKind::DrugExposure, true) => "kind.drug_exposure.plural",
        (RecordKind::Doctor, false) => "kind.doctor",
        (RecordKind::Doctor, true) => "kind.doctor.plural",
        (RecordKind::Admin, false) => "kind.admin",
        (RecordKind::Admin, true) => "kind.admin.plural",
    };
    t(lang, key)
}

/// The name of a validation code (a new code fails to compile here until it has a text).
pub fn validation_code_name(lang: Lang, code: ValidationCode) -> &'static str {
    let key = match code {
        ValidationCode::Valid => "validation.valid",
        ValidationCode::MalformedEnvelope => "validation.malformed_envelope",
        ValidationCode::BadSignature => "validation.bad_signature",
        ValidationCode::UnknownCertificate => "validation.unknown_certificate",
        ValidationCode::RevokedCertificate => "validation.revoked_certificate",
        ValidationCode::EndorsementPolicyFailure => "validation.endorsement_policy_failure",
        ValidationCode::DuplicateTxId => "validation.duplicate_tx_id",
        ValidationCode::MvccReadConflict => "validation.mvcc_read_conflict",
        ValidationCode::ContractRefused => "validation.contract_refused",
        ValidationCode::WrongChannel => "validation.wrong_channel",
        ValidationCode::BadConfigUpdate => "validation.bad_config_update",
        ValidationCode::UnknownCertificateHash => "validation.unknown_certificate_hash",
        ValidationCode::OutsideTimeWindow => "validation.outside_time_window",
    };
    t(lang, key)
}

/// The name of a role.
pub fn role_name(lang: Lang, role: Role) -> &'static str {
    let key = match role {
        Role::Admin => "role.admin",
        Role::Doctor => "role.doctor",
        Role::Peer => "role.peer",
        Role::Orderer => "role.orderer",
        Role::Client => "role.client",
        Role::Auditor => "role.auditor",
    };
    t(lang, key)
}

// --- dates and times ----------------------------------------------------------------------------------

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A date in `lang`'s local format: `27/11/2026` (es), `27 Nov 2026` (en).
pub fn format_date(lang: Lang, date: Date) -> String {
    let (y, m, d) = (date.year(), date.month(), date.day());
    match lang {
        Lang::Es => format!("{d:02}/{m:02}/{y:04}"),
        Lang::En => {
            // `Date` guarantees 1..=12; the fallback only keeps this total.
            let month = usize::try_from(m - 1)
                .ok()
                .and_then(|i| MONTHS_EN.get(i))
                .copied()
                .unwrap_or("?");
            format!("{d} {month} {y:04}")
        }
    }
}

/// A UTC instant in `lang`'s local format with a 24-hour time: `27/11/2026 14:05:09 UTC`,
/// `27 Nov 2026 14:05:09 UTC`.
pub fn format_datetime(lang: Lang, t: DateTime) -> String {
    let (h, m, s) = t.time();
    format!("{} {h:02}:{m:02}:{s:02} UTC", format_date(lang, t.date()))
}

/// A Unix time in milliseconds (as blocks and history carry) like [`format_datetime`], to the second.
/// An instant outside years 1..=9999 is shown as its number of milliseconds.
pub fn format_timestamp_ms(lang: Lang, unix_ms: i64) -> String {
    match DateTime::from_unix_seconds(unix_ms.div_euclid(1000)) {
        Ok(t) => format_datetime(lang, t),
        Err(_) => format!("{unix_ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::{FieldErrorKind, fields};

    #[test]
    fn every_key_is_unique_and_has_both_texts() {
        let mut seen = BTreeSet::new();
        for &(key, en, es) in MESSAGES {
            assert!(seen.insert(key), "{key} is in the table twice");
            assert!(!en.trim().is_empty() && !es.trim().is_empty(), "{key}");
            assert!(!key.contains(' '), "{key}");
            // Placeholders must be the same in both languages.
            let names = |text: &str| -> BTreeSet<String> {
                text.split('{')
                    .skip(1)
                    .filter_map(|s| s.split_once('}').map(|(n, _)| n.to_owned()))
                    .collect()
            };
            assert_eq!(names(en), names(es), "{key}");
        }
        assert_eq!(INDEX.len(), MESSAGES.len());
    }

    #[test]
    fn the_pages_have_their_texts() {
        let needed = [
            "login.email",
            "login.password",
            "login.submit",
            "login.wrong_credentials",
            "nav.patients",
            "nav.doctors",
            "nav.admins",
            "nav.explorer",
            "nav.logout",
            "nav.change_password",
            "list.search",
            "list.next_page",
            "list.previous_page",
            "list.no_results",
            "chart.details",
            "chart.notes",
            "chart.drug_exposures",
            "chart.add_note",
            "chart.add_drug_exposure",
            "record.history",
            "record.amend",
            "record.amendment_reason",
            "record.version",
            "record.signed_by",
            "record.when",
            "record.block",
            "record.transaction",
            "explorer.latest_blocks",
            "explorer.block",
            "explorer.transactions",
            "explorer.validation_code",
            "explorer.inclusion_proof",
            "explorer.verified",
            "explorer.not_verified",
            "explorer.checkpoint",
            "error.required",
            "error.invalid_date",
            "error.end_before_start",
            "error.unknown_patient",
            "error.too_long",
            "error.forbidden",
            "error.not_found",
            "error.session_expired",
            "first_run.change_password",
            "password.title",
            "password.current",
            "password.new",
            "password.confirm",
        ];
        for key in needed {
            assert!(has(key), "{key}");
        }
    }

    #[test]
    fn every_error_code_has_a_message() {
        // The contract's field codes, the gateway's field and problem codes, and the form parser's.
        use medledger_contract::error::codes;
        let contract = [
            codes::REQUIRED,
            codes::TOO_LONG,
            codes::INVALID_DATE,
            codes::END_BEFORE_START,
            codes::UNKNOWN_PATIENT,
            codes::OUT_OF_RANGE,
            codes::INVALID_EMAIL,
            codes::IMMUTABLE,
        ];
        let gateway = [
            "too_short",
            "too_weak",
            "unknown_field",
            "wrong_password",
            "bad_request",
            "unauthorized",
            "invalid_credentials",
            "forbidden",
            "not_found",
            "conflict",
            "payload_too_large",
            "validation_failed",
            "rate_limited",
            "unavailable",
            "internal",
        ];
        for code in contract.into_iter().chain(gateway) {
            assert!(has(&format!("error.{code}")), "{code}");
        }
        let form = [
            FieldErrorKind::Required,
            FieldErrorKind::TooLong,
            FieldErrorKind::NotAnInteger,
            FieldErrorKind::NotADecimal,
            FieldErrorKind::InvalidDate,
            FieldErrorKind::InvalidDateTime,
            FieldErrorKind::InvalidEmail,
            FieldErrorKind::Duplicate,
        ];
        for kind in form {
            assert!(has(&kind.message_key()), "{kind:?}");
        }
    }

    #[test]
    fn every_validation_code_role_and_kind_has_a_name() {
        // Every code there is, found through its one-byte encoding.
        let codes: Vec<ValidationCode> = (0..=u8::MAX)
            .filter_map(|b| borsh::from_slice::<ValidationCode>(&[b]).ok())
            .collect();
        assert_eq!(codes.len(), 13);
        for code in codes {
            assert!(has(&format!("validation.{}", code.as_str())), "{code}");
            for lang in Lang::ALL {
                assert_ne!(validation_code_name(lang, code), code.as_str());
            }
        }
        for role in Role::ALL {
            assert!(has(&format!("role.{}", role.as_str())), "{role}");
            assert!(!role_name(Lang::Es, role).is_empty());
        }
        for kind in RecordKind::ALL {
            for lang in Lang::ALL {
                assert!(has(&format!("kind.{}", kind.as_str())));
                assert!(has(&format!("kind.{}.plural", kind.as_str())));
                assert_ne!(kind_name(lang, kind, false), kind_name(lang, kind, true));
            }
        }
        assert_eq!(
            kind_name(Lang::Es, RecordKind::DrugExposure, true),
            "exposiciones a medicamentos"
        );
    }

    #[test]
    fn unknown_keys_show_as_themselves_and_are_remembered() {
        assert_eq!(t(Lang::Es, "no.such.key"), "no.such.key");
        assert!(missing_keys().contains(&"no.such.key".to_owned()));
        assert_eq!(t(Lang::Es, "nav.patients"), "Pacientes");
        assert_eq!(t(Lang::En, "nav.patients"), "Patients");
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            tf(Lang::Es, "password.rules", &[("min", "12")]),
            "Al menos 12 caracteres, y que no sea fácil de adivinar (ni una contraseña común, ni una \
             secuencia del teclado, ni caracteres repetidos)."
        );
        assert_eq!(
            tf(Lang::En, "explorer.block", &[("number", "7")]),
            "Block 7"
        );
    }

    #[test]
    fn field_labels_are_not_catalogue_keys() {
        // Field texts live with the fields; make sure none was left empty or untranslated by mistake.
        for kind in RecordKind::ALL {
            for spec in fields(kind) {
                assert!(!spec.label.get(Lang::Es).is_empty());
                assert!(!spec.label.get(Lang::En).is_empty());
            }
        }
    }

    #[test]
    fn accept_language_picks_the_preferred_language() {
        let cases = [
            ("", Lang::Es),
            ("es", Lang::Es),
            ("en", Lang::En),
            ("EN-gb", Lang::En),
            ("es-CU,es;q=0.9,en;q=0.8", Lang::Es),
            ("en-US,en;q=0.9,es;q=0.8", Lang::En),
            ("fr-FR,fr;q=0.9,en;q=0.5", Lang::En),
            ("fr, de", Lang::Es),
            ("en;q=0.3, es;q=0.7", Lang::Es),
            ("es;q=0.3, en;q=0.7", Lang::En),
            ("en;q=0, es;q=0", Lang::Es),
            ("en;q=0", Lang::Es),
            ("en; q=0.5", Lang::En),
            ("en;q=1.5, es;q=0.1", Lang::Es),
            ("en;q=abc", Lang::Es),
            ("en;q=0.5, es;q=0.5", Lang::En),
            ("*", Lang::Es),
            ("*;q=0.1, en;q=0.2", Lang::En),
            ("english", Lang::Es),
            (",,;;==,", Lang::Es),
        ];
        for (header, want) in cases {
            assert_eq!(Lang::from_accept_language(header), want, "{header:?}");
        }
        let long = format!("{}en", "fr,".repeat(ACCEPT_LANGUAGE_ENTRIES_MAX));
        assert_eq!(Lang::from_accept_language(&long), Lang::Es);
    }

    #[test]
    fn quality_values() {
        let cases = [
            ("1", Some(1000)),
            ("1.0", Some(1000)),
            ("1.000", Some(1000)),
            ("1.001", None),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.123", Some(123)),
            ("0.1234", None),
            ("0.", Some(0)),
            ("-0.5", None),
            ("", None),
            ("0.+1", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_q(text), want, "{text:?}");
        }
    }

    #[test]
    fn languages_parse_from_their_codes() {
        let cases = [
            ("es", Ok(Lang::Es)),
            ("ES", Ok(Lang::Es)),
            ("en", Ok(Lang::En)),
            ("En", Ok(Lang::En)),
            ("fr", Err(UnknownLang("fr".into()))),
            ("es-CU", Err(UnknownLang("es-CU".into()))),
            ("", Err(UnknownLang(String::new()))),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<Lang>(), want, "{text:?}");
        }
        for lang in Lang::ALL {
            assert_eq!(lang.code().parse::<Lang>(), Ok(lang));
            assert_eq!(lang.to_string(), lang.code());
        }
        assert_eq!(Lang::default(), Lang::Es);
    }

    #[test]
    fn dates_and_times_in_local_formats() {
        let date = |y, m, d| Date::new(y, m, d).unwrap_or_else(|e| panic!("{e}"));
        let cases = [
            (date(2026, 11, 27), "27/11/2026", "27 Nov 2026"),
            (date(2024, 1, 5), "05/01/2024", "5 Jan 2024"),
            (date(1, 12, 31), "31/12/0001", "31 Dec 0001"),
        ];
        for (d, es, en) in cases {
            assert_eq!(format_date(Lang::Es, d), es);
            assert_eq!(format_date(Lang::En, d), en);
        }
        // 2026-11-27T14:05:09.999Z
        let ms =
            (date(2026, 11, 27).days_since_epoch() * 86_400 + 14 * 3600 + 5 * 60 + 9) * 1000 + 999;
        let cases = [
            (ms, "27/11/2026 14:05:09 UTC", "27 Nov 2026 14:05:09 UTC"),
            (0, "01/01/1970 00:00:00 UTC", "1 Jan 1970 00:00:00 UTC"),
            (-1, "31/12/1969 23:59:59 UTC", "31 Dec 1969 23:59:59 UTC"),
            (i64::MAX, "9223372036854775807 ms", "9223372036854775807 ms"),
            (
                i64::MIN,
                "-9223372036854775808 ms",
                "-9223372036854775808 ms",
            ),
        ];
        for (ms, es, en) in cases {
            assert_eq!(format_timestamp_ms(Lang::Es, ms), es, "{ms}");
            assert_eq!(format_timestamp_ms(Lang::En, ms), en, "{ms}");
        }
    }
}
