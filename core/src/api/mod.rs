//! The sys.call / sys.conf API as data: JSON-RPC 2.0 framing, error objects, and
//! typed decoding of every method's parameters with the seed's defaults.

pub mod call_params;
pub mod conf_params;
pub mod content;
pub mod errors;
pub mod jsonrpc;
pub mod methods;
pub mod params;
pub mod values;
