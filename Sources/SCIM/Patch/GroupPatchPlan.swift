/// What a Groups PATCH does, expressed so the store can apply it set-based, without loading members.
///
/// Okta pushes groups of tens of thousands of members in batches; applying a PATCH to a loaded member
/// list would cost in proportion to the group, not the change. The store applies a plan as:
/// if `replaceMembers` is set, the member list becomes exactly that list; otherwise, if
/// `removeAllMembers`, every member is removed and then `addMembers` added; otherwise `removeMembers`
/// are removed and `addMembers` added (the two are disjoint). Adding a present member or removing an
/// absent one is a no-op.
public struct GroupPatchPlan: Sendable, Equatable {
    /// `.some(name)` to rename; `nil` when the name is untouched.
    public var displayName: String??
    /// `.some(nil)` to clear, `.some(id)` to set, `nil` when untouched.
    public var externalId: String??
    public var addMembers: [String]
    public var removeMembers: [String]
    /// The whole member list, when an operation replaced it.
    public var replaceMembers: [String]?
    public var removeAllMembers: Bool
    /// Leniencies applied (see `Normalisation.rewrites`).
    public var rewrites: [RewriteKind: Int]
    /// Attributes in path-less values that were ignored.
    public var unknownAttributes: [String]

    public init(
        displayName: String?? = nil, externalId: String?? = nil, addMembers: [String] = [],
        removeMembers: [String] = [],
        replaceMembers: [String]? = nil, removeAllMembers: Bool = false, rewrites: [RewriteKind: Int] = [:],
        unknownAttributes: [String] = []
    ) {
        self.displayName = displayName
        self.externalId = externalId
        self.addMembers = addMembers
        self.removeMembers = removeMembers
        self.replaceMembers = replaceMembers
        self.removeAllMembers = removeAllMembers
        self.rewrites = rewrites
        self.unknownAttributes = unknownAttributes
    }

    /// Whether the plan touches the member list at all.
    public var changesMembers: Bool {
        replaceMembers != nil || removeAllMembers || !addMembers.isEmpty || !removeMembers.isEmpty
    }

    /// Every member id the plan adds, so the store can check in one query that they are users of the
    /// organisation (an unknown id is `invalidValue` and nothing changes).
    public var referencedMembers: [String] {
        replaceMembers ?? addMembers
    }

    fileprivate mutating func add(_ ids: [String]) {
        if let replacement = replaceMembers {
            replaceMembers = Self.union(replacement, ids)
            return
        }
        removeMembers = Self.subtract(removeMembers, ids)
        addMembers = Self.union(addMembers, ids)
    }

    fileprivate mutating func remove(_ ids: [String]) {
        if let replacement = replaceMembers {
            replaceMembers = Self.subtract(replacement, ids)
            return
        }
        addMembers = Self.subtract(addMembers, ids)
        if !removeAllMembers { removeMembers = Self.union(removeMembers, ids) }
    }

    fileprivate mutating func replace(with ids: [String]) {
        guard !ids.isEmpty else {
            removeAll()
            return
        }
        replaceMembers = Self.union([], ids)
        addMembers = []
        removeMembers = []
        removeAllMembers = false
    }

    fileprivate mutating func removeAll() {
        replaceMembers = nil
        addMembers = []
        removeMembers = []
        removeAllMembers = true
    }

    private static func union(_ base: [String], _ added: [String]) -> [String] {
        var seen = Set(base)
        return base + added.filter { seen.insert($0).inserted }
    }

    private static func subtract(_ base: [String], _ removed: [String]) -> [String] {
        let doomed = Set(removed)
        return base.filter { !doomed.contains($0) }
    }
}

extension PatchEngine {
    /// Turns a Groups PATCH into a `GroupPatchPlan`, covering every shape Okta and Entra ID send.
    ///
    /// Operations are folded in order, so later ones see earlier ones (add then remove of the same id
    /// leaves it out). Okta's path-less rename carries the group's own `id`, which is accepted and
    /// ignored; any other `id` is an attempt to change it.
    /// - Throws: `mutability` for a different `id` or a read-only path; `invalidValue` for a member
    ///   without a `value`, a nested group, or removing `displayName`; `invalidPath` for unknown or
    ///   unsupported paths; `invalidFilter` for a member filter other than `value eq "…"` (joined by
    ///   `or`); `noTarget` for remove without a path; `tooMany` beyond `limits.maxMembersPerRequest`.
    public static func memberChanges(
        _ request: PatchRequest, groupID: String, limits: ServiceLimits = .default
    ) throws(SCIMError) -> GroupPatchPlan {
        var folder = GroupPlanFolder(groupID: groupID)
        folder.report.rewrites = request.rewrites
        for (index, operation) in request.operations.enumerated() {
            do {
                try folder.fold(operation)
            } catch {
                throw SCIMError(
                    status: error.status, scimType: error.scimType, detail: "Operation \(index + 1): \(error.detail)")
            }
            guard folder.memberCount <= limits.maxMembersPerRequest else {
                throw .tooMany("A request may change at most \(limits.maxMembersPerRequest) members.")
            }
        }
        // externalId is indexed, and a Postgres btree entry must stay under ~2.7 kB (see `User.maximumStringLength`).
        if case .some(.some(let externalID)) = folder.plan.externalId, externalID.count > User.maximumStringLength {
            throw .invalidValue("externalId is longer than \(User.maximumStringLength) characters.")
        }
        folder.plan.rewrites = folder.report.rewrites
        folder.plan.unknownAttributes = folder.report.unknownAttributes
        return folder.plan
    }
}

/// The fold behind `PatchEngine.memberChanges`.
private struct GroupPlanFolder {
    let groupID: String
    let normaliser = Normaliser(resourceType: .group)
    var plan = GroupPatchPlan()
    var report = Report()
    /// Member ids named so far, counted against `maxMembersPerRequest`.
    var memberCount = 0

    init(groupID: String) {
        self.groupID = groupID
    }

    mutating func fold(_ operation: PatchOperation) throws(SCIMError) {
        guard let path = operation.path else {
            try foldPathless(operation)
            return
        }
        guard case .attribute(let resolved) = ResourceType.group.locate(path.attribute) else {
            throw .invalidPath("Unknown attribute \(path.attribute).")
        }
        guard !resolved.isReadOnly else { throw .mutability("\(resolved.attribute.name) is read-only.") }
        let attribute = resolved.attribute
        let isMembers = attribute.name == "members"
        guard resolved.subAttribute == nil, path.subAttribute == nil, path.valueFilter == nil || isMembers else {
            throw .invalidPath("\(path) is not supported on Groups.")
        }

        if let filter = path.valueFilter {
            guard operation.op == .remove else {
                throw .invalidPath("Only remove may select members with a filter.")
            }
            guard let ids = Self.memberIDs(in: filter) else {
                throw .invalidFilter("Members can only be selected with value eq \"<user id>\".")
            }
            try remove(ids)
            return
        }

        switch (attribute.name, operation.op) {
        case ("members", .remove):
            if let raw = operation.value, !raw.isNull {
                try remove(try members(raw))
            } else {
                plan.removeAll()
            }
        case ("members", .add):
            let ids = try members(operation.value ?? .null)
            memberCount += ids.count
            plan.add(ids)
        case ("members", .replace):
            let ids = try members(operation.value ?? .null)
            memberCount += ids.count
            plan.replace(with: ids)
        case ("displayName", .remove):
            throw .invalidValue("displayName is required and cannot be removed.")
        case ("displayName", _):
            try rename(operation.value ?? .null, op: operation.op)
        case ("externalId", .remove):
            plan.externalId = .some(nil)
        case ("externalId", _):
            plan.externalId = .some(try string(operation.value ?? .null, attribute))
        default:
            throw .invalidPath("\(path) is not supported on Groups.")
        }
    }

    /// Okta's `{"op":"replace","value":{"id":"…","displayName":"…"}}` and friends.
    private mutating func foldPathless(_ operation: PatchOperation) throws(SCIMError) {
        guard operation.op != .remove else { throw .noTarget("remove needs a path.") }
        let raw = operation.value ?? .null
        // UUIDs are compared case-insensitively: a client may echo the id in another case.
        try operation.checkEchoedID(ownID: groupID)
        let normalised = try normaliser.normalise(patchValue: raw)
        report.absorb(normalised)
        for (key, value) in (normalised.value.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            switch key {
            case "displayName":
                try rename(value, op: operation.op)
            case "externalId":
                if operation.op == .add && value.isNull { continue }
                plan.externalId = .some(value.stringValue)
            case "members":
                let ids = try memberIDs(fromNormalised: value)
                memberCount += ids.count
                if operation.op == .add { plan.add(ids) } else { plan.replace(with: ids) }
            default:
                continue
            }
        }
    }

    private mutating func rename(_ value: JSONValue, op: PatchOperation.Op) throws(SCIMError) {
        if op == .add && value.isNull { return }
        guard case .string(let name) = value, !name.allSatisfy(\.isWhitespace) else {
            throw .invalidValue("displayName must be a non-empty string.")
        }
        plan.displayName = .some(name)
    }

    private mutating func remove(_ ids: [String]) throws(SCIMError) {
        memberCount += ids.count
        plan.remove(ids)
    }

    private mutating func string(_ value: JSONValue, _ attribute: SchemaAttribute) throws(SCIMError) -> String? {
        try normaliser.normalise(value, for: attribute, report: &report).stringValue
    }

    private mutating func members(_ raw: JSONValue) throws(SCIMError) -> [String] {
        try memberIDs(fromNormalised: try normaliser.normalise(raw, for: .groupMembers, report: &report))
    }

    private func memberIDs(fromNormalised value: JSONValue) throws(SCIMError) -> [String] {
        var ids: [String] = []
        for element in value.arrayValue ?? [] {
            guard case .string(let id) = element.objectValue?["value"], !id.isEmpty else {
                throw .invalidValue("Each member needs a value (the user's id).")
            }
            ids.append(id)
        }
        return ids
    }

    /// The ids in `value eq "a"` or `value eq "a" or value eq "b"`; `nil` for any other filter,
    /// which could only be answered by loading the members.
    private static func memberIDs(in filter: Filter) -> [String]? {
        switch filter {
        case .comparison(let path, .eq, .string(let id))
        where path.name.caseInsensitiveEquals("value") && path.subAttribute == nil:
            [id]
        case .or(let lhs, let rhs):
            memberIDs(in: lhs).flatMap { left in memberIDs(in: rhs).map { left + $0 } }
        default:
            nil
        }
    }
}
