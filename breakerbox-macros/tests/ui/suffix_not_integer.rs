use breakerbox::circuit_breaker;

#[circuit_breaker("ui", window_calls = 100, minimum_calls = 20f32)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
