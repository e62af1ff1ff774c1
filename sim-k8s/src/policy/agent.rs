//! The policy agent over a whole [`Cluster`]: one full sync of every node (what each node's
//! kube-router-style controller does after a change), from the objects in the cluster's
//! store. Watch lag is the caller's: call [`sync_cluster`] when the agents would have heard.

use thiserror::Error;

use super::error::PolicyError;
use super::render::{LoadError, render_node};
use super::view::PolicyView;
use crate::cluster::Cluster;

/// A sync that could not run.
#[derive(Debug, Error)]
pub enum SyncError {
    /// The store holds a policy the API server would have refused.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The rendered rules did not load (a broken invariant of the renderer).
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// Renders every node's rules from the store and loads them into the node's netfilter.
/// Returns the view the rules were rendered from.
pub fn sync_cluster(cluster: &mut Cluster) -> Result<PolicyView, SyncError> {
    let view = PolicyView::from_store(&cluster.store)?;
    for (name, node) in &cluster.nodes {
        let rules = render_node(&view, name)?;
        rules.load(&mut cluster.net.netns_mut(node.netns).netfilter)?;
    }
    Ok(view)
}
