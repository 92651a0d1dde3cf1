use breakerbox::circuit_breaker;

#[circuit_breaker("ui", timeout_ms = 500ms)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
