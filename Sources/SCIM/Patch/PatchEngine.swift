/// The outcome of applying a PATCH to a resource.
public struct PatchResult: Sendable, Equatable {
    /// The patched resource, canonical, with `schemas` listing the extensions it now carries.
    public var resource: JSONValue
    /// Attributes whose value actually changed: core names (`active`) or `urn:…:User:department`.
    /// Empty when every operation was a no-op, so the store can skip the write and keep the ETag.
    public var changedAttributes: Set<String>
    /// Leniencies applied (see `Normalisation.rewrites`).
    public var rewrites: [RewriteKind: Int]
    /// Attributes inside path-less values that were ignored because the catalog does not know them.
    public var unknownAttributes: [String]
}

/// Applies RFC 7644 §3.5.2 PATCH operations to a resource held as canonical JSON.
///
/// The resource is a value, so a failing operation leaves the caller's copy untouched: PATCH is atomic
/// without any undo logic. Values are normalised by `Normaliser` first, so the operations below only
/// ever see catalog spellings and correctly typed values.
public struct PatchEngine: Sendable {
    public var resourceType: ResourceType
    private let normaliser: Normaliser

    public init(resourceType: ResourceType) {
        self.resourceType = resourceType
        self.normaliser = Normaliser(resourceType: resourceType)
    }

    /// Applies every operation in order; later operations see the effect of earlier ones.
    /// - Parameter resource: the current resource in canonical form (as the resource layer renders it).
    /// - Throws: `invalidPath` (unknown attribute or malformed path), `noTarget` (replace through a
    ///   filter that matches nothing, remove without a path), `mutability` (a read-only attribute in a
    ///   path), `invalidValue` (wrong type, removing a required attribute). The detail names the
    ///   operation that failed.
    public func apply(_ request: PatchRequest, to resource: JSONValue) throws(SCIMError) -> PatchResult {
        guard case .object(let original) = resource else {
            throw .invalidValue("The resource to patch is not an object.")
        }
        var document = original
        var report = Report(rewrites: request.rewrites)
        for (index, operation) in request.operations.enumerated() {
            do {
                try apply(operation, to: &document, report: &report)
            } catch {
                throw SCIMError(
                    status: error.status, scimType: error.scimType, detail: "Operation \(index + 1): \(error.detail)")
            }
        }
        synchroniseSchemas(&document)
        return PatchResult(
            resource: .object(document), changedAttributes: changes(from: original, to: document),
            rewrites: report.rewrites, unknownAttributes: report.unknownAttributes)
    }

    /// Core User attributes of RFC 7643 §4.1 that this server does not store.
    static let unsupportedStandardUserAttributes: Set<String> = [
        "nickname", "profileurl", "usertype", "preferredlanguage", "locale", "password", "phonenumbers", "ims",
        "photos", "addresses", "entitlements", "roles", "x509certificates",
    ]

    private func isStandardUnsupported(_ attribute: AttributePath) -> Bool {
        guard resourceType.schema.id == SchemaURN.user,
            attribute.schema == nil || attribute.schema?.lowercased() == SchemaURN.user.lowercased()
        else { return false }
        return Self.unsupportedStandardUserAttributes.contains(attribute.name.lowercased())
    }

    // MARK: - Dispatch

    private func apply(_ operation: PatchOperation, to document: inout [String: JSONValue], report: inout Report)
        throws(SCIMError)
    {
        guard let path = operation.path else {
            guard operation.op != .remove else { throw .noTarget("remove needs a path.") }
            try operation.checkEchoedID(ownID: document["id"]?.stringValue ?? "")
            let normalised = try normaliser.normalise(patchValue: operation.value ?? .null)
            report.absorb(normalised)
            try applyAttributes(normalised.value, operation.op, to: &document)
            return
        }
        switch resourceType.locate(path.attribute) {
        case nil:
            // Standard RFC 7643 User attributes Learn Amp does not keep (Entra's default mappings send
            // phone numbers and addresses) are ignored and reported, like unmapped attributes in a body;
            // anything else is a client error.
            if isStandardUnsupported(path.attribute) {
                report.unknown(path.attribute.name)
                return
            }
            throw .invalidPath("Unknown attribute \(path.attribute).")
        case .schema(let schema):
            guard schema.id != resourceType.schema.id, path.valueFilter == nil, path.subAttribute == nil else {
                throw .invalidPath("\(path) does not name an attribute.")
            }
            guard operation.op != .remove else {
                document[schema.id] = nil
                return
            }
            let normalised = try normaliser.normalise(patchValue: [schema.id: operation.value ?? .null])
            report.absorb(normalised)
            try applyAttributes(normalised.value, operation.op, to: &document)
        case .attribute(let resolved):
            if let filter = path.valueFilter {
                try applyFiltered(
                    operation, resolved, filter: filter, subName: path.subAttribute, to: &document, report: &report)
                return
            }
            guard path.subAttribute == nil else { throw .invalidPath("\(path) is not a valid path.") }
            guard !resolved.isReadOnly else {
                throw .mutability("\(resolved.qualifiedName) is read-only.")
            }
            try applyResolved(operation, resolved, to: &document, report: &report)
        }
    }

    /// A path-less value (or a whole extension): each attribute is added or replaced on its own.
    private func applyAttributes(_ value: JSONValue, _ op: PatchOperation.Op, to document: inout [String: JSONValue])
        throws(SCIMError)
    {
        var targets: [(ResolvedAttribute, JSONValue)] = []
        // Sorted, so that which error a bad value reports does not depend on dictionary order.
        for (key, member) in (value.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            if let schema = resourceType.schema(urn: key) {
                for (name, inner) in (member.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                    if let resolved = resourceType.resolve("\(schema.id):\(name)") { targets.append((resolved, inner)) }
                }
            } else if let resolved = resourceType.resolve(key) {
                targets.append((resolved, member))
            }
        }
        for (resolved, member) in targets {
            switch (op, member) {
            case (.add, .null): continue
            case (.add, _): try add(member, to: resolved, in: &document)
            default: try replace(resolved, with: member, in: &document)
            }
        }
    }

    /// An operation whose path names an attribute or a sub-attribute, without a value filter.
    private func applyResolved(
        _ operation: PatchOperation, _ resolved: ResolvedAttribute, to document: inout [String: JSONValue],
        report: inout Report
    ) throws(SCIMError) {
        let attribute = resolved.attribute
        if let sub = resolved.subAttribute {
            if operation.op == .remove {
                try updateSub(sub, of: resolved, to: .null, in: &document)
                return
            }
            let value = try normaliser.normalise(operation.value ?? .null, for: sub, report: &report)
            if operation.op == .add && value.isNull { return }
            try updateSub(sub, of: resolved, to: value, in: &document)
            return
        }
        switch operation.op {
        case .remove:
            if attribute.multiValued, let raw = operation.value, !raw.isNull {
                // Entra removes members by listing them; only the listed elements go.
                let doomed = try normaliser.normalise(raw, for: attribute, report: &report).arrayValue ?? []
                let remaining = (Self.value(of: resolved, in: document)?.arrayValue ?? []).filter { element in
                    !doomed.contains { Self.sameElement(element, $0, attribute) }
                }
                Self.set(resolved, .array(remaining), in: &document)
            } else {
                try replace(resolved, with: .null, in: &document)
            }
        case .add:
            let value = try normaliser.normalise(operation.value ?? .null, for: attribute, report: &report)
            if !value.isNull { try add(value, to: resolved, in: &document) }
        case .replace:
            let value = try normaliser.normalise(operation.value ?? .null, for: attribute, report: &report)
            try replace(resolved, with: value, in: &document)
        }
    }

    // MARK: - Attribute-level semantics (values already normalised)

    /// RFC 7644 §3.5.2.1: multi-valued attributes gain elements, complex ones gain sub-attributes.
    private func add(_ value: JSONValue, to resolved: ResolvedAttribute, in document: inout [String: JSONValue])
        throws(SCIMError)
    {
        let attribute = resolved.attribute
        let existing = Self.value(of: resolved, in: document)
        if attribute.multiValued {
            var elements = existing?.arrayValue ?? []
            for element in value.arrayValue ?? [] {
                let index = Self.upsert(element, into: &elements, attribute)
                try Self.enforceSinglePrimary(&elements, touched: [index], attribute)
            }
            Self.set(resolved, .array(elements), in: &document)
        } else if attribute.type == .complex {
            Self.write(resolved, Self.merge(existing ?? [:], value), over: existing, in: &document)
        } else {
            Self.set(resolved, value, in: &document)
        }
    }

    /// RFC 7644 §3.5.2.3: the whole list of a multi-valued attribute, the given sub-attributes of a
    /// complex one, or a simple value. A null value removes the attribute.
    private func replace(_ resolved: ResolvedAttribute, with value: JSONValue, in document: inout [String: JSONValue])
        throws(SCIMError)
    {
        let attribute = resolved.attribute
        if value.isNull {
            guard !attribute.required else {
                throw .invalidValue("\(resolved.qualifiedName) is required and cannot be removed.")
            }
            Self.set(resolved, nil, in: &document)
        } else if attribute.type == .complex && !attribute.multiValued {
            let existing = Self.value(of: resolved, in: document)
            Self.write(resolved, Self.merge(existing ?? [:], value), over: existing, in: &document)
        } else if attribute.multiValued {
            var elements: [JSONValue] = []
            for element in value.arrayValue ?? [] { Self.upsert(element, into: &elements, attribute) }
            Self.set(resolved, .array(elements), in: &document)
        } else {
            Self.set(resolved, value, in: &document)
        }
    }

    /// Sets (or, with null, removes) a sub-attribute: of the complex value, or of every element of a
    /// multi-valued attribute when no filter narrows it.
    private func updateSub(
        _ sub: SchemaAttribute, of resolved: ResolvedAttribute, to value: JSONValue,
        in document: inout [String: JSONValue]
    ) throws(SCIMError) {
        let patch: JSONValue = [sub.name: value]
        let existing = Self.value(of: resolved, in: document)
        if resolved.attribute.multiValued {
            var elements = existing?.arrayValue ?? []
            if elements.isEmpty && !value.isNull {
                elements = [patch]
            } else {
                elements = elements.map { Self.merge($0, patch) }
            }
            try Self.enforceSinglePrimary(&elements, touched: Array(elements.indices), resolved.attribute)
            Self.set(resolved, .array(elements), in: &document)
        } else {
            Self.write(resolved, Self.merge(existing ?? [:], patch), over: existing, in: &document)
        }
    }

    /// An operation through a value filter, `emails[type eq "work"].value`.
    private func applyFiltered(
        _ operation: PatchOperation, _ resolved: ResolvedAttribute, filter: Filter, subName: String?,
        to document: inout [String: JSONValue], report: inout Report
    ) throws(SCIMError) {
        let attribute = resolved.attribute
        guard resolved.subAttribute == nil, attribute.multiValued, attribute.type == .complex else {
            throw .invalidPath(
                "A value filter needs a multi-valued complex attribute; \(resolved.qualifiedName) is not.")
        }
        for name in Self.attributeNames(in: filter) where attribute.subAttribute(named: name) == nil {
            throw .invalidPath("\(attribute.name) has no sub-attribute \(name).")
        }
        var sub: SchemaAttribute?
        if let subName {
            guard let found = attribute.subAttribute(named: subName) else {
                throw .invalidPath("\(attribute.name) has no sub-attribute \(subName).")
            }
            sub = found
        }
        if attribute.isReadOnly || sub?.isReadOnly == true {
            throw .mutability("\(resolved.qualifiedName) is read-only.")
        }
        if let sub, sub.mutability == .immutable, operation.op != .add {
            throw .mutability("\(attribute.name).\(sub.name) is immutable.")
        }

        var elements = Self.value(of: resolved, in: document)?.arrayValue ?? []
        let matched = elements.indices.filter { index in
            filter.evaluate(element: elements[index]) { attribute.subAttribute(named: $0.name)?.caseExact ?? false }
        }

        if operation.op == .remove {
            if let sub {
                for index in matched { elements[index] = Self.merge(elements[index], [sub.name: .null]) }
            } else {
                elements = elements.indices.filter { !matched.contains($0) }.map { elements[$0] }
            }
            Self.set(resolved, .array(elements), in: &document)
            return
        }

        let raw = operation.value ?? .null
        let patch: JSONValue =
            if let sub {
                [sub.name: try normaliser.normalise(raw, for: sub, report: &report)]
            } else {
                try normaliser.normaliseElement(raw, of: attribute, report: &report)
            }
        guard case .object = patch else { throw .invalidValue("\(attribute.name) elements must be objects.") }
        let touched: [Int]
        if matched.isEmpty {
            // RFC 7644 says noTarget; Entra's `add` on `emails[type eq "work"].value` means "create it".
            guard operation.op == .add, let seed = Self.seed(from: filter, attribute) else {
                throw .noTarget("No \(attribute.name) value matches the filter.")
            }
            elements.append(Self.merge(seed, patch))
            touched = [elements.count - 1]
        } else {
            for index in matched { elements[index] = Self.merge(elements[index], patch) }
            touched = matched
        }
        try Self.enforceSinglePrimary(&elements, touched: touched, attribute)
        Self.set(resolved, .array(elements), in: &document)
    }

    // MARK: - Helpers

    private static func value(of resolved: ResolvedAttribute, in document: [String: JSONValue]) -> JSONValue? {
        resolved.isCore
            ? document[resolved.attribute.name]
            : document[resolved.schemaURN]?.objectValue?[resolved.attribute.name]
    }

    /// Stores a value; empty objects and lists are stored as absent, which is what "unassigned" means.
    private static func set(_ resolved: ResolvedAttribute, _ value: JSONValue?, in document: inout [String: JSONValue])
    {
        var stored = value
        if value == .object([:]) || value == .array([]) || value == .null { stored = nil }
        if resolved.isCore {
            document[resolved.attribute.name] = stored
        } else {
            var container = document[resolved.schemaURN]?.objectValue ?? [:]
            container[resolved.attribute.name] = stored
            document[resolved.schemaURN] = container.isEmpty ? JSONValue?.none : .object(container)
        }
    }

    /// Stores a complex value unless nothing a client controls changed. Read-only sub-attributes
    /// (`manager.displayName`) are derived by the server, so a changed value drops the stale ones.
    private static func write(
        _ resolved: ResolvedAttribute, _ merged: JSONValue, over existing: JSONValue?,
        in document: inout [String: JSONValue]
    ) {
        let derived = Set(resolved.attribute.subAttributes.filter(\.isReadOnly).map(\.name))
        func writable(_ value: JSONValue?) -> JSONValue? {
            value?.objectValue.map { .object($0.filter { !derived.contains($0.key) }) } ?? value
        }
        guard writable(merged) != writable(existing) else { return }
        set(resolved, writable(merged), in: &document)
    }

    /// Overlays `patch`'s members onto `base`; a null member removes that key.
    private static func merge(_ base: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(var merged) = base, case .object(let overlay) = patch else { return patch }
        for (key, value) in overlay {
            merged[key] = value.isNull ? JSONValue?.none : value
        }
        return .object(merged)
    }

    /// Merges `element` into an equal entry (see `sameElement`) or appends it; returns its index.
    @discardableResult
    private static func upsert(_ element: JSONValue, into elements: inout [JSONValue], _ attribute: SchemaAttribute)
        -> Int
    {
        if let match = elements.firstIndex(where: { sameElement($0, element, attribute) }) {
            elements[match] = merge(elements[match], element)
            return match
        }
        elements.append(element)
        return elements.count - 1
    }

    /// Two elements are the same entry when their `value`s (and `type`s, where both have one) agree,
    /// so re-adding a member or an email merges instead of duplicating.
    static func sameElement(_ lhs: JSONValue, _ rhs: JSONValue, _ attribute: SchemaAttribute) -> Bool {
        guard case .object = lhs, case .object = rhs else { return lhs == rhs }
        guard let left = lhs["value"], let right = rhs["value"] else { return lhs == rhs }
        let exact = attribute.subAttribute(named: "value")?.caseExact ?? false
        guard exact ? left == right : left.lowercasedString == right.lowercasedString else { return false }
        if let leftType = lhs["type"], let rightType = rhs["type"] {
            return leftType.lowercasedString == rightType.lowercasedString
        }
        return true
    }

    /// RFC 7643 §2.4: at most one element is primary; the one just written wins.
    private static func enforceSinglePrimary(
        _ elements: inout [JSONValue], touched: [Int], _ attribute: SchemaAttribute
    ) throws(SCIMError) {
        let winners = touched.filter { elements[$0]["primary"] == .bool(true) }
        guard let winner = winners.first else { return }
        guard winners.count == 1 else {
            throw .invalidValue("At most one of \(attribute.name) may be primary.")
        }
        for index in elements.indices where index != winner && elements[index]["primary"] == .bool(true) {
            elements[index] = merge(elements[index], ["primary": false])
        }
    }

    /// The element an `add` through a filter creates: the filter's `eq` terms, joined by `and`.
    private static func seed(from filter: Filter, _ attribute: SchemaAttribute) -> JSONValue? {
        switch filter {
        case .comparison(let path, .eq, let value):
            guard let sub = attribute.subAttribute(named: path.name), path.subAttribute == nil else { return nil }
            return [sub.name: value.json]
        case .and(let lhs, let rhs):
            guard let left = seed(from: lhs, attribute), let right = seed(from: rhs, attribute) else { return nil }
            return merge(left, right)
        default:
            return nil
        }
    }

    /// Every attribute name a value filter refers to, to reject unknown sub-attributes up front.
    private static func attributeNames(in filter: Filter) -> [String] {
        switch filter {
        case .comparison(let path, _, _), .present(let path): [path.name]
        case .and(let lhs, let rhs), .or(let lhs, let rhs): attributeNames(in: lhs) + attributeNames(in: rhs)
        case .not(let inner): attributeNames(in: inner)
        case .valuePath(let path, _): [path.name]
        }
    }

    /// `schemas` lists the core URN and exactly the extensions the resource now carries.
    private func synchroniseSchemas(_ document: inout [String: JSONValue]) {
        let present = resourceType.extensions.filter { document[$0.id] != nil }.map(\.id)
        document["schemas"] = .array(([resourceType.schema.id] + present).map(JSONValue.string))
    }

    private func changes(from old: [String: JSONValue], to new: [String: JSONValue]) -> Set<String> {
        var changed: Set<String> = []
        let extensionURNs = Set(resourceType.extensions.map(\.id))
        for key in Set(old.keys).union(new.keys) where key != "schemas" {
            if extensionURNs.contains(key) {
                let before = old[key]?.objectValue ?? [:]
                let after = new[key]?.objectValue ?? [:]
                for name in Set(before.keys).union(after.keys) where before[name] != after[name] {
                    changed.insert("\(key):\(name)")
                }
            } else if old[key] != new[key] {
                changed.insert(key)
            }
        }
        return changed
    }
}

extension JSONValue {
    /// Object member by exact (canonical) key.
    fileprivate subscript(key: String) -> JSONValue? {
        objectValue?[key]
    }

    fileprivate var lowercasedString: JSONValue {
        if case .string(let text) = self { .string(text.lowercased()) } else { self }
    }
}

extension ComparisonValue {
    /// The JSON a filter literal stands for, used to build elements from `add` filters.
    fileprivate var json: JSONValue {
        switch self {
        case .string(let text): .string(text)
        case .number(let number): .number(number)
        case .bool(let flag): .bool(flag)
        case .null: .null
        }
    }
}
