use breakerbox::circuit_breaker;

#[circuit_breaker(api_service)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
