use breakerbox::circuit_breaker;

#[circuit_breaker("ui", window_secs = 60, slow_call_ms = 500, slow_call_rate = 150)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
