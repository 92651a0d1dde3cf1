use breakerbox::circuit_breaker;

// 366 days is the longest accepted duration: 31_622_400 s.
#[circuit_breaker("ui", half_open_timeout_secs = 31_622_401)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {}
