//! Configuration: from `.env-app*` files and the environment to validated [`Settings`].
//!
//! The flow is `env_files::load` (files + real environment → one map) → [`Settings::from_env`] (typed,
//! validated, defaults applied) → the server. Keeping the map step separate from validation lets tests feed
//! settings any map without touching files or the process environment, and lets `wampd config:check` show
//! exactly what the server would run with. See DESIGN.md §5 and oro-gos §2–3.

pub mod checks;
pub mod choices;
pub mod describe;
pub mod env_files;
pub mod error;
pub mod espocrm;
pub mod ip_net;
pub mod limits;
pub mod settings;
pub mod socketio;
pub mod table;
pub mod unknown;
pub mod verbosity;
pub mod zmq;

pub use choices::{
    AppEnv, BackendListen, LogFormat, SlowConsumerPolicy, SlowConsumerSettings, UriCheck,
};
pub use error::ConfigError;
pub use settings::{PublishSettings, Settings};
pub use wampd_proto::dsn::Dsn;
