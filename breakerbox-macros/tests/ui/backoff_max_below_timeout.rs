use breakerbox::circuit_breaker;

#[circuit_breaker("ui", timeout_secs = 30, backoff_multiplier = 2, backoff_max_secs = 10)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
