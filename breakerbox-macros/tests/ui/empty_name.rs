use breakerbox::circuit_breaker;

#[circuit_breaker("", failure_threshold = 3)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
