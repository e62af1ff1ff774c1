//! Splitting a rule line into arguments the way iptables-restore does (`add_param_to_argv` in
//! iptables/xshared.c): spaces and tabs separate arguments; a double quote opens a quoted part
//! even in the middle of a word, and the closing quote ends the argument; inside quotes a
//! backslash takes the next character literally; outside quotes a backslash is an ordinary
//! character; single quotes are ordinary characters; `""` is an empty argument. Unlike
//! iptables 1.8.9 (which keeps reading into the next line), an unterminated quote is an error.
//!
//! The restore input's lines are found here too ([`lines`]), with the same eight-bytes-at-a-time
//! scan the words use.

use std::borrow::Cow;

use crate::netfilter::error::NetfilterError;

/// One argument and the 1-based column (in characters) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub text: Cow<'a, str>,
    pub column: usize,
}

/// The arguments of `line`, or the error and the column of the opening quote.
#[cfg(test)]
pub(crate) fn tokenize(line: &str) -> Result<Vec<Token<'_>>, (NetfilterError, usize)> {
    let mut tokens = Vec::new();
    tokenize_into(line, &mut tokens)?;
    Ok(tokens)
}

/// The arguments of `line` into `tokens` (emptied first: a restore reuses one vector for
/// every line), or the error and the column of the opening quote.
pub(crate) fn tokenize_into<'a>(
    line: &'a str,
    tokens: &mut Vec<Token<'a>>,
) -> Result<(), (NetfilterError, usize)> {
    tokens.clear();
    if plain_words(line, tokens) {
        return Ok(());
    }
    let b = line.as_bytes();
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
        // A word that is one quoted part without escapes (kube-proxy's comments) is
        // borrowed from inside its quotes.
        if let Some((inner, end)) = plain_quoted(b, i) {
            col += line[i..end].chars().count();
            tokens.push(Token {
                text: Cow::Borrowed(&line[inner]),
                column: start_col,
            });
            i = end;
            continue;
        }
        // Most words hold no quote: found with one scan, and borrowed.
        let (end, ascii) = scan_word(b, i);
        if b.get(end) != Some(&b'"') {
            col += if ascii {
                end - i
            } else {
                b[i..end].iter().filter(|&&c| c & 0xc0 != 0x80).count()
            };
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
    Ok(())
}

/// Splits `line` at spaces when it holds no tab, double quote or non-ASCII byte (most lines:
/// a kube-proxy restore quotes only some comments), its columns then being byte offsets;
/// `false`, with nothing pushed, otherwise.
fn plain_words<'a>(line: &'a str, tokens: &mut Vec<Token<'a>>) -> bool {
    let b = line.as_bytes();
    // No early exit: the whole line is checked in wide steps.
    let special = b.iter().fold(false, |any, &c| {
        any | (c == b'"') | (c == b'\t') | (c >= 0x80)
    });
    if special {
        return false;
    }
    let mut word = |start: usize, end: usize| {
        if start < end {
            tokens.push(Token {
                text: Cow::Borrowed(&line[start..end]),
                column: start + 1,
            });
        }
    };
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        if c == b' ' {
            word(start, i);
            start = i + 1;
        }
    }
    word(start, b.len());
    true
}

/// When the word at byte `i` is `"…"` with no backslash or quote inside: the bytes inside the
/// quotes, and where the word ends (the closing quote ends it).
fn plain_quoted(b: &[u8], i: usize) -> Option<(std::ops::Range<usize>, usize)> {
    if b[i] != b'"' {
        return None;
    }
    let len = b[i + 1..].iter().position(|&c| c == b'"' || c == b'\\')?;
    let close = i + 1 + len;
    (b[close] == b'"').then_some((i + 1..close, close + 1))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` equal to `c` (exact up to the first such byte).
fn equal(w: u64, c: u8) -> u64 {
    let x = w ^ (ONES * u64::from(c));
    x.wrapping_sub(ONES) & !x & HIGH
}

/// The lines of `input` without their newlines (a last line without one included), each
/// end found eight bytes at a time.
pub(crate) fn lines(input: &str) -> impl Iterator<Item = &str> {
    let b = input.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= b.len() {
            return None;
        }
        let end = newline(b, at);
        let line = &input[at..end];
        at = end + 1;
        Some(line)
    })
}

/// From byte `i`, the index of the first newline (or the end).
fn newline(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let hits = equal(
            u64::from_le_bytes(chunk.try_into().expect("8 bytes")),
            b'\n',
        );
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| i + n)
}

/// From byte `i`, the index of the first space, tab or double quote (or the end), and whether
/// every byte before it is ASCII; eight bytes at a time (a kube-proxy restore holds 50 MB).
fn scan_word(b: &[u8], mut i: usize) -> (usize, bool) {
    let mut ascii = true;
    while let Some(chunk) = b.get(i..i + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let hits = equal(w, b' ') | equal(w, b'\t') | equal(w, b'"');
        if hits != 0 {
            let k = (hits.trailing_zeros() / 8) as usize;
            return (i + k, ascii && chunk[..k].is_ascii());
        }
        ascii &= w & HIGH == 0;
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if matches!(c, b' ' | b'\t' | b'"') {
            break;
        }
        ascii &= c.is_ascii();
        i += 1;
    }
    (i, ascii)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Lines are what splitting after each newline and dropping it gives.
        #[test]
        fn lines_split_like_the_standard_library(s in "[a\n]{0,24}|[a-z\n]{0,40}") {
            let want: Vec<&str> = s
                .split_inclusive('\n')
                .map(|l| l.strip_suffix('\n').unwrap_or(l))
                .collect();
            prop_assert_eq!(lines(&s).collect::<Vec<_>>(), want);
        }

        /// The word scan finds what a byte-by-byte scan finds.
        #[test]
        fn word_scan_matches_a_byte_scan(s in "[a-z \t\"é0-9\\-]{0,40}", from in 0usize..40) {
            let b = s.as_bytes();
            let from = from.min(b.len());
            let end = b[from..]
                .iter()
                .position(|&c| matches!(c, b' ' | b'\t' | b'"'))
                .map_or(b.len(), |n| from + n);
            prop_assert_eq!(scan_word(b, from), (end, b[from..end].is_ascii()));
        }
    }

    /// `add_param_to_argv`'s rules, one character at a time: the words and their columns, or
    /// the column of an unterminated quote.
    fn by_characters(line: &str) -> Result<Vec<(String, usize)>, usize> {
        let c: Vec<char> = line.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < c.len() {
            if c[i] == ' ' || c[i] == '\t' {
                i += 1;
                continue;
            }
            let start = i + 1;
            let mut word = String::new();
            while i < c.len() && c[i] != ' ' && c[i] != '\t' {
                if c[i] != '"' {
                    word.push(c[i]);
                    i += 1;
                    continue;
                }
                let quote = i + 1;
                i += 1;
                loop {
                    match c.get(i) {
                        None => return Err(quote),
                        Some('"') => break,
                        Some('\\') => {
                            word.push(*c.get(i + 1).ok_or(quote)?);
                            i += 2;
                        }
                        Some(&other) => {
                            word.push(other);
                            i += 1;
                        }
                    }
                }
                // The closing quote ends the argument.
                i += 1;
                break;
            }
            out.push((word, start));
        }
        Ok(out)
    }

    proptest! {
        /// The tokenizer's fast paths (bare words, plain quoted words) split and number
        /// columns as the character-by-character rules do.
        #[test]
        fn tokens_match_a_character_scan(s in "([a-z]{0,3}|[ \t]|\"|\\\\|é){0,24}") {
            let got = tokenize(&s)
                .map(|t| t.into_iter().map(|t| (t.text.into_owned(), t.column)).collect())
                .map_err(|(_, col)| col);
            prop_assert_eq!(got, by_characters(&s), "line {:?}", s);
        }
    }

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
