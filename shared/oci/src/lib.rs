//! Container images → flists, without extracting anything to disk.
//!
//! Two sources feed the same pipeline (hub-convert's [`TreeBuilder`](hub_convert::TreeBuilder)):
//!
//! * **Registry** (default, daemonless): [`Registry`] speaks the OCI distribution API
//!   (Docker v2 and OCI manifests, indexes with platform selection, bearer and basic
//!   authentication), streams each layer (gzip, zstd or plain tar) while checking its sha256
//!   digest, and applies the layers in order with OCI whiteouts ([`convert_resolved`]).
//! * **Docker Engine** ([`Engine`]): the daemon pulls the image, a never-started container's
//!   filesystem is exported as one tar stream; for operators who already run a daemon.
//!
//! Both add the image configuration as metadata (`entrypoint`, `environ`, `port`, `volume`)
//! and `/.startup.toml` ([`startup_toml`]). [`ImageOptions::source_key`] identifies a
//! conversion (content digest, platform, format, options) so results can be reused.
//!
//! Credentials travel sealed ([`seal_credentials`] / [`open_credentials`]); flist names come
//! from [`hub_model::names::image_flist_name`].

mod config;
mod convert;
mod engine;
mod error;
mod platform;
mod progress;
mod reference;
mod registry;
mod startup;
mod tracker;

pub use config::RunConfig;
pub use convert::{CONVERSION_VERSION, ImageOptions, convert_resolved};
pub use engine::{Engine, EngineImage, EngineOptions};
pub use error::OciError;
pub use hub_model::credentials::{Credentials, CredentialsKey, open_credentials, seal_credentials};
pub use platform::Platform;
pub use progress::{ImagePhase, ImageProgress, ImageReport, NoImageProgress};
pub use reference::ImageRef;
pub use registry::{LayerInfo, Registry, RegistryOptions, ResolvedImage};
pub use startup::{STARTUP_PATH, startup_toml};
