/// Bounds on a filter's size, so a hostile `filter=` parameter costs a bounded amount of work.
///
/// Real identity-provider filters are tiny (`userName eq "jane@acme.com"`); these limits leave
/// generous room for hand-written admin queries while keeping parsing, SQL compilation and in-memory
/// evaluation cheap and the recursion shallow.
public struct FilterLimits: Sendable, Hashable {
    /// Longest accepted filter, in Unicode scalars.
    public var maximumLength: Int
    /// Most expression nodes (comparisons, `pr`, `and`, `or`, `not`, value paths) in one filter.
    public var maximumNodes: Int
    /// Deepest nesting of parentheses, `not (…)` and value-path brackets.
    public var maximumDepth: Int

    public init(maximumLength: Int = 4096, maximumNodes: Int = 100, maximumDepth: Int = 16) {
        self.maximumLength = maximumLength
        self.maximumNodes = maximumNodes
        self.maximumDepth = maximumDepth
    }

    public static let `default` = FilterLimits()
}

extension Filter {
    /// Parses a SCIM filter (RFC 7644 §3.4.2.2), e.g. `userName eq "jane@acme.com"`.
    ///
    /// Operators and the keywords `and`, `or`, `not`, `true`, `false`, `null` are case-insensitive;
    /// `not` binds tighter than `and`, which binds tighter than `or`; both are left-associative.
    /// - Throws: `SCIMError.invalidFilter` naming what is wrong and its 1-based position, or which
    ///   limit was exceeded. Messages quote at most a short excerpt of the input.
    public static func parse(_ text: String, limits: FilterLimits = .default) throws(SCIMError) -> Filter {
        do throws(FilterSyntax.Failure) {
            var parser = try FilterSyntax.Parser(text, limits: limits, subject: "filter")
            guard !parser.atEnd else { throw FilterSyntax.Failure("The filter is empty.") }
            let filter = try parser.parseFilter()
            try parser.expectEnd()
            return filter
        } catch {
            throw .invalidFilter(error.message)
        }
    }
}

extension PatchPath {
    /// Parses a PATCH operation's `path` (RFC 7644 §3.5.2): `attrPath`, `attrPath[valFilter]` or
    /// `attrPath[valFilter].subAttr`, e.g. `emails[type eq "work"].value`.
    /// - Throws: `SCIMError.invalidPath` naming what is wrong and its 1-based position.
    public static func parse(_ text: String) throws(SCIMError) -> PatchPath {
        do throws(FilterSyntax.Failure) {
            var parser = try FilterSyntax.Parser(text, limits: .default, subject: "path")
            let path = try parser.parsePatchPath()
            try parser.expectEnd()
            return path
        } catch {
            throw .invalidPath(error.message)
        }
    }
}

/// Tokenizer and recursive-descent parser shared by filters and PATCH paths.
///
/// Recursion happens only at `(`, `not (` and `[`, and the depth limit is checked before each
/// descent, so hostile input cannot exhaust the stack; `and`/`or` chains are built iteratively.
enum FilterSyntax {
    /// A parse error's message; the public entry points wrap it in the right `SCIMError`.
    struct Failure: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    enum TokenKind: Equatable {
        case openParen, closeParen, openBracket, closeBracket
        /// A decoded JSON string literal.
        case string(String)
        /// A maximal run of characters that are not whitespace, brackets, parentheses or quotes:
        /// attribute paths, operators, keywords and numbers.
        case word(String)
    }

    struct Token {
        var kind: TokenKind
        /// Offset of the first scalar, 0-based.
        var start: Int
        /// Offset just past the last scalar.
        var end: Int

        /// 1-based position for messages.
        var position: Int { start + 1 }

        var word: String? { if case .word(let w) = kind { w } else { nil } }

        /// The word, lowercased, for keyword comparison.
        var keyword: String? { word?.lowercased() }

        /// A short, quoted rendering for messages; never more than ~40 characters of input.
        var quoted: String {
            switch kind {
            case .openParen: "'('"
            case .closeParen: "')'"
            case .openBracket: "'['"
            case .closeBracket: "']'"
            case .string(let s): "the string \"\(FilterSyntax.excerpt(s))\""
            case .word(let w): "'\(FilterSyntax.excerpt(w))'"
            }
        }
    }

    /// Truncates user input before it is quoted back in an error message.
    static func excerpt(_ text: String, limit: Int = 40) -> String {
        let scalars = text.unicodeScalars
        guard scalars.count > limit else { return text }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars.prefix(limit))
        return String(view) + "…"
    }

    // MARK: Lexer

    static func tokenize(_ scalars: [Unicode.Scalar]) throws(Failure) -> [Token] {
        var tokens: [Token] = []
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case " ", "\t", "\n", "\r":
                index += 1
            case "(":
                tokens.append(Token(kind: .openParen, start: index, end: index + 1))
                index += 1
            case ")":
                tokens.append(Token(kind: .closeParen, start: index, end: index + 1))
                index += 1
            case "[":
                tokens.append(Token(kind: .openBracket, start: index, end: index + 1))
                index += 1
            case "]":
                tokens.append(Token(kind: .closeBracket, start: index, end: index + 1))
                index += 1
            case "\"":
                let start = index
                let value = try lexString(scalars, index: &index)
                tokens.append(Token(kind: .string(value), start: start, end: index))
            default:
                let start = index
                while index < scalars.count, !isDelimiter(scalars[index]) { index += 1 }
                var word = UTF8Builder(capacity: index - start)
                for scalar in scalars[start..<index] { word.append(scalar) }
                tokens.append(Token(kind: .word(word.string), start: start, end: index))
            }
        }
        return tokens
    }

    private static func isDelimiter(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case " ", "\t", "\n", "\r", "(", ")", "[", "]", "\"": true
        default: false
        }
    }

    /// Decodes a JSON string literal (RFC 8259 §7) starting at the opening quote.
    private static func lexString(_ scalars: [Unicode.Scalar], index: inout Int) throws(Failure) -> String {
        let open = index
        index += 1
        var result = UTF8Builder(capacity: 32)
        while true {
            guard index < scalars.count else {
                throw Failure("The string starting at position \(open + 1) has no closing '\"'.")
            }
            let scalar = scalars[index]
            switch scalar {
            case "\"":
                index += 1
                return result.string
            case "\\":
                let escapeStart = index
                index += 1
                guard index < scalars.count else {
                    throw Failure("The string starting at position \(open + 1) has no closing '\"'.")
                }
                let code = scalars[index]
                index += 1
                switch code {
                case "\"": result.append("\"")
                case "\\": result.append("\\")
                case "/": result.append("/")
                case "b": result.append("\u{08}")
                case "f": result.append("\u{0C}")
                case "n": result.append("\n")
                case "r": result.append("\r")
                case "t": result.append("\t")
                case "u":
                    let unit = try hex4(scalars, index: &index, escapeStart: escapeStart)
                    let decoded: Unicode.Scalar?
                    switch unit {
                    case 0xD800...0xDBFF:
                        guard index + 1 < scalars.count, scalars[index] == "\\", scalars[index + 1] == "u" else {
                            throw Failure("The escape at position \(escapeStart + 1) is an unpaired UTF-16 surrogate.")
                        }
                        let lowStart = index
                        index += 2
                        let low = try hex4(scalars, index: &index, escapeStart: lowStart)
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw Failure("The escape at position \(escapeStart + 1) is an unpaired UTF-16 surrogate.")
                        }
                        decoded = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                    case 0xDC00...0xDFFF:
                        throw Failure("The escape at position \(escapeStart + 1) is an unpaired UTF-16 surrogate.")
                    default:
                        decoded = Unicode.Scalar(unit)
                    }
                    // NUL cannot be stored or bound as PostgreSQL text, so it can never match anything.
                    guard let decoded, decoded != "\u{0}" else {
                        throw Failure("The escape at position \(escapeStart + 1) encodes U+0000, which is not allowed.")
                    }
                    result.append(decoded)
                default:
                    throw Failure(
                        "Unknown escape '\\\(excerpt(String(code), limit: 1))' at position \(escapeStart + 1); "
                            + "use one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX.")
                }
            default:
                guard scalar.value >= 0x20 else {
                    throw Failure(
                        "The string starting at position \(open + 1) contains a raw control character at position "
                            + "\(index + 1); escape it (for example \\n or \\u001F).")
                }
                result.append(scalar)
                index += 1
            }
        }
    }

    /// Collects scalars as UTF-8 for one `String` at the end: appending to a `String.UnicodeScalarView`
    /// scalar by scalar cost more than the rest of parsing a lookup's filter.
    private struct UTF8Builder {
        private var bytes: [UInt8] = []

        init(capacity: Int) { bytes.reserveCapacity(capacity) }

        mutating func append(_ scalar: Unicode.Scalar) {
            if scalar.isASCII {
                bytes.append(UInt8(truncatingIfNeeded: scalar.value))
            } else {
                UTF8.encode(scalar) { bytes.append($0) }
            }
        }

        var string: String { String(decoding: bytes, as: UTF8.self) }
    }

    private static func hex4(_ scalars: [Unicode.Scalar], index: inout Int, escapeStart: Int) throws(Failure) -> UInt32
    {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard index < scalars.count, let digit = hexDigit(scalars[index]) ?? hexLetter(scalars[index]) else {
                throw Failure("The escape at position \(escapeStart + 1) needs four hex digits after '\\u'.")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private static func hexDigit(_ scalar: Unicode.Scalar) -> UInt32? {
        ("0"..."9").contains(scalar) ? scalar.value - 48 : nil
    }

    private static func hexLetter(_ scalar: Unicode.Scalar) -> UInt32? {
        switch scalar {
        case "a"..."f": scalar.value - 97 + 10
        case "A"..."F": scalar.value - 65 + 10
        default: nil
        }
    }

    // MARK: Attribute paths and values

    /// `ALPHA *(ALPHA / DIGIT / "-" / "_")` (RFC 7643 §2.1), plus `$ref` (RFC 7643 §2.3.7).
    static func isAttributeName(_ name: Substring) -> Bool {
        if name == "$ref" { return true }
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic else {
            return false
        }
        return name.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_": true
            default: false
            }
        }
    }

    /// Splits `[urn:…:]name[.sub]`: the schema URN is everything before the last `:`.
    static func attributePath(_ word: String, position: Int) throws(Failure) -> AttributePath {
        let shown = excerpt(word)
        var schema: String?
        var rest = Substring(word)
        if let colon = word.lastIndex(of: ":") {
            let prefix = word[..<colon]
            guard prefix.lowercased().hasPrefix("urn:"), prefix.count > 4 else {
                throw Failure(
                    "'\(shown)' at position \(position) is not an attribute path: a schema prefix must be a URN "
                        + "such as urn:ietf:params:scim:schemas:extension:enterprise:2.0:User.")
            }
            schema = String(prefix)
            rest = word[word.index(after: colon)...]
        }
        let parts = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, parts.allSatisfy(isAttributeName) else {
            throw Failure(
                "'\(shown)' at position \(position) is not an attribute path; expected a name such as userName, "
                    + "name.familyName or a URN-qualified name.")
        }
        return AttributePath(
            schema: schema, name: String(parts[0]), subAttribute: parts.count == 2 ? String(parts[1]) : nil)
    }

    /// Parses a JSON number (RFC 8259 §6); anything else is `nil`.
    static func number(_ word: String) -> Double? {
        var scalars = word.unicodeScalars[...]
        func digits() -> Int {
            var count = 0
            while let s = scalars.first, ("0"..."9").contains(s) {
                scalars.removeFirst()
                count += 1
            }
            return count
        }
        if scalars.first == "-" { scalars.removeFirst() }
        if scalars.first == "0" {
            scalars.removeFirst()
        } else if digits() == 0 {
            return nil
        }
        if scalars.first == "." {
            scalars.removeFirst()
            guard digits() > 0 else { return nil }
        }
        if scalars.first == "e" || scalars.first == "E" {
            scalars.removeFirst()
            if scalars.first == "+" || scalars.first == "-" { scalars.removeFirst() }
            guard digits() > 0 else { return nil }
        }
        guard scalars.isEmpty, let value = Double(word), value.isFinite else { return nil }
        return value
    }

    // MARK: Parser

    struct Parser {
        let tokens: [Token]
        let limits: FilterLimits
        /// "filter" or "path", for messages.
        let subject: String
        let length: Int
        var index = 0
        var nodes = 0

        init(_ text: String, limits: FilterLimits, subject: String) throws(Failure) {
            // Cheap bound first: a string can hold no more scalars than UTF-8 bytes.
            var scalars: [Unicode.Scalar] = []
            if text.utf8.count > limits.maximumLength {
                for scalar in text.unicodeScalars {
                    guard scalars.count < limits.maximumLength else {
                        throw Failure("The \(subject) is longer than the limit of \(limits.maximumLength) characters.")
                    }
                    scalars.append(scalar)
                }
            } else {
                scalars = Array(text.unicodeScalars)
            }
            self.tokens = try FilterSyntax.tokenize(scalars)
            self.limits = limits
            self.subject = subject
            self.length = scalars.count
        }

        var atEnd: Bool { index >= tokens.count }
        var peek: Token? { atEnd ? nil : tokens[index] }

        mutating func next() -> Token? {
            defer { index += 1 }
            return peek
        }

        /// Where the input ended, for "expected … at the end" messages.
        var endPosition: Int { length + 1 }

        mutating func countNode() throws(Failure) {
            nodes += 1
            guard nodes <= limits.maximumNodes else {
                throw Failure("The filter has more than the limit of \(limits.maximumNodes) expressions.")
            }
        }

        func checkDepth(_ depth: Int, at token: Token) throws(Failure) {
            guard depth < limits.maximumDepth else {
                throw Failure(
                    "The filter nests deeper than the limit of \(limits.maximumDepth) levels at position \(token.position)."
                )
            }
        }

        mutating func expectEnd() throws(Failure) {
            guard let token = peek else { return }
            switch token.kind {
            case .closeParen:
                throw Failure("Unexpected ')' at position \(token.position) with no matching '('.")
            case .closeBracket:
                throw Failure("Unexpected ']' at position \(token.position) with no matching '['.")
            default:
                let expected = subject == "path" ? "the end of the path" : "'and', 'or' or the end of the filter"
                throw Failure("Unexpected \(token.quoted) at position \(token.position); expected \(expected).")
            }
        }

        /// `FILTER` at the top level.
        mutating func parseFilter() throws(Failure) -> Filter {
            try parseOr(depth: 0, inValuePath: false)
        }

        /// `or` has the lowest precedence; left-associative.
        mutating func parseOr(depth: Int, inValuePath: Bool) throws(Failure) -> Filter {
            var lhs = try parseAnd(depth: depth, inValuePath: inValuePath)
            while peek?.keyword == "or" {
                index += 1
                let rhs = try parseAnd(depth: depth, inValuePath: inValuePath)
                try countNode()
                lhs = .or(lhs, rhs)
            }
            return lhs
        }

        mutating func parseAnd(depth: Int, inValuePath: Bool) throws(Failure) -> Filter {
            var lhs = try parseTerm(depth: depth, inValuePath: inValuePath)
            while peek?.keyword == "and" {
                index += 1
                let rhs = try parseTerm(depth: depth, inValuePath: inValuePath)
                try countNode()
                lhs = .and(lhs, rhs)
            }
            return lhs
        }

        /// `( FILTER )`, `not ( FILTER )`, `attrPath[valFilter]`, `attrPath pr`, `attrPath op value`.
        mutating func parseTerm(depth: Int, inValuePath: Bool) throws(Failure) -> Filter {
            guard let token = next() else {
                throw Failure("The filter ends too early at position \(endPosition); expected an expression.")
            }
            switch token.kind {
            case .openParen:
                try checkDepth(depth, at: token)
                let inner = try parseOr(depth: depth + 1, inValuePath: inValuePath)
                try expectClose(.closeParen, opening: token)
                return inner
            case .word(let word) where word.lowercased() == "not":
                guard let open = next(), open.kind == .openParen else {
                    throw Failure("'not' at position \(token.position) must be followed by a filter in parentheses.")
                }
                try checkDepth(depth, at: open)
                let inner = try parseOr(depth: depth + 1, inValuePath: inValuePath)
                try expectClose(.closeParen, opening: open)
                try countNode()
                return .not(inner)
            case .word(let word):
                let lowered = word.lowercased()
                guard lowered != "and", lowered != "or" else {
                    throw Failure("Expected an expression at position \(token.position) but found '\(word)'.")
                }
                let path = try FilterSyntax.attributePath(word, position: token.position)
                if let open = peek, open.kind == .openBracket {
                    index += 1
                    let inner = try parseValueFilter(of: path, open: open, depth: depth, inValuePath: inValuePath)
                    if let sub = peek, sub.word?.hasPrefix(".") == true, sub.start == tokens[index - 1].end {
                        throw Failure(
                            "'\(FilterSyntax.excerpt(sub.word ?? ""))' at position \(sub.position): a sub-attribute after "
                                + "']' is allowed only in PATCH paths; in a filter, compare inside the brackets instead."
                        )
                    }
                    return .valuePath(path, inner)
                }
                if inValuePath, path.schema != nil || path.subAttribute != nil {
                    throw Failure(
                        "'\(FilterSyntax.excerpt(word))' at position \(token.position) must be a plain sub-attribute "
                            + "name inside '[…]', such as type or value.")
                }
                return try parseOperator(path, pathToken: token)
            case .string:
                throw Failure(
                    "Expected an attribute name at position \(token.position) but found \(token.quoted).")
            case .closeParen, .closeBracket:
                throw Failure("Expected an expression at position \(token.position) but found \(token.quoted).")
            case .openBracket:
                throw Failure("Unexpected '[' at position \(token.position); it must follow an attribute name.")
            }
        }

        /// The `valFilter` of `attrPath "[" valFilter "]"`; `[` has been consumed, and `]` is consumed here.
        mutating func parseValueFilter(
            of path: AttributePath, open: Token, depth: Int, inValuePath: Bool
        ) throws(Failure) -> Filter {
            guard !inValuePath else {
                throw Failure("Value filters cannot be nested: unexpected '[' at position \(open.position).")
            }
            guard path.subAttribute == nil else {
                throw Failure(
                    "'[' at position \(open.position) must follow a multi-valued attribute name, not a sub-attribute.")
            }
            try checkDepth(depth, at: open)
            let inner = try parseOr(depth: depth + 1, inValuePath: true)
            try expectClose(.closeBracket, opening: open)
            try countNode()
            return inner
        }

        mutating func parseOperator(_ path: AttributePath, pathToken: Token) throws(Failure) -> Filter {
            guard let opToken = next() else {
                throw Failure(
                    "Expected an operator after '\(FilterSyntax.excerpt(pathToken.word ?? ""))' at position "
                        + "\(endPosition), such as eq or pr.")
            }
            guard let keyword = opToken.keyword else {
                throw Failure(
                    "Expected an operator at position \(opToken.position) but found \(opToken.quoted).")
            }
            if keyword == "pr" {
                try countNode()
                if let following = peek, isValue(following) {
                    throw Failure(
                        "'pr' at position \(opToken.position) takes no value, but one follows at position \(following.position)."
                    )
                }
                return .present(path)
            }
            guard let op = ComparisonOperator(rawValue: keyword) else {
                throw Failure(
                    "Unknown operator \(opToken.quoted) at position \(opToken.position); expected one of "
                        + "eq, ne, co, sw, ew, gt, ge, lt, le, pr.")
            }
            let value = try parseValue(after: opToken)
            try countNode()
            return .comparison(path, op, value)
        }

        func isValue(_ token: Token) -> Bool {
            switch token.kind {
            case .string: return true
            case .word(let w):
                return ["true", "false", "null"].contains(w.lowercased()) || FilterSyntax.number(w) != nil
            default: return false
            }
        }

        mutating func parseValue(after op: Token) throws(Failure) -> ComparisonValue {
            let opText = op.word ?? ""
            guard let token = next() else {
                throw Failure("'\(opText)' at position \(op.position) needs a value to compare with.")
            }
            switch token.kind {
            case .string(let s):
                return .string(s)
            case .word(let w):
                switch w.lowercased() {
                case "true": return .bool(true)
                case "false": return .bool(false)
                case "null": return .null
                default:
                    if let number = FilterSyntax.number(w) { return .number(number) }
                    throw Failure(
                        "Expected a value after '\(opText)' at position \(token.position) but found \(token.quoted); "
                            + "strings must be in double quotes, other values are numbers, true, false or null.")
                }
            default:
                throw Failure(
                    "'\(opText)' at position \(op.position) needs a value to compare with, but found \(token.quoted).")
            }
        }

        mutating func expectClose(_ kind: TokenKind, opening: Token) throws(Failure) {
            let symbol = kind == .closeParen ? "')'" : "']'"
            guard let token = next() else {
                throw Failure("Missing \(symbol) to close \(opening.quoted) at position \(opening.position).")
            }
            guard token.kind == kind else {
                throw Failure(
                    "Expected \(symbol) to close \(opening.quoted) at position \(opening.position) but found "
                        + "\(token.quoted) at position \(token.position).")
            }
        }

        /// `attrPath` or `attrPath "[" valFilter "]" ["." subAttr]`.
        mutating func parsePatchPath() throws(Failure) -> PatchPath {
            guard let token = next() else { throw Failure("The path is empty.") }
            guard let word = token.word else {
                throw Failure("Expected an attribute name at position \(token.position) but found \(token.quoted).")
            }
            let attribute = try FilterSyntax.attributePath(word, position: token.position)
            guard let open = peek, open.kind == .openBracket else {
                return PatchPath(attribute: attribute)
            }
            index += 1
            let filter = try parseValueFilter(of: attribute, open: open, depth: 0, inValuePath: false)
            var subAttribute: String?
            if let close = index > 0 ? tokens[index - 1] : nil, let sub = peek, let subWord = sub.word,
                subWord.hasPrefix("."), sub.start == close.end
            {
                index += 1
                let name = subWord.dropFirst()
                guard FilterSyntax.isAttributeName(name) else {
                    throw Failure(
                        "'\(FilterSyntax.excerpt(subWord))' at position \(sub.position) is not a sub-attribute; "
                            + "expected a name such as .value.")
                }
                subAttribute = String(name)
            }
            return PatchPath(attribute: attribute, valueFilter: filter, subAttribute: subAttribute)
        }
    }
}

extension Filter: CustomStringConvertible {
    /// Canonical filter text that `Filter.parse` reads back to an equal tree: lowercase operators,
    /// JSON string literals, and parentheses exactly where precedence or right-nesting requires them.
    public var description: String {
        switch self {
        case .comparison(let path, let op, let value):
            "\(path) \(op.rawValue) \(value.filterLiteral)"
        case .present(let path):
            "\(path) pr"
        case .and(let lhs, let rhs):
            "\(lhs.grouped(if: lhs.isOr)) and \(rhs.grouped(if: rhs.isOr || rhs.isAnd))"
        case .or(let lhs, let rhs):
            "\(lhs) or \(rhs.grouped(if: rhs.isOr))"
        case .not(let inner):
            "not (\(inner))"
        case .valuePath(let path, let inner):
            "\(path)[\(inner)]"
        }
    }

    private var isOr: Bool { if case .or = self { true } else { false } }
    private var isAnd: Bool { if case .and = self { true } else { false } }
    private func grouped(if condition: Bool) -> String { condition ? "(\(self))" : description }
}

extension ComparisonValue {
    /// The value as a filter literal: a JSON string, number, `true`, `false` or `null`.
    /// Non-finite numbers have no literal and print as `null`.
    public var filterLiteral: String {
        switch self {
        case .string(let s): Self.quoted(s)
        case .number(let n):
            if !n.isFinite {
                "null"
            } else if n.rounded() == n, abs(n) < 1e15 {
                String(Int64(n))
            } else {
                "\(n)"
            }
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }

    private static func quoted(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16, uppercase: true)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
