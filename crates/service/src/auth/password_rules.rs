//! What makes a new password acceptable: a length ([`PASSWORD_CHARS_MIN`]..=[`PASSWORD_CHARS_MAX`])
//! and some real variety. Length alone let twelve spaces through; so a new password is also refused
//! (`too_weak`) when it is blank, has fewer than [`PASSWORD_DISTINCT_CHARS_MIN`] different
//! characters, runs along the keyboard or the alphabet, or is a common password ([`COMMON_PASSWORDS`])
//! dressed up: in other case, with spaces, with digits or symbols at its ends, in l33t spelling, or
//! repeated. These are the rules for passwords people choose; a generated one passes them.

use std::collections::HashSet;
use std::sync::OnceLock;

use crate::ServiceError;

/// Shortest password accepted, in characters.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longest password accepted, in characters (as the document's `maxLength` counts them; at most 4 KiB).
pub const PASSWORD_CHARS_MAX: usize = 1024;
/// Fewest different characters in a new password (ignoring case): `aaaaaaaaaaaa`, `abababababab` and
/// `121212121212` are long enough, yet a guesser tries them first.
pub const PASSWORD_DISTINCT_CHARS_MIN: usize = 5;
/// The shortest run of a keyboard row or of the alphabet that is refused as a whole password.
const SEQUENCE_CHARS_MIN: usize = 4;

const _: () = assert!(PASSWORD_DISTINCT_CHARS_MIN <= PASSWORD_CHARS_MIN);
const _: () = assert!(PASSWORD_CHARS_MIN <= PASSWORD_CHARS_MAX);

/// The most common passwords and stems, one a line, lower case (`#` starts a comment line).
pub const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// Runs a guesser walks along (forwards and backwards): the digits, the alphabet, the keyboard's rows
/// and columns.
const SEQUENCES: [&str; 5] = [
    "1234567890123456789012345678901234567890",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "qazwsxedcrfvtgbyhnujmikolp",
];

/// The field code of a password too easy to guess.
pub const TOO_WEAK: &str = "too_weak";
/// What a person is told when their new password is too easy to guess.
const TOO_WEAK_MESSAGE: &str = "too easy to guess: avoid common passwords, keyboard runs and \
    repeated characters; a few unrelated words make a strong password";

fn common_passwords() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// Checks a new password (registration, a password change, `MEDLEDGER_ADMIN_PASSWORD` at first run);
/// `field` names it in the 422. Outcomes: `Ok`; `too_short`; `too_long`; `too_weak` (see the module
/// doc).
pub fn check_new_password(field: &str, password: &str) -> Result<(), ServiceError> {
    if password.chars().count() < PASSWORD_CHARS_MIN {
        return Err(ServiceError::field(
            field,
            "too_short",
            format!("at least {PASSWORD_CHARS_MIN} characters"),
        ));
    }
    if password.chars().nth(PASSWORD_CHARS_MAX).is_some() {
        return Err(ServiceError::field(
            field,
            "too_long",
            format!("at most {PASSWORD_CHARS_MAX} characters"),
        ));
    }
    if is_weak(password) {
        return Err(ServiceError::field(field, TOO_WEAK, TOO_WEAK_MESSAGE));
    }
    Ok(())
}

/// Whether a password (of an acceptable length) is too easy to guess.
pub fn is_weak(password: &str) -> bool {
    let folded: String = password
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect();
    if folded.is_empty() {
        return true;
    }
    let distinct: HashSet<char> = folded.chars().collect();
    if distinct.len() < PASSWORD_DISTINCT_CHARS_MIN {
        return true;
    }
    let stem = folded.trim_matches(|c: char| !c.is_alphabetic());
    [
        folded.clone(),
        stem.to_owned(),
        unleet(&folded),
        unleet(stem),
    ]
    .iter()
    .any(|candidate| guessable(candidate))
}

/// A common password, a run along a sequence, or either repeated.
fn guessable(candidate: &str) -> bool {
    if candidate.is_empty() {
        return false;
    }
    let chars: Vec<char> = candidate.chars().collect();
    let whole = |text: &str| common_passwords().contains(text) || is_sequence(text);
    if whole(candidate) {
        return true;
    }
    // `qwertyqwerty`, `passwordpassword`: a guessable part said again.
    (1..=chars.len() / 2)
        .filter(|period| chars.len().is_multiple_of(*period))
        .any(|period| {
            chars.chunks(period).all(|chunk| chunk == &chars[..period])
                && whole(&chars[..period].iter().collect::<String>())
        })
}

/// A run of at least [`SEQUENCE_CHARS_MIN`] characters along one of [`SEQUENCES`], either way.
fn is_sequence(text: &str) -> bool {
    if text.chars().count() < SEQUENCE_CHARS_MIN {
        return false;
    }
    let reversed: String = text.chars().rev().collect();
    SEQUENCES
        .iter()
        .any(|sequence| sequence.contains(text) || sequence.contains(reversed.as_str()))
}

/// The word l33t spelling hides: `p@ssw0rd` is `password`.
fn unleet(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(password: &str) -> Option<String> {
        check_new_password("password", password)
            .err()
            .map(|e| e.field_problems()[0].code.clone())
    }

    #[test]
    fn weak_passwords_are_refused_too_weak_and_real_ones_pass() {
        let weak = [
            "            ",
            " \t          \n",
            "aaaaaaaaaaaa",
            "abababababab",
            "121212121212",
            "123456789012",
            "password1234",
            "Password1234!",
            "PASSWORD 2024",
            "p@ssw0rd12345",
            "1234password",
            "qwertyqwerty",
            "qwertyuiopas",
            "abcdefghijklm",
            "zyxwvutsrqpon",
            "iloveyou2024!",
            "contraseña123",
            "medledger2025",
            "1q2w3e4r5t6y",
            "letmeinletmein",
            "administrator1",
        ];
        for password in weak {
            assert_eq!(code(password).as_deref(), Some(TOO_WEAK), "{password:?}");
        }
        let fine = [
            "first-admin-password",
            "doctor-initial-password",
            "a much better passphrase",
            "correct horse battery staple",
            "Tr0ub4dor&3xyz",
            "ZfQ8s1mKp0aB",
            "mi perro se llama Coco",
        ];
        for password in fine {
            assert_eq!(code(password), None, "{password:?}");
        }
        assert_eq!(code("short").as_deref(), Some("too_short"));
        assert_eq!(
            code(&"x".repeat(PASSWORD_CHARS_MAX + 1)).as_deref(),
            Some("too_long")
        );
    }

    #[test]
    fn a_generated_password_is_never_weak() {
        for _ in 0..200 {
            let password = crate::start::generate_password();
            assert!(
                check_new_password("password", &password).is_ok(),
                "{password}"
            );
        }
    }

    #[test]
    fn the_list_is_short_lower_case_and_without_repeats() {
        let lines: Vec<&str> = COMMON_PASSWORDS
            .lines()
            .filter(|line| !line.starts_with('#'))
            .collect();
        assert!(lines.len() <= 400, "keep it short: {}", lines.len());
        assert_eq!(
            common_passwords().len(),
            lines.len(),
            "no repeats, no blank lines"
        );
        for line in lines {
            assert_eq!(line, line.trim().to_lowercase(), "{line:?}");
        }
    }
}
