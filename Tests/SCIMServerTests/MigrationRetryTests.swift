import Postgres
import Synchronization
import Testing

@testable import SCIMStore

/// A migration transaction that lost a race on PostgreSQL's own catalogs runs again; nothing else does.
@Suite("Migrations: catalog races")
struct MigrationRetryTests {
    static func failure(constraint: String) -> PostgresError {
        PostgresError(code: .server, sqlState: .uniqueViolation, message: "duplicate key", constraint: constraint)
    }

    @Test("a unique violation on a catalog index runs the transaction again, at most three times in all")
    func catalogRaceIsRetried() async throws {
        let attempts = Mutex(0)
        let value = try await Migrator.retryingCatalogRaces { () async throws -> String in
            let attempt = attempts.withLock {
                $0 += 1
                return $0
            }
            if attempt < 3 { throw Self.failure(constraint: "pg_namespace_nspname_index") }
            return "migrated"
        }
        #expect(value == "migrated")
        #expect(attempts.withLock { $0 } == 3)

        attempts.withLock { $0 = 0 }
        await #expect(throws: PostgresError.self) {
            try await Migrator.retryingCatalogRaces { () async throws -> Void in
                attempts.withLock { $0 += 1 }
                throw Self.failure(constraint: "pg_type_typname_nsp_index")
            }
        }
        #expect(attempts.withLock { $0 } == 3, "the third failure is thrown")
    }

    @Test("any other failure, a unique violation of the service's own tables included, is thrown at once")
    func otherFailuresAreThrown() async throws {
        let attempts = Mutex(0)
        await #expect(throws: PostgresError.self) {
            try await Migrator.retryingCatalogRaces { () async throws -> Void in
                attempts.withLock { $0 += 1 }
                throw Self.failure(constraint: "organisations_slug_key")
            }
        }
        #expect(attempts.withLock { $0 } == 1)
    }
}
