//! The `medledger` binary.
fn main() {}
