use breakerbox::circuit_breaker;

#[circuit_breaker("ui", failure_threshold = 1000u8)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
