//! Live job events: workers publish each recorded event on `<prefix>.events.<job id>`; a
//! gateway subscribes once to all of them and fans them out in-process to any number of
//! listeners, each of which replays the durable log from PostgreSQL before following live.

mod bus;
mod follow;
mod listeners;
mod publisher;

pub use bus::EventBus;
pub use follow::JobEventStream;
pub use listeners::EventObserver;
pub use publisher::EventPublisher;
