use breakerbox::circuit_breaker;

#[circuit_breaker("ui", window_calls = 100, slow_call_rate = 80)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
