use breakerbox::circuit_breaker;

#[circuit_breaker("ui", window_ms = 500)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
