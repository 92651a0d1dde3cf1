//! The errors a protected call returns: [`Rejected`] and [`Error`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::State;

/// How many bytes of a breaker name a [`Rejected`] carries inline.
const INLINE: usize = 30;

/// A breaker's name as carried by [`Rejected`].
///
/// Rejecting must not write any shared cache line, so a short name (up to 30 bytes, the
/// common case) is copied inline instead of cloning an `Arc` (whose reference count would be
/// one line written by every rejecting core). Longer names fall back to the `Arc`.
#[derive(Clone)]
pub(crate) enum Name {
    Inline { len: u8, bytes: [u8; INLINE] },
    Shared(Arc<str>),
}

impl Name {
    pub(crate) fn new(name: &Arc<str>) -> Name {
        let src = name.as_bytes();
        if src.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..src.len()].copy_from_slice(src);
            Name::Inline {
                len: src.len() as u8,
                bytes,
            }
        } else {
            Name::Shared(Arc::clone(name))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            // The bytes are a whole `str` copied at construction, so they are valid UTF-8;
            // the fallback is unreachable and only avoids a panic path.
            Name::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Name::Shared(s) => s,
        }
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

/// A call was not admitted: the breaker is open, or half-open with every probe slot taken.
///
/// Creating one allocates nothing and writes no shared memory.
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, State};
///
/// let breaker = CircuitBreaker::new("search");
/// breaker.force_open();
/// let rejected = breaker.try_acquire().unwrap_err();
/// assert_eq!(rejected.name(), "search");
/// assert_eq!(rejected.state(), State::Open);
/// assert!(rejected.retry_after().is_some());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Rejected {
    name: Name,
    state: State,
    /// µs; converted to a `Duration` only when asked, keeping the reject path short.
    retry_after_us: Option<u64>,
}

impl Rejected {
    pub(crate) fn new(name: Name, state: State, retry_after_us: Option<u64>) -> Rejected {
        Rejected {
            name,
            state,
            retry_after_us,
        }
    }

    /// The name of the breaker that rejected the call.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("search");
    /// breaker.force_open();
    /// let rejected = breaker.try_acquire().unwrap_err();
    /// assert_eq!(rejected.name(), "search");
    /// ```
    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    /// [`State::Open`], or [`State::HalfOpen`] when every probe slot was taken.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("search");
    /// breaker.force_open();
    /// let rejected = breaker.try_acquire().unwrap_err();
    /// assert_eq!(rejected.state(), breakerbox::State::Open);
    /// ```
    pub fn state(&self) -> State {
        self.state
    }

    /// When open: the time left until the open timeout ends. `None` in half-open.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("search");
    /// breaker.force_open();
    /// let rejected = breaker.try_acquire().unwrap_err();
    /// assert!(rejected.retry_after().unwrap() <= std::time::Duration::from_secs(60));
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after_us.map(Duration::from_micros)
    }
}

impl fmt::Debug for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rejected")
            .field("name", &self.name())
            .field("state", &self.state)
            .field("retry_after", &self.retry_after())
            .finish()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.state, self.retry_after()) {
            (State::HalfOpen, _) => write!(
                f,
                "circuit breaker '{}' is half-open and all its probe slots are taken",
                self.name()
            ),
            (_, Some(after)) => write!(
                f,
                "circuit breaker '{}' is open; retry after {:?}",
                self.name(),
                after
            ),
            (state, None) => write!(f, "circuit breaker '{}' is {}", self.name(), state),
        }
    }
}

impl std::error::Error for Rejected {}

/// The result of a protected call that did not succeed: rejected by the breaker, or the
/// call's own error.
///
/// # Examples
///
/// ```
/// use breakerbox::{CircuitBreaker, Error};
///
/// let breaker = CircuitBreaker::new("db");
/// let err = breaker.call(|| Err::<(), _>("connection reset")).unwrap_err();
/// assert!(!err.is_rejected());
/// assert_eq!(err.into_inner(), Some("connection reset"));
///
/// breaker.force_open();
/// let err = breaker.call(|| Ok::<_, &str>(1)).unwrap_err();
/// assert!(matches!(err, Error::Rejected(_)));
/// ```
#[derive(Debug)]
pub enum Error<E> {
    /// The breaker did not admit the call; the call did not run.
    Rejected(Rejected),
    /// The call ran and returned this error.
    Inner(E),
}

impl<E> Error<E> {
    /// True when the breaker rejected the call.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("db");
    /// let failed = breaker.call(|| Err::<(), _>("timeout")).unwrap_err();
    /// assert!(!failed.is_rejected());
    /// ```
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// The call's own error, or `None` if the call was rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// let breaker = breakerbox::CircuitBreaker::new("db");
    /// let failed = breaker.call(|| Err::<(), _>("timeout")).unwrap_err();
    /// assert_eq!(failed.into_inner(), Some("timeout"));
    /// ```
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Rejected(_) => None,
            Error::Inner(e) => Some(e),
        }
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => fmt::Display::fmt(r, f),
            Error::Inner(e) => fmt::Display::fmt(e, f),
        }
    }
}

/// `Inner` is transparent (API.md, revised 2026-12-02): `Display` is the inner error's and
/// `source()` is the inner error's own source, so a report that walks the chain prints each
/// message once. A rejection has no source.
///
/// # Examples
///
/// ```
/// use std::error::Error as _;
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk on fire");
/// let err = breakerbox::Error::Inner(io);
/// assert_eq!(err.to_string(), "disk on fire");
/// assert!(err.source().is_none()); // the io::Error has no source of its own
/// ```
impl<E: std::error::Error + 'static> std::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Rejected(_) => None,
            Error::Inner(e) => e.source(),
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(r: Rejected) -> Self {
        Error::Rejected(r)
    }
}
