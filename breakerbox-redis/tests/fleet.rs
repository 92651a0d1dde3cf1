//! Fleets of replicas (separate registries and connections) on a real `redis-server`.

mod common;

use std::time::{Duration, Instant};

use breakerbox::{Cause, State};
use breakerbox_redis::FleetStats;
use common::{bounded, eventually, fleet_config, RedisServer, Replica};
use redis::AsyncCommands;

const REMOTE_OPEN: (State, State, Cause) = (State::Closed, State::Open, Cause::Remote);

fn counts(s: FleetStats) -> [u64; 7] {
    [
        s.published,
        s.dropped_full,
        s.dropped_offline,
        s.received,
        s.applied,
        s.ignored,
        s.malformed,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_on_one_replica_opens_the_others() {
    let server = RedisServer::start();
    let a = Replica::new(fleet_config(&server, "three", "a"));
    let b = Replica::new(fleet_config(&server, "three", "b"));
    let c = Replica::new(fleet_config(&server, "three", "c"));
    for r in [&a, &b, &c] {
        r.synced(1).await;
    }

    let tripped = Instant::now();
    a.trip();
    eventually("b and c open", || {
        b.breaker.state() == State::Open && c.breaker.state() == State::Open
    })
    .await;
    // Not a pass/fail criterion (no timed assertions): the figure, for the record.
    println!("propagated to both peers in {:?}", tripped.elapsed());

    // The peers are open for the remaining time, marked remote, and did not echo it.
    for peer in [&b, &c] {
        assert_eq!(peer.transitions(), [REMOTE_OPEN]);
        let retry = peer
            .breaker
            .try_acquire()
            .unwrap_err()
            .retry_after()
            .unwrap();
        assert!(retry <= Duration::from_secs(30), "{retry:?}");
        eventually("peer counted it", || peer.stats().applied == 1).await;
        //                          pub full off rec app ign mal
        assert_eq!(counts(peer.stats()), [0, 0, 0, 1, 1, 0, 0]);
    }
    assert_eq!(
        a.transitions(),
        [(State::Closed, State::Open, Cause::ConsecutiveFailures)]
    );
    // The tripping replica published once and ignores its own echo.
    assert_eq!(counts(a.stats()), [1, 0, 0, 0, 0, 0, 0]);
    // Calls on the peers are rejected locally now.
    assert!(b
        .breaker
        .call(|| Ok::<_, ()>(()))
        .unwrap_err()
        .is_rejected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_learns_an_open_breaker_capped_by_its_own_timeout() {
    let server = RedisServer::start();
    let a = Replica::new(fleet_config(&server, "late", "a"));
    a.synced(1).await;
    a.trip();
    eventually("a published", || a.stats().published == 1).await;

    // The key carries the report, with the remaining open time as its expiry.
    let mut redis = server.client().await;
    let pttl: i64 = redis.pttl("late:trip:upstream:a").await.unwrap();
    assert!(pttl > 0 && pttl <= 30_000, "{pttl}");
    let value: String = redis.get("late:trip:upstream:a").await.unwrap();
    assert!(value.starts_with("bbx1|late|a|"), "{value}");
    assert!(value.ends_with("|upstream"), "{value}");

    // D starts later, with a shorter timeout than A's open period.
    let d = Replica::with_timeout(fleet_config(&server, "late", "d"), Duration::from_secs(5));
    eventually("d open", || d.breaker.state() == State::Open).await;
    assert_eq!(d.transitions(), [REMOTE_OPEN]);
    let retry = d.breaker.try_acquire().unwrap_err().retry_after().unwrap();
    assert!(retry <= Duration::from_secs(5), "{retry:?}");
    eventually("d counted it", || d.stats().applied == 1).await;
    assert_eq!(counts(d.stats()), [0, 0, 0, 1, 1, 0, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorum_two_ignores_a_single_report() {
    let server = RedisServer::start();
    let config = |id| fleet_config(&server, "quorum", id).quorum(2);
    let (a, b, c) = (
        Replica::new(config("a")),
        Replica::new(config("b")),
        Replica::new(config("c")),
    );
    for r in [&a, &b, &c] {
        r.synced(1).await;
    }

    a.trip();
    eventually("b and c heard a", || {
        b.stats().received == 1 && c.stats().received == 1
    })
    .await;
    for peer in [&b, &c] {
        assert_eq!(peer.breaker.state(), State::Closed);
        assert_eq!(counts(peer.stats()), [0, 0, 0, 1, 0, 1, 0]);
        peer.calls_succeed(10);
    }

    // A second replica trips on its own: two distinct reports, C opens.
    b.trip();
    eventually("c open", || c.breaker.state() == State::Open).await;
    assert_eq!(c.transitions(), [REMOTE_OPEN]);
    eventually("a heard b", || a.stats().received == 1).await;
    // A is already open by its own trip: the report is counted, not applied.
    assert_eq!(counts(a.stats()), [1, 0, 0, 1, 0, 1, 0]);
    assert_eq!(counts(b.stats()), [1, 0, 0, 1, 0, 1, 0]);
    eventually("c counted it", || c.stats().applied == 1).await;
    assert_eq!(counts(c.stats()), [0, 0, 0, 2, 1, 1, 0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_then_restarted_calls_go_on_and_replicas_resynchronise() {
    let mut server = RedisServer::start();
    let a = Replica::new(fleet_config(&server, "kill", "a"));
    let b = Replica::new(fleet_config(&server, "kill", "b"));
    a.synced(1).await;
    b.synced(1).await;

    server.kill();
    eventually("both see the loss", || {
        !a.stats().connected && !b.stats().connected
    })
    .await;

    // Local-only behaviour: calls go on, a trip opens only the local breaker.
    a.calls_succeed(1000);
    b.calls_succeed(1000);
    a.trip();
    eventually("a's report dropped", || a.stats().dropped_offline == 1).await;
    assert_eq!(b.breaker.state(), State::Closed);
    b.calls_succeed(1000);
    assert_eq!(counts(a.stats()), [0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(counts(b.stats()), [0; 7]);
    assert_eq!(a.stats().reconnects, 0);

    // Back on the same port, empty: both reconnect once; A re-announces its trip, still
    // open, which the new server lost, and B learns it.
    server.restart();
    a.synced(2).await;
    b.synced(2).await;
    eventually("b open", || b.breaker.state() == State::Open).await;
    assert_eq!(b.transitions(), [REMOTE_OPEN]);
    eventually("a re-announced", || a.stats().published == 1).await;
    eventually("b applied", || b.stats().applied == 1).await;
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!((sa.reconnects, sb.reconnects), (1, 1));
    assert_eq!(counts(sa), [1, 0, 1, 0, 0, 0, 0]);
    // B may hear the re-announcement twice (channel and key, depending on which replica
    // synchronised first): the second copy is a duplicate, ignored.
    assert_eq!(sb.applied, 1);
    assert!(
        sb.received == 1 || (sb.received == 2 && sb.ignored == 1),
        "{sb:?}"
    );
    assert_eq!((sb.published, sb.dropped_offline, sb.malformed), (0, 0, 0));

    // The fleet works as before the outage: a fresh trip of B reaches A.
    a.breaker.reset();
    b.breaker.reset();
    b.trip();
    eventually("a open", || a.breaker.state() == State::Open).await;
    assert_eq!(a.transitions().last(), Some(&REMOTE_OPEN));
    eventually("b published", || b.stats().published == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_server_drops_reports_but_never_slows_calls() {
    let server = RedisServer::start();
    let a = Replica::new(fleet_config(&server, "hung", "a").op_timeout(Duration::from_millis(200)));
    a.synced(1).await;
    let pid = server.pid().to_string();
    signal(&pid, "STOP");
    // Calls never wait on the frozen server: the trip's report waits in the channel, and
    // the background task's write times out.
    a.calls_succeed(1000);
    a.trip();
    eventually("report dropped", || a.stats().dropped_offline == 1).await;
    eventually("loss noticed", || !a.stats().connected).await;
    assert_eq!(a.stats().published, 0);
    signal(&pid, "CONT");
    a.synced(2).await;
    assert_eq!(a.stats().reconnects, 1);
    // The thawed server may still run the write it had buffered; if it does not, A
    // re-announces its open trip. Either way the fleet's key is there.
    let mut redis = server.client().await;
    let mut present = false;
    for _ in 0..1000 {
        present = redis.exists("hung:trip:upstream:a").await.unwrap();
        if present {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(present);
    assert!(a.stats().published <= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_channel_drops_and_counts_and_every_trip_is_accounted_for() {
    let server = RedisServer::start();
    let a = Replica::new(
        fleet_config(&server, "full", "a")
            .channel_capacity(1)
            .op_timeout(Duration::from_secs(2)),
    );
    a.synced(1).await;
    let pid = server.pid().to_string();
    signal(&pid, "STOP");
    // Ten trips while the task is stuck writing to the frozen server: at most one waits in
    // the channel and one is in the task's hands; the rest are dropped at once.
    for _ in 0..10 {
        a.breaker.reset();
        a.trip();
    }
    let full = a.stats().dropped_full;
    assert!(full >= 8, "{:?}", a.stats());
    signal(&pid, "CONT");
    eventually("every trip accounted for", || {
        let s = a.stats();
        s.published + s.dropped_offline + s.dropped_full == 10
    })
    .await;
    assert_eq!(a.stats().dropped_full, full);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breakers_created_after_attach_are_covered() {
    let server = RedisServer::start();
    let a = Replica::new(fleet_config(&server, "new", "a"));
    let b = Replica::new(fleet_config(&server, "new", "b"));
    a.synced(1).await;
    b.synced(1).await;
    let config = common::breaker_config(Duration::from_secs(30));
    let on_a = a.registry.get_or_create("created-later", config.clone());
    let on_b = b.registry.get_or_create("created-later", config);
    // A's periodic scan finds its new breaker (B's is found by name when the report comes).
    eventually("a's scan found it", || a.fleet.attached() == 2).await;
    for _ in 0..3 {
        let _ = on_a.call(|| Err::<(), _>("down"));
    }
    assert_eq!(on_a.state(), State::Open);
    eventually("b's new breaker open", || on_b.state() == State::Open).await;
    assert_eq!(b.breaker.state(), State::Closed);
    eventually("b counted it", || b.stats().applied == 1).await;
    assert_eq!(b.fleet.attached(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_open_is_shared_only_when_configured() {
    let server = RedisServer::start();
    let a = Replica::new(fleet_config(&server, "force", "a").share_force_open(true));
    let b = Replica::new(fleet_config(&server, "force", "b"));
    a.synced(1).await;
    b.synced(1).await;
    let config = common::breaker_config(Duration::from_secs(30));
    let other_a = a.registry.get_or_create("other", config.clone());
    let other_b = b.registry.get_or_create("other", config);
    b.fleet.watch(&other_b);
    a.fleet.watch(&other_a);

    // Shared by A: B's breaker opens, marked remote.
    a.breaker.force_open();
    eventually("b open", || b.breaker.state() == State::Open).await;
    assert_eq!(b.transitions(), [REMOTE_OPEN]);

    // Not shared by B (the default). B's next report, a real trip of another breaker,
    // travels the same channel after it: once A has it, nothing else came before it.
    b.breaker.reset();
    b.breaker.force_open();
    for _ in 0..3 {
        let _ = other_b.call(|| Err::<(), _>("down"));
    }
    eventually("a heard b's trip", || other_a.state() == State::Open).await;
    eventually("a counted it", || a.stats().applied == 1).await;
    assert_eq!(counts(a.stats()), [1, 0, 0, 1, 1, 0, 0]);
    assert_eq!(b.stats().published, 1);
}

fn signal(pid: &str, sig: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_malformed_reports_is_counted_and_ignored() {
    let server = RedisServer::start();
    let b = Replica::new(fleet_config(&server, "flood", "b"));
    b.synced(1).await;
    let mut redis = server.client().await;

    let absurd = format!("bbx1|flood|x|1|{}|upstream", u64::MAX);
    let mut hostile: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"bbx1".to_vec(),
        b"bbx2|flood|x|1|1000|upstream".to_vec(),
        b"bbx1|other|x|1|1000|upstream".to_vec(),
        b"bbx1|flood||1|1000|upstream".to_vec(),
        b"bbx1|flood|x|-1|1000|upstream".to_vec(),
        b"bbx1|flood|x|1|-1000|upstream".to_vec(),
        b"bbx1|flood|x|1|NaN|upstream".to_vec(),
        b"bbx1|flood|x|1|inf|upstream".to_vec(),
        b"bbx1|flood|x|1|0|upstream".to_vec(),
        b"bbx1|flood|x|1|1000|".to_vec(),
        b"bbx1|flood|x|1|1000|\xff\xfe".to_vec(),
        absurd.into_bytes(),
        vec![b'|'; 100_000],
    ];
    let mut x: u32 = 12345;
    while hostile.len() < 1000 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let len = (x % 64) as usize;
        hostile.push((0..len).map(|i| (x >> (i % 24)) as u8 | 0x80).collect());
    }
    let n = hostile.len() as u64;
    for message in &hostile {
        let _: i64 = redis.publish("flood:trips", message).await.unwrap();
    }
    // A valid report for a breaker this replica does not have: counted, ignored.
    let _: i64 = redis
        .publish("flood:trips", "bbx1|flood|x|1|1000|nope")
        .await
        .unwrap();
    eventually("all heard", || b.stats().received == n + 1).await;
    assert_eq!(b.stats().malformed, n);
    assert_eq!(b.stats().ignored, 1);
    assert_eq!(b.stats().applied, 0);
    assert_eq!(b.breaker.state(), State::Closed);
    b.calls_succeed(100);

    // Garbage under trip keys (with and without expiry) at a resync: counted, ignored.
    let _: () = redis
        .set("flood:trip:upstream:evil", "bbx1|flood|evil|1|NaN|upstream")
        .await
        .unwrap();
    let _: () = redis
        .set_ex("flood:trip:upstream:evil2", b"\x00\x01", 60)
        .await
        .unwrap();
    // A key of another type, and a huge value (read no further than a report may be).
    let _: () = redis
        .hset("flood:trip:upstream:hash", "f", "v")
        .await
        .unwrap();
    let _: () = redis
        .set("flood:trip:upstream:huge", vec![b'7'; 1 << 20])
        .await
        .unwrap();
    let late = Replica::new(fleet_config(&server, "flood", "late"));
    late.synced(1).await;
    assert_eq!(counts(late.stats()), [0, 0, 0, 4, 0, 0, 4]);
    assert_eq!(late.breaker.state(), State::Closed);

    // A well-formed report with a year-long open time opens the breaker for at most its
    // own timeout (30 s).
    let _: i64 = redis
        .publish(
            "flood:trips",
            format!("bbx1|flood|x|2|{}|upstream", 365 * 86_400_000u64),
        )
        .await
        .unwrap();
    eventually("b open", || b.breaker.state() == State::Open).await;
    let retry = b.breaker.try_acquire().unwrap_err().retry_after().unwrap();
    assert!(retry <= Duration::from_secs(30), "{retry:?}");
    bounded("shutdown", b.fleet.shutdown()).await;
}
