//! Compile-time behaviour of `#[breakerbox::circuit_breaker]`: misuse is a compile error
//! with a clear message (`tests/ui/*.rs`, expected output in the `.stderr` next to each),
//! and the accepted forms compile and run (`tests/ui/pass/*.rs`).
//!
//! Regenerate the expected output after a deliberate message change with
//! `TRYBUILD=overwrite cargo test -p breakerbox-macros --test macro_ui`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
