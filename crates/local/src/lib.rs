//! Local adapters of tidemark's ports, and the state-machine interpreter.
pub mod statemachine;
