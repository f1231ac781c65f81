import Foundation
import Postgres
import SCIM

/// A custom-field mapping as stored in a tenant schema.
public struct CustomFieldMapping: Sendable, Equatable {
    /// Full attribute path: a schema URN, a colon, the attribute name, e.g.
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter`.
    public var scimAttribute: String
    /// Learn Amp custom field name (`^[a-z][a-z0-9_]{0,62}$`).
    public var field: String
    public var type: FieldType
    public var allowedValues: [String]?

    /// What a custom field holds; the raw value is the admin API's and the `type` column's spelling.
    public enum FieldType: String, Sendable, CaseIterable {
        case string, number, boolean, date, `enum`
    }

    /// A mapping as staff sent it, before `CustomFieldStore.validate` checks it: the type still as text.
    public struct Draft: Sendable {
        public var scimAttribute: String
        public var field: String
        public var type: String
        public var allowedValues: [String]?

        public init(scimAttribute: String, field: String, type: String, allowedValues: [String]? = nil) {
            self.scimAttribute = scimAttribute
            self.field = field
            self.type = type
            self.allowedValues = allowedValues
        }
    }

    /// This mapping as input again, to send a changed list back through `CustomFieldStore.replace`.
    public var draft: Draft {
        Draft(scimAttribute: scimAttribute, field: field, type: type.rawValue, allowedValues: allowedValues)
    }

    public init(scimAttribute: String, field: String, type: FieldType, allowedValues: [String]? = nil) {
        self.scimAttribute = scimAttribute
        self.field = field
        self.type = type
        self.allowedValues = allowedValues
    }

    /// The URN of the attribute's schema: everything before the last colon (names have none).
    public var schemaURN: String {
        scimAttribute.lastIndex(of: ":").map { String(scimAttribute[..<$0]) } ?? SchemaURN.learnAmpUser
    }

    /// The attribute name inside its schema.
    public var attributeName: String {
        guard let colon = scimAttribute.lastIndex(of: ":") else { return scimAttribute }
        return String(scimAttribute[scimAttribute.index(after: colon)...])
    }

    /// Where a user's value is kept in `User.customFields`, and the `attribute_name` column: see
    /// `CustomFieldDefinition.key`.
    public var key: String { definition.key }

    public var definition: CustomFieldDefinition {
        let fieldType: CustomFieldType =
            switch type {
            case .string: .string
            case .number: .number
            case .boolean: .boolean
            case .date: .date
            case .enum: .enum(allowed: allowedValues ?? [])
            }
        return CustomFieldDefinition(name: attributeName, type: fieldType, schemaURN: schemaURN)
    }
}

/// The users table as SCIM sees it: the SELECT list every read shares, and the filterable attributes.
enum UserColumns {
    /// The users table's alias in every user read.
    static let alias = SQLName("u")
    static let id = alias.column("id", unique: true)
    static let userName = alias.column("user_name", unique: true)
    /// The alias of one element of `emails` in a filter's EXISTS subquery.
    static let email = SQLName("e")

    /// Everything needed to render a user, in one statement: manager, primary team and team
    /// memberships come from correlated subqueries, not extra round trips. Subqueries rather than
    /// joins: they run only for the rows returned, and for a small organisation's tables PostgreSQL
    /// planned the joins as sequential scans into a hash join, set up and run for every lookup.
    /// (`manager_id` and `primary_team_id` are foreign keys, so what they name exists.)
    ///
    /// Kept cheap to plan, because a lookup served away from its organisation's usual connection is
    /// planned afresh each time: each team's name is a scalar subquery rather than a join (no join
    /// order to search) and the memberships are sorted by `decode`; custom fields are renamed from
    /// the cached mappings by `decode` rather than by a subquery on `custom_field_mappings` (whose
    /// table and three indexes would also take the statement past PostgreSQL's 16 fast-path locks).
    static func select(_ schema: PostgresIdentifier) -> PostgresQuery {
        "\(columns(schema)) FROM \(schema).users u"
    }

    /// `select`'s select list, for reads that name their own FROM (`ListPaging`).
    static func columns(_ schema: PostgresIdentifier) -> PostgresQuery {
        """
        SELECT u.id, u.user_name, u.external_id, u.given_name, u.family_name, u.formatted_name, u.display_name,
               u.emails::text AS emails, u.title, u.timezone, u.active, u.employee_number, u.cost_center,
               u.organization, u.division, u.department, u.pending_manager, u.hire_date::text AS hire_date,
               u.created_at, u.updated_at, u.version, u.manager_id,
               (SELECT COALESCE(m.display_name, NULLIF(concat_ws(' ', m.given_name, m.family_name), ''))
                  FROM \(schema).users m WHERE m.id = u.manager_id) AS manager_display,
               u.primary_team_id,
               (SELECT pt.display_name FROM \(schema).teams pt WHERE pt.id = u.primary_team_id) AS primary_team_name,
               u.custom_fields::text AS custom_fields,
               (SELECT jsonb_agg(jsonb_build_array(tm.team_id,
                                   (SELECT t.display_name FROM \(schema).teams t WHERE t.id = tm.team_id)))::text
                  FROM \(schema).team_members tm WHERE tm.user_id = u.id) AS groups
        """
    }

    /// - Parameter mappings: the organisation's custom-field mappings, which name the Learn Amp
    ///   fields SCIM sees and what it calls them.
    static func decode(_ row: PostgresRow, mappings: [CustomFieldMapping]) throws -> (User, UserMetadata) {
        var user = User(userName: try row.decode("user_name"))
        user.externalID = try row.decode("external_id")
        user.givenName = try row.decode("given_name")
        user.familyName = try row.decode("family_name")
        user.formattedName = try row.decode("formatted_name")
        user.displayName = try row.decode("display_name")
        user.title = try row.decode("title")
        user.timezone = try row.decode("timezone")
        user.active = try row.decode("active")
        user.employeeNumber = try row.decode("employee_number")
        user.costCenter = try row.decode("cost_center")
        user.organization = try row.decode("organization")
        user.division = try row.decode("division")
        user.department = try row.decode("department")
        user.hireDate = try row.decode("hire_date")
        let managerID: UUID? = try row.decode("manager_id")
        user.managerReference = try managerID.map { $0.lowercasedString } ?? row.decode("pending_manager")
        if case .array(let emails)? = try json(row, "emails") {
            user.emails = emails.compactMap { element in
                guard let value = element[caseInsensitive: "value"]?.stringValue else { return nil }
                return User.Email(
                    value: value, type: element[caseInsensitive: "type"]?.stringValue,
                    primary: element[caseInsensitive: "primary"]?.boolValue ?? false,
                    display: element[caseInsensitive: "display"]?.stringValue)
            }
        }
        if case .object(let stored)? = try json(row, "custom_fields") {
            for mapping in mappings {
                if let value = stored[mapping.field], !value.isNull { user.customFields[mapping.key] = value }
            }
        }
        var groups: [User.Reference] = []
        if case .array(let pairs)? = try json(row, "groups") {
            for pair in pairs {
                if case .array(let parts) = pair, parts.count == 2,
                    let id = parts[0].stringValue.flatMap(UUID.init(uuidString:))
                {
                    groups.append(User.Reference(id: id, display: parts[1].stringValue))
                }
            }
        }
        groups.sort {
            ($0.display?.lowercased() ?? "", $0.id.uuidString) < ($1.display?.lowercased() ?? "", $1.id.uuidString)
        }
        let primaryTeamID: UUID? = try row.decode("primary_team_id")
        let metadata = UserMetadata(
            id: try row.decode("id"), created: try row.decode("created_at"), lastModified: try row.decode("updated_at"),
            version: try row.decode("version"),
            manager: managerID.map {
                User.Reference(id: $0, display: try? row.decode("manager_display", as: String?.self))
            },
            groups: groups,
            primaryTeam: primaryTeamID.map {
                User.Reference(id: $0, display: try? row.decode("primary_team_name", as: String?.self))
            })
        return (user, metadata)
    }

    private static func json(_ row: PostgresRow, _ column: String) throws -> JSONValue? {
        guard let text: String = try row.decode(column) else { return nil }
        return try? JSONValue.parse(Array(text.utf8))
    }

    /// The filterable attributes of a user. Anything else in a filter is `invalidFilter`.
    static func attribute(_ path: AttributePath, schema: PostgresIdentifier, customFields: [CustomFieldMapping])
        -> SQLAttribute?
    {
        let key = path.key
        switch path.schema?.lowercased() {
        case nil:
            return core(key, schema: schema) ?? mapped(key, in: SchemaURN.user, customFields) ?? enterprise(key)
                ?? learnAmp(key, customFields: customFields)
                ?? customFields.lazy.compactMap { mapped(key, in: $0.schemaURN, customFields) }.first
        case SchemaURN.user.lowercased():
            return core(key, schema: schema) ?? mapped(key, in: SchemaURN.user, customFields)
        case SchemaURN.enterpriseUser.lowercased(): return enterprise(key)
        case SchemaURN.learnAmpUser.lowercased(): return learnAmp(key, customFields: customFields)
        case let urn?: return mapped(key, in: urn, customFields)
        }
    }

    /// Core attributes kept in the users table, by lowercased key: built once.
    private static let coreColumns: [String: SQLAttribute] = [
        "id": .uuid(id),
        "externalid": .text(alias.column("external_id"), caseExact: true),
        "username": .text(userName),
        "name.givenname": .text(alias.column("given_name")),
        "name.familyname": .text(alias.column("family_name")),
        "name.formatted": .text(alias.column("formatted_name")),
        "displayname": .text(alias.column("display_name")),
        "title": .text(alias.column("title")),
        "timezone": .text(alias.column("timezone")),
        "active": .bool(alias.column("active")),
        "meta.created": .timestamp(alias.column("created_at")),
        "meta.lastmodified": .timestamp(alias.column("updated_at")),
        "emails": .collection(
            exists: { condition in "EXISTS (SELECT 1 FROM jsonb_array_elements(u.emails) e WHERE \(condition))" },
            elements: [
                "value": .text(.member("value", of: email)), "type": .text(.member("type", of: email)),
                "primary": .bool(SQLColumn.member("primary", of: email).cast("boolean")),
                "display": .text(.member("display", of: email)),
            ],
            defaultElement: "value"),
    ]

    /// A group membership's columns in the `groups` filter's EXISTS subquery.
    private static let groupElements: [String: SQLAttribute] = [
        "value": .uuid(SQLName("g").column("team_id")), "display": .text(SQLName("gt").column("display_name")),
    ]

    private static func core(_ key: String, schema: PostgresIdentifier) -> SQLAttribute? {
        guard key == "groups" else { return coreColumns[key] }
        return .collection(
            exists: { condition in
                """
                EXISTS (SELECT 1 FROM \(schema).team_members g JOIN \(schema).teams gt ON gt.id = g.team_id
                        WHERE g.user_id = u.id AND \(condition))
                """
            },
            elements: groupElements, defaultElement: "value")
    }

    /// The enterprise extension's attributes kept in the users table, by lowercased key.
    private static let enterpriseColumns: [String: SQLAttribute] = [
        "employeenumber": .text(alias.column("employee_number")),
        "costcenter": .text(alias.column("cost_center")),
        "organization": .text(alias.column("organization")),
        "division": .text(alias.column("division")),
        "department": .text(alias.column("department")),
        "manager": .uuid(alias.column("manager_id")),
        "manager.value": .uuid(alias.column("manager_id")),
    ]

    private static func enterprise(_ key: String) -> SQLAttribute? { enterpriseColumns[key] }

    /// The Learn Amp extension's attributes kept in their own columns, by lowercased key.
    private static let learnAmpColumns: [String: SQLAttribute] = [
        "hiredate": .date(alias.column("hire_date")),
        "primaryteam": .uuid(alias.column("primary_team_id")),
        "primaryteam.value": .uuid(alias.column("primary_team_id")),
    ]

    /// The column of every custom field's value.
    private static let customFieldsColumn = alias.column("custom_fields")

    private static func learnAmp(_ key: String, customFields: [CustomFieldMapping]) -> SQLAttribute? {
        learnAmpColumns[key] ?? mapped(key, in: SchemaURN.learnAmpUser, customFields)
    }

    /// A custom field mapped from an attribute the users table has no column of its own for: the
    /// Learn Amp extension, a standard core attribute this server does not keep, a customer extension.
    private static func mapped(
        _ key: String, in schemaURN: String, _ customFields: [CustomFieldMapping]
    ) -> SQLAttribute? {
        // The client's value travels as a bind; the field name was validated when staff mapped it.
        guard
            let mapping = customFields.first(where: {
                $0.attributeName.lowercased() == key && $0.schemaURN.lowercased() == schemaURN.lowercased()
                    && !$0.definition.isBuiltIn
            }),
            let text = SQLColumn.customField(mapping.field, in: customFieldsColumn)
        else { return nil }
        switch mapping.type {
        case .number: return .number(text)
        case .boolean: return .bool(text.cast("boolean"))
        case .date: return .date(text.cast("date"))
        case .string, .enum: return .text(text)
        }
    }

}
