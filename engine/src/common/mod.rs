//! What every plugin shares, below every plugin: the zone's inputs and outputs
//! ([`io`]), its clock, content and counters ([`state`]), the phases of a tick and the
//! plugin trait ([`schedule`]), the command handlers ([`commands`]), the events
//! concerns observe ([`events`]), the components several of them read
//! ([`components`]), walking geometry ([`geometry`]), the spatial index
//! ([`spatial`]), what a failing system costs ([`faults`]) and the state's named
//! parts for hashing and dumps ([`state_hash`]).
//!
//! **Architecture Invariant:** nothing here imports a plugin. Plugins import this, and
//! a plugin may import another only where the concern truly builds on it (skills on
//! combat's hits); the import graph has no cycles.

pub mod commands;
pub mod components;
pub mod events;
pub mod faults;
pub mod geometry;
pub mod io;
pub mod schedule;
pub mod spatial;
pub mod state;
pub mod state_hash;
