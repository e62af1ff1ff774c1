//! # Label selectors
//!
//! apimachinery's label selectors (`staging/src/k8s.io/apimachinery/pkg/labels/selector.go` and
//! `metav1.LabelSelectorAsSelector`), in their three spellings:
//!
//! * a `LabelSelector` object (`matchLabels` + `matchExpressions` with In, NotIn, Exists,
//!   DoesNotExist) — Deployments, NetworkPolicies: [`Selector::from_label_selector`];
//! * a Service's `spec.selector` map: [`Selector::for_service`];
//! * the string form `kubectl -l` takes: [`Selector::parse`].
//!
//! Semantics carried over: requirements are ANDed; `NotIn` and `!=` match objects without the
//! key; a *nil* `LabelSelector` matches nothing while an *empty* one matches everything; a
//! Service with a nil or empty `selector` has *no* selector (the endpoints controllers leave it
//! alone) — the API server stores `selector: {}` as absent, so both read the same.

pub mod error;
pub mod parse;
pub mod requirement;
pub mod validation;

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

pub use error::SelectorError;
pub use requirement::{Operator, Requirement};

/// A label selector: nothing, or the AND of some requirements (none = everything).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// `labels.Nothing()`: what a nil `LabelSelector` selects.
    Nothing,
    /// All requirements must match; an empty list is `labels.Everything()`.
    Requirements(Vec<Requirement>),
}

impl Selector {
    pub fn everything() -> Selector {
        Selector::Requirements(Vec::new())
    }

    pub fn nothing() -> Selector {
        Selector::Nothing
    }

    /// `metav1.LabelSelectorAsSelector`: `None` selects nothing, an empty selector everything.
    pub fn from_label_selector(ls: Option<&LabelSelector>) -> Result<Selector, SelectorError> {
        let Some(ls) = ls else {
            return Ok(Selector::Nothing);
        };
        let mut reqs = Vec::new();
        for (k, v) in ls.match_labels.iter().flatten() {
            reqs.push(Requirement::new(
                k.clone(),
                Operator::Equals,
                vec![v.clone()],
            )?);
        }
        for expr in ls.match_expressions.iter().flatten() {
            let op = match expr.operator.as_str() {
                "In" => Operator::In,
                "NotIn" => Operator::NotIn,
                "Exists" => Operator::Exists,
                "DoesNotExist" => Operator::DoesNotExist,
                other => {
                    return Err(SelectorError::UnsupportedOperator {
                        operator: other.to_owned(),
                    });
                }
            };
            reqs.push(Requirement::new(
                expr.key.clone(),
                op,
                expr.values.clone().unwrap_or_default(),
            )?);
        }
        reqs.sort_by(|a, b| a.key().cmp(b.key()));
        Ok(Selector::Requirements(reqs))
    }

    /// `labels.ValidatedSelectorFromSet`: every key equals its value; empty selects everything.
    pub fn from_set(set: &BTreeMap<String, String>) -> Result<Selector, SelectorError> {
        let reqs = set
            .iter()
            .map(|(k, v)| Requirement::new(k.clone(), Operator::Equals, vec![v.clone()]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Selector::Requirements(reqs))
    }

    /// The selector of a Service's `spec.selector`, or `None` if it has none (nil or empty):
    /// such a Service gets its endpoints from someone else. The map is taken as the API server
    /// validated it (`AsSelectorPreValidated`).
    pub fn for_service(service: &Service) -> Option<Selector> {
        let set = service.spec.as_ref()?.selector.as_ref()?;
        if set.is_empty() {
            return None;
        }
        Some(Selector::Requirements(
            set.iter()
                .map(|(k, v)| Requirement::pre_validated(k, Operator::Equals, vec![v.clone()]))
                .collect(),
        ))
    }

    /// `labels.Parse`: the string form.
    pub fn parse(input: &str) -> Result<Selector, SelectorError> {
        parse::parse(input).map(Selector::Requirements)
    }

    /// Whether `labels` satisfies every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// `Selector.Empty`: true for everything (no requirements), false for nothing.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }

    pub fn requirements(&self) -> &[Requirement] {
        match self {
            Selector::Nothing => &[],
            Selector::Requirements(r) => r,
        }
    }
}

/// `Selector.String`: requirements joined by `,`; nothing and everything both print `""`.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements().iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ServiceSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| (*v).to_owned()).collect()),
        }
    }

    // TestLabelSelectorAsSelector (apimachinery meta/v1 helpers_test.go): nil → nothing,
    // empty → everything, bad operator → error.
    #[test]
    fn nil_empty_and_invalid_label_selectors() {
        let nil = Selector::from_label_selector(None).unwrap();
        assert!(!nil.matches(&labels(&[])));
        assert!(!nil.is_empty());
        let empty = Selector::from_label_selector(Some(&LabelSelector::default())).unwrap();
        assert!(empty.matches(&labels(&[])));
        assert!(empty.matches(&labels(&[("a", "b")])));
        let bad = LabelSelector {
            match_expressions: Some(vec![expr("a", "Gt", &["1"])]),
            ..Default::default()
        };
        assert_eq!(
            Selector::from_label_selector(Some(&bad))
                .unwrap_err()
                .to_string(),
            "\"Gt\" is not a valid label selector operator"
        );
        let no_values = LabelSelector {
            match_expressions: Some(vec![expr("a", "In", &[])]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(Some(&no_values)).is_err());
        let values_on_exists = LabelSelector {
            match_expressions: Some(vec![expr("a", "Exists", &["x"])]),
            ..Default::default()
        };
        assert!(Selector::from_label_selector(Some(&values_on_exists)).is_err());
    }

    // TestRequirementMatches / TestSelectorMatches: NotIn and != match a set without the key.
    #[test]
    fn match_semantics() {
        let ls = LabelSelector {
            match_labels: Some([("app".to_owned(), "web".to_owned())].into()),
            match_expressions: Some(vec![
                expr("tier", "In", &["front", "back"]),
                expr("env", "NotIn", &["prod"]),
                expr("canary", "DoesNotExist", &[]),
                expr("team", "Exists", &[]),
            ]),
        };
        let s = Selector::from_label_selector(Some(&ls)).unwrap();
        assert_eq!(
            s.to_string(),
            "app=web,!canary,env notin (prod),team,tier in (back,front)"
        );
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front"), ("team", "a")])));
        assert!(s.matches(&labels(&[
            ("app", "web"),
            ("tier", "back"),
            ("team", "a"),
            ("env", "dev")
        ])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "back"),
            ("team", "a"),
            ("env", "prod")
        ])));
        assert!(!s.matches(&labels(&[("app", "web"), ("tier", "front")])));
        assert!(!s.matches(&labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("team", "a"),
            ("canary", "")
        ])));
        let ne = Selector::parse("x!=a").unwrap();
        assert!(ne.matches(&labels(&[])));
        assert!(!ne.matches(&labels(&[("x", "a")])));
        let gt = Selector::parse("x>5").unwrap();
        assert!(gt.matches(&labels(&[("x", "6")])));
        assert!(!gt.matches(&labels(&[("x", "5")])));
        assert!(!gt.matches(&labels(&[("x", "six")])));
    }

    #[test]
    fn service_selector_absent_or_empty_means_none() {
        let mut svc = Service::default();
        assert_eq!(Selector::for_service(&svc), None);
        svc.spec = Some(ServiceSpec {
            selector: Some(BTreeMap::new()),
            ..Default::default()
        });
        assert_eq!(Selector::for_service(&svc), None);
        svc.spec.as_mut().unwrap().selector = Some(labels(&[("app", "web")]));
        let s = Selector::for_service(&svc).unwrap();
        assert!(s.matches(&labels(&[("app", "web"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "api")])));
    }

    // A straightforward reference: one requirement at a time, written from the doc comment
    // of Requirement.Matches rather than from our implementation.
    fn reference(
        op: &str,
        values: &[String],
        labels: &BTreeMap<String, String>,
        key: &str,
    ) -> bool {
        let has = labels.contains_key(key);
        let val = labels.get(key).cloned().unwrap_or_default();
        let in_set = values.contains(&val);
        match op {
            "In" => has && in_set,
            "NotIn" => !has || !in_set,
            "Exists" => has,
            "DoesNotExist" => !has,
            _ => unreachable!(),
        }
    }

    fn arb_labels() -> impl Strategy<Value = BTreeMap<String, String>> {
        prop::collection::btree_map(
            prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned),
            prop::sample::select(vec!["x", "y", "z", ""]).prop_map(str::to_owned),
            0..4,
        )
    }

    fn arb_expr() -> impl Strategy<Value = (String, String, Vec<String>)> {
        (
            prop::sample::select(vec!["a", "b", "c"]),
            prop::sample::select(vec!["In", "NotIn", "Exists", "DoesNotExist"]),
            prop::collection::vec(
                prop::sample::select(vec!["x", "y", "z", ""]).prop_map(str::to_owned),
                1..3,
            ),
        )
            .prop_map(|(k, op, vals)| {
                let vals = if matches!(op, "Exists" | "DoesNotExist") {
                    Vec::new()
                } else {
                    vals
                };
                (k.to_owned(), op.to_owned(), vals)
            })
    }

    proptest! {
        #[test]
        fn label_selector_matches_reference(
            match_labels in prop::collection::btree_map(
                prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned),
                prop::sample::select(vec!["x", "y", ""]).prop_map(str::to_owned),
                0..3,
            ),
            exprs in prop::collection::vec(arb_expr(), 0..4),
            labels in arb_labels(),
        ) {
            let ls = LabelSelector {
                match_labels: Some(match_labels.clone()),
                match_expressions: Some(exprs.iter().map(|(k, op, vals)| LabelSelectorRequirement {
                    key: k.clone(),
                    operator: op.clone(),
                    values: Some(vals.clone()),
                }).collect()),
            };
            let s = Selector::from_label_selector(Some(&ls)).unwrap();
            let expected = match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
                && exprs.iter().all(|(k, op, vals)| reference(op, vals, &labels, k));
            prop_assert_eq!(s.matches(&labels), expected);
        }

        #[test]
        fn string_form_round_trips(
            exprs in prop::collection::vec(arb_expr(), 0..4),
            labels in arb_labels(),
        ) {
            // Build the string form, parse it, print it, parse again: same meaning each time.
            let text = exprs.iter().map(|(k, op, vals)| match op.as_str() {
                "In" => format!("{k} in ({})", vals.join(",")),
                "NotIn" => format!("{k} notin ({})", vals.join(",")),
                "Exists" => k.clone(),
                _ => format!("!{k}"),
            }).collect::<Vec<_>>().join(",");
            let s = Selector::parse(&text).unwrap();
            let expected = exprs.iter().all(|(k, op, vals)| reference(op, vals, &labels, k));
            prop_assert_eq!(s.matches(&labels), expected);
            let again = Selector::parse(&s.to_string()).unwrap();
            prop_assert_eq!(again.matches(&labels), expected);
        }
    }
}
