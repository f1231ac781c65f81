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
/// generation and limits the key again. A token taken without a generation holds under every one,
/// whatever is taken under a generation before or after it: a key that has both kinds keeps a
/// second bucket of the lasting takes alone, which `check` consults under any other generation.
///
/// Memory is bounded: when a new key arrives and `capacity` buckets exist, full (idle) buckets are
/// dropped (a full bucket is the same as a missing one); if none is idle, the least recently used
/// bucket goes.
final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private struct Slot {
        /// Every take.
        var bucket: TokenBucket
        /// The generation of the last take made under one; nil while every take holds under every
        /// generation (then `bucket` holds under every generation too).
        var generation: UInt64?
        /// The takes made without a generation alone, once the slot also holds takes made under one.
        var lasting: TokenBucket?

        /// True when forgetting the slot changes nothing.
        func isIdle(now: Double) -> Bool { bucket.isIdle(now: now) && lasting?.isIdle(now: now) != false }
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

    /// Admits one request for `key` under `limit` (a changed limit applies from now on). A take under
    /// `generation` holds only under it (and stamps the bucket with it); a take without one holds
    /// under every generation.
    func take(_ key: Key, limit: TokenBucket.Limit, generation: UInt64? = nil) -> TokenBucket.Decision {
        let now = clock()
        return buckets.withLock { buckets in
            var slot: Slot
            if var existing = buckets[key] {
                // A full bucket remembers nothing, including which of its takes were lasting.
                if existing.isIdle(now: now) { (existing.generation, existing.lasting) = (nil, nil) }
                existing.bucket.apply(limit, now: now)
                existing.lasting?.apply(limit, now: now)
                slot = existing
            } else {
                Self.makeRoom(in: &buckets, capacity: capacity, now: now)
                slot = Slot(bucket: TokenBucket(limit: limit, now: now), generation: nil, lasting: nil)
            }
            if let generation {
                // Takes so far all hold under every generation: kept apart before `bucket` stops doing so.
                if slot.generation == nil, !slot.bucket.isIdle(now: now) { slot.lasting = slot.bucket }
                slot.generation = generation
            } else if slot.generation != nil {
                var lasting = slot.lasting ?? TokenBucket(limit: limit, now: now)
                _ = lasting.take(now: now)
                slot.lasting = lasting
            }
            let decision = slot.bucket.take(now: now)
            buckets[key] = slot
            return decision
        }
    }

    /// Whether `key` is currently limited, without spending a token; nothing is stored. Unknown keys
    /// are allowed. Under a generation other than the one the bucket was last spent under, only the
    /// takes made without a generation count.
    func check(_ key: Key, generation: UInt64? = nil) -> TokenBucket.Decision {
        let now = clock()
        return buckets.withLock { buckets in
            guard let slot = buckets[key] else { return .allowed }
            let lasting = slot.lasting?.check(now: now) ?? .allowed
            guard slot.generation == nil || slot.generation == generation else { return lasting }
            switch (slot.bucket.check(now: now), lasting) {
            case (.allowed, let decision), (let decision, .allowed): return decision
            case (.limited(let first), .limited(let second)): return .limited(retryAfter: max(first, second))
            }
        }
    }

    /// How many keys are tracked (for tests and metrics).
    var count: Int { buckets.withLock { $0.count } }

    private static func makeRoom(in buckets: inout [Key: Slot], capacity: Int, now: Double) {
        guard buckets.count >= capacity else { return }
        buckets = buckets.filter { !$0.value.isIdle(now: now) }
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
