//! Support shared by the ecosystem tests and examples.
