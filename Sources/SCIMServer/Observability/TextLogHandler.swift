import Logging

/// swift-log's `StreamLogHandler` on standard error (`LOG_FORMAT=text`), with metadata rendered when a
/// line is written rather than each time a key is set.
///
/// `StreamLogHandler` re-renders all of its metadata whenever one key changes, and every request sets
/// keys on its logger (its id, then its organisation) whether or not it ever logs a line. Here keys
/// are only stored, then handed to the stream handler as the line's own metadata. Lines look the same.
public struct TextLogHandler: LogHandler {
    private var stream: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    /// Writes to standard error unless given another stream (tests).
    public init(label: String, stream: (any TextOutputStream & Sendable)? = nil) {
        self.stream = stream.map { StreamLogHandler(label: label, stream: $0) } ?? StreamLogHandler.standardError(label: label)
    }

    public var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty {
            event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit }
        }
        stream.log(event: event)
    }
}
