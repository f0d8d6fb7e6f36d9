//! Which session holds which Socket.IO socket id, so that an emit's `skip_sid` (the Flask-SocketIO
//! queue's, or a client's own) can exclude the sessions it names. Bounded by the sessions
//! themselves: each holds at most [`super::session::MAX_NAMESPACES`] ids and removes them when it
//! leaves.

use std::collections::HashMap;
use std::sync::Mutex;

use wampd_proto::wamp::Id;

/// Socket ids of this node's Socket.IO sessions.
#[derive(Debug, Default)]
pub struct Sids {
    by_sid: Mutex<HashMap<String, Id>>,
}

impl Sids {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Id>> {
        self.by_sid.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `session` holds `sid`.
    pub fn insert(&self, sid: &str, session: Id) {
        self.lock().insert(sid.to_owned(), session);
    }

    /// Forgets `sid`.
    pub fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }

    /// The sessions holding any of `sids` (unknown ids belong to other servers and are skipped).
    pub fn sessions(&self, sids: &[String]) -> Vec<Id> {
        let map = self.lock();
        sids.iter().filter_map(|s| map.get(s).copied()).collect()
    }
}
