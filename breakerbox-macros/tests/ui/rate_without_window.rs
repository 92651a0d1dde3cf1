use breakerbox::circuit_breaker;

#[circuit_breaker("ui", failure_rate = 50, minimum_calls = 20)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
