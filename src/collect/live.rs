//! Collect every source on the live host, in parallel, each with a timeout.

use crate::collect::Evidence;
use std::time::Duration;

pub struct Options {
    pub timeout: Duration,
}

pub fn collect(opts: &Options) -> Evidence {
    let _ = opts;
    Evidence::default()
}
