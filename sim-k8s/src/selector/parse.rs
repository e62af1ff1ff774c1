//! The string form of a label selector (`kubectl get -l 'app=web,tier in (a,b),!canary'`),
//! parsed as apimachinery's `labels.Parse` does: the same lexer (identifiers end at whitespace
//! or one of `=!(),><`), the same grammar, the same error texts, requirements sorted by key.

use std::collections::BTreeSet;

use super::error::SelectorError;
use super::requirement::{Operator, Requirement};
use super::validation::check_label_key;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier(String),
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
    Error(String),
}

impl Token {
    fn literal(&self) -> String {
        match self {
            Token::End => String::new(),
            Token::ClosedPar => ")".into(),
            Token::Comma => ",".into(),
            Token::DoesNotExist => "!".into(),
            Token::DoubleEquals => "==".into(),
            Token::Equals => "=".into(),
            Token::GreaterThan => ">".into(),
            Token::Identifier(s) | Token::Error(s) => s.clone(),
            Token::In => "in".into(),
            Token::LessThan => "<".into(),
            Token::NotEquals => "!=".into(),
            Token::NotIn => "notin".into(),
            Token::OpenPar => "(".into(),
        }
    }
}

fn keyword(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn lex(input: &str) -> Vec<Token> {
    let b = input.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            out.push(Token::End);
            return out;
        }
        if is_special(b[i]) {
            // Longest run of special symbols that still spells an operator.
            let start = i;
            let mut last: Option<(Token, usize)> = None;
            let mut j = i;
            while j < b.len() && is_special(b[j]) {
                j += 1;
                if let Some(t) = keyword(&input[start..j]) {
                    last = Some((t, j));
                } else if last.is_some() {
                    break;
                }
            }
            match last {
                Some((t, end)) => {
                    out.push(t);
                    i = end;
                }
                None => {
                    out.push(Token::Error(format!(
                        "error expected: keyword found '{}'",
                        &input[start..j]
                    )));
                    i = j;
                }
            }
        } else {
            let start = i;
            while i < b.len() && !is_special(b[i]) && !is_space(b[i]) {
                i += 1;
            }
            let word = &input[start..i];
            out.push(keyword(word).unwrap_or_else(|| Token::Identifier(word.to_owned())));
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

/// In a values position `in` and `notin` are ordinary identifiers (`x in (in)`).
fn as_value(t: Token) -> Token {
    match t {
        Token::In => Token::Identifier("in".into()),
        Token::NotIn => Token::Identifier("notin".into()),
        t => t,
    }
}

fn err(message: String) -> SelectorError {
    SelectorError::Parse { message }
}

impl Parser {
    fn peek(&self, values: bool) -> Token {
        let t = self.tokens[self.pos.min(self.tokens.len() - 1)].clone();
        if values { as_value(t) } else { t }
    }

    fn next(&mut self, values: bool) -> Token {
        let t = self.peek(values);
        self.pos += 1;
        t
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, SelectorError> {
        let mut reqs = Vec::new();
        loop {
            match self.peek(true) {
                Token::Identifier(_) | Token::DoesNotExist => {
                    let r = self.requirement().map_err(|e| match e {
                        SelectorError::Parse { message } => {
                            err(format!("unable to parse requirement: {message}"))
                        }
                        other => other,
                    })?;
                    reqs.push(r);
                    match self.next(true) {
                        Token::End => return Ok(reqs),
                        Token::Comma => {
                            let t = self.peek(true);
                            if !matches!(t, Token::Identifier(_) | Token::DoesNotExist) {
                                return Err(err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                )));
                            }
                        }
                        t => {
                            return Err(err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            )));
                        }
                    }
                }
                Token::End => return Ok(reqs),
                t => {
                    return Err(err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    )));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let mut negate = false;
        let mut tok = self.next(true);
        if tok == Token::DoesNotExist {
            negate = true;
            tok = self.next(true);
        }
        let Token::Identifier(key) = tok else {
            return Err(err(format!(
                "found '{}', expected: identifier",
                tok.literal()
            )));
        };
        check_label_key(&key).map_err(|reason| SelectorError::InvalidKey {
            key: key.clone(),
            reason,
        })?;
        // `!key` is complete by itself; whatever follows is the caller's to reject.
        if negate {
            return Requirement::new(key, Operator::DoesNotExist, Vec::new());
        }
        if matches!(self.peek(true), Token::End | Token::Comma) {
            return Requirement::new(key, Operator::Exists, Vec::new());
        }
        let op = match self.next(false) {
            Token::In => Operator::In,
            Token::Equals => Operator::Equals,
            Token::DoubleEquals => Operator::DoubleEquals,
            Token::GreaterThan => Operator::GreaterThan,
            Token::LessThan => Operator::LessThan,
            Token::NotIn => Operator::NotIn,
            Token::NotEquals => Operator::NotEquals,
            t => {
                return Err(err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    t.literal()
                )));
            }
        };
        let values = match op {
            Operator::In | Operator::NotIn => self.set_values()?,
            _ => self.exact_value()?,
        };
        Requirement::new(key, op, values.into_iter().collect())
    }

    fn set_values(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let t = self.next(true);
        if t != Token::OpenPar {
            return Err(err(format!("found '{}' expected: '('", t.literal())));
        }
        let t = self.peek(true);
        match t {
            Token::Identifier(_) | Token::Comma => {
                let set = self.identifiers()?;
                if self.next(true) != Token::ClosedPar {
                    return Err(err(format!("found '{}', expected: ')'", t.literal())));
                }
                Ok(set)
            }
            Token::ClosedPar => {
                self.next(true);
                Ok(BTreeSet::from([String::new()]))
            }
            t => Err(err(format!(
                "found '{}', expected: ',', ')' or identifier",
                t.literal()
            ))),
        }
    }

    fn identifiers(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        let mut set = BTreeSet::new();
        loop {
            match self.next(true) {
                Token::Identifier(v) => {
                    set.insert(v);
                    match self.peek(true) {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(set),
                        t => {
                            return Err(err(format!(
                                "found '{}', expected: ',' or ')'",
                                t.literal()
                            )));
                        }
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    match self.peek(true) {
                        Token::ClosedPar => {
                            set.insert(String::new());
                            return Ok(set);
                        }
                        Token::Comma => {
                            set.insert(String::new());
                        }
                        _ => {}
                    }
                }
                t => {
                    return Err(err(format!(
                        "found '{}', expected: ',', or identifier",
                        t.literal()
                    )));
                }
            }
        }
    }

    fn exact_value(&mut self) -> Result<BTreeSet<String>, SelectorError> {
        if matches!(self.peek(true), Token::End | Token::Comma) {
            return Ok(BTreeSet::from([String::new()]));
        }
        match self.next(true) {
            Token::Identifier(v) => Ok(BTreeSet::from([v])),
            t => Err(err(format!(
                "found '{}', expected: identifier",
                t.literal()
            ))),
        }
    }
}

/// Parses the string form into requirements sorted by key (stable for equal keys).
pub(crate) fn parse(input: &str) -> Result<Vec<Requirement>, SelectorError> {
    let mut p = Parser {
        tokens: lex(input),
        pos: 0,
    };
    let mut reqs = p.parse()?;
    reqs.sort_by(|a, b| a.key().cmp(b.key()));
    Ok(reqs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        parse(s)
            .unwrap()
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    // Cases from apimachinery's TestSelectorParse / TestToString / TestLexer.
    #[test]
    fn parses_like_labels_parse() {
        assert_eq!(show(""), "");
        assert_eq!(show("x=a,y=b,z=c"), "x=a,y=b,z=c");
        assert_eq!(show("z=c,x=a"), "x=a,z=c");
        assert_eq!(show("x=,z= "), "x=,z=");
        assert_eq!(show("x= ,z= "), "x=,z=");
        assert_eq!(show("!x"), "!x");
        assert_eq!(show("x>1"), "x>1");
        assert_eq!(show("x<1,y>2"), "x<1,y>2");
        assert_eq!(
            show("x in (foo,,baz),y,z notin ()"),
            "x in (,baz,foo),y,z notin ()"
        );
        assert_eq!(show("x in (in)"), "x in (in)");
        assert_eq!(show("x notin(a)"), "x notin (a)");
        assert_eq!(show("x==a"), "x==a");
        assert_eq!(show("x!=a"), "x!=a");
        assert_eq!(show("w in (a,b) , x"), "w in (a,b),x");
    }

    #[test]
    fn rejects_like_labels_parse() {
        for bad in [
            "x=a||y=b", "x==a==b", "!x=a", "x<a", "x>1,z<a", "x in (a", "x in a", ",x", "x,",
            "x=a,", "x notin", "x>", "=a",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert_eq!(
            parse("x=a b").unwrap_err().to_string(),
            "found 'b', expected: ',' or 'end of string'"
        );
        assert_eq!(
            parse("!x=a").unwrap_err().to_string(),
            "found '=', expected: ',' or 'end of string'"
        );
        assert_eq!(
            parse("x in a").unwrap_err().to_string(),
            "unable to parse requirement: found 'a' expected: '('"
        );
    }
}
