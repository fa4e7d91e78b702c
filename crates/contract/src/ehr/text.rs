//! What a person can see in a text, and what may not be in one: the character classes behind the
//! validation of every text field ([`super::validate`]) and behind the patterns the API document states
//! for them ([`super::schema`]), so that both say the same.
//!
//! - **Invisible**: white space (Unicode `White_Space`, as `char::is_whitespace`) and the format and
//!   filler characters that print nothing ([`INVISIBLE_FORMAT`]: zero-width spaces and joiners, the
//!   word joiner, the byte-order mark, soft hyphens, Hangul fillers, variation selectors, bidirectional
//!   marks...). A text with nothing but these is blank.
//! - **Control**: Unicode `Cc` (`char::is_control`: NUL, escape (ANSI sequences), DEL, C1). Never in
//!   a text, except line ends and tabs in long texts ([`LONG_TEXT_CONTROLS`]).
//! - **Bidirectional controls** ([`BIDI_CONTROLS`]): embeddings, overrides and isolates, which reorder
//!   what follows them on screen. Never in names and identifiers (short texts); allowed in long texts,
//!   where right-to-left writing may need them.

/// The invisible characters that are not white space: format and filler characters that print nothing.
/// All in the Basic Multilingual Plane, so the API document's patterns can name them as `\uXXXX`.
pub const INVISIBLE_FORMAT: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'), // soft hyphen
    ('\u{034F}', '\u{034F}'), // combining grapheme joiner
    ('\u{061C}', '\u{061C}'), // Arabic letter mark
    ('\u{115F}', '\u{1160}'), // Hangul choseong and jungseong fillers
    ('\u{17B4}', '\u{17B5}'), // Khmer inherent vowels
    ('\u{180B}', '\u{180F}'), // Mongolian free variation selectors and vowel separator
    ('\u{200B}', '\u{200F}'), // zero-width space, non-joiner, joiner; left-to-right and right-to-left marks
    ('\u{202A}', '\u{202E}'), // bidirectional embeddings and overrides
    ('\u{2060}', '\u{2064}'), // word joiner, invisible operators
    ('\u{2066}', '\u{206F}'), // bidirectional isolates; deprecated format characters
    ('\u{3164}', '\u{3164}'), // Hangul filler
    ('\u{FE00}', '\u{FE0F}'), // variation selectors
    ('\u{FEFF}', '\u{FEFF}'), // zero-width no-break space (byte-order mark)
    ('\u{FFA0}', '\u{FFA0}'), // halfwidth Hangul filler
];

/// Bidirectional embeddings, overrides and isolates.
pub const BIDI_CONTROLS: &[(char, char)] = &[('\u{202A}', '\u{202E}'), ('\u{2066}', '\u{2069}')];

/// The control characters a long text may hold: line feed, carriage return (in `\r\n`) and tab.
pub const LONG_TEXT_CONTROLS: [char; 3] = ['\n', '\r', '\t'];

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges
        .iter()
        .any(|(first, last)| (*first..=*last).contains(&c))
}

/// Whether `c` prints nothing: white space or an invisible format character.
pub fn is_invisible(c: char) -> bool {
    c.is_whitespace() || in_ranges(c, INVISIBLE_FORMAT)
}

/// Whether `text` has at least one character a person can see.
pub fn has_visible(text: &str) -> bool {
    text.chars().any(|c| !is_invisible(c) && !c.is_control())
}

/// What kind of text a field holds, for the characters it may not hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TextKind {
    /// A name, an identifier, a title, a source value: one line.
    Short,
    /// A note's text, instructions, a reason: lines of prose.
    Long,
}

/// Why a character may not be in a text of this kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Forbidden {
    Control,
    Bidi,
}

impl TextKind {
    /// Why `c` may not be in such a text, if it may not.
    pub fn forbids(self, c: char) -> Option<Forbidden> {
        match self {
            _ if c.is_control() && !(self == TextKind::Long && LONG_TEXT_CONTROLS.contains(&c)) => {
                Some(Forbidden::Control)
            }
            TextKind::Short if in_ranges(c, BIDI_CONTROLS) => Some(Forbidden::Bidi),
            _ => None,
        }
    }

    /// The first character of `text` such a text may not hold, with its position (in characters).
    pub fn first_forbidden(self, text: &str) -> Option<(usize, char, Forbidden)> {
        text.chars()
            .enumerate()
            .find_map(|(at, c)| self.forbids(c).map(|why| (at, c, why)))
    }

    /// The characters such a text may not hold, as ranges (for the API document's patterns).
    pub fn forbidden_ranges(self) -> Vec<(char, char)> {
        let mut ranges = vec![('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')];
        if self == TextKind::Long {
            // Cut line feed, carriage return and tab out of the C0 range.
            ranges = vec![
                ('\u{0}', '\u{8}'),
                ('\u{B}', '\u{C}'),
                ('\u{E}', '\u{1F}'),
                ('\u{7F}', '\u{9F}'),
            ];
        } else {
            ranges.extend_from_slice(BIDI_CONTROLS);
        }
        ranges
    }
}

/// Every character for which `test` holds, as runs of consecutive code points (surrogates skipped).
pub fn runs(test: impl Fn(char) -> bool) -> Vec<(char, char)> {
    let mut runs: Vec<(char, char)> = Vec::new();
    for c in (0..=char::MAX as u32).filter_map(char::from_u32) {
        if !test(c) {
            continue;
        }
        match runs.last_mut() {
            Some((_, last)) if u32::from(*last) + 1 == u32::from(c) => *last = c,
            _ => runs.push((c, c)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classes_say_what_a_person_sees() {
        for blank in [
            "",
            " ",
            "\u{200B}\u{200D}",
            "\u{3000}\u{FEFF}",
            "\u{00AD}\t",
        ] {
            assert!(!has_visible(blank), "{blank:?}");
        }
        for visible in ["a", " Ana ", "\u{200B}x", "ñ", "李"] {
            assert!(has_visible(visible), "{visible:?}");
        }
        assert_eq!(
            TextKind::Short.first_forbidden("Ana\u{202E}zeréP"),
            Some((3, '\u{202E}', Forbidden::Bidi))
        );
        assert_eq!(TextKind::Long.first_forbidden("a\u{202E}b"), None);
        assert_eq!(
            TextKind::Short.first_forbidden("x\u{1B}[31m"),
            Some((1, '\u{1B}', Forbidden::Control))
        );
        assert_eq!(TextKind::Long.first_forbidden("line\r\nnext\tcol"), None);
        assert_eq!(
            TextKind::Long.first_forbidden("a\u{0}"),
            Some((1, '\u{0}', Forbidden::Control))
        );
        assert_eq!(
            TextKind::Short.first_forbidden("a\nb"),
            Some((1, '\n', Forbidden::Control))
        );
    }

    #[test]
    fn the_forbidden_ranges_are_exactly_the_forbidden_characters() {
        for kind in [TextKind::Short, TextKind::Long] {
            assert_eq!(runs(|c| kind.forbids(c).is_some()), kind.forbidden_ranges());
        }
    }
}
