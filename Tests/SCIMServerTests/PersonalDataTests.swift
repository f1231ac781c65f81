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

/// Erasing one person, exporting an organisation or a person, and what the logs hold.
@Suite("Lifecycle: a person's data")
struct PersonalDataTests {
    static let enterprise = SchemaURN.enterpriseUser

    /// An organisation with a manager (in a team, with a custom field) and a report.
    struct Fixture {
        var org: TestOrganisation
        var bossID: String
        var reportID: String
        var teamID: String
        static let bossEmail = "grace.hopper@erase.com"
    }

    static func fixture(_ client: TestClient, prefix: String = "er") async throws -> Fixture {
        let org = try await client.organisation(prefix)
        let mapped = try await client.admin(
            .put, "/organisations/\(org.slug)/custom-fields",
            json: ["mappings": [["scimAttribute": "badge", "field": "badge_number", "type": "string"]]])
        try #require(mapped.status == .ok, "\(mapped.text)")
        let bossID = try await org.createUser(
            Fixture.bossEmail,
            extra: [
                "name": ["givenName": "Grace", "familyName": "Hopper"], "displayName": "Grace Hopper",
                SchemaURN.learnAmpUser: ["badge": "B-1906"],
            ])
        let reportID = try await org.createUser(
            "report@erase.com", extra: [enterprise: ["manager": ["value": .string(bossID)]]])
        let team = try await org.scim(
            .post, "/Groups",
            json: [
                "schemas": [.string(SchemaURN.group)], "displayName": "Navy", "members": [["value": .string(bossID)]],
            ])
        try #require(team.status == .created, "\(team.text)")
        return Fixture(org: org, bossID: bossID, reportID: reportID, teamID: try #require(team["id"]?.stringValue))
    }

    @Test("erase deletes the person outright, unlinks their reports, scrubs events, and a new POST makes a new account")
    func erase() async throws {
        try await withApp { client in
            let fixture = try await Self.fixture(client)
            let org = fixture.org
            let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: org.slug))
            // A failure event whose detail quotes the person, as a uniqueness conflict does.
            try await withDatabase { db in
                _ = try await db.query(
                    """
                    INSERT INTO \(schema).sync_events (outcome, request_id, method, path, user_name, status, detail)
                    VALUES ('error', 'req-x', 'POST', '/scim/v2/Users', 'GRACE.HOPPER@erase.com', 409,
                            'userName "grace.hopper@erase.com" (Grace Hopper) already exists; Graceful stays')
                    """)
            }
            let support = try await client.staffKey(role: "support")
            let receipt = try await support.admin(.post, "/organisations/\(org.slug)/users/\(fixture.bossID)/erase")
            #expect(receipt.status == .ok, "\(receipt.text)")
            #expect(receipt["userId"]?.stringValue == fixture.bossID)
            #expect(receipt["teamMemberships"] == 1)
            #expect(receipt["customFields"] == 1)
            #expect(receipt["managerLinksRemoved"] == 1)
            #expect(
                (receipt["syncEventsScrubbed"]?.numberValue ?? 0) >= 2,
                "the create event and the conflict: \(receipt.text)")

            expectSCIMError(try await org.scim(.get, "/Users/\(fixture.bossID)"), .notFound)
            let report = try await org.scim(.get, "/Users/\(fixture.reportID)")
            #expect(report.json?.at(Self.enterprise, "manager") == nil, "\(report.text)")
            let team = try await org.scim(.get, "/Groups/\(fixture.teamID)")
            #expect(team["members"]?.arrayValue?.isEmpty ?? true, "\(team.text)")

            try await withDatabase { db in
                let leaks = try await db.query(
                    """
                    SELECT count(*) FROM \(schema).sync_events
                    WHERE user_name ILIKE '%grace%' OR detail ILIKE '%grace.hopper%' OR detail ~ '\\mHopper\\M'
                       OR detail ~ '\\mGrace\\M'
                    """)
                #expect(try leaks.rows[0].decode(0, as: Int.self) == 0)
                let detail = try await db.query("SELECT detail FROM \(schema).sync_events WHERE request_id = 'req-x'")
                // "Grace Hopper" (the display name) goes as one; "Graceful" is another word.
                #expect(
                    try detail.rows[0].decode(0, as: String.self)
                        == "userName \"\(fixture.bossID)\" (\(fixture.bossID)) already exists; Graceful stays")
                let named = try await db.query(
                    "SELECT count(*) FROM \(schema).sync_events WHERE user_name = \(fixture.bossID)")
                #expect(try named.rows[0].decode(0, as: Int.self) >= 2)
            }

            // Erasing again finds nobody; nothing else changes.
            #expect(
                try await support.admin(.post, "/organisations/\(org.slug)/users/\(fixture.bossID)/erase").status
                    == .notFound)
            #expect(
                try await client.admin(.post, "/organisations/\(org.slug)/users/not-a-uuid/erase").status == .notFound)
            // The same email provisions a new account.
            let again = try await org.createUser(Fixture.bossEmail)
            #expect(again != fixture.bossID)
        }
    }

    /// Another replica may have buffered events naming the person when the erasure ran; they reach
    /// the table after it. The erasure's follow-up scrubs them, leaves other people's events alone,
    /// and forgets the person's values once its window ends.
    @Test("events written after an erasure (another replica's buffer) are scrubbed by its follow-up, for an hour")
    func erasureFollowUp() async throws {
        try await withApp { client in
            let fixture = try await Self.fixture(client, prefix: "erf")
            let org = fixture.org
            let schema = try PostgresIdentifier(Organisation.schemaName(forSlug: org.slug))
            let support = try await client.staffKey(role: "support")
            let erased = try await support.admin(.post, "/organisations/\(org.slug)/users/\(fixture.bossID)/erase")
            try #require(erased.status == .ok, "\(erased.text)")
            let bossID = try #require(UUID(uuidString: fixture.bossID))
            try await withDatabase { db in
                // Every running app runs the passes due by the system clock, of every organisation. This
                // follow-up moves a day ahead, as it stood after the erasure (a pass run meanwhile
                // undone), so only this test runs its passes, on its own clock and for its organisation.
                let moved = try await db.query(
                    """
                    UPDATE control.erasure_followups
                    SET erased_at = erased_at + interval '1 day', passes = 0,
                        next_pass_at = erased_at + interval '1 day'
                            + make_interval(secs => \(UserErasure.followUpSchedule[0].components.seconds))
                    WHERE user_id = \(bossID)
                    RETURNING erased_at
                    """)
                let erasedAt: Date = try moved.single().decode("erased_at")
                // As another replica's flush writes them: requests from seconds before the erasure.
                _ = try await db.query(
                    """
                    INSERT INTO \(schema).sync_events
                        (occurred_at, outcome, request_id, method, path, resource_type, resource_id, user_name,
                         status, detail)
                    VALUES (\(erasedAt.addingTimeInterval(-3)), 'success', 'late-1', 'GET', '/scim/v2/Users', 'User',
                            \(bossID), 'Grace.Hopper@erase.com', 200, NULL),
                           (\(erasedAt.addingTimeInterval(-2)), 'error', 'late-2', 'POST', '/scim/v2/Users', 'User',
                            NULL, 'grace.hopper@erase.com', 409, 'userName "grace.hopper@erase.com" already exists'),
                           (\(erasedAt.addingTimeInterval(-2)), 'error', 'late-3', 'PATCH', '/scim/v2/Users', 'User',
                            NULL, NULL, 400, 'Grace Hopper: bad value'),
                           (\(erasedAt.addingTimeInterval(-1)), 'success', 'late-4', 'GET', '/scim/v2/Users', 'User',
                            NULL, 'report@erase.com', 200, 'Graceful stays')
                    """)
                // The first pass is due 15 seconds after the erasure.
                let erasure = UserErasure(client: db)
                let scope = OrganisationScope.only([org.slug])
                let firstPass = erasedAt.addingTimeInterval(
                    Double(UserErasure.followUpSchedule[0].components.seconds) + 1)
                let first = try await erasure.followUp(now: firstPass, scope: scope)
                #expect(first.applied == 1)
                #expect(first.scrubbed == 3)
                let late = try await db.query(
                    """
                    SELECT request_id, user_name, detail FROM \(schema).sync_events
                    WHERE request_id LIKE 'late-%' ORDER BY request_id
                    """
                ).map { [try $0.decode("user_name", as: String?.self), try $0.decode("detail", as: String?.self)] }
                #expect(
                    late == [
                        [fixture.bossID, nil],
                        [fixture.bossID, "userName \"\(fixture.bossID)\" already exists"],
                        [nil, "\(fixture.bossID): bad value"],
                        ["report@erase.com", "Graceful stays"],
                    ])
                // The same pass again (another replica's) is not due.
                #expect(try await erasure.followUp(now: firstPass, scope: scope).applied == 0)
                let held: PostgresQuery = "SELECT passes FROM control.erasure_followups WHERE user_id = \(bossID)"
                #expect(try await db.query(held).map { try $0.decode("passes", as: Int.self) } == [1])

                // Once its last pass ran, an hour on, the follow-up goes with the person's values.
                let later = erasedAt.addingTimeInterval(Double(UserErasure.followUpWindow.components.seconds) + 60)
                var expired = 0
                for _ in UserErasure.followUpSchedule {
                    expired += try await erasure.followUp(now: later, scope: scope).expired
                }
                #expect(expired == 1)
                #expect(try await db.query(held).isEmpty)
            }
        }
    }

    @Test(
        "the organisation export holds settings without secrets, mappings, users, teams, memberships and manager links")
    func exportOrganisation() async throws {
        try await withApp { client in
            let fixture = try await Self.fixture(client, prefix: "ex")
            let other = try await client.organisation("exo")
            _ = try await other.createUser("stranger@exo.com")
            let result = try await client.admin(.get, "/organisations/\(fixture.org.slug)/export")
            #expect(result.status == .ok)
            #expect(result.headers[.contentType] == "application/x-ndjson")
            let lines = try Self.lines(result.text)
            func of(_ type: String) -> [JSONValue] {
                lines.filter { $0[caseInsensitive: "record"]?.stringValue == type }
            }
            #expect(of("organisation").count == 1)
            #expect(of("organisation").first?[caseInsensitive: "slug"]?.stringValue == fixture.org.slug)
            #expect(of("token").count == 1)
            #expect(of("customFieldMapping").count == 1)
            #expect(
                Set(of("user").compactMap { $0[caseInsensitive: "id"]?.stringValue }) == [
                    fixture.bossID, fixture.reportID,
                ])
            let boss = try #require(of("user").first { $0[caseInsensitive: "id"]?.stringValue == fixture.bossID })
            #expect(boss[caseInsensitive: "given_name"] == "Grace")
            #expect(boss.at("custom_fields", "badge_number") == "B-1906")
            #expect(of("team").count == 1)
            #expect(of("membership").first?[caseInsensitive: "user_id"]?.stringValue == fixture.bossID)
            #expect(of("manager").first?[caseInsensitive: "manager_id"]?.stringValue == fixture.bossID)
            #expect(!of("syncEvent").isEmpty)
            #expect(!result.text.contains("secret_hash") && !result.text.contains("lascim_"))
            #expect(!result.text.contains("stranger@exo.com"))
            // The export is in the audit log, as writes are.
            let audit = try await client.admin(.get, "/audit?limit=1000")
            let exports = try #require(audit["entries"]?.arrayValue).filter {
                $0[caseInsensitive: "route"] == "/admin/v1/organisations/{slug}/export"
                    && $0[caseInsensitive: "organisation"]?.stringValue == fixture.org.slug
            }
            #expect(exports.count == 1 && exports.first?[caseInsensitive: "method"] == "GET")
        }
    }

    @Test("the export pages through every table in key order without losing or repeating a row")
    func exportPaging() async throws {
        let migrations = try MigrationSet.load(from: TestDatabase.sqlDirectory)
        try await withDatabase { db in
            try await Migrator(migrations: migrations, logger: TestDatabase.logger).migrate(db)
            let organisation = try await OrganisationStore(client: db, migrations: migrations)
                .create(slug: TestDatabase.uniqueSlug("pg"), name: "Paging")
            let tenant = try await OrganisationStore(client: db, migrations: migrations).tenant(slug: organisation.slug)
            let schema = tenant.schema
            _ = try await db.query(
                """
                WITH team AS (INSERT INTO \(schema).teams (id, display_name) VALUES (gen_random_uuid(), 'All')
                              RETURNING id),
                     people AS (INSERT INTO \(schema).users (id, user_name, email)
                                SELECT gen_random_uuid(), 'p' || g || '@pg.com', 'p' || g || '@pg.com'
                                FROM generate_series(1, 7) g RETURNING id)
                INSERT INTO \(schema).team_members (team_id, user_id, via_group)
                SELECT team.id, people.id, true FROM team, people
                """)
            var collected = ""
            try await DataExport(client: db, pageSize: 2).organisation(tenant) { text in collected += text }
            let lines = try Self.lines(collected)
            let users = lines.filter { $0[caseInsensitive: "record"] == "user" }.compactMap {
                $0[caseInsensitive: "id"]?.stringValue
            }
            #expect(users.count == 7 && Set(users).count == 7)
            let members = lines.filter { $0[caseInsensitive: "record"] == "membership" }.compactMap {
                $0[caseInsensitive: "user_id"]?.stringValue
            }
            #expect(members.count == 7 && Set(members) == Set(users))
        }
    }

    @Test("a person's export holds their row, memberships and links; unknown people are 404")
    func exportUser() async throws {
        try await withApp { client in
            let fixture = try await Self.fixture(client, prefix: "sar")
            let path = "/organisations/\(fixture.org.slug)/users/\(fixture.bossID)/export"
            let result = try await client.admin(.get, path)
            #expect(result.status == .ok, "\(result.text)")
            let lines = try Self.lines(result.text)
            #expect(lines.filter { $0[caseInsensitive: "record"] == "user" }.count == 1)
            #expect(
                lines.first { $0[caseInsensitive: "record"] == "user" }?[caseInsensitive: "email"]?.stringValue
                    == Fixture.bossEmail)
            #expect(lines.filter { $0[caseInsensitive: "record"] == "membership" }.count == 1)
            #expect(
                lines.first { $0[caseInsensitive: "record"] == "manager" }?[caseInsensitive: "user_id"]?.stringValue
                    == fixture.reportID)
            #expect(!lines.filter { $0[caseInsensitive: "record"] == "syncEvent" }.isEmpty)
            #expect(!result.text.contains("report@erase.com"), "another person's data")
            #expect(
                try await client.admin(.get, "/organisations/\(fixture.org.slug)/users/\(UUID())/export").status
                    == .notFound)
            #expect(
                try await client.admin(.get, "/organisations/\(fixture.org.slug)/users/nope/export").status == .notFound
            )
        }
    }

    @Test("a provisioning run logs no email and no name at info")
    func logsHoldNoPersonalData() async throws {
        let sink = LogSink()
        var logger = Logger(label: "scim-server") { label in JSONLogHandler(label: label, output: sink.output) }
        logger.logLevel = .info
        let app = try await buildApplication(try TestDatabase.configuration(), logger: logger)
        try await app.test(.router) { raw in
            let client = TestClient(client: raw)
            let fixture = try await Self.fixture(client, prefix: "log")
            let org = fixture.org
            _ = try await org.scim(
                .post, "/Users", json: ["schemas": [.string(SchemaURN.user)], "userName": .string(Fixture.bossEmail)])
            _ = try await org.scim(.get, "/Users?filter=userName%20eq%20%22\(Fixture.bossEmail)%22")
            _ = try await org.scim(
                .patch, "/Users/\(fixture.reportID)",
                json: [
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [["op": "replace", "path": "name.familyName", "value": "Lovelace"]],
                ])
            _ = try await org.scim(
                .post, "/Users", json: ["schemas": [.string(SchemaURN.user)], "userName": "", "name": "Grace"])
            _ = try await org.scim(.delete, "/Users/\(fixture.reportID)")
            _ = try await client.admin(.get, "/organisations/\(org.slug)/export")
            _ = try await client.admin(.post, "/organisations/\(org.slug)/users/\(fixture.bossID)/erase")
        }
        let text = String(decoding: sink.bytes, as: UTF8.self)
        for personal in ["grace", "hopper", "lovelace", "report@erase.com", "B-1906"] {
            #expect(!text.lowercased().contains(personal.lowercased()), "\(personal) in the log:\n\(text)")
        }
    }

    static func lines(_ text: String) throws -> [JSONValue] {
        try text.split(separator: "\n").map { try JSONValue.parse(Array($0.utf8)) }
    }
}

/// Collects a JSON log handler's output in memory.
final class LogSink: Sendable {
    private let buffer = Mutex<[UInt8]>([])

    var output: JSONLogHandler.Output {
        JSONLogHandler.Output { bytes in self.buffer.withLock { $0.append(contentsOf: bytes) } }
    }
    var bytes: [UInt8] { buffer.withLock { $0 } }
}
