use breakerbox::circuit_breaker;

#[circuit_breaker("ui", half_open_max_calls = 1001)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
