import Logging

/// swift-log's `StreamLogHandler` on standard error (`LOG_FORMAT=text`), with metadata rendered when a
/// line is written rather than each time a key is set, and control characters escaped.
///
/// Values may hold what a client sent (a path, a user name, a header), so CR, LF and every other C0
/// and C1 control character and DEL in the message and in every metadata value (the metadata
/// provider's too) are written as `\n`, `\r`, `\t` or `\u{XX}`, and a backslash as `\\`: one event is
/// always one line, and no value can forge another.
///
/// `StreamLogHandler` re-renders all of its metadata whenever one key changes, and every request sets
/// keys on its logger (its id, then its organisation) whether or not it ever logs a line. Here keys
/// are only stored, then handed to the stream handler as the line's own metadata. Lines look the same.
public struct TextLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    /// Writes to standard error unless given another stream (tests).
    public init(label: String, stream: (any TextOutputStream & Sendable)? = nil) {
        self.stream =
            stream.map { StreamLogHandler(label: label, stream: $0) } ?? StreamLogHandler.standardError(label: label)
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    /// Applied here rather than by the stream handler, so its values are escaped like the rest.
    public var metadataProvider: Logger.MetadataProvider?

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        var merged = metadataProvider?.get() ?? [:]
        if !metadata.isEmpty { merged.merge(metadata) { _, own in own } }
        if let explicit = event.metadata { merged.merge(explicit) { _, explicit in explicit } }
        event.metadata = merged.isEmpty ? nil : merged.mapValues(Self.escaped)
        event.message = "\(Self.escaped(event.message.description))"
        stream.log(event: event)
    }

    /// A metadata value with every string in it escaped; other values become their escaped description.
    static func escaped(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): .string(escaped(text))
        case .stringConvertible(let convertible): .string(escaped(convertible.description))
        case .dictionary(let dictionary): .dictionary(dictionary.mapValues(escaped))
        case .array(let array): .array(array.map(escaped))
        }
    }

    /// `text` with control characters (C0, DEL, C1) and backslashes escaped; unchanged, without a
    /// copy, when it has none.
    static func escaped(_ text: String) -> String {
        func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
            scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar == "\\"
        }
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = ""
        result.reserveCapacity(text.utf8.count + 8)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            case "\\": result += "\\\\"
            case _ where needsEscape(scalar):
                result += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
