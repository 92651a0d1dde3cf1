use breakerbox::circuit_breaker;

#[circuit_breaker("ui", slow_call_secs = 1, slow_call_ms = 500)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
