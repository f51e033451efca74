//! Run one external command with a timeout, draining its pipes while waiting.
