//! [`CorefileError`]: what is wrong in a Corefile, where, and what was expected.

use thiserror::Error;

/// A Corefile the engine cannot run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CorefileError {
    /// The text does not have the Corefile's shape.
    #[error("Corefile:{line}:{column}: expected {expected}, found {found}")]
    Syntax {
        line: usize,
        column: usize,
        expected: String,
        found: String,
    },
    /// A plugin or option the engine does not know, or bad arguments to one.
    #[error("Corefile:{line}:{column}: {plugin}: {message}")]
    Plugin {
        line: usize,
        column: usize,
        plugin: String,
        message: String,
    },
}

impl CorefileError {
    pub fn syntax(line: usize, column: usize, expected: &str, found: &str) -> CorefileError {
        CorefileError::Syntax {
            line,
            column,
            expected: expected.to_owned(),
            found: found.to_owned(),
        }
    }

    pub fn plugin(line: usize, column: usize, plugin: &str, message: String) -> CorefileError {
        CorefileError::Plugin {
            line,
            column,
            plugin: plugin.to_owned(),
            message,
        }
    }

    /// The 1-based line the error is on.
    pub fn line(&self) -> usize {
        match self {
            CorefileError::Syntax { line, .. } | CorefileError::Plugin { line, .. } => *line,
        }
    }
}
