import Foundation
import Synchronization
import Testing

@testable import SCIMServer

/// A clock the test moves by hand: the limiter never reads real time here.
final class ManualClock: Sendable {
    private let seconds = Mutex(1_000.0)
    var now: Double { seconds.withLock { $0 } }
    func advance(_ delta: Double) { seconds.withLock { $0 += delta } }
    var read: @Sendable () -> Double { { self.now } }
}

@Suite("Token bucket and rate limiter (pure, manual clock)")
struct TokenBucketTests {
    static let fivePerSecond = TokenBucket.Limit(ratePerSecond: 5, burst: 10)

    @Test("a full bucket admits the burst at once, then limits")
    func burstThenLimit() {
        var bucket = TokenBucket(limit: Self.fivePerSecond, now: 0)
        for index in 0..<10 { #expect(bucket.take(now: 0) == .allowed, "request \(index)") }
        #expect(bucket.take(now: 0) == .limited(retryAfter: 1))
        #expect(bucket.check(now: 0) == .limited(retryAfter: 1), "check agrees and spends nothing")
    }

    @Test("tokens come back at the configured rate, never above the burst")
    func refill() {
        var bucket = TokenBucket(limit: Self.fivePerSecond, now: 0)
        for _ in 0..<10 { _ = bucket.take(now: 0) }
        #expect(bucket.take(now: 0.1) == .limited(retryAfter: 1), "0.5 tokens after 100 ms")
        #expect(bucket.take(now: 0.2) == .allowed, "one token after 200 ms")
        #expect(bucket.take(now: 0.2) == .limited(retryAfter: 1))
        // A long idle spell fills the bucket to its burst and no further.
        for index in 0..<10 { #expect(bucket.take(now: 3_600) == .allowed, "request \(index)") }
        #expect(bucket.take(now: 3_600) != .allowed)
        #expect(bucket.isIdle(now: 3_600 + 2))
        #expect(!bucket.isIdle(now: 3_600 + 1))
    }

    @Test(
        "Retry-After is the wait for one token, rounded up to whole seconds and at least 1",
        arguments: [
            (rate: 100.0, expected: 1),  // 10 ms away: still 1, never 0
            (rate: 1.0, expected: 1),
            (rate: 0.5, expected: 2),
            (rate: 0.4, expected: 3),  // 2.5 s rounds up
            (rate: 20.0 / 60.0, expected: 3),  // the failed-auth default: 20 a minute
        ])
    func retryAfterRounding(rate: Double, expected: Int) {
        var bucket = TokenBucket(limit: .init(ratePerSecond: rate, burst: 1), now: 0)
        #expect(bucket.take(now: 0) == .allowed)
        #expect(bucket.take(now: 0) == .limited(retryAfter: expected))
    }

    @Test("a clock that steps back earns no tokens")
    func clockStepsBack() {
        var bucket = TokenBucket(limit: .init(ratePerSecond: 1, burst: 1), now: 10)
        #expect(bucket.take(now: 10) == .allowed)
        #expect(bucket.take(now: 5) == .limited(retryAfter: 1))
        #expect(bucket.take(now: 10.5) == .limited(retryAfter: 1))
        #expect(bucket.take(now: 11) == .allowed)
    }

    @Test("one noisy organisation does not limit another")
    func perKeyIsolation() {
        let clock = ManualClock()
        let limiter = RateLimiter<String>(clock: clock.read)
        let limit = TokenBucket.Limit(ratePerSecond: 1, burst: 3)
        for _ in 0..<3 { #expect(limiter.take("noisy", limit: limit) == .allowed) }
        for _ in 0..<50 { #expect(limiter.take("noisy", limit: limit) != .allowed) }
        for _ in 0..<3 { #expect(limiter.take("quiet", limit: limit) == .allowed) }
        clock.advance(1)
        #expect(limiter.take("noisy", limit: limit) == .allowed, "refused requests spent nothing")
    }

    @Test("a changed limit takes effect on the next request: a smaller burst caps, a larger one adds its headroom")
    func overrideChanges() {
        let clock = ManualClock()
        let limiter = RateLimiter<String>(clock: clock.read)
        let generous = TokenBucket.Limit(ratePerSecond: 50, burst: 100)
        let strict = TokenBucket.Limit(ratePerSecond: 1, burst: 3)
        for _ in 0..<5 { #expect(limiter.take("org", limit: generous) == .allowed) }
        // Staff set an override: 95 tokens saved become 3.
        for _ in 0..<3 { #expect(limiter.take("org", limit: strict) == .allowed) }
        #expect(limiter.take("org", limit: strict) == .limited(retryAfter: 1))
        // Cleared again: the 97 extra tokens of the larger burst are there at once (0.1 s earned 0.1 more).
        clock.advance(0.1)
        for index in 0..<97 { #expect(limiter.take("org", limit: generous) == .allowed, "request \(index)") }
        #expect(limiter.take("org", limit: generous) == .limited(retryAfter: 1))
        // The same limit again changes nothing.
        clock.advance(0.02)
        #expect(limiter.take("org", limit: generous) == .allowed)
        #expect(limiter.take("org", limit: generous) == .limited(retryAfter: 1))
    }

    @Test("check never creates a bucket; a failure-only limiter counts just what it is told")
    func checkDoesNotSpend() {
        let clock = ManualClock()
        let limiter = RateLimiter<String>(clock: clock.read)
        let fivePerMinute = TokenBucket.Limit(ratePerSecond: 5.0 / 60, burst: 5)
        for _ in 0..<100 { #expect(limiter.check("10.0.0.1") == .allowed) }
        #expect(limiter.count == 0)
        for _ in 0..<5 { _ = limiter.take("10.0.0.1", limit: fivePerMinute) }
        #expect(limiter.check("10.0.0.1") == .limited(retryAfter: 12))
        #expect(limiter.check("10.0.0.2") == .allowed)
        clock.advance(12.001)
        #expect(limiter.check("10.0.0.1") == .allowed)
    }

    @Test("a bucket taken under a generation limits only under it; one more failure limits it again")
    func generations() {
        let clock = ManualClock()
        let limiter = RateLimiter<String>(clock: clock.read)
        let fivePerMinute = TokenBucket.Limit(ratePerSecond: 5.0 / 60, burst: 5)
        for _ in 0..<5 { _ = limiter.take("key", limit: fivePerMinute, generation: 1) }
        #expect(limiter.check("key", generation: 1) == .limited(retryAfter: 12))
        #expect(limiter.check("key", generation: 2) == .allowed, "control data changed: one more try")
        #expect(limiter.take("key", limit: fivePerMinute, generation: 2) == .limited(retryAfter: 12), "same bucket")
        #expect(limiter.check("key", generation: 2) == .limited(retryAfter: 12), "that try failed: limited again")
        #expect(limiter.check("key") == .allowed, "no generation is not generation 2")
        for _ in 0..<5 { _ = limiter.take("key", limit: fivePerMinute) }
        #expect(limiter.check("key", generation: 3) == .limited(retryAfter: 12), "taken without one: holds under all")
        #expect(limiter.check("key") == .limited(retryAfter: 12))
    }

    @Test("takes without a generation still limit after a take under one, under every generation")
    func lastingBeforeCurable() {
        let clock = ManualClock()
        let limiter = RateLimiter<String>(clock: clock.read)
        let fivePerMinute = TokenBucket.Limit(ratePerSecond: 5.0 / 60, burst: 5)
        for _ in 0..<5 { _ = limiter.take("key", limit: fivePerMinute) }
        _ = limiter.take("key", limit: fivePerMinute, generation: 1)
        #expect(limiter.check("key", generation: 1) == .limited(retryAfter: 12))
        #expect(limiter.check("key", generation: 2) == .limited(retryAfter: 12), "a control change cures none of them")
        #expect(limiter.check("key") == .limited(retryAfter: 12))
        clock.advance(12.001)
        #expect(limiter.check("key", generation: 2) == .allowed, "a token came back")
    }

    @Test("takes under a generation are forgiven under the next one, though a take without one followed them")
    func curableBeforeLasting() {
        let clock = ManualClock()
        let limiter = RateLimiter<String>(clock: clock.read)
        let fivePerMinute = TokenBucket.Limit(ratePerSecond: 5.0 / 60, burst: 5)
        for _ in 0..<4 { _ = limiter.take("key", limit: fivePerMinute, generation: 1) }
        _ = limiter.take("key", limit: fivePerMinute)
        #expect(limiter.check("key", generation: 1) == .limited(retryAfter: 12), "all five count under generation 1")
        #expect(limiter.check("key", generation: 2) == .allowed, "only the one without a generation holds under 2")
        for _ in 0..<3 { _ = limiter.take("key", limit: fivePerMinute) }
        #expect(limiter.check("key", generation: 2) == .allowed, "four of five")
        _ = limiter.take("key", limit: fivePerMinute)
        #expect(limiter.check("key", generation: 2) == .limited(retryAfter: 12), "five without a generation")
        #expect(limiter.check("key", generation: 7) == .limited(retryAfter: 12))
    }

    @Test("a bucket that has refilled forgets which of its takes held under every generation")
    func refilledSlotStartsAfresh() {
        let clock = ManualClock()
        let limiter = RateLimiter<String>(clock: clock.read)
        let fivePerMinute = TokenBucket.Limit(ratePerSecond: 5.0 / 60, burst: 5)
        for _ in 0..<5 { _ = limiter.take("key", limit: fivePerMinute) }
        clock.advance(60)
        for _ in 0..<5 { _ = limiter.take("key", limit: fivePerMinute, generation: 1) }
        #expect(limiter.check("key", generation: 1) == .limited(retryAfter: 12))
        #expect(limiter.check("key", generation: 2) == .allowed, "the old takes were refilled, not kept")
    }

    @Test("the limiter is bounded: idle buckets go first, then the least recently used")
    func eviction() {
        let clock = ManualClock()
        let limiter = RateLimiter<Int>(capacity: 4, clock: clock.read)
        let limit = TokenBucket.Limit(ratePerSecond: 1, burst: 2)
        for key in 0..<4 { _ = limiter.take(key, limit: limit) }
        #expect(limiter.count == 4)
        // Two seconds later every bucket is full again: all are forgotten for the newcomer.
        clock.advance(2)
        _ = limiter.take(4, limit: limit)
        #expect(limiter.count == 1)

        // Busy buckets (none idle): the stalest one makes room, the others keep their state.
        for key in 5..<8 {
            clock.advance(0.01)
            _ = limiter.take(key, limit: limit)
            _ = limiter.take(key, limit: limit)
        }
        #expect(limiter.count == 4)
        clock.advance(0.01)
        _ = limiter.take(8, limit: limit)
        #expect(limiter.count == 4)
        #expect(limiter.check(7) == .limited(retryAfter: 1), "a busy bucket kept its state")
        #expect(limiter.check(4) == .allowed, "the stalest bucket was evicted (a new one starts full)")
    }

    @Test("concurrent takes never admit more than the burst")
    func concurrentTakes() async {
        let limiter = RateLimiter<String>(clock: ManualClock().read)
        let limit = TokenBucket.Limit(ratePerSecond: 1, burst: 100)
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<100).reduce(0) { count, _ in count + (limiter.take("org", limit: limit) == .allowed ? 1 : 0) }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 100)
    }
}
