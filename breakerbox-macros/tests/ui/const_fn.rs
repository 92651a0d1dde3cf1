use breakerbox::circuit_breaker;

#[circuit_breaker("ui")]
const fn answer() -> Result<u32, ()> {
    Ok(42)
}

fn main() {}
