use breakerbox::circuit_breaker;

#[circuit_breaker("ui", failure_treshold = 3)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
