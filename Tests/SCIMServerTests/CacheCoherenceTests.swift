import Foundation
import HTTPTypes
import HummingbirdTesting
import Postgres
import SCIM
import SCIMServer
import SCIMStore
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
        #expect(cache.value(for: "k", now: start + .seconds(61.1)) == nil, "no read for over a second, entry older than a second")
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

/// The same rules between real replicas on one database.
@Suite("Cache coherence between replicas")
struct CacheCoherenceReplicaTests {
    /// Two applications on the test database, as two replicas behind a load balancer.
    func withReplicas(_ body: @Sendable (TestClient, TestClient) async throws -> Void) async throws {
        let first = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
        let second = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
        try await first.test(.router) { a in
            try await second.test(.router) { b in
                try await body(TestClient(client: a), TestClient(client: b))
            }
        }
    }

    /// Seconds until `condition` holds, polling every 50 ms for at most `limit` seconds.
    func secondsUntil(limit: Double = 10, _ condition: () async throws -> Bool) async throws -> Double {
        let start = ContinuousClock.now
        while try await !condition() {
            let elapsed = ContinuousClock.now - start
            if elapsed > .seconds(limit) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    @Test("a token revoked on one replica stops working on the other within about a second")
    func revocationReachesOtherReplica() async throws {
        try await withReplicas { a, b in
            let org = try await a.organisation()
            let onB = TestOrganisation(slug: org.slug, token: org.token, client: b)
            #expect(try await onB.scim(.get, "/Users").status == .ok)
            try await Task.sleep(for: .seconds(1.5))  // past the one-second fallback: B now trusts its entry on epoch reads
            #expect(try await onB.scim(.get, "/Users").status == .ok)

            let tokens = try await a.admin(.get, "/organisations/\(org.slug)/tokens")
            let id = try #require(tokens["tokens"]?.arrayValue?.first?[caseInsensitive: "id"]?.stringValue)
            #expect(try await a.admin(.delete, "/organisations/\(org.slug)/tokens/\(id)").status == .noContent)
            let seconds = try await secondsUntil { try await onB.scim(.get, "/Users").status == .unauthorized }
            // One second plus slack for two shared cores running the whole suite.
            #expect(seconds < 3, "replica B served a revoked token for \(seconds) s")
        }
    }

    @Test("SCIM disabled by hand in psql reaches a replica within about a second")
    func changeBySQL() async throws {
        try await withApp { client in
            let org = try await client.organisation()
            #expect(try await org.scim(.get, "/Users").status == .ok)
            try await Task.sleep(for: .seconds(1.5))
            #expect(try await org.scim(.get, "/Users").status == .ok)
            try await withDatabase { database in
                _ = try await database.query("UPDATE control.organisations SET scim_enabled = false WHERE slug = \(org.slug)")
            }
            let seconds = try await secondsUntil { try await org.scim(.get, "/Users").status == .forbidden }
            #expect(seconds < 3, "a disabled organisation was served for \(seconds) s")
        }
    }

    @Test("custom-field mappings replaced on one replica reach the other within about a second")
    func mappingsReachOtherReplica() async throws {
        try await withReplicas { a, b in
            let org = try await a.organisation()
            let onB = TestOrganisation(slug: org.slug, token: org.token, client: b)
            let learn = SchemaURN.learnAmpUser
            func mappedOnB() async throws -> Bool {
                let schema = try await onB.scim(.get, "/Schemas/\(learn)")
                return schema["attributes"]?.arrayValue?.contains { $0[caseInsensitive: "name"] == "costCentre" } == true
            }
            #expect(try await !mappedOnB())
            try await Task.sleep(for: .seconds(1.5))
            try await org.mapCustomFields([["scimAttribute": .string("\(learn):costCentre"), "field": "cost_centre", "type": "string"]])
            let seconds = try await secondsUntil { try await mappedOnB() }
            #expect(seconds < 3, "replica B served the old mappings for \(seconds) s")
        }
    }
}
