//! The procedures other nodes of the cluster announced, for one realm: where a call goes when
//! no callee on this node matches as well.
//!
//! Each node announces its whole set (see [`crate::router::backplane::Announced`]); this table
//! keeps the latest set per node and an index over all of them, rebuilt when a set changes
//! (sets change at REGISTER and UNREGISTER, calls only read). A procedure several nodes
//! registered as a shared registration goes to those nodes in turn; one registered `single` on
//! several nodes (each node checks only its own) goes to the node that announced it first.

use std::collections::HashMap;

use super::{best_match, InvokePolicy};
use crate::router::topic_index::TopicIndex;
use wampd_proto::wamp::{Id, MatchPolicy};

/// One procedure (or pattern) as announced by one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteProcedure {
    /// The procedure or pattern.
    pub procedure: String,
    /// How it matches.
    pub policy: MatchPolicy,
    /// Its shared-registration policy.
    pub invoke: InvokePolicy,
}

#[derive(Debug)]
struct Entry {
    procedure: String,
    invoke: InvokePolicy,
    /// The nodes that announced it, in the order they did.
    nodes: Vec<u64>,
    next: usize,
}

/// Announced procedures of every other node, for one realm.
#[derive(Debug, Default)]
pub struct RemoteProcedures {
    by_node: HashMap<u64, Vec<RemoteProcedure>>,
    /// The order nodes were first heard of, so `single` keeps going to the same node.
    order: Vec<u64>,
    index: TopicIndex<Id>,
    entries: HashMap<Id, Entry>,
}

impl RemoteProcedures {
    /// Replaces what `node` announced (an empty set forgets it).
    pub fn set_node(&mut self, node: u64, procedures: Vec<RemoteProcedure>) {
        if self.by_node.get(&node) == Some(&procedures) {
            return;
        }
        if procedures.is_empty() {
            self.by_node.remove(&node);
            self.order.retain(|n| *n != node);
        } else {
            if !self.by_node.contains_key(&node) {
                self.order.push(node);
            }
            self.by_node.insert(node, procedures);
        }
        self.rebuild();
    }

    /// Whether `node` announced anything.
    pub fn knows(&self, node: u64) -> bool {
        self.by_node.contains_key(&node)
    }

    /// The nodes that announced procedures.
    pub fn nodes(&self) -> Vec<u64> {
        self.order.clone()
    }

    fn rebuild(&mut self) {
        self.index = TopicIndex::default();
        self.entries.clear();
        let mut next_id: Id = 1;
        for node in &self.order {
            let Some(procedures) = self.by_node.get(node) else {
                continue;
            };
            for p in procedures {
                match self.index.get(&p.procedure, p.policy) {
                    Some(id) => {
                        if let Some(entry) = self.entries.get_mut(&id) {
                            entry.nodes.push(*node);
                        }
                    }
                    None => {
                        let id = next_id;
                        next_id += 1;
                        self.index.insert(&p.procedure, p.policy, id);
                        self.entries.insert(
                            id,
                            Entry {
                                procedure: p.procedure.clone(),
                                invoke: p.invoke,
                                nodes: vec![*node],
                                next: 0,
                            },
                        );
                    }
                }
            }
        }
    }

    /// The node a call to `procedure` goes to, if its best match here is one `accept` takes (the
    /// dealer accepts only matches better than its own node's).
    pub fn route(&mut self, procedure: &str, accept: impl Fn(MatchPolicy) -> bool) -> Option<u64> {
        if self.entries.is_empty() {
            return None;
        }
        let (id, policy) = best_match(&self.index, procedure, |id| {
            self.entries.get(&id).map(|e| e.procedure.as_str())
        })?;
        if !accept(policy) {
            return None;
        }
        let entry = self.entries.get_mut(&id)?;
        let count = entry.nodes.len().max(1);
        let index = match entry.invoke {
            InvokePolicy::Single | InvokePolicy::First => 0,
            InvokePolicy::Last => count - 1,
            InvokePolicy::Random => rand::Rng::random_range(&mut rand::rng(), 0..count),
            InvokePolicy::RoundRobin => {
                let i = entry.next % count;
                entry.next = (i + 1) % count;
                i
            }
        };
        entry.nodes.get(index).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(procedure: &str, invoke: InvokePolicy) -> RemoteProcedure {
        RemoteProcedure {
            procedure: procedure.into(),
            policy: MatchPolicy::Exact,
            invoke,
        }
    }

    #[test]
    fn shared_registrations_rotate_over_nodes_and_a_forgotten_node_is_skipped() {
        let mut table = RemoteProcedures::default();
        table.set_node(7, vec![exact("a.b", InvokePolicy::RoundRobin)]);
        table.set_node(9, vec![exact("a.b", InvokePolicy::RoundRobin)]);
        let picks: Vec<_> = (0..4).map(|_| table.route("a.b", |_| true)).collect();
        assert_eq!(picks, vec![Some(7), Some(9), Some(7), Some(9)]);
        table.set_node(7, Vec::new());
        assert_eq!(table.route("a.b", |_| true), Some(9));
        assert!(!table.knows(7));
        assert_eq!(table.route("a.c", |_| true), None);
    }

    #[test]
    fn the_best_match_wins_and_the_dealer_may_refuse_it() {
        let mut table = RemoteProcedures::default();
        table.set_node(
            3,
            vec![RemoteProcedure {
                procedure: "com.app".into(),
                policy: MatchPolicy::Prefix,
                invoke: InvokePolicy::Single,
            }],
        );
        table.set_node(4, vec![exact("com.app.add", InvokePolicy::Single)]);
        assert_eq!(table.route("com.app.add", |_| true), Some(4));
        assert_eq!(table.route("com.app.mul", |_| true), Some(3));
        assert_eq!(
            table.route("com.app.mul", |p| p == MatchPolicy::Exact),
            None
        );
    }
}
