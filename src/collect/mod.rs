//! Collect: run every source on the live host (or read a capture) into [`Evidence`].

pub mod capture;
pub mod command;
pub mod docker_api;
pub mod evidence;
pub mod live;
pub mod mapped_file;
pub mod paste;
pub mod redact;

pub use evidence::{Evidence, Meta, SourceState, SourceStatus};
