//! The subscription index: from a published topic to every matching subscription without scanning.
//!
//! WAMP has three match policies and each gets the structure that makes a lookup cost O(length of
//! the topic) rather than O(number of subscriptions) (DESIGN.md §3, "Index, don't scan"):
//!
//! * `exact`: a hash map from URI to value.
//! * `prefix`: a byte trie. WAMP prefix matching is a plain string prefix (`com.app.emer` matches
//!   `com.app.emergency-low`), so the trie is keyed by bytes, not by URI components.
//! * `wildcard`: a trie keyed by URI component in which an empty pattern component matches any one
//!   topic component; a pattern only matches topics with the same number of components.
//!
//! The index stores small values (subscription IDs); the broker keeps the subscriptions themselves.

use std::collections::HashMap;

use wampd_proto::wamp::MatchPolicy;

/// Maps `(uri, match policy)` to a value and answers "which values match this topic".
#[derive(Debug)]
pub struct TopicIndex<T> {
    exact: HashMap<String, T>,
    prefix: PrefixNode<T>,
    wildcard: WildcardNode<T>,
}

impl<T> Default for TopicIndex<T> {
    fn default() -> Self {
        TopicIndex {
            exact: HashMap::new(),
            prefix: PrefixNode::default(),
            wildcard: WildcardNode::default(),
        }
    }
}

impl<T: Copy> TopicIndex<T> {
    /// The value stored for exactly this `(uri, policy)` pair.
    pub fn get(&self, uri: &str, policy: MatchPolicy) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.get(uri).copied(),
            MatchPolicy::Prefix => self.prefix.find(uri.as_bytes()).and_then(|n| n.value),
            MatchPolicy::Wildcard => self.wildcard.find(uri).and_then(|n| n.value),
        }
    }

    /// Stores `value` for `(uri, policy)`, replacing any previous value.
    pub fn insert(&mut self, uri: &str, policy: MatchPolicy, value: T) {
        match policy {
            MatchPolicy::Exact => {
                self.exact.insert(uri.to_owned(), value);
            }
            MatchPolicy::Prefix => self.prefix.insert(uri.as_bytes(), value),
            MatchPolicy::Wildcard => self.wildcard.insert(uri, value),
        }
    }

    /// Removes `(uri, policy)`, pruning trie nodes that no longer lead anywhere.
    pub fn remove(&mut self, uri: &str, policy: MatchPolicy) -> Option<T> {
        match policy {
            MatchPolicy::Exact => self.exact.remove(uri),
            MatchPolicy::Prefix => self.prefix.remove(uri.as_bytes()),
            MatchPolicy::Wildcard => {
                let components: Vec<&str> = uri.split('.').collect();
                self.wildcard.remove(&components)
            }
        }
    }

    /// Calls `f` once for every stored value whose pattern matches the concrete `topic`.
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(T, MatchPolicy)) {
        if let Some(v) = self.exact.get(topic) {
            f(*v, MatchPolicy::Exact);
        }
        self.prefix
            .for_each_prefix_of(topic.as_bytes(), &mut |v| f(v, MatchPolicy::Prefix));
        if !self.wildcard.children.is_empty() {
            let components: Vec<&str> = topic.split('.').collect();
            self.wildcard
                .for_each_match(&components, &mut |v| f(v, MatchPolicy::Wildcard));
        }
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.prefix.is_leaf() && self.wildcard.is_leaf()
    }
}

/// A node of the byte trie used for prefix subscriptions.
#[derive(Debug)]
struct PrefixNode<T> {
    value: Option<T>,
    /// Children sorted by byte; topics share long prefixes, so most nodes have one child.
    children: Vec<(u8, PrefixNode<T>)>,
}

impl<T> Default for PrefixNode<T> {
    fn default() -> Self {
        PrefixNode {
            value: None,
            children: Vec::new(),
        }
    }
}

impl<T: Copy> PrefixNode<T> {
    fn child(&self, b: u8) -> Option<&PrefixNode<T>> {
        self.children
            .binary_search_by_key(&b, |(k, _)| *k)
            .ok()
            .and_then(|i| self.children.get(i))
            .map(|(_, n)| n)
    }

    fn find(&self, key: &[u8]) -> Option<&PrefixNode<T>> {
        let mut node = self;
        for &b in key {
            node = node.child(b)?;
        }
        Some(node)
    }

    fn insert(&mut self, key: &[u8], value: T) {
        let mut node = self;
        for &b in key {
            let i = match node.children.binary_search_by_key(&b, |(k, _)| *k) {
                Ok(i) => i,
                Err(i) => {
                    node.children.insert(i, (b, PrefixNode::default()));
                    i
                }
            };
            node = &mut node.children[i].1;
        }
        node.value = Some(value);
    }

    /// Iterative: one walk down finds the value and the deepest node on the path that stays
    /// (the root, a node with a value or with other children); a second walk takes the value and
    /// cuts the branch below that node, whose drop is iterative too. A long key costs no stack.
    fn remove(&mut self, key: &[u8]) -> Option<T> {
        let mut node: &PrefixNode<T> = self;
        // (depth of the node that stays, index of its child on the path)
        let mut cut: Option<(usize, usize)> = None;
        for (depth, &b) in key.iter().enumerate() {
            let i = node.children.binary_search_by_key(&b, |(k, _)| *k).ok()?;
            if depth == 0 || node.value.is_some() || node.children.len() > 1 {
                cut = Some((depth, i));
            }
            node = &node.children[i].1;
        }
        node.value?;
        let prune = node.children.is_empty();
        let mut node: &mut PrefixNode<T> = self;
        for (depth, &b) in key.iter().enumerate() {
            let Ok(i) = node.children.binary_search_by_key(&b, |(k, _)| *k) else {
                return None;
            };
            if prune && cut == Some((depth, i)) {
                let (_, branch) = node.children.remove(i);
                return branch.find(&key[depth + 1..]).and_then(|n| n.value);
            }
            node = &mut node.children[i].1;
        }
        node.value.take()
    }

    fn is_leaf(&self) -> bool {
        self.value.is_none() && self.children.is_empty()
    }

    fn for_each_prefix_of(&self, topic: &[u8], f: &mut impl FnMut(T)) {
        let mut node = self;
        for &b in topic {
            match node.child(b) {
                Some(next) => node = next,
                None => return,
            }
            if let Some(v) = node.value {
                f(v);
            }
        }
    }
}

/// A node of the component trie used for wildcard subscriptions; the key `""` is the wildcard.
#[derive(Debug)]
struct WildcardNode<T> {
    value: Option<T>,
    children: HashMap<String, WildcardNode<T>>,
}

impl<T> Default for WildcardNode<T> {
    fn default() -> Self {
        WildcardNode {
            value: None,
            children: HashMap::new(),
        }
    }
}

impl<T: Copy> WildcardNode<T> {
    fn find(&self, pattern: &str) -> Option<&WildcardNode<T>> {
        let mut node = self;
        for component in pattern.split('.') {
            node = node.children.get(component)?;
        }
        Some(node)
    }

    fn insert(&mut self, pattern: &str, value: T) {
        let mut node = self;
        for component in pattern.split('.') {
            node = node.children.entry(component.to_owned()).or_default();
        }
        node.value = Some(value);
    }

    /// Iterative, like [`PrefixNode::remove`].
    fn remove(&mut self, components: &[&str]) -> Option<T> {
        let mut node: &WildcardNode<T> = self;
        let mut cut: Option<usize> = None;
        for (depth, component) in components.iter().enumerate() {
            if depth == 0 || node.value.is_some() || node.children.len() > 1 {
                cut = Some(depth);
            }
            node = node.children.get(*component)?;
        }
        node.value?;
        let prune = node.children.is_empty();
        let mut node: &mut WildcardNode<T> = self;
        for (depth, component) in components.iter().enumerate() {
            if prune && cut == Some(depth) {
                let branch = node.children.remove(*component)?;
                let mut rest = &branch;
                for component in &components[depth + 1..] {
                    rest = rest.children.get(*component)?;
                }
                return rest.value;
            }
            node = node.children.get_mut(*component)?;
        }
        node.value.take()
    }

    fn is_leaf(&self) -> bool {
        self.value.is_none() && self.children.is_empty()
    }

    /// Walks every branch the topic can take (the exact component and the wildcard) with an
    /// explicit stack instead of recursion.
    fn for_each_match(&self, components: &[&str], f: &mut impl FnMut(T)) {
        let mut stack: Vec<(&WildcardNode<T>, usize)> = vec![(self, 0)];
        while let Some((node, depth)) = stack.pop() {
            let Some(component) = components.get(depth) else {
                if let Some(v) = node.value {
                    f(v);
                }
                continue;
            };
            if let Some(child) = node.children.get(*component) {
                stack.push((child, depth + 1));
            }
            if !component.is_empty() {
                if let Some(any) = node.children.get("") {
                    stack.push((any, depth + 1));
                }
            }
        }
    }
}

/// Dropping a deep trie node by node: the compiler's drop glue would recurse once per level.
impl<T> Drop for PrefixNode<T> {
    fn drop(&mut self) {
        let mut stack: Vec<PrefixNode<T>> = self.children.drain(..).map(|(_, n)| n).collect();
        while let Some(mut node) = stack.pop() {
            stack.extend(node.children.drain(..).map(|(_, n)| n));
        }
    }
}

impl<T> Drop for WildcardNode<T> {
    fn drop(&mut self) {
        let mut stack: Vec<WildcardNode<T>> = self.children.drain().map(|(_, n)| n).collect();
        while let Some(mut node) = stack.pop() {
            stack.extend(node.children.drain().map(|(_, n)| n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(index: &TopicIndex<u32>, topic: &str) -> Vec<u32> {
        let mut out = Vec::new();
        index.for_each_match(topic, |v, _| out.push(v));
        out.sort_unstable();
        out
    }

    #[test]
    fn exact_prefix_and_wildcard_match_as_the_spec_describes() {
        let mut index = TopicIndex::default();
        index.insert("com.myapp.topic.emergency", MatchPolicy::Exact, 1);
        index.insert("com.myapp.topic.emergency", MatchPolicy::Prefix, 2);
        index.insert("com.myapp..create", MatchPolicy::Wildcard, 3);
        index.insert("com.", MatchPolicy::Prefix, 4);
        index.insert("..", MatchPolicy::Wildcard, 5);

        assert_eq!(matches(&index, "com.myapp.topic.emergency"), vec![1, 2, 4]);
        assert_eq!(matches(&index, "com.myapp.topic.emergency-low"), vec![2, 4]);
        assert_eq!(
            matches(&index, "com.myapp.topic.emergency.category.severe"),
            vec![2, 4]
        );
        assert_eq!(matches(&index, "com.myapp.product.create"), vec![3, 4]);
        assert_eq!(matches(&index, "com.myapp.product.create.x"), vec![4]);
        assert_eq!(matches(&index, "com.myapp.create"), vec![4, 5]);
        assert_eq!(matches(&index, "org.other"), Vec::<u32>::new());
    }

    #[test]
    fn remove_prunes_and_leaves_siblings() {
        let mut index = TopicIndex::default();
        index.insert("a.b", MatchPolicy::Prefix, 1);
        index.insert("a.bc", MatchPolicy::Prefix, 2);
        index.insert("a..c", MatchPolicy::Wildcard, 3);
        index.insert("a.b.c", MatchPolicy::Wildcard, 4);
        assert_eq!(index.remove("a.b", MatchPolicy::Prefix), Some(1));
        assert_eq!(matches(&index, "a.bcd"), vec![2]);
        assert_eq!(index.remove("a..c", MatchPolicy::Wildcard), Some(3));
        assert_eq!(matches(&index, "a.b.c"), vec![4]);
        assert_eq!(index.remove("a.bc", MatchPolicy::Prefix), Some(2));
        assert_eq!(index.remove("a.b.c", MatchPolicy::Wildcard), Some(4));
        assert_eq!(index.remove("a.b.c", MatchPolicy::Wildcard), None);
        assert!(index.is_empty());
    }

    #[test]
    fn deep_patterns_cost_no_stack() {
        // Far deeper than any thread stack could recurse through.
        let long = "a".repeat(200_000);
        let many = ".".repeat(200_000);
        let mut index = TopicIndex::default();
        index.insert(&long, MatchPolicy::Prefix, 1);
        index.insert(&many, MatchPolicy::Wildcard, 2);
        let topic = vec!["x"; 200_001].join(".");
        assert_eq!(matches(&index, &long), vec![1]);
        assert_eq!(matches(&index, &topic), vec![2]);
        assert_eq!(index.remove(&long, MatchPolicy::Prefix), Some(1));
        index.insert(&long, MatchPolicy::Prefix, 3);
        drop(index);
    }

    #[test]
    fn removing_a_missing_key_keeps_its_neighbours() {
        let mut index = TopicIndex::default();
        index.insert("a.b.c", MatchPolicy::Prefix, 1);
        index.insert("a.b.c", MatchPolicy::Wildcard, 2);
        assert_eq!(index.remove("a.b", MatchPolicy::Prefix), None);
        assert_eq!(index.remove("a.b", MatchPolicy::Wildcard), None);
        assert_eq!(index.remove("a.b.c.d", MatchPolicy::Wildcard), None);
        assert_eq!(matches(&index, "a.b.c"), vec![1, 2]);
    }

    #[test]
    fn get_distinguishes_policies() {
        let mut index = TopicIndex::default();
        index.insert("x.y", MatchPolicy::Exact, 1);
        assert_eq!(index.get("x.y", MatchPolicy::Exact), Some(1));
        assert_eq!(index.get("x.y", MatchPolicy::Prefix), None);
        assert_eq!(index.get("x.y", MatchPolicy::Wildcard), None);
        assert_eq!(index.get("x", MatchPolicy::Prefix), None);
    }
}
