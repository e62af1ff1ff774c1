//! # Corefile
//!
//! CoreDNS's configuration file (Caddyfile syntax, `coredns/caddy` `caddyfile/parse.go`):
//! server blocks, each opened by one or more keys `[dns://]ZONE[:PORT]` (separated by spaces
//! or commas) and a `{ ... }` body of directives; a directive is a name and its arguments up
//! to the end of the line, optionally followed by a `{ ... }` block of sub-directives (which
//! may nest). A file with a single server block may leave out its braces.
//!
//! Errors name the line and column and what was expected ([`CorefileError`]). Not supported
//! (clear errors): `import` and snippets `(name) { }`, environment variables `{$VAR}`,
//! non-DNS schemes (`tls://`, `https://`, `grpc://`, `quic://`), CIDR keys (`10.0.0.0/24`).
//! [`plugins`] turns the directives into plugin configurations.

pub mod error;
pub mod lexer;
pub mod plugins;

use hickory_proto::rr::Name;

pub use error::CorefileError;
use lexer::{Token, tokenize};

use super::reply::parse_fqdn;

/// The Corefile kubeadm installs (`cmd/kubeadm/app/phases/addons/dns/manifests.go`,
/// `CoreDNSConfigMap`, with `DNSDomain` = `cluster.local`).
pub const KUBEADM_COREFILE: &str = r#".:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"#;

/// The port a key without one listens on.
pub const DEFAULT_PORT: u16 = 53;

/// A whole Corefile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corefile {
    pub server_blocks: Vec<ServerBlock>,
}

/// `KEYS { DIRECTIVES }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBlock {
    pub keys: Vec<ZoneKey>,
    pub directives: Vec<Directive>,
}

/// `[dns://]ZONE[:PORT]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneKey {
    /// Lowercase, fully qualified (`.` for the root).
    pub zone: Name,
    pub port: u16,
    pub line: usize,
    pub column: usize,
}

/// A directive (plugin or plugin option) with its arguments and block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: String,
    pub args: Vec<String>,
    pub block: Vec<Directive>,
    pub line: usize,
    pub column: usize,
}

impl Corefile {
    /// Parses Corefile text.
    pub fn parse(text: &str) -> Result<Corefile, CorefileError> {
        let tokens = tokenize(text)?;
        let mut p = Parser { tokens, pos: 0 };
        let mut server_blocks = Vec::new();
        while p.peek().is_some() {
            server_blocks.push(p.server_block(server_blocks.is_empty())?);
        }
        let mut served = std::collections::BTreeSet::new();
        for key in server_blocks.iter().flat_map(|b| &b.keys) {
            if !served.insert((key.zone.clone(), key.port)) {
                return Err(CorefileError::syntax(
                    key.line,
                    key.column,
                    "a zone and port not already served by another key",
                    &format!("{}:{} again", key.zone, key.port),
                ));
            }
        }
        if server_blocks.is_empty() {
            return Err(CorefileError::syntax(
                1,
                1,
                "a server block such as `.:53 { ... }`",
                "an empty file",
            ));
        }
        Ok(Corefile { server_blocks })
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

fn describe(t: &Token) -> String {
    if t.quoted {
        format!("\"{}\"", t.text)
    } else {
        format!("'{}'", t.text)
    }
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn last_position(&self) -> (usize, usize) {
        self.tokens
            .last()
            .map_or((1, 1), |t| (t.line, t.column + t.text.chars().count()))
    }

    fn server_block(&mut self, first: bool) -> Result<ServerBlock, CorefileError> {
        let mut keys = Vec::new();
        while let Some(t) = self.peek().cloned() {
            if t.is("{")
                || (!keys.is_empty() && t.starts_line && !continues(&self.tokens, self.pos))
            {
                break;
            }
            self.pos += 1;
            if t.is("}") {
                return Err(CorefileError::syntax(
                    t.line,
                    t.column,
                    "a server address such as `.:53`",
                    "'}' with no block open",
                ));
            }
            check_unsupported(&t)?;
            for part in t.text.split(',').filter(|p| !p.is_empty()) {
                keys.push(zone_key(part, &t)?);
            }
        }
        let Some(first_key) = keys.first().cloned() else {
            let t = self.peek().cloned();
            let (line, column) = t.as_ref().map_or((1, 1), |t| (t.line, t.column));
            return Err(CorefileError::syntax(
                line,
                column,
                "a server address such as `.:53` or `cluster.local:53` before '{'",
                &t.map_or("end of file".into(), |t| describe(&t)),
            ));
        };
        match self.peek() {
            Some(t) if t.is("{") => {
                let open = self.next().expect("peeked");
                let directives = self.body(Some(&open))?;
                Ok(ServerBlock { keys, directives })
            }
            // A single server block may leave out its braces (the rest of the file).
            _ if first => {
                let directives = self.body(None)?;
                Ok(ServerBlock { keys, directives })
            }
            other => {
                let found = other.map_or("end of file".into(), describe);
                Err(CorefileError::syntax(
                    first_key.line,
                    first_key.column,
                    "'{' to open this server block",
                    &found,
                ))
            }
        }
    }

    /// Directives up to the `}` closing `open` (or to the end of the file).
    fn body(&mut self, open: Option<&Token>) -> Result<Vec<Directive>, CorefileError> {
        let mut directives = Vec::new();
        loop {
            let Some(t) = self.next() else {
                return match open {
                    None => Ok(directives),
                    Some(open) => {
                        let (line, column) = self.last_position();
                        Err(CorefileError::syntax(
                            line,
                            column,
                            &format!("'}}' to close the block opened at line {}", open.line),
                            "end of file",
                        ))
                    }
                };
            };
            if t.is("}") {
                if open.is_some() {
                    return Ok(directives);
                }
                return Err(CorefileError::syntax(
                    t.line,
                    t.column,
                    "a directive",
                    "'}' with no block open",
                ));
            }
            if t.is("{") {
                return Err(CorefileError::syntax(
                    t.line,
                    t.column,
                    "a directive name",
                    "'{'",
                ));
            }
            check_unsupported(&t)?;
            if t.text == "import" {
                return Err(CorefileError::plugin(
                    t.line,
                    t.column,
                    "import",
                    "import is not supported; paste the imported text in place".into(),
                ));
            }
            let mut d = Directive {
                name: t.text.clone(),
                args: Vec::new(),
                block: Vec::new(),
                line: t.line,
                column: t.column,
            };
            while let Some(a) = self.peek() {
                if a.starts_line || a.is("}") {
                    break;
                }
                let a = self.next().expect("peeked");
                if a.is("{") {
                    d.block = self.body(Some(&a))?;
                    break;
                }
                check_unsupported(&a)?;
                d.args.push(a.text);
            }
            directives.push(d);
        }
    }
}

/// Whether the key line at `pos` continues the previous (it ended with a comma).
fn continues(tokens: &[Token], pos: usize) -> bool {
    pos > 0 && tokens[pos - 1].text.ends_with(',')
}

fn check_unsupported(t: &Token) -> Result<(), CorefileError> {
    if t.quoted {
        return Ok(());
    }
    if t.text.starts_with("{$") || t.text.starts_with("{%") {
        return Err(CorefileError::syntax(
            t.line,
            t.column,
            "a literal value (environment variables are not supported)",
            &describe(t),
        ));
    }
    if t.text.starts_with('(') && t.text.ends_with(')') {
        return Err(CorefileError::syntax(
            t.line,
            t.column,
            "a server address (snippets are not supported)",
            &describe(t),
        ));
    }
    Ok(())
}

/// `[dns://]ZONE[:PORT]`.
fn zone_key(text: &str, t: &Token) -> Result<ZoneKey, CorefileError> {
    let bad = |why: &str| {
        CorefileError::syntax(
            t.line,
            t.column,
            &format!("a server address [dns://]ZONE[:PORT] such as `.:53` ({why})"),
            &format!("'{text}'"),
        )
    };
    let rest = match text.split_once("://") {
        Some(("dns", rest)) => rest,
        Some((scheme, _)) => return Err(bad(&format!("scheme {scheme}:// is not supported"))),
        None => text,
    };
    let (zone, port) = match rest.rsplit_once(':') {
        Some((zone, port)) => {
            let port: u16 = port.parse().map_err(|_| bad("the port is not a number"))?;
            (zone, port)
        }
        None => (rest, DEFAULT_PORT),
    };
    if zone.contains('/') {
        return Err(bad("CIDR zones are not supported"));
    }
    let zone = if zone.is_empty() { "." } else { zone };
    if !zone
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        return Err(bad("not a domain name"));
    }
    let name = parse_fqdn(&zone.to_ascii_lowercase()).ok_or_else(|| bad("not a domain name"))?;
    Ok(ZoneKey {
        zone: name,
        port,
        line: t.line,
        column: t.column,
    })
}

#[cfg(test)]
mod tests;
