use breakerbox::circuit_breaker;

#[circuit_breaker("ui")]
struct Client {
    url: String,
}

fn main() {}
