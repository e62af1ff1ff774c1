//! Where a document, a field or an error sits: source name, 1-based line and column.

use std::fmt;

use super::located::Pos;

/// A place in a manifest source: `deploy.yaml:14:7`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// The file path as given (or `<stdin>` / the name passed to [`super::load_str`]).
    pub source: String,
    pub line: u64,
    pub column: u64,
}

impl Location {
    pub(crate) fn new(source: &str, pos: Pos) -> Self {
        Location {
            source: source.to_owned(),
            line: pos.line,
            column: pos.column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.source, self.line, self.column)
    }
}
