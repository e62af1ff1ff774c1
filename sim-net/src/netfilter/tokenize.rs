//! Splitting a rule line into arguments the way iptables-restore does (`add_param_to_argv` in
//! iptables/xshared.c): spaces and tabs separate arguments; a double quote opens a quoted part
//! even in the middle of a word, and the closing quote ends the argument; inside quotes a
//! backslash takes the next character literally; outside quotes a backslash is an ordinary
//! character; single quotes are ordinary characters; `""` is an empty argument. Unlike
//! iptables 1.8.9 (which keeps reading into the next line), an unterminated quote is an error.

use std::borrow::Cow;

use crate::netfilter::error::NetfilterError;

/// One argument and the 1-based column (in characters) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub text: Cow<'a, str>,
    pub column: usize,
}

/// The arguments of `line`, or the error and the column of the opening quote.
pub(crate) fn tokenize(line: &str) -> Result<Vec<Token<'_>>, (NetfilterError, usize)> {
    let b = line.as_bytes();
    let mut tokens = Vec::with_capacity(24);
    let mut i = 0;
    // Characters before byte `i` (UTF-8 continuation bytes do not start a character).
    let mut col = 0;
    while i < b.len() {
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            col += 1;
            continue;
        }
        let start = i;
        let start_col = col + 1;
        // Most words hold no quote: found with one scan, and borrowed.
        let end = b[i..]
            .iter()
            .position(|&c| matches!(c, b' ' | b'\t' | b'"'))
            .map_or(b.len(), |n| i + n);
        if b.get(end) != Some(&b'"') {
            col += b[i..end].iter().filter(|&&c| c & 0xc0 != 0x80).count();
            tokens.push(Token {
                text: Cow::Borrowed(&line[start..end]),
                column: start_col,
            });
            i = end;
            continue;
        }
        // A bare word borrows from the line; quotes or escapes make an owned copy.
        let mut owned: Option<Vec<u8>> = None;
        let mut quote_col = 0;
        let mut in_quote = false;
        while i < b.len() {
            let c = b[i];
            if c & 0xc0 != 0x80 {
                col += 1;
            }
            if in_quote {
                i += 1;
                let buf = owned.get_or_insert_with(Vec::new);
                match c {
                    b'\\' => match b.get(i) {
                        Some(&esc) => {
                            if esc & 0xc0 != 0x80 {
                                col += 1;
                            }
                            buf.push(esc);
                            i += 1;
                        }
                        None => return Err((NetfilterError::UnterminatedQuote, quote_col)),
                    },
                    b'"' => {
                        in_quote = false;
                        break;
                    }
                    _ => buf.push(c),
                }
            } else {
                match c {
                    b' ' | b'\t' => {
                        col -= 1;
                        break;
                    }
                    b'"' => {
                        if owned.is_none() {
                            // Room up to the closing quote (escapes only make it shorter).
                            let quoted = b[i + 1..].iter().position(|&c| c == b'"');
                            let mut buf = Vec::with_capacity(i - start + quoted.unwrap_or(0));
                            buf.extend_from_slice(&b[start..i]);
                            owned = Some(buf);
                        }
                        in_quote = true;
                        quote_col = col;
                        i += 1;
                    }
                    _ => {
                        if let Some(buf) = owned.as_mut() {
                            buf.push(c);
                        }
                        i += 1;
                    }
                }
            }
        }
        if in_quote {
            return Err((NetfilterError::UnterminatedQuote, quote_col));
        }
        let text = match owned {
            Some(v) => Cow::Owned(
                String::from_utf8(v)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
            None => Cow::Borrowed(&line[start..i]),
        };
        tokens.push(Token {
            text,
            column: start_col,
        });
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        tokenize(line)
            .unwrap()
            .into_iter()
            .map(|t| t.text.into_owned())
            .collect()
    }

    #[test]
    fn splits_like_add_param_to_argv() {
        assert_eq!(words("-A  X\t-j ACCEPT"), ["-A", "X", "-j", "ACCEPT"]);
        assert_eq!(
            words(r#"-m comment --comment "hello world" -j X"#),
            ["-m", "comment", "--comment", "hello world", "-j", "X"]
        );
        assert_eq!(words(r#"--comment "a\"b\\c""#), ["--comment", r#"a"b\c"#]);
        assert_eq!(words(r"--comment back\slash"), ["--comment", r"back\slash"]);
        assert_eq!(words("--comment 'single'"), ["--comment", "'single'"]);
        assert_eq!(words(r#"--comment """#), ["--comment", ""]);
        // A quote opens mid-word; the closing quote ends the argument.
        assert_eq!(words(r#"ab"c d"e"#), ["abc d", "e"]);
        assert_eq!(words(""), Vec::<String>::new());
        assert_eq!(words("   "), Vec::<String>::new());
    }

    #[test]
    fn columns_are_one_based_characters() {
        let t = tokenize(r#"-A X -m comment --comment "é x" -j Y"#).unwrap();
        let cols: Vec<usize> = t.iter().map(|t| t.column).collect();
        assert_eq!(cols, [1, 4, 6, 9, 17, 27, 33, 36]);
    }

    #[test]
    fn unterminated_quote_is_an_error_at_the_quote() {
        assert_eq!(
            tokenize(r#"-A X --comment "abc"#),
            Err((NetfilterError::UnterminatedQuote, 16))
        );
        assert_eq!(
            tokenize(r#"-A X --comment "abc\"#),
            Err((NetfilterError::UnterminatedQuote, 16))
        );
    }
}
