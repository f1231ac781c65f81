import Foundation
import Postgres
import SCIMStore
import Synchronization
import Testing

@testable import SCIMServer

/// A request reads its time before it writes "last used"; a later request may write first. The
/// stored time must then stay the later one.
@Suite("Last used and last seen times never move back")
struct LastUsedTests {
    @Test("an access token issued on an older clock does not move its client's and secret's lastUsedAt back")
    func oauthLastUsedNeverBack() async throws {
        let clock = ManualDate()
        try await withOAuthApp(clock: clock) { client in
            let org = try await client.organisation("lastused")
            let oauth = try await client.oauthClient(org.slug)
            clock.advance(by: 60)
            let newer = clock.now
            _ = try await client.accessToken(oauth)
            clock.advance(by: -30)
            _ = try await client.accessToken(oauth)
            try await withDatabase { database in
                let row = try #require(
                    try await database.query(
                        """
                        SELECT c.last_used_at AS client_used, s.last_used_at AS secret_used
                        FROM control.oauth_clients c JOIN control.oauth_client_secrets s ON s.client_id = c.id
                        WHERE c.client_id = \(oauth.clientID)
                        """
                    ).first)
                let clientUsed: Date = try row.decode("client_used")
                let secretUsed: Date = try row.decode("secret_used")
                #expect(abs(clientUsed.timeIntervalSince(newer)) < 0.001, "client: \(clientUsed), newer \(newer)")
                #expect(abs(secretUsed.timeIntervalSince(newer)) < 0.001, "secret: \(secretUsed), newer \(newer)")
            }
        }
    }

    /// Another request of the session writes a later time and holds the row until this resume, which
    /// read the session before that write, waits to write its own older time.
    @Test("a console session touched with an older time after a newer touch keeps the newer last_seen_at")
    func consoleLastSeenNeverBack() async throws {
        try await withApp { _ in
            try await withDatabase { database in
                let store = ConsoleSessionStore(client: database)
                let digest = Secrets.sha256("console-last-seen-\(UUID())")
                let start = Date()
                let id = try await store.start(.bootstrap, bootstrapDigest: digest, now: start)
                let hash = Secrets.sha256(id)
                let newer = start.addingTimeInterval(300)

                let (locked, signal) = AsyncStream<Void>.makeStream()
                async let blocker: Bool = database.withTransaction { connection in
                    _ = try connection.query(
                        "UPDATE control.console_sessions SET last_seen_at = \(newer) WHERE id_hash = \(hash)")
                    signal.yield()
                    // Until the resume's UPDATE waits for this transaction's row lock (at most 30 s).
                    for _ in 0..<1500 {
                        let waiting = try connection.query(
                            """
                            SELECT count(*) FROM pg_locks
                            WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))
                            """
                        ).first?.decode(0, as: Int.self)
                        if waiting ?? 0 > 0 { return true }
                        usleep(20_000)
                    }
                    return false
                }
                for await _ in locked { break }
                let resumed = try await store.resume(id, bootstrapDigest: digest, now: start.addingTimeInterval(120))
                #expect(try await blocker, "the resume never waited for the newer write")

                let stored: Date = try #require(
                    try await database.query(
                        "SELECT last_seen_at FROM control.console_sessions WHERE id_hash = \(hash)"
                    ).first?.decode("last_seen_at"))
                #expect(abs(stored.timeIntervalSince(newer)) < 0.001, "stored \(stored), newer \(newer)")
                let lastSeen = try #require(resumed?.lastSeenAt)
                #expect(abs(lastSeen.timeIntervalSince(newer)) < 0.001, "returned \(lastSeen), newer \(newer)")
            }
        }
    }
}
