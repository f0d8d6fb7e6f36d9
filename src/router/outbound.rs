//! The per-session outbound queue: the only path from the router to a client.
//!
//! Every message a session receives (replies, events, GOODBYE) is pushed here as a ready-to-send
//! [`Frame`]; the transport's writer task drains it. The queue is bounded twice, by message count and
//! by queued bytes, so a slow subscriber can never grow the router's memory, and pushing never waits,
//! so a publisher is never blocked by a slow subscriber (DESIGN.md §3).
//!
//! What happens to an EVENT that does not fit is the realm's [`OverflowPolicy`]:
//! `Disconnect` (default) drops the session, `DropOldest` and `DropNewest` discard events, and
//! `Latest` keeps only the newest pending event per topic. Replies are never dropped; they may
//! exceed the bounds by a fixed margin, past which the session is disconnected whatever the policy.
//! Dropped events are counted, and the next EVENT the session receives carries the count in
//! `Details._dropped`, so a client knows it missed something.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use wampd_proto::wamp::{codec, Message, Serializer, Value};

/// Key of the detail that tells a subscriber how many events it lost.
pub const DROPPED_DETAIL: &str = "_dropped";

/// One encoded WAMP message in the form its transport sends it.
///
/// Text frames carry [`Utf8Bytes`] so UTF-8 is validated once when the event is encoded, not once per
/// subscriber; cloning either variant is a reference-count increment.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A JSON message (WebSocket text frame).
    Text(Utf8Bytes),
    /// A MessagePack message (WebSocket binary frame).
    Binary(Bytes),
    /// A text message and the binary messages that belong to it (a Socket.IO event with binary
    /// attachments, `45<n>-…` then one binary message per attachment): queued, counted and
    /// dropped as one event, written back to back so nothing comes between them.
    Attached(Utf8Bytes, Arc<[Bytes]>),
    /// Close the transport after everything queued before it: WebSocket close code and reason.
    Close(u16, String),
}

impl Frame {
    /// Wraps encoder output for `serializer`. JSON output that is not UTF-8 (impossible for our own
    /// encoder) is sent as binary rather than panicking.
    pub fn from_encoded(serializer: Serializer, bytes: Bytes) -> Frame {
        if serializer.is_binary() {
            return Frame::Binary(bytes);
        }
        match Utf8Bytes::try_from(bytes.clone()) {
            Ok(text) => Frame::Text(text),
            Err(_) => Frame::Binary(bytes),
        }
    }

    /// Payload length in bytes, used for the byte bound.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
            Frame::Attached(t, attachments) => {
                t.len() + attachments.iter().map(Bytes::len).sum::<usize>()
            }
            Frame::Close(_, reason) => reason.len(),
        }
    }

    /// True for an empty payload (never produced by the codec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Frame::Text(t) | Frame::Attached(t, _) => t.as_bytes(),
            Frame::Binary(b) => b,
            Frame::Close(..) => &[],
        }
    }
}

/// What to do with an EVENT that does not fit a subscriber's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// Close the session with a clear reason (the default: a client that cannot keep up learns it).
    #[default]
    Disconnect,
    /// Discard the oldest pending events to make room.
    DropOldest,
    /// Discard the new event.
    DropNewest,
    /// Keep only the newest pending event per topic (state-like topics); when a topic has no
    /// pending event to replace and the queue is full, the new event is discarded.
    Latest,
}

impl OverflowPolicy {
    /// Name used in configuration, logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowPolicy::Disconnect => "disconnect",
            OverflowPolicy::DropOldest => "drop_oldest",
            OverflowPolicy::DropNewest => "drop_newest",
            OverflowPolicy::Latest => "latest",
        }
    }
}

/// Limits of one outbound queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Maximum number of queued frames.
    pub messages: usize,
    /// Maximum number of queued payload bytes.
    pub bytes: usize,
}

/// Outcome of queueing an EVENT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Queued (possibly after discarding this many older events, see `dropped`).
    Queued {
        /// Older events discarded to make room (`DropOldest`) or superseded (`Latest`).
        dropped: u64,
    },
    /// The new event itself was discarded (`DropNewest`, or `Latest` without a pending event for
    /// the topic).
    Discarded,
    /// The session is being disconnected; nothing was queued.
    Disconnect,
}

/// Error returned when a reply could not be queued; the session is being disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

struct Entry {
    frame: Frame,
    /// EVENTs may be dropped by the policies; replies and control frames never are. The topic
    /// is not kept: `Latest` finds pending events by sequence number, and cloning one shared
    /// `Arc` per subscriber would cost a contended atomic on every delivery.
    event: bool,
}

struct Inner {
    items: VecDeque<Entry>,
    bytes: usize,
    policy: OverflowPolicy,
    overflowed: bool,
    receiver_gone: bool,
    /// Events dropped since the last EVENT handed to the writer.
    unreported_drops: u64,
    /// `Latest` only: sequence number of the pending event per topic; `items[i]` has sequence
    /// `head_seq + i`, since entries only ever leave from the front.
    latest: HashMap<Arc<str>, u64>,
    head_seq: u64,
    /// The receiver found the queue empty and waits: the next push must wake it. Pushes into a
    /// queue whose writer is already awake skip the notification, which would otherwise cost a
    /// contended atomic operation per delivery.
    parked: bool,
}

struct Shared {
    inner: Mutex<Inner>,
    notify: Notify,
    limits: QueueLimits,
    kill: CancellationToken,
    dropped_total: AtomicU64,
    /// Live [`Outbound`] handles; the receiver ends once this is zero and the queue is empty.
    senders: AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundQueue")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the queue consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn overflow(&self, inner: &mut Inner) {
        if !inner.receiver_gone {
            inner.overflowed = true;
            self.kill.cancel();
        }
    }
}

/// Replies may exceed the bounds by this factor before the session is disconnected.
const REPLY_MARGIN: usize = 2;

/// The sending half, held by the session and its handle (and through it by the broker).
#[derive(Debug)]
pub struct Outbound {
    shared: Arc<Shared>,
}

impl Clone for Outbound {
    fn clone(&self) -> Self {
        self.shared.senders.fetch_add(1, Ordering::Relaxed);
        Outbound {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for Outbound {
    fn drop(&mut self) {
        if self.shared.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.shared.notify.notify_one();
        }
    }
}

/// The receiving half, owned by the transport's writer task.
pub struct OutboundRx {
    shared: Arc<Shared>,
    serializer: Serializer,
    /// Frames taken from the queue in one lock and not yet handed out: the writer takes what is
    /// queued (up to [`TAKE_AT_ONCE`]) at once, so a busy queue costs one lock per batch, not
    /// one per frame. Its buffer and the queue's trade places, so taking allocates nothing.
    taken: VecDeque<Entry>,
    /// About the bytes `taken` held when it was filled (payloads and frame headers): the
    /// writer's size hint.
    taken_bytes: usize,
}

impl std::fmt::Debug for OutboundRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundRx")
            .field("taken", &self.taken.len())
            .finish_non_exhaustive()
    }
}

/// Most frames taken from the queue at once. Taken frames no longer count against the queue's
/// bounds (like frames in the transport's write buffer), so this bounds how far past them a
/// session's memory can go.
const TAKE_AT_ONCE: usize = 512;

/// Largest spare buffer (in frames) a parked receiver gives back rather than keeps.
const KEEP_SPARE: usize = 16;

/// Creates a bounded outbound queue for a session speaking `serializer`.
pub fn channel(limits: QueueLimits, serializer: Serializer) -> (Outbound, OutboundRx) {
    let shared = Arc::new(Shared {
        inner: Mutex::new(Inner {
            items: VecDeque::new(),
            bytes: 0,
            policy: OverflowPolicy::Disconnect,
            overflowed: false,
            receiver_gone: false,
            unreported_drops: 0,
            latest: HashMap::new(),
            head_seq: 0,
            parked: false,
        }),
        notify: Notify::new(),
        limits: QueueLimits {
            messages: limits.messages.max(1),
            bytes: limits.bytes.max(1),
        },
        kill: CancellationToken::new(),
        dropped_total: AtomicU64::new(0),
        senders: AtomicUsize::new(1),
    });
    (
        Outbound {
            shared: shared.clone(),
        },
        OutboundRx {
            shared,
            serializer,
            taken: VecDeque::new(),
            taken_bytes: 0,
        },
    )
}

impl Outbound {
    /// Sets the overflow policy (the realm's, known once the session joined).
    pub fn set_policy(&self, policy: OverflowPolicy) {
        self.shared.lock().policy = policy;
    }

    /// Queues a reply or control frame. Replies are never dropped; past twice the bounds the
    /// session is disconnected instead.
    pub fn push(&self, frame: Frame) -> Result<(), QueueFull> {
        let shared = &self.shared;
        let mut inner = shared.lock();
        if inner.overflowed || inner.receiver_gone {
            return Err(QueueFull);
        }
        let len = frame.len();
        if inner.items.len() >= shared.limits.messages * REPLY_MARGIN
            || inner.bytes + len > shared.limits.bytes * REPLY_MARGIN
        {
            shared.overflow(&mut inner);
            return Err(QueueFull);
        }
        inner.items.push_back(Entry {
            frame,
            event: false,
        });
        inner.bytes += len;
        let wake = std::mem::take(&mut inner.parked);
        drop(inner);
        if wake {
            shared.notify.notify_one();
        }
        Ok(())
    }

    /// Queues an EVENT for `topic`, applying the overflow policy when it does not fit.
    pub fn push_event(&self, frame: Frame, topic: &Arc<str>) -> Pushed {
        push_event(&self.shared, frame, topic)
    }

    /// The queue's EVENT side, for the broker's subscriber lists (see [`EventQueue`]).
    pub fn event_queue(&self) -> EventQueue {
        EventQueue {
            shared: self.shared.clone(),
        }
    }
}

/// Where a subscription's EVENTs for one session go: the same queue as its [`Outbound`], held
/// by the broker's subscriber list so a delivery reaches the queue without first reading the
/// session's [`SessionHandle`](crate::router::handle::SessionHandle) (one cache line less per
/// delivery in a large fan-out). It does not count as a sender: once the session's own handles
/// are gone, pushes find the receiver gone and answer [`Pushed::Disconnect`].
#[derive(Debug, Clone)]
pub struct EventQueue {
    shared: Arc<Shared>,
}

impl EventQueue {
    /// Queues an EVENT for `topic`, as [`Outbound::push_event`].
    pub fn push_event(&self, frame: Frame, topic: &Arc<str>) -> Pushed {
        push_event(&self.shared, frame, topic)
    }
}

fn count_drops(shared: &Shared, n: u64) {
    if n > 0 {
        shared.dropped_total.fetch_add(n, Ordering::Relaxed);
    }
}

fn push_event(shared: &Shared, frame: Frame, topic: &Arc<str>) -> Pushed {
    let limits = shared.limits;
    let mut inner = shared.lock();
    if inner.overflowed || inner.receiver_gone {
        return Pushed::Disconnect;
    }
    let len = frame.len();
    let fits =
        |inner: &Inner| inner.items.len() < limits.messages && inner.bytes + len <= limits.bytes;
    let mut dropped = 0;
    match inner.policy {
        OverflowPolicy::Latest => {
            if let Some(replaced) = replace_pending(&mut inner, topic, &frame, limits) {
                dropped = replaced;
                drop(inner);
                count_drops(shared, dropped);
                return Pushed::Queued { dropped };
            }
            if !fits(&inner) {
                inner.unreported_drops += 1;
                drop(inner);
                count_drops(shared, 1);
                return Pushed::Discarded;
            }
        }
        OverflowPolicy::Disconnect => {
            if !fits(&inner) {
                shared.overflow(&mut inner);
                return Pushed::Disconnect;
            }
        }
        OverflowPolicy::DropNewest => {
            if !fits(&inner) {
                inner.unreported_drops += 1;
                drop(inner);
                count_drops(shared, 1);
                return Pushed::Discarded;
            }
        }
        OverflowPolicy::DropOldest => {
            while !fits(&inner) {
                let Some(index) = inner.items.iter().position(|e| e.event) else {
                    break;
                };
                if let Some(old) = inner.items.remove(index) {
                    inner.bytes -= old.frame.len();
                    dropped += 1;
                }
            }
            inner.unreported_drops += dropped;
            if !fits(&inner) {
                // Only replies are queued and they fill the queue: nothing left to drop.
                inner.unreported_drops += 1;
                drop(inner);
                count_drops(shared, dropped + 1);
                return Pushed::Discarded;
            }
        }
    }
    if inner.policy == OverflowPolicy::Latest {
        let seq = inner.head_seq + inner.items.len() as u64;
        inner.latest.insert(topic.clone(), seq);
    }
    inner.items.push_back(Entry { frame, event: true });
    inner.bytes += len;
    let wake = std::mem::take(&mut inner.parked);
    drop(inner);
    count_drops(shared, dropped);
    if wake {
        shared.notify.notify_one();
    }
    Pushed::Queued { dropped }
}

impl Outbound {
    /// Free room below the queue's bounds now: `(frames, bytes)`.
    pub fn room(&self) -> (usize, usize) {
        let limits = self.shared.limits;
        let inner = self.shared.lock();
        (
            limits.messages.saturating_sub(inner.items.len()),
            limits.bytes.saturating_sub(inner.bytes),
        )
    }

    /// Events this session lost to its overflow policy so far.
    pub fn dropped_total(&self) -> u64 {
        self.shared.dropped_total.load(Ordering::Relaxed)
    }

    /// Frames currently queued.
    pub fn depth(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// Cancelled when the router wants the transport to drop this session (slow consumer).
    pub fn kill_token(&self) -> CancellationToken {
        self.shared.kill.clone()
    }
}

/// `Latest`: if `topic` has a pending event, put the new frame in its place. Returns the number of
/// superseded events (1) on success.
fn replace_pending(
    inner: &mut Inner,
    topic: &Arc<str>,
    frame: &Frame,
    limits: QueueLimits,
) -> Option<u64> {
    let seq = *inner.latest.get(topic)?;
    let index = usize::try_from(seq.checked_sub(inner.head_seq)?).ok()?;
    let old_len = inner.items.get(index)?.frame.len();
    let new_bytes = inner.bytes - old_len + frame.len();
    if new_bytes > limits.bytes {
        return None;
    }
    let entry = inner.items.get_mut(index)?;
    entry.frame = frame.clone();
    inner.bytes = new_bytes;
    inner.unreported_drops += 1;
    Some(1)
}

impl OutboundRx {
    /// Waits for the next frame; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Frame> {
        loop {
            if let Some(frame) = self.next(true) {
                return Some(frame);
            }
            if self.shared.senders.load(Ordering::Acquire) == 0 {
                return None;
            }
            // A push between `next` (which parked us) and this await leaves a permit behind, so
            // no wake-up is lost.
            self.shared.notify.notified().await;
        }
    }

    /// Gives back the memory of an empty queue. The writer calls this at each keepalive ping,
    /// so a session that once held many events (a burst) does not keep their slots while idle;
    /// not after every batch, where a busy queue would be freed and regrown again and again
    /// (measured: a third of the fan-out rate).
    pub fn release_idle(&mut self) {
        if self.taken.is_empty() {
            self.taken = VecDeque::new();
        }
        let mut inner = self.shared.lock();
        if !inner.items.is_empty() {
            return;
        }
        inner.items = VecDeque::new();
        if inner.latest.is_empty() {
            inner.latest = HashMap::new();
        }
    }

    /// About how many bytes the frames taken but not yet handed out hold (payload and framing),
    /// for sizing the writer's buffer once per batch.
    pub fn taken_bytes(&self) -> usize {
        if self.taken.is_empty() {
            0
        } else {
            self.taken_bytes
        }
    }

    /// Takes a frame that is already queued, without waiting (for batching).
    pub fn try_recv(&mut self) -> Option<Frame> {
        self.next(false)
    }

    /// The next frame: from those already taken, else from the queue after taking what it holds.
    /// With `park`, an empty queue records that the receiver is about to wait.
    fn next(&mut self, park: bool) -> Option<Frame> {
        if self.taken.is_empty() {
            self.take(park);
        }
        self.taken.pop_front().map(|entry| entry.frame)
    }

    /// Moves up to [`TAKE_AT_ONCE`] queued frames into `taken` under one lock. Events dropped
    /// since the last handed-out EVENT are reported in the first EVENT taken.
    fn take(&mut self, park: bool) {
        let (first_event, drops) = {
            let mut inner = self.shared.lock();
            if inner.items.is_empty() {
                inner.parked |= park;
                drop(inner);
                // About to wait with nothing in hand: a small spare buffer is given back (idle
                // sessions hold none; refilling it costs one allocation per small batch), a
                // large one, the mark of a busy session, is kept for the next batch.
                if park && self.taken.capacity() <= KEEP_SPARE {
                    self.taken = VecDeque::new();
                }
                return;
            }
            let n = inner.items.len().min(TAKE_AT_ONCE);
            if n == inner.items.len() {
                std::mem::swap(&mut inner.items, &mut self.taken);
                self.taken_bytes = std::mem::take(&mut inner.bytes);
            } else {
                let bytes: usize = inner.items.iter().take(n).map(|e| e.frame.len()).sum();
                self.taken.extend(inner.items.drain(..n));
                inner.bytes -= bytes;
                self.taken_bytes = bytes;
            }
            // Room for the frame headers too (2–10 bytes each on a WebSocket).
            self.taken_bytes += 10 * n;
            inner.head_seq += n as u64;
            if !inner.latest.is_empty() {
                let head = inner.head_seq;
                inner.latest.retain(|_, seq| *seq >= head);
            }
            let first_event = self.taken.iter().position(|e| e.event);
            let drops = match first_event {
                Some(_) => std::mem::take(&mut inner.unreported_drops),
                None => 0,
            };
            (first_event, drops)
        };
        if let (Some(index), true) = (first_event, drops > 0) {
            if let Some(entry) = self.taken.get_mut(index) {
                entry.frame = with_dropped_detail(self.serializer, entry.frame.clone(), drops);
            }
        }
    }

    /// Cancelled when the router asks for this session to be dropped.
    pub fn kill_token(&self) -> CancellationToken {
        self.shared.kill.clone()
    }
}

impl Drop for OutboundRx {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.receiver_gone = true;
        inner.items.clear();
        self.taken.clear();
        inner.latest.clear();
        inner.bytes = 0;
    }
}

/// Re-encodes an EVENT with `Details._dropped = drops`. Only sessions that lost events pay for it.
fn with_dropped_detail(serializer: Serializer, frame: Frame, drops: u64) -> Frame {
    match codec::decode(serializer, frame.bytes()) {
        Ok(Message::Event {
            subscription,
            publication,
            mut details,
            args,
            kwargs,
        }) => {
            details.insert(DROPPED_DETAIL.into(), Value::UInt(drops));
            let event = Message::Event {
                subscription,
                publication,
                details,
                args,
                kwargs,
            };
            Frame::from_encoded(serializer, codec::encode(serializer, &event))
        }
        _ => frame,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wampd_proto::wamp::Dict;

    fn text(s: &str) -> Frame {
        Frame::Text(Utf8Bytes::from(s))
    }

    fn event(n: u64) -> Frame {
        let msg = Message::Event {
            subscription: 1,
            publication: n,
            details: Dict::new(),
            args: vec![Value::UInt(n)],
            kwargs: Dict::new(),
        };
        Frame::from_encoded(Serializer::Json, codec::encode(Serializer::Json, &msg))
    }

    fn queue(messages: usize, policy: OverflowPolicy) -> (Outbound, OutboundRx) {
        let (tx, rx) = channel(
            QueueLimits {
                messages,
                bytes: 1 << 20,
            },
            Serializer::Json,
        );
        tx.set_policy(policy);
        (tx, rx)
    }

    fn drain(rx: &mut OutboundRx) -> Vec<(u64, Option<u64>)> {
        let mut out = Vec::new();
        while let Some(frame) = rx.try_recv() {
            if let Ok(Message::Event {
                publication,
                details,
                ..
            }) = codec::decode(Serializer::Json, frame.bytes())
            {
                out.push((
                    publication,
                    details.get(DROPPED_DETAIL).and_then(Value::as_u64),
                ));
            }
        }
        out
    }

    #[test]
    fn an_empty_queue_gives_back_its_memory_when_quiet() {
        let (tx, mut rx) = queue(1000, OverflowPolicy::Disconnect);
        let t: Arc<str> = Arc::from("t");
        let capacity = |rx: &OutboundRx| rx.shared.lock().items.capacity() + rx.taken.capacity();
        for n in 0..200 {
            tx.push_event(event(n), &t);
        }
        rx.release_idle();
        assert!(capacity(&rx) >= 200, "a queue holding events keeps them");
        assert_eq!(drain(&mut rx).len(), 200);
        assert!(capacity(&rx) >= 200, "drained, the slots are still there");
        rx.release_idle();
        assert_eq!(capacity(&rx), 0, "and given back when quiet");
    }

    #[test]
    fn disconnect_policy_overflows_and_kills() {
        let (tx, _rx) = queue(2, OverflowPolicy::Disconnect);
        let t: Arc<str> = Arc::from("t");
        assert_eq!(tx.push_event(event(1), &t), Pushed::Queued { dropped: 0 });
        assert_eq!(tx.push_event(event(2), &t), Pushed::Queued { dropped: 0 });
        assert_eq!(tx.push_event(event(3), &t), Pushed::Disconnect);
        assert!(tx.kill_token().is_cancelled());
        assert_eq!(tx.push(text("reply")), Err(QueueFull));
    }

    #[test]
    fn drop_newest_keeps_the_first_events_and_reports_the_loss() {
        let (tx, mut rx) = queue(2, OverflowPolicy::DropNewest);
        let t: Arc<str> = Arc::from("t");
        for n in 1..=5 {
            tx.push_event(event(n), &t);
        }
        assert_eq!(tx.dropped_total(), 3);
        assert_eq!(drain(&mut rx), vec![(1, Some(3)), (2, None)]);
        tx.push_event(event(6), &t);
        assert_eq!(drain(&mut rx), vec![(6, None)]);
    }

    #[test]
    fn drop_oldest_keeps_the_last_events_and_never_drops_replies() {
        let (tx, mut rx) = queue(3, OverflowPolicy::DropOldest);
        let t: Arc<str> = Arc::from("t");
        assert!(tx.push(text("[17,1,2]")).is_ok());
        for n in 1..=5 {
            tx.push_event(event(n), &t);
        }
        assert_eq!(tx.dropped_total(), 3);
        let first = rx.try_recv().map(|f| f.bytes().to_vec());
        assert_eq!(first.as_deref(), Some(&b"[17,1,2]"[..]));
        assert_eq!(drain(&mut rx), vec![(4, Some(3)), (5, None)]);
    }

    #[test]
    fn latest_keeps_the_newest_pending_event_per_topic() {
        let (tx, mut rx) = queue(2, OverflowPolicy::Latest);
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        tx.push_event(event(1), &a);
        tx.push_event(event(2), &b);
        assert_eq!(tx.push_event(event(3), &a), Pushed::Queued { dropped: 1 });
        assert_eq!(tx.push_event(event(4), &a), Pushed::Queued { dropped: 1 });
        assert_eq!(tx.push_event(event(5), &Arc::from("c")), Pushed::Discarded);
        assert_eq!(drain(&mut rx), vec![(4, Some(3)), (2, None)]);
        // Once delivered, the topic starts afresh.
        assert_eq!(tx.push_event(event(6), &a), Pushed::Queued { dropped: 0 });
        assert_eq!(drain(&mut rx), vec![(6, None)]);
    }

    #[test]
    fn latest_after_a_partial_take_replaces_only_what_is_still_queued() {
        let (tx, mut rx) = queue(1000, OverflowPolicy::Latest);
        let topics: Vec<Arc<str>> = (0..600).map(|i| Arc::from(format!("t{i}"))).collect();
        for (n, topic) in topics.iter().enumerate() {
            tx.push_event(event(n as u64), topic);
        }
        // The first take moves TAKE_AT_ONCE frames out; the rest stays queued.
        assert!(rx.try_recv().is_some());
        assert_eq!(tx.depth(), 600 - TAKE_AT_ONCE);
        // t0 was taken: a new event for it is queued, not put in a taken frame's place.
        assert_eq!(
            tx.push_event(event(1000), &topics[0]),
            Pushed::Queued { dropped: 0 }
        );
        // t599 is still queued: superseded.
        assert_eq!(
            tx.push_event(event(1001), &topics[599]),
            Pushed::Queued { dropped: 1 }
        );
        let rest: Vec<u64> = drain(&mut rx).into_iter().map(|(n, _)| n).collect();
        assert_eq!(rest.len(), 600 - 1 + 1);
        assert_eq!(
            rest.iter().rev().take(2).copied().collect::<Vec<_>>(),
            vec![1000, 1001]
        );
    }

    #[test]
    fn byte_bound_counts_queued_payload() {
        let (tx, mut rx) = channel(
            QueueLimits {
                messages: 100,
                bytes: 10,
            },
            Serializer::Json,
        );
        let t: Arc<str> = Arc::from("t");
        assert_eq!(
            tx.push_event(text("12345"), &t),
            Pushed::Queued { dropped: 0 }
        );
        assert_eq!(
            tx.push_event(text("12345"), &t),
            Pushed::Queued { dropped: 0 }
        );
        // The writer takes both: they leave the queue's count.
        assert!(rx.try_recv().is_some());
        for _ in 0..2 {
            assert_eq!(
                tx.push_event(text("12345"), &t),
                Pushed::Queued { dropped: 0 }
            );
        }
        assert_eq!(tx.push_event(text("1"), &t), Pushed::Disconnect);
    }

    #[test]
    fn replies_may_exceed_the_bound_up_to_the_margin() {
        let (tx, _rx) = queue(2, OverflowPolicy::DropNewest);
        for _ in 0..4 {
            assert!(tx.push(text("r")).is_ok());
        }
        assert_eq!(tx.push(text("r")), Err(QueueFull));
        assert!(tx.kill_token().is_cancelled());
    }

    #[tokio::test]
    async fn recv_wakes_on_push_and_ends_when_senders_are_gone() {
        let (tx, mut rx) = queue(4, OverflowPolicy::Disconnect);
        let waiter = tokio::spawn(async move {
            let first = rx.recv().await.map(|f| f.len());
            let end = rx.recv().await.is_none();
            (first, end)
        });
        tokio::task::yield_now().await;
        assert!(tx.push(text("abc")).is_ok());
        drop(tx);
        let (first, end) = waiter.await.expect("task");
        assert_eq!(first, Some(3));
        assert!(end);
    }

    #[tokio::test]
    async fn pushes_wake_a_parked_receiver_only_and_none_is_lost() {
        let (tx, mut rx) = queue(8, OverflowPolicy::Disconnect);
        let t: Arc<str> = Arc::from("t");
        // A wait abandoned after parking (the writer's select took another branch) ...
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), rx.recv()).await;
        assert!(waited.is_err());
        assert!(rx.shared.lock().parked);
        // ... still gets the next push's wake-up, which clears the flag.
        assert_eq!(tx.push_event(event(1), &t), Pushed::Queued { dropped: 0 });
        assert!(!rx.shared.lock().parked);
        assert_eq!(tx.push_event(event(2), &t), Pushed::Queued { dropped: 0 });
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), rx.recv()).await;
        assert!(matches!(first, Ok(Some(_))));
        // Taking without waiting never parks: the writer drains its batch this way.
        assert!(rx.try_recv().is_some());
        assert!(rx.try_recv().is_none());
        assert!(!rx.shared.lock().parked);
    }

    #[test]
    fn json_frames_are_text_and_msgpack_binary() {
        let j = Frame::from_encoded(Serializer::Json, Bytes::from_static(b"[1]"));
        assert!(matches!(j, Frame::Text(_)));
        let m = Frame::from_encoded(Serializer::MsgPack, Bytes::from_static(b"\x91\x01"));
        assert!(matches!(m, Frame::Binary(_)));
    }
}
