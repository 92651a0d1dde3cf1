use breakerbox::circuit_breaker;

const THRESHOLD: u32 = 3;

#[circuit_breaker("ui", failure_threshold = THRESHOLD)]
fn call() -> Result<(), String> {
    Ok(())
}

fn main() {
    let _ = THRESHOLD;
}
