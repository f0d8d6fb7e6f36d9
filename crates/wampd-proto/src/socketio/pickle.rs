//! A pickle reader for data only: what python-socketio before 5.14 publishes on its Redis queue
//! (`pickle.dumps(message)`, protocols 2 to 5), read into [`Value`]s without executing anything.
//!
//! Only the opcodes that build builtin data are understood: None, booleans, integers, floats,
//! strings, bytes, lists, tuples, dicts and sets, the memo and the framing. Anything that would
//! name a class or call something (`GLOBAL`, `STACK_GLOBAL`, `REDUCE`, `BUILD`, `NEWOBJ`, `INST`,
//! `OBJ`, persistent ids, extensions) is refused, so a pickle can never run code here. serde-pickle
//! is safe the same way, but it copies a memoised value for every reference to it, so a few
//! hundred bytes of nested references expand without bound. This reader builds an arena in which
//! references share their value, and charges every value of the finished tree, each copy
//! included, against a budget ([`MAX_VALUES`]) and a depth limit (which also ends cycles).

use crate::wamp::Value;

/// Most values one pickle may build, references to memoised values counted at their full size.
pub const MAX_VALUES: usize = 100_000;
/// Deepest nesting of containers.
pub const MAX_DEPTH: usize = 64;

/// Why a pickle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleError {
    /// The data ended inside an opcode.
    #[error("truncated pickle")]
    Truncated,
    /// An opcode that builds objects or calls code, or an unknown one.
    #[error("pickle opcode {0:#04x} is not plain data; refused")]
    Opcode(u8),
    /// The stack or memo does not hold what an opcode needs.
    #[error("malformed pickle: {0}")]
    Malformed(&'static str),
    /// More values or deeper nesting than allowed.
    #[error("pickle too large or too deep")]
    TooLarge,
}

/// A value under construction: containers hold the arena indexes of their members, so a memoised
/// container that is filled after it was memoised (as pickle always does) is shared, not copied.
enum Node {
    Scalar(Value),
    List(Vec<usize>),
    Tuple(Vec<usize>),
    Dict(Vec<(usize, usize)>),
}

/// A decoded pickle that still tells tuples from lists: python-socketio before 5.14.2 sends one
/// event argument as itself and several as a tuple.
#[derive(Debug, Clone, PartialEq)]
pub enum Tree {
    /// None, a boolean, a number, a string or bytes.
    Scalar(Value),
    /// A list or a set.
    List(Vec<Tree>),
    /// A tuple.
    Tuple(Vec<Tree>),
    /// A dict (keys as strings).
    Dict(Vec<(String, Tree)>),
}

impl Tree {
    /// As a [`Value`], tuples becoming lists.
    pub fn into_value(self) -> Value {
        match self {
            Tree::Scalar(v) => v,
            Tree::List(items) | Tree::Tuple(items) => {
                Value::List(items.into_iter().map(Tree::into_value).collect())
            }
            Tree::Dict(pairs) => Value::Dict(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k, v.into_value()))
                    .collect(),
            ),
        }
    }

    /// The member `key` of a dict.
    pub fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Dict(pairs) => pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Clone, Copy)]
enum Item {
    Node(usize),
    Mark,
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    arena: Vec<Node>,
    stack: Vec<Item>,
    memo: std::collections::HashMap<u32, usize>,
}

/// Reads a pickle of plain data.
pub fn decode(data: &[u8]) -> Result<Value, PickleError> {
    decode_tree(data).map(Tree::into_value)
}

/// Reads a pickle of plain data, keeping tuples apart from lists.
pub fn decode_tree(data: &[u8]) -> Result<Tree, PickleError> {
    let mut reader = Reader {
        data,
        pos: 0,
        arena: Vec::new(),
        stack: Vec::new(),
        memo: std::collections::HashMap::new(),
    };
    let root = reader.run()?;
    let mut budget = MAX_VALUES;
    reader.materialize(root, 0, &mut budget)
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).ok_or(PickleError::Truncated)?;
        let bytes = self.data.get(self.pos..end).ok_or(PickleError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let bytes = self.take(n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    fn len(&mut self, n: usize) -> Result<usize, PickleError> {
        let len = usize::try_from(self.le(n)?).map_err(|_| PickleError::Truncated)?;
        if len > self.data.len() {
            return Err(PickleError::Truncated);
        }
        Ok(len)
    }

    fn node(&mut self, node: Node) -> Result<(), PickleError> {
        if self.arena.len() >= MAX_VALUES {
            return Err(PickleError::TooLarge);
        }
        self.arena.push(node);
        self.stack.push(Item::Node(self.arena.len() - 1));
        Ok(())
    }

    fn push(&mut self, value: Value) -> Result<(), PickleError> {
        self.node(Node::Scalar(value))
    }

    fn pop(&mut self) -> Result<usize, PickleError> {
        match self.stack.pop() {
            Some(Item::Node(id)) => Ok(id),
            _ => Err(PickleError::Malformed("stack")),
        }
    }

    fn top(&self) -> Result<usize, PickleError> {
        match self.stack.last() {
            Some(Item::Node(id)) => Ok(*id),
            _ => Err(PickleError::Malformed("stack")),
        }
    }

    /// The nodes above the topmost MARK, which is removed.
    fn pop_mark(&mut self) -> Result<Vec<usize>, PickleError> {
        let mark = self
            .stack
            .iter()
            .rposition(|i| matches!(i, Item::Mark))
            .ok_or(PickleError::Malformed("no mark"))?;
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        items
            .into_iter()
            .map(|i| match i {
                Item::Node(id) => Ok(id),
                Item::Mark => Err(PickleError::Malformed("mark")),
            })
            .collect()
    }

    fn append(&mut self, items: Vec<usize>) -> Result<(), PickleError> {
        let target = self.top()?;
        match &mut self.arena[target] {
            Node::List(list) => list.extend(items),
            _ => return Err(PickleError::Malformed("append target")),
        }
        Ok(())
    }

    fn set_items(&mut self, items: Vec<usize>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(PickleError::Malformed("odd SETITEMS"));
        }
        let target = self.top()?;
        match &mut self.arena[target] {
            Node::Dict(pairs) => pairs.extend(items.chunks(2).map(|p| (p[0], p[1]))),
            _ => return Err(PickleError::Malformed("setitem target")),
        }
        Ok(())
    }

    fn memo_put(&mut self, index: u32) -> Result<(), PickleError> {
        let id = self.top()?;
        if self.memo.len() >= MAX_VALUES {
            return Err(PickleError::TooLarge);
        }
        self.memo.insert(index, id);
        Ok(())
    }

    fn memo_get(&mut self, index: u32) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&index)
            .ok_or(PickleError::Malformed("memo get"))?;
        self.stack.push(Item::Node(id));
        Ok(())
    }

    /// The tree under `id`, every visit (shared members included) charged against `budget`.
    fn materialize(
        &self,
        id: usize,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Tree, PickleError> {
        *budget = budget.checked_sub(1).ok_or(PickleError::TooLarge)?;
        if depth > MAX_DEPTH {
            return Err(PickleError::TooLarge);
        }
        let all = |items: &[usize], budget: &mut usize| -> Result<Vec<Tree>, PickleError> {
            items
                .iter()
                .map(|i| self.materialize(*i, depth + 1, budget))
                .collect()
        };
        Ok(match &self.arena[id] {
            Node::Scalar(v) => Tree::Scalar(v.clone()),
            Node::List(items) => Tree::List(all(items, budget)?),
            Node::Tuple(items) => Tree::Tuple(all(items, budget)?),
            Node::Dict(pairs) => {
                let mut out = Vec::with_capacity(pairs.len());
                for (k, v) in pairs {
                    let key = match self.materialize(*k, depth + 1, budget)? {
                        Tree::Scalar(v) => key(v)?,
                        _ => return Err(PickleError::Malformed("dict key")),
                    };
                    out.push((key, self.materialize(*v, depth + 1, budget)?));
                }
                Tree::Dict(out)
            }
        })
    }

    fn run(&mut self) -> Result<usize, PickleError> {
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO n
                }
                0x95 => {
                    self.take(8)?; // FRAME: the length only helps buffered readers
                }
                b'.' => return self.pop(),
                b'N' => self.push(Value::Null)?,
                0x88 => self.push(Value::Bool(true))?,
                0x89 => self.push(Value::Bool(false))?,
                b'K' => {
                    let n = self.u8()?;
                    self.push(Value::UInt(u64::from(n)))?;
                }
                b'M' => {
                    let n = self.le(2)?;
                    self.push(Value::UInt(n))?;
                }
                b'J' => {
                    let n = self.le(4)? as u32 as i32;
                    self.push(int(i64::from(n)))?;
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.len(1)?
                    } else {
                        self.len(4)?
                    };
                    let bytes = self.take(n)?;
                    self.push(long(bytes)?)?;
                }
                b'G' => {
                    let bytes: [u8; 8] = self
                        .take(8)?
                        .try_into()
                        .map_err(|_| PickleError::Truncated)?;
                    self.push(Value::Float(f64::from_be_bytes(bytes)))?;
                }
                0x8c | b'X' | 0x8d => {
                    let n = match op {
                        0x8c => self.len(1)?,
                        b'X' => self.len(4)?,
                        _ => self.len(8)?,
                    };
                    let bytes = self.take(n)?;
                    let s = std::str::from_utf8(bytes)
                        .map_err(|_| PickleError::Malformed("string is not UTF-8"))?;
                    self.push(Value::Str(s.to_owned()))?;
                }
                b'C' | b'B' | 0x8e | 0x96 => {
                    let n = match op {
                        b'C' => self.len(1)?,
                        b'B' => self.len(4)?,
                        _ => self.len(8)?,
                    };
                    let bytes = self.take(n)?.to_vec();
                    self.push(Value::Bin(bytes))?;
                }
                b'}' => self.node(Node::Dict(Vec::new()))?,
                b']' | 0x8f => self.node(Node::List(Vec::new()))?,
                b')' => self.node(Node::Tuple(Vec::new()))?,
                b'(' => self.stack.push(Item::Mark),
                b'a' => {
                    let item = self.pop()?;
                    self.append(vec![item])?;
                }
                b'e' | 0x90 => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.node(Node::Tuple(items))?;
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.node(Node::List(items))?;
                }
                0x85..=0x87 => {
                    let n = usize::from(op - 0x84);
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.node(Node::Tuple(items))?;
                }
                0x94 => {
                    let index =
                        u32::try_from(self.memo.len()).map_err(|_| PickleError::TooLarge)?;
                    self.memo_put(index)?;
                }
                b'q' => {
                    let index = u32::from(self.u8()?);
                    self.memo_put(index)?;
                }
                b'r' => {
                    let index = self.le(4)? as u32;
                    self.memo_put(index)?;
                }
                b'h' => {
                    let index = u32::from(self.u8()?);
                    self.memo_get(index)?;
                }
                b'j' => {
                    let index = self.le(4)? as u32;
                    self.memo_get(index)?;
                }
                b'0' => {
                    self.stack.pop().ok_or(PickleError::Malformed("pop"))?;
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.top()?;
                    self.stack.push(Item::Node(top));
                }
                other => return Err(PickleError::Opcode(other)),
            }
            if self.stack.len() > MAX_VALUES {
                return Err(PickleError::TooLarge);
            }
        }
    }
}

fn int(n: i64) -> Value {
    if n < 0 {
        Value::Int(n)
    } else {
        Value::UInt(n as u64)
    }
}

/// A LONG1/LONG4 integer: little-endian two's complement, at most 8 bytes kept.
fn long(bytes: &[u8]) -> Result<Value, PickleError> {
    if bytes.is_empty() {
        return Ok(Value::UInt(0));
    }
    if bytes.len() > 8 {
        // Larger than 64 bits: JSON clients could not read it exactly either.
        return Err(PickleError::Malformed("integer wider than 64 bits"));
    }
    let negative = bytes[bytes.len() - 1] & 0x80 != 0;
    let mut buf = if negative { [0xFFu8; 8] } else { [0u8; 8] };
    buf[..bytes.len()].copy_from_slice(bytes);
    if !negative && bytes.len() == 8 {
        return Ok(Value::UInt(u64::from_le_bytes(buf)));
    }
    Ok(int(i64::from_le_bytes(buf)))
}

fn key(value: Value) -> Result<String, PickleError> {
    match value {
        Value::Str(s) => Ok(s),
        Value::UInt(n) => Ok(n.to_string()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(if b { "True" } else { "False" }.to_string()),
        Value::Null => Ok("None".to_string()),
        _ => Err(PickleError::Malformed("dict key")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps({'method': 'emit', 'event': 'update', 'data': {'time': 1}, 'namespace': '/',
    /// 'room': None, 'skip_sid': None, 'callback': None, 'host_id': 'ab'})` with Python 3.11
    /// (protocol 4).
    const EMIT_P4: &[u8] = b"\x80\x04\x95x\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x06method\x94\x8c\x04emit\x94\x8c\x05event\x94\x8c\x06update\x94\x8c\x04data\x94}\x94\x8c\x04time\x94K\x01s\x8c\tnamespace\x94\x8c\x01/\x94\x8c\x04room\x94N\x8c\x08skip_sid\x94N\x8c\x08callback\x94N\x8c\x07host_id\x94\x8c\x02ab\x94u.";

    #[test]
    fn python_socketios_emit_message_reads_as_a_dict() {
        let Value::Dict(d) = decode(EMIT_P4).expect("decodes") else {
            panic!("not a dict")
        };
        assert_eq!(d["method"], Value::Str("emit".into()));
        assert_eq!(d["namespace"], Value::Str("/".into()));
        assert_eq!(d["room"], Value::Null);
        let Value::Dict(data) = &d["data"] else {
            panic!("data")
        };
        assert_eq!(data["time"], Value::UInt(1));
    }

    #[test]
    fn objects_and_calls_are_refused() {
        // pickle.dumps(datetime.date(2020, 1, 1)) starts with a GLOBAL/STACK_GLOBAL.
        let date = b"\x80\x04\x95 \x00\x00\x00\x00\x00\x00\x00\x8c\x08datetime\x94\x8c\x04date\x94\x93\x94C\x04\x07\xe4\x01\x01\x94\x85\x94R\x94.";
        assert!(matches!(decode(date), Err(PickleError::Opcode(0x93))));
        // os.system via GLOBAL 'c' and REDUCE.
        assert!(matches!(
            decode(b"cos\nsystem\n(S'id'\ntR."),
            Err(PickleError::Opcode(b'c'))
        ));
    }

    #[test]
    fn a_container_memoised_before_it_was_filled_is_shared_filled() {
        // d = {'k': 1}; pickle.dumps([d, d], protocol=4)
        let p =
            b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00]\x94(}\x94\x8c\x01k\x94K\x01sh\x01e.";
        let Value::List(items) = decode(p).expect("decodes") else {
            panic!("list")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], items[1]);
        assert!(matches!(&items[1], Value::Dict(d) if d.len() == 1));
    }

    #[test]
    fn nested_references_cannot_expand_without_bound() {
        // a = []; then 40 times: a = [a, a] via MEMOIZE / BINGET.
        let mut p = vec![0x80, 4, b']', 0x94];
        for i in 0..40u8 {
            p.extend_from_slice(&[b'h', i, b'h', i, 0x86, 0x94]);
        }
        p.push(b'.');
        assert_eq!(decode(&p), Err(PickleError::TooLarge));
    }

    #[test]
    fn truncated_and_malformed_pickles_are_errors() {
        for bad in [
            &b""[..],
            b"\x80",
            b"\x80\x04N",
            b"\x8c\x05ab",
            b"a.",
            b"\x80\x04h\x09.",
            b"\x8c\x02\xff\xfe.",
            b"X\xff\xff\xff\xff",
            b"\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.",
        ] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
        assert_eq!(decode(b"\x8a\x02\xff\x7f."), Ok(Value::UInt(32767)));
        assert_eq!(decode(b"\x8a\x01\xff."), Ok(Value::Int(-1)));
        assert_eq!(decode(b"J\xff\xff\xff\xff."), Ok(Value::Int(-1)));
    }
}
