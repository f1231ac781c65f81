import Foundation
import Postgres
import SCIM

/// A team as SCIM sees it; `members` is nil when they were not loaded.
public struct StoredGroup: Sendable, Equatable {
    public var displayName: String
    public var externalID: String?
    public var members: [User.Reference]?
    public var metadata: GroupMetadata
}

/// A team as staff see it in the admin API.
public struct TeamSummary: Sendable, Equatable {
    public var id: UUID
    public var name: String
    /// Members SCIM lists (users released by `DELETE /Users` are not counted, as SCIM does not list them).
    public var memberCount: Int
    /// `group` (pushed by the identity provider), `department` (from users' departments) or `both`.
    public var source: String
}

/// SCIM Groups as Learn Amp teams. Membership changes are set-based statements (one per kind of change,
/// whatever the number of members), so a change costs in proportion to itself, not to the group.
public struct GroupStore: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// POST /Groups. A department team of the same name is claimed (it becomes a pushed group too);
    /// an existing pushed group of that name is 409 `uniqueness`.
    public func create(_ tenant: Tenant, group: Group, includeMembers: Bool, origin: EventOrigin) async throws
        -> StoredGroup
    {
        let schema = tenant.schema
        return try await client.withTransaction { connection in
            try Self.validateMembers(group.members, schema: schema, on: connection)
            let existing = try connection.query(
                "SELECT id, is_group FROM \(schema).teams WHERE lower(display_name) = lower(\(group.displayName)::text) FOR UPDATE"
            )
            let id: UUID
            if let row = existing.first {
                guard try !row.decode("is_group", as: Bool.self) else {
                    throw SCIMError.uniqueness("A group named \(group.displayName) already exists.")
                }
                id = try row.decode("id")
                _ = try connection.query(
                    """
                    UPDATE \(schema).teams SET is_group = true, display_name = \(group.displayName), external_id = \(group.externalID),
                           updated_at = now(), version = version + 1
                    WHERE id = \(id)
                    """)
            } else {
                id = UUID()
                do {
                    _ = try connection.query(
                        """
                        INSERT INTO \(schema).teams (id, display_name, external_id, is_group)
                        VALUES (\(id), \(group.displayName), \(group.externalID), true)
                        """)
                } catch let error as PostgresError where error.sqlState == .uniqueViolation {
                    throw SCIMError.uniqueness("A group named \(group.displayName) already exists.")
                }
            }
            try Self.addMembers(group.members.ids, to: id, schema: schema, on: connection)
            try WriteEvents(origin: origin).record(
                result: .created, resourceType: "Group", resourceID: id, userName: nil,
                changes: ["displayName"] + (group.externalID == nil ? [] : ["externalId"])
                    + (group.members.isEmpty ? [] : ["members"]),
                schema: schema, on: connection)
            guard let stored = try Self.fetch(id, includeMembers: includeMembers, schema: schema, on: connection) else {
                throw PostgresError(code: .decoding, message: "the group just written was not found")
            }
            return stored
        }
    }

    /// GET /Groups/{id}; members are read only when the response will show them.
    public func get(_ tenant: Tenant, id: UUID, includeMembers: Bool) async throws -> StoredGroup {
        let schema = tenant.schema
        guard
            let group = try await client.withConnection({ connection in
                try Self.fetch(id, includeMembers: includeMembers, schema: schema, on: connection)
            })
        else { throw Self.notFound(id) }
        return group
    }

    /// PUT /Groups/{id}: name, externalId and the whole pushed member list, in one transaction.
    ///
    /// Okta's App Integration Wizard apps push a group as a PUT of all its members. The new list is
    /// applied as a set difference in SQL: members no longer listed lose their pushed membership,
    /// listed users who are not members gain one, and every other membership row is left as it is.
    public func replace(
        _ tenant: Tenant, id: UUID, group: Group, ifMatch: String?, includeMembers: Bool, origin: EventOrigin
    ) async throws -> StoredGroup {
        let schema = tenant.schema
        return try await client.withTransaction { connection in
            try Self.lock(id, ifMatch: ifMatch, schema: schema, on: connection)
            try Self.rename(id, to: group.displayName, schema: schema, on: connection)
            _ = try connection.query("UPDATE \(schema).teams SET external_id = \(group.externalID) WHERE id = \(id)")
            // When the response shows the members, the read-back that renders them also validates the
            // list (every listed id must come back as a SCIM-visible member), so 50,000 ids are looked
            // up in `users` once rather than twice; a bad id then rolls the whole transaction back.
            if includeMembers {
                try Self.rejectNonUUIDs(group.members)
            } else {
                try Self.validateMembers(group.members, schema: schema, on: connection)
            }
            try Self.setMembers(group.members.ids, of: id, schema: schema, on: connection)
            guard
                let stored = try Self.finish(
                    id, changes: ["displayName", "externalId", "members"], unknownAttributes: [], render: true,
                    includeMembers: includeMembers, origin: origin, schema: schema, on: connection)
            else { throw Self.notFound(id) }
            if includeMembers { try Self.checkListed(group.members.ids, against: stored.members ?? []) }
            return stored
        }
    }

    /// PATCH /Groups/{id}, applied set-based and atomically.
    /// - Returns: the group when `includeMembers` or a representation is wanted (`render`), else nil.
    @discardableResult
    public func apply(
        _ plan: GroupPatchPlan, tenant: Tenant, id: UUID, ifMatch: String?, includeMembers: Bool, render: Bool = true,
        origin: EventOrigin
    ) async throws -> StoredGroup? {
        let schema = tenant.schema
        return try await client.withTransaction { connection in
            try Self.lock(id, ifMatch: ifMatch, schema: schema, on: connection)
            if case .some(let name) = plan.displayName {
                try Self.rename(id, to: name, schema: schema, on: connection)
            }
            if case .some(let externalID) = plan.externalId {
                _ = try connection.query("UPDATE \(schema).teams SET external_id = \(externalID) WHERE id = \(id)")
            }
            if let replacement = plan.replaceMembers {
                let members = MemberList(replacement)
                try Self.validateMembers(members, schema: schema, on: connection)
                try Self.setMembers(members.ids, of: id, schema: schema, on: connection)
            } else {
                if plan.removeAllMembers {
                    try Self.setMembers([], of: id, schema: schema, on: connection)
                } else if !plan.removeMembers.isEmpty {
                    // Ids that are not UUIDs cannot be members; removing them is a no-op.
                    try Self.removeMembers(MemberList(plan.removeMembers).ids, from: id, schema: schema, on: connection)
                }
                let added = MemberList(plan.addMembers)
                try Self.validateMembers(added, schema: schema, on: connection)
                try Self.addMembers(added.ids, to: id, schema: schema, on: connection)
            }
            var changes: [String] = []
            if plan.displayName != nil { changes.append("displayName") }
            if plan.externalId != nil { changes.append("externalId") }
            if plan.changesMembers { changes.append("members") }
            return try Self.finish(
                id, changes: changes, unknownAttributes: plan.unknownAttributes, render: render,
                includeMembers: includeMembers, origin: origin, schema: schema, on: connection)
        }
    }

    /// DELETE /Groups/{id}: the team and its memberships go; users keep their accounts.
    public func delete(_ tenant: Tenant, id: UUID, ifMatch: String?, origin: EventOrigin) async throws {
        let schema = tenant.schema
        try await client.withTransaction { connection in
            let rows = try connection.query("SELECT version FROM \(schema).teams WHERE id = \(id) FOR UPDATE")
            guard let row = rows.first else { throw Self.notFound(id) }
            if let ifMatch { try UserStore.check(ifMatch, version: try row.decode("version")) }
            _ = try connection.query("DELETE FROM \(schema).teams WHERE id = \(id)")
            try WriteEvents(origin: origin).record(
                result: .noContent, resourceType: "Group", resourceID: id, userName: nil, changes: ["members"],
                schema: schema,
                on: connection)
        }
    }

    /// GET /Groups and POST /Groups/.search; members of the page are loaded in one query, if wanted.
    public func list(_ tenant: Tenant, request: ListRequest, includeMembers: Bool) async throws -> ListPage<StoredGroup>
    {
        let schema = tenant.schema
        return try await client.withConnection { connection in
            var condition: PostgresQuery = "TRUE"
            var atMostOneRow = false
            if let filter = request.filter {
                let compiler = FilterCompiler { Self.attribute($0, schema: schema) }
                condition = try compiler.compile(filter)
                atMostOneRow = compiler.matchesAtMostOneRow(filter)
            }
            var page = try ListPaging.page(
                request: request, columns: Self.columns, table: "\(schema).teams", alias: Self.alias, key: Self.id,
                condition: condition, atMostOneRow: atMostOneRow,
                sortKey: { path in
                    // Groups sort every text attribute ignoring case, externalId too.
                    switch Self.attribute(path, schema: schema) {
                    case .text(let e, _)?: e.lowercased.sql
                    case .uuid(let e)?, .timestamp(let e)?: e.sql
                    default: nil
                    }
                },
                on: connection, decode: Self.decode)
            if includeMembers, !page.items.isEmpty {
                let members = try Self.members(of: page.items.map(\.metadata.id), schema: schema, on: connection)
                for index in page.items.indices {
                    page.items[index].members = members[page.items[index].metadata.id] ?? []
                }
            }
            return page
        }
    }

    /// Teams with their member counts and where they come from, for staff.
    public func teams(_ tenant: Tenant) async throws -> [TeamSummary] {
        let schema = tenant.schema
        return try await client.query(
            """
            SELECT t.id, t.display_name, t.is_group,
                   count(u.id) AS members, bool_or(COALESCE(m.via_department, false)) AS has_department
            FROM \(schema).teams t LEFT JOIN \(schema).team_members m ON m.team_id = t.id
            LEFT JOIN \(schema).users u ON u.id = m.user_id AND u.scim_managed
            GROUP BY t.id ORDER BY lower(t.display_name)
            """
        ).map { row in
            let isGroup: Bool = try row.decode("is_group")
            let department: Bool = try row.decode("has_department")
            return TeamSummary(
                id: try row.decode("id"), name: try row.decode("display_name"), memberCount: try row.decode("members"),
                source: isGroup ? (department ? "both" : "group") : "department")
        }
    }

    // MARK: - Inside a transaction

    /// Locks the team's row for the rest of the transaction and checks `If-Match` against it.
    static func lock(_ id: UUID, ifMatch: String?, schema: PostgresIdentifier, on connection: PostgresConnection) throws
    {
        let rows = try connection.query("SELECT version FROM \(schema).teams WHERE id = \(id) FOR UPDATE")
        guard let row = rows.first else { throw Self.notFound(id) }
        if let ifMatch { try UserStore.check(ifMatch, version: try row.decode("version")) }
    }

    static func rename(_ id: UUID, to name: String?, schema: PostgresIdentifier, on connection: PostgresConnection)
        throws
    {
        guard let name = name?.trimmingCharacters(in: .whitespacesAndNewlines), !name.isEmpty, name.count <= 255 else {
            throw SCIMError.invalidValue("displayName must be 1-255 characters.")
        }
        do {
            _ = try connection.query("UPDATE \(schema).teams SET display_name = \(name) WHERE id = \(id)")
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            throw SCIMError.uniqueness("Another group is already named \(name).")
        }
    }

    /// Bumps the version, records the write's event and reads the group back if it is to be shown.
    static func finish(
        _ id: UUID, changes: [String], unknownAttributes: [String], render: Bool, includeMembers: Bool,
        origin: EventOrigin, schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws -> StoredGroup? {
        _ = try connection.query(
            "UPDATE \(schema).teams SET is_group = true, updated_at = now(), version = version + 1 WHERE id = \(id)")
        try WriteEvents(origin: origin, unknownAttributes: unknownAttributes).record(
            result: render ? .returned : .noContent, resourceType: "Group", resourceID: id, userName: nil,
            changes: changes,
            schema: schema, on: connection)
        return render ? try Self.fetch(id, includeMembers: includeMembers, schema: schema, on: connection) : nil
    }

    static func notFound(_ id: UUID) -> SCIMError {
        .notFound("Group \(id.lowercasedString) not found.")
    }

    static let columns: PostgresQuery =
        "SELECT t.id, t.display_name, t.external_id, t.created_at, t.updated_at, t.version"

    static func select(_ schema: PostgresIdentifier) -> PostgresQuery {
        "\(columns) FROM \(schema).teams t"
    }

    static func decode(_ row: PostgresRow) throws -> StoredGroup {
        StoredGroup(
            displayName: try row.decode("display_name"), externalID: try row.decode("external_id"), members: nil,
            metadata: GroupMetadata(
                id: try row.decode("id"), created: try row.decode("created_at"),
                lastModified: try row.decode("updated_at"),
                version: try row.decode("version")))
    }

    static func fetch(_ id: UUID, includeMembers: Bool, schema: PostgresIdentifier, on connection: PostgresConnection)
        throws -> StoredGroup?
    {
        guard let row = try connection.query("\(select(schema)) WHERE t.id = \(id)").first else { return nil }
        var group = try decode(row)
        if includeMembers { group.members = try members(of: id, schema: schema, on: connection) }
        return group
    }

    /// Members of one team, in user id order. Users released by DELETE are not listed.
    ///
    /// Sorted here rather than by `ORDER BY`: PostgreSQL sorted 50,000 rows on disk (past `work_mem`)
    /// in about 30 ms. Both orders compare the id's 16 bytes as unsigned bytes, as `uuid_cmp` does.
    static func members(
        of team: UUID, schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws -> [User.Reference] {
        var members: [User.Reference] = []
        do {
            let rows = try connection.query(
                """
                SELECT m.user_id,
                       COALESCE(u.display_name, NULLIF(concat_ws(' ', u.given_name, u.family_name), ''), u.user_name)
                         AS display
                FROM \(schema).team_members m JOIN \(schema).users u ON u.id = m.user_id AND u.scim_managed
                WHERE m.team_id = \(team)
                """)
            members.reserveCapacity(rows.count)
            for row in rows {
                members.append(
                    User.Reference(id: try row.decode(0, as: UUID.self), display: try row.decode(1, as: String?.self)))
            }
        }
        members.sort { Self.orderKey($0.id) < Self.orderKey($1.id) }
        return members
    }

    /// The id's bytes as two big-endian integers, so tuples compare as PostgreSQL orders uuids.
    static func orderKey(_ id: UUID) -> (UInt64, UInt64) {
        withUnsafeBytes(of: id.uuid) { bytes in
            (
                UInt64(bigEndian: bytes.loadUnaligned(as: UInt64.self)),
                UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            )
        }
    }

    /// Members of several teams in one query. Users released by DELETE are not listed.
    static func members(of teams: [UUID], schema: PostgresIdentifier, on connection: PostgresConnection) throws
        -> [UUID: [User.Reference]]
    {
        var result: [UUID: [User.Reference]] = [:]
        for row in try connection.query(
            """
            SELECT m.team_id, m.user_id,
                   COALESCE(u.display_name, NULLIF(concat_ws(' ', u.given_name, u.family_name), ''), u.user_name) AS display
            FROM \(schema).team_members m JOIN \(schema).users u ON u.id = m.user_id AND u.scim_managed
            WHERE m.team_id = ANY(\(teams)) ORDER BY m.team_id, m.user_id
            """)
        {
            result[try row.decode("team_id"), default: []].append(
                User.Reference(id: try row.decode("user_id"), display: try row.decode("display")))
        }
        return result
    }

    /// Every id must name a SCIM-visible user of this organisation; otherwise nothing changes. The
    /// first id that does not, in the order sent, is named in the error. One anti-join in SQL, with
    /// the ids bound as one `uuid[]`.
    static func validateMembers(_ members: MemberList, schema: PostgresIdentifier, on connection: PostgresConnection)
        throws
    {
        try rejectNonUUIDs(members)
        guard !members.ids.isEmpty else { return }
        let missing = try connection.query(
            """
            SELECT w.id FROM unnest(\(members.ids)::uuid[]) WITH ORDINALITY AS w(id, n)
            WHERE NOT EXISTS (SELECT 1 FROM \(schema).users u WHERE u.id = w.id AND u.scim_managed)
            ORDER BY w.n LIMIT 1
            """)
        if let row = missing.first {
            throw SCIMError.invalidValue(
                "Member \(try row.decode(0, as: UUID.self).lowercasedString) is not a user of this organisation.")
        }
    }

    /// Values that are not UUIDs cannot name a user: the first is named in the error.
    static func rejectNonUUIDs(_ members: MemberList) throws {
        if let text = members.others.first {
            throw SCIMError.invalidValue("Member \(text.prefix(64)) is not a user of this organisation.")
        }
    }

    /// Checks a replaced member list against the team's SCIM-visible members read back after it was
    /// applied: a listed id missing from them is not a user of this organisation (`setMembers` adds
    /// only such users), and the first, in the order sent, is named as `validateMembers` names it.
    static func checkListed(_ ids: [UUID], against members: [User.Reference]) throws {
        var present = Set<UUID>(minimumCapacity: members.count)
        members.withUnsafeBufferPointer { members in
            for index in members.indices { present.insert(members[index].id) }
        }
        if let missing = ids.first(where: { !present.contains($0) }) {
            throw SCIMError.invalidValue("Member \(missing.lowercasedString) is not a user of this organisation.")
        }
    }

    /// Makes `ids` the team's pushed members in one statement: the list and the team's current rows
    /// are matched once (a hash full join), and only the rows that differ are written. Members no
    /// longer listed lose their pushed membership (department members stay members), listed
    /// department members gain it, and listed SCIM-visible users who are not members get a row; every
    /// other row is left as it is. Listed ids that are not SCIM-visible users are skipped here: callers
    /// validate the list before (`validateMembers`) or after (`checkListed`). Duplicates are allowed and
    /// not removed first (a hash aggregate of 50,000 ids cost a third of the statement): a duplicated
    /// new member is inserted once (`ON CONFLICT DO NOTHING`), a duplicated promotion updates its row once.
    static func setMembers(
        _ ids: [UUID], of team: UUID, schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws {
        _ = try connection.query(
            """
            WITH listed AS (SELECT l.id FROM unnest(\(ids)::uuid[]) AS l(id)),
            current AS (
                SELECT m.user_id, m.via_group, m.via_department FROM \(schema).team_members m
                WHERE m.team_id = \(team)
            ),
            changes AS MATERIALIZED (
                SELECT l.id AS listed_id, c.user_id, c.via_group, c.via_department
                FROM listed l FULL JOIN current c ON c.user_id = l.id
                WHERE l.id IS NULL OR c.user_id IS NULL OR NOT c.via_group
            ),
            removed AS (
                DELETE FROM \(schema).team_members m USING changes c
                WHERE c.listed_id IS NULL AND NOT c.via_department AND m.team_id = \(team) AND m.user_id = c.user_id
            ),
            demoted AS (
                UPDATE \(schema).team_members m SET via_group = false FROM changes c
                WHERE c.listed_id IS NULL AND c.via_department AND c.via_group
                  AND m.team_id = \(team) AND m.user_id = c.user_id
            ),
            promoted AS (
                UPDATE \(schema).team_members m SET via_group = true FROM changes c
                WHERE c.listed_id IS NOT NULL AND c.user_id IS NOT NULL AND NOT c.via_group
                  AND m.team_id = \(team) AND m.user_id = c.user_id
            )
            INSERT INTO \(schema).team_members (team_id, user_id, via_group)
            SELECT \(team), c.listed_id, true
            FROM changes c JOIN \(schema).users u ON u.id = c.listed_id AND u.scim_managed
            WHERE c.user_id IS NULL
            ON CONFLICT (team_id, user_id) DO NOTHING
            """)
    }

    /// Gives `ids` a pushed membership. New members get a row; department members who were not
    /// pushed gain `via_group`; pushed members' rows are not written at all. Duplicates are allowed.
    static func addMembers(_ ids: [UUID], to team: UUID, schema: PostgresIdentifier, on connection: PostgresConnection)
        throws
    {
        guard !ids.isEmpty else { return }
        _ = try connection.query(
            """
            WITH wanted AS (SELECT DISTINCT w.id FROM unnest(\(ids)::uuid[]) AS w(id)),
            promoted AS (
                UPDATE \(schema).team_members m SET via_group = true FROM wanted w
                WHERE m.team_id = \(team) AND m.user_id = w.id AND NOT m.via_group
            )
            INSERT INTO \(schema).team_members (team_id, user_id, via_group)
            SELECT \(team), w.id, true FROM wanted w
            WHERE NOT EXISTS (SELECT 1 FROM \(schema).team_members m WHERE m.team_id = \(team) AND m.user_id = w.id)
            ON CONFLICT (team_id, user_id) DO NOTHING
            """)
    }

    /// Takes the pushed membership away from `ids`; department members stay members.
    static func removeMembers(
        _ ids: [UUID], from team: UUID, schema: PostgresIdentifier, on connection: PostgresConnection
    ) throws {
        guard !ids.isEmpty else { return }
        _ = try connection.query(
            """
            WITH kept AS (
                UPDATE \(schema).team_members SET via_group = false
                WHERE team_id = \(team) AND user_id = ANY(\(ids)) AND via_department AND via_group
            )
            DELETE FROM \(schema).team_members WHERE team_id = \(team) AND user_id = ANY(\(ids)) AND NOT via_department
            """)
    }

    /// The teams table's alias in every group list.
    static let alias = SQLName("t")
    static let id = alias.column("id", unique: true)
    static let displayName = alias.column("display_name", unique: true)
    /// The scalar attributes, by lowercased key: built once.
    private static let scalarColumns: [String: SQLAttribute] = [
        "id": .uuid(id),
        "displayname": .text(displayName),
        "externalid": .text(alias.column("external_id"), caseExact: true),
        "meta.created": .timestamp(alias.column("created_at")),
        "meta.lastmodified": .timestamp(alias.column("updated_at")),
    ]

    /// A member's columns in the `members` filter's EXISTS subquery; `display` as `decode` renders it.
    private static let memberElements: [String: SQLAttribute] = [
        "value": .uuid(SQLName("gm").column("user_id")),
        "display": .text(
            SQLColumn(
                expression:
                    "COALESCE(gu.display_name, NULLIF(concat_ws(' ', gu.given_name, gu.family_name), ''), gu.user_name)"
            )),
    ]

    static func attribute(_ path: AttributePath, schema: PostgresIdentifier) -> SQLAttribute? {
        if let urn = path.schema, urn.lowercased() != SchemaURN.group.lowercased() { return nil }
        switch path.key {
        case "members":
            return .collection(
                exists: { condition in
                    """
                    EXISTS (SELECT 1 FROM \(schema).team_members gm JOIN \(schema).users gu ON gu.id = gm.user_id AND gu.scim_managed
                            WHERE gm.team_id = t.id AND \(condition))
                    """
                },
                elements: memberElements, defaultElement: "value")
        default: return scalarColumns[path.key]
        }
    }
}
