//! A blocking HTTP/1.0 client for Docker's Engine API over its Unix socket.
