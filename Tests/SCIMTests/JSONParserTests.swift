import Foundation
import SCIM
import Testing

private let notJSON = SCIMError.invalidSyntax("The request body is not valid JSON.")
private let tooDeep = SCIMError.invalidSyntax("The request body nests deeper than 32 levels.")
private let holdsNUL = SCIMError.invalidValue("Strings may not contain the NUL character (U+0000).")

/// `JSONValue.parse` as a value, so outcomes compare with `==`.
private func outcome(_ bytes: some Collection<UInt8>) -> Result<JSONValue, SCIMError> {
    Result { () throws(SCIMError) in try JSONValue.parse(bytes) }
}

private func outcome(_ text: String) -> Result<JSONValue, SCIMError> { outcome(Array(text.utf8)) }

/// A document and the value it must parse to.
struct ValidJSONCase: Sendable, CustomTestStringConvertible {
    var text: String
    var expected: JSONValue
    init(_ text: String, _ expected: JSONValue) {
        self.text = text
        self.expected = expected
    }
    var testDescription: String { text.debugDescription }
}

/// Raw bytes (not always UTF-8) and the error they must produce.
struct InvalidJSONCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var error: SCIMError
    init(_ name: String, _ text: String, _ error: SCIMError = notJSON) {
        self.init(name, bytes: Array(text.utf8), error)
    }
    init(_ name: String, bytes: [UInt8], _ error: SCIMError = notJSON) {
        self.name = name
        self.bytes = bytes
        self.error = error
    }
    var testDescription: String { "\(name) → \(error.detail)" }
}

private let validCases: [ValidJSONCase] = [
    // Scalars at the top level, surrounded by the four whitespace characters.
    .init("null", .null),
    .init(" \t\r\ntrue\n\r\t ", true),
    .init("false", false),
    .init("0", 0),
    .init("-0", 0),
    .init("42", 42),
    .init("-17", -17),
    .init("1.5", 1.5),
    .init("1E5", 100_000),
    .init("1e-3", 0.001),
    .init("-1.5E+7", -15_000_000),
    .init("0.5e-0", 0.5),
    .init("1e09", 1_000_000_000),
    .init("999999999999999", 999_999_999_999_999),
    .init("9007199254740993", .number(9_007_199_254_740_992)),
    .init("123456789012345678901234567890", .number(1.2345678901234568e29)),
    .init("3.141592653589793238462643383279", .number(Double.pi)),
    .init("1.7976931348623157e308", .number(.greatestFiniteMagnitude)),
    .init("4.9e-324", .number(.leastNonzeroMagnitude)),
    .init("0e-400", 0),
    // Strings: raw UTF-8, every escape, surrogate pairs.
    .init(#""""#, ""),
    .init(#""abc""#, "abc"),
    .init(#""café 😀""#, "café 😀"),
    .init(#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
    .init(#""\u00e9\u00C9""#, "éÉ"),
    .init(#""\ud83d\ude00""#, "😀"),
    .init(#""\uD83D\uDE00""#, "😀"),
    .init(#""a\u0041\ud834\udd1eb""#, "aA𝄞b"),
    .init(#""\uFFFF\uDBFF\uDFFF""#, "\u{FFFF}\u{10FFFF}"),
    .init("\"\u{7F}\u{2028}\u{FEFF}\"", "\u{7F}\u{2028}\u{FEFF}"),
    .init(#""\u0001""#, "\u{1}"),
    // Containers.
    .init("[]", []),
    .init("{}", [:]),
    .init(" [ 1 , \"a\" , null , [ ] , { } ] ", [1, "a", nil, [], [:]]),
    .init(#"{"a":{"b":[true,{"c":"d"}]},"":0}"#, ["a": ["b": [true, ["c": "d"]]], "": 0]),
    .init(#"{"a\nb":1,"\u00e9":2}"#, ["a\nb": 1, "é": 2]),
    // A leading UTF-8 byte order mark is ignored (RFC 8259 §8.1), as JSONDecoder did.
    .init("\u{FEFF}{\"a\":1}", ["a": 1]),
    .init("\u{FEFF} null", nil),
]

private let deepNUL = String(repeating: "[", count: 33) + #""\u0000""# + String(repeating: "]", count: 33)
private let deepSurrogate = String(repeating: "[", count: 33) + #""\ud800""# + String(repeating: "]", count: 33)

private let invalidCases: [InvalidJSONCase] = [
    // Structure.
    .init("empty", ""),
    .init("only whitespace", " \n"),
    .init("truncated literal", "nul"),
    .init("literal with a tail", "nulll"),
    .init("capitalised literal", "True"),
    .init("trailing comma in an array", "[1,]"),
    .init("trailing comma in an object", #"{"a":1,}"#),
    // RFC 8259 §4: which of two values for one name wins is undefined, so neither does.
    .init(
        "duplicate member name", #"{"a":1,"b":2,"a":3}"#,
        .invalidSyntax(#"The request body names the member "a" twice in one object."#)),
    .init(
        "duplicate member name, nested", #"{"x":[{"v":1,"v":1}]}"#,
        .invalidSyntax(#"The request body names the member "v" twice in one object."#)),
    .init("duplicate member name before a syntax error", #"{"a":1,"a":2} x"#),
    .init("leading comma", "[,1]"),
    .init("missing comma", "[1 2]"),
    .init("missing colon", #"{"a" 1}"#),
    .init("missing value", #"{"a":}"#),
    .init("unquoted name", "{a:1}"),
    .init("single-quoted name", "{'a':1}"),
    .init("name not a string", "{1:1}"),
    .init("unclosed array", "[1"),
    .init("unclosed object", #"{"a":1"#),
    .init("stray closer", "]"),
    .init("mismatched closer", "[1}"),
    .init("two documents", "[1] [2]"),
    .init("trailing garbage", "1 x"),
    .init("trailing NUL byte", bytes: Array("[1]".utf8) + [0]),
    // Whitespace is only space, tab, CR and LF.
    .init("form feed", "\u{C}1"),
    .init("vertical tab", "1\u{B}"),
    .init("no-break space", "\u{A0}1"),
    .init("byte order mark twice", "\u{FEFF}\u{FEFF}1"),
    .init("byte order mark after whitespace", " \u{FEFF}1"),
    .init("byte order mark between values", "[1,\u{FEFF}2]"),
    .init("UTF-16", bytes: [0xFF, 0xFE, 0x5B, 0x00, 0x31, 0x00, 0x5D, 0x00]),
    // Numbers.
    .init("leading zero", "01"),
    .init("negative leading zero", "-01"),
    .init("double zero", "00"),
    .init("plus sign", "+1"),
    .init("no integer part", ".5"),
    .init("negative no integer part", "-.5"),
    .init("no fraction digits", "1."),
    .init("no fraction digits before exponent", "1.e5"),
    .init("lone minus", "-"),
    .init("no exponent digits", "1e"),
    .init("signed no exponent digits", "1e+"),
    .init("hexadecimal", "0x10"),
    .init("underscore", "1_000"),
    .init("Infinity", "Infinity"),
    .init("-Infinity", "-Infinity"),
    .init("NaN", "NaN"),
    .init("overflows to infinity", "1e400"),
    .init("overflows to minus infinity", "-1.8e308"),
    .init("too many digits", "1" + String(repeating: "0", count: 400)),
    .init("underflows to zero", "1e-400"),
    .init("underflows to zero in an object", #"{"a":2e-324}"#),
    // Strings.
    .init("unterminated", #""abc"#),
    .init("raw control character", "\"a\u{1}b\""),
    .init("raw unit separator", "\"\u{1F}\""),
    .init("raw tab", "\"\t\""),
    .init("raw newline", "\"\n\""),
    .init("raw NUL byte", bytes: [0x22, 0x61, 0x00, 0x62, 0x22]),
    .init("unknown escape", #""\x""#),
    .init("escaped single quote", #""\'""#),
    .init("capital U escape", #""\U0041""#),
    .init("short unicode escape", #""\u12""#),
    .init("non-hex unicode escape", #""\uZZZZ""#),
    .init("escape at the end", #""\"#),
    .init("lone high surrogate", #""\ud83d""#),
    .init("lone low surrogate", #""\ude00""#),
    .init("high surrogate then text", #""\ud83dx""#),
    .init("high surrogate then a non-surrogate", #""\ud83d\u0041""#),
    .init("high surrogate then a high surrogate", #""\ud800\ud800""#),
    .init("surrogates in the wrong order", #""\ude00\ud83d""#),
    .init("high surrogate then a backslash", #""\ud83d\""#),
    .init("invalid UTF-8 byte", bytes: [0x22, 0xFF, 0x22]),
    .init("truncated UTF-8 sequence", bytes: [0x22, 0xC3, 0x22]),
    .init("overlong UTF-8", bytes: [0x22, 0xC0, 0x80, 0x22]),
    .init("UTF-8 encoded surrogate", bytes: [0x22, 0xED, 0xA0, 0x80, 0x22]),
    .init("beyond U+10FFFF", bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]),
    .init("invalid UTF-8 in a name", bytes: Array(#"{""#.utf8) + [0xFF] + Array(#"":1}"#.utf8)),
    .init("invalid UTF-8 after an escape", bytes: Array(#""\n"#.utf8) + [0xFF, 0x22]),
    // U+0000 is invalidValue, but only in an otherwise acceptable document.
    .init("escaped NUL", #""\u0000""#, holdsNUL),
    .init("escaped NUL mid-string", #""a\u0000b""#, holdsNUL),
    .init("escaped NUL in a member name", #"{"a\u0000":1}"#, holdsNUL),
    .init("escaped NUL deep in a document", #"{"a":[1,{"b":"\u0000"}]}"#, holdsNUL),
    .init(
        "escaped NUL at depth 32", String(repeating: "[", count: 32) + #""\u0000""# + String(repeating: "]", count: 32),
        holdsNUL),
    .init("escaped NUL in an unclosed array", #"["\u0000""#),
    .init("escaped NUL with trailing garbage", #""\u0000" x"#),
    .init("escaped NUL before a bad number", #"["\u0000", 01]"#),
    .init("escaped NUL before a lone surrogate", #""\u0000\ud800""#),
    .init("escaped NUL too deep", deepNUL, tooDeep),
    .init("lone surrogate too deep", deepSurrogate),
]

/// Documents both parsers accept (no duplicate names or trailing commas, where they differ by design).
private let decoderDocuments = [
    #"""
    {"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen@example.com","externalId":"00u1",
     "name":{"givenName":"Barbara","familyName":"Jensen","formatted":"Ms. Barbara J Jensen III"},
     "emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@jensen.org","type":"home"}],
     "active":true,"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"employeeNumber":"701984",
     "manager":{"value":"26118915-6090-4610-87e4-49d8ca9f808d"}}}
    """#,
    #"""
    {"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[
     {"op":"replace","path":"emails[type eq \"work\"].value","value":"new@example.com"},
     {"op":"remove","path":"members[value eq \"2819c223\"]"}]}
    """#,
    #"[0, -0, 1, -1, 0.5, -2.5e-3, 1E+2, 6.02214076e23, 1.7976931348623157e308, 5e-324, 12345678901234567890, 0.30000000000000004]"#,
    #"["", "\"", "\\", "\/", "\b\f\n\r\t", "\u0001\u001f", "\u00e9", "é", "\u20AC€", "\ud83d\ude00😀", "\u2028", "日本語"]"#,
    " \n\t\r{ \"a\" : [ true , false , null ] , \"b\" : { } , \"c\" : [ ] } \n",
    #"{"deep":"# + String(repeating: "[", count: 31) + #""x""# + String(repeating: "]", count: 31) + "}",
    "true", "null", "-1.25", #""text""#,
]

@Suite("JSON parser")
struct JSONParserTests {
    @Test("valid documents", arguments: validCases)
    func valid(_ testCase: ValidJSONCase) throws {
        let value = try JSONValue.parse(Array(testCase.text.utf8))
        #expect(value == testCase.expected)
    }

    @Test("invalid documents", arguments: invalidCases)
    func invalid(_ testCase: InvalidJSONCase) {
        #expect(outcome(testCase.bytes) == .failure(testCase.error))
    }

    @Test("U+0000: escaped it is invalidValue; as a raw byte it is a control character, so invalidSyntax")
    func nul() {
        #expect(outcome(JSONValue.string("a\u{0}b").serialized()) == .failure(holdsNUL))
        #expect(outcome(JSONValue.object(["\u{0}": 1]).serialized()) == .failure(holdsNUL))
        #expect(outcome(JSONValue.array([["x": ["\u{0}"]]]).serialized()) == .failure(holdsNUL))
        #expect(outcome([0x22, 0x00, 0x22]) == .failure(notJSON))
        #expect(outcome(Array(#"{""#.utf8) + [0x00] + Array(#"":1}"#.utf8)) == .failure(notJSON))
    }

    @Test("-0 keeps its sign; integers and fractions convert exactly")
    func numbers() throws {
        #expect(try JSONValue.parse(Array("-0".utf8)).numberValue?.sign == .minus)
        #expect(try JSONValue.parse(Array("0.1".utf8)) == .number(0.1))
        #expect(try JSONValue.parse(Array("-123456789012345".utf8)) == .number(-123_456_789_012_345))
    }

    @Test("any collection of bytes: contiguous, sliced or not contiguous")
    func inputs() throws {
        let bytes = Array(#"xx{"a":[1,"é"]}xx"#.utf8)
        let expected: JSONValue = ["a": [1, "é"]]
        #expect(try JSONValue.parse(bytes[2..<(bytes.count - 2)]) == expected)
        #expect(try JSONValue.parse(bytes.dropFirst(2).dropLast(2).lazy.map { $0 }) == expected)
        #expect(try JSONValue.parse(#"{"a":[1,"é"]}"#.utf8) == expected)
        #expect(outcome(EmptyCollection<UInt8>()) == .failure(notJSON))
    }

    @Test("depth: 32 levels are accepted, 33 are not, whatever the containers")
    func depthBoundary() throws {
        let arrays = [("[", "]")]
        let objects = [(#"{"a":"#, "}")]
        let mixed = arrays + objects
        for pattern in [arrays, objects, mixed] {
            for levels in [1, 31, 32] {
                #expect(try JSONValue.parse(Array(nested(levels, pattern).utf8)).depth == levels)
            }
            #expect(outcome(nested(33, pattern)) == .failure(tooDeep))
            #expect(outcome(nested(33, pattern, inner: "[]")) == .failure(tooDeep))
        }
        // An empty container is a level of its own.
        #expect(try JSONValue.parse(Array(nested(31, mixed, inner: "{}").utf8)).depth == 32)
        #expect(outcome(nested(32, mixed, inner: "{}")) == .failure(tooDeep))
        #expect(outcome(nested(32, arrays, inner: "[]")) == .failure(tooDeep))
    }

    /// `inner` wrapped in `levels` containers, taking (open, close) pairs from `pattern` in turn, outermost first.
    private func nested(_ levels: Int, _ pattern: [(String, String)], inner: String = "1") -> String {
        (0..<levels).reversed().reduce(inner) { text, level in
            let (open, close) = pattern[level % pattern.count]
            return open + text + close
        }
    }

    @Test("depth: the rest of a too-deep document is still checked for syntax")
    func depthThenSyntax() {
        let deep = String(repeating: "[", count: 40) + #"{"k":[1,"x",{"y":null}]}"# + String(repeating: "]", count: 40)
        #expect(outcome("[" + deep + #", 2, {"z": true}]"#) == .failure(tooDeep))
        #expect(outcome("[" + deep + ", 2,]") == .failure(notJSON))
        #expect(outcome("[" + deep + "] x") == .failure(notJSON))
        #expect(
            outcome(String(repeating: "[", count: 40) + "01" + String(repeating: "]", count: 40)) == .failure(notJSON))
        #expect(
            outcome(String(repeating: "[", count: 40) + "{1:2}" + String(repeating: "]", count: 40))
                == .failure(notJSON))
        #expect(
            outcome(String(repeating: "[", count: 40) + String(repeating: "]", count: 39) + "}") == .failure(notJSON))
    }

    @Test("hostile nesting is rejected without recursion")
    func hostileNesting() {
        let count = 100_000
        #expect(outcome(String(repeating: "[", count: count)) == .failure(notJSON))
        #expect(
            outcome(String(repeating: "[", count: count) + String(repeating: "]", count: count)) == .failure(tooDeep))
        #expect(
            outcome(String(repeating: #"{"a":"#, count: count) + "1" + String(repeating: "}", count: count))
                == .failure(tooDeep))
        #expect(outcome(String(repeating: "[{\"a\":", count: count)) == .failure(notJSON))
    }

    @Test("serialises compactly with members sorted by key, escaping only what JSON requires")
    func serialisedBytes() {
        let controls = String(String.UnicodeScalarView((1..<0x20).map { Unicode.Scalar(UInt8($0)) }))
        let value: JSONValue = [
            "b": [true, false, .null, 1, -2.5],
            "a": ["z": "quote \" backslash \\ slash / é 𝄞", "": "", "Y": .string(controls)],
            "B": "upper sorts first",
        ]
        let expected =
            #"{"B":"upper sorts first","a":{"":"","Y":""#
            + #"\u0001\u0002\u0003\u0004\u0005\u0006\u0007\u0008\t\n\u000b\u000c\r\u000e\u000f"#
            + #"\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f""#
            + #","z":"quote \" backslash \\ slash / é 𝄞"},"b":[true,false,null,1,-2.5]}"#
        #expect(String(decoding: value.serialized(), as: UTF8.self) == expected)
    }
    @Test("random documents survive serialise → parse, and JSONDecoder agrees")
    func roundTrip() throws {
        var random = SeededRandom(seed: 0x5C1F_0004)
        for index in 0..<400 {
            let value = random.document(depth: 0)
            let bytes = value.serialized()
            let parsed = try JSONValue.parse(bytes)
            #expect(parsed == value, "case \(index): \(String(decoding: bytes, as: UTF8.self))")
            let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
            #expect(parsed == decoded, "case \(index): \(String(decoding: bytes, as: UTF8.self))")
        }
    }

    @Test("hand-written documents parse as JSONDecoder decodes them", arguments: decoderDocuments)
    func matchesJSONDecoder(_ text: String) throws {
        let parsed = try JSONValue.parse(Array(text.utf8))
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(parsed == decoded)
    }
}

extension SeededRandom {
    /// A random document for round trips: every kind of value, awkward strings and numbers, at most 8 deep.
    mutating func document(depth: Int) -> JSONValue {
        switch Int.random(in: 0...(depth >= 8 ? 4 : 6), using: &self) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &self))
        case 2: return .number(randomNumber())
        case 3, 4: return .string(randomString())
        case 5: return .array((0..<Int.random(in: 0...5, using: &self)).map { _ in document(depth: depth + 1) })
        default:
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &self) { object[randomString()] = document(depth: depth + 1) }
            return .object(object)
        }
    }

    private mutating func randomNumber() -> Double {
        switch Int.random(in: 0...4, using: &self) {
        case 0: Double(Int.random(in: -1_000_000...1_000_000, using: &self))
        case 1: Double(Int64.random(in: .min ... .max, using: &self))
        case 2: Double.random(in: -1e6...1e6, using: &self)
        case 3:
            Double(
                sign: Bool.random(using: &self) ? .minus : .plus, exponent: Int.random(in: -1070...1020, using: &self),
                significand: Double.random(in: 1..<2, using: &self))
        default: element([0, -0.0, 0.1, 1e15, 1e16, 123_456_789.125, .leastNonzeroMagnitude, .greatestFiniteMagnitude])
        }
    }

    private mutating func randomString() -> String {
        let pieces = [
            "a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\u{1}", "\u{1F}", "\u{7F}", "é", "€", "日", "😀", "\u{2028}",
            "\u{FEFF}", "\u{10FFFF}",
        ]
        return (0..<Int.random(in: 0...8, using: &self)).map { _ in element(pieces) }.joined()
    }
}
