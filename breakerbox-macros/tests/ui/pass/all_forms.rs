//! Every accepted argument form, and the signatures the macro handles, compiled with
//! warnings denied: the expansion itself must not warn.
#![deny(warnings)]

use breakerbox::{circuit_breaker, Error};

#[rustfmt::skip] // keep the trailing commas: they are what this case checks
#[circuit_breaker("ui::pass::a",)]
fn trailing_comma() -> Result<(), ()> {
    Ok(())
}

#[rustfmt::skip]
#[circuit_breaker(
    "ui::pass::b",
    failure_threshold = 1_000,
    success_threshold = 1,
    half_open_max_calls = 3u32,
    timeout_ms = 31_622_400_000,
    half_open_timeout_secs = 1,
)]
pub fn every_setting() -> core::result::Result<u8, std::io::Error> {
    Ok(1)
}

struct Svc<'a> {
    prefix: &'a str,
}

impl<'a> Svc<'a> {
    #[circuit_breaker("ui::pass::c")]
    fn borrowed(&self, key: &str) -> Result<&'a str, String> {
        if key.is_empty() {
            return Err("empty".into());
        }
        Ok(self.prefix)
    }

    #[circuit_breaker("ui::pass::c")]
    async fn borrowed_async(&self) -> Result<&str, String> {
        let p: &str = self.borrowed("k").map_err(|e| format!("{e:?}"))?;
        Ok(p)
    }
}

trait Store {
    fn get(&self) -> Result<u32, Error<String>>;
}

struct Mem;

impl Store for Mem {
    #[circuit_breaker("ui::pass::d")]
    fn get(&self) -> Result<u32, String> {
        Ok(7)
    }
}

#[circuit_breaker("ui::pass::e")]
unsafe fn raw(p: *const u32) -> Result<u32, ()> {
    // SAFETY: the caller passes a valid pointer.
    Ok(unsafe { *p })
}

fn main() {
    trailing_comma().unwrap();
    assert_eq!(every_setting().unwrap(), 1);
    let s = Svc { prefix: "p" };
    assert_eq!(s.borrowed("k").unwrap(), "p");
    assert!(s.borrowed("").is_err());
    assert_eq!(
        futures::executor::block_on(s.borrowed_async()).unwrap(),
        "p"
    );
    assert_eq!(Mem.get().unwrap(), 7);
    let x = 5;
    // SAFETY: `&x` is valid.
    assert_eq!(unsafe { raw(&x) }.unwrap(), 5);
}
