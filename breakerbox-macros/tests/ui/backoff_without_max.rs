use breakerbox::circuit_breaker;

#[circuit_breaker("ui", backoff_multiplier = 2)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
