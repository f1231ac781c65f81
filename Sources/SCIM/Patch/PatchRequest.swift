/// One RFC 7644 §3.5.2 PATCH operation, with its path already parsed.
public struct PatchOperation: Sendable, Hashable {
    public enum Op: String, Sendable, Hashable {
        case add, replace, remove
    }

    public var op: Op
    /// `nil` for path-less operations (and for an empty `path` string, which some clients send).
    public var path: PatchPath?
    /// The raw `value`; `nil` when absent. Normalised against the schema only when applied.
    public var value: JSONValue?

    public init(op: Op, path: PatchPath? = nil, value: JSONValue? = nil) {
        self.op = op
        self.path = path
        self.value = value
    }
}

extension PatchOperation {
    /// Checks the `id` a path-less value may echo back (Okta sends the resource's own `id` with a
    /// path-less replace). An `id` equal to `ownID` (in any case) is ignored, as `meta` always is
    /// (RFC 7643 §3.1: clients' `meta` SHALL be ignored); an `id` naming anything else would change
    /// what the server owns.
    /// - Throws: `mutability` naming `id`.
    func checkEchoedID(ownID: String) throws(SCIMError) {
        guard path == nil, let value, let id = value[caseInsensitive: "id"] else { return }
        guard case .string(let text) = id, text.caseInsensitiveEquals(ownID) else {
            throw .mutability("id cannot be changed: a path-less value may only repeat the resource's own id.")
        }
    }
}

/// A decoded PATCH body (`urn:ietf:params:scim:api:messages:2.0:PatchOp`).
public struct PatchRequest: Sendable, Hashable {
    public var operations: [PatchOperation]
    /// Leniencies applied while decoding (capitalised op names, empty paths), merged into the result.
    public var rewrites: [RewriteKind: Int]

    public init(operations: [PatchOperation], rewrites: [RewriteKind: Int] = [:]) {
        self.operations = operations
        self.rewrites = rewrites
    }

    /// Decodes and checks a PATCH body. Key names and op names are matched case-insensitively because
    /// Entra ID sends `"Operations"` with `"Add"`, `"Replace"`, `"Remove"`.
    /// - Throws: `invalidSyntax` for a body that is not a PatchOp message or an unknown op;
    ///   `tooMany` beyond `limits.maxOperations`; `invalidPath` for a path that does not parse;
    ///   `invalidValue` when add or replace has no value.
    public static func decode(_ body: JSONValue, limits: ServiceLimits) throws(SCIMError) -> PatchRequest {
        guard case .object = body else { throw .invalidSyntax("The PATCH body must be a JSON object.") }
        guard let schemas = body[caseInsensitive: "schemas"]?.arrayValue,
            schemas.contains(where: { $0.stringValue?.caseInsensitiveEquals(SchemaURN.patchOp) == true })
        else {
            throw .invalidSyntax("A PATCH body must list \(SchemaURN.patchOp) in schemas.")
        }
        guard let operations = body[caseInsensitive: "Operations"]?.arrayValue, !operations.isEmpty else {
            throw .invalidSyntax("A PATCH body needs a non-empty Operations array.")
        }
        guard operations.count <= limits.maxOperations else {
            throw .tooMany("A PATCH request may carry at most \(limits.maxOperations) operations.")
        }
        var request = PatchRequest(operations: [])
        for (index, operation) in operations.enumerated() {
            request.operations.append(try decodeOperation(operation, index: index, rewrites: &request.rewrites))
        }
        return request
    }

    private static func decodeOperation(
        _ operation: JSONValue, index: Int, rewrites: inout [RewriteKind: Int]
    ) throws(SCIMError) -> PatchOperation {
        guard case .object = operation else {
            throw .invalidSyntax("Operation \(index + 1) must be an object.")
        }
        guard let name = operation[caseInsensitive: "op"]?.stringValue,
            let op = PatchOperation.Op(rawValue: name.lowercased())
        else {
            throw .invalidSyntax("Operation \(index + 1) needs an op of add, replace or remove.")
        }
        if name != op.rawValue { rewrites[.caseFolded, default: 0] += 1 }

        var path: PatchPath?
        switch operation[caseInsensitive: "path"] {
        case nil, .null:
            break
        case .string(let text) where text.allSatisfy(\.isWhitespace):
            rewrites[.emptyPath, default: 0] += 1
        case .string(let text):
            do {
                path = try PatchPath.parse(text)
            } catch {
                throw .invalidPath("Operation \(index + 1): \(error.detail)")
            }
        default:
            throw .invalidPath("Operation \(index + 1): path must be a string.")
        }

        let value = operation[caseInsensitive: "value"]
        if op != .remove && value == nil {
            throw .invalidValue("Operation \(index + 1) (\(op.rawValue)) needs a value.")
        }
        return PatchOperation(op: op, path: path, value: value)
    }
}
