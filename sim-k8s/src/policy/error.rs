//! Why a NetworkPolicy or a flow cannot be evaluated.

use thiserror::Error;

use crate::selector::SelectorError;

/// A policy the API server would refuse (`ValidateNetworkPolicy`), or a question about a pod
/// the view does not hold. Each names the object and the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    #[error("NetworkPolicy {policy}: {field}: {source}")]
    Selector {
        policy: String,
        field: String,
        source: SelectorError,
    },
    #[error("NetworkPolicy {policy}: {field}: Invalid value: {value:?}: {why}")]
    Invalid {
        policy: String,
        field: String,
        value: String,
        why: String,
    },
    #[error("NetworkPolicy {policy}: {field}: Required value: {why}")]
    Required {
        policy: String,
        field: String,
        why: String,
    },
    #[error("pod {0} is not in the cluster (expected NAMESPACE/NAME of a pod)")]
    UnknownPod(String),
    #[error("pod {0} has no IP address yet")]
    NoPodIp(String),
    #[error("node {0} is not in the cluster")]
    UnknownNode(String),
}

impl PolicyError {
    /// The `namespace/name` of the policy at fault, if a policy is.
    pub fn policy(&self) -> Option<&str> {
        match self {
            PolicyError::Selector { policy, .. }
            | PolicyError::Invalid { policy, .. }
            | PolicyError::Required { policy, .. } => Some(policy),
            PolicyError::UnknownPod(_) | PolicyError::NoPodIp(_) | PolicyError::UnknownNode(_) => {
                None
            }
        }
    }
}
