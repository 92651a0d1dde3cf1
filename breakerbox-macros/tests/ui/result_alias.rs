use breakerbox::circuit_breaker;

#[circuit_breaker("ui")]
fn read() -> std::io::Result<Vec<u8>> {
    Ok(Vec::new())
}

fn main() {}
