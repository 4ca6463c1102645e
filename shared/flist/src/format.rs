//! The two flist formats and how to recognise them: the hub's one [`Format`] type, defined in
//! hub-model so that the gateway, the workers and the CLI share its spelling.

pub use hub_model::Format;
