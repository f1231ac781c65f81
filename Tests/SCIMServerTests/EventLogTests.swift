import Foundation
import HTTPTypes
import HummingbirdTesting
import Postgres
import SCIM
import ServiceLifecycle
import Synchronization
import Testing

@testable import SCIMServer
@testable import SCIMStore

private let patchOp: JSONValue = [.string(SchemaURN.patchOp)]

@Suite("Sync event log and status")
struct EventLogTests {
    @Test("successes, failures and warnings are recorded, findable by request id and userName, without values")
    func eventsAreRecorded() async throws {
        try await withApp { client in
            let org = try await client.organisation("ev")
            _ = try await client.admin(
                .put, "/organisations/\(org.slug)/custom-fields",
                json: [
                    "mappings": [
                        [
                            "scimAttribute": .string("\(SchemaURN.learnAmpUser):grade"), "field": "grade",
                            "type": "string",
                        ]
                    ]
                ])
            let created = try await org.scim(
                .post, "/Users",
                json: [
                    "schemas": [.string(SchemaURN.user)],
                    "userName": "eve@ev.com", "title": "Secret Title", "nickName": "unmapped",
                    SchemaURN.enterpriseUser: ["manager": ["value": "boss@ev.com"]],
                ],
                headers: [.init("X-Request-Id")!: "req-create-eve"])
            #expect(created.status == .created)
            let bad = try await org.scim(
                .post, "/Users",
                json: ["schemas": [.string(SchemaURN.user)], "userName": "tz@ev.com", "timezone": "Mars/Olympus"],
                headers: [.init("X-Request-Id")!: "req-bad-tz"])
            expectSCIMError(bad, .badRequest, "invalidValue")
            let lookup = try await org.scim(.get, "/Users?filter=userName%20eq%20%22eve@ev.com%22")
            #expect(lookup["totalResults"] == 1)

            let byRequest = try await client.admin(.get, "/organisations/\(org.slug)/events?requestId=req-create-eve")
            let events = try #require(byRequest["events"]?.arrayValue)
            let success = try #require(events.first { $0[caseInsensitive: "outcome"] == "success" })
            #expect(success[caseInsensitive: "status"] == 201)
            #expect(success[caseInsensitive: "userName"] == "eve@ev.com")
            #expect(success[caseInsensitive: "method"] == "POST")
            #expect(success[caseInsensitive: "changes"]?.arrayValue?.contains("title") == true)
            let kinds = Set(events.compactMap { $0[caseInsensitive: "kind"]?.stringValue })
            #expect(kinds == ["unmapped_attributes", "unresolved_manager"])
            #expect(!byRequest.text.contains("Secret Title"), "values are never logged")

            let failure = try await client.admin(
                .get, "/organisations/\(org.slug)/events?outcome=error&userName=TZ@ev.com")
            let error = try #require(failure["events"]?.arrayValue?.first)
            #expect(error[caseInsensitive: "clientRequestId"] == "req-bad-tz")
            #expect(error[caseInsensitive: "requestId"]?.stringValue == bad.headers[.init("X-Request-Id")!])
            #expect(error[caseInsensitive: "scimType"] == "invalidValue")
            #expect(error[caseInsensitive: "status"] == 400)
            #expect(failure["events"]?.arrayValue?.count == 1)

            let reads = try await client.admin(.get, "/organisations/\(org.slug)/events?outcome=success&limit=10")
            #expect(
                reads["events"]?.arrayValue?.contains { $0[caseInsensitive: "method"] == "GET" } == true,
                "reads are logged too")
        }
    }

    @Test("a revoked token and a disabled organisation are refused and logged to the organisation")
    func refusedCredentialsAreLogged() async throws {
        try await withApp { client in
            let org = try await client.organisation("er")
            let tokens = try await client.admin(.get, "/organisations/\(org.slug)/tokens")
            let tokenID = try #require(tokens["tokens"]?.arrayValue?.first?[caseInsensitive: "id"]?.stringValue)
            _ = try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": false])
            expectSCIMError(
                try await org.scim(.get, "/Users", headers: [.init("X-Request-Id")!: "req-disabled"]), .forbidden)
            _ = try await client.admin(.patch, "/organisations/\(org.slug)", json: ["scimEnabled": true])
            _ = try await client.admin(.delete, "/organisations/\(org.slug)/tokens/\(tokenID)")
            expectSCIMError(
                try await org.scim(.get, "/Users", headers: [.init("X-Request-Id")!: "req-revoked"]), .unauthorized)

            let disabled = try await client.admin(.get, "/organisations/\(org.slug)/events?requestId=req-disabled")
            #expect(disabled["events"]?.arrayValue?.first?[caseInsensitive: "status"] == 403)
            let revoked = try await client.admin(.get, "/organisations/\(org.slug)/events?requestId=req-revoked")
            let event = try #require(revoked["events"]?.arrayValue?.first)
            #expect(event[caseInsensitive: "status"] == 401)
            #expect(event[caseInsensitive: "tokenId"]?.stringValue == tokenID)
            #expect(event[caseInsensitive: "detail"]?.stringValue?.contains("revoked") == true)
        }
    }

    @Test("a failed PATCH leaves an error event and no partial change")
    func failedPatchIsAtomic() async throws {
        try await withApp { client in
            let org = try await client.organisation("ep")
            let id = try await org.createUser("pat@ep.com")
            let before = try await org.scim(.get, "/Users/\(id)")
            let failed = try await org.scim(
                .patch, "/Users/\(id)",
                json: [
                    "schemas": patchOp,
                    "Operations": [
                        ["op": "replace", "path": "title", "value": "Changed"],
                        ["op": "replace", "path": "active", "value": "maybe"],
                    ],
                ],
                headers: [.init("X-Request-Id")!: "req-failed-patch"])
            expectSCIMError(failed, .badRequest, "invalidValue")
            let after = try await org.scim(.get, "/Users/\(id)")
            #expect(after["title"] == nil)
            #expect(after.json?.at("meta", "version") == before.json?.at("meta", "version"))
            let events = try await client.admin(.get, "/organisations/\(org.slug)/events?requestId=req-failed-patch")
            let outcomes = events["events"]?.arrayValue?.compactMap { $0[caseInsensitive: "outcome"]?.stringValue }
            #expect(outcomes == ["error"], "never a success event for a rolled-back change")
            #expect(events["events"]?.arrayValue?.first?[caseInsensitive: "userName"] == "pat@ep.com")
        }
    }

    @Test("event pages are newest first and cover everything once")
    func paging() async throws {
        try await withApp { client in
            let org = try await client.organisation("eg")
            for index in 0..<7 { _ = try await org.createUser("p\(index)@eg.com") }
            var seen: [Int] = []
            var cursor: String? = nil
            repeat {
                let page = try await client.admin(
                    .get, "/organisations/\(org.slug)/events?limit=3\(cursor.map { "&cursor=\($0)" } ?? "")")
                #expect(page.status == .ok)
                seen +=
                    page["events"]?.arrayValue?.compactMap { $0[caseInsensitive: "id"]?.numberValue.map(Int.init) }
                    ?? []
                cursor = page["nextCursor"]?.stringValue
            } while cursor != nil
            #expect(seen.count == 7)
            #expect(seen == seen.sorted(by: >))
            let bad = try await client.admin(.get, "/organisations/\(org.slug)/events?outcome=maybe")
            #expect(bad.status == .badRequest)
            let badCursor = try await client.admin(.get, "/organisations/\(org.slug)/events?cursor=x")
            #expect(badCursor.status == .badRequest)
        }
    }

    @Test("status counts and verdicts follow a scripted scenario")
    func status() async throws {
        try await withApp { client in
            let org = try await client.organisation("st")
            let idle = try await client.admin(.get, "/organisations/\(org.slug)/status")
            #expect(idle.status == .ok)
            #expect(idle.json?.at("health", "verdict") == "idle")
            #expect(idle["tokens"]?.arrayValue?.count == 1)
            #expect(idle["lastRequestAt"] == .null)

            _ = try await client.admin(
                .post, "/organisations/\(org.slug)/users",
                json: ["email": "manual@st.com", "firstName": "M", "lastName": "U"])
            let a = try await org.createUser("a@st.com")
            _ = try await org.createUser(
                "b@st.com",
                extra: [SchemaURN.enterpriseUser: ["manager": ["value": "ghost@st.com"], "department": "Ops"]])
            _ = try await org.scim(
                .patch, "/Users/\(a)",
                json: ["schemas": patchOp, "Operations": [["op": "replace", "value": ["active": false]]]])
            let degraded = try await client.admin(.get, "/organisations/\(org.slug)/status")
            #expect(degraded.json?.at("users", "total") == 3)
            #expect(degraded.json?.at("users", "scimManaged") == 2)
            #expect(degraded.json?.at("users", "manual") == 1)
            #expect(degraded.json?.at("users", "active") == 2)
            #expect(degraded.json?.at("users", "deactivated") == 1)
            #expect(degraded["teams"] == 1)
            #expect(degraded.json?.at("unresolvedManagers", "count") == 1)
            #expect(degraded.json?.at("unresolvedManagers", "userNames") == ["b@st.com"])
            #expect(degraded.json?.at("health", "verdict") == "degraded")
            #expect(degraded.json?.at("last24Hours", "errors") == 0)
            #expect(degraded["lastSuccessAt"]?.stringValue != nil)

            for _ in 0..<6 {
                _ = try await org.scim(
                    .post, "/Users",
                    json: ["schemas": [.string(SchemaURN.user)], "userName": "x@st.com", "timezone": "Nowhere"])
            }
            let failing = try await client.admin(.get, "/organisations/\(org.slug)/status")
            #expect(failing.json?.at("health", "verdict") == "failing")
            #expect(failing.json?.at("last24Hours", "byScimType", "invalidValue") == 6)
            #expect(failing["recentErrors"]?.arrayValue?.count == 6)
            #expect(
                failing["recentErrors"]?.arrayValue?.first?[caseInsensitive: "detail"]?.stringValue?.contains(
                    "timezone") == true)
        }
    }

    @Test(
        "health verdict rules",
        arguments: [
            (
                HealthVerdict.Facts(
                    scimEnabled: true, activeTokens: 1, requests24h: 0, errors24h: 0, lastSuccessAt: nil,
                    lastErrorAt: nil, unresolvedManagers: 0, unmappedAttributes: []), HealthVerdict.Verdict.idle
            ),
            (
                .init(
                    scimEnabled: true, activeTokens: 1, requests24h: 10, errors24h: 0, lastSuccessAt: .now,
                    lastErrorAt: nil, unresolvedManagers: 0, unmappedAttributes: []), .healthy
            ),
            (
                .init(
                    scimEnabled: true, activeTokens: 1, requests24h: 10, errors24h: 1, lastSuccessAt: .now,
                    lastErrorAt: .distantPast, unresolvedManagers: 0, unmappedAttributes: []), .degraded
            ),
            (
                .init(
                    scimEnabled: true, activeTokens: 1, requests24h: 10, errors24h: 0, lastSuccessAt: .now,
                    lastErrorAt: nil, unresolvedManagers: 2, unmappedAttributes: []), .degraded
            ),
            (
                .init(
                    scimEnabled: true, activeTokens: 1, requests24h: 10, errors24h: 0, lastSuccessAt: .now,
                    lastErrorAt: nil, unresolvedManagers: 0, unmappedAttributes: ["nickName"]), .degraded
            ),
            (
                .init(
                    scimEnabled: true, activeTokens: 1, requests24h: 10, errors24h: 5, lastSuccessAt: .now,
                    lastErrorAt: .now, unresolvedManagers: 0, unmappedAttributes: []), .failing
            ),
            (
                .init(
                    scimEnabled: true, activeTokens: 1, requests24h: 100, errors24h: 3, lastSuccessAt: .distantPast,
                    lastErrorAt: .now, unresolvedManagers: 0, unmappedAttributes: []), .failing
            ),
            (
                .init(
                    scimEnabled: false, activeTokens: 1, requests24h: 10, errors24h: 0, lastSuccessAt: .now,
                    lastErrorAt: nil, unresolvedManagers: 0, unmappedAttributes: []), .failing
            ),
            (
                .init(
                    scimEnabled: true, activeTokens: 0, requests24h: 0, errors24h: 0, lastSuccessAt: nil,
                    lastErrorAt: nil, unresolvedManagers: 0, unmappedAttributes: []), .failing
            ),
        ])
    func verdicts(facts: HealthVerdict.Facts, expected: HealthVerdict.Verdict) {
        let verdict = HealthVerdict(facts)
        #expect(verdict.verdict == expected)
        #expect(!verdict.reasons.isEmpty)
    }

    @Test("organisation B's events and status are not reachable with A's slug mix-ups: unknown slugs are 404")
    func unknownOrganisation() async throws {
        try await withApp { client in
            let status = try await client.admin(.get, "/organisations/no-such-org/status")
            let events = try await client.admin(.get, "/organisations/no-such-org/events")
            #expect(status.status == .notFound)
            #expect(events.status == .notFound)
        }
    }
}

@Suite("Sync event buffer")
struct EventBufferTests {
    /// Runs `body` with a migrated database and `count` new organisations.
    func withOrganisations(_ count: Int, _ body: @Sendable (PostgresClient, [Tenant]) async throws -> Void)
        async throws
    {
        let migrations = try MigrationSet.load(from: TestDatabase.sqlDirectory)
        try await withDatabase { client in
            try await Migrator(migrations: migrations, logger: TestDatabase.logger).migrate(client)
            let organisations = OrganisationStore(client: client, migrations: migrations)
            var tenants: [Tenant] = []
            for n in 0..<count {
                let organisation = try await organisations.create(
                    slug: TestDatabase.uniqueSlug("ev"), name: "Events \(n)")
                tenants.append(try await organisations.tenant(slug: organisation.slug))
            }
            try await body(client, tenants)
        }
    }

    @Test("an event the database refuses is dropped and counted; the rest of the flush is written")
    func refusedEventIsQuarantined() async throws {
        try await withOrganisations(2) { client, tenants in
            let (schema, neighbour) = (tenants[0].schema, tenants[1].schema)
            let buffer = EventBuffer()
            func event(_ requestID: String, status: Int) -> SyncEvent {
                SyncEvent(
                    origin: EventOrigin(requestID: requestID, tokenID: nil, method: "GET", path: "/scim/v2/Users"),
                    outcome: .success, status: status)
            }
            buffer.append(event("good-1", status: 200), for: tenants[0])
            // An HTTP status no integer column holds: the whole batch's INSERT fails with 22003.
            buffer.append(event("bad", status: 5_000_000_000), for: tenants[0])
            buffer.append(event("good-2", status: 200), for: tenants[0])
            buffer.append(event("neighbour", status: 200), for: tenants[1])
            try await buffer.flush(client)
            #expect(buffer.pendingCount == 0, "nothing is left to fail again at the next flush")
            #expect(buffer.droppedCount == 1)
            let written = try await client.query("SELECT request_id FROM \(schema).sync_events ORDER BY request_id")
                .map { try $0.decode(0, as: String.self) }
            #expect(written == ["good-1", "good-2"])
            let neighbours = try await client.query("SELECT request_id FROM \(neighbour).sync_events").map {
                try $0.decode(0, as: String.self)
            }
            #expect(neighbours == ["neighbour"], "another organisation's events in the same flush are written too")
        }
    }

    static let knownUserName = "known@example.com"

    /// A SCIM-managed user whose userName an event without one gets filled in from.
    static func insertKnownUser(_ client: PostgresClient, _ schema: PostgresIdentifier) async throws -> UUID {
        let id = UUID()
        _ = try await client.query(
            "INSERT INTO \(schema).users (id, user_name, email, scim_managed) VALUES (\(id), \(knownUserName), \(knownUserName), true)"
        )
        return id
    }

    @Test("a flush writes at most flushLimit events, exactly as buffered, whatever characters they hold")
    func boundedFlushKeepsValues() async throws {
        try await withOrganisations(1) { client, tenants in
            let (tenant, schema) = (tenants[0], tenants[0].schema)
            let userID = try await Self.insertKnownUser(client, schema)
            let buffer = EventBuffer()
            let origin = EventOrigin(requestID: "r-0", tokenID: nil, method: "PATCH", path: "/scim/v2/Users/{x}")
            // Every character the array literal and the text format treat specially.
            let awkward = SyncEvent(
                origin: origin, outcome: .error, status: 400, resourceType: "User", userName: "a\"b\\c,{d} NULL ü",
                scimType: "invalidValue", detail: "line one\nline\ttwo \"quoted\" \\ {braces}",
                changes: ["x,y", "{z}", "NULL", "\"q\"", ""])
            // About a known user without its userName (a failed write): the flush fills it in.
            let aboutUser = SyncEvent(
                origin: origin, outcome: .error, status: 409, resourceType: "User", resourceID: userID)
            buffer.append(awkward, for: tenant)
            buffer.append(aboutUser, for: tenant)
            for n in 0..<(EventBuffer.flushLimit + 498) {
                buffer.append(
                    SyncEvent(
                        origin: EventOrigin(
                            requestID: "bulk-\(n)", tokenID: UUID(), method: "GET", path: "/scim/v2/Users"),
                        outcome: .success, status: 200), for: tenant)
            }
            try await buffer.flush(client)
            #expect(buffer.pendingCount == 500)
            // Oldest first: the first flush took the two events above and the first bulk ones.
            let first = try await client.query(
                "SELECT count(*) AS n, max(substr(request_id, 6)::int) AS newest FROM \(schema).sync_events WHERE request_id LIKE 'bulk-%'"
            )
            #expect(try first[0].decode("n", as: Int.self) == EventBuffer.flushLimit - 2)
            #expect(try first[0].decode("newest", as: Int.self) == EventBuffer.flushLimit - 3)
            try await buffer.flush(client)
            #expect(buffer.pendingCount == 0)
            let rows = try await client.query(
                "SELECT user_name, detail, changes, status, token_id IS NULL AS no_token FROM \(schema).sync_events WHERE request_id = 'r-0' ORDER BY status"
            )
            #expect(rows.count == 2)
            #expect(try rows[0].decode("user_name", as: String?.self) == awkward.userName)
            #expect(try rows[0].decode("detail", as: String?.self) == awkward.detail)
            #expect(try rows[0].decode("changes", as: [String].self) == awkward.changes)
            #expect(try rows[0].decode("no_token", as: Bool.self))
            #expect(try rows[1].decode("user_name", as: String?.self) == Self.knownUserName)
            #expect(try rows[1].decode("changes", as: [String].self) == [])
            let bulk = try await client.query(
                "SELECT count(DISTINCT request_id) AS n FROM \(schema).sync_events WHERE request_id LIKE 'bulk-%'")
            #expect(try bulk[0].decode("n", as: Int.self) == EventBuffer.flushLimit + 498)
        }
    }

    @Test("a few events, written as VALUES rows, keep their values too; the userName is looked up only when missing")
    func fewEventsKeepValues() async throws {
        try await withOrganisations(1) { client, tenants in
            let schema = tenants[0].schema
            let userID = try await Self.insertKnownUser(client, schema)
            for (requestID, withLookup) in [("few-1", false), ("few-2", true)] {
                let origin = EventOrigin(requestID: requestID, tokenID: UUID(), method: "POST", path: "/scim/v2/Users")
                var events = [
                    SyncEvent(
                        origin: origin, outcome: .success, status: 201, resourceType: "User", resourceID: UUID(),
                        userName: "a\"b\\c,{d} NULL ü", detail: "line one\nline\ttwo",
                        changes: ["x,y", "{z}", "NULL", ""])
                ]
                if withLookup {
                    events.append(
                        SyncEvent(
                            origin: origin, outcome: .error, status: 409, resourceType: "User", resourceID: userID))
                }
                #expect(events.count <= SyncEvent.valuesRowLimit)
                _ = try await client.query(SyncEvent.insertion(of: events, schema: schema))
                let rows = try await client.query(
                    "SELECT user_name, detail, changes FROM \(schema).sync_events WHERE request_id = \(requestID) ORDER BY status"
                )
                #expect(rows.count == events.count)
                #expect(try rows[0].decode("user_name", as: String?.self) == events[0].userName)
                #expect(try rows[0].decode("detail", as: String?.self) == events[0].detail)
                #expect(try rows[0].decode("changes", as: [String].self) == events[0].changes)
                if withLookup {
                    #expect(try rows[1].decode("user_name", as: String?.self) == Self.knownUserName)
                }
            }
        }
    }

    @Test(
        "the flush service catches up with a backlog of full batches, and writes the rest on graceful shutdown",
        .timeLimit(.minutes(1)))
    func flushServiceCatchesUp() async throws {
        try await withOrganisations(1) { client, tenants in
            let (tenant, schema) = (tenants[0], tenants[0].schema)
            let buffer = EventBuffer()
            func append(_ count: Int, prefix: String) {
                for n in 0..<count {
                    let origin = EventOrigin(
                        requestID: "\(prefix)-\(n)", tokenID: nil, method: "GET", path: "/scim/v2/Users")
                    buffer.append(SyncEvent(origin: origin, outcome: .success, status: 200), for: tenant)
                }
            }
            append(3 * EventBuffer.flushLimit + 7, prefix: "backlog")
            let service = EventFlushService(
                buffer: buffer, client: client, logger: TestDatabase.logger, interval: .milliseconds(100))
            let group = ServiceGroup(configuration: .init(services: [service], logger: TestDatabase.logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // One round takes every full batch; what is left (7 events) waits to be due.
                while buffer.pendingCount >= EventBuffer.flushLimit { try await Task.sleep(for: .milliseconds(20)) }
                append(3, prefix: "late")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(buffer.pendingCount == 0)
            let counts = try await client.query(
                """
                SELECT count(*) FILTER (WHERE request_id LIKE 'backlog-%') AS backlog,
                       count(*) FILTER (WHERE request_id LIKE 'late-%') AS late,
                       count(DISTINCT request_id) AS distinct_ids
                FROM \(schema).sync_events
                """)
            #expect(try counts[0].decode("backlog", as: Int.self) == 3 * EventBuffer.flushLimit + 7)
            #expect(try counts[0].decode("late", as: Int.self) == 3)
            #expect(
                try counts[0].decode("distinct_ids", as: Int.self) == 3 * EventBuffer.flushLimit + 10,
                "none written twice")
        }
    }

    @Test(
        "a running server writes due read events, and the rest on graceful shutdown",
        .timeLimit(.minutes(1)))
    func liveServerWritesReadEvents() async throws {
        let app = try await buildApplication(try TestDatabase.configuration(), logger: TestDatabase.logger)
        let schema = try await withDatabase { database in
            try await app.test(.live) { client in
                let org = try await TestClient(client: client).organisation("live")
                let schema = try PostgresIdentifier(
                    try await database.query("SELECT schema_name FROM control.organisations WHERE slug = \(org.slug)")[
                        0
                    ]
                    .decode(0, as: String.self))
                func reads() async throws -> Int {
                    try await database.query("SELECT count(*) FROM \(schema).sync_events WHERE method = 'GET'")[0]
                        .decode(0, as: Int.self)
                }
                // Enough to be due at the next periodic flush, a second later.
                for _ in 0..<EventBuffer.minimumBatch {
                    #expect(try await org.scim(.get, "/Users?count=1").status == .ok)
                }
                while try await reads() < EventBuffer.minimumBatch { try await Task.sleep(for: .milliseconds(50)) }
                // The flush ran on the background pool, whose gauges say so, and prepared nothing there.
                let metrics = try await TestClient(client: client).request(.get, "/metrics", bearer: nil).text
                #expect(
                    (OperationsTests.value(in: metrics, #"scim_db_pool_connections_opened{pool="background"}"#) ?? 0)
                        >= 1)
                #expect(
                    OperationsTests.value(in: metrics, #"scim_db_pool_statements_prepared{pool="background"}"#) == 0)
                // Too few to be due for 5 s: the shutdown, right after, writes these.
                for _ in 0..<3 { #expect(try await org.scim(.get, "/Groups").status == .ok) }
                return schema
            }
        }
        let written = try await withDatabase { database in
            try await database.query("SELECT count(*) FROM \(schema).sync_events WHERE method = 'GET'")[0].decode(
                0, as: Int.self)
        }
        #expect(written == EventBuffer.minimumBatch + 3, "the background pool outlives the flush service's last flush")
    }

    @Test("a periodic flush writes busy tenants now and lets a quiet tenant's few events gather up to maximumDelay")
    func quietTenantsWait() async throws {
        try await withOrganisations(2) { client, tenants in
            let (busy, quiet) = (tenants[0], tenants[1])
            let clock = FrozenClock()
            let buffer = EventBuffer(now: clock.now)
            for n in 0..<60 { buffer.append(Self.event("r-\(n)"), for: busy) }
            for n in 0..<3 { buffer.append(Self.event("r-\(n)"), for: quiet) }
            #expect(try await buffer.flush(client, dueOnly: true) == 60)
            #expect(buffer.pendingCount == 3, "three events, just arrived: not due yet")
            clock.advance(by: EventBuffer.maximumDelay - .milliseconds(1))
            #expect(try await buffer.flush(client, dueOnly: true) == 0, "not due before maximumDelay")
            clock.advance(by: .milliseconds(1))
            #expect(try await buffer.flush(client, dueOnly: true) == 3, "due once they have waited maximumDelay")
            buffer.append(Self.event("r-3"), for: quiet)
            #expect(try await buffer.flush(client, dueOnly: true) == 0)
            #expect(try await buffer.flush(client) == 1, "an unconditional flush (shutdown, admin reads) takes them")
            let counts = try await client.query(
                """
                SELECT (SELECT count(*) FROM \(busy.schema).sync_events) AS busy,
                       (SELECT count(*) FROM \(quiet.schema).sync_events) AS quiet
                """)
            #expect(try counts[0].decode("busy", as: Int.self) == 60)
            #expect(try counts[0].decode("quiet", as: Int.self) == 4)
        }
    }

    /// A read's event, as the buffer holds them.
    static func event(_ requestID: String) -> SyncEvent {
        SyncEvent(
            origin: EventOrigin(requestID: requestID, tokenID: nil, method: "GET", path: "/scim/v2/Users"),
            outcome: .success, status: 200)
    }

    @Test(
        "flush(only:) returns once the write of its tenant's events another flush took has committed",
        .timeLimit(.minutes(1)))
    func flushOnlyWaitsForWritesInFlight() async throws {
        try await withOrganisations(1) { client, tenants in
            let (tenant, schema) = (tenants[0], tenants[0].schema)
            let buffer = EventBuffer()
            for n in 0..<3 { buffer.append(Self.event("w-\(n)"), for: tenant) }
            // Another session holds the tenant's event table: a periodic flush takes the events, then its
            // INSERT waits for the lock.
            let databaseURL = try TestDatabase.configuration().databaseURL
            try await withTableLock("sync_events", of: schema, mode: "SHARE", databaseURL: databaseURL) { lock in
                let periodic = Task { try await buffer.flush(client, dueOnly: false) }
                while try await !lock.hasWaiters() { try await Task.sleep(for: .milliseconds(20)) }
                #expect(buffer.pendingCount == 0, "the periodic flush took the events and is writing them")

                let returned = Flag()
                let reader = Task {
                    try await buffer.flush(client, only: schema)
                    returned.set()
                    return try await client.query("SELECT count(*) FROM \(schema).sync_events")[0].decode(
                        0, as: Int.self)
                }
                // Until the reader's flush either returns or waits for the periodic flush's write.
                while !returned.isSet && buffer.waitingFlushCount == 0 {
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await lock.release()
                #expect(try await reader.value == 3, "the reader sees the events the periodic flush was writing")
                #expect(try await periodic.value == 3)
                #expect(buffer.waitingFlushCount == 0)
            }
        }
    }

    @Test("events buffered for an organisation are never written into a new organisation that took its slug")
    func purgedOrganisationsEventsStayOut() async throws {
        try await withOrganisations(1) { client, tenants in
            let old = tenants[0]
            let buffer = EventBuffer()
            buffer.append(Self.event("old-1"), for: old)
            // The organisation is purged, and its slug taken again, while its events wait.
            let actor = StaffIdentity(kind: .staffKey, id: UUID(), name: "Jane Offboarder", role: .support)
            let lifecycle = OrganisationLifecycle(client: client, graceDays: 30)
            _ = try await lifecycle.offboard(slug: old.slug, by: actor)
            _ = try await lifecycle.purge(slug: old.slug, confirmation: old.slug, by: actor)
            let organisations = OrganisationStore(
                client: client, migrations: try MigrationSet.load(from: TestDatabase.sqlDirectory))
            _ = try await organisations.create(slug: old.slug, name: "Events again")
            let new = try await organisations.tenant(slug: old.slug)
            #expect(new.schema == old.schema)
            #expect(new.organisationID != old.organisationID)
            buffer.append(Self.event("new-1"), for: new)
            buffer.append(Self.event("old-2"), for: old)
            #expect(try await buffer.flush(client) == 3, "in one transaction")
            buffer.append(Self.event("old-3"), for: old)
            buffer.append(Self.event("new-2"), for: new)
            #expect(try await buffer.flush(client, only: new.schema) == 2, "by schema, for an admin read")
            let written = try await client.query("SELECT request_id FROM \(new.schema).sync_events ORDER BY request_id")
                .map { try $0.decode(0, as: String.self) }
            #expect(written == ["new-1", "new-2"])
            #expect(buffer.pendingCount == 0)
        }
    }

    @Test("a flush limit that ends inside one tenant's events takes the rest at the next flush")
    func limitSplitsTenants() async throws {
        try await withOrganisations(2) { client, tenants in
            let buffer = EventBuffer()
            let each = EventBuffer.flushLimit * 3 / 4
            for tenant in tenants {
                for n in 0..<each {
                    buffer.append(
                        SyncEvent(
                            origin: EventOrigin(
                                requestID: "s-\(n)", tokenID: nil, method: "GET", path: "/scim/v2/Users"),
                            outcome: .success, status: 200), for: tenant)
                }
            }
            #expect(try await buffer.flush(client) == EventBuffer.flushLimit)
            #expect(buffer.pendingCount == 2 * each - EventBuffer.flushLimit)
            #expect(try await buffer.flush(client) == 2 * each - EventBuffer.flushLimit)
            #expect(buffer.pendingCount == 0)
            #expect(try await buffer.flush(client) == 0, "a tenant emptied by a flush is not left behind")
            for schema in tenants.map(\.schema) {
                let written = try await client.query(
                    "SELECT count(DISTINCT request_id) AS n FROM \(schema).sync_events WHERE request_id LIKE 's-%'")
                #expect(try written[0].decode("n", as: Int.self) == each)
            }
        }
    }

    @Test("events a failed flush put back are due at the next periodic flush, however few")
    func returnedEventsAreDue() async throws {
        try await withOrganisations(2) { client, tenants in
            // Nothing listens on port 1: every connection attempt fails at once.
            var configuration = PostgresClient.Configuration(connectionString: "postgresql://scim@127.0.0.1:1/scim")
            configuration.connectionTimeout = .seconds(1)
            let unreachable = PostgresClient(configuration: configuration, logger: TestDatabase.logger)
            let buffer = EventBuffer(now: FrozenClock().now)
            for tenant in tenants {
                for n in 0..<2 {
                    buffer.append(
                        SyncEvent(
                            origin: EventOrigin(
                                requestID: "b-\(n)", tokenID: nil, method: "GET", path: "/scim/v2/Users"),
                            outcome: .success, status: 200), for: tenant)
                }
            }
            let early = try await buffer.flush(client, dueOnly: true)
            #expect(early == 0, "four events, just arrived: not due yet")
            await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await unreachable.run() }
                await #expect(throws: PostgresError.self) { try await buffer.flush(unreachable) }
                group.cancelAll()
            }
            #expect(buffer.pendingCount == 4)
            let returned = try await buffer.flush(client, dueOnly: true)
            #expect(returned == 4, "put back as if they had waited the longest delay")
            #expect(buffer.pendingCount == 0)
        }
    }

    @Test("while the database cannot be reached, every tenant's events stay buffered for the next flush")
    func unreachableDatabaseKeepsEverything() async throws {
        // Nothing listens on port 1: every connection attempt fails at once.
        var configuration = PostgresClient.Configuration(connectionString: "postgresql://scim@127.0.0.1:1/scim")
        configuration.connectionTimeout = .seconds(1)
        let client = PostgresClient(configuration: configuration, logger: TestDatabase.logger)
        let buffer = EventBuffer()
        for tenant in ["org_a", "org_b", "org_c"] {
            for n in 0..<2 {
                buffer.append(
                    SyncEvent(
                        origin: EventOrigin(
                            requestID: "\(tenant)-\(n)", tokenID: nil, method: "GET", path: "/scim/v2/Users"),
                        outcome: .success, status: 200),
                    for: Tenant(organisationID: UUID(), slug: tenant, schema: try PostgresIdentifier(tenant)))
            }
        }
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.run() }
            await #expect(throws: PostgresError.self) { try await buffer.flush(client) }
            group.cancelAll()
        }
        #expect(buffer.pendingCount == 6)
        #expect(buffer.droppedCount == 0)
    }
}

/// A clock that stands still until the test moves it.
private final class FrozenClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    @Sendable func now() -> ContinuousClock.Instant { instant.withLock { $0 } }

    func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}

/// Set once, by one task, and read by another.
private final class Flag: Sendable {
    private let value = Mutex(false)

    var isSet: Bool { value.withLock { $0 } }

    func set() { value.withLock { $0 = true } }
}
