//! The macro keeps the function's own attributes: `#[deprecated]` and `#[must_use]` still
//! fire at the call site.
#![deny(deprecated, unused_must_use)]

use breakerbox::circuit_breaker;

#[circuit_breaker("ui")]
#[deprecated(note = "use `call_v2`")]
fn call_v1() -> Result<(), String> {
    Ok(())
}

#[circuit_breaker("ui")]
#[must_use = "the answer says whether the breaker admitted the call"]
fn call_v2() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = call_v1();
    call_v2();
}
