//! fwdoctor: finds the firewall rule that kills Docker's published ports when legacy xtables
//! and nf_tables are both live.
//!
//! The pipeline is the folder layout: [`collect`] -> [`parse`] -> [`model`] -> [`analyze`] ->
//! [`report`]; [`alert`] watches for changes between runs (`check --cron`). Every file fwdoctor
//! writes, and every evidence file it opens, goes through [`safe_fs`].

pub mod alert;
pub mod analyze;
pub mod apply;
pub mod cli;
pub mod collect;
pub mod model;
pub mod parse;
pub mod report;
pub mod safe_fs;
