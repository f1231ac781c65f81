import Foundation
import Postgres
import SCIM

/// A validated user from a request body, with the attributes that were dropped as unmapped.
public struct UserInput: Sendable {
    public var user: User
    public var unknownAttributes: [String]

    public init(user: User, unknownAttributes: [String] = []) {
        self.user = user
        self.unknownAttributes = unknownAttributes
    }
}

/// A user as stored, with what the server knows about them.
public struct StoredUser: Sendable, Equatable {
    public var user: User
    public var metadata: UserMetadata
}

/// Learn Amp's users, as SCIM provisions them. Every method is one transaction in the tenant's schema.
///
/// SCIM sees only SCIM-managed users: manual users and users released by DELETE are invisible until a
/// POST with their email adopts them.
public struct UserStore: Sendable {
    let client: PostgresClient
    let mappings: CustomFieldCache
    /// The statement timeout of lists that may return many rows; nil keeps the connection's.
    let listStatementTimeout: Duration?

    public init(
        client: PostgresClient, mappings: CustomFieldCache = CustomFieldCache(), listStatementTimeout: Duration? = nil
    ) {
        self.client = client
        self.mappings = mappings
        self.listStatementTimeout = listStatementTimeout
    }

    /// Builds a user from the request body, given the organisation's custom-field mappings.
    public typealias Builder = @Sendable ([CustomFieldMapping]) throws -> UserInput

    /// POST /Users: creates the user, or adopts a manual or released user with the same userName/email.
    /// - Returns: the stored user and whether an existing account was adopted.
    /// - Throws: `SCIMError` 409 `uniqueness` when a SCIM-managed user already has that userName or email.
    public func create(_ tenant: Tenant, origin: EventOrigin, build: Builder) async throws -> (
        StoredUser, adopted: Bool
    ) {
        let schema = tenant.schema
        return try await client.withTransaction { connection in
            let mappings = try self.mappings.mappings(schema, on: connection)
            let input = try build(mappings)
            let user = input.user
            let email = user.primaryEmail
            let matches = try connection.query(
                """
                SELECT id, scim_managed, primary_team_id, user_name, email,
                       (SELECT pt.display_name FROM \(schema).teams pt WHERE pt.id = primary_team_id) AS primary_team_name
                FROM \(schema).users
                WHERE lower(user_name) IN (lower(\(user.userName)::text), lower(\(email)::text))
                   OR lower(email) IN (lower(\(user.userName)::text), lower(\(email)::text))
                FOR UPDATE
                """)
            let managed = try matches.filter { try $0.decode("scim_managed", as: Bool.self) }
            if !managed.isEmpty { throw try Self.clash(user, email: email, with: managed) }
            guard matches.count <= 1 else {
                throw SCIMError.uniqueness("\(user.userName) and \(email) belong to two different existing users.")
            }
            let id: UUID = try matches.first?.decode("id") ?? UUID()
            let adopted = matches.count == 1
            let pending = try Self.save(
                user, id: id, existing: matches.first, mappings: mappings, schema: schema, on: connection)
            var warnings = Self.warnings(pendingManager: pending)
            if adopted {
                warnings.append((.adoptedUser, "Adopted an existing Learn Amp account with the same email.", []))
            }
            try WriteEvents(origin: origin, unknownAttributes: input.unknownAttributes).record(
                result: .created, resourceType: "User", resourceID: id, userName: user.userName,
                changes: user.changedAttributes(from: nil), warnings: warnings, schema: schema, on: connection)
            return (
                try Self.mappingUniqueViolation(user) {
                    try Self.fetchAndCommit(id, schema: schema, mappings: mappings, on: connection)
                }, adopted
            )
        }
    }

    /// GET /Users/{id}.
    public func get(_ tenant: Tenant, id: UUID) async throws -> StoredUser {
        let schema = tenant.schema
        let mappings = self.mappings
        let stored = try await client.withConnection { connection in
            try Self.fetch(id, schema: schema, mappings: mappings.mappings(schema, on: connection), on: connection)
        }
        guard let stored else { throw Self.notFound(id) }
        return stored
    }

    /// PUT /Users/{id}: replaces every writable attribute; the role and the account's history stay.
    public func replace(_ tenant: Tenant, id: UUID, ifMatch: String?, origin: EventOrigin, build: Builder) async throws
        -> StoredUser
    {
        try await update(tenant, id: id, ifMatch: ifMatch, origin: origin) { _, mappings in try build(mappings) }
    }

    /// PATCH /Users/{id}: `apply` turns the current user into the new one (the PATCH engine runs inside
    /// the transaction, on a row locked FOR UPDATE, so concurrent PATCHes never interleave).
    public func update(
        _ tenant: Tenant, id: UUID, ifMatch: String?, origin: EventOrigin,
        apply: @Sendable (StoredUser, [CustomFieldMapping]) throws -> UserInput
    ) async throws -> StoredUser {
        let schema = tenant.schema
        return try await client.withTransaction { connection in
            let mappings = try self.mappings.mappings(schema, on: connection)
            // Read and lock in one statement; the row also carries the current primary team for `save`.
            let locked = try connection.query(
                "\(UserColumns.select(schema)) WHERE u.id = \(id) AND u.scim_managed FOR UPDATE OF u")
            guard let row = locked.first else { throw Self.notFound(id) }
            let (currentUser, currentMetadata) = try UserColumns.decode(row, mappings: mappings)
            let current = StoredUser(user: currentUser, metadata: currentMetadata)
            try Self.check(ifMatch, against: current.metadata)
            let input = try apply(current, mappings)
            let user = input.user
            let events = WriteEvents(origin: origin, unknownAttributes: input.unknownAttributes)
            guard user != current.user else {
                try events.record(
                    result: .returned, resourceType: "User", resourceID: id, userName: user.userName, changes: [],
                    schema: schema,
                    on: connection)
                return current
            }
            let pending = try Self.save(user, id: id, existing: row, mappings: mappings, schema: schema, on: connection)
            try events.record(
                result: .returned, resourceType: "User", resourceID: id, userName: user.userName,
                changes: user.changedAttributes(from: current.user), warnings: Self.warnings(pendingManager: pending),
                schema: schema, on: connection)
            return try Self.mappingUniqueViolation(user) {
                try Self.fetchAndCommit(id, schema: schema, mappings: mappings, on: connection)
            }
        }
    }

    /// DELETE /Users/{id}: deprovisions. The account stays (deactivated, history intact) but is released
    /// from SCIM, so SCIM reads answer 404 until a POST with the same email adopts it again.
    public func delete(_ tenant: Tenant, id: UUID, ifMatch: String?, origin: EventOrigin) async throws {
        let schema = tenant.schema
        try await client.withTransaction { connection in
            let rows = try connection.query(
                "SELECT version, user_name FROM \(schema).users WHERE id = \(id) AND scim_managed FOR UPDATE")
            guard let row = rows.first else { throw Self.notFound(id) }
            if let ifMatch {
                try Self.check(ifMatch, version: try row.decode("version"))
            }
            _ = try connection.query(
                """
                UPDATE \(schema).users SET scim_managed = false, active = false, updated_at = now(), version = version + 1
                WHERE id = \(id)
                """)
            try WriteEvents(origin: origin).record(
                result: .noContent, resourceType: "User", resourceID: id, userName: try row.decode("user_name"),
                changes: ["active", "managedBySCIM"], schema: schema, on: connection)
        }
    }

    /// GET /Users and POST /Users/.search. A list that may return many rows runs with
    /// `listStatementTimeout`; a lookup by a unique attribute (Okta's before every create) does not
    /// need it, and costs no transaction.
    public func list(_ tenant: Tenant, request: ListRequest) async throws -> ListPage<StoredUser> {
        let schema = tenant.schema
        let mappings = try await self.mappingList(schema)
        let (condition, atMostOneRow): (PostgresQuery, Bool) = try {
            guard let filter = request.filter else { return ("\(UserColumns.alias).scim_managed", false) }
            let compiler = FilterCompiler { UserColumns.attribute($0, schema: schema, customFields: mappings) }
            return (
                "\(UserColumns.alias).scim_managed AND \(try compiler.compile(filter))",
                compiler.matchesAtMostOneRow(filter)
            )
        }()
        let page = { @Sendable (connection: PostgresConnection) throws -> ListPage<StoredUser> in
            try ListPaging.page(
                request: request, columns: UserColumns.columns(schema), table: "\(schema).users",
                alias: UserColumns.alias,
                key: UserColumns.id, condition: condition, atMostOneRow: atMostOneRow,
                sortKey: { path in UserColumns.attribute(path, schema: schema, customFields: mappings)?.sortKey },
                on: connection,
                decode: { row in
                    let (user, metadata) = try UserColumns.decode(row, mappings: mappings)
                    return StoredUser(user: user, metadata: metadata)
                })
        }
        guard let timeout = self.listStatementTimeout, !atMostOneRow else {
            return try await client.withConnection(page)
        }
        // A scan keeps a database core busy: it counts twice towards the organisation's share of the pool.
        return try await client.withTransaction(readOnly: true, statementTimeout: timeout, weight: 2, page)
    }

    /// The organisation's mappings, from the cache when it has them.
    private func mappingList(_ schema: PostgresIdentifier) async throws -> [CustomFieldMapping] {
        if let cached = mappings.cache.value(for: schema) { return cached }
        let mappings = self.mappings
        return try await client.withConnection { connection in try mappings.mappings(schema, on: connection) }
    }

    /// The organisation's custom fields as Learn Amp extension attributes: responses are projected
    /// against them, or `attributes`/`excludedAttributes` could not see (and would drop) mapped values.
    public func customFields(_ tenant: Tenant) async throws -> [CustomFieldDefinition] {
        try await self.mappingList(tenant.schema).map(\.definition)
    }

    // MARK: - Inside a transaction

    static func notFound(_ id: UUID) -> SCIMError {
        .notFound("User \(id.lowercasedString) not found.")
    }

    static func fetch(
        _ id: UUID, schema: PostgresIdentifier, mappings: [CustomFieldMapping], on connection: PostgresConnection
    ) throws -> StoredUser? {
        try decode(connection.query(fetching(id, schema: schema)), mappings: mappings)
    }

    /// Reads back what a write stored and commits, in one round trip (the write's last statement).
    static func fetchAndCommit(
        _ id: UUID, schema: PostgresIdentifier, mappings: [CustomFieldMapping], on connection: PostgresConnection
    ) throws -> StoredUser {
        guard let stored = try decode(connection.queryAndCommit(fetching(id, schema: schema)), mappings: mappings)
        else {
            throw PostgresError(code: .decoding, message: "the user just written was not found")
        }
        return stored
    }

    private static func fetching(_ id: UUID, schema: PostgresIdentifier) -> PostgresQuery {
        "\(UserColumns.select(schema)) WHERE u.id = \(id) AND u.scim_managed"
    }

    private static func decode(_ rows: PostgresRows, mappings: [CustomFieldMapping]) throws -> StoredUser? {
        try rows.first.map { row in
            let (user, metadata) = try UserColumns.decode(row, mappings: mappings)
            return StoredUser(user: user, metadata: metadata)
        }
    }

    /// `If-Match` (RFC 7644 §3.14): `*` or the current weak or strong version.
    static func check(_ ifMatch: String?, against metadata: UserMetadata) throws {
        if let ifMatch { try check(ifMatch, version: metadata.version) }
    }

    /// - Throws: 400 for a header that is neither `*` nor a list of entity tags (RFC 9110 §13.1.1),
    ///   412 for well-formed tags none of which is the current version.
    static func check(_ ifMatch: String, version: Int64) throws {
        let tags = ifMatch.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard tags == ["*"] || tags.allSatisfy(isEntityTag) else {
            throw SCIMError.badRequest(
                "If-Match must be * or a list of entity tags such as W/\"3\" (RFC 9110 section 13.1.1).")
        }
        let accepted =
            tags.contains("*")
            || tags.contains { tag in
                let bare = tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
                return bare == "\"\(version)\""
            }
        guard accepted else {
            throw SCIMError.preconditionFailed(
                "The resource has changed (If-Match does not match version W/\"\(version)\").")
        }
    }

    /// `"…"` or `W/"…"` with RFC 9110 `etagc` characters inside the quotes.
    static func isEntityTag(_ tag: String) -> Bool {
        let opaque = tag.hasPrefix("W/") ? tag.utf8.dropFirst(2) : tag.utf8[...]
        guard opaque.count >= 2, opaque.first == UInt8(ascii: "\""), opaque.last == UInt8(ascii: "\"") else {
            return false
        }
        return opaque.dropFirst().dropLast().allSatisfy { $0 == 0x21 || (0x23...0x7E).contains($0) || $0 >= 0x80 }
    }

    static func warnings(pendingManager: String?) -> [(SyncEvent.Kind, String, [String])] {
        guard pendingManager != nil else { return [] }
        return [
            (.unresolvedManager, "The manager is not provisioned yet; they will be linked when they are.", ["manager"])
        ]
    }

    /// Writes every SCIM-owned column, resolves the manager, moves the department team and links
    /// anyone who was waiting for this user as their manager.
    /// - Returns: the manager reference left pending (nobody has that id or email yet), if any.
    @discardableResult
    static func save(
        _ user: User, id: UUID, existing: PostgresRow?, mappings: [CustomFieldMapping], schema: PostgresIdentifier,
        on connection: PostgresConnection
    ) throws -> String? {
        let email = user.primaryEmail
        let (managerID, pendingManager) = try resolveManager(user, id: id, schema: schema, on: connection)
        var custom: [String: JSONValue] = [:]
        for mapping in mappings {
            if let value = user.customFields[mapping.key] { custom[mapping.field] = value }
        }
        let customJSON = PostgresJSONB(String(decoding: JSONValue.object(custom).serialized(), as: UTF8.self))
        let emailsJSON = PostgresJSONB(
            String(
                decoding: JSONValue.array(
                    user.emails.map { email in
                        var element: [String: JSONValue] = [
                            "value": .string(email.value), "primary": .bool(email.primary),
                        ]
                        element["type"] = email.type.map(JSONValue.string)
                        element["display"] = email.display.map(JSONValue.string)
                        return .object(element)
                    }
                ).serialized(), as: UTF8.self))
        // One statement: insert or update every SCIM-owned column (the role only on insert), and link
        // anyone whose manager reference was waiting for this person.
        let upsert: PostgresQuery = """
                \(waitingReports(of: id, names: [user.userName, email], schema: schema))
                INSERT INTO \(schema).users AS u (
                    id, user_name, email, external_id, given_name, family_name, formatted_name, display_name, title,
                    timezone, active, emails, employee_number, cost_center, organization, division, department,
                    manager_id, pending_manager, hire_date, custom_fields, scim_managed, role)
                VALUES (
                    \(id), \(user.userName), \(email), \(user.externalID), \(user.givenName), \(user.familyName),
                    \(user.formattedName), \(user.displayName), \(user.title), \(user.timezone), \(user.active), \(emailsJSON),
                    \(user.employeeNumber), \(user.costCenter), \(user.organization), \(user.division), \(user.department),
                    \(managerID), \(pendingManager), \(user.hireDate)::date, \(customJSON), true, 'viewer')
                ON CONFLICT (id) DO UPDATE SET
                    user_name = EXCLUDED.user_name, email = EXCLUDED.email, external_id = EXCLUDED.external_id,
                    given_name = EXCLUDED.given_name, family_name = EXCLUDED.family_name,
                    formatted_name = EXCLUDED.formatted_name, display_name = EXCLUDED.display_name, title = EXCLUDED.title,
                    timezone = EXCLUDED.timezone, active = EXCLUDED.active, emails = EXCLUDED.emails,
                    employee_number = EXCLUDED.employee_number, cost_center = EXCLUDED.cost_center,
                    organization = EXCLUDED.organization, division = EXCLUDED.division, department = EXCLUDED.department,
                    manager_id = EXCLUDED.manager_id, pending_manager = EXCLUDED.pending_manager,
                    hire_date = EXCLUDED.hire_date, custom_fields = EXCLUDED.custom_fields, scim_managed = true,
                    updated_at = now(), version = u.version + 1
            """
        if TeamMembership.departmentUnchanged(
            user.department, currentTeamName: try existing?.decode("primary_team_name"))
        {
            // Nothing else in the transaction needs the row before the caller reads it back, so the
            // write goes out in the commit's round trip: two round trips for the request, not three.
            try connection.deferUntilCommit(upsert)
        } else {
            _ = try mappingUniqueViolation(user) { try connection.query(upsert) }
            let previousTeam: UUID? = try existing?.decode("primary_team_id")
            try TeamMembership.assignDepartment(
                user.department, userID: id, previousTeam: previousTeam, schema: schema, on: connection)
        }
        return pendingManager
    }

    /// The 409 for a POST whose userName or login email is a SCIM-managed user's userName or email,
    /// naming the request's attribute that clashed (both, when both did).
    static func clash(_ user: User, email: String, with managed: [PostgresRow]) throws -> SCIMError {
        var taken: Set<String> = []
        for row in managed {
            taken.insert(try row.decode("user_name", as: String.self).lowercased())
            if let existing = try row.decode("email", as: String?.self) { taken.insert(existing.lowercased()) }
        }
        var clashes: [String] = []
        if taken.contains(user.userName.lowercased()) { clashes.append("userName \(user.userName)") }
        if email.lowercased() != user.userName.lowercased(), taken.contains(email.lowercased()) {
            clashes.append("email \(email)")
        }
        if clashes.isEmpty { clashes.append("userName \(user.userName)") }
        return SCIMError.uniqueness("A provisioned user already has the \(clashes.joined(separator: " and the ")).")
    }

    /// Runs `body`, answering a unique violation on the users table with 409 `uniqueness`. `save`'s
    /// write runs either at once or with the commit, so both places are wrapped.
    static func mappingUniqueViolation<R>(_ user: User, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            let what =
                error.constraint == "users_email_key" ? "email \(user.primaryEmail)" : "userName \(user.userName)"
            throw SCIMError.uniqueness("Another user already has \(what).")
        }
    }

    /// Users whose manager reference named this person before they existed now get them as manager.
    static func linkWaitingReports(
        to id: UUID, names: [String], schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws {
        _ = try connection.query("\(waitingReports(of: id, names: names, schema: schema)) SELECT 1")
    }

    /// The linking as a `WITH` clause, so a write can carry it in its own statement (constraints are
    /// checked at the end of the statement, when the manager's row exists).
    private static func waitingReports(of id: UUID, names: [String], schema: PostgresIdentifier) -> PostgresQuery {
        """
        WITH linked AS (
            UPDATE \(schema).users SET manager_id = \(id), pending_manager = NULL, updated_at = now(), version = version + 1
            WHERE pending_manager IS NOT NULL AND id <> \(id)
              AND (lower(pending_manager) = ANY(\(names.map { $0.lowercased() })) OR lower(pending_manager) = \(id.lowercasedString))
        )
        """
    }

    /// A manager may be named by SCIM id or by email/userName; one not provisioned yet is remembered.
    private static func resolveManager(
        _ user: User, id: UUID, schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws -> (UUID?, String?) {
        guard let reference = user.managerReference?.trimmingCharacters(in: .whitespaces), !reference.isEmpty else {
            return (nil, nil)
        }
        let selfReference =
            UUID(uuidString: reference) == id || reference.lowercased() == user.userName.lowercased()
            || reference.lowercased() == user.primaryEmail.lowercased()
        guard !selfReference else { throw SCIMError.invalidValue("A user cannot be their own manager.") }
        let rows: PostgresRows
        if let managerID = UUID(uuidString: reference) {
            rows = try connection.query("SELECT id FROM \(schema).users WHERE id = \(managerID)")
        } else {
            rows = try connection.query(
                """
                SELECT id FROM \(schema).users WHERE lower(user_name) = lower(\(reference)::text) OR lower(email) = lower(\(reference)::text)
                ORDER BY scim_managed DESC LIMIT 1
                """)
        }
        if let row = rows.first { return (try row.decode("id", as: UUID.self), nil) }
        return (nil, reference)
    }
}
