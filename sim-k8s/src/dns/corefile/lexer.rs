//! The Corefile's tokens, as Caddy's lexer (`caddyfile/lexer.go`, which CoreDNS uses) reads
//! them: words split by whitespace, `"quoted strings"` (with `\"` and `\\` escapes, and
//! newlines inside), `#` comments from a token start to the end of the line. Every token
//! carries its line and column (1-based, columns in characters) and whether a newline came
//! before it.

use super::error::CorefileError;

/// One token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    /// Written in quotes (so `"{"` is a word, not a brace).
    pub quoted: bool,
    pub line: usize,
    pub column: usize,
    /// The first token of its line.
    pub starts_line: bool,
}

impl Token {
    /// An unquoted `{` or `}`.
    pub fn is(&self, brace: &str) -> bool {
        !self.quoted && self.text == brace
    }
}

/// Splits `text` into tokens.
pub fn tokenize(text: &str) -> Result<Vec<Token>, CorefileError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1usize, 0usize);
    let mut new_line = true;
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
            new_line = true;
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if c == '#' {
            while chars.peek().is_some_and(|&n| n != '\n') {
                chars.next();
            }
            continue;
        }
        let (start_line, start_column) = (line, column);
        let mut word = String::new();
        let quoted = c == '"';
        if quoted {
            let mut closed = false;
            while let Some(q) = chars.next() {
                column += 1;
                match q {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' if matches!(chars.peek(), Some('"') | Some('\\')) => {
                        word.extend(chars.next());
                        column += 1;
                    }
                    '\n' => {
                        word.push(q);
                        line += 1;
                        column = 0;
                    }
                    _ => word.push(q),
                }
            }
            if !closed {
                return Err(CorefileError::syntax(
                    start_line,
                    start_column,
                    "a closing '\"' for the string started here",
                    "end of file",
                ));
            }
        } else {
            word.push(c);
            while chars.peek().is_some_and(|n| !n.is_whitespace()) {
                word.extend(chars.next());
                column += 1;
            }
        }
        tokens.push(Token {
            text: word,
            quoted,
            line: start_line,
            column: start_column,
            starts_line: new_line,
        });
        new_line = false;
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_comments_positions() {
        let t = tokenize("a b # c d\n  \"x y\\\" z\" {\n}").unwrap();
        let words: Vec<(&str, usize, usize, bool)> = t
            .iter()
            .map(|t| (t.text.as_str(), t.line, t.column, t.starts_line))
            .collect();
        assert_eq!(
            words,
            [
                ("a", 1, 1, true),
                ("b", 1, 3, false),
                ("x y\" z", 2, 3, true),
                ("{", 2, 13, false),
                ("}", 3, 1, true),
            ]
        );
        assert!(t[2].quoted && t[3].is("{"));
        let e = tokenize("forward . \"1.1.1.1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Corefile:1:11: expected a closing '\"' for the string started here, found end of file"
        );
    }
}
