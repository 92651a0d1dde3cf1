use breakerbox::circuit_breaker;

#[circuit_breaker("ui", timeout_secs = 1.5)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
