//! Endorsement policies in Hyperledger Fabric's syntax: parsing, canonical printing, and deciding whether a
//! set of endorsements satisfies a policy.
//!
//! A policy is written as `AND('Org1.peer', 'Org2.peer')`, `OR('Org1.peer', AND('Org2.peer', 'Org3.admin'))`
//! or `OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')`. A principal `'<MSPID>.<role>'` names an
//! organization and one of its roles ([`Role`]), or `member` for any role of that organization. Keywords
//! are case-insensitive as in Fabric; MSP ids and roles are not. The channel configuration carries the text;
//! every peer parses it with the same limits and evaluates it the same way when it validates a block.
//!
//! As in Fabric, one endorsement satisfies at most one principal: `AND('Org1.peer', 'Org1.peer')` needs two
//! different Org1 peers. Unlike Fabric, which assigns endorsements greedily and can reject a satisfiable
//! set (`AND('Org1.member', 'Org1.peer')` endorsed by an Org1 peer and an Org1 admin, in that order), the
//! evaluation here is exact: see [`Policy::is_satisfied_by`].

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use medledger_types::Role;

/// Deepest nesting of `AND`/`OR`/`OutOf` gates, in gates (a bare principal is depth 0).
pub const POLICY_DEPTH_MAX: usize = 8;
/// Most principals one policy may name, counting repeats.
pub const POLICY_PRINCIPALS_COUNT_MAX: usize = 64;
/// Longest policy text accepted, in bytes.
pub const POLICY_TEXT_BYTES_MAX: usize = 4096;
/// Longest MSP id in a principal, in bytes.
pub const MSP_ID_BYTES_MAX: usize = 64;
/// Most work one policy evaluation may do, in search states handed to a node (see [`Policy::evaluate`]).
/// Policies that name each organization once need about one per node; at the cap a release build on the
/// reference machine has spent roughly 60 ms.
pub const POLICY_EVALUATION_STATES_MAX: usize = 1 << 18;
/// Longest piece of the input quoted back in an error message, in characters.
const ERROR_QUOTE_CHARS_MAX: usize = 40;

/// What a principal asks of a signer's role.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PrincipalRole {
    /// Exactly this role.
    Role(Role),
    /// Any role of the organization (Fabric's `member`).
    Member,
}

impl PrincipalRole {
    /// Whether a signer with `role` has this principal role.
    pub fn admits(self, role: Role) -> bool {
        match self {
            PrincipalRole::Role(wanted) => wanted == role,
            PrincipalRole::Member => true,
        }
    }

    /// The name used in policies: a [`Role`]'s name or `member`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalRole::Role(role) => role.as_str(),
            PrincipalRole::Member => "member",
        }
    }
}

impl fmt::Display for PrincipalRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PrincipalRole {
    type Err = medledger_types::ParseRoleError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "member" {
            Ok(PrincipalRole::Member)
        } else {
            s.parse().map(PrincipalRole::Role)
        }
    }
}

/// An MSP id that cannot appear in a principal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MSP id {0:?} is not 1 to {MSP_ID_BYTES_MAX} ASCII letters, digits, '.', '-' or '_'")]
pub struct InvalidMspId(pub String);

/// Whether `msp_id` can appear in a principal: 1 to [`MSP_ID_BYTES_MAX`] ASCII letters, digits, `.`, `-`
/// or `_` (Fabric's set plus `_`). Quotes, commas and parentheses are excluded so that the canonical text
/// always parses back.
pub fn is_valid_msp_id(msp_id: &str) -> bool {
    !msp_id.is_empty()
        && msp_id.len() <= MSP_ID_BYTES_MAX
        && msp_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Who may endorse: an organization (MSP id) and a role in it. Printed as `Org1.peer`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Principal {
    msp_id: String,
    role: PrincipalRole,
}

impl Principal {
    pub fn new(msp_id: impl Into<String>, role: PrincipalRole) -> Result<Self, InvalidMspId> {
        let msp_id = msp_id.into();
        if !is_valid_msp_id(&msp_id) {
            return Err(InvalidMspId(msp_id));
        }
        Ok(Principal { msp_id, role })
    }

    pub fn msp_id(&self) -> &str {
        &self.msp_id
    }

    pub fn role(&self) -> PrincipalRole {
        self.role
    }

    /// Whether one signer of organization `msp_id` with `role` fits this principal.
    pub fn admits(&self, msp_id: &str, role: Role) -> bool {
        self.msp_id == msp_id && self.role.admits(role)
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.msp_id, self.role)
    }
}

/// An endorsement policy.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Policy {
    /// One endorsement from this principal.
    SignedBy(Principal),
    /// Every sub-policy, each with its own endorsements.
    And(Vec<Policy>),
    /// At least one sub-policy.
    Or(Vec<Policy>),
    /// At least `n` of the sub-policies, each with its own endorsements.
    OutOf(usize, Vec<Policy>),
}

/// Why a policy text was refused. Offsets count characters from the start of the text, starting at 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyParseError {
    #[error("expected {expected} at offset {offset}, found {found}")]
    Expected {
        expected: &'static str,
        found: String,
        offset: usize,
    },
    #[error("unknown keyword '{word}' at offset {offset} (expected AND, OR or OutOf)")]
    UnknownKeyword { word: String, offset: usize },
    #[error(
        "unknown role '{role}' at offset {offset} (expected admin, doctor, peer, orderer, client, auditor or member)"
    )]
    UnknownRole { role: String, offset: usize },
    #[error("principal '{text}' at offset {offset} is not '<MSPID>.<role>'")]
    BadPrincipal { text: String, offset: usize },
    #[error(
        "MSP id '{msp_id}' at offset {offset} is not 1 to {MSP_ID_BYTES_MAX} ASCII letters, digits, '.', '-' or '_'"
    )]
    BadMspId { msp_id: String, offset: usize },
    #[error("unterminated principal starting at offset {offset}")]
    UnterminatedString { offset: usize },
    #[error("number at offset {offset} is too large")]
    NumberTooLarge { offset: usize },
    #[error(
        "OutOf(0, …) at offset {offset} would need no endorsement at all; the count must be at least 1"
    )]
    OutOfZero { offset: usize },
    #[error("OutOf({n}, …) has only {count} sub-policies (at offset {offset})")]
    OutOfTooFew {
        n: usize,
        count: usize,
        offset: usize,
    },
    #[error("policy nests more than {POLICY_DEPTH_MAX} AND/OR/OutOf deep at offset {offset}")]
    TooDeep { offset: usize },
    #[error(
        "policy names more than {POLICY_PRINCIPALS_COUNT_MAX} principals (the next at offset {offset})"
    )]
    TooManyPrincipals { offset: usize },
    #[error("policy text is {bytes} bytes long; at most {POLICY_TEXT_BYTES_MAX} are allowed")]
    TooLong { bytes: usize },
}

/// Deciding a policy needed more than [`POLICY_EVALUATION_STATES_MAX`] search states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "deciding the endorsement policy needed more than {POLICY_EVALUATION_STATES_MAX} search states"
)]
pub struct PolicyTooComplex;

impl PolicyParseError {
    /// The character offset the error points at (`None` when the whole text is too long).
    pub fn offset(&self) -> Option<usize> {
        match self {
            PolicyParseError::Expected { offset, .. }
            | PolicyParseError::UnknownKeyword { offset, .. }
            | PolicyParseError::UnknownRole { offset, .. }
            | PolicyParseError::BadPrincipal { offset, .. }
            | PolicyParseError::BadMspId { offset, .. }
            | PolicyParseError::UnterminatedString { offset }
            | PolicyParseError::NumberTooLarge { offset }
            | PolicyParseError::OutOfZero { offset }
            | PolicyParseError::OutOfTooFew { offset, .. }
            | PolicyParseError::TooDeep { offset }
            | PolicyParseError::TooManyPrincipals { offset } => Some(*offset),
            PolicyParseError::TooLong { .. } => None,
        }
    }
}

impl Policy {
    /// Parses Fabric-syntax policy text, within [`POLICY_TEXT_BYTES_MAX`], [`POLICY_DEPTH_MAX`] and
    /// [`POLICY_PRINCIPALS_COUNT_MAX`]. A bare principal (`'Org1.peer'`) is accepted as a whole policy.
    pub fn parse(text: &str) -> Result<Policy, PolicyParseError> {
        if text.len() > POLICY_TEXT_BYTES_MAX {
            return Err(PolicyParseError::TooLong { bytes: text.len() });
        }
        let mut parser = Parser {
            text,
            pos: 0,
            principals: 0,
        };
        let policy = parser.policy(0)?;
        let (offset, token) = parser.next()?;
        if token != Token::End {
            return Err(parser.expected("end of input", offset, token));
        }
        Ok(policy)
    }

    /// Whether endorsements from `signers` (MSP id and role of each) satisfy the policy, each signer
    /// satisfying at most one principal. [`Policy::evaluate`], failing closed: a policy too complex to
    /// decide within [`POLICY_EVALUATION_STATES_MAX`] is not satisfied.
    pub fn is_satisfied_by(&self, signers: &[(&str, Role)]) -> bool {
        self.evaluate(signers).unwrap_or(false)
    }

    /// Whether endorsements from `signers` (MSP id and role of each) satisfy the policy, each signer
    /// satisfying at most one principal, or [`PolicyTooComplex`] if deciding it needs more than
    /// [`POLICY_EVALUATION_STATES_MAX`] search states.
    ///
    /// The caller passes one entry per distinct endorsing identity: two entries with the same MSP id and
    /// role count as two endorsers, so duplicates (the same certificate twice) must be removed first.
    /// A policy that [`Policy::parse`] could not have produced (beyond the limits, an empty gate,
    /// `OutOf(0, …)` or `OutOf(n, …)` with fewer than n sub-policies) is never satisfied: fail closed.
    ///
    /// # How
    /// Deciding this exactly is NP-hard in general (`OR`s of `AND`s over shared organizations encode set
    /// packing), so the search below is exact and its cost is capped by a limit.
    ///
    /// 1. Signers become counts: per organization the policy names, and per (organization, role) it names.
    ///    By Hall's theorem a set of principals can be given distinct signers exactly when, per
    ///    organization, the principals naming each role fit that role's count and all the organization's
    ///    principals fit its count. So a principal's demand on the counts is fixed and only gates branch.
    /// 2. A principal no signer fits is dropped, and so is a gate left with fewer than n live children.
    ///    A count at least as large as the number of live principals competing for it can never run out
    ///    and is not tracked; only contested counts become coordinates of the search state. In the common
    ///    case (each organization named once, or enough endorsers) the state is empty and the evaluation
    ///    is linear in the policy.
    /// 3. Bottom up, each node maps a set of states to the set of states that can remain after it is
    ///    satisfied. A state is the contested counts plus, for each enclosing gate, how many of its
    ///    children are satisfied so far; carrying that progress in the state lets every node be
    ///    evaluated exactly once.
    ///
    /// # Cost
    /// Every node is evaluated once, in time linear in the number of states handed to it (hash-set work
    /// on fixed [`POLICY_PRINCIPALS_COUNT_MAX`] + [`POLICY_DEPTH_MAX`]-byte arrays, no allocation per
    /// state). A node's input holds distinct states, at most Π(cᵢ + 1) · Π(nⱼ + 1): the cᵢ are the
    /// contested counts (Σcᵢ ≤ 2s for s signers, so the first product is ≤ 4^s; an envelope carries at
    /// most `limits::ENDORSEMENTS_COUNT_MAX` = 16 endorsements) and the nⱼ ≤
    /// [`POLICY_PRINCIPALS_COUNT_MAX`] are the thresholds of the ≤ [`POLICY_DEPTH_MAX`] enclosing gates.
    /// With no contested count (each organization named once, or endorsers to spare) every input is a
    /// handful of progress combinations. Because a policy built to be hard can still reach hundreds of
    /// thousands of states (two `OutOf(8, …)` over the same 16 contested organizations do), the total
    /// work is capped at [`POLICY_EVALUATION_STATES_MAX`] states (tens of milliseconds); past it the
    /// answer is [`PolicyTooComplex`]. That verdict depends only on the policy and the signers, so every
    /// peer reaches the same one.
    pub fn evaluate(&self, signers: &[(&str, Role)]) -> Result<bool, PolicyTooComplex> {
        if !self.is_well_formed() {
            return Ok(false);
        }
        Compiled::new(self, signers)?.satisfied()
    }

    /// Every principal the policy names, left to right (with repeats).
    pub fn principals(&self) -> Vec<&Principal> {
        let mut out = Vec::new();
        self.collect_principals(&mut out);
        out
    }

    fn collect_principals<'a>(&'a self, out: &mut Vec<&'a Principal>) {
        match self {
            Policy::SignedBy(p) => out.push(p),
            Policy::And(subs) | Policy::Or(subs) | Policy::OutOf(_, subs) => {
                for sub in subs {
                    sub.collect_principals(out);
                }
            }
        }
    }

    /// Nesting depth in gates: 0 for a bare principal.
    pub fn depth(&self) -> usize {
        match self {
            Policy::SignedBy(_) => 0,
            Policy::And(subs) | Policy::Or(subs) | Policy::OutOf(_, subs) => {
                1 + subs.iter().map(Policy::depth).max().unwrap_or(0)
            }
        }
    }
}

impl FromStr for Policy {
    type Err = PolicyParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::parse(s)
    }
}

/// The canonical form: upper-case `AND`/`OR`, `OutOf`, single quotes, `", "` between arguments. Parsing
/// it gives back the same policy for every policy that [`Policy::parse`] can produce.
impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (keyword, subs) = match self {
            Policy::SignedBy(p) => return write!(f, "'{p}'"),
            Policy::And(subs) => ("AND(", subs),
            Policy::Or(subs) => ("OR(", subs),
            Policy::OutOf(n, subs) => {
                write!(f, "OutOf({n}")?;
                for sub in subs {
                    write!(f, ", {sub}")?;
                }
                return f.write_str(")");
            }
        };
        f.write_str(keyword)?;
        for (i, sub) in subs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{sub}")?;
        }
        f.write_str(")")
    }
}

// ---------------------------------------------------------------------------------------------------------
// Parsing: a hand-written lexer and recursive-descent parser. Recursion is bounded by POLICY_DEPTH_MAX,
// checked before descending, so hostile text cannot exhaust the stack.

/// What the start of a policy may be, for error messages.
const EXPECTED_POLICY: &str = "a principal or AND, OR or OutOf";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Token<'a> {
    /// A keyword: an ASCII letter, then letters, digits or `_`.
    Word(&'a str),
    Number(&'a str),
    /// A quoted principal, with its quotes.
    Quoted(&'a str),
    Open,
    Close,
    Comma,
    End,
    Unexpected(char),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Gate {
    And,
    Or,
    OutOf,
}

struct Parser<'a> {
    text: &'a str,
    /// Byte position of the next unread character; always on a character boundary.
    pos: usize,
    principals: usize,
}

impl<'a> Parser<'a> {
    /// The character offset of a byte position, for messages.
    fn offset(&self, byte: usize) -> usize {
        self.text.get(..byte).map_or(byte, |s| s.chars().count())
    }

    fn expected(&self, expected: &'static str, byte: usize, found: Token<'_>) -> PolicyParseError {
        let found = match found {
            Token::Word(s) | Token::Quoted(s) => quote(s),
            Token::Number(s) => s.to_owned(),
            Token::Open => "'('".to_owned(),
            Token::Close => "')'".to_owned(),
            Token::Comma => "','".to_owned(),
            Token::End => "end of input".to_owned(),
            Token::Unexpected(c) => format!("{c:?}"),
        };
        PolicyParseError::Expected {
            expected,
            found,
            offset: self.offset(byte),
        }
    }

    /// The next token and the byte position where it starts.
    fn next(&mut self) -> Result<(usize, Token<'a>), PolicyParseError> {
        let bytes = self.text.as_bytes();
        while bytes.get(self.pos).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
        let start = self.pos;
        let Some(&first) = bytes.get(start) else {
            return Ok((start, Token::End));
        };
        let token = match first {
            b'(' => Token::Open,
            b')' => Token::Close,
            b',' => Token::Comma,
            b'\'' | b'"' => {
                // Fabric's parser takes either quote; no escapes, since no valid principal contains one.
                let Some(len) = bytes[start + 1..].iter().position(|&b| b == first) else {
                    return Err(PolicyParseError::UnterminatedString {
                        offset: self.offset(start),
                    });
                };
                self.pos = start + len + 2;
                return Ok((start, Token::Quoted(&self.text[start..self.pos])));
            }
            b if b.is_ascii_alphabetic() => {
                let len = bytes[start..]
                    .iter()
                    .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
                    .unwrap_or(bytes.len() - start);
                self.pos = start + len;
                return Ok((start, Token::Word(&self.text[start..self.pos])));
            }
            b if b.is_ascii_digit() => {
                let len = bytes[start..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .unwrap_or(bytes.len() - start);
                self.pos = start + len;
                return Ok((start, Token::Number(&self.text[start..self.pos])));
            }
            _ => {
                let c = self.text[start..].chars().next().unwrap_or('\u{fffd}');
                return Ok((start, Token::Unexpected(c)));
            }
        };
        self.pos += 1;
        Ok((start, token))
    }

    /// `policy := principal | gate`. `depth` counts the gates around this policy.
    fn policy(&mut self, depth: usize) -> Result<Policy, PolicyParseError> {
        let (start, token) = self.next()?;
        match token {
            Token::Quoted(quoted) => self.principal(start, quoted).map(Policy::SignedBy),
            Token::Word(word) => self.gate(start, word, depth + 1),
            other => Err(self.expected(EXPECTED_POLICY, start, other)),
        }
    }

    /// `gate := (AND | OR) '(' policy (',' policy)* ')' | OutOf '(' number (',' policy)+ ')'`.
    fn gate(&mut self, start: usize, word: &str, depth: usize) -> Result<Policy, PolicyParseError> {
        let gate = if word.eq_ignore_ascii_case("and") {
            Gate::And
        } else if word.eq_ignore_ascii_case("or") {
            Gate::Or
        } else if word.eq_ignore_ascii_case("outof") {
            Gate::OutOf
        } else {
            return Err(PolicyParseError::UnknownKeyword {
                word: truncate(word),
                offset: self.offset(start),
            });
        };
        if depth > POLICY_DEPTH_MAX {
            return Err(PolicyParseError::TooDeep {
                offset: self.offset(start),
            });
        }
        let (at, token) = self.next()?;
        if token != Token::Open {
            return Err(self.expected("'('", at, token));
        }
        let mut n = 0;
        if gate == Gate::OutOf {
            let (at, token) = self.next()?;
            let Token::Number(digits) = token else {
                return Err(self.expected("a number", at, token));
            };
            n = digits
                .parse()
                .map_err(|_| PolicyParseError::NumberTooLarge {
                    offset: self.offset(at),
                })?;
            let (at, token) = self.next()?;
            if token != Token::Comma {
                return Err(self.expected("','", at, token));
            }
        }
        let mut subs = vec![self.policy(depth)?];
        loop {
            let (at, token) = self.next()?;
            match token {
                Token::Comma => subs.push(self.policy(depth)?),
                Token::Close => break,
                other => return Err(self.expected("',' or ')'", at, other)),
            }
        }
        Ok(match gate {
            Gate::And => Policy::And(subs),
            Gate::Or => Policy::Or(subs),
            Gate::OutOf if n == 0 => {
                return Err(PolicyParseError::OutOfZero {
                    offset: self.offset(start),
                });
            }
            Gate::OutOf if n > subs.len() => {
                return Err(PolicyParseError::OutOfTooFew {
                    n,
                    count: subs.len(),
                    offset: self.offset(start),
                });
            }
            Gate::OutOf => Policy::OutOf(n, subs),
        })
    }

    /// `'<MSPID>.<role>'`, split at the last `.` since MSP ids may contain dots (`org1.example.com`).
    fn principal(&mut self, start: usize, quoted: &str) -> Result<Principal, PolicyParseError> {
        self.principals += 1;
        if self.principals > POLICY_PRINCIPALS_COUNT_MAX {
            return Err(PolicyParseError::TooManyPrincipals {
                offset: self.offset(start),
            });
        }
        // The token keeps its one-byte quotes, so the content is on character boundaries.
        let content = quoted.get(1..quoted.len() - 1).unwrap_or_default();
        let content_start = start + 1;
        let Some(dot) = content.rfind('.') else {
            return Err(PolicyParseError::BadPrincipal {
                text: truncate(content),
                offset: self.offset(start),
            });
        };
        let (msp_id, role) = (&content[..dot], &content[dot + 1..]);
        if !is_valid_msp_id(msp_id) {
            return Err(PolicyParseError::BadMspId {
                msp_id: truncate(msp_id),
                offset: self.offset(content_start),
            });
        }
        let role_start = content_start + dot + 1;
        let role = role
            .parse::<PrincipalRole>()
            .map_err(|_| PolicyParseError::UnknownRole {
                role: truncate(role),
                offset: self.offset(role_start),
            })?;
        Ok(Principal {
            msp_id: msp_id.to_owned(),
            role,
        })
    }
}

/// At most [`ERROR_QUOTE_CHARS_MAX`] characters of `s`, so that an error never echoes kilobytes of input.
fn truncate(s: &str) -> String {
    match s.char_indices().nth(ERROR_QUOTE_CHARS_MAX) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

fn quote(s: &str) -> String {
    if s.starts_with(['\'', '"']) {
        truncate(s)
    } else {
        format!("'{}'", truncate(s))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Evaluation (see `Policy::evaluate` for the method and its bound).

/// Most coordinates (contested counts) a search state can need: each has two or more of the at most
/// [`POLICY_PRINCIPALS_COUNT_MAX`] principals competing for it, half for organizations, half for roles.
const STATE_COORDINATES_MAX: usize = POLICY_PRINCIPALS_COUNT_MAX;
/// Size of a search state, in bytes: the coordinates, then one progress slot per nesting level of gates.
const STATE_BYTES: usize = STATE_COORDINATES_MAX + POLICY_DEPTH_MAX;

/// A search state: the remaining count of each contested coordinate, then, for each gate being evaluated
/// around the current node, how many of its children are satisfied. A fixed array, so that the search
/// copies and hashes states without allocating.
type State = [u8; STATE_BYTES];

/// A policy node with its principals resolved to coordinates of [`State`].
enum Node {
    /// Cannot be satisfied by these signers, whatever else happens.
    Dead,
    /// A principal. `org` and `role` are its constrained coordinates; with neither it is always satisfied.
    Leaf {
        org: Option<usize>,
        role: Option<usize>,
    },
    /// At least `n` of the children (`AND` is all of them, `OR` one); dead children are left out.
    Gate { n: usize, children: Vec<Node> },
}

impl Policy {
    /// Whether this policy is one [`Policy::parse`] could produce: within the limits, no empty gate, and
    /// `OutOf(n, …)` with 1 <= n <= its sub-policies. The cost bound relies on it.
    fn is_well_formed(&self) -> bool {
        fn walk(policy: &Policy, depth: usize, principals: &mut usize) -> bool {
            let (n, subs) = match policy {
                Policy::SignedBy(_) => {
                    *principals += 1;
                    return *principals <= POLICY_PRINCIPALS_COUNT_MAX;
                }
                Policy::And(subs) => (subs.len(), subs),
                Policy::Or(subs) => (1, subs),
                Policy::OutOf(n, subs) => (*n, subs),
            };
            depth < POLICY_DEPTH_MAX
                && n >= 1
                && n <= subs.len()
                && subs.iter().all(|sub| walk(sub, depth + 1, principals))
        }
        let mut principals = 0;
        walk(self, 0, &mut principals)
    }
}

/// The distinct organizations and (organization, role) pairs a policy names; a principal's place in them
/// is its identity during evaluation.
struct Names<'a> {
    orgs: Vec<&'a str>,
    role_types: Vec<(usize, Role)>,
}

impl<'a> Names<'a> {
    fn of(policy: &'a Policy) -> Self {
        let mut names = Names {
            orgs: Vec::new(),
            role_types: Vec::new(),
        };
        for p in policy.principals() {
            let org = names.org(&p.msp_id).unwrap_or_else(|| {
                names.orgs.push(&p.msp_id);
                names.orgs.len() - 1
            });
            if let PrincipalRole::Role(role) = p.role
                && names.role_type(org, role).is_none()
            {
                names.role_types.push((org, role));
            }
        }
        names
    }

    fn org(&self, msp_id: &str) -> Option<usize> {
        self.orgs.iter().position(|o| *o == msp_id)
    }

    fn role_type(&self, org: usize, role: Role) -> Option<usize> {
        self.role_types.iter().position(|t| *t == (org, role))
    }

    /// A principal's organization and, unless it is `member`, its role type.
    fn resolve(&self, p: &Principal) -> (usize, Option<usize>) {
        // Every principal of the policy was registered by `of`, so the lookups succeed.
        let org = self.org(&p.msp_id).unwrap_or(0);
        let role = match p.role {
            PrincipalRole::Role(role) => self.role_type(org, role),
            PrincipalRole::Member => None,
        };
        (org, role)
    }
}

struct Compiled {
    root: Node,
    initial: State,
    /// Number of coordinates in use; the gate progress slots follow them.
    coordinates: usize,
    /// For each organization coordinate, that organization's role coordinates (empty for role coordinates).
    clamps: Vec<Vec<usize>>,
    /// Work done so far, in states handed to a node, against [`POLICY_EVALUATION_STATES_MAX`].
    spent: usize,
}

impl Compiled {
    fn new(policy: &Policy, signers: &[(&str, Role)]) -> Result<Compiled, PolicyTooComplex> {
        let names = Names::of(policy);
        let mut org_signers = vec![0usize; names.orgs.len()];
        let mut role_signers = vec![0usize; names.role_types.len()];
        for (msp_id, role) in signers {
            let Some(org) = names.org(msp_id) else {
                continue;
            };
            org_signers[org] += 1;
            if let Some(t) = names.role_type(org, *role) {
                role_signers[t] += 1;
            }
        }
        let live = |(org, role): (usize, Option<usize>)| {
            org_signers[org] > 0 && role.is_none_or(|t| role_signers[t] > 0)
        };

        // How many live principals compete for each organization and role type. A count that covers all
        // of them can never run out, so it needs no coordinate: only contested counts are searched. A
        // contested count has at least two principals competing, so there are at most 32 organization and
        // 32 role coordinates and they fit the state.
        let mut org_uses = vec![0usize; names.orgs.len()];
        let mut role_uses = vec![0usize; names.role_types.len()];
        for p in policy.principals() {
            let (org, role) = names.resolve(p);
            if live((org, role)) {
                org_uses[org] += 1;
                if let Some(t) = role {
                    role_uses[t] += 1;
                }
            }
        }
        let mut initial: State = [0; STATE_BYTES];
        let mut coordinates = 0;
        let mut coordinate =
            |signers: usize, uses: usize| -> Result<Option<usize>, PolicyTooComplex> {
                if signers >= uses {
                    return Ok(None);
                }
                let slot = initial.get_mut(coordinates).ok_or(PolicyTooComplex)?;
                // signers < uses <= POLICY_PRINCIPALS_COUNT_MAX, so the count fits a u8.
                *slot = u8::try_from(signers).map_err(|_| PolicyTooComplex)?;
                coordinates += 1;
                Ok(Some(coordinates - 1))
            };
        let org_at = (0..names.orgs.len())
            .map(|o| coordinate(org_signers[o], org_uses[o]))
            .collect::<Result<Vec<_>, _>>()?;
        let role_at = (0..names.role_types.len())
            .map(|t| coordinate(role_signers[t], role_uses[t]))
            .collect::<Result<Vec<_>, _>>()?;
        if coordinates > STATE_COORDINATES_MAX {
            return Err(PolicyTooComplex);
        }
        let mut clamps = vec![Vec::new(); coordinates];
        for (t, (org, _)) in names.role_types.iter().enumerate() {
            if let (Some(org_at), Some(role_at)) = (org_at[*org], role_at[t]) {
                clamps[org_at].push(role_at);
            }
        }

        let root = compile(policy, &|p: &Principal| {
            let (org, role) = names.resolve(p);
            if !live((org, role)) {
                return Node::Dead;
            }
            Node::Leaf {
                org: org_at[org],
                role: role.and_then(|t| role_at[t]),
            }
        });
        let mut compiled = Compiled {
            root,
            initial,
            coordinates,
            clamps,
            spent: 0,
        };
        for at in 0..coordinates {
            compiled.clamp(&mut initial, at);
        }
        compiled.initial = initial;
        Ok(compiled)
    }

    fn satisfied(mut self) -> Result<bool, PolicyTooComplex> {
        let root = std::mem::replace(&mut self.root, Node::Dead);
        Ok(!self.reach(&root, 0, vec![self.initial])?.is_empty())
    }

    /// The distinct states that can remain after satisfying `node`, starting from any of `from`; `depth`
    /// counts the gates around `node`. Progress counts of enclosing gates pass through unchanged.
    fn reach(
        &mut self,
        node: &Node,
        depth: usize,
        from: Vec<State>,
    ) -> Result<Vec<State>, PolicyTooComplex> {
        self.spent = self.spent.saturating_add(from.len());
        if self.spent > POLICY_EVALUATION_STATES_MAX {
            return Err(PolicyTooComplex);
        }
        Ok(match node {
            Node::Dead => Vec::new(),
            Node::Leaf {
                org: None,
                role: None,
            } => from,
            Node::Leaf { org, role } => from
                .into_iter()
                .filter_map(|s| self.consume(s, *org, *role))
                .collect(),
            Node::Gate { n, children } => {
                let (n, k) = (*n, children.len());
                // Each state carries, in this gate's slot, how many children it has satisfied so far. That
                // lets every child be evaluated once for all counts together. Well-formed policies nest at
                // most POLICY_DEPTH_MAX gates and have n <= 64, so the slot exists and the count fits.
                let slot = self.coordinates + depth;
                if slot >= STATE_BYTES {
                    return Err(PolicyTooComplex);
                }
                let count = |s: &State| usize::from(s[slot]);
                let mut work: HashSet<State> = from.into_iter().collect();
                for (i, child) in children.iter().enumerate() {
                    // Satisfying more than n children never helps: only states short of n go on.
                    let feed: Vec<State> = work.iter().filter(|s| count(s) < n).copied().collect();
                    if !feed.is_empty() {
                        for mut s in self.reach(child, depth + 1, feed)? {
                            s[slot] = s[slot].checked_add(1).ok_or(PolicyTooComplex)?;
                            work.insert(s);
                        }
                    }
                    // A state that cannot reach n with the children left is dead.
                    let left = k - i - 1;
                    work.retain(|s| count(s) + left >= n);
                }
                // Clear the slot for the next gate at this depth; states that differed only in it merge.
                let done: HashSet<State> = work
                    .into_iter()
                    .filter(|s| count(s) >= n)
                    .map(|mut s| {
                        s[slot] = 0;
                        s
                    })
                    .collect();
                done.into_iter().collect()
            }
        })
    }

    /// The state after one more principal takes a signer from its organization and role coordinates.
    fn consume(&self, mut s: State, org: Option<usize>, role: Option<usize>) -> Option<State> {
        for at in [org, role].into_iter().flatten() {
            s[at] = s[at].checked_sub(1)?;
        }
        if let Some(at) = org {
            self.clamp(&mut s, at);
        }
        Some(s)
    }

    /// A role count above its organization's count is unusable: clamp it, so that equivalent states are
    /// equal and merge.
    fn clamp(&self, s: &mut State, org_at: usize) {
        let cap = s[org_at];
        for &t in &self.clamps[org_at] {
            s[t] = s[t].min(cap);
        }
    }
}

/// Builds the evaluation tree, dropping what these signers can never satisfy.
fn compile(policy: &Policy, leaf: &dyn Fn(&Principal) -> Node) -> Node {
    let (n, subs) = match policy {
        Policy::SignedBy(p) => return leaf(p),
        Policy::And(subs) => (subs.len(), subs),
        Policy::Or(subs) => (1, subs),
        Policy::OutOf(n, subs) => (*n, subs),
    };
    let children: Vec<Node> = subs
        .iter()
        .map(|sub| compile(sub, leaf))
        .filter(|node| !matches!(node, Node::Dead))
        .collect();
    if children.len() < n {
        return Node::Dead;
    }
    Node::Gate { n, children }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use proptest::prelude::*;

    use super::*;

    const A: Role = Role::Admin;
    const D: Role = Role::Doctor;
    const P: Role = Role::Peer;
    const C: Role = Role::Client;

    fn parse(text: &str) -> Policy {
        Policy::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    fn principal(msp_id: &str, role: PrincipalRole) -> Principal {
        Principal::new(msp_id, role).expect("valid MSP id")
    }

    fn signed_by(msp_id: &str, role: Role) -> Policy {
        Policy::SignedBy(principal(msp_id, PrincipalRole::Role(role)))
    }

    // --- Satisfaction. ---

    /// Signers of one table row.
    type Signers = &'static [(&'static str, Role)];

    /// (policy, signers, satisfied)
    #[rustfmt::skip]
    const SATISFACTION: &[(&str, Signers, bool)] = &[
        // The examples of the brief.
        ("AND('Org1.peer','Org2.peer')", &[("Org1", P), ("Org2", P)], true),
        ("AND('Org1.peer','Org2.peer')", &[("Org2", P), ("Org1", P)], true),
        ("AND('Org1.peer','Org2.peer')", &[("Org1", P)], false),
        ("AND('Org1.peer','Org2.peer')", &[("Org1", P), ("Org1", P)], false),
        ("AND('Org1.peer','Org2.peer')", &[("Org1", P), ("Org2", A)], false),
        ("OR('Org1.peer', AND('Org2.peer','Org3.admin'))", &[("Org1", P)], true),
        ("OR('Org1.peer', AND('Org2.peer','Org3.admin'))", &[("Org2", P), ("Org3", A)], true),
        ("OR('Org1.peer', AND('Org2.peer','Org3.admin'))", &[("Org2", P)], false),
        ("OR('Org1.peer', AND('Org2.peer','Org3.admin'))", &[("Org2", P), ("Org3", P)], false),
        ("OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')", &[("Org1", P), ("Org3", P)], true),
        ("OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')", &[("Org2", P), ("Org3", P), ("Org1", P)], true),
        ("OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')", &[("Org3", P)], false),
        ("OutOf(2, 'Org1.peer', 'Org2.peer', 'Org3.peer')", &[("Org3", P), ("Org3", P)], false),
        // One signer satisfies one principal.
        ("AND('Org1.peer','Org1.peer')", &[("Org1", P)], false),
        ("AND('Org1.peer','Org1.peer')", &[("Org1", P), ("Org1", P)], true),
        ("AND('Org1.peer','Org1.peer')", &[("Org1", P), ("Org1", A)], false),
        ("AND('Org1.peer','Org1.member')", &[("Org1", P), ("Org1", A)], true),
        ("OutOf(2, 'Org1.member', 'Org1.peer')", &[("Org1", P)], false),
        ("AND('Org1.member', 'Org1.member', 'Org1.member')", &[("Org1", P), ("Org1", D)], false),
        ("AND('Org1.member', 'Org1.member', 'Org1.member')", &[("Org1", P), ("Org1", D), ("Org1", A)], true),
        // member admits every role of its organization, and only of it.
        ("OR('Org1.member')", &[("Org1", D)], true),
        ("OR('Org1.member')", &[("Org1", Role::Auditor)], true),
        ("OR('Org1.member')", &[("Org2", P)], false),
        // Roles are exact.
        ("OR('Org1.admin')", &[("Org1", P)], false),
        ("OR('Org1.peer')", &[("Org1", A)], false),
        ("OR('Org1.orderer', 'Org1.client')", &[("Org1", C)], true),
        // MSP ids are case-sensitive and compared whole.
        ("OR('org1.peer')", &[("Org1", P)], false),
        ("OR('Org1.peer')", &[("Org10", P)], false),
        ("OR('org1.example.com.peer')", &[("org1.example.com", P)], true),
        // Where Fabric's greedy assignment fails: the first signer must not be spent on the first principal.
        ("AND('Org1.member', 'Org1.peer')", &[("Org1", P), ("Org1", A)], true),
        ("AND('Org1.member', 'Org1.peer')", &[("Org1", A), ("Org1", P)], true),
        ("AND(OR('Org1.peer', 'Org2.peer'), 'Org1.peer')", &[("Org1", P), ("Org2", P)], true),
        ("AND(OR('Org1.peer', 'Org2.peer'), 'Org1.peer')", &[("Org1", P)], false),
        ("OutOf(2, AND('Org1.member', 'Org2.member'), 'Org1.peer', 'Org2.admin')", &[("Org1", P), ("Org2", A)], true),
        ("OutOf(2, AND('Org1.member', 'Org2.member'), 'Org1.peer')", &[("Org1", P), ("Org2", A)], false),
        ("AND(OR(AND('Org1.member','Org2.member'), AND('Org1.peer','Org3.peer')), 'Org2.doctor')", &[("Org1", P), ("Org2", D), ("Org3", P)], true),
        ("AND(OR(AND('Org1.member','Org2.member'), AND('Org1.peer','Org3.peer')), 'Org2.doctor')", &[("Org1", P), ("Org2", D), ("Org3", A)], false),
        // Signers the policy does not name change nothing.
        ("OR('Org1.peer')", &[("Org9", P), ("Org1", C), ("Org1", P)], true),
        ("OR('Org1.peer')", &[], false),
        ("AND('Org1.peer')", &[], false),
        // A bare principal is a policy.
        ("'Org1.peer'", &[("Org1", P)], true),
        ("'Org1.peer'", &[("Org1", D)], false),
        // Deep nesting, all eight levels.
        ("AND(OR(AND(OR(AND(OR(AND(OR('Org1.peer', 'Org2.peer'))))))), 'Org1.admin')", &[("Org2", P), ("Org1", A)], true),
        ("AND(OR(AND(OR(AND(OR(AND(OR('Org1.peer', 'Org2.peer'))))))), 'Org1.member')", &[("Org1", P)], false),
    ];

    #[test]
    fn satisfaction_table() {
        for (text, signers, expected) in SATISFACTION {
            let policy = parse(text);
            assert_eq!(
                policy.is_satisfied_by(signers),
                *expected,
                "{text} with {signers:?}"
            );
            assert_eq!(
                brute_force(&policy, signers),
                *expected,
                "reference: {text} with {signers:?}"
            );
        }
    }

    #[test]
    fn malformed_policies_are_never_satisfied() {
        let p1 = || signed_by("Org1", P);
        let signers: &[(&str, Role)] = &[("Org1", P), ("Org1", P)];
        assert!(Policy::And(vec![p1(), p1()]).is_satisfied_by(signers));
        for bad in [
            Policy::And(vec![]),
            Policy::Or(vec![]),
            Policy::OutOf(0, vec![p1()]),
            Policy::OutOf(3, vec![p1(), p1()]),
            Policy::Or(vec![p1(); POLICY_PRINCIPALS_COUNT_MAX + 1]),
            (0..=POLICY_DEPTH_MAX).fold(p1(), |p, _| Policy::Or(vec![p])),
        ] {
            assert!(!bad.is_satisfied_by(signers), "{bad}");
        }
        let deepest = (0..POLICY_DEPTH_MAX - 1).fold(p1(), |p, _| Policy::Or(vec![p]));
        assert!(Policy::Or(vec![deepest]).is_satisfied_by(signers));
        assert!(Policy::Or(vec![p1(); POLICY_PRINCIPALS_COUNT_MAX]).is_satisfied_by(signers));
    }

    /// A reference from the definition: try every way of giving distinct signers to the principals.
    fn brute_force(policy: &Policy, signers: &[(&str, Role)]) -> bool {
        fn eval(policy: &Policy, satisfied: &[bool], next: &mut usize) -> bool {
            match policy {
                Policy::SignedBy(_) => {
                    *next += 1;
                    satisfied[*next - 1]
                }
                Policy::And(subs) => subs
                    .iter()
                    .map(|s| eval(s, satisfied, next))
                    .fold(true, |a, b| a & b),
                Policy::Or(subs) => subs
                    .iter()
                    .map(|s| eval(s, satisfied, next))
                    .fold(false, |a, b| a | b),
                Policy::OutOf(n, subs) => {
                    subs.iter().filter(|s| eval(s, satisfied, next)).count() >= *n
                }
            }
        }
        fn assign(
            policy: &Policy,
            principals: &[&Principal],
            signers: &[(&str, Role)],
            used: &mut Vec<bool>,
            satisfied: &mut Vec<bool>,
        ) -> bool {
            let i = satisfied.len();
            if i == principals.len() {
                return eval(policy, satisfied, &mut 0);
            }
            satisfied.push(false);
            if assign(policy, principals, signers, used, satisfied) {
                return true;
            }
            satisfied[i] = true;
            for (j, (msp_id, role)) in signers.iter().enumerate() {
                if !used[j] && principals[i].admits(msp_id, *role) {
                    used[j] = true;
                    let found = assign(policy, principals, signers, used, satisfied);
                    used[j] = false;
                    if found {
                        return true;
                    }
                }
            }
            satisfied.pop();
            false
        }
        let principals = policy.principals();
        assign(
            policy,
            &principals,
            signers,
            &mut vec![false; signers.len()],
            &mut Vec::new(),
        )
    }

    #[test]
    fn adversarial_policies_stay_bounded() {
        // Generous for an unoptimized build on a busy 2-core machine; the worst case here takes ~0.1 s in
        // a release build.
        let budget = Duration::from_secs(5);
        let orgs: Vec<String> = (0..64).map(|i| format!("Org{i}")).collect();
        let list = |role: &str, count: usize| {
            orgs[..count]
                .iter()
                .map(|o| format!("'{o}.{role}'"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let signers_of = |count: usize, role: Role| -> Vec<(&str, Role)> {
            orgs[..count].iter().map(|o| (o.as_str(), role)).collect()
        };
        let twice = |n1: usize, n2: usize, count: usize| {
            format!(
                "AND(OutOf({n1}, {}), OutOf({n2}, {}))",
                list("peer", count),
                list("member", count)
            )
        };
        type Case<'a> = (String, Vec<(&'a str, Role)>, Result<bool, PolicyTooComplex>);
        let cases: Vec<Case> = vec![
            // Too few live principals: decided without searching.
            (
                format!("OutOf(32, {})", list("peer", 64)),
                signers_of(16, P),
                Ok(false),
            ),
            (
                format!("OutOf(17, {})", list("member", 64)),
                signers_of(16, D),
                Ok(false),
            ),
            // Each organization named once: nothing is contested.
            (
                format!("OutOf(8, {})", list("peer", 16)),
                signers_of(16, P),
                Ok(true),
            ),
            (
                format!("OutOf(16, {})", list("member", 64)),
                signers_of(16, D),
                Ok(true),
            ),
            (
                format!("OutOf(9, {})", list("member", 16)),
                signers_of(8, P),
                Ok(false),
            ),
            // Every organization named twice and contested: a real search.
            (twice(4, 4, 16), signers_of(8, P), Ok(true)),
            (twice(4, 5, 16), signers_of(8, P), Ok(false)),
            // The same, built to need hundreds of thousands of states: refused within the cap.
            (twice(8, 8, 32), signers_of(16, P), Err(PolicyTooComplex)),
            (twice(8, 9, 32), signers_of(16, P), Err(PolicyTooComplex)),
        ];
        for (text, signers, expected) in &cases {
            let policy = parse(text);
            let started = Instant::now();
            assert_eq!(policy.evaluate(signers), *expected, "{text}");
            assert_eq!(
                policy.is_satisfied_by(signers),
                *expected == Ok(true),
                "{text}"
            );
            assert!(
                started.elapsed() < budget,
                "{text} took {:?}",
                started.elapsed()
            );
        }
        // One organization everywhere, mixed roles: the states differ only in counts.
        let same: Vec<&str> = (0..64)
            .map(|i| {
                if i % 2 == 0 {
                    "'Org1.member'"
                } else {
                    "'Org1.peer'"
                }
            })
            .collect();
        let signers: Vec<(&str, Role)> = (0..16)
            .map(|i| ("Org1", if i % 3 == 0 { A } else { P }))
            .collect();
        let started = Instant::now();
        assert_eq!(
            parse(&format!("OutOf(16, {})", same.join(", "))).evaluate(&signers),
            Ok(true)
        );
        assert_eq!(
            parse(&format!("OutOf(17, {})", same.join(", "))).evaluate(&signers),
            Ok(false)
        );
        assert!(started.elapsed() < budget);
    }

    // --- Parsing. ---

    #[test]
    fn accepted_spellings() {
        let and12 = Policy::And(vec![signed_by("Org1", P), signed_by("Org2", P)]);
        for text in [
            "AND('Org1.peer','Org2.peer')",
            "and('Org1.peer','Org2.peer')",
            "And ( 'Org1.peer' ,\n\t'Org2.peer' ) ",
            "  AND(\"Org1.peer\", 'Org2.peer')",
        ] {
            assert_eq!(parse(text), and12, "{text:?}");
        }
        let out = Policy::OutOf(
            1,
            vec![Policy::SignedBy(principal(
                "org1.example.com",
                PrincipalRole::Member,
            ))],
        );
        for text in [
            "OutOf(1, 'org1.example.com.member')",
            "outof(1,'org1.example.com.member')",
            "OUTOF( 01 , 'org1.example.com.member')",
        ] {
            assert_eq!(parse(text), out, "{text:?}");
        }
        assert_eq!(
            parse("or('Org-1_x.auditor')"),
            Policy::Or(vec![signed_by("Org-1_x", Role::Auditor)])
        );
        assert_eq!(parse("'Org1.client'"), signed_by("Org1", C));
        for role in Role::ALL {
            assert_eq!(
                parse(&format!("OR('O.{role}')")),
                Policy::Or(vec![signed_by("O", role)])
            );
        }
    }

    /// (text, expected part of the message, expected offset)
    #[rustfmt::skip]
    const PARSE_ERRORS: &[(&str, &str, usize)] = &[
        ("", "expected a principal or AND, OR or OutOf at offset 0, found end of input", 0),
        ("   ", "expected a principal or AND, OR or OutOf at offset 3", 3),
        ("AND('Org1.peer'", "expected ',' or ')' at offset 15, found end of input", 15),
        ("AND('Org1.peer' 'Org2.peer')", "expected ',' or ')' at offset 16, found 'Org2.peer'", 16),
        ("AND('Org1.peer',)", "expected a principal or AND, OR or OutOf at offset 16, found ')'", 16),
        ("AND()", "at offset 4, found ')'", 4),
        ("AND['Org1.peer']", "expected '(' at offset 3, found '['", 3),
        ("AND", "expected '(' at offset 3, found end of input", 3),
        ("OR('Org1.peer'))", "expected end of input at offset 15, found ')'", 15),
        ("OR('Org1.peer') OR('Org2.peer')", "expected end of input at offset 16, found 'OR'", 16),
        ("OR('Org1.nurse')", "unknown role 'nurse' at offset 9", 9),
        ("OR('Org1.Peer')", "unknown role 'Peer' at offset 9", 9),
        ("OR('Org1.')", "unknown role '' at offset 9", 9),
        ("XOR('Org1.peer')", "unknown keyword 'XOR' at offset 0", 0),
        ("AND('Org1.peer', NOT('Org2.peer'))", "unknown keyword 'NOT' at offset 17", 17),
        ("OR('Org1peer')", "principal 'Org1peer' at offset 3 is not '<MSPID>.<role>'", 3),
        ("OR('.peer')", "MSP id '' at offset 4", 4),
        ("OR('Org 1.peer')", "MSP id 'Org 1' at offset 4", 4),
        ("OR('Org1.peer)", "unterminated principal starting at offset 3", 3),
        ("OR(\"Org1.peer')", "unterminated principal starting at offset 3", 3),
        ("OutOf(x, 'Org1.peer')", "expected a number at offset 6, found 'x'", 6),
        ("OutOf('Org1.peer')", "expected a number at offset 6, found 'Org1.peer'", 6),
        ("OutOf(-1, 'Org1.peer')", "expected a number at offset 6, found '-'", 6),
        ("OutOf(1 'Org1.peer')", "expected ',' at offset 8", 8),
        ("OutOf(1)", "expected ',' at offset 7, found ')'", 7),
        ("OutOf(99999999999999999999999, 'Org1.peer')", "number at offset 6 is too large", 6),
        ("OutOf(3, 'Org1.peer', 'Org2.peer')", "OutOf(3, …) has only 2 sub-policies", 0),
        ("AND('Org1.peer', OutOf(3, 'Org1.peer', 'Org2.peer'))", "OutOf(3, …) has only 2 sub-policies (at offset 17)", 17),
        ("OutOf(0, 'Org1.peer')", "OutOf(0, …) at offset 0", 0),
        ("OR('Org1.peer'); DROP", "found ';'", 15),
        // Offsets count characters, not bytes.
        ("OR('Org1.peer', 'Orgé.peer')", "MSP id 'Orgé' at offset 17", 17),
        ("OR('Org1.peer') é", "expected end of input at offset 16, found 'é'", 16),
    ];

    #[test]
    fn parse_error_table() {
        for (text, message, offset) in PARSE_ERRORS {
            let err = Policy::parse(text).expect_err(text);
            assert!(
                err.to_string().contains(message),
                "{text:?}: got {err:?} / {err}, wanted {message:?}"
            );
            assert_eq!(err.offset(), Some(*offset), "{text:?}: {err}");
        }
    }

    #[test]
    fn limits() {
        let nest = |depth: usize| "OR(".repeat(depth) + "'Org1.peer'" + &")".repeat(depth);
        assert_eq!(parse(&nest(POLICY_DEPTH_MAX)).depth(), POLICY_DEPTH_MAX);
        let err = Policy::parse(&nest(POLICY_DEPTH_MAX + 1)).expect_err("too deep");
        assert_eq!(
            err,
            PolicyParseError::TooDeep {
                offset: 3 * POLICY_DEPTH_MAX
            }
        );
        // Far too deep stops at the limit instead of recursing: no stack overflow.
        assert!(matches!(
            Policy::parse(&"OR(".repeat(1300)),
            Err(PolicyParseError::TooDeep { .. })
        ));

        let many = |count: usize| format!("OR({})", vec!["'Org1.peer'"; count].join(","));
        assert_eq!(
            parse(&many(POLICY_PRINCIPALS_COUNT_MAX)).principals().len(),
            POLICY_PRINCIPALS_COUNT_MAX
        );
        let err = Policy::parse(&many(POLICY_PRINCIPALS_COUNT_MAX + 1)).expect_err("too many");
        assert_eq!(
            err,
            PolicyParseError::TooManyPrincipals {
                offset: 3 + 12 * POLICY_PRINCIPALS_COUNT_MAX
            }
        );

        let long = format!("OR('Org1.peer'{})", " ".repeat(POLICY_TEXT_BYTES_MAX));
        assert_eq!(
            Policy::parse(&long),
            Err(PolicyParseError::TooLong { bytes: long.len() })
        );
        assert!(
            Policy::parse(&long[..POLICY_TEXT_BYTES_MAX - 1]).is_err_and(|e| e.offset().is_some())
        );

        let msp = "O".repeat(MSP_ID_BYTES_MAX);
        assert!(Policy::parse(&format!("OR('{msp}.peer')")).is_ok());
        let err = Policy::parse(&format!("OR('{msp}O.peer')")).expect_err("MSP id too long");
        assert!(
            matches!(err, PolicyParseError::BadMspId { offset: 4, .. }),
            "{err}"
        );
        // Echoed input is truncated.
        assert!(err.to_string().len() < 200, "{err}");
        assert!(Principal::new(msp.clone() + "O", PrincipalRole::Member).is_err());
        assert!(Principal::new("Org(1)", PrincipalRole::Member).is_err());
        assert!(Principal::new("", PrincipalRole::Member).is_err());
    }

    #[test]
    fn display_is_canonical() {
        let cases = [
            (
                "and( 'Org1.peer' ,'Org2.peer')",
                "AND('Org1.peer', 'Org2.peer')",
            ),
            (
                "or('Org1.peer', and('Org2.peer',\"Org3.admin\"))",
                "OR('Org1.peer', AND('Org2.peer', 'Org3.admin'))",
            ),
            (
                "OUTOF(2,'Org1.peer','Org2.member','Org3.peer')",
                "OutOf(2, 'Org1.peer', 'Org2.member', 'Org3.peer')",
            ),
            (" 'a.b.c.auditor' ", "'a.b.c.auditor'"),
        ];
        for (text, canonical) in cases {
            assert_eq!(parse(text).to_string(), canonical);
            assert_eq!(parse(canonical), parse(text));
        }
    }

    // --- Generated policies. ---

    fn arb_principal(msp_ids: &'static [&'static str]) -> impl Strategy<Value = Principal> {
        let role = prop_oneof![
            Just(PrincipalRole::Member),
            prop::sample::select(&Role::ALL[..]).prop_map(PrincipalRole::Role),
        ];
        (prop::sample::select(msp_ids), role).prop_map(|(msp_id, role)| principal(msp_id, role))
    }

    /// Well-formed policies: `depth` levels of gates at most, about `size` principals, `width` children
    /// per gate at most.
    fn arb_policy(
        principal: BoxedStrategy<Principal>,
        depth: u32,
        size: u32,
        width: usize,
    ) -> impl Strategy<Value = Policy> {
        principal
            .prop_map(Policy::SignedBy)
            .prop_recursive(depth, size, width as u32, move |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 1..=width).prop_map(Policy::And),
                    prop::collection::vec(inner.clone(), 1..=width).prop_map(Policy::Or),
                    prop::collection::vec(inner, 1..=width)
                        .prop_flat_map(|subs| (1..=subs.len(), Just(subs)))
                        .prop_map(|(n, subs)| Policy::OutOf(n, subs)),
                ]
            })
            // prop_recursive's size is a target, not a bound.
            .prop_filter("within the limits", |p| {
                p.principals().len() <= POLICY_PRINCIPALS_COUNT_MAX
            })
    }

    /// Prints `policy` in a non-canonical but valid way, driven by `noise`: random spacing, keyword case
    /// and quotes.
    fn pick(noise: &[u8], at: &mut usize) -> u8 {
        let b = noise.get(*at % noise.len().max(1)).copied().unwrap_or(0);
        *at += 1;
        b
    }

    fn noisy(policy: &Policy, noise: &[u8], at: &mut usize) -> String {
        fn space(b: u8) -> &'static str {
            ["", " ", "  ", "\t", "\n", "\r\n"][usize::from(b) % 6]
        }
        let (keyword, n, subs) = match policy {
            Policy::SignedBy(p) => {
                let q = if pick(noise, at).is_multiple_of(2) {
                    '\''
                } else {
                    '"'
                };
                return format!(
                    "{}{q}{p}{q}{}",
                    space(pick(noise, at)),
                    space(pick(noise, at))
                );
            }
            Policy::And(subs) => (
                ["AND", "and", "And", "aNd"][usize::from(pick(noise, at)) % 4],
                None,
                subs,
            ),
            Policy::Or(subs) => (
                ["OR", "or", "Or", "oR"][usize::from(pick(noise, at)) % 4],
                None,
                subs,
            ),
            Policy::OutOf(n, subs) => (
                ["OutOf", "outof", "OUTOF", "outOf"][usize::from(pick(noise, at)) % 4],
                Some(*n),
                subs,
            ),
        };
        let mut out = format!(
            "{}{keyword}{}(",
            space(pick(noise, at)),
            space(pick(noise, at))
        );
        let mut parts: Vec<String> = Vec::new();
        if let Some(n) = n {
            parts.push(format!(
                "{}{n}{}",
                space(pick(noise, at)),
                space(pick(noise, at))
            ));
        }
        for sub in subs {
            parts.push(noisy(sub, noise, at));
        }
        out.push_str(&parts.join(","));
        out.push(')');
        out.push_str(space(pick(noise, at)));
        out
    }

    const WIDE_MSP_IDS: &[&str] = &[
        "Org1",
        "org2.example.com",
        "Hospital-A",
        "lab_7",
        "X",
        "a.b.c",
    ];
    const NARROW_MSP_IDS: &[&str] = &["Org1", "Org2", "Org3"];

    proptest! {
        #[test]
        fn display_round_trips(policy in arb_policy(arb_principal(WIDE_MSP_IDS).boxed(), POLICY_DEPTH_MAX as u32, 40, 5)) {
            let text = policy.to_string();
            prop_assert_eq!(Policy::parse(&text), Ok(policy.clone()), "{}", text);
            // The canonical text is a fixed point.
            prop_assert_eq!(Policy::parse(&text).map(|p| p.to_string()), Ok(text));
        }

        #[test]
        fn any_spelling_parses_to_the_same_policy(
            policy in arb_policy(arb_principal(WIDE_MSP_IDS).boxed(), POLICY_DEPTH_MAX as u32, 40, 5),
            noise in prop::collection::vec(any::<u8>(), 1..64),
        ) {
            let text = noisy(&policy, &noise, &mut 0);
            prop_assert_eq!(Policy::parse(&text), Ok(policy), "{:?}", text);
        }

        #[test]
        fn garbage_never_panics(text in "[ANDORutf()',.0-9a-z' \"]{0,60}") {
            let _ = Policy::parse(&text);
        }
    }

    /// Principals over few organizations and roles, so that signers collide with them often.
    fn arb_narrow_principal() -> impl Strategy<Value = Principal> {
        let role = prop::sample::select(
            &[
                PrincipalRole::Member,
                PrincipalRole::Role(Role::Admin),
                PrincipalRole::Role(Role::Peer),
                PrincipalRole::Role(Role::Doctor),
            ][..],
        );
        (prop::sample::select(NARROW_MSP_IDS), role)
            .prop_map(|(msp_id, role)| principal(msp_id, role))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        #[test]
        fn evaluation_matches_brute_force(
            policy in arb_policy(arb_narrow_principal().boxed(), 3, 6, 3)
                .prop_filter("small enough to brute-force", |p| p.principals().len() <= 7),
            signers in prop::collection::vec(
                (prop::sample::select(NARROW_MSP_IDS), prop::sample::select(&[Role::Admin, Role::Peer, Role::Doctor][..])),
                0..6,
            ),
        ) {
            let signers: Vec<(&str, Role)> = signers;
            let satisfied = policy.is_satisfied_by(&signers);
            prop_assert_eq!(policy.evaluate(&signers), Ok(satisfied));
            prop_assert_eq!(satisfied, brute_force(&policy, &signers), "{} with {:?}", policy, signers);
            // The order of signers never matters; more signers never hurt.
            let mut reversed = signers.clone();
            reversed.reverse();
            prop_assert_eq!(policy.is_satisfied_by(&reversed), satisfied);
            if satisfied {
                for extra in [("Org1", Role::Peer), ("Org9", Role::Admin)] {
                    let mut more = signers.clone();
                    more.push(extra);
                    prop_assert!(policy.is_satisfied_by(&more));
                }
            }
        }
    }
}
