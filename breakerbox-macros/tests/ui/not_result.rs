use breakerbox::circuit_breaker;

#[circuit_breaker("ui")]
fn lookup() -> Option<u32> {
    Some(1)
}

fn main() {}
