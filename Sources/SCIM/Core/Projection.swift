/// The `attributes` / `excludedAttributes` query parameters (RFC 7644 §3.4.2.5, §3.9) as a value that
/// trims resources and tells the store what it need not load (`excludedAttributes=members`).
///
/// Names may be URN-qualified or not, may select sub-attributes (`meta.created`), or a whole extension
/// by its URN. Names the catalog does not know are ignored, as RFC 7644 allows. `id` and `schemas`
/// (and anything `returned: always`) are always kept; `returned: never` never is; `returned: request`
/// only when asked for by name. When both parameters are given, `attributes` wins.
public struct AttributeProjection: Sendable {
    private enum Mode: Sendable {
        case defaults
        case include(Selection)
        case exclude(Selection)
    }

    /// Parsed names: whole schemas by URN, and per attribute either everything (`nil`) or some
    /// sub-attributes.
    private struct Selection: Sendable {
        var schemas: Set<String> = []
        var attributes: [String: Set<String>?] = [:]

        mutating func insert(_ target: ResourceType.Target) {
            switch target {
            case .schema(let schema):
                schemas.insert(schema.id)
            case .attribute(let resolved):
                let name = resolved.qualifiedName
                if let sub = resolved.subAttribute {
                    // A whole attribute already selected stays whole.
                    if case .some(.some(var subs)) = attributes[name] {
                        subs.insert(sub.name)
                        attributes[name] = .some(subs)
                    } else if attributes[name] == nil {
                        attributes[name] = .some([sub.name])
                    }
                } else {
                    attributes[name] = .some(nil)
                }
            }
        }
    }

    private let resourceType: ResourceType
    private let mode: Mode

    /// - Parameters:
    ///   - attributes: comma-separated names to return (plus those always returned).
    ///   - excludedAttributes: comma-separated names to leave out.
    /// - Throws: `invalidSyntax` if a name contains characters no attribute name can (a filter, quotes).
    public init(attributes: String?, excludedAttributes: String?, resourceType: ResourceType) throws(SCIMError) {
        self.resourceType = resourceType
        if let attributes, let selection = try Self.parse(attributes, resourceType) {
            mode = .include(selection)
        } else if let excludedAttributes, let selection = try Self.parse(excludedAttributes, resourceType) {
            mode = .exclude(selection)
        } else {
            mode = .defaults
        }
    }

    /// Whether the top-level attribute (`members`, `groups`, `urn:…:User:manager`, or an extension URN)
    /// appears in any part of the output, so a store can skip loading what will not be returned.
    public func includes(_ topLevelAttribute: String) -> Bool {
        if topLevelAttribute.caseInsensitiveEquals("schemas") { return true }
        switch resourceType.locate(topLevelAttribute) {
        case nil:
            return false
        case .schema(let schema):
            return schema.attributes.contains { decision(for: schema.id, $0) != .drop }
        case .attribute(let resolved):
            return decision(for: resolved.schemaURN, resolved.attribute) != .drop
        }
    }

    /// Trims `resource` (canonical JSON) to the selected attributes.
    ///
    /// Members that pass unchanged are not copied: with the default selection nearly all do, and
    /// rebuilding every object was most of the cost of projecting a response.
    public func apply(to resource: JSONValue) -> JSONValue {
        guard case .object(let object) = resource else { return resource }
        var projected = object
        for (key, value) in object where key != "schemas" {
            let outcome: Outcome
            if let schema = resourceType.schema(urn: key), schema.id != resourceType.schema.id {
                outcome = projectExtension(value, schema)
            } else if let attribute = resourceType.schema.attribute(named: key) {
                outcome = project(value, attribute, schemaURN: resourceType.schema.id)
            } else {
                outcome = .drop
            }
            outcome.update(key, in: &projected)
        }
        return .object(projected)
    }

    /// What projection does to one member.
    private enum Outcome {
        case keep
        case drop
        case replace(JSONValue)

        func update(_ key: String, in object: inout [String: JSONValue]) {
            switch self {
            case .keep: break
            case .drop: object[key] = nil
            case .replace(let value): object[key] = value
            }
        }
    }

    private func projectExtension(_ value: JSONValue, _ schema: ResourceSchema) -> Outcome {
        guard case .object(let members) = value else { return .drop }
        var inner = members
        var changed = false
        for (name, member) in members {
            let outcome = schema.attribute(named: name).map { project(member, $0, schemaURN: schema.id) } ?? .drop
            if case .keep = outcome { continue }
            outcome.update(name, in: &inner)
            changed = true
        }
        if inner.isEmpty { return .drop }
        return changed ? .replace(.object(inner)) : .keep
    }

    // MARK: - Decisions

    private enum Decision: Equatable {
        case drop
        /// Keep, minus sub-attributes that are not returned by default.
        case whole
        /// Keep, explicitly requested: `returned: request` sub-attributes stay.
        case requested
        case only(Set<String>)
        case without(Set<String>)
    }

    private func decision(for schemaURN: String, _ attribute: SchemaAttribute) -> Decision {
        switch attribute.returned {
        case .never: return .drop
        case .always: return .whole
        case .default, .request: break
        }
        // Only a selection needs the qualified name; building it for every member cost the default case too.
        var qualified: String {
            schemaURN == resourceType.schema.id ? attribute.name : "\(schemaURN):\(attribute.name)"
        }
        switch mode {
        case .defaults:
            return attribute.returned == .request ? .drop : .whole
        case .include(let selection):
            if let entry = selection.attributes[qualified] {
                return entry.map { .only($0) } ?? .requested
            }
            return selection.schemas.contains(schemaURN) && attribute.returned != .request ? .whole : .drop
        case .exclude(let selection):
            if attribute.returned == .request || selection.schemas.contains(schemaURN) { return .drop }
            switch selection.attributes[qualified] {
            case nil: return .whole
            case .some(nil): return .drop
            case .some(.some(let subs)): return .without(subs)
            }
        }
    }

    private func project(_ value: JSONValue, _ attribute: SchemaAttribute, schemaURN: String) -> Outcome {
        let decision = decision(for: schemaURN, attribute)
        guard decision != .drop else { return .drop }
        guard attribute.type == .complex else { return .keep }
        if case .array(let elements) = value {
            var trimmed: [JSONValue] = []
            var changed = false
            for element in elements {
                switch trim(element, attribute, decision) {
                case .keep: trimmed.append(element)
                case .drop: changed = true
                case .replace(let kept):
                    trimmed.append(kept)
                    changed = true
                }
            }
            if trimmed.isEmpty { return .drop }
            return changed ? .replace(.array(trimmed)) : .keep
        }
        return trim(value, attribute, decision)
    }

    /// Keeps the sub-attributes of one complex value that the decision allows.
    private func trim(_ value: JSONValue, _ attribute: SchemaAttribute, _ decision: Decision) -> Outcome {
        guard case .object(let object) = value else { return .keep }
        func keeps(_ key: String) -> Bool {
            guard let sub = attribute.subAttribute(named: key) else { return true }
            switch (sub.returned, decision) {
            case (.never, _): return false
            case (.always, _): return true
            case (.request, .requested): return true
            case (.request, _): return false
            case (_, .only(let subs)): return subs.contains(sub.name)
            case (_, .without(let subs)): return !subs.contains(sub.name)
            default: return true
            }
        }
        if object.isEmpty { return .drop }
        if object.keys.allSatisfy(keeps) { return .keep }
        let kept = object.filter { keeps($0.key) }
        return kept.isEmpty ? .drop : .replace(.object(kept))
    }

    // MARK: - Parsing

    private static func parse(_ list: String, _ resourceType: ResourceType) throws(SCIMError) -> Selection? {
        let names = list.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        guard !names.isEmpty else { return nil }
        var selection = Selection()
        for name in names {
            guard name.unicodeScalars.allSatisfy(isNameCharacter) else {
                throw .invalidSyntax("\(name) is not an attribute name.")
            }
            if let target = resourceType.locate(name) { selection.insert(target) }
        }
        return selection
    }

    /// Characters of `[urn:…:]name[.sub]` (RFC 7643 §2.1 ATTRNAME plus URN punctuation).
    private static func isNameCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII
            && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || "$-_:.".unicodeScalars.contains(scalar))
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
