use breakerbox::circuit_breaker;

#[circuit_breaker]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
