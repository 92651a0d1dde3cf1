use breakerbox::circuit_breaker;

#[circuit_breaker("ui", window_calls = 100, failure_rate = 0)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
