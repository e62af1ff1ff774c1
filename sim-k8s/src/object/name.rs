//! Object-name rules, as apimachinery's `validation.IsDNS1123Subdomain`, `IsDNS1123Label` and
//! `IsDNS1035Label` state them, and which kind uses which (`pkg/apis/core/validation`:
//! `ValidatePodName`, `ValidateServiceName`, `ValidateNamespaceName`, ...; apps:
//! `ValidateStatefulSetName` is a label because pod names append `-<ordinal>`).

use super::kind::Kind;

/// The name rule a kind's `metadata.name` must follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`, at most 253.
    Dns1123Subdomain,
    /// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
    Dns1123Label,
    /// `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63.
    Dns1035Label,
}

impl Kind {
    /// The rule `metadata.name` is validated with.
    pub fn name_rule(self) -> NameRule {
        match self {
            Kind::Service => NameRule::Dns1035Label,
            Kind::Namespace | Kind::StatefulSet => NameRule::Dns1123Label,
            Kind::Pod
            | Kind::Node
            | Kind::ConfigMap
            | Kind::Endpoints
            | Kind::EndpointSlice
            | Kind::Deployment
            | Kind::ReplicaSet
            | Kind::DaemonSet
            | Kind::NetworkPolicy => NameRule::Dns1123Subdomain,
        }
    }
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn is_label_body(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    let first_ok = if first_alpha {
        first.is_ascii_lowercase()
    } else {
        first.is_ascii_lowercase() || first.is_ascii_digit()
    };
    first_ok
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Checks `name` against `rule`; the error is the message apimachinery gives.
pub fn check_name(rule: NameRule, name: &str) -> Result<(), String> {
    let (max, ok, msg) = match rule {
        NameRule::Dns1123Label => (63, is_label_body(name, false), DNS1123_LABEL_MSG),
        NameRule::Dns1035Label => (63, is_label_body(name, true), DNS1035_LABEL_MSG),
        NameRule::Dns1123Subdomain => (
            253,
            name.split('.').all(|part| is_label_body(part, false)),
            DNS1123_SUBDOMAIN_MSG,
        ),
    };
    if name.len() > max {
        return Err(format!("must be no more than {max} characters"));
    }
    if !ok {
        return Err(msg.to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cases from apimachinery's validation_test.go (TestIsDNS1123Label, TestIsDNS1123Subdomain,
    // TestIsDNS1035Label).
    #[test]
    fn rules_accept_and_reject_like_apimachinery() {
        for ok in [
            "a",
            "ab",
            "abc",
            "a1",
            "a-1",
            "a--1--2--b",
            "0",
            "01",
            "012",
            "1a",
            "1-a",
        ] {
            assert!(check_name(NameRule::Dns1123Label, ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "A", "ABC", "aBc", "A1", "a@b", "-", "a-", "-a", "1-", "_", "a.b",
        ] {
            assert!(check_name(NameRule::Dns1123Label, bad).is_err(), "{bad}");
        }
        for ok in ["a.b", "a.b.c", "1.a", "a-1.b-2", "web-0.web.default"] {
            assert!(check_name(NameRule::Dns1123Subdomain, ok).is_ok(), "{ok}");
        }
        for bad in ["a..b", ".a", "a.", "a_b", "A.b"] {
            assert!(
                check_name(NameRule::Dns1123Subdomain, bad).is_err(),
                "{bad}"
            );
        }
        assert!(check_name(NameRule::Dns1035Label, "my-svc").is_ok());
        assert!(check_name(NameRule::Dns1035Label, "1svc").is_err());
        assert_eq!(
            check_name(NameRule::Dns1123Label, &"a".repeat(64)),
            Err("must be no more than 63 characters".to_owned())
        );
        assert!(check_name(NameRule::Dns1123Subdomain, &"a".repeat(253)).is_ok());
    }
}
