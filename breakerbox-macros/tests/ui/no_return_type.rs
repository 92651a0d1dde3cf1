use breakerbox::circuit_breaker;

#[circuit_breaker("ui")]
fn notify(message: &str) {
    println!("{message}");
}

fn main() {}
