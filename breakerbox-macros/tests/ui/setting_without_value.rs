use breakerbox::circuit_breaker;

#[circuit_breaker("ui", timeout_secs)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
