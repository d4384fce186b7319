//! End-to-end tests of the media plane over real UDP sockets on 127.0.0.1.
