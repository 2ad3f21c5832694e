//! Errors of the query engine. Every error names the system query option it is about and,
//! for syntax and type errors, the position (0-based, in characters) in that option's
//! percent-decoded text, so a client can point at the problem (SPEC A.8: "400 with the
//! position of the problem").

use std::fmt;

/// What went wrong, coarsely; the server maps every kind to 400 `BadRequest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryErrorKind {
    /// The text does not follow the OData URL grammar.
    Syntax,
    /// A property or navigation name the entity type does not have.
    UnknownProperty,
    /// Operands or arguments of incompatible types, or an unknown enum member.
    TypeMismatch,
    /// Valid OData that OpenTI does not implement (`$search`, `$apply`, `round()`, …).
    Unsupported,
    /// A configured limit of [`QueryLimits`](super::QueryLimits) was exceeded.
    LimitExceeded,
}

impl QueryErrorKind {
    /// A stable machine-readable name, usable as an error detail code.
    pub fn as_str(self) -> &'static str {
        match self {
            QueryErrorKind::Syntax => "QuerySyntax",
            QueryErrorKind::UnknownProperty => "UnknownProperty",
            QueryErrorKind::TypeMismatch => "TypeMismatch",
            QueryErrorKind::Unsupported => "UnsupportedQueryOption",
            QueryErrorKind::LimitExceeded => "QueryLimitExceeded",
        }
    }
}

impl fmt::Display for QueryErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected query. `Display` is the full `message`, e.g.
/// `$filter: expected a value after 'eq' at position 8`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The system query option the error is about, e.g. `$filter` (or `query` for the
    /// query string as a whole).
    pub option: String,
    /// The complete, human-readable message, starting with the option name.
    pub message: String,
    /// 0-based character position in the option's decoded text, when one applies.
    pub position: Option<usize>,
    pub kind: QueryErrorKind,
}

impl QueryError {
    pub(crate) fn new(
        option: impl Into<String>,
        kind: QueryErrorKind,
        position: Option<usize>,
        detail: impl fmt::Display,
    ) -> Self {
        let option = option.into();
        let message = match position {
            Some(p) => format!("{option}: {detail} at position {p}"),
            None => format!("{option}: {detail}"),
        };
        QueryError { option, message, position, kind }
    }
}

/// An error inside one option's text, positioned by byte offset. The byte offset becomes a
/// character position only at the boundary ([`Fail::into_error`]), where the text is known;
/// the lexer, parser and checker never have to count characters.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fail {
    pub kind: QueryErrorKind,
    pub pos: Option<usize>,
    pub detail: String,
}

impl Fail {
    pub fn at(kind: QueryErrorKind, pos: usize, detail: impl Into<String>) -> Self {
        Fail { kind, pos: Some(pos), detail: detail.into() }
    }
    pub fn nowhere(kind: QueryErrorKind, detail: impl Into<String>) -> Self {
        Fail { kind, pos: None, detail: detail.into() }
    }
    pub fn syntax(pos: usize, detail: impl Into<String>) -> Self {
        Fail::at(QueryErrorKind::Syntax, pos, detail)
    }

    /// Converts to the public error for `option`, whose decoded text is `text`.
    pub fn into_error(self, option: &str, text: &str) -> QueryError {
        let position = self.pos.map(|byte| char_position(text, byte));
        QueryError::new(option, self.kind, position, self.detail)
    }
}

/// Character index of byte offset `byte` in `text` (clamped, never panics on a bad offset).
pub(crate) fn char_position(text: &str, byte: usize) -> usize {
    let byte = byte.min(text.len());
    text.char_indices().take_while(|(i, _)| *i < byte).count()
}

pub(crate) type Result<T, E = Fail> = std::result::Result<T, E>;
