use breakerbox::circuit_breaker;

#[circuit_breaker("ui", dry_run = 1)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
