//! The per-call overhead of `CircuitBreakerLayer` over the bare inner service, one thread.
//!
//! One iteration is what a tower caller does per request: `poll_ready`, `call`, and one
//! poll of the returned future (the inner future is `std::future::Ready`, so the figures
//! are the layer's own cost, not a network's):
//!
//! - `bare`: the inner service alone;
//! - `layer_closed`: through the layer on a closed breaker (admission, an `Arc` clone into
//!   the permit, classification, recording Success);
//! - `layer_open`: through the layer on an open breaker (rejected in `call`, the inner
//!   service neither polled nor called);
//! - `breaker_call`: `CircuitBreaker::call` around the same work, for reference;
//! - `owned_permit` / `permit` / `arc_clone_drop`: what the layer builds on,
//!   `try_acquire_owned` + `success` against `try_acquire` + `success`, and the `Arc` clone
//!   and drop that the difference is made of (the future must be `'static`).
//!
//! Run: `cargo bench -p breakerbox-ecosystem --bench layer`.

use std::future::{ready, Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use breakerbox::tower::CircuitBreakerLayer;
use breakerbox::{CircuitBreaker, Config};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::task::noop_waker_ref;
use tower::{Layer, Service};

/// The cheapest possible inner service: always ready, answers at once.
#[derive(Clone, Copy)]
struct Echo;

impl Service<u64> for Echo {
    type Response = u64;
    type Error = ();
    type Future = Ready<Result<u64, ()>>;

    #[inline]
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ()>> {
        Poll::Ready(Ok(()))
    }

    #[inline]
    fn call(&mut self, n: u64) -> Self::Future {
        ready(Ok(n))
    }
}

/// One request: poll_ready, call, poll the future once (it is ready).
#[inline]
fn request<S: Service<u64>>(service: &mut S, n: u64) -> bool {
    let mut cx = Context::from_waker(noop_waker_ref());
    if !matches!(service.poll_ready(&mut cx), Poll::Ready(Ok(()))) {
        return false;
    }
    let fut = pin!(service.call(n));
    matches!(fut.poll(&mut cx), Poll::Ready(Ok(_)))
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("uncontended");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(3));

    let mut bare = Echo;
    group.bench_function("bare", |b| b.iter(|| request(&mut bare, black_box(1))));

    let closed = Arc::new(CircuitBreaker::new("bench::closed"));
    let mut layered = CircuitBreakerLayer::new(closed).layer(Echo);
    group.bench_function("layer_closed", |b| {
        b.iter(|| request(&mut layered, black_box(1)))
    });

    let config = Config::builder()
        .timeout(Duration::from_secs(3600))
        .build()
        .unwrap();
    let open = Arc::new(CircuitBreaker::with_config("bench::open", config));
    open.force_open();
    let mut rejecting = CircuitBreakerLayer::new(open).layer(Echo);
    group.bench_function("layer_open", |b| {
        b.iter(|| request(&mut rejecting, black_box(1)))
    });

    let breaker = CircuitBreaker::new("bench::call");
    group.bench_function("breaker_call", |b| {
        b.iter(|| breaker.call(|| Ok::<u64, ()>(black_box(1))).is_ok())
    });
    let owned = Arc::new(CircuitBreaker::new("bench::owned"));
    group.bench_function("owned_permit", |b| {
        b.iter(|| owned.try_acquire_owned().map(|p| p.success()).is_ok())
    });
    group.bench_function("arc_clone_drop", |b| {
        b.iter(|| drop(black_box(Arc::clone(&owned))))
    });
    group.bench_function("permit", |b| {
        b.iter(|| owned.try_acquire().map(|p| p.success()).is_ok())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
