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
public struct CustomFieldStore: Sendable {
    static let types: Set<String> = ["string", "number", "boolean", "date", "enum"]
    let client: PostgresClient
    let cache: CustomFieldCache

    public init(client: PostgresClient, cache: CustomFieldCache = CustomFieldCache()) {
        self.client = client
        self.cache = cache
    }

    /// Learn Amp field names become JSON keys and SQL literals in filters, so they are kept simple.
    public static func isValidFieldName(_ field: String) -> Bool {
        guard let first = field.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first), field.utf8.count <= 63
        else { return false }
        return field.utf8.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }

    /// Validates every mapping, naming the first rule a mapping breaks.
    public static func validate(_ mappings: [CustomFieldMapping]) throws -> [CustomFieldMapping] {
        let prefix = SchemaURN.learnAmpUser + ":"
        let reserved: Set<String> = ["hiredate", "primaryteam"]
        var seenAttributes = Set<String>(), seenFields = Set<String>()
        return try mappings.map { mapping in
            guard mapping.scimAttribute.hasPrefix(prefix) else {
                throw AdminError.badRequest("scimAttribute must start with \(prefix) (got \"\(mapping.scimAttribute.prefix(120))\").")
            }
            let name = mapping.attributeName
            guard let first = name.first, first.isLetter, name.count <= 64,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
            else {
                throw AdminError.badRequest("The attribute name after \(prefix) must be 1-64 ASCII letters, digits, '_' or '-', starting with a letter.")
            }
            guard !reserved.contains(name.lowercased()) else {
                throw AdminError.badRequest("\(name) is a built-in Learn Amp attribute and cannot be mapped.")
            }
            guard isValidFieldName(mapping.field) else {
                throw AdminError.badRequest("field must be 1-63 lowercase letters, digits or '_', starting with a letter (got \"\(mapping.field.prefix(64))\").")
            }
            guard types.contains(mapping.type) else {
                throw AdminError.badRequest("type must be one of string, number, boolean, date, enum (got \"\(mapping.type.prefix(32))\").")
            }
            if mapping.type == "enum" {
                guard let allowed = mapping.allowedValues, !allowed.isEmpty, allowed.allSatisfy({ !$0.isEmpty }) else {
                    throw AdminError.badRequest("An enum mapping needs a non-empty allowedValues list.")
                }
            } else if mapping.allowedValues != nil {
                throw AdminError.badRequest("allowedValues is only for enum mappings.")
            }
            guard seenAttributes.insert(name.lowercased()).inserted, seenFields.insert(mapping.field).inserted else {
                throw AdminError.badRequest("Each scimAttribute and each field may be mapped only once.")
            }
            return mapping
        }
    }

    /// Replaces the organisation's mappings as a whole (PUT semantics), atomically.
    public func replace(_ tenant: Tenant, with mappings: [CustomFieldMapping]) async throws -> [CustomFieldMapping] {
        let mappings = try Self.validate(mappings)
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
                    VALUES (\(mapping.scimAttribute), \(mapping.attributeName), \(mapping.field), \(mapping.type), \(mapping.allowedValues))
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
            CustomFieldMapping(
                scimAttribute: try row.decode("scim_attribute"), field: try row.decode("field"), type: try row.decode("type"),
                allowedValues: try row.decode("allowed_values"))
        }
    }
}
