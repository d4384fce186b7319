//! The call resource of the seed, independent of SIP and media: its states and the
//! rules deciding which method each state admits.

pub mod collect;
pub mod state;
