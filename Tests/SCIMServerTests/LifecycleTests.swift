import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import Postgres
import SCIM
import SCIMStore
import Synchronization
import Testing

@testable import SCIMServer

/// Offboarding, restoring and purging an organisation through the admin API and the background purge.
@Suite("Lifecycle: offboarding and purging an organisation")
struct OffboardingTests {
    @Test(
        "offboarding turns SCIM off and revokes every token and OAuth client at once; the data stays readable; restore undoes it"
    )
    func offboardAndRestore() async throws {
        try await withApp { client in
            let org = try await client.organisation("off")
            _ = try await org.createUser("kept@off.com")
            #expect(try await org.scim(.get, "/Users").status == .ok)
            let support = try await client.staffKey(role: "support")
            let entra = try await client.oauthClient(org.slug)
            let accessToken = try await client.accessToken(entra)

            let offboarded = try await support.admin(.post, "/organisations/\(org.slug)/offboard")
            #expect(offboarded.status == .ok, "\(offboarded.text)")
            #expect(offboarded["scimEnabled"] == false)
            let offboardedAt = try #require(offboarded["offboardedAt"]?.stringValue.flatMap(SCIMDate.parse))
            let purgeAfter = try #require(offboarded["purgeAfter"]?.stringValue.flatMap(SCIMDate.parse))
            #expect(purgeAfter.timeIntervalSince(offboardedAt) == 30 * 86_400)

            // The very next SCIM request is refused: the token was revoked, not merely switched off.
            expectSCIMError(try await org.scim(.get, "/Users"), .unauthorized)
            let tokens = try await client.admin(.get, "/organisations/\(org.slug)/tokens")
            #expect(tokens["tokens"]?.arrayValue?.allSatisfy { $0[caseInsensitive: "revokedAt"] != .null } == true)

            // Offboarding twice changes nothing.
            let again = try await support.admin(.post, "/organisations/\(org.slug)/offboard")
            #expect(again.status == .ok)
            #expect(again["purgeAfter"] == offboarded["purgeAfter"])
            #expect(again["offboardedAt"] == offboarded["offboardedAt"])

            // Staff still read the data; nothing turns SCIM back on behind the offboarding.
            let users = try await client.admin(.get, "/organisations/\(org.slug)/users")
            #expect(users["users"]?.arrayValue?.count == 1)
            #expect(
                try await client.admin(.post, "/organisations/\(org.slug)/tokens", json: ["label": "x"]).status
                    == .conflict)
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": true]).status
                    == .conflict)
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["name": "Renamed"]).status == .ok)

            let restored = try await support.admin(.post, "/organisations/\(org.slug)/restore")
            #expect(restored.status == .ok, "\(restored.text)")
            #expect(restored["offboardedAt"] == nil)
            #expect(restored["purgeAfter"] == nil)
            #expect(restored["scimEnabled"] == true)
            // Tokens and OAuth clients stay revoked; a new token works.
            expectSCIMError(try await org.scim(.get, "/Users"), .unauthorized)
            expectSCIMError(try await client.request(.get, "/scim/v2/Users", bearer: accessToken), .unauthorized)
            let refused = try await client.tokenRequest(
                "grant_type=client_credentials&client_id=\(OAuthForm.encode(entra.clientID))"
                    + "&client_secret=\(OAuthForm.encode(entra.secret))")
            #expect(refused.status == .unauthorized, "an offboarded organisation's OAuth client: \(refused.text)")
            #expect(refused["error"] == "invalid_client")
            let issued = try await client.admin(.post, "/organisations/\(org.slug)/tokens", json: ["label": "new"])
            let token = try #require(issued["token"]?.stringValue)
            let listed = try await client.request(.get, "/scim/v2/Users", bearer: token)
            #expect(listed.status == .ok)
            #expect(listed["totalResults"] == 1)
            #expect(try await support.admin(.post, "/organisations/\(org.slug)/restore").status == .conflict)
        }
    }

    @Test("offboarding on one replica refuses the token there at once, and on another once its cache hears of it")
    func offboardReachesEveryReplica() async throws {
        let first = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
        let second = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
        try await first.test(.router) { a in
            try await second.test(.router) { b in
                let org = try await TestClient(client: a).organisation("rep")
                let onB = TestOrganisation(slug: org.slug, token: org.token, client: TestClient(client: b))
                #expect(try await onB.scim(.get, "/Users").status == .ok)  // B has the token cached now
                let offboarded = try await TestClient(client: a).admin(.post, "/organisations/\(org.slug)/offboard")
                #expect(offboarded.status == .ok)
                expectSCIMError(try await org.scim(.get, "/Users"), .unauthorized)
                // B trusts its entry until its cache coherence drops it (about a second); poll, with a
                // generous cap for two shared cores, and require that it stops.
                var refused = false
                for _ in 0..<100 where !refused {
                    refused = try await onB.scim(.get, "/Users").status == .unauthorized
                    if !refused { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(refused, "replica B kept serving an offboarded organisation's token")
            }
        }
    }

    @Test("an organisation with SCIM switched off before offboarding stays off after restore")
    func restoreKeepsTheSwitch() async throws {
        try await withApp { client in
            let org = try await client.organisation("sw")
            #expect(
                try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": false]).status == .ok
            )
            #expect(try await client.admin(.post, "/organisations/\(org.slug)/offboard").status == .ok)
            let restored = try await client.admin(.post, "/organisations/\(org.slug)/restore")
            #expect(restored["scimEnabled"] == false)
        }
    }

    @Test("DELETE purges an offboarded organisation: schema gone, control rows gone, one audit entry, others untouched")
    func purgeNow() async throws {
        try await withApp { client in
            let org = try await client.organisation("gone")
            let other = try await client.organisation("stays")
            let userID = try await org.createUser("ada.purged@gone.com")
            _ = try await other.createUser("bob.kept@stays.com")
            let support = try await client.staffKey(role: "support")
            let bound = try await client.staffKey(role: "readonly", organisation: org.slug)

            #expect(
                try await client.admin(.delete, "/organisations/\(org.slug)?confirm=\(org.slug)").status == .conflict)
            #expect(try await support.admin(.post, "/organisations/\(org.slug)/offboard").status == .ok)
            #expect(try await client.admin(.delete, "/organisations/\(org.slug)").status == .badRequest)
            #expect(
                try await client.admin(.delete, "/organisations/\(org.slug)?confirm=\(other.slug)").status
                    == .badRequest)
            #expect(
                try await client.admin(.get, "/organisations/\(org.slug)/users").status == .ok,
                "a refused purge changes nothing")

            let purged = try await client.admin(.delete, "/organisations/\(org.slug)?confirm=\(org.slug)")
            #expect(purged.status == .ok, "\(purged.text)")
            #expect(purged["slug"]?.stringValue == org.slug)
            #expect(purged["offboardedBy"]?.stringValue == support.name)
            #expect(purged["trigger"] == "requested")

            let schema = Organisation.schemaName(forSlug: org.slug)
            try await withDatabase { db in
                let schemas = try await db.query("SELECT count(*) FROM pg_namespace WHERE nspname = \(schema)")
                #expect(try schemas.rows[0].decode(0, as: Int.self) == 0)
                let control = try await db.query(
                    """
                    SELECT (SELECT count(*) FROM control.organisations WHERE slug = \(org.slug))
                         + (SELECT count(*) FROM control.scim_tokens t WHERE NOT EXISTS
                              (SELECT 1 FROM control.organisations o WHERE o.id = t.organisation_id))
                    """)
                #expect(try control.rows[0].decode(0, as: Int.self) == 0)
            }
            #expect(try await client.admin(.get, "/organisations/\(org.slug)").status == .notFound)
            #expect(try await client.admin(.post, "/organisations/\(org.slug)/restore").status == .notFound)
            #expect(
                try await client.admin(.delete, "/organisations/\(org.slug)?confirm=\(org.slug)").status == .notFound)
            expectSCIMError(try await org.scim(.get, "/Users/\(userID)"), .unauthorized)
            // The key bound to the purged organisation went with it.
            #expect(try await bound.admin(.get, "/organisations").status == .unauthorized)

            // What remains: one audit entry, naming who offboarded it, with no personal data.
            let audit = try await client.admin(.get, "/audit?limit=1000")
            let entries = try #require(audit["entries"]?.arrayValue).filter {
                $0[caseInsensitive: "organisation"]?.stringValue == org.slug
            }
            #expect(entries.count == 1, "\(entries)")
            #expect(entries.first?[caseInsensitive: "method"] == "PURGE")
            #expect(entries.first?.at("actor", "name")?.stringValue == support.name)
            #expect(!audit.text.contains("ada.purged"))

            // The other organisation is untouched.
            let others = try await other.scim(.get, "/Users")
            #expect(others.status == .ok)
            #expect(others["totalResults"] == 1)
        }
    }

    @Test("the background purge takes due organisations only, and two replicas purge each exactly once")
    func scheduledPurge() async throws {
        let migrations = try MigrationSet.load(from: TestDatabase.sqlDirectory)
        try await withDatabase { db in
            try await Migrator(migrations: migrations, logger: TestDatabase.logger).migrate(db)
            let store = OrganisationStore(client: db, migrations: migrations)
            let due = try await store.create(slug: TestDatabase.uniqueSlug("due"), name: "Due")
            let waiting = try await store.create(slug: TestDatabase.uniqueSlug("wait"), name: "Waiting")
            let active = try await store.create(slug: TestDatabase.uniqueSlug("act"), name: "Active")
            let outside = try await store.create(slug: TestDatabase.uniqueSlug("out"), name: "Outside")
            let actor = StaffIdentity(kind: .staffKey, id: UUID(), name: "Jane Offboarder", role: .support)
            // None is due on the system clock, by which every running app purges every organisation:
            // the due one (and the one outside the passes' scope) a week from now, the waiting one in a month.
            for organisation in [due, outside] {
                _ = try await OrganisationLifecycle(client: db, graceDays: 7).offboard(
                    slug: organisation.slug, by: actor)
            }
            _ = try await OrganisationLifecycle(client: db, graceDays: 30).offboard(slug: waiting.slug, by: actor)
            // The passes run two weeks on, over this test's organisations only: organisations other tests
            // offboarded (due within two weeks too) are left alone.
            let clock = Date().addingTimeInterval(14 * 86_400)
            let scope = OrganisationScope.only([due.slug, waiting.slug, active.slug])

            try await withDatabase { other in
                let replicas = [db, other].map {
                    OrganisationPurger(
                        lifecycle: OrganisationLifecycle(client: $0, graceDays: 0), interval: .seconds(3600),
                        scope: scope, logger: TestDatabase.logger)
                }
                // Both at once: the due one is purged once, the waiting one is not due yet.
                let now = clock
                async let first = replicas[0].purgeOnce(now: now)
                async let second = replicas[1].purgeOnce(now: now)
                let receipts = try await first + second
                #expect(receipts.map(\.slug) == [due.slug])
            }
            // A second pass finds nothing left: the due one is gone, the waiting one is still waiting.
            #expect(try await OrganisationLifecycle(client: db).purgeDue(now: clock, scope: scope).purged.isEmpty)
            let left = try await db.query(
                """
                SELECT slug FROM control.organisations
                WHERE slug IN (\(due.slug), \(waiting.slug), \(active.slug), \(outside.slug))
                ORDER BY slug
                """
            ).map { try $0.decode(0, as: String.self) }
            #expect(left == [waiting.slug, active.slug, outside.slug].sorted())
            let schemas = try await db.query(
                """
                SELECT nspname FROM pg_namespace
                WHERE nspname IN (\(due.schemaName), \(waiting.schemaName), \(active.schemaName))
                """

            ).map { try $0.decode(0, as: String.self) }
            #expect(Set(schemas) == [waiting.schemaName, active.schemaName])
            let audit = try await db.query(
                "SELECT actor_name, method, target FROM control.audit_log WHERE organisation_slug = \(due.slug)")
            #expect(audit.count == 1)
            #expect(try audit.first?.decode("actor_name", as: String.self) == "Jane Offboarder")
            #expect(try audit.first?.decode("target", as: String.self) == "scheduled")
        }
    }

    @Test("SCIM load racing the purge gets 2xx, 401, 404 or 503, never 500, and another organisation is untouched")
    func scimLoadDuringPurge() async throws {
        try await withApp { client in
            let org = try await client.organisation("race")
            let other = try await client.organisation("calm")
            for index in 0..<5 { _ = try await org.createUser("racer\(index)@race.com") }
            _ = try await other.createUser("calm@calm.com")
            let statuses = StatusCounts()
            let otherStatuses = StatusCounts()
            let stop = StatusCounts()

            try await withDatabase { db in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for worker in 0..<4 {
                        group.addTask {
                            var index = 0
                            while stop.seen.isEmpty && !Task.isCancelled {
                                index += 1
                                let result: TestResult
                                switch index % 3 {
                                case 0:
                                    result = try await org.scim(
                                        .get, "/Users?filter=userName%20eq%20%22racer1@race.com%22")
                                case 1:
                                    result = try await org.scim(
                                        .post, "/Users",
                                        json: [
                                            "schemas": [.string(SchemaURN.user)],
                                            "userName": .string("w\(worker)-\(index)@race.com"),
                                        ])
                                default: result = try await org.scim(.get, "/Users?count=50")
                                }
                                statuses.add(result.status.code)
                                let calm = try await other.scim(.get, "/Users")
                                otherStatuses.add(calm.status.code)
                            }
                        }
                    }
                    // Offboard and purge from outside the app (another replica): this one's token cache
                    // still holds the token for up to a second, so requests reach the schema as it goes.
                    do {
                        try await Task.sleep(for: .milliseconds(300))
                        let lifecycle = OrganisationLifecycle(client: db, graceDays: 0)
                        _ = try await lifecycle.offboard(slug: org.slug, by: .bootstrap)
                        // Under load the schema may stay busy past the purge's lock timeout: like the
                        // background purge, try again. Due at once (no grace), it may also be purged
                        // first by a replica's background purge: not found is then the end of it.
                        for attempt in 1... {
                            do {
                                _ = try await lifecycle.purge(slug: org.slug, confirmation: org.slug, by: .bootstrap)
                                break
                            } catch let error as StoreError where error.kind == .notFound {
                                break
                            } catch let error as StoreError where error.kind == .busy && attempt < 10 {
                                try await Task.sleep(for: .milliseconds(100))
                            }
                        }
                        try await Task.sleep(for: .milliseconds(1500))
                    } catch {
                        stop.add(0)
                        throw error
                    }
                    stop.add(0)
                    try await group.waitForAll()
                }
            }
            let seen = statuses.seen
            #expect(seen.keys.allSatisfy { [200, 201, 401, 404, 503].contains($0) }, "\(seen)")
            #expect(seen[401, default: 0] > 0, "the load ran past the purge: \(seen)")
            let calm = otherStatuses.seen
            #expect(calm.keys.allSatisfy { $0 == 200 }, "\(calm)")
            let left = try await other.scim(.get, "/Users")
            #expect(left["totalResults"] == 1)
        }
    }

    @Test("offboard, restore, purge and export are for unbound support keys and the bootstrap token only")
    func permissions() async throws {
        try await withApp { client in
            let org = try await client.organisation("perm")
            let elsewhere = try await client.organisation("else")
            let userID = try await org.createUser("perm@perm.com")
            let readonly = try await client.staffKey(role: "readonly")
            let boundSupport = try await client.staffKey(role: "support", organisation: org.slug)
            let boundReadonly = try await client.staffKey(role: "readonly", organisation: org.slug)
            let otherBound = try await client.staffKey(role: "support", organisation: elsewhere.slug)
            let routes: [(HTTPRequest.Method, String)] = [
                (.post, "/organisations/\(org.slug)/offboard"), (.post, "/organisations/\(org.slug)/restore"),
                (.delete, "/organisations/\(org.slug)?confirm=\(org.slug)"),
                (.get, "/organisations/\(org.slug)/export"),
                (.post, "/organisations/\(org.slug)/users/\(userID)/erase"),
                (.get, "/organisations/\(org.slug)/users/\(userID)/export"),
            ]
            for (method, path) in routes {
                #expect(try await readonly.admin(method, path).status == .forbidden, "readonly \(method) \(path)")
                #expect(
                    try await boundSupport.admin(method, path).status == .forbidden, "bound support \(method) \(path)")
                #expect(
                    try await boundReadonly.admin(method, path).status == .forbidden, "bound readonly \(method) \(path)"
                )
                #expect(try await otherBound.admin(method, path).status == .notFound, "other bound \(method) \(path)")
                #expect(try await client.request(method, "/admin/v1\(path)", bearer: nil).status == .unauthorized)
            }
            // Nothing was changed by the refusals.
            let organisation = try await client.admin(.get, "/organisations/\(org.slug)")
            #expect(organisation["offboardedAt"] == nil)
            #expect(try await org.scim(.get, "/Users/\(userID)").status == .ok)
        }
    }

    @Test("unknown organisations are 404 on every lifecycle route")
    func unknownOrganisation() async throws {
        try await withApp { client in
            let slug = TestDatabase.uniqueSlug("none")
            for (method, path) in [
                (HTTPRequest.Method.post, "/organisations/\(slug)/offboard"), (.post, "/organisations/\(slug)/restore"),
                (.delete, "/organisations/\(slug)?confirm=\(slug)"), (.get, "/organisations/\(slug)/export"),
                (.post, "/organisations/\(slug)/users/\(UUID())/erase"),
                (.get, "/organisations/\(slug)/users/\(UUID())/export"),
            ] {
                let result = try await client.admin(method, path)
                #expect(result.status == .notFound, "\(method) \(path): \(result.text)")
                #expect(result["error"] != nil || result["message"] != nil, "a JSON error body: \(result.text)")
            }
        }
    }

    @Test(
        "ORG_PURGE_GRACE_DAYS is 30 by default and 0-365",
        arguments: [("-1", false), ("366", false), ("x", false), ("0", true), ("365", true)])
    func graceDaysSetting(value: String, valid: Bool) throws {
        let base = ["DATABASE_URL": "postgresql://x@localhost/db", "ADMIN_API_TOKEN": TestDatabase.adminToken]
        #expect(try AppConfiguration.fromEnvironment(base).organisationPurgeGraceDays == 30)
        let environment = base.merging(["ORG_PURGE_GRACE_DAYS": value]) { $1 }
        if valid {
            #expect(try AppConfiguration.fromEnvironment(environment).organisationPurgeGraceDays == Int(value))
        } else {
            #expect(throws: ConfigurationError.self) { try AppConfiguration.fromEnvironment(environment) }
        }
    }
}

/// HTTP statuses seen by concurrent workers, counted.
final class StatusCounts: Sendable {
    private let counts = Mutex<[Int: Int]>([:])

    func add(_ status: Int) { counts.withLock { $0[status, default: 0] += 1 } }
    var seen: [Int: Int] { counts.withLock { $0 } }
}
