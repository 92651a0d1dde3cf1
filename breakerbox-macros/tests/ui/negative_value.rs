use breakerbox::circuit_breaker;

#[circuit_breaker("ui", success_threshold = -2)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
