import Foundation
import Logging
import Synchronization

/// `results-hub --log-format json`: each record as one JSON object on one line, so that a log pipeline reads the
/// fields instead of parsing the text format with a regular expression. The keys are `timestamp` (ISO 8601, UTC,
/// milliseconds), `level`, `label`, `message`, `source` and `metadata`: an object with the same keys, and the same
/// values as text, that `StreamLogHandler` prints as `key=value` (a logged error included, as `error.message` and
/// `error.type`).
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    private let label: String
    private let output: LogLineOutput

    /// - Parameter output: where the lines go; every handler of a process must share one, so that its lock keeps
    ///   the lines of different loggers from interleaving.
    public init(
        label: String, output: LogLineOutput = .standardError,
        metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider
    ) {
        self.label = label
        self.output = output
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // The precedence StreamLogHandler applies: the handler's metadata, then the provider's, then the call's.
        var merged = metadata
        if let provided = metadataProvider?.get() {
            merged.merge(provided) { _, provided in provided }
        }
        if let explicit = event.metadata {
            merged.merge(explicit) { _, explicit in explicit }
        }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = .string(String(reflecting: type(of: error)))
        }
        let record = Record(
            timestamp: Self.timestampStyle.format(Date()),
            level: event.level.rawValue,
            label: label,
            message: event.message.description,
            source: event.source,
            metadata: merged.mapValues(\.description))
        output.write(record.jsonLine())
    }

    private static let timestampStyle = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    private struct Record: Encodable {
        var timestamp: String
        var level: String
        var label: String
        var message: String
        var source: String
        var metadata: [String: String]

        /// Sorted keys so that lines compare and diff stably; no pretty printing, and JSONEncoder escapes newlines
        /// and every other control character inside strings, so a record is always exactly one line.
        func jsonLine() -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            // Encoding a struct of strings cannot fail; were it ever to, a record is lost rather than the process.
            guard var line = try? encoder.encode(self) else { return Data() }
            line.append(UInt8(ascii: "\n"))
            return line
        }
    }
}

/// Where JSON log lines go: each line is written whole, under a lock, so that lines logged at the same moment on
/// different threads never interleave.
public final class LogLineOutput: Sendable {
    /// Standard error, where the text logs go too. A failed write (a closed stream) is ignored, as StreamLogHandler
    /// ignores it: losing a log line must not stop the hub.
    public static let standardError = LogLineOutput { line in
        try? FileHandle.standardError.write(contentsOf: line)
    }

    private let writeLine: Mutex<@Sendable (Data) -> Void>

    /// - Parameter writeLine: writes one complete line (newline included); never called concurrently.
    public init(writeLine: @escaping @Sendable (Data) -> Void) {
        self.writeLine = Mutex(writeLine)
    }

    func write(_ line: Data) {
        guard !line.isEmpty else { return }
        writeLine.withLock { write in write(line) }
    }
}
