/// A strict RFC 8259 parser from UTF-8 bytes straight to `JSONValue`, for `JSONValue.parse`.
///
/// Hand-written because `JSONDecoder` through `JSONValue`'s `Decodable` conformance is a large share of
/// the server's CPU per request (it parses every request body and every jsonb column read back). One
/// pass, no intermediate tree, no Foundation: strings without escapes are made straight from the
/// input bytes, and containers are collected on scratch stacks so each array and dictionary is
/// allocated once at its final size.
///
/// Errors are reported in the order the `JSONDecoder` path had: a malformed document is `syntax`
/// even if it is also too deep or holds U+0000, and a too-deep one is `tooDeep` even if it holds U+0000.
struct JSONParser {
    enum Failure: Error, Equatable {
        /// Not RFC 8259 JSON (including invalid UTF-8, lone surrogates, numbers outside `Double`).
        case syntax
        /// Well-formed, but containers nest deeper than the limit.
        case tooDeep
        /// Well-formed and shallow enough, but a string or member name holds U+0000.
        case nul
        /// Well-formed, but an object names the same member twice (the name, at most 64 characters).
        /// RFC 8259 §4 says names SHOULD be unique; which value wins is undefined, so none does.
        case duplicateName(String)
    }

    /// Parses one complete document (surrounding whitespace allowed; a leading UTF-8 byte order
    /// mark is ignored, as RFC 8259 §8.1 permits and `JSONDecoder` did). Any top-level value is accepted.
    /// `maximumDepth` bounds container nesting: 0 allows only scalars, 1 flat arrays and objects.
    static func parse(_ bytes: some Collection<UInt8>, maximumDepth: Int) throws(Failure) -> JSONValue {
        let result =
            bytes.withContiguousStorageIfAvailable { parse(buffer: $0, maximumDepth: maximumDepth) }
            ?? Array(bytes).withUnsafeBufferPointer { parse(buffer: $0, maximumDepth: maximumDepth) }
        return try result.get()
    }

    /// `withContiguousStorageIfAvailable` only rethrows untyped errors, so the failure travels as a `Result`.
    private static func parse(buffer: UnsafeBufferPointer<UInt8>, maximumDepth: Int) -> Result<JSONValue, Failure> {
        var parser = JSONParser(bytes: buffer, maximumDepth: maximumDepth)
        return Result { () throws(Failure) in try parser.document() }
    }

    /// Parses a Groups body (`shape`), holding its member array as a `MemberList` rather than as a
    /// `JSONValue` tree, which costs about 400 bytes a member. An array that is not a plain member
    /// list (an element with a nested value, no `value`, a `type` other than User) is parsed as any
    /// other array, so the normaliser reports it exactly as before. A document that names the same
    /// member array twice is parsed again without extraction, for the same reason.
    static func parse(
        _ bytes: some Collection<UInt8>, maximumDepth: Int, extracting shape: MemberArrays
    ) throws(Failure) -> (value: JSONValue, members: [MemberArrayPlace: ExtractedMembers]) {
        func run(_ buffer: UnsafeBufferPointer<UInt8>) -> Result<
            (JSONValue, [MemberArrayPlace: ExtractedMembers]), Failure
        > {
            Result { () throws(Failure) in
                var parser = JSONParser(bytes: buffer, maximumDepth: maximumDepth)
                parser.shape = shape
                let value = try parser.document()
                guard !parser.repeatedMembers else {
                    var plain = JSONParser(bytes: buffer, maximumDepth: maximumDepth)
                    return (try plain.document(), [:])
                }
                return (value, parser.extracted)
            }
        }
        let result =
            bytes.withContiguousStorageIfAvailable { run($0) } ?? Array(bytes).withUnsafeBufferPointer { run($0) }
        let (value, members) = try result.get()
        return (value, members)
    }

    /// Where member arrays are expected, by kind of body.
    enum MemberArrays {
        /// POST or PUT /Groups: the top-level `members`.
        case resource
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private let maximumDepth: Int
    private var index = 0
    /// Set when a container deeper than `maximumDepth` was skipped; reported only once the rest is known to be well-formed.
    private var tooDeep = false
    /// Set when a `\u0000` escape was decoded; reported last, as the old post-parse check did.
    private var sawNUL = false
    /// The first member name an object repeated; reported once the rest is known to be well-formed.
    private var duplicateName: String?
    /// Member names of the member object being read by `memberObject`, reused from member to member.
    private var memberObjectNames: [String] = []
    /// Elements and member values of the containers being parsed, innermost last.
    private var values: [JSONValue] = []
    /// Member names of the objects being parsed, innermost last.
    private var names: [String] = []
    /// The decoded bytes of a string with escapes, reused from string to string.
    private var scratch: [UInt8] = []
    /// Which member arrays to extract; nil parses every array as a `JSONValue`.
    private var shape: MemberArrays?
    /// Member arrays extracted so far, left out of the tree.
    private var extracted: [MemberArrayPlace: ExtractedMembers] = [:]
    /// Set when an object names a member array twice (in any case): extraction is then abandoned.
    private var repeatedMembers = false

    private init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    private mutating func document() throws(Failure) -> JSONValue {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
        skipWhitespace()
        let value = try value(level: 0, context: shape == .resource ? .resourceRoot : .plain)
        skipWhitespace()
        guard index == bytes.count else { throw .syntax }
        if let duplicateName { throw .duplicateName(duplicateName) }
        if tooDeep { throw .tooDeep }
        if sawNUL { throw .nul }
        return value
    }

    // MARK: Bytes

    /// The byte at `index`, or 0 past the end: NUL is never valid outside a string and is a raw
    /// control character inside one, so the end of input needs no separate check anywhere.
    private var peek: UInt8 { index < bytes.count ? bytes[index] : 0 }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func expect(_ byte: UInt8) throws(Failure) {
        guard peek == byte else { throw .syntax }
        index += 1
    }

    /// After an array element or object member: consumes a comma (and the whitespace around it) and
    /// returns true, or consumes `close` and returns false; anything else is a syntax error.
    private mutating func moreElements(before close: UInt8) throws(Failure) -> Bool {
        skipWhitespace()
        if peek == UInt8(ascii: ",") {
            index += 1
            skipWhitespace()
            return true
        }
        try expect(close)
        return false
    }

    // MARK: Values

    /// Where a container sits in a Groups body, so the parser knows which arrays are member lists.
    /// Everything outside those bodies, and inside them away from member arrays, is `plain`.
    private enum Context {
        case plain
        /// The top-level object of a POST or PUT body.
        case resourceRoot
    }

    /// The value at `index` (whitespace already skipped), inside `level` containers.
    private mutating func value(level: Int, context: Context = .plain) throws(Failure) -> JSONValue {
        switch peek {
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            guard level < maximumDepth else {
                tooDeep = true
                try skipContainer()
                return .null
            }
            if peek == UInt8(ascii: "[") { return try array(level: level + 1) }
            return try object(level: level + 1, context: context)
        default:
            return try scalar()
        }
    }

    private mutating func scalar() throws(Failure) -> JSONValue {
        switch peek {
        case UInt8(ascii: "\""): return try .string(string())
        case UInt8(ascii: "t"):
            try literal("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try .number(number())
        default: throw .syntax
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        guard bytes.count - index >= word.utf8CodeUnitCount else { throw .syntax }
        for offset in 0..<word.utf8CodeUnitCount where bytes[index + offset] != word.utf8Start[offset] { throw .syntax }
        index += word.utf8CodeUnitCount
    }

    /// The array at `index`, which is at nesting `level` (1 for a top-level array).
    private mutating func array(level: Int) throws(Failure) -> JSONValue {
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return .array([])
        }
        let start = values.count
        while true {
            let element = try value(level: level)
            values.append(element)
            guard try moreElements(before: UInt8(ascii: "]")) else { break }
        }
        let array = Array(values[start...])
        values.removeSubrange(start...)
        return .array(array)
    }

    /// The object at `index`, which is at nesting `level`. A repeated member name is recorded in
    /// `duplicateName`, and the document refused once it is known to be otherwise well-formed.
    private mutating func object(level: Int, context: Context = .plain) throws(Failure) -> JSONValue {
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "}") {
            index += 1
            return .object([:])
        }
        let start = (names: names.count, values: values.count)
        var routed = false
        while true {
            let name = try memberName()
            let member: JSONValue
            if let route = Self.route(name, in: context) {
                // Two spellings of one routed key would make the extracted list and the tree disagree.
                if routed { repeatedMembers = true }
                routed = true
                if let place = route.place, peek == UInt8(ascii: "["), level + 2 <= maximumDepth,
                    let members = try memberList()
                {
                    extracted[place] = members
                    if try moreElements(before: UInt8(ascii: "}")) { continue }
                    break
                }
                member = try value(level: level, context: route.inner)
            } else {
                member = try value(level: level)
            }
            names.append(name)
            values.append(member)
            guard try moreElements(before: UInt8(ascii: "}")) else { break }
        }
        var object = [String: JSONValue](minimumCapacity: names.count - start.names)
        for (name, value) in zip(names[start.names...], values[start.values...])
        where object.updateValue(value, forKey: name) != nil && duplicateName == nil {
            duplicateName = String(name.prefix(64))
        }
        names.removeSubrange(start.names...)
        values.removeSubrange(start.values...)
        return .object(object)
    }

    /// What a member named `name` is in `context`: a member array to extract (`place`), and the
    /// context of its value; nil when the name is nothing special there. Names are matched
    /// case-insensitively, as the normaliser and `PatchRequest` match them.
    private static func route(_ name: String, in context: Context) -> (place: MemberArrayPlace?, inner: Context)? {
        switch context {
        case .resourceRoot where name.caseInsensitiveEquals("members"): (.resource, .plain)
        default: nil
        }
    }

    /// The member array at `index`, or nil with `index` unchanged when it is not a plain member list:
    /// each element null (skipped) or an object of scalars with a non-empty string `value` and, if
    /// any, a `type` of User. `display` and `$ref` are read and dropped. A bare id string is left to
    /// the normaliser, which refuses it (a member is a complex value).
    /// Anything else is left for the normaliser, which knows the errors to report.
    private mutating func memberList() throws(Failure) -> ExtractedMembers? {
        let start = index
        var members = ExtractedMembers()
        index += 1
        skipWhitespace()
        if peek == UInt8(ascii: "]") {
            index += 1
            return members
        }
        while true {
            switch peek {
            case UInt8(ascii: "n"):
                try literal("null")
            case UInt8(ascii: "{"):
                guard try memberObject(into: &members) else {
                    index = start
                    return nil
                }
            default:
                index = start
                return nil
            }
            guard try moreElements(before: UInt8(ascii: "]")) else { return members }
        }
    }

    /// One member object of `memberList()`, appended to `members`; false when it is not plain.
    private mutating func memberObject(into members: inout ExtractedMembers) throws(Failure) -> Bool {
        index += 1
        skipWhitespace()
        var id: String?
        var rewrites: [RewriteKind: Int] = [:]
        var unknown: [String] = []
        memberObjectNames.removeAll(keepingCapacity: true)
        if peek != UInt8(ascii: "}") {
            while true {
                let name = try memberName()
                if memberObjectNames.contains(name), duplicateName == nil { duplicateName = String(name.prefix(64)) }
                memberObjectNames.append(name)
                let value: JSONValue
                switch peek {
                case UInt8(ascii: "["), UInt8(ascii: "{"): return false
                default: value = try scalar()
                }
                let canonical = Self.memberSubAttributes.first { $0.caseInsensitiveEquals(name) }
                if let canonical, canonical != name { rewrites[.caseFolded, default: 0] += 1 }
                switch canonical {
                case "value":
                    guard case .string(let text) = value, !text.isEmpty else { return false }
                    id = text
                case "type":
                    switch value {
                    case .null: break
                    case .string(let text) where text.caseInsensitiveEquals("User"):
                        if text != "User" { rewrites[.caseFolded, default: 0] += 1 }
                    default: return false
                    }
                case "display", "$ref":
                    guard value.isNull || value.stringValue != nil else { return false }
                default:
                    unknown.append("members.\(name)")
                }
                guard try moreElements(before: UInt8(ascii: "}")) else { break }
            }
        } else {
            index += 1
        }
        guard let id else { return false }
        members.list.append(id)
        members.rewrites.merge(rewrites, uniquingKeysWith: +)
        members.unknownAttributes.formUnion(unknown)
        return true
    }

    private static let memberSubAttributes = ["value", "display", "type", "$ref"]

    /// A member name and its colon, leaving `index` at the member's value.
    private mutating func memberName() throws(Failure) -> String {
        guard peek == UInt8(ascii: "\"") else { throw .syntax }
        let name = try string()
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
        skipWhitespace()
        return name
    }

    /// Validates the container at `index` without building it and without recursion, so hostile
    /// nesting (100,000 `[`) costs one byte of `closers` per level rather than a stack frame, and a
    /// malformed document is still told apart from a merely deep one.
    private mutating func skipContainer() throws(Failure) {
        var closers: [UInt8] = []
        while true {
            // A value starts at `index`.
            let opener = peek
            if opener == UInt8(ascii: "[") || opener == UInt8(ascii: "{") {
                index += 1
                skipWhitespace()
                let closer = opener == UInt8(ascii: "[") ? UInt8(ascii: "]") : UInt8(ascii: "}")
                if peek != closer {
                    closers.append(closer)
                    if closer == UInt8(ascii: "}") { _ = try memberName() }
                    continue
                }
                index += 1
            } else {
                _ = try scalar()
            }
            // A value ended: close every container that ends here, then expect the next element.
            while let closer = closers.last {
                skipWhitespace()
                if peek == closer {
                    index += 1
                    closers.removeLast()
                    continue
                }
                try expect(UInt8(ascii: ","))
                skipWhitespace()
                if closer == UInt8(ascii: "}") { _ = try memberName() }
                break
            }
            if closers.isEmpty { return }
        }
    }

    // MARK: Strings

    /// The string whose opening quote is at `index`. Without escapes it is made straight from the
    /// input; with escapes it is decoded into `scratch` first. Either way the UTF-8 is validated here,
    /// so `String(decoding:)` (concrete, unlike the generic `String(validating:)`) never repairs anything.
    private mutating func string() throws(Failure) -> String {
        index += 1
        let start = index
        while true {
            switch peek {
            case UInt8(ascii: "\""):
                let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            case UInt8(ascii: "\\"):
                scratch.removeAll(keepingCapacity: true)
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                return try escapedString()
            case 0..<0x20:  // a raw control character, or the end of input
                throw .syntax
            case 0x80...:
                try skipMultibyteScalar()
            default:
                index += 1
            }
        }
    }

    /// The rest of a string from its first backslash at `index`, appended to `scratch`.
    private mutating func escapedString() throws(Failure) -> String {
        while true {
            let byte = peek
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                try escape()
            case 0..<0x20:
                throw .syntax
            case 0x80...:
                let start = index
                try skipMultibyteScalar()
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
            default:
                scratch.append(byte)
                index += 1
            }
        }
    }

    /// Steps over the multi-byte UTF-8 sequence starting at `index`, if it is well-formed (RFC 3629 §4:
    /// no overlong forms, no surrogates, nothing past U+10FFFF).
    private mutating func skipMultibyteScalar() throws(Failure) {
        let length: Int
        let second: ClosedRange<UInt8>
        switch bytes[index] {
        case 0xC2...0xDF: (length, second) = (2, 0x80...0xBF)
        case 0xE0: (length, second) = (3, 0xA0...0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, second) = (3, 0x80...0xBF)
        case 0xED: (length, second) = (3, 0x80...0x9F)
        case 0xF0: (length, second) = (4, 0x90...0xBF)
        case 0xF1...0xF3: (length, second) = (4, 0x80...0xBF)
        case 0xF4: (length, second) = (4, 0x80...0x8F)
        default: throw .syntax
        }
        guard bytes.count - index >= length, second.contains(bytes[index + 1]) else { throw .syntax }
        for offset in 2..<length where !(0x80...0xBF).contains(bytes[index + offset]) { throw .syntax }
        index += length
    }

    /// The escape after a backslash, decoded onto `scratch`. A `\uXXXX` high surrogate must be followed
    /// by a `\uXXXX` low surrogate, and they are combined; any other surrogate is malformed.
    private mutating func escape() throws(Failure) {
        let byte = peek
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(byte)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var code = try hex4()
            switch code {
            case 0xD800..<0xDC00:
                guard peek == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw .syntax
                }
                index += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw .syntax }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
            case 0xDC00..<0xE000:
                throw .syntax
            case 0:
                sawNUL = true
            default:
                break
            }
            // Never nil: surrogates were combined or rejected above.
            guard let scalar = Unicode.Scalar(code) else { throw .syntax }
            UTF8.encode(scalar) { scratch.append($0) }
        default:
            throw .syntax
        }
    }

    /// The four hex digits of a `\u` escape.
    private mutating func hex4() throws(Failure) -> UInt32 {
        var code: UInt32 = 0
        for _ in 0..<4 {
            let byte = peek
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw .syntax
            }
            code = (code << 4) | UInt32(digit)
            index += 1
        }
        return code
    }

    // MARK: Numbers

    /// The number at `index`: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Integers of up
    /// to 15 digits are exact in a `Double` and converted directly; the rest go through `Double(_:)`.
    /// A number that does not fit (overflows to infinity, or underflows to zero from nonzero digits)
    /// is malformed, as it was for `JSONDecoder`.
    private mutating func number() throws(Failure) -> Double {
        let start = index
        let negative = peek == UInt8(ascii: "-")
        if negative { index += 1 }
        let digitsStart = index
        if peek == UInt8(ascii: "0") {
            index += 1
        } else {
            guard digits() else { throw .syntax }
        }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            index += 1
            guard digits() else { throw .syntax }
            isInteger = false
        }
        let mantissaEnd = index
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard digits() else { throw .syntax }
            isInteger = false
        }
        if isInteger, index - digitsStart <= 15 {
            var magnitude = 0
            for position in digitsStart..<index {
                magnitude = magnitude * 10 + Int(bytes[position] &- UInt8(ascii: "0"))
            }
            return negative ? -Double(magnitude) : Double(magnitude)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let number = Double(text), number.isFinite else { throw .syntax }
        if number == 0, bytes[digitsStart..<mantissaEnd].contains(where: { $0 > UInt8(ascii: "0") }) { throw .syntax }
        return number
    }

    /// Skips a run of decimal digits; whether there was at least one.
    private mutating func digits() -> Bool {
        let start = index
        while case UInt8(ascii: "0")...UInt8(ascii: "9") = peek { index += 1 }
        return index > start
    }
}
