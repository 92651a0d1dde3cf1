use breakerbox::circuit_breaker;

#[circuit_breaker("ui", crate = ::no_such_crate::breakerbox)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
