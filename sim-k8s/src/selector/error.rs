//! Why a selector is invalid.

use thiserror::Error;

/// A selector that apimachinery would refuse to build, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectorError {
    #[error("key: Invalid value: \"{key}\": {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("values[{key}]: Invalid value: \"{value}\": {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("values: Invalid value: {values:?}: {reason}")]
    InvalidValues { values: Vec<String>, reason: String },
    #[error("\"{operator}\" is not a valid label selector operator")]
    UnsupportedOperator { operator: String },
    /// The string form did not parse (`labels.Parse`); the message is upstream's.
    #[error("{message}")]
    Parse { message: String },
}
