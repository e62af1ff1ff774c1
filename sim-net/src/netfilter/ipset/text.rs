//! `ipset save` and `ipset restore` (ipset userspace src/ipset.c, lib/ipset.c, lib/session.c).
//!
//! Save prints, set by set in slot order, a `create` line and one `add` line per member:
//!
//! ```text
//! create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
//! add KUBE-CLUSTER-IP 10.96.0.1,tcp:443
//! create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
//! add KUBE-NODE-PORT-TCP 30080
//! ```
//!
//! Create options print in the order of the type's argument list (family, hashsize, maxelem,
//! timeout, counters, comment, forceadd, skbinfo, bucketsize, initval; bitmap:port: range,
//! timeout, counters, comment, skbinfo); `add` extensions as timeout, nomatch, comment.
//!
//! Restore reads one command per line (`create`, `add`, `del`, `destroy`, `flush`, `rename`,
//! `swap`, also their one-letter and `-X` forms), skips blank lines, `#` comments and
//! `COMMIT`, and honours `-exist`/`-!` given to the whole restore or on a line. Like the real
//! command it stops at the first failing line, whose number it reports, and the lines before
//! it stay applied.

use std::fmt::Write as _;

use super::{CreateOptions, EntryOptions, IpSetError, IpSets, SetFamily, SetType};

/// A restore line that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Error in line {line}: {error}")]
pub struct RestoreError {
    /// 1-based.
    pub line: usize,
    pub error: IpSetError,
}

impl IpSets {
    /// `ipset save`.
    pub fn save(&self) -> String {
        let mut out = String::new();
        for set in self.iter() {
            let o = &set.options;
            let _ = write!(out, "create {} {}", set.name, set.set_type);
            if set.set_type.is_hash() {
                let _ = write!(
                    out,
                    " family {} hashsize {} maxelem {}",
                    o.family.name(),
                    o.hashsize,
                    o.maxelem
                );
            } else if let Some((lo, hi)) = o.range {
                let _ = write!(out, " range {lo}-{hi}");
            }
            if let Some(t) = o.timeout {
                let _ = write!(out, " timeout {t}");
            }
            for (on, word) in [(o.counters, "counters"), (o.comment, "comment")] {
                if on {
                    let _ = write!(out, " {word}");
                }
            }
            if set.set_type.is_hash() && o.forceadd {
                out.push_str(" forceadd");
            }
            if o.skbinfo {
                out.push_str(" skbinfo");
            }
            if let Some(b) = o.bucketsize {
                let _ = write!(out, " bucketsize {b}");
            }
            if let Some(i) = o.initval {
                let _ = write!(out, " initval {i:#010x}");
            }
            out.push('\n');
            for (elem, ext) in set.members() {
                let _ = write!(out, "add {} {elem}", set.name);
                if let Some(t) = ext.timeout {
                    let _ = write!(out, " timeout {t}");
                }
                if ext.nomatch {
                    out.push_str(" nomatch");
                }
                if let Some(c) = &ext.comment {
                    let _ = write!(out, " comment \"{c}\"");
                }
                out.push('\n');
            }
        }
        out
    }

    /// `ipset restore [-exist]`.
    pub fn restore(&mut self, text: &str, exist: bool) -> Result<(), RestoreError> {
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "COMMIT" {
                continue;
            }
            self.run_with(trimmed, exist)
                .map_err(|error| RestoreError { line: i + 1, error })?;
        }
        Ok(())
    }

    /// Runs one `ipset` command line, without the leading `ipset`: `add S 10.0.0.1 -exist`.
    pub fn run(&mut self, line: &str) -> Result<(), IpSetError> {
        self.run_with(line, false)
    }

    fn run_with(&mut self, line: &str, mut exist: bool) -> Result<(), IpSetError> {
        let mut args = Vec::new();
        for token in tokenize(line)? {
            match token.as_str() {
                "-exist" | "-!" => exist = true,
                "-quiet" | "-q" => {}
                _ => args.push(token),
            }
        }
        let mut args = args.into_iter();
        let command = args.next().ok_or(IpSetError::NoCommand)?;
        let mut need = |what: &'static str| {
            args.next().ok_or(IpSetError::MissingArgument {
                command: command.clone(),
                what,
            })
        };
        match command.as_str() {
            "create" | "n" | "-N" => {
                let name = need("a set name")?;
                let type_name = need("a set type")?;
                let set_type = SetType::from_name(&type_name)
                    .ok_or_else(|| IpSetError::UnknownType(type_name.clone()))?;
                let options = create_options(set_type, &mut args)?;
                self.create(&name, set_type, options, exist)
            }
            "add" | "a" | "-A" => {
                let name = need("a set name")?;
                let elem = need("an element")?;
                let opts = entry_options(&mut args)?;
                self.add(&name, &elem, &opts, exist)
            }
            "del" | "d" | "-D" => {
                let name = need("a set name")?;
                let elem = need("an element")?;
                no_more(&mut args)?;
                self.del(&name, &elem, exist)
            }
            "destroy" | "x" | "-X" => {
                let name = args.next();
                no_more(&mut args)?;
                self.destroy(name.as_deref())
            }
            "flush" | "f" | "-F" => {
                let name = args.next();
                no_more(&mut args)?;
                self.flush(name.as_deref())
            }
            "rename" | "e" | "-E" => {
                let from = need("a set name")?;
                let to = need("the new name")?;
                no_more(&mut args)?;
                self.rename(&from, &to)
            }
            "swap" | "w" | "-W" => {
                let a = need("a set name")?;
                let b = need("a second set name")?;
                no_more(&mut args)?;
                self.swap(&a, &b)
            }
            _ => Err(IpSetError::UnknownCommand(command)),
        }
    }
}

/// Splits a line into words; `"…"` quotes a word with spaces (comments).
fn tokenize(line: &str) -> Result<Vec<String>, IpSetError> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some(ch) => word.push(ch),
                    None => return Err(IpSetError::UnterminatedQuote),
                }
            }
        } else {
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                word.push(ch);
                chars.next();
            }
        }
        out.push(word);
    }
    Ok(out)
}

fn no_more(args: &mut impl Iterator<Item = String>) -> Result<(), IpSetError> {
    match args.next() {
        Some(extra) => Err(IpSetError::UnknownArgument(extra)),
        None => Ok(()),
    }
}

fn number<T: std::str::FromStr>(
    option: &'static str,
    value: Option<String>,
) -> Result<T, IpSetError> {
    let value = value.ok_or(IpSetError::MissingValue(option))?;
    let parsed = match value.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|n| n.to_string().parse().ok()),
        None => value.parse().ok(),
    };
    parsed.ok_or(IpSetError::BadValue { option, value })
}

fn create_options(
    set_type: SetType,
    args: &mut impl Iterator<Item = String>,
) -> Result<CreateOptions, IpSetError> {
    let mut o = CreateOptions::default();
    let hash = set_type.is_hash();
    let not_allowed = |option| IpSetError::OptionNotAllowed { option, set_type };
    while let Some(word) = args.next() {
        match word.as_str() {
            "family" if hash => {
                let v = args.next().ok_or(IpSetError::MissingValue("family"))?;
                o.family = SetFamily::from_name(&v).ok_or(IpSetError::BadValue {
                    option: "family",
                    value: v,
                })?;
            }
            "-4" | "inet" if hash => o.family = SetFamily::Inet,
            "-6" | "inet6" if hash => o.family = SetFamily::Inet6,
            "hashsize" if hash => o.hashsize = number("hashsize", args.next())?,
            "maxelem" if hash => o.maxelem = number("maxelem", args.next())?,
            "bucketsize" if hash => o.bucketsize = Some(number("bucketsize", args.next())?),
            "initval" if hash => o.initval = Some(number("initval", args.next())?),
            "forceadd" if hash => o.forceadd = true,
            "range" if !hash => {
                let v = args.next().ok_or(IpSetError::MissingValue("range"))?;
                let bad = || IpSetError::BadValue {
                    option: "range",
                    value: v.clone(),
                };
                let (lo, hi) = v.split_once('-').ok_or_else(bad)?;
                o.range = Some((
                    lo.parse().map_err(|_| bad())?,
                    hi.parse().map_err(|_| bad())?,
                ));
            }
            "timeout" => o.timeout = Some(number("timeout", args.next())?),
            "counters" => o.counters = true,
            "comment" => o.comment = true,
            "skbinfo" => o.skbinfo = true,
            "family" => return Err(not_allowed("family")),
            "hashsize" => return Err(not_allowed("hashsize")),
            "maxelem" => return Err(not_allowed("maxelem")),
            "range" => return Err(not_allowed("range")),
            _ => return Err(IpSetError::UnknownArgument(word)),
        }
    }
    Ok(o)
}

fn entry_options(args: &mut impl Iterator<Item = String>) -> Result<EntryOptions, IpSetError> {
    let mut o = EntryOptions::default();
    while let Some(word) = args.next() {
        match word.as_str() {
            "timeout" => o.timeout = Some(number("timeout", args.next())?),
            "nomatch" => o.nomatch = true,
            "comment" => {
                o.comment = Some(args.next().ok_or(IpSetError::MissingValue("comment"))?);
            }
            _ => return Err(IpSetError::UnknownArgument(word)),
        }
    }
    Ok(o)
}
