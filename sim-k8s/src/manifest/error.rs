//! Everything a manifest can be wrong about, each naming the source position.

use std::path::PathBuf;

use thiserror::Error;

use super::location::Location;
use crate::object::ObjectKey;

/// A field a struct did not know, with where its key was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownFieldAt {
    pub path: String,
    pub location: Location,
}

/// Why a manifest could not be loaded.
#[derive(Debug, Error)]
pub enum ManifestError {
    /// The file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML (or JSON).
    #[error("{location}: {message}")]
    Syntax { location: Location, message: String },
    /// A document is not a mapping (a bare scalar or a sequence).
    #[error("{location}: expected an object (a mapping with apiVersion and kind), found a {found}")]
    NotAnObject {
        location: Location,
        found: &'static str,
    },
    /// `apiVersion` or `kind` is missing or not a string.
    #[error("{location}: Object '{field}' is missing or not a string")]
    MissingTypeField {
        location: Location,
        field: &'static str,
    },
    /// No kind we model has this apiVersion/kind.
    #[error(
        "{location}: no matches for kind \"{kind}\" in version \"{api_version}\" (supported: {supported})"
    )]
    UnknownKind {
        location: Location,
        api_version: String,
        kind: String,
        supported: String,
    },
    /// A field has the wrong type or value.
    #[error("{location}: {}{message}", path_prefix(path))]
    Decode {
        location: Location,
        path: String,
        message: String,
    },
    /// Fields the kind does not have (strict field validation, kubectl's default).
    #[error("{}", unknown_fields_message(kind, fields))]
    UnknownFields {
        kind: String,
        fields: Vec<UnknownFieldAt>,
    },
    /// The object decodes but is not valid (e.g. it has no name).
    #[error("{location}: {kind}: {path}: {message}")]
    Invalid {
        location: Location,
        kind: String,
        path: String,
        message: String,
    },
    /// Two documents describe the same object.
    #[error("{second}: {key} is already defined at {first}")]
    Duplicate {
        key: Box<ObjectKey>,
        first: Location,
        second: Location,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

fn unknown_fields_message(kind: &str, fields: &[UnknownFieldAt]) -> String {
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "{}: {kind}: strict decoding error: unknown field \"{}\"",
            f.location, f.path
        ));
    }
    out
}

/// Something the loader accepted but wants to mention (unknown fields under
/// [`super::FieldValidation::Warn`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestWarning {
    pub location: Location,
    pub message: String,
}

impl std::fmt::Display for ManifestWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: warning: {}", self.location, self.message)
    }
}
