//! Shared helpers of the integration tests: the real gateway process, a real
//! WebSocket API client and real SIPp.

pub mod client;
pub mod gateway;
pub mod http;
pub mod sipp;
pub mod ua;
