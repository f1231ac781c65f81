import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A swift-log handler writing one JSON object per line, for log pipelines (`LOG_FORMAT=json`).
///
/// Each line holds `timestamp` (ISO 8601, UTC, milliseconds), `level`, `label`, `message`, `source`
/// (the emitting module), then every metadata key at the top level, nested dictionaries flattened
/// with dots (`["scim": ["org": "acme"]]` becomes `"scim.org"`). Keys are sorted, so lines diff well.
/// A metadata key that collides with one of the fixed fields is written as `metadata.<key>`.
///
/// The handler writes what it is given: keeping tokens, passwords and request bodies out of log
/// metadata is the caller's job.
public struct JSONLogHandler: LogHandler {
    /// Where finished lines go. Each call receives one complete line, newline included.
    public struct Output: Sendable {
        let write: @Sendable ([UInt8]) -> Void

        public init(_ write: @escaping @Sendable ([UInt8]) -> Void) {
            self.write = write
        }

        /// The process's standard output, one `write(2)` per line under a lock, so concurrent lines
        /// never interleave.
        public static let standardOutput = Output { bytes in
            stdoutLock.withLock { _ in
                bytes.withUnsafeBytes { buffer in
                    // No address means no bytes: there is nothing to write.
                    guard let base = buffer.baseAddress else { return }
                    var offset = 0
                    while offset < buffer.count {
                        let written = Self.systemWrite(1, base + offset, buffer.count - offset)
                        if written < 0 {
                            if errno == EINTR { continue }
                            return  // stdout is gone; logging must never crash the service
                        }
                        offset += written
                    }
                }
            }
        }

        private static let stdoutLock = Mutex<Void>(())

        private static func systemWrite(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
            #if canImport(Darwin)
                Darwin.write(fd, pointer, count)
            #elseif canImport(Musl)
                Musl.write(fd, pointer, count)
            #else
                Glibc.write(fd, pointer, count)
            #endif
        }
    }

    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    public let label: String
    private let output: Output

    public init(label: String, output: Output = .standardOutput, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }

        var line = JSONLine()
        line.field("timestamp", .string(Date.now.formatted(Self.timestampStyle)))
        line.field("level", .string(event.level.rawValue))
        line.field("label", .string(label))
        line.field("message", .string(event.message.description))
        line.field("source", .string(event.source))
        if let error = event.error {
            line.field("error", .string(String(describing: error)))
        }
        var flat: [(String, Logger.MetadataValue)] = []
        for (key, value) in merged { Self.flatten(value, key: key, into: &flat) }
        for (key, value) in flat.sorted(by: { $0.0 < $1.0 }) {
            line.field(Self.reserved.contains(key) ? "metadata.\(key)" : key, value)
        }
        output.write(line.finish())
    }

    static let reserved: Set<String> = ["timestamp", "level", "label", "message", "source", "error"]
    static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// Dictionaries become dotted keys; everything else stays one field.
    static func flatten(_ value: Logger.MetadataValue, key: String, into fields: inout [(String, Logger.MetadataValue)])
    {
        if case .dictionary(let dictionary) = value, !dictionary.isEmpty {
            for (child, value) in dictionary { flatten(value, key: "\(key).\(child)", into: &fields) }
        } else {
            fields.append((key, value))
        }
    }
}

/// One JSON object, built as bytes.
private struct JSONLine {
    private var bytes: [UInt8] = [UInt8(ascii: "{")]

    mutating func field(_ key: String, _ value: Logger.MetadataValue) {
        if bytes.count > 1 { bytes.append(UInt8(ascii: ",")) }
        appendString(key)
        bytes.append(UInt8(ascii: ":"))
        appendValue(value)
    }

    mutating func finish() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private mutating func appendValue(_ value: Logger.MetadataValue) {
        switch value {
        case .string(let string):
            appendString(string)
        case .stringConvertible(let convertible):
            appendString(convertible.description)
        case .array(let values):
            bytes.append(UInt8(ascii: "["))
            for (index, value) in values.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                appendValue(value)
            }
            bytes.append(UInt8(ascii: "]"))
        case .dictionary(let dictionary):
            bytes.append(UInt8(ascii: "{"))
            for (index, (key, value)) in dictionary.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                appendString(key)
                bytes.append(UInt8(ascii: ":"))
                appendValue(value)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else UTF-8 as is.
    private mutating func appendString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case UInt8(ascii: "\r"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case UInt8(ascii: "\t"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20, 0x7F:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
