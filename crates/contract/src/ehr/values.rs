//! The value types OMOP columns need beyond integers and text: [`Date`], [`DateTime`] and [`Decimal`].
//!
//! Each is valid by construction: the constructors, the serde (JSON) parsers and the borsh decoders all
//! refuse what is not a real value, so a decoded record never holds February 30th. Encodings:
//!
//! | type | JSON (serde) | borsh (canonical bytes) |
//! |---|---|---|
//! | [`Date`] | `"YYYY-MM-DD"` | year `u16`, month `u8`, day `u8` (4 bytes; decoding refuses non-calendar dates) |
//! | [`DateTime`] | `"YYYY-MM-DDTHH:MM:SSZ"` (UTC, whole seconds) | `i64` seconds since 1970-01-01T00:00:00Z |
//! | [`Decimal`] | `"12.50"` (a string; a JSON number is also accepted) | the decimal text as a borsh string |
//!
//! Years are 1..=9999 so that every value prints in the four-digit form. OMOP's `float` (a drug exposure's
//! `quantity`) is a [`Decimal`], never an `f64`: floats have several bit patterns for one value (and NaN),
//! so they would make canonical bytes ambiguous, and decimal text round-trips an OMOP file exactly. The text
//! is kept as written (`"1.50"` stays `"1.50"`), which is lossless and still deterministic.

use std::fmt;
use std::str::FromStr;

use borsh::io;
use borsh::{BorshDeserialize, BorshSerialize};

/// A value did not parse or is not a real date, time or number.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

pub const YEAR_MIN: i64 = 1;
pub const YEAR_MAX: i64 = 9999;

/// Whether `year` is a leap year in the proleptic Gregorian calendar.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days of `month` (1..=12) in `year`; 0 for a month outside 1..=12.
pub fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`; exact for all i32-sized years).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC calendar year of a Unix timestamp in milliseconds (any `i64`; no range limit).
pub fn year_of_unix_millis(ms: i64) -> i64 {
    civil_from_days(ms.div_euclid(1000).div_euclid(86_400)).0
}

/// A calendar date (proleptic Gregorian), year 1..=9999.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order gives chronological `Ord`.
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// A date, if `year`-`month`-`day` is a real one (February 29th only in leap years).
    pub fn new(year: i64, month: i64, day: i64) -> Result<Date, ValueError> {
        if !(YEAR_MIN..=YEAR_MAX).contains(&year) {
            return Err(ValueError(format!(
                "year {year} is outside {YEAR_MIN}..={YEAR_MAX}"
            )));
        }
        if !(1..=12).contains(&month) {
            return Err(ValueError(format!("month {month} is outside 1..=12")));
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(ValueError(format!("{year:04}-{month:02} has no day {day}")));
        }
        // The range checks above make these conversions lossless.
        Ok(Date {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }

    pub fn year(self) -> i64 {
        i64::from(self.year)
    }
    pub fn month(self) -> i64 {
        i64::from(self.month)
    }
    pub fn day(self) -> i64 {
        i64::from(self.day)
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        days_from_civil(self.year(), self.month(), self.day())
    }

    /// The date `days` days after 1970-01-01.
    pub fn from_days_since_epoch(days: i64) -> Result<Date, ValueError> {
        // Bound first so the arithmetic below cannot overflow.
        let min = days_from_civil(YEAR_MIN, 1, 1);
        let max = days_from_civil(YEAR_MAX, 12, 31);
        if !(min..=max).contains(&days) {
            return Err(ValueError(format!(
                "day {days} since 1970-01-01 is outside years {YEAR_MIN}..={YEAR_MAX}"
            )));
        }
        let (y, m, d) = civil_from_days(days);
        Date::new(y, m, d)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

/// Parses exactly `n` ASCII digits.
fn digits(s: &str, n: usize) -> Option<i64> {
    if s.len() != n || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl FromStr for Date {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError(format!("{s:?} is not a date of the form YYYY-MM-DD"));
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(bad());
        }
        let year = digits(&s[0..4], 4).ok_or_else(bad)?;
        let month = digits(&s[5..7], 2).ok_or_else(bad)?;
        let day = digits(&s[8..10], 2).ok_or_else(bad)?;
        Date::new(year, month, day)
    }
}

impl BorshSerialize for Date {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.year.serialize(writer)?;
        self.month.serialize(writer)?;
        self.day.serialize(writer)
    }
}

impl BorshDeserialize for Date {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let year = u16::deserialize_reader(reader)?;
        let month = u8::deserialize_reader(reader)?;
        let day = u8::deserialize_reader(reader)?;
        Date::new(year.into(), month.into(), day.into()).map_err(invalid_data)
    }
}

fn invalid_data(e: ValueError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.0)
}

/// An instant in UTC with whole-second precision, years 1..=9999.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime {
    unix_seconds: i64,
}

const SECONDS_PER_DAY: i64 = 86_400;

impl DateTime {
    /// The instant `unix_seconds` after 1970-01-01T00:00:00Z, if its year is within 1..=9999.
    pub fn from_unix_seconds(unix_seconds: i64) -> Result<DateTime, ValueError> {
        let min = days_from_civil(YEAR_MIN, 1, 1) * SECONDS_PER_DAY;
        let max = (days_from_civil(YEAR_MAX, 12, 31) + 1) * SECONDS_PER_DAY - 1;
        if !(min..=max).contains(&unix_seconds) {
            return Err(ValueError(format!(
                "{unix_seconds} s since 1970 is outside years {YEAR_MIN}..={YEAR_MAX}"
            )));
        }
        Ok(DateTime { unix_seconds })
    }

    /// The instant at `hour:minute:second` UTC on `date`.
    pub fn new(date: Date, hour: i64, minute: i64, second: i64) -> Result<DateTime, ValueError> {
        // No leap seconds: OMOP and RFC 3339 producers practically never emit :60, and POSIX time has none.
        if !(0..24).contains(&hour) || !(0..60).contains(&minute) || !(0..60).contains(&second) {
            return Err(ValueError(format!(
                "{hour:02}:{minute:02}:{second:02} is not a time of day"
            )));
        }
        Ok(DateTime {
            unix_seconds: date.days_since_epoch() * SECONDS_PER_DAY
                + hour * 3600
                + minute * 60
                + second,
        })
    }

    pub fn unix_seconds(self) -> i64 {
        self.unix_seconds
    }

    /// The UTC calendar date of this instant.
    pub fn date(self) -> Date {
        let (y, m, d) = civil_from_days(self.unix_seconds.div_euclid(SECONDS_PER_DAY));
        // In range by construction.
        Date {
            year: y as u16,
            month: m as u8,
            day: d as u8,
        }
    }

    /// Hours, minutes and seconds of the day (UTC).
    pub fn time(self) -> (i64, i64, i64) {
        let s = self.unix_seconds.rem_euclid(SECONDS_PER_DAY);
        (s / 3600, s / 60 % 60, s % 60)
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = self.time();
        write!(f, "{}T{h:02}:{m:02}:{s:02}Z", self.date())
    }
}

impl fmt::Debug for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DateTime({self})")
    }
}

impl FromStr for DateTime {
    type Err = ValueError;
    /// Accepts `YYYY-MM-DDTHH:MM:SSZ`; also a space or lower-case `t` as the separator and `z` or `+00:00`
    /// as the zone, as OMOP exports write them. Fractions and other offsets are refused (they would be
    /// lost or shifted silently).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ValueError(format!(
                "{s:?} is not a UTC datetime of the form YYYY-MM-DDTHH:MM:SSZ"
            ))
        };
        if !s.is_ascii() || s.len() < 20 {
            return Err(bad());
        }
        let date: Date = s[0..10].parse()?;
        let b = s.as_bytes();
        if !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
            return Err(bad());
        }
        if !matches!(&s[19..], "Z" | "z" | "+00:00") {
            return Err(bad());
        }
        let h = digits(&s[11..13], 2).ok_or_else(bad)?;
        let m = digits(&s[14..16], 2).ok_or_else(bad)?;
        let sec = digits(&s[17..19], 2).ok_or_else(bad)?;
        DateTime::new(date, h, m, sec)
    }
}

impl BorshSerialize for DateTime {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.unix_seconds.serialize(writer)
    }
}

impl BorshDeserialize for DateTime {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        DateTime::from_unix_seconds(i64::deserialize_reader(reader)?).map_err(invalid_data)
    }
}

/// Longest decimal text accepted, in bytes.
pub const DECIMAL_BYTES_MAX: usize = 40;

/// A decimal number kept as its text: an optional `-`, 1 to 30 digits, optionally `.` and 1 to 9 digits.
/// No exponent, no `+`, no NaN or infinity.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value is below zero (`-0` and `-0.00` are not).
    pub fn is_negative(&self) -> bool {
        self.0.starts_with('-') && self.0.bytes().any(|b| (b'1'..=b'9').contains(&b))
    }
}

impl FromStr for Decimal {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ValueError(format!("{s:?} is not a decimal number like 12.5"));
        if s.len() > DECIMAL_BYTES_MAX {
            return Err(bad());
        }
        let rest = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = match rest.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (rest, None),
        };
        let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || int.len() > 30 || !all_digits(int) {
            return Err(bad());
        }
        if let Some(f) = frac
            && (f.is_empty() || f.len() > 9 || !all_digits(f))
        {
            return Err(bad());
        }
        Ok(Decimal(s.to_owned()))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Decimal({})", self.0)
    }
}

impl BorshSerialize for Decimal {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        self.0.serialize(writer)
    }
}

impl BorshDeserialize for Decimal {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        // Read the length first so an oversized prefix is refused before any allocation.
        let len = u32::deserialize_reader(reader)? as usize;
        if len > DECIMAL_BYTES_MAX {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "decimal text too long",
            ));
        }
        let mut buf = vec![0u8; len];
        reader.read_exact(&mut buf)?;
        let s = String::from_utf8(buf)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "decimal is not UTF-8"))?;
        s.parse().map_err(invalid_data)
    }
}

// --- serde: the JSON forms served by the gateway -------------------------------------------------------

macro_rules! serde_via_str {
    ($t:ty, $expecting:literal) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$t, E> {
                        v.parse().map_err(|e: ValueError| E::custom(e.0))
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$t, E> {
                        number::<$t, E>(&v.to_string(), &self)
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$t, E> {
                        number::<$t, E>(&v.to_string(), &self)
                    }
                    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<$t, E> {
                        // Rust prints the shortest text that round-trips the float.
                        number::<$t, E>(&v.to_string(), &self)
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// Numbers are accepted only where the type opts in ([`Decimal`]); dates must be strings.
trait FromJsonNumber: FromStr<Err = ValueError> {
    const ACCEPTS_NUMBERS: bool;
}
impl FromJsonNumber for Date {
    const ACCEPTS_NUMBERS: bool = false;
}
impl FromJsonNumber for DateTime {
    const ACCEPTS_NUMBERS: bool = false;
}
impl FromJsonNumber for Decimal {
    const ACCEPTS_NUMBERS: bool = true;
}

fn number<T: FromJsonNumber, E: serde::de::Error>(
    text: &str,
    exp: &dyn serde::de::Expected,
) -> Result<T, E> {
    if !T::ACCEPTS_NUMBERS {
        return Err(E::invalid_type(
            serde::de::Unexpected::Other("a number"),
            exp,
        ));
    }
    text.parse().map_err(|e: ValueError| E::custom(e.0))
}

serde_via_str!(Date, "a date \"YYYY-MM-DD\"");
serde_via_str!(DateTime, "a UTC datetime \"YYYY-MM-DDTHH:MM:SSZ\"");
serde_via_str!(Decimal, "a decimal number");

/// Serde for certificate bytes: a lower-case hexadecimal string in JSON.
pub(crate) mod hex_bytes {
    use std::fmt;

    pub fn serialize<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("hexadecimal bytes")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                let nibble = |c: u8| match c {
                    b'0'..=b'9' => Ok(c - b'0'),
                    b'a'..=b'f' => Ok(c - b'a' + 10),
                    b'A'..=b'F' => Ok(c - b'A' + 10),
                    _ => Err(E::custom("not a hexadecimal digit")),
                };
                if !v.len().is_multiple_of(2) {
                    return Err(E::custom("odd number of hexadecimal digits"));
                }
                v.as_bytes()
                    .chunks(2)
                    .map(|p| Ok(nibble(p[0])? << 4 | nibble(p[1])?))
                    .collect()
            }
        }
        d.deserialize_str(V)
    }
}
