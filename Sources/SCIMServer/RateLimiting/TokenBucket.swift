import Synchronization

/// A token bucket as a pure value: no clock, no lock, no I/O. The caller passes the time (seconds on
/// any monotonic scale), so tests drive it with a manual clock and the shell (`RateLimiter`) owns
/// locking and the real clock.
///
/// The bucket holds up to `burst` tokens and gains `ratePerSecond` tokens a second; each admitted
/// request takes one. A full bucket is indistinguishable from a new one, which is what lets the
/// limiter forget idle buckets.
struct TokenBucket: Sendable, Equatable {
    struct Limit: Sendable, Hashable {
        /// Tokens added per second (sustained rate). Must be > 0.
        var ratePerSecond: Double
        /// Capacity: how many requests pass at once after an idle spell. Must be ≥ 1.
        var burst: Int

        init(ratePerSecond: Double, burst: Int) {
            precondition(
                ratePerSecond > 0 && burst >= 1, "a token bucket needs a positive rate and a burst of at least 1")
            self.ratePerSecond = ratePerSecond
            self.burst = burst
        }
    }

    enum Decision: Sendable, Equatable {
        case allowed
        /// Whole seconds (≥ 1, rounded up) until one token is available again: the `Retry-After` value.
        case limited(retryAfter: Int)
    }

    private(set) var limit: Limit
    private(set) var tokens: Double
    /// When `tokens` was last brought up to date.
    private(set) var updatedAt: Double

    /// A full bucket.
    init(limit: Limit, now: Double) {
        self.limit = limit
        tokens = Double(limit.burst)
        updatedAt = now
    }

    /// Admits one request if a token is available, and takes it.
    mutating func take(now: Double) -> Decision {
        refill(now: now)
        guard tokens >= 1 else { return .limited(retryAfter: retryAfter) }
        tokens -= 1
        return .allowed
    }

    /// Whether `take` would admit a request now, without taking anything.
    func check(now: Double) -> Decision {
        var copy = self
        copy.refill(now: now)
        return copy.tokens >= 1 ? .allowed : .limited(retryAfter: copy.retryAfter)
    }

    /// Switches to a new limit. A larger burst adds its extra capacity at once (raising a throttled
    /// organisation's limit helps immediately); a smaller one caps the tokens saved so far.
    mutating func apply(_ newLimit: Limit, now: Double) {
        guard newLimit != limit else { return }
        refill(now: now)
        let growth = Double(max(0, newLimit.burst - limit.burst))
        limit = newLimit
        tokens = min(tokens + growth, Double(newLimit.burst))
    }

    /// True when the bucket is full at `now`: forgetting it changes nothing.
    func isIdle(now: Double) -> Bool {
        var copy = self
        copy.refill(now: now)
        return copy.tokens >= Double(limit.burst)
    }

    private mutating func refill(now: Double) {
        // A clock that steps back (it should not: callers use a monotonic clock) earns nothing.
        let elapsed = max(0, now - updatedAt)
        tokens = min(Double(limit.burst), tokens + elapsed * limit.ratePerSecond)
        updatedAt = max(updatedAt, now)
    }

    /// Seconds until `tokens` reaches 1, rounded up to a whole second and never 0, because
    /// `Retry-After: 0` invites an immediate retry that would be refused again.
    private var retryAfter: Int {
        // The nanosecond of slack keeps float noise (3.0000000001 s) from adding a whole second.
        let seconds = (1 - tokens) / limit.ratePerSecond - 1e-9
        return max(1, Int(min(seconds.rounded(.up), 86_400)))
    }
}

/// The thread-safe shell around many `TokenBucket`s, one per key (an organisation id, a client
/// address). A `Mutex` guards the dictionary; every decision is the bucket's, made under the lock
/// in constant time, so the lock is never held across I/O or a suspension point.
///
/// A token may be taken under a `generation`; `check` then consults the bucket only under that same
/// generation. A caller that passes `CacheCoherence.generation` for a refusal that a control change
/// can cure (an organisation with SCIM disabled) lets the key through once more after control data
/// changed: if the organisation is still disabled, the next failure takes a token under the new
/// generation and limits the key again. A token taken without a generation holds under every one.
///
/// Memory is bounded: when a new key arrives and `capacity` buckets exist, full (idle) buckets are
/// dropped (a full bucket is the same as a missing one); if none is idle, the least recently used
/// bucket goes.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private struct Slot {
        var bucket: TokenBucket
        /// The generation of the last take; nil when it holds under every generation.
        var generation: UInt64?
    }

    private let buckets: Mutex<[Key: Slot]>
    private let capacity: Int
    private let clock: @Sendable () -> Double

    /// - Parameters:
    ///   - capacity: how many keys are tracked at most.
    ///   - clock: seconds on a monotonic scale; tests pass a manual clock.
    init(capacity: Int = 10_000, clock: @escaping @Sendable () -> Double = RateLimiter.monotonicSeconds) {
        precondition(capacity >= 1)
        buckets = Mutex([:])
        self.capacity = capacity
        self.clock = clock
    }

    /// Admits one request for `key` under `limit` (a changed limit applies from now on), and stamps
    /// the bucket with `generation`.
    func take(_ key: Key, limit: TokenBucket.Limit, generation: UInt64? = nil) -> TokenBucket.Decision {
        let now = clock()
        return buckets.withLock { buckets in
            var slot: Slot
            if let existing = buckets[key] {
                slot = existing
                slot.bucket.apply(limit, now: now)
                slot.generation = generation
            } else {
                Self.makeRoom(in: &buckets, capacity: capacity, now: now)
                slot = Slot(bucket: TokenBucket(limit: limit, now: now), generation: generation)
            }
            let decision = slot.bucket.take(now: now)
            buckets[key] = slot
            return decision
        }
    }

    /// Whether `key` is currently limited, without spending a token. Unknown keys, and keys whose
    /// bucket was last spent under a generation other than `generation`, are allowed; nothing is stored.
    func check(_ key: Key, generation: UInt64? = nil) -> TokenBucket.Decision {
        let now = clock()
        return buckets.withLock { buckets in
            guard let slot = buckets[key], slot.generation == nil || slot.generation == generation else {
                return .allowed
            }
            return slot.bucket.check(now: now)
        }
    }

    /// How many keys are tracked (for tests and metrics).
    var count: Int { buckets.withLock { $0.count } }

    private static func makeRoom(in buckets: inout [Key: Slot], capacity: Int, now: Double) {
        guard buckets.count >= capacity else { return }
        buckets = buckets.filter { !$0.value.bucket.isIdle(now: now) }
        if buckets.count >= capacity,
            let stalest = buckets.min(by: { $0.value.bucket.updatedAt < $1.value.bucket.updatedAt })?.key
        {
            buckets[stalest] = nil
        }
    }

    /// Seconds since the first use, on `ContinuousClock` (monotonic, counts time asleep).
    @Sendable static func monotonicSeconds() -> Double {
        let elapsed = ContinuousClock.now - processStart
        let (seconds, attoseconds) = elapsed.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

private let processStart = ContinuousClock.now
