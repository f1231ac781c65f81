import Foundation
import SCIM
import Testing

/// The in-process companion of the libFuzzer harnesses in `Fuzz/`: seeded random inputs through the
/// parsers and the PATCH engine, which must either succeed or fail with the documented 4xx SCIMError,
/// never trap. Deterministic (fixed seeds), so a failure reproduces; the case number is in the message.
@Suite("Property: hostile input never crashes the parsers or the PATCH engine")
struct FuzzPropertyTests {
    static let cases = 2_500

    @Test("random bytes and token soup through Filter.parse: a filter or invalidFilter")
    func filters() {
        var random = SeededRandom(seed: 0x5C1F_0001)
        for index in 0..<Self.cases {
            let text =
                index.isMultiple(of: 3) ? random.bytesAsText(maxLength: 200) : random.soup(Soup.filter, maxTokens: 24)
            do {
                let filter = try Filter.parse(text)
                _ = filter.matches(Soup.user)
            } catch {
                #expect(
                    error.status == 400 && error.scimType == .invalidFilter,
                    "case \(index) \(text.debugDescription): \(error)")
            }
            do {
                _ = try PatchPath.parse(text)
            } catch {
                #expect(
                    error.status == 400 && error.scimType == .invalidPath,
                    "case \(index) \(text.debugDescription): \(error)")
            }
        }
    }

    @Test("filters at and beyond the limits are rejected cheaply")
    func filterLimits() {
        let deep = String(repeating: "(", count: 5_000) + "userName pr" + String(repeating: ")", count: 5_000)
        let long = "userName eq \"" + String(repeating: "x", count: 5_000) + "\""
        let wide = (0..<500).map { "userName eq \"u\($0)\"" }.joined(separator: " or ")
        let brackets = String(repeating: "emails[", count: 2_000)
        let nots = String(repeating: "not (", count: 2_000) + "active pr" + String(repeating: ")", count: 2_000)
        for text in [deep, long, wide, brackets, nots] {
            #expect(throws: SCIMError.self) { try Filter.parse(text) }
        }
    }

    @Test("random PATCH bodies through decode, apply and memberChanges: a result or a 4xx SCIMError")
    func patches() {
        var random = SeededRandom(seed: 0x5C1F_0002)
        let userEngine = PatchEngine(resourceType: Soup.userType)
        let groupEngine = PatchEngine(resourceType: .group)
        let limits = ServiceLimits(maxOperations: 20, maxMembersPerRequest: 20)
        for index in 0..<Self.cases {
            let body: JSONValue
            if index.isMultiple(of: 5) {
                guard let parsed = try? JSONValue.parse(Array(random.bytesAsText(maxLength: 300).utf8)) else {
                    continue
                }
                body = parsed
            } else {
                body = random.patchBody()
            }
            let request: PatchRequest
            do {
                request = try PatchRequest.decode(body, limits: limits)
            } catch {
                #expect((400..<500).contains(error.status), "case \(index) decode: \(error)")
                continue
            }
            do { _ = try userEngine.apply(request, to: Soup.user) } catch {
                #expect((400..<500).contains(error.status), "case \(index) user: \(error)")
            }
            do { _ = try groupEngine.apply(request, to: Soup.group) } catch {
                #expect((400..<500).contains(error.status), "case \(index) group: \(error)")
            }
            do { _ = try PatchEngine.memberChanges(request, groupID: "g-1", limits: limits) } catch {
                #expect((400..<500).contains(error.status), "case \(index) members: \(error)")
            }
        }
    }

    @Test("random bytes and JSON soup through JSONValue.parse: a document, invalidSyntax, or invalidValue for U+0000")
    func json() {
        var random = SeededRandom(seed: 0x5C1F_0003)
        for index in 0..<Self.cases {
            let bytes: [UInt8] =
                index.isMultiple(of: 2)
                ? random.bytes(maxLength: 200) : Array(random.soup(Soup.json, maxTokens: 40, separator: "").utf8)
            let value: JSONValue
            do {
                value = try JSONValue.parse(bytes)
            } catch {
                #expect(
                    error.status == 400 && [.invalidSyntax, .invalidValue].contains(error.scimType),
                    "case \(index): \(error)")
                continue
            }
            let again = try? JSONValue.parse(value.serialized())
            #expect(again == value, "case \(index): the serialised document does not parse back to itself")
        }
        let nested = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: SCIMError.self) { try JSONValue.parse(Array(nested.utf8)) }
    }
}

/// SplitMix64: tiny, seedable and identical on every platform.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func bytes(maxLength: Int) -> [UInt8] {
        (0..<Int.random(in: 0...maxLength, using: &self)).map { _ in UInt8.random(in: 0...255, using: &self) }
    }

    /// Random bytes decoded leniently (invalid UTF-8 becomes U+FFFD, as the HTTP layer would see it).
    mutating func bytesAsText(maxLength: Int) -> String {
        String(decoding: bytes(maxLength: maxLength), as: UTF8.self)
    }

    mutating func soup(_ tokens: [String], maxTokens: Int, separator: String? = nil) -> String {
        (0..<Int.random(in: 1...maxTokens, using: &self)).map { _ in
            tokens.randomElement(using: &self)! + (separator ?? (Bool.random(using: &self) ? " " : ""))
        }.joined()
    }

    mutating func element<T>(_ choices: [T]) -> T { choices.randomElement(using: &self)! }

    /// A random JSON value, shallow, drawn from values PATCH clients send and values they should not.
    mutating func value(depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0...(depth > 2 ? 4 : 7), using: &self) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &self))
        case 2: return .number(element([0, -1, 1.5, 1e300, 7, 2_147_483_648]))
        case 3, 4: return .string(element(Soup.strings))
        case 5: return .array((0..<Int.random(in: 0...3, using: &self)).map { _ in value(depth: depth + 1) })
        default:
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...4, using: &self) { object[element(Soup.keys)] = value(depth: depth + 1) }
            return .object(object)
        }
    }

    mutating func patchBody() -> JSONValue {
        var operations: [JSONValue] = []
        for _ in 0..<Int.random(in: 0...4, using: &self) {
            var operation: [String: JSONValue] = [:]
            if Int.random(in: 0..<10, using: &self) > 0 { operation[element(["op", "OP"])] = element(Soup.ops) }
            if Bool.random(using: &self) {
                operation["path"] = Int.random(in: 0..<8, using: &self) > 0 ? .string(element(Soup.paths)) : value()
            }
            if Int.random(in: 0..<4, using: &self) > 0 { operation["value"] = value() }
            operations.append(Int.random(in: 0..<20, using: &self) > 0 ? .object(operation) : value())
        }
        var body: [String: JSONValue] = ["Operations": .array(operations)]
        if Int.random(in: 0..<10, using: &self) > 0 { body["schemas"] = [.string(SchemaURN.patchOp)] }
        return .object(body)
    }
}

/// Vocabulary for the generators and the fixed resources the PATCHes apply to.
enum Soup {
    static let filter = [
        "userName", "emails", "emails.value", "name.givenName", "meta.lastModified", "members", "value", "type",
        "primary",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "urn:x:", ".", ":", "eq", "EQ", "ne",
        "co", "sw",
        "ew", "pr", "gt", "ge", "lt", "le", "and", "or", "not", "(", ")", "[", "]", "\"ada@acme.com\"",
        "\"x' OR '1'='1\"",
        "\"\\u00e9\\\"\"", "\"unterminated", "\"\\uZZZZ\"", "\"\\ud800\"", "true", "false", "null", "42", "-1.5e3",
        "1e999", "\\",
        "\t", "é", "💥", "\u{0}", "]]", "((",
    ]
    static let json = [
        "{", "}", "[", "]", ",", ":", "\"k\"", "\"\\u0000\"", "\"\\ud83d\"", "\"é\"", "1", "-0", "1e400", "0.5", "01",
        "true",
        "false", "null", "nul", " ", "\n", "\"", "\\", "\u{FEFF}", "\"Operations\"", "\"schemas\"",
    ]
    static let ops: [JSONValue] = ["add", "replace", "remove", "Add", "REPLACE", "move", "", 1, .null, ["add"]]
    static let paths = [
        "active", "title", "displayName", "userName", "name", "name.givenName", "emails", "emails[type eq \"work\"]",
        "emails[type eq \"work\"].value", "emails[type eq \"other\"].primary",
        "emails[value co \"@\" or primary eq true].type",
        "emails[bogus eq 1]", "members", "members[value eq \"u-1\"]", "members[value eq \"u-1\" or value eq \"u-2\"]",
        "members[display sw \"A\"]", "members[value eq \"u-1\"].display", "id", "meta.created", "groups", "externalId",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value", "\(SchemaURN.learnAmpUser):level",
        "\(SchemaURN.learnAmpUser):band", "\(SchemaURN.learnAmpUser):probationEnds", "\(SchemaURN.learnAmpUser)",
        "unknown",
        "emails[", "[]", "name..x", " ", "",
    ]
    static let keys = [
        "value", "display", "type", "primary", "active", "title", "displayName", "userName", "name", "givenName",
        "emails",
        "members", "id", "externalId", "name.familyName", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "department", "manager", SchemaURN.learnAmpUser, "level", "band", "meta", "schemas",
    ]
    static let strings = [
        "", "x", "u-1", "u-3", "g-1", "True", "false", "Senior", "2026-06-30", "2026-01-01T00:00:00Z", "not a date",
        "ada@acme.com",
        "x' OR '1'='1", "; DROP TABLE users; --", String(repeating: "a", count: 300), "é💥", "\u{0}",
    ]

    static let userType = ResourceType.user(customFields: [
        CustomFieldDefinition(name: "level", type: .number),
        CustomFieldDefinition(name: "mentor", type: .boolean),
        CustomFieldDefinition(name: "probationEnds", type: .date),
        CustomFieldDefinition(name: "band", type: .enum(allowed: ["Junior", "Senior"])),
    ])

    static let user = try! JSONValue.parse(
        Array(
            #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
             "id":"u-1","externalId":"okta-1","userName":"ada@acme.com","name":{"givenName":"Ada","familyName":"Lovelace"},
             "displayName":"Ada Lovelace","emails":[{"value":"ada@acme.com","type":"work","primary":true}],"title":"Engineer",
             "active":true,"groups":[{"value":"g-1","display":"Engineering"}],
             "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","manager":{"value":"m-1"}},
             "meta":{"resourceType":"User","created":"2026-01-01T00:00:00Z","version":"W/\"1\""}}
            """#.utf8))

    static let group = try! JSONValue.parse(
        Array(
            #"""
            {"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"id":"g-1","displayName":"Engineering",
             "members":[{"value":"u-1","display":"Ada"},{"value":"u-2","display":"Grace"}]}
            """#.utf8))
}
