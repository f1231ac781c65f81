import Foundation
import Postgres
import SCIM

/// Custom-field mappings per tenant schema, read on nearly every SCIM request and changed rarely:
/// cached as `CacheCoherence` allows, and dropped at once on this replica when staff replace them.
public final class CustomFieldCache: Sendable {
    let cache: TTLCache<PostgresIdentifier, [CustomFieldMapping]>

    public init(coherence: CacheCoherence = CacheCoherence()) {
        cache = TTLCache(coherence: coherence)
    }

    func mappings(_ schema: PostgresIdentifier, on connection: PostgresConnection) throws -> [CustomFieldMapping] {
        try cache.value(for: schema) { try CustomFieldStore.load(schema, on: connection) }
    }
}

/// Per-organisation mappings of SCIM attributes to Learn Amp custom fields.
///
/// `custom_field_mappings.attribute_name` holds `CustomFieldMapping.key`: the bare name for the
/// Learn Amp extension, the full path for any other namespace, so it stays unique across namespaces.
public struct CustomFieldStore: Sendable {
    let client: PostgresClient
    let cache: CustomFieldCache

    public init(client: PostgresClient, cache: CustomFieldCache = CustomFieldCache()) {
        self.client = client
        self.cache = cache
    }

    /// Learn Amp field names become JSON keys and SQL literals in filters, so they are kept simple.
    public static func isValidFieldName(_ field: String) -> Bool {
        guard let first = field.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            field.utf8.count <= 63
        else { return false }
        return field.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }

    /// Core User attributes (RFC 7643 §4.1) that are single-valued text this server does not keep; a
    /// mapping may name them, which adds them to the organisation's core schema.
    static let standardCoreAttributes = ["nickName", "profileUrl", "userType", "preferredLanguage", "locale"]

    /// Validates every mapping, naming the first rule a mapping breaks, and returns them with the
    /// attribute path spelled canonically (a bare name is in the Learn Amp extension).
    public static func validate(_ drafts: [CustomFieldMapping.Draft]) throws -> [CustomFieldMapping] {
        var seenAttributes = Set<String>()
        var seenFields = Set<String>()
        return try drafts.map { draft in
            let scimAttribute = try canonicalPath(draft.scimAttribute)
            guard isValidFieldName(draft.field) else {
                throw StoreError.invalid(
                    "field",
                    "field must be 1-63 lowercase letters, digits or '_', starting with a letter (got \"\(draft.field.prefix(64))\")."
                )
            }
            guard let type = CustomFieldMapping.FieldType(rawValue: draft.type) else {
                throw StoreError.invalid(
                    "type",
                    "type must be one of string, number, boolean, date, enum (got \"\(draft.type.prefix(32))\").")
            }
            let mapping = CustomFieldMapping(
                scimAttribute: scimAttribute, field: draft.field, type: type, allowedValues: draft.allowedValues)
            if mapping.type == .enum {
                guard let allowed = mapping.allowedValues, !allowed.isEmpty, allowed.allSatisfy({ !$0.isEmpty }) else {
                    throw StoreError.invalid("allowedValues", "An enum mapping needs a non-empty allowedValues list.")
                }
            } else if mapping.allowedValues != nil {
                throw StoreError.invalid("allowedValues", "allowedValues is only for enum mappings.")
            }
            guard seenAttributes.insert(mapping.scimAttribute.lowercased()).inserted,
                seenFields.insert(mapping.field).inserted
            else {
                throw StoreError.invalid("mappings", "Each scimAttribute and each field may be mapped only once.")
            }
            return mapping
        }
    }

    /// Checks one `scimAttribute` and spells it canonically: the known schemas' URNs and attribute
    /// names as the catalog writes them, a bare name (`costCentre`) inside the Learn Amp extension.
    /// - Throws: `StoreError.invalid` of `scimAttribute`, quoting the path and saying what is wrong with it.
    static func canonicalPath(_ path: String) throws -> String {
        let quoted = "scimAttribute \"\(path.prefix(120))\""
        let shape = "a schema URN such as \(SchemaURN.enterpriseUser), a colon, then the attribute name"
        guard path.utf8.count <= 300 else {
            throw StoreError.invalid("scimAttribute", "\(quoted)… is longer than 300 characters.")
        }
        let isURN = path.utf8.count >= 4 && path.prefix(4).lowercased() == "urn:"
        let namespace: String
        let name: String
        if isURN, let colon = path.lastIndex(of: ":") {
            namespace = String(path[..<colon])
            name = String(path[path.index(after: colon)...])
        } else if !path.contains(":") {
            (namespace, name) = (SchemaURN.learnAmpUser, path)
        } else {
            throw StoreError.invalid(
                "scimAttribute",
                "\(quoted) must be an attribute name (for the Learn Amp extension) or \(shape).")
        }
        guard let first = name.first, first.isASCII, first.isLetter, name.count <= 64,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else {
            throw StoreError.invalid(
                "scimAttribute",
                "\(quoted): the attribute name after the last colon must be 1-64 ASCII letters, digits, '_' or '-', "
                    + "starting with a letter.")
        }
        // RFC 8141's shape, narrowed: `urn`, a namespace id, then at least one more part, each part
        // ASCII letters, digits, '.', '_' or '-'.
        let parts = namespace.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count >= 3,
            parts.allSatisfy({ part in
                !part.isEmpty && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
            })
        else {
            throw StoreError.invalid(
                "scimAttribute",
                "\(quoted) must be \(shape); the URN's parts are ASCII letters, digits, '.', '_' or '-' "
                    + "separated by colons.")
        }
        if namespace.caseInsensitiveEquals(SchemaURN.learnAmpUser) {
            guard !["hiredate", "primaryteam"].contains(name.lowercased()) else {
                throw StoreError.invalid(
                    "scimAttribute",
                    "\(quoted): \(name) is a built-in Learn Amp attribute and cannot be mapped.")
            }
            return "\(SchemaURN.learnAmpUser):\(name)"
        }
        if namespace.caseInsensitiveEquals(SchemaURN.enterpriseUser) {
            let mappable = ["employeeNumber", "costCenter", "organization", "division", "department"]
            guard let canonical = mappable.first(where: { $0.caseInsensitiveEquals(name) }) else {
                throw StoreError.invalid(
                    "scimAttribute",
                    "\(quoted): the enterprise extension attributes that can be mapped are "
                        + "\(mappable.joined(separator: ", ")).")
            }
            return "\(SchemaURN.enterpriseUser):\(canonical)"
        }
        if namespace.caseInsensitiveEquals(SchemaURN.user) {
            let kept = ResourceSchema.user.attributes.filter {
                $0.type != .complex && !$0.multiValued && $0.mutability != .readOnly
            }.map(\.name)
            let mappable = kept + standardCoreAttributes
            guard let canonical = mappable.first(where: { $0.caseInsensitiveEquals(name) }) else {
                throw StoreError.invalid(
                    "scimAttribute",
                    "\(quoted): the core attributes that can be mapped are \(mappable.joined(separator: ", ")).")
            }
            return "\(SchemaURN.user):\(canonical)"
        }
        let lowered = namespace.lowercased()
        guard !lowered.hasPrefix("urn:ietf:params:scim:schemas:core:"), !lowered.hasPrefix("urn:ietf:params:scim:api:")
        else {
            throw StoreError.invalid(
                "scimAttribute", "\(quoted) names a SCIM schema that is not a User attribute namespace.")
        }
        // A namespace inside a known one, or around one, would make paths ambiguous
        // (`…:enterprise:2.0:User:manager` is an attribute, not a schema).
        for known in [SchemaURN.enterpriseUser, SchemaURN.learnAmpUser].map({ $0.lowercased() })
        where lowered.hasPrefix(known + ":") || known.hasPrefix(lowered + ":") {
            throw StoreError.invalid(
                "scimAttribute",
                "\(quoted): its namespace overlaps \(known); name that schema's attribute instead.")
        }
        return "\(namespace):\(name)"
    }

    /// Enterprise extension attributes, and the British spellings a mapping in the Learn Amp
    /// extension might give them.
    static let enterpriseLookalikes: [String: String] = [
        "employeenumber": "employeeNumber", "costcenter": "costCenter", "costcentre": "costCenter",
        "organization": "organization", "organisation": "organization", "division": "division",
        "department": "department",
    ]

    /// Sentences for staff about valid mappings that are probably mistakes: a Learn Amp extension
    /// attribute named like an enterprise one, which Okta and Entra send in the enterprise extension,
    /// where it is stored as that attribute and never reaches the field (nothing shows as unmapped).
    public static func warnings(for mappings: [CustomFieldMapping]) -> [String] {
        mappings.compactMap { mapping in
            guard mapping.schemaURN == SchemaURN.learnAmpUser,
                let enterprise = enterpriseLookalikes[mapping.attributeName.lowercased()]
            else { return nil }
            let path = "\(SchemaURN.enterpriseUser):\(enterprise)"
            guard !mappings.contains(where: { $0.scimAttribute == path }) else { return nil }
            return "\(mapping.scimAttribute) is in the Learn Amp extension, but identity providers send "
                + "\(enterprise) in the enterprise extension: if the customer's app attribute uses that namespace, "
                + "map \(path) instead."
        }
    }

    /// Replaces the organisation's mappings as a whole (PUT semantics), atomically.
    public func replace(_ tenant: Tenant, with drafts: [CustomFieldMapping.Draft]) async throws -> [CustomFieldMapping]
    {
        let mappings = try Self.validate(drafts)
        let schema = tenant.schema
        // Every replica's mapping caches go, this one's at once (no trigger sees tenant schemas).
        defer { cache.cache.coherence.invalidate() }
        return try await client.withTransaction { connection in
            try CacheCoherence.invalidateEverywhere(on: connection)
            _ = try connection.query("DELETE FROM \(schema).custom_field_mappings")
            for mapping in mappings {
                _ = try connection.query(
                    """
                    INSERT INTO \(schema).custom_field_mappings (scim_attribute, attribute_name, field, type, allowed_values)
                    VALUES (\(mapping.scimAttribute), \(mapping.key), \(mapping.field), \(mapping.type.rawValue),
                            \(mapping.allowedValues))
                    """)
            }
            return try Self.load(schema, on: connection)
        }
    }

    public func list(_ tenant: Tenant) async throws -> [CustomFieldMapping] {
        let schema = tenant.schema
        let cache = self.cache
        return try await client.withConnection { connection in try cache.mappings(schema, on: connection) }
    }

    static func load(_ schema: PostgresIdentifier, on connection: PostgresConnection) throws -> [CustomFieldMapping] {
        try connection.query(
            "SELECT scim_attribute, field, type, allowed_values FROM \(schema).custom_field_mappings ORDER BY scim_attribute"
        ).map { row in
            // The column's CHECK constraint admits only `FieldType`'s spellings.
            let typeText: String = try row.decode("type")
            guard let type = CustomFieldMapping.FieldType(rawValue: typeText) else {
                throw PostgresError(code: .decoding, message: "custom_field_mappings.type holds an unknown type")
            }
            return CustomFieldMapping(
                scimAttribute: try row.decode("scim_attribute"), field: try row.decode("field"), type: type,
                allowedValues: try row.decode("allowed_values"))
        }
    }
}
