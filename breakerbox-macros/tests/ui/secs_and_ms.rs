use breakerbox::circuit_breaker;

#[circuit_breaker("ui", timeout_secs = 30, timeout_ms = 500)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
