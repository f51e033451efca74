//! Analyze: the checks (one module each) and the trace engine.
