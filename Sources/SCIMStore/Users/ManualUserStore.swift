import Foundation
import Postgres
import SCIM

/// Learn Amp roles. SCIM creates viewers and never changes a role; staff and the Learn Amp app do.
public enum LearnAmpRole: String, Sendable, Codable, CaseIterable {
    case viewer, curator, manager, admin, owner
}

/// A user as support staff see them in the admin API.
public struct AdminUser: Sendable, Equatable {
    public var id: UUID
    public var email: String
    public var userName: String
    public var firstName: String?
    public var lastName: String?
    public var active: Bool
    public var role: String
    public var managedBySCIM: Bool
    public var department: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// `{"id", "userName"}` of the manager, when the user has one in Learn Amp.
    public var manager: JSONValue?
    /// `[{"id", "name"}]` of the teams the user is in, by name.
    public var teams: [JSONValue]
    /// Mapped custom fields by Learn Amp field name, as stored.
    public var customFields: [String: JSONValue]

    /// The columns of a `users` row in `schema`, with the manager, the teams and the custom fields as
    /// JSON texts (so support can confirm a first sync without the customer's SCIM token).
    static func columns(_ schema: PostgresIdentifier) -> PostgresQuery {
        """
        id, COALESCE(email, user_name) AS email, user_name, given_name, family_name, active, role, scim_managed,
        department, created_at, updated_at,
        (SELECT jsonb_build_object('id', m.id, 'userName', m.user_name)
         FROM \(schema).users m WHERE m.id = users.manager_id)::text AS manager_json,
        (SELECT COALESCE(jsonb_agg(
             jsonb_build_object('id', t.id, 'name', t.display_name) ORDER BY lower(t.display_name)), '[]')
         FROM \(schema).team_members tm JOIN \(schema).teams t ON t.id = tm.team_id
         WHERE tm.user_id = users.id)::text AS teams_json,
        users.custom_fields::text AS custom_fields_json
        """
    }

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        email = try row.decode("email")
        userName = try row.decode("user_name")
        firstName = try row.decode("given_name")
        lastName = try row.decode("family_name")
        active = try row.decode("active")
        role = try row.decode("role")
        managedBySCIM = try row.decode("scim_managed")
        department = try row.decode("department")
        createdAt = try row.decode("created_at")
        updatedAt = try row.decode("updated_at")
        func json(_ column: String) throws -> JSONValue? {
            guard let text = try row.decode(column, as: String?.self) else { return nil }
            return try? JSONValue.parse(Array(text.utf8))
        }
        manager = try json("manager_json")
        teams = try json("teams_json")?.arrayValue ?? []
        customFields = try json("custom_fields_json")?.objectValue ?? [:]
    }
}

/// Users created and edited by hand (the admin API), coexisting with SCIM-managed ones.
public struct ManualUserStore: Sendable {
    let client: PostgresClient

    public init(client: PostgresClient) {
        self.client = client
    }

    /// Creates a manual (not SCIM-managed) user; SCIM adopts them later by email.
    public func create(_ tenant: Tenant, email: String, firstName: String?, lastName: String?, role: LearnAmpRole)
        async throws -> AdminUser
    {
        let email = email.trimmingCharacters(in: .whitespaces)
        guard email.contains("@"), email.count <= 320 else {
            throw StoreError.invalid("email", "email must be an email address.")
        }
        let schema = tenant.schema
        do {
            return try await client.withTransaction { connection in
                let user = try AdminUser(
                    row: connection.query(
                        """
                        INSERT INTO \(schema).users (id, user_name, email, given_name, family_name, role, scim_managed, emails)
                        VALUES (\(UUID()), \(email), \(email), \(firstName), \(lastName), \(role.rawValue), false,
                                jsonb_build_array(jsonb_build_object('value', \(email)::text, 'type', 'work', 'primary', true)))
                        RETURNING \(AdminUser.columns(schema))
                        """
                    ).single())
                try UserStore.linkWaitingReports(to: user.id, names: [email], schema: schema, on: connection)
                return user
            }
        } catch let error as PostgresError where error.sqlState == .uniqueViolation {
            throw StoreError.conflict("email", "A user with email \(email) already exists in this organisation.")
        }
    }

    /// Users by email (exact, case-insensitive) and/or active flag, in id order with a keyset cursor.
    public func list(_ tenant: Tenant, email: String?, active: Bool?, limit: Int, cursor: UUID?) async throws -> (
        users: [AdminUser], next: UUID?
    ) {
        let schema = tenant.schema
        let rows = try await client.query(
            """
            SELECT \(AdminUser.columns(schema)) FROM \(schema).users
            WHERE (\(email)::text IS NULL OR lower(user_name) = lower(\(email)::text) OR lower(email) = lower(\(email)::text))
              AND (\(active)::boolean IS NULL OR active = \(active)::boolean)
              AND (\(cursor)::uuid IS NULL OR id > \(cursor)::uuid)
            ORDER BY id LIMIT \(limit + 1)
            """)
        let users = try rows.prefix(limit).map(AdminUser.init(row:))
        return (users, rows.count > limit ? users.last?.id : nil)
    }

    /// Staff edits. For SCIM-managed users, the next SCIM sync wins for SCIM-owned attributes; the role
    /// is never touched by SCIM.
    public func update(
        _ tenant: Tenant, id: UUID, role: LearnAmpRole?, firstName: String?, lastName: String?, active: Bool?
    ) async throws -> AdminUser {
        let schema = tenant.schema
        let rows = try await client.query(
            """
            UPDATE \(schema).users SET role = COALESCE(\(role?.rawValue)::text, role),
                   given_name = COALESCE(\(firstName)::text, given_name), family_name = COALESCE(\(lastName)::text, family_name),
                   active = COALESCE(\(active)::boolean, active), updated_at = now(), version = version + 1
            WHERE id = \(id)
            RETURNING \(AdminUser.columns(schema))
            """)
        guard let row = rows.first else { throw StoreError.notFound("user", "No user \(id) in this organisation.") }
        return try AdminUser(row: row)
    }
}
