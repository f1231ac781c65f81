import Foundation
import Postgres
import SCIM

/// Which users a staff search shows.
public enum UserFilter: String, Sendable, CaseIterable {
    case all, active, deactivated, scim, manual
}

/// A user as a staff listing shows them.
public struct UserSummary: Sendable, Equatable {
    public var id: UUID
    public var userName: String
    public var email: String
    public var displayName: String?
    public var givenName: String?
    public var familyName: String?
    public var active: Bool
    public var managedBySCIM: Bool
    public var updatedAt: Date

    /// The name staff would call the person by: the display name, else given and family name, else
    /// the userName.
    public var name: String {
        if let displayName, !displayName.isEmpty { return displayName }
        let parts = [givenName, familyName].compactMap { $0 }.filter { !$0.isEmpty }
        return parts.isEmpty ? userName : parts.joined(separator: " ")
    }

    static let columns = """
        u.id, u.user_name, COALESCE(u.email, u.user_name) AS email, u.display_name, u.given_name, u.family_name,
        u.active, u.scim_managed, u.updated_at
        """

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        userName = try row.decode("user_name")
        email = try row.decode("email")
        displayName = try row.decode("display_name")
        givenName = try row.decode("given_name")
        familyName = try row.decode("family_name")
        active = try row.decode("active")
        managedBySCIM = try row.decode("scim_managed")
        updatedAt = try row.decode("updated_at")
    }
}

/// One user with what support checks after a sync: manager, teams, custom-field values, SCIM ids.
public struct UserDetail: Sendable {
    public struct Manager: Sendable, Equatable {
        public var id: UUID
        public var userName: String
        public var name: String
    }

    public struct TeamRef: Sendable, Equatable {
        public var id: UUID
        public var name: String
    }

    public var user: UserSummary
    public var externalID: String?
    public var title: String?
    public var department: String?
    public var role: String
    public var createdAt: Date
    public var manager: Manager?
    /// A manager reference that names nobody yet (linked when that person arrives).
    public var pendingManager: String?
    public var teams: [TeamRef]
    /// Mapped custom fields by Learn Amp field name, as stored.
    public var customFields: [String: JSONValue]
}

/// A team with its members, for staff.
public struct TeamDetail: Sendable {
    public var id: UUID
    public var name: String
    public var externalID: String?
    public var isGroup: Bool
    public var memberCount: Int
    public var members: [UserSummary]
}

/// Staff reads of an organisation's users and teams: search, filters, paging, one user in full.
public struct UserDirectory: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Users matching `search` (a part of the userName, email or name, case-insensitive) and `filter`,
    /// ordered by userName; one more than `limit` is read to tell whether a next page exists.
    public func search(
        _ tenant: Tenant, search: String?, filter: UserFilter, limit: Int, offset: Int
    ) async throws -> (users: [UserSummary], hasMore: Bool) {
        let schema = tenant.schema
        let needle = search.map { String($0.lowercased().prefix(200)) }
        let rows = try await client.query(
            """
            SELECT \(unsafeSQL: UserSummary.columns) FROM \(schema).users u
            WHERE (\(needle)::text IS NULL OR strpos(lower(u.user_name), \(needle)::text) > 0
                   OR strpos(lower(COALESCE(u.email, '')), \(needle)::text) > 0
                   OR strpos(lower(COALESCE(u.display_name, '')), \(needle)::text) > 0
                   OR strpos(lower(concat_ws(' ', u.given_name, u.family_name)), \(needle)::text) > 0)
              AND CASE \(filter.rawValue)::text
                    WHEN 'active' THEN u.active WHEN 'deactivated' THEN NOT u.active
                    WHEN 'scim' THEN u.scim_managed WHEN 'manual' THEN NOT u.scim_managed ELSE true END
            ORDER BY lower(u.user_name), u.id LIMIT \(limit + 1) OFFSET \(offset)
            """)
        let users = try rows.prefix(limit).map(UserSummary.init(row:))
        return (users, rows.count > limit)
    }

    /// - Throws: `StoreError.notFound` when the organisation has no such user.
    public func user(_ tenant: Tenant, id: UUID) async throws -> UserDetail {
        let schema = tenant.schema
        return try await client.withConnection { connection in
            let rows = try connection.query(
                """
                SELECT \(unsafeSQL: UserSummary.columns), u.external_id, u.title, u.department, u.role, u.created_at,
                       u.pending_manager, u.custom_fields::text AS custom_fields,
                       m.id AS manager_id, m.user_name AS manager_user_name,
                       COALESCE(NULLIF(m.display_name, ''),
                                NULLIF(concat_ws(' ', m.given_name, m.family_name), ''), m.user_name) AS manager_name
                FROM \(schema).users u LEFT JOIN \(schema).users m ON m.id = u.manager_id
                WHERE u.id = \(id)
                """)
            guard let row = rows.first else {
                throw StoreError.notFound("user", "No user \(id.lowercasedString) in this organisation.")
            }
            let teams = try connection.query(
                """
                SELECT t.id, t.display_name FROM \(schema).team_members tm JOIN \(schema).teams t ON t.id = tm.team_id
                WHERE tm.user_id = \(id) ORDER BY lower(t.display_name)
                """
            ).map { UserDetail.TeamRef(id: try $0.decode("id"), name: try $0.decode("display_name")) }
            var manager: UserDetail.Manager?
            if let managerID = try row.decode("manager_id", as: UUID?.self) {
                manager = .init(
                    id: managerID, userName: try row.decode("manager_user_name"), name: try row.decode("manager_name"))
            }
            let fieldsText: String = try row.decode("custom_fields")
            let fields = (try? JSONValue.parse(Array(fieldsText.utf8)))?.objectValue ?? [:]
            return UserDetail(
                user: try UserSummary(row: row), externalID: try row.decode("external_id"),
                title: try row.decode("title"),
                department: try row.decode("department"), role: try row.decode("role"),
                createdAt: try row.decode("created_at"),
                manager: manager, pendingManager: try row.decode("pending_manager"), teams: teams, customFields: fields)
        }
    }

    /// - Throws: `StoreError.notFound` when the organisation has no such team.
    public func team(_ tenant: Tenant, id: UUID, limit: Int, offset: Int) async throws -> (
        team: TeamDetail, hasMore: Bool
    ) {
        let schema = tenant.schema
        return try await client.withConnection { connection in
            let rows = try connection.query(
                """
                SELECT t.id, t.display_name, t.external_id, t.is_group,
                       (SELECT count(*) FROM \(schema).team_members WHERE team_id = t.id) AS members
                FROM \(schema).teams t WHERE t.id = \(id)
                """)
            guard let row = rows.first else {
                throw StoreError.notFound("team", "No team \(id.lowercasedString) in this organisation.")
            }
            let members = try connection.query(
                """
                SELECT \(unsafeSQL: UserSummary.columns)
                FROM \(schema).team_members tm JOIN \(schema).users u ON u.id = tm.user_id
                WHERE tm.team_id = \(id) ORDER BY lower(u.user_name), u.id LIMIT \(limit + 1) OFFSET \(offset)
                """
            ).map(UserSummary.init(row:))
            let team = TeamDetail(
                id: try row.decode("id"), name: try row.decode("display_name"),
                externalID: try row.decode("external_id"),
                isGroup: try row.decode("is_group"), memberCount: try row.decode("members"),
                members: Array(members.prefix(limit)))
            return (team, members.count > limit)
        }
    }
}
