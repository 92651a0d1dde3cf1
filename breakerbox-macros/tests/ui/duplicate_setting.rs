use breakerbox::circuit_breaker;

#[circuit_breaker("ui", failure_threshold = 3, failure_threshold = 5)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
