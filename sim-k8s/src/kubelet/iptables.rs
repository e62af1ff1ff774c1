//! The rules kubelet installs on its node at start (`syncIPTablesRules` in
//! `pkg/kubelet/kubelet_network_linux.go`, Kubernetes 1.35): the empty `KUBE-IPTABLES-HINT`
//! chain in mangle (telling containerized iptables which backend the host uses), the
//! `KUBE-KUBELET-CANARY` chains it watches in mangle, nat and filter, and `KUBE-FIREWALL`
//! with the rule that drops packets to 127.0.0.0/8 from elsewhere unless they were DNATed
//! there (the guard kube-proxy's localhost NodePorts need), jumped to from INPUT and OUTPUT.
//! kube-proxy, starting later, puts its own jumps above these.

/// The `iptables-restore --noflush` text of kubelet's rules.
pub const KUBELET_RULES: &str = "*mangle
:KUBE-IPTABLES-HINT - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
COMMIT
*nat
:KUBE-KUBELET-CANARY - [0:0]
COMMIT
*filter
:KUBE-FIREWALL - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment \"block incoming localnet connections\" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A INPUT -j KUBE-FIREWALL
-A OUTPUT -j KUBE-FIREWALL
COMMIT
";
