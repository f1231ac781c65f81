import Testing

@testable import SCIM

private let enterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

private func path(_ name: String, _ sub: String? = nil, schema: String? = nil) -> AttributePath {
    AttributePath(schema: schema, name: name, subAttribute: sub)
}

private func cmp(_ name: String, _ op: ComparisonOperator, _ value: ComparisonValue) -> Filter {
    .comparison(path(name), op, value)
}

@Suite("Filter parser")
struct FilterParserTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var text: String
        var expected: Filter
        init(_ text: String, _ expected: Filter) {
            self.text = text
            self.expected = expected
        }
        var testDescription: String { text }
    }

    @Test("every comparison operator, any case", arguments: ComparisonOperator.allCases)
    func comparisonOperators(op: ComparisonOperator) throws {
        #expect(try Filter.parse("title \(op.rawValue) \"x\"") == cmp("title", op, .string("x")))
        #expect(try Filter.parse("title \(op.rawValue.uppercased()) \"x\"") == cmp("title", op, .string("x")))
    }

    @Test(
        "identity-provider filters and attribute paths",
        arguments: [
            // Okta
            Case(#"userName eq "jane@acme.com""#, cmp("userName", .eq, .string("jane@acme.com"))),
            Case(#"displayName eq "Engineering""#, cmp("displayName", .eq, .string("Engineering"))),
            // Entra ID
            Case(#"externalId eq "abc""#, cmp("externalId", .eq, .string("abc"))),
            Case(
                #"userName eq "x" and active eq true"#,
                .and(cmp("userName", .eq, .string("x")), cmp("active", .eq, .bool(true)))),
            Case(
                #"displayName eq "G1" and members eq "2819c223""#,
                .and(cmp("displayName", .eq, .string("G1")), cmp("members", .eq, .string("2819c223")))),
            Case("title pr", .present(path("title"))),
            Case("title PR", .present(path("title"))),
            Case(#"name.familyName co "O'Malley""#, .comparison(path("name", "familyName"), .co, .string("O'Malley"))),
            Case(
                #"meta.lastModified gt "2026-01-01T00:00:00Z""#,
                .comparison(path("meta", "lastModified"), .gt, .string("2026-01-01T00:00:00Z"))),
            Case(
                #"meta.created le "2011-05-13T04:42:34Z""#,
                .comparison(path("meta", "created"), .le, .string("2011-05-13T04:42:34Z"))),
            Case(
                enterprise + #":manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
                .comparison(
                    path("manager", "value", schema: enterprise), .eq,
                    .string("26118915-6090-4610-87e4-49d8ca9f808d"))),
            Case(
                enterprise + #":employeeNumber eq "701984""#,
                .comparison(path("employeeNumber", schema: enterprise), .eq, .string("701984"))),
            Case(
                #"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
                .comparison(path("userName", schema: "urn:ietf:params:scim:schemas:core:2.0:User"), .sw, .string("J"))),
            Case(#"members.$ref pr"#, .present(path("members", "$ref"))),
            Case(#"x-custom_1 eq 1"#, cmp("x-custom_1", .eq, .number(1))),
            // Literals
            Case("active eq TRUE", cmp("active", .eq, .bool(true))),
            Case("active ne False", cmp("active", .ne, .bool(false))),
            Case("manager eq null", cmp("manager", .eq, .null)),
            Case("manager ne NULL", cmp("manager", .ne, .null)),
            Case("age ge 0", cmp("age", .ge, .number(0))),
            Case("age lt -12", cmp("age", .lt, .number(-12))),
            Case("score gt 3.25", cmp("score", .gt, .number(3.25))),
            Case("score le -1.5e3", cmp("score", .le, .number(-1500))),
            Case("score eq 2E-2", cmp("score", .eq, .number(0.02))),
            Case("score eq 1e+2", cmp("score", .eq, .number(100))),
            Case("score eq -0", cmp("score", .eq, .number(0))),
            // Escapes and Unicode
            Case(#"title eq "say \"hi\"""#, cmp("title", .eq, .string(#"say "hi""#))),
            Case(#"title eq "a\\b\/c""#, cmp("title", .eq, .string(#"a\b/c"#))),
            Case(#"title eq "\b\f\n\r\t""#, cmp("title", .eq, .string("\u{08}\u{0C}\n\r\t"))),
            Case(#"title eq "\u00e9\u00C9""#, cmp("title", .eq, .string("éÉ"))),
            Case(#"title eq "\ud83d\ude00""#, cmp("title", .eq, .string("😀"))),
            Case(#"displayName eq "Zoë 😀 日本""#, cmp("displayName", .eq, .string("Zoë 😀 日本"))),
            Case(#"title eq """#, cmp("title", .eq, .string(""))),
            Case(#"title eq "a and b or (c)""#, cmp("title", .eq, .string("a and b or (c)"))),
            // Whitespace
            Case("  userName \t eq   \"a\"  ", cmp("userName", .eq, .string("a"))),
            Case("(title pr)", .present(path("title"))),
            Case("( ( title pr ) )", .present(path("title"))),
            Case(#"userName eq"x""#, cmp("userName", .eq, .string("x"))),
        ])
    func parses(_ testCase: Case) throws {
        #expect(try Filter.parse(testCase.text) == testCase.expected)
    }

    @Test(
        "and/or/not precedence and grouping",
        arguments: [
            Case(
                "a eq 1 or b eq 2 and c eq 3",
                .or(cmp("a", .eq, .number(1)), .and(cmp("b", .eq, .number(2)), cmp("c", .eq, .number(3))))),
            Case(
                "a eq 1 and b eq 2 or c eq 3",
                .or(.and(cmp("a", .eq, .number(1)), cmp("b", .eq, .number(2))), cmp("c", .eq, .number(3)))),
            Case(
                "(a eq 1 or b eq 2) and c eq 3",
                .and(.or(cmp("a", .eq, .number(1)), cmp("b", .eq, .number(2))), cmp("c", .eq, .number(3)))),
            Case(
                "a pr and b pr and c pr",
                .and(.and(.present(path("a")), .present(path("b"))), .present(path("c")))),
            Case(
                "a pr or b pr or c pr",
                .or(.or(.present(path("a")), .present(path("b"))), .present(path("c")))),
            Case(
                "a pr and (b pr and c pr)",
                .and(.present(path("a")), .and(.present(path("b")), .present(path("c"))))),
            Case("not (a pr)", .not(.present(path("a")))),
            Case("NOT(a pr)", .not(.present(path("a")))),
            Case(
                "not (a pr) and b pr",
                .and(.not(.present(path("a"))), .present(path("b")))),
            Case(
                "a pr or not (b pr or c pr) and d pr",
                .or(
                    .present(path("a")),
                    .and(.not(.or(.present(path("b")), .present(path("c")))), .present(path("d"))))),
            Case("a pr AND b pr Or c pr", .or(.and(.present(path("a")), .present(path("b"))), .present(path("c")))),
            Case(
                #"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
                .and(
                    cmp("userType", .eq, .string("Employee")),
                    .or(
                        cmp("emails", .co, .string("example.com")),
                        .comparison(path("emails", "value"), .co, .string("example.org"))))),
        ])
    func precedence(_ testCase: Case) throws {
        #expect(try Filter.parse(testCase.text) == testCase.expected)
    }

    @Test(
        "value paths",
        arguments: [
            Case(#"emails[type eq "work"]"#, .valuePath(path("emails"), cmp("type", .eq, .string("work")))),
            Case(
                #"emails[type eq "work" and value co "@acme.com"]"#,
                .valuePath(
                    path("emails"),
                    .and(cmp("type", .eq, .string("work")), cmp("value", .co, .string("@acme.com"))))),
            Case(
                #"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
                .and(
                    cmp("userType", .eq, .string("Employee")),
                    .valuePath(
                        path("emails"),
                        .and(cmp("type", .eq, .string("work")), cmp("value", .co, .string("@example.com")))))),
            Case(
                #"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
                .or(
                    .valuePath(
                        path("emails"),
                        .and(cmp("type", .eq, .string("work")), cmp("value", .co, .string("@example.com")))),
                    .valuePath(
                        path("ims"),
                        .and(cmp("type", .eq, .string("xmpp")), cmp("value", .co, .string("@foo.com")))))),
            Case(
                #"emails[not (type eq "home") or (primary eq true)]"#,
                .valuePath(
                    path("emails"), .or(.not(cmp("type", .eq, .string("home"))), cmp("primary", .eq, .bool(true))))),
            Case(#"members [ value pr ]"#, .valuePath(path("members"), .present(path("value")))),
            Case(
                enterprise + #":manager[value eq "m1"]"#,
                .valuePath(path("manager", schema: enterprise), cmp("value", .eq, .string("m1")))),
        ])
    func valuePaths(_ testCase: Case) throws {
        #expect(try Filter.parse(testCase.text) == testCase.expected)
    }

    @Test(
        "malformed filters are invalidFilter (400)",
        arguments: [
            "",
            "   ",
            "\t",
            "userName",
            "userName eq",
            #"userName "x""#,
            #"userName equals "x""#,
            #"userName like "x""#,
            #"userName eq jane"#,
            #"userName eq 'jane'"#,
            #"userName eq "x" extra"#,
            #"userName eq "x" and"#,
            #"userName eq "x" or"#,
            #"and userName eq "x""#,
            #"userName eq "x" and and title pr"#,
            #"userName eq "unterminated"#,
            #"userName eq "bad \q escape""#,
            #"userName eq "\u12""#,
            #"userName eq "\uZZZZ""#,
            #"userName eq "\ud83d""#,
            #"userName eq "\ude00""#,
            #"userName eq "\u0000""#,
            "userName eq \"raw\ncontrol\"",
            "title pr \"x\"",
            "title pr true",
            "(title pr",
            "title pr)",
            "((title pr)",
            "()",
            "not title pr",
            "not",
            "not ()",
            #"emails[type eq "work""#,
            #"emails type eq "work"]"#,
            #"emails[]"#,
            #"emails[type[value eq "x"] pr]"#,
            #"a[b[c eq 1]]"#,
            #"emails[type eq "work"].value eq "x""#,
            #"emails[urn:x:y:type eq "work"]"#,
            #"emails[name.type eq "work"]"#,
            #"name.familyName[value eq "x"]"#,
            #"[type eq "work"]"#,
            #"1abc eq "x""#,
            #"user name eq "x""#,
            #"a.b.c eq "x""#,
            #"a. eq "x""#,
            #".a eq "x""#,
            #"foo:bar eq "x""#,
            #"urn: eq "x""#,
            #"urn:a:b: eq "x""#,
            "age eq 01",
            "age eq 1.",
            "age eq .5",
            "age eq +1",
            "age eq 1e",
            "age eq 1e400",
            "age eq 0x1F",
            "active eq yes",
            "title eq \"x\" ]",
            #""userName" eq "x""#,
            "userName eq \"x\"\"y\"",
        ])
    func rejects(_ text: String) {
        let error = #expect(throws: SCIMError.self) { try Filter.parse(text) }
        #expect(error?.scimType == .invalidFilter)
        #expect(error?.status == 400)
        #expect(error.map { !$0.detail.isEmpty } ?? false)
    }

    @Test("messages say where the problem is")
    func messagesHavePositions() {
        func detail(_ text: String) -> String {
            do {
                _ = try Filter.parse(text)
                return ""
            } catch {
                return error.detail
            }
        }
        #expect(detail(#"userName eq "x" extra"#).contains("position 17"))
        #expect(detail(#"userName like "x""#).contains("Unknown operator 'like' at position 10"))
        #expect(detail("(title pr").contains("Missing ')'"))
        #expect(detail("title pr \"x\"").contains("'pr'"))
        #expect(detail("userName eq jane").contains("double quotes"))
        #expect(detail(#"a[b[c eq 1]]"#).contains("nested"))
    }

    @Test("error messages never echo long input")
    func messagesAreShort() {
        let long = String(repeating: "x", count: 3000)
        for text in ["1\(long) eq 1", "a eq \(long)", "a \(long) 1", "a eq 1 \(long)", "a eq \"\(long)\" b"] {
            let error = #expect(throws: SCIMError.self) { try Filter.parse(text) }
            #expect((error?.detail.count ?? 0) < 250, "\(error?.detail.prefix(300) ?? "")")
        }
    }

    @Test("limits: length, node count and depth")
    func limits() throws {
        let atLength = "a eq \"" + String(repeating: "é", count: 4096 - 7) + "\""
        #expect(atLength.unicodeScalars.count == 4096)
        _ = try Filter.parse(atLength)
        let tooLong = #expect(throws: SCIMError.self) { try Filter.parse(atLength + " ") }
        #expect(tooLong?.scimType == .invalidFilter)
        #expect(tooLong?.detail.contains("4096") == true)

        // 50 comparisons and 49 `and`s are 99 nodes; `not` makes 100, one more `or` pushes past.
        let fifty = (0..<50).map { "a\($0) pr" }.joined(separator: " and ")
        _ = try Filter.parse(fifty)
        _ = try Filter.parse("not (\(fifty))")
        let tooMany = #expect(throws: SCIMError.self) { try Filter.parse(fifty + " or b pr") }
        #expect(tooMany?.scimType == .invalidFilter)
        #expect(tooMany?.detail.contains("100") == true)

        let sixteen = String(repeating: "(", count: 16) + "a pr" + String(repeating: ")", count: 16)
        _ = try Filter.parse(sixteen)
        let tooDeep = #expect(throws: SCIMError.self) { try Filter.parse("(" + sixteen + ")") }
        #expect(tooDeep?.scimType == .invalidFilter)
        #expect(tooDeep?.detail.contains("16") == true)

        let nots = String(repeating: "not (", count: 17) + "a pr" + String(repeating: ")", count: 17)
        #expect(throws: SCIMError.self) { try Filter.parse(nots) }

        let custom = FilterLimits(maximumLength: 10, maximumNodes: 1, maximumDepth: 0)
        _ = try Filter.parse("a pr", limits: custom)
        #expect(throws: SCIMError.self) { try Filter.parse("a pr or b pr", limits: custom) }
        #expect(throws: SCIMError.self) { try Filter.parse("(a pr)", limits: custom) }
        #expect(throws: SCIMError.self) { try Filter.parse("abcdef eq 1", limits: custom) }
    }

    @Test("hostile nesting fails fast instead of overflowing the stack")
    func hostileNesting() {
        for text in [
            String(repeating: "(", count: 100_000),
            String(repeating: "not (", count: 50_000),
            String(repeating: "a[", count: 50_000),
            String(repeating: "(", count: 4000) + "a pr" + String(repeating: ")", count: 4000),
        ] {
            let error = #expect(throws: SCIMError.self) { try Filter.parse(text) }
            #expect(error?.scimType == .invalidFilter)
        }
        let deep = String(repeating: "(", count: 2000) + "a pr" + String(repeating: ")", count: 2000)
        #expect(throws: SCIMError.self) {
            try Filter.parse(deep, limits: FilterLimits(maximumLength: 100_000, maximumNodes: 100, maximumDepth: 16))
        }
    }
}

@Suite("PATCH path parser")
struct PatchPathParserTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var text: String
        var expected: PatchPath
        init(_ text: String, _ expected: PatchPath) {
            self.text = text
            self.expected = expected
        }
        var testDescription: String { text }
    }

    @Test(
        "valid paths",
        arguments: [
            Case("userName", PatchPath(attribute: path("userName"))),
            Case("name.givenName", PatchPath(attribute: path("name", "givenName"))),
            Case("members", PatchPath(attribute: path("members"))),
            Case(
                #"members[value eq "2819c223"]"#,
                PatchPath(attribute: path("members"), valueFilter: cmp("value", .eq, .string("2819c223")))),
            Case(
                #"emails[type eq "work"].value"#,
                PatchPath(
                    attribute: path("emails"), valueFilter: cmp("type", .eq, .string("work")), subAttribute: "value")),
            Case(
                #"addresses[type eq "work" and primary eq true].streetAddress"#,
                PatchPath(
                    attribute: path("addresses"),
                    valueFilter: .and(cmp("type", .eq, .string("work")), cmp("primary", .eq, .bool(true))),
                    subAttribute: "streetAddress")),
            Case(enterprise + ":manager", PatchPath(attribute: path("manager", schema: enterprise))),
            Case(enterprise + ":manager.value", PatchPath(attribute: path("manager", "value", schema: enterprise))),
            Case(
                "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
                PatchPath(attribute: path("name", "familyName", schema: "urn:ietf:params:scim:schemas:core:2.0:User"))),
            Case("  active ", PatchPath(attribute: path("active"))),
            Case("members.$ref", PatchPath(attribute: path("members", "$ref"))),
        ])
    func parses(_ testCase: Case) throws {
        #expect(try PatchPath.parse(testCase.text) == testCase.expected)
    }

    @Test(
        "invalid paths are invalidPath (400)",
        arguments: [
            "",
            "  ",
            "name.",
            ".name",
            "a.b.c",
            "1name",
            "user name",
            "foo:bar",
            "urn:",
            #"emails[type eq "work""#,
            #"emails[type eq "work"]value"#,
            #"emails[type eq "work"] .value"#,
            #"emails[type eq "work"].value.x"#,
            #"emails[type eq "work"].1x"#,
            #"emails[]"#,
            #"emails[type]"#,
            #"emails[type eq]"#,
            #"emails[a[b eq 1]]"#,
            #"name.givenName[value eq "x"]"#,
            #"emails[type eq "work"] and"#,
            #"userName eq "x""#,
            #""userName""#,
            "(userName)",
            "emails]",
        ])
    func rejects(_ text: String) {
        let error = #expect(throws: SCIMError.self) { try PatchPath.parse(text) }
        #expect(error?.scimType == .invalidPath)
        #expect(error?.status == 400)
    }
}

/// Deterministic RNG so property tests fail reproducibly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite("Filter parser properties")
struct FilterParserPropertyTests {
    static let tokens = [
        "userName", "emails", "type", "value", "name.familyName", "$ref", "urn:a:b:C:x", enterprise + ":manager",
        "eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "and", "or", "not", "AND", "Not",
        "(", ")", "[", "]", ".", ":", "\"", "\"x\"", "\"a\\\"b\"", "\\", "\\u", "\\ud83d", "\"\\u00e9\"",
        "1", "-2.5e3", "0", "01", "1e", "true", "false", "null", " ", "  ", "\t", "\n", "😀", "é",
    ]

    @Test("random token soup either parses or is invalidFilter, never crashes")
    func randomInput() throws {
        var rng = SplitMix64(seed: 0x5C1A_F117)
        var parsed = 0
        for _ in 0..<2000 {
            var text = ""
            defer { Self.checkPatchPath(text) }
            if Bool.random(using: &rng) {
                // A valid filter with a few random edits, to probe near-miss syntax.
                text = Self.randomFilter(depth: 3, inValuePath: false, using: &rng).description
                for _ in 0..<Int.random(in: 0...3, using: &rng) where !text.isEmpty {
                    var scalars = Array(text.unicodeScalars)
                    let at = Int.random(in: 0..<scalars.count, using: &rng)
                    if Bool.random(using: &rng) {
                        scalars.remove(at: at)
                    } else {
                        scalars.insert(contentsOf: Self.tokens.randomElement(using: &rng)!.unicodeScalars, at: at)
                    }
                    text = String(String.UnicodeScalarView(scalars))
                }
            }
            for _ in 0..<(text.isEmpty ? Int.random(in: 0...24, using: &rng) : 0) {
                if Int.random(in: 0..<8, using: &rng) == 0 {
                    // A random scalar, including controls and astral planes.
                    let raw = UInt32.random(in: 0...0x1_FFFF, using: &rng)
                    text.unicodeScalars.append(Unicode.Scalar(raw) ?? "\u{FFFD}")
                } else {
                    text += Self.tokens.randomElement(using: &rng)!
                    if Bool.random(using: &rng) { text += " " }
                }
            }
            let filter: Filter
            do {
                filter = try Filter.parse(text)
            } catch {
                #expect(error.scimType == .invalidFilter, "\(text)")
                #expect(error.status == 400)
                continue
            }
            parsed += 1
            // Whatever parses must print to text that parses back to the same tree.
            #expect(try Filter.parse(filter.description) == filter, "\(text)")
        }
        #expect(parsed > 200)
    }

    static func checkPatchPath(_ text: String) {
        do {
            _ = try PatchPath.parse(text)
        } catch {
            #expect(error.scimType == .invalidPath, "\(text)")
        }
    }

    @Test("printing random valid trees and parsing them back is the identity")
    func roundTrip() throws {
        var rng = SplitMix64(seed: 42)
        let roomy = FilterLimits(maximumLength: 1_000_000, maximumNodes: 100_000, maximumDepth: 64)
        for _ in 0..<500 {
            let filter = Self.randomFilter(depth: 5, inValuePath: false, using: &rng)
            let text = filter.description
            let reparsed = try Filter.parse(text, limits: roomy)
            #expect(reparsed == filter, "\(text)")
        }
    }

    static func randomFilter(depth: Int, inValuePath: Bool, using rng: inout SplitMix64) -> Filter {
        let choice = depth == 0 ? Int.random(in: 0..<2, using: &rng) : Int.random(in: 0..<6, using: &rng)
        switch choice {
        case 0:
            return .comparison(
                randomPath(simple: inValuePath, using: &rng), ComparisonOperator.allCases.randomElement(using: &rng)!,
                randomValue(using: &rng))
        case 1:
            return .present(randomPath(simple: inValuePath, using: &rng))
        case 2:
            return .and(
                randomFilter(depth: depth - 1, inValuePath: inValuePath, using: &rng),
                randomFilter(depth: depth - 1, inValuePath: inValuePath, using: &rng))
        case 3:
            return .or(
                randomFilter(depth: depth - 1, inValuePath: inValuePath, using: &rng),
                randomFilter(depth: depth - 1, inValuePath: inValuePath, using: &rng))
        case 4:
            return .not(randomFilter(depth: depth - 1, inValuePath: inValuePath, using: &rng))
        default:
            if inValuePath { return .present(randomPath(simple: true, using: &rng)) }
            var outer = randomPath(simple: false, using: &rng)
            outer.subAttribute = nil
            return .valuePath(outer, randomFilter(depth: min(depth - 1, 2), inValuePath: true, using: &rng))
        }
    }

    static func randomPath(simple: Bool, using rng: inout SplitMix64) -> AttributePath {
        let names = ["userName", "emails", "type", "value", "x-y_z9", "$ref", "Pr", "EQ", "notAnd", "orx"]
        let subs = ["familyName", "value", "$ref", "display", "a1"]
        let schemas = [enterprise, "urn:ietf:params:scim:schemas:core:2.0:User", "urn:acme:custom:1.0:Thing"]
        var path = AttributePath(name: names.randomElement(using: &rng)!)
        if simple { return path }
        if Int.random(in: 0..<3, using: &rng) == 0 { path.subAttribute = subs.randomElement(using: &rng)! }
        if Int.random(in: 0..<4, using: &rng) == 0 { path.schema = schemas.randomElement(using: &rng)! }
        return path
    }

    static func randomValue(using rng: inout SplitMix64) -> ComparisonValue {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &rng)))
        case 3: return .number(Double.random(in: -1e300...1e300, using: &rng))
        case 4: return .number(Double(Int.random(in: -99999...99999, using: &rng)) / 1000)
        default:
            let pieces = [
                "a", "B", " ", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{1F}", "é", "😀", "日", "and", "]", ")", "\u{7F}",
                "\u{2028}",
            ]
            var s = ""
            for _ in 0..<Int.random(in: 0...8, using: &rng) { s += pieces.randomElement(using: &rng)! }
            return .string(s)
        }
    }
}
