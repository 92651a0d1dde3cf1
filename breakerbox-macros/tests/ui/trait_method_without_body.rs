use breakerbox::circuit_breaker;

trait Store {
    // No body to wrap: put the attribute on the implementations instead.
    #[circuit_breaker("ui")]
    fn get(&self) -> Result<u32, String>;
}

fn main() {}
