//! The demo clock: while `WEBSOCKET_DEMO` is on, the router publishes the current UTC time on
//! `wampd.demo.time` every second in every realm, so the demo page shows live events before any
//! backend exists.
//!
//! It publishes as the router itself (like `oro/ping`), not through a session, so authorization
//! rules that keep browsers from publishing do not stop it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::router::handle::SessionHandle;
use crate::router::publisher::PublishRequest;
use crate::router::Router;
use wampd_proto::wamp::{Dict, Value};

/// The topic the clock publishes on.
pub const TIME_TOPIC: &str = "wampd.demo.time";
/// The topic the demo page shows backend notifications from.
pub const NOTIFICATIONS_TOPIC: &str = "wampd.demo.notifications";

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch (proleptic Gregorian calendar).
pub fn format_utc(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// Publishes the time every second until `stop` is cancelled.
pub async fn run(router: Arc<Router>, stop: CancellationToken) {
    let (identity, _rx) = SessionHandle::internal();
    let kwargs = Dict::new();
    let options = Dict::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let args = [Value::from(format_utc(now).as_str())];
        for realm in router.realms() {
            let request = PublishRequest {
                topic: TIME_TOPIC,
                args: &args,
                kwargs: &kwargs,
                options: &options,
                any_topic: false,
                v1_payload: None,
            };
            let _ = router.publish(realm, &identity, request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::format_utc;

    #[test]
    fn formats_utc() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_796_400_000), "2026-12-04T16:00:00Z");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
