//! Doc comments survive the rewrite: this crate denies missing docs.
#![deny(missing_docs)]

/// A documented module, so its public items need docs too.
pub mod api {
    use breakerbox::circuit_breaker;

    /// Fetches the answer.
    #[circuit_breaker("ui::pass::docs")]
    pub fn answer() -> Result<u32, String> {
        Ok(42)
    }
}

fn main() {
    assert_eq!(api::answer().unwrap(), 42);
}
