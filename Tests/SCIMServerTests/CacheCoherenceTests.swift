import Foundation
import HTTPTypes
import HummingbirdTesting
import Postgres
import SCIM
import SCIMServer
import SCIMStore
import Synchronization
import Testing

/// How long cached control data is trusted: the rules alone, on explicit instants.
@Suite("Cache coherence rules")
struct CacheCoherenceRuleTests {
    let start = ContinuousClock.now

    func cache(_ coherence: CacheCoherence) -> TTLCache<String, Int> { TTLCache(coherence: coherence) }

    @Test("without epoch reads an entry lives one second")
    func unconfirmed() {
        let cache = cache(CacheCoherence())
        cache.store(1, for: "k", generation: 0, now: start)
        #expect(cache.value(for: "k", now: start + .milliseconds(900)) == 1)
        #expect(cache.value(for: "k", now: start + .milliseconds(1100)) == nil)
    }

    @Test("while epoch reads keep succeeding an entry lives a minute; when they stop it falls back to one second")
    func confirmed() {
        let coherence = CacheCoherence()
        coherence.confirm(epoch: 7, readStartedAt: start)
        let cache = cache(coherence)
        cache.store(1, for: "k", generation: coherence.generation, now: start)
        for second in stride(from: 0.5, through: 60, by: 0.5) {
            coherence.confirm(epoch: 7, readStartedAt: start + .seconds(second))
        }
        #expect(cache.value(for: "k", now: start + .seconds(59.9)) == 1)
        #expect(cache.value(for: "k", now: start + .seconds(60.1)) == nil, "a minute at most")

        cache.store(2, for: "k", generation: coherence.generation, now: start + .seconds(59.5))
        #expect(cache.value(for: "k", now: start + .seconds(60.9)) == 2, "the last read started 0.9 s ago")
        #expect(
            cache.value(for: "k", now: start + .seconds(61.1)) == nil,
            "no read for over a second, entry older than a second")
    }

    @Test("a moved epoch, the first read and a local invalidation each drop every entry")
    func invalidation() {
        let coherence = CacheCoherence()
        let cache = cache(coherence)
        cache.store(1, for: "k", generation: coherence.generation, now: start)
        coherence.confirm(epoch: 7, readStartedAt: start)
        #expect(cache.value(for: "k", now: start) == nil, "loaded before the first read")

        cache.store(1, for: "k", generation: coherence.generation, now: start)
        coherence.confirm(epoch: 7, readStartedAt: start + .milliseconds(500))
        #expect(cache.value(for: "k", now: start + .milliseconds(600)) == 1, "the same epoch keeps it")
        coherence.confirm(epoch: 8, readStartedAt: start + .milliseconds(700))
        #expect(cache.value(for: "k", now: start + .milliseconds(700)) == nil, "a moved epoch drops it")

        cache.store(1, for: "k", generation: coherence.generation, now: start)
        coherence.invalidate()
        #expect(cache.value(for: "k", now: start) == nil)
    }

    @Test("a load that began before an invalidation is not stored")
    func racingLoad() {
        let coherence = CacheCoherence()
        let cache = cache(coherence)
        let value = cache.value(for: "k") {
            coherence.invalidate()  // a revocation commits while the old row is being read
            return 1
        }
        #expect(value == 1)
        #expect(cache.value(for: "k") == nil)
    }
}

/// A clock a test moves by hand: real time plus an offset, so the services' own pauses still pass.
final class TestClock: Sendable {
    private let offset = Mutex<Duration>(.zero)

    @Sendable func now() -> ContinuousClock.Instant { .now + offset.withLock { $0 } }

    func advance(by duration: Duration) { offset.withLock { $0 += duration } }
}

/// The same rules between real replicas on one database, each on a clock the test moves: no test
/// waits for wall time to pass, only for a replica's next epoch read.
@Suite("Cache coherence between replicas")
struct CacheCoherenceReplicaTests {
    struct Replica: Sendable {
        var client: TestClient
        var clock: TestClock
        var coherence: CacheCoherence

        /// Moves this replica's clock past the one-second fallback, then waits for an epoch read that
        /// started afterwards: an entry it holds now lives only because epoch reads confirm it.
        func outliveFallback() async throws {
            clock.advance(by: CacheCoherence.lifetime + .milliseconds(500))
            try await nextEpochRead()
        }

        /// Waits until an epoch read that started now has completed (reads run twice a second).
        func nextEpochRead() async throws {
            let after = clock.now()
            for _ in 0..<400 {
                if let read = coherence.lastConfirmedRead, read >= after { return }
                try await Task.sleep(for: .milliseconds(25))
            }
            Issue.record("no epoch read completed on this replica")
        }
    }

    /// Two applications on the test database, as two replicas behind a load balancer.
    func withReplicas(_ body: @Sendable (Replica, Replica) async throws -> Void) async throws {
        let (firstClock, secondClock) = (TestClock(), TestClock())
        let firstCoherence = CacheCoherence(now: firstClock.now)
        let secondCoherence = CacheCoherence(now: secondClock.now)
        let configuration = try TestDatabase.configuration()
        let first = try await buildApplication(configuration, logger: TestDatabase.logger, coherence: firstCoherence)
        let second = try await buildApplication(configuration, logger: TestDatabase.logger, coherence: secondCoherence)
        try await first.test(.router) { a in
            try await second.test(.router) { b in
                try await body(
                    Replica(client: TestClient(client: a), clock: firstClock, coherence: firstCoherence),
                    Replica(client: TestClient(client: b), clock: secondClock, coherence: secondCoherence))
            }
        }
    }

    @Test("a token revoked on one replica stops working on the other at its next epoch read")
    func revocationReachesOtherReplica() async throws {
        try await withReplicas { a, b in
            let org = try await a.client.organisation()
            let onB = TestOrganisation(slug: org.slug, token: org.token, client: b.client)
            #expect(try await onB.scim(.get, "/Users").status == .ok)
            try await b.outliveFallback()
            #expect(try await onB.scim(.get, "/Users").status == .ok, "B trusts its entry on epoch reads")

            let tokens = try await a.client.admin(.get, "/organisations/\(org.slug)/tokens")
            let id = try #require(tokens["tokens"]?.arrayValue?.first?[caseInsensitive: "id"]?.stringValue)
            #expect(try await a.client.admin(.delete, "/organisations/\(org.slug)/tokens/\(id)").status == .noContent)
            try await b.nextEpochRead()
            #expect(try await onB.scim(.get, "/Users").status == .unauthorized, "replica B served a revoked token")
        }
    }

    @Test("SCIM disabled by hand in psql reaches a replica at its next epoch read")
    func changeBySQL() async throws {
        try await withReplicas { replica, _ in
            let org = try await replica.client.organisation()
            #expect(try await org.scim(.get, "/Users").status == .ok)
            try await replica.outliveFallback()
            #expect(try await org.scim(.get, "/Users").status == .ok)
            try await withDatabase { database in
                _ = try await database.query(
                    "UPDATE control.organisations SET scim_enabled = false WHERE slug = \(org.slug)")
            }
            try await replica.nextEpochRead()
            #expect(try await org.scim(.get, "/Users").status == .forbidden, "a disabled organisation was served")
        }
    }

    @Test("custom-field mappings replaced on one replica reach the other at its next epoch read")
    func mappingsReachOtherReplica() async throws {
        try await withReplicas { a, b in
            let org = try await a.client.organisation()
            let onB = TestOrganisation(slug: org.slug, token: org.token, client: b.client)
            let learn = SchemaURN.learnAmpUser
            func mappedOnB() async throws -> Bool {
                let schema = try await onB.scim(.get, "/Schemas/\(learn)")
                return schema["attributes"]?.arrayValue?.contains { $0[caseInsensitive: "name"] == "costCentre" }
                    == true
            }
            #expect(try await !mappedOnB())
            try await b.outliveFallback()
            #expect(try await !mappedOnB())
            try await org.mapCustomFields([
                ["scimAttribute": .string("\(learn):costCentre"), "field": "cost_centre", "type": "string"]
            ])
            try await b.nextEpochRead()
            #expect(try await mappedOnB(), "replica B served the old mappings")
        }
    }
}
