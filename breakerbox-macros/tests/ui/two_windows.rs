use breakerbox::circuit_breaker;

#[circuit_breaker("ui", window_calls = 100, window_secs = 60)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
