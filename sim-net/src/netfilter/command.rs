//! One iptables command as an iptables-restore line carries it (`-A CHAIN RULE`,
//! `-I CHAIN [N] RULE`, `-D CHAIN RULE|N`, `-N`, `-X`, `-F`, `-P`), and the rule
//! specification parser behind it.
//!
//! Options are dispatched the way iptables' `command_default` does: an extension option goes to
//! the most recently loaded match or target that has it (a second `-m tcp` starts a new
//! instance); an option nothing has loaded yet loads the protocol's match implicitly once when
//! `-p tcp|udp|sctp|icmp` came before it (`-p tcp --dport 80` saves as `-p tcp -m tcp --dport
//! 80`). Simplified: the command must come first on the line; long options must be spelled out
//! (getopt's unique abbreviations such as `--dst-t` are not accepted); `-s`/`-d` take one
//! address (not a comma-separated list); `-f` is not supported.

use crate::netfilter::error::NetfilterError;
use crate::netfilter::match_options::{MatchBuilder, MatchModule};
use crate::netfilter::matches::Negatable;
use crate::netfilter::rule::{AddrMask, Protocol, Rule};
use crate::netfilter::target::Target;
use crate::netfilter::target_options::{JumpTo, TargetBuilder};
use crate::netfilter::tokenize::Token;
use crate::netfilter::value::{check_iface, parse_addr_mask, parse_uint};

/// An error and the column of the token at fault, if one is.
pub(crate) type Located = (NetfilterError, Option<usize>);

/// `-D` by position or by rule specification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeleteWhich {
    Position(usize),
    Spec(Rule),
}

/// One command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command<'t> {
    Append {
        chain: &'t str,
        rule: Rule,
    },
    Insert {
        chain: &'t str,
        pos: usize,
        rule: Rule,
    },
    Delete {
        chain: &'t str,
        which: DeleteWhich,
    },
    NewChain(&'t str),
    DeleteChain(Option<&'t str>),
    Flush(Option<&'t str>),
    Policy {
        chain: &'t str,
        policy: &'t str,
    },
}

/// Parses the tokens of one rule line (after any `[p:b]` prefix).
pub(crate) fn parse_command<'t>(tokens: &'t [Token<'_>]) -> Result<Command<'t>, Located> {
    let Some(first) = tokens.first() else {
        return Err((NetfilterError::ExpectedCommand(String::new()), None));
    };
    let arg = |i: usize| -> Result<&'t str, Located> {
        tokens.get(i).map(|t| t.text.as_ref()).ok_or_else(|| {
            (
                NetfilterError::MissingArgument(first.text.to_string()),
                Some(first.column),
            )
        })
    };
    let no_more = |from: usize| -> Result<(), Located> {
        match tokens.get(from) {
            Some(t) => Err((
                NetfilterError::UnexpectedArgument(t.text.to_string()),
                Some(t.column),
            )),
            None => Ok(()),
        }
    };
    let optional_chain = |i: usize| -> Result<Option<&'t str>, Located> {
        no_more(i + 1)?;
        Ok(tokens.get(i).map(|t| t.text.as_ref()))
    };
    match first.text.as_ref() {
        "-A" | "--append" => Ok(Command::Append {
            chain: arg(1)?,
            rule: parse_rule_spec(&tokens[2..])?,
        }),
        "-I" | "--insert" => {
            let chain = arg(1)?;
            let (pos, rest) = match tokens
                .get(2)
                .and_then(|t| parse_uint(&t.text, u64::from(u32::MAX)))
            {
                Some(n) => (n as usize, 3),
                None => (1, 2),
            };
            Ok(Command::Insert {
                chain,
                pos,
                rule: parse_rule_spec(&tokens[rest.min(tokens.len())..])?,
            })
        }
        "-D" | "--delete" => {
            let chain = arg(1)?;
            let which = match tokens
                .get(2)
                .and_then(|t| parse_uint(&t.text, u64::from(u32::MAX)))
            {
                Some(n) if tokens.len() == 3 => DeleteWhich::Position(n as usize),
                _ => DeleteWhich::Spec(parse_rule_spec(&tokens[2.min(tokens.len())..])?),
            };
            Ok(Command::Delete { chain, which })
        }
        "-N" | "--new-chain" => {
            let c = arg(1)?;
            no_more(2)?;
            Ok(Command::NewChain(c))
        }
        "-X" | "--delete-chain" => Ok(Command::DeleteChain(optional_chain(1)?)),
        "-F" | "--flush" => Ok(Command::Flush(optional_chain(1)?)),
        "-P" | "--policy" => {
            let chain = arg(1)?;
            let policy = arg(2)?;
            no_more(3)?;
            Ok(Command::Policy { chain, policy })
        }
        "-t" | "--table" => Err((NetfilterError::TableOption, Some(first.column))),
        other => Err((
            NetfilterError::ExpectedCommand(other.to_string()),
            Some(first.column),
        )),
    }
}

/// A loaded extension, in load order.
enum Ext {
    Match(Box<MatchBuilder>),
    Target(TargetBuilder),
}

/// Parses a rule specification: everything after `-A CHAIN`.
pub(crate) fn parse_rule_spec(tokens: &[Token<'_>]) -> Result<Rule, Located> {
    let mut rule = Rule::new();
    let mut exts: Vec<Ext> = Vec::new();
    let mut jump: Option<Target> = None;
    let mut target_seen = false;
    let mut proto_used = false;
    // The generic options seen so far (each at most once).
    let mut seen_generic: [&'static str; 6] = [""; 6];
    let mut seen = 0;
    let mut invert_at: Option<usize> = None;
    let mut i = 0;
    while i < tokens.len() {
        let tok = &tokens[i];
        let text = tok.text.as_ref();
        let at = Some(tok.column);
        if text == "!" {
            if invert_at.is_some() {
                return Err((NetfilterError::UnexpectedArgument("!".into()), at));
            }
            invert_at = Some(tok.column);
            i += 1;
            continue;
        }
        let invert = invert_at.take().is_some();
        let value = |i: usize| -> Result<&str, Located> {
            tokens
                .get(i + 1)
                .map(|t| t.text.as_ref())
                .ok_or_else(|| (NetfilterError::MissingArgument(text.to_string()), at))
        };
        let generic = match text {
            "-s" | "--source" | "--src" => Some("-s"),
            "-d" | "--destination" | "--dst" => Some("-d"),
            "-i" | "--in-interface" => Some("-i"),
            "-o" | "--out-interface" => Some("-o"),
            "-p" | "--protocol" => Some("-p"),
            "-j" | "--jump" | "-g" | "--goto" => Some("-j"),
            _ => None,
        };
        if let Some(g) = generic {
            if seen_generic[..seen].contains(&g) {
                let flag = if g == "-j" { "-j/-g" } else { g };
                return Err((NetfilterError::DuplicateOption(flag.to_string()), at));
            }
            seen_generic[seen] = g;
            seen += 1;
            let v = value(i)?;
            let bad = |expected: &str| {
                (
                    NetfilterError::bad_value(g, v, expected),
                    Some(tokens[i + 1].column),
                )
            };
            match g {
                "-s" | "-d" => {
                    let (addr, mask) = parse_addr_mask(v).map_err(bad)?;
                    let a = AddrMask { addr, mask };
                    let field = if g == "-s" {
                        &mut rule.source
                    } else {
                        &mut rule.destination
                    };
                    *field = (invert || !a.is_any()).then_some(Negatable { value: a, invert });
                }
                "-i" | "-o" => {
                    check_iface(v).map_err(bad)?;
                    let field = if g == "-i" {
                        &mut rule.in_interface
                    } else {
                        &mut rule.out_interface
                    };
                    // `+` and the empty name match every interface and print as nothing.
                    *field = (invert || (v != "+" && !v.is_empty())).then(|| Negatable {
                        value: v.to_string(),
                        invert,
                    });
                }
                "-p" => {
                    let n = parse_uint(v, 255)
                        .map(|n| n as u8)
                        .or_else(|| Protocol::number_from_name(v))
                        .ok_or_else(|| {
                            bad("a protocol name (tcp, udp, sctp, icmp, all, …) or number 0-255")
                        })?;
                    if n == 0 {
                        if invert {
                            return Err(bad("a protocol: `! -p all` would never match"));
                        }
                    } else {
                        rule.protocol = Some(Negatable {
                            value: Protocol::from_number(n),
                            invert,
                        });
                    }
                }
                _ => {
                    if invert {
                        return Err((NetfilterError::CannotInvert(text.to_string()), at));
                    }
                    target_seen = true;
                    if text == "-g" || text == "--goto" {
                        jump = Some(Target::Goto(v.into()));
                    } else {
                        match TargetBuilder::for_name(v, tokens[i + 1].column) {
                            Ok(JumpTo::Chain(c)) => jump = Some(Target::Jump(c)),
                            Ok(JumpTo::Builder(b)) => exts.push(Ext::Target(b)),
                            Err(e) => return Err((e, Some(tokens[i + 1].column))),
                        }
                    }
                }
            }
            i += 2;
            continue;
        }
        if text == "-m" || text == "--match" {
            if invert {
                return Err((NetfilterError::CannotInvert(text.to_string()), at));
            }
            let v = value(i)?;
            let module = MatchModule::from_name(v).ok_or_else(|| {
                (
                    NetfilterError::UnknownMatch(v.to_string()),
                    Some(tokens[i + 1].column),
                )
            })?;
            for e in exts.iter_mut() {
                if let Ext::Match(m) = e
                    && m.module == module
                {
                    m.completed = true;
                }
            }
            exts.push(Ext::Match(Box::new(MatchBuilder::new(module, tok.column))));
            i += 2;
            continue;
        }
        if text == "-t" || text == "--table" {
            return Err((NetfilterError::TableOption, at));
        }
        let Some(name) = text.strip_prefix("--") else {
            return Err((
                if text.starts_with('-') && text.len() > 1 {
                    NetfilterError::UnknownOption(text.to_string())
                } else {
                    NetfilterError::UnexpectedArgument(text.to_string())
                },
                at,
            ));
        };
        // The most recently loaded extension that has the option.
        let mut owner = exts.iter().rposition(|e| match e {
            Ext::Match(m) => !m.completed && m.option(name).is_some(),
            Ext::Target(t) => t.option(name).is_some(),
        });
        if owner.is_none()
            && !proto_used
            && let Some(p) = rule.protocol.filter(|p| !p.invert)
            && let Some(module) = MatchModule::for_protocol(p.value.number())
        {
            let m = Box::new(MatchBuilder::new(module, tok.column));
            if m.option(name).is_some() {
                proto_used = true;
                exts.push(Ext::Match(m));
                owner = Some(exts.len() - 1);
            }
        }
        let Some(owner) = owner else {
            return Err((NetfilterError::UnknownOption(text.to_string()), at));
        };
        let spec = match &exts[owner] {
            Ext::Match(m) => m.option(name),
            Ext::Target(t) => t.option(name),
        }
        .expect("the owner was chosen for having this option");
        if invert && !spec.invert {
            return Err((NetfilterError::CannotInvert(text.to_string()), at));
        }
        let mut buf = [""; 2];
        let given = tokens
            .get(i + 1..i + 1 + spec.args)
            .ok_or_else(|| (NetfilterError::MissingArgument(text.to_string()), at))?;
        for (slot, t) in buf.iter_mut().zip(given) {
            *slot = t.text.as_ref();
        }
        let args = &buf[..spec.args.min(2)];
        let res = match &mut exts[owner] {
            Ext::Match(m) => m.apply(spec, invert, args),
            Ext::Target(t) => t.apply(spec, args),
        };
        let arg_col = tokens
            .get(i + 1)
            .filter(|_| spec.args > 0)
            .map(|t| t.column);
        res.map_err(|e| {
            let col = match e {
                NetfilterError::BadValue { .. } => arg_col.or(at),
                _ => at,
            };
            (e, col)
        })?;
        i += 1 + spec.args;
    }
    if let Some(col) = invert_at {
        return Err((NetfilterError::DanglingInvert, Some(col)));
    }
    let matches = exts.iter().filter(|e| matches!(e, Ext::Match(_))).count();
    rule.matches.reserve_exact(matches);
    for e in exts {
        match e {
            Ext::Match(m) => {
                let col = m.column;
                rule.matches.push(m.finish().map_err(|e| (e, Some(col)))?);
            }
            Ext::Target(t) => {
                let col = t.column;
                jump = Some(t.finish().map_err(|e| (e, Some(col)))?);
            }
        }
    }
    debug_assert!(target_seen || jump.is_none());
    rule.target = jump;
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netfilter::tokenize::tokenize;

    fn rule(line: &str) -> Result<String, NetfilterError> {
        let toks = tokenize(line).unwrap();
        parse_rule_spec(&toks)
            .map(|r| r.to_string())
            .map_err(|e| e.0)
    }

    #[test]
    fn kube_proxy_input_order_saves_in_iptables_order() {
        // kube-proxy writes `-m tcp -p tcp -d … --dport`; iptables-legacy-save v1.8.9 prints:
        assert_eq!(
            rule(r#"-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ"#).unwrap(),
            r#"! -s 10.0.0.0/8 -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ"#
        );
        assert_eq!(
            rule("-m comment --comment ns1/svc1:p80 -m recent --name KUBE-SEP-A --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80").unwrap(),
            r#"-p tcp -m comment --comment "ns1/svc1:p80" -m recent --set --name KUBE-SEP-A --mask 255.255.255.255 --rsource -m tcp -j DNAT --to-destination 10.180.0.3:80"#
        );
        assert_eq!(
            rule("-j MARK --or-mark 0x4000").unwrap(),
            "-j MARK --set-xmark 0x4000/0x4000"
        );
        assert_eq!(
            rule("-j MARK --xor-mark 0x4000").unwrap(),
            "-j MARK --set-xmark 0x4000/0x0"
        );
    }

    #[test]
    fn protocol_matches_load_implicitly_once() {
        assert_eq!(
            rule("-p tcp -m comment --comment x --dport 80 -j ACCEPT").unwrap(),
            "-p tcp -m comment --comment x -m tcp --dport 80 -j ACCEPT"
        );
        assert_eq!(
            rule("-p udp --sport 53 -m comment --comment x -j ACCEPT").unwrap(),
            "-p udp -m udp --sport 53 -m comment --comment x -j ACCEPT"
        );
        assert_eq!(
            rule("-p tcp --syn --dport 22 --sport 1").unwrap(),
            "-p tcp -m tcp --sport 1 --dport 22 --tcp-flags FIN,SYN,RST,ACK SYN"
        );
        assert_eq!(
            rule("-p icmp --icmp-type echo-request -j ACCEPT").unwrap(),
            "-p icmp -m icmp --icmp-type 8 -j ACCEPT"
        );
        assert_eq!(
            rule("--dport 80 -p tcp"),
            Err(NetfilterError::UnknownOption("--dport".into()))
        );
        assert_eq!(
            rule("-p tcp -m tcp --dport 1 -m tcp --sport 2").unwrap(),
            "-p tcp -m tcp --dport 1 -m tcp --sport 2"
        );
    }

    #[test]
    fn generic_options_canonicalise_like_iptables() {
        assert_eq!(
            rule("-s 10.1.2.3/24 -p 6").unwrap(),
            "-s 10.1.2.0/24 -p tcp"
        );
        assert_eq!(rule("-s 0.0.0.0/0 -i + -p all").unwrap(), "");
        assert_eq!(rule("! -s 0.0.0.0/0").unwrap(), "! -s 0.0.0.0/0");
        assert_eq!(rule("-p ICMP").unwrap(), "-p icmp");
        assert_eq!(
            rule("-d 10.0.0.1/255.0.255.0").unwrap(),
            "-d 10.0.0.0/255.0.255.0"
        );
        assert_eq!(rule("-p tcp --dport 0:65535").unwrap(), "-p tcp -m tcp");
        assert_eq!(
            rule("-p tcp --dport 80:").unwrap(),
            "-p tcp -m tcp --dport 80:65535"
        );
        assert_eq!(
            rule("-p tcp --dport 5:5").unwrap(),
            "-p tcp -m tcp --dport 5"
        );
        assert!(matches!(
            rule("-i eth0 -i eth1"),
            Err(NetfilterError::DuplicateOption(_))
        ));
        assert!(matches!(
            rule("-j ACCEPT -g X"),
            Err(NetfilterError::DuplicateOption(_))
        ));
        assert_eq!(rule("-s 1.1.1.1 !"), Err(NetfilterError::DanglingInvert));
        assert_eq!(
            rule("! -p all"),
            Err(NetfilterError::bad_value(
                "-p",
                "all",
                "a protocol: `! -p all` would never match"
            ))
        );
    }
}
