//! Report: human table, JSON, Nagios, Prometheus; exit codes.
