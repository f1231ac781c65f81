import Foundation
import HTTPTypes
import Postgres
import SCIMStore
import Testing

@testable import SCIMServer

/// Sessions a day past their end are deleted; live ones, and those ended less than a day ago, stay.
@Suite("Console sessions: housekeeping")
struct ConsoleSessionPurgeTests {
    @Test("the purge deletes sessions expired or ended more than a day ago, and keeps every other")
    func purgeKeepsLiveSessions() async throws {
        // The application migrates the database first.
        try await withApp { _ in
            try await withDatabase { database in
                let store = ConsoleSessionStore(client: database)
                let digest = Secrets.sha256("console-purge-\(UUID())")
                let now = Date()
                // Expired 12 hours after a sign-in 14 days ago; ended 2 days ago; ended an hour ago; live.
                let expired = try await store.start(.bootstrap, bootstrapDigest: digest, now: now - 14 * 86_400)
                let endedLongAgo = try await store.start(.bootstrap, bootstrapDigest: digest, now: now - 3 * 86_400)
                try await store.end(idHash: Secrets.sha256(endedLongAgo), now: now - 2 * 86_400)
                let endedRecently = try await store.start(.bootstrap, bootstrapDigest: digest, now: now - 7_200)
                try await store.end(idHash: Secrets.sha256(endedRecently), now: now - 3_600)
                let live = try await store.start(.bootstrap, bootstrapDigest: digest, now: now)

                try await store.purge(now: now)
                let kept = try await Self.stored([expired, endedLongAgo, endedRecently, live], database)
                #expect(kept == [false, false, true, true])
            }
        }
    }

    @Test("signing in to a console on a moved clock deletes no session that is live by the real one")
    func signInOnMovedClockKeepsRealSessions() async throws {
        // The console tests' clock stands weeks ahead of the real one.
        let clock = ConsoleTestClock()
        #expect(clock.now > Date().addingTimeInterval(2 * 86_400))
        try await withConsole(clock: clock) { client in
            try await withDatabase { database in
                let store = ConsoleSessionStore(client: database)
                let live = try await store.start(
                    .bootstrap, bootstrapDigest: Secrets.sha256("console-real-\(UUID())"), now: Date())
                let signedIn = try await ConsoleBrowser(client: client).signIn(TestDatabase.adminToken)
                #expect(signedIn.status == .seeOther)
                #expect(try await Self.stored([live], database) == [true])
            }
        }
    }

    /// Whether each session's row is still stored.
    private static func stored(_ ids: [String], _ database: PostgresClient) async throws -> [Bool] {
        var result: [Bool] = []
        for id in ids {
            let rows = try await database.query(
                "SELECT 1 FROM control.console_sessions WHERE id_hash = \(Secrets.sha256(id))")
            result.append(!rows.isEmpty)
        }
        return result
    }
}
