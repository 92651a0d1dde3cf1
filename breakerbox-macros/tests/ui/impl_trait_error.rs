use breakerbox::circuit_breaker;

// `impl Trait` in `T` works; in `E` the macro cannot name `breakerbox::Error<E>`.
#[circuit_breaker("ui")]
fn call() -> Result<u32, impl std::error::Error> {
    "7".parse::<u32>()
}

fn main() {}
