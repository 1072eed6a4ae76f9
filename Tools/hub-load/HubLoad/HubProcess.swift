import ElectionModel
import Foundation
import NIOPosix

/// A `results-hub` started as a child process on a free port, with its journal and desks file in a temporary
/// directory that `stop` removes.
public final class HubProcess: Sendable {
    public let port: Int
    public let pid: Int32
    /// Desk id → token, as written to the desks file.
    public let tokens: [String: String]
    private let process: Process
    private let directory: URL
    /// The desks file it was started with (hubs of a cluster, and relays, share one).
    let desksFile: URL

    /// `results-hub` in the directory of this executable.
    public static func siblingExecutable() -> URL {
        let me =
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent("results-hub")
    }

    /// Starts the hub with one desk per region and a national desk, and waits for the line saying where it serves.
    /// - Parameters:
    ///   - arguments: besides the port, data directory, desks file and log level (e.g. `--store URL`).
    ///   - desksOf: another hub whose desks (file and tokens) this one shares, as the hubs of a cluster do.
    public static func start(
        executable: URL, election: Election, arguments: [String] = [], desksOf other: HubProcess? = nil
    ) async throws -> HubProcess {
        let directory = try makeDirectory(executable: executable)
        var tokens: [String: String] = other?.tokens ?? [:]
        var desksFile = other?.desksFile ?? directory.appendingPathComponent("desks.json")
        if other == nil {
            var desks: [[String: Any]] = []
            for id in election.regions.map(\.id) + ["national"] {
                tokens[id] = UUID().uuidString
                desks.append(["id": id, "token": tokens[id]!, "regions": id == "national" ? "*" : [id] as Any])
            }
            desksFile = directory.appendingPathComponent("desks.json")
            try JSONSerialization.data(withJSONObject: desks).write(to: desksFile)
        }
        return try await launch(
            executable: executable,
            arguments: [
                "--port", "0", "--admin-port", "0", "--data", directory.path, "--desks", desksFile.path,
                "--log-level", "warning",
            ] + arguments, tokens: tokens, desksFile: desksFile, directory: directory)
    }

    /// Starts `results-hub relay` below `upstream` (sharing its desks, which it sends upstream).
    /// Starts `results-hub relay` below `upstreams` (the first, then the others when it goes), sharing their desks.
    public static func startRelay(executable: URL, upstreams: [HubProcess]) async throws -> HubProcess {
        let directory = try makeDirectory(executable: executable)
        let upstream = upstreams[0]
        return try await launch(
            executable: executable,
            arguments: [
                "relay", "--upstream", upstreams.map { "127.0.0.1:\($0.port)" }.joined(separator: ","), "--port", "0",
                "--admin-port", "0", "--desks", upstream.desksFile.path, "--log-level", "warning",
            ], tokens: upstream.tokens, desksFile: upstream.desksFile, directory: directory)
    }

    private static func makeDirectory(executable: URL) throws -> URL {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw LoadInputError(
                "no results-hub at \(executable.path); build it (swift build --product results-hub) or pass --hub")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hub-load-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    private static func launch(
        executable: URL, arguments: [String], tokens: [String: String], desksFile: URL, directory: URL
    ) async throws -> HubProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        // The hub takes any option from a RESULTS_HUB_<KEY> variable (RESULTS_HUB_CONFIG, RESULTS_HUB_TLS_CERT):
        // the operator's own settings must not change the hub this tool starts and measures.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RESULTS_HUB_") }
        let output = Pipe()
        process.standardOutput = output
        _ = FileManager.default.createFile(atPath: directory.appendingPathComponent("hub.log").path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: directory.appendingPathComponent("hub.log"))
        try process.run()
        guard let port = try await firstMatch(in: output.fileHandleForReading, servingPort(inLine:)) else {
            process.waitUntilExit()
            let log = (try? String(contentsOf: directory.appendingPathComponent("hub.log"), encoding: .utf8)) ?? ""
            try? FileManager.default.removeItem(at: directory)
            throw LoadInputError("results-hub exited (status \(process.terminationStatus)) before serving: \(log)")
        }
        return HubProcess(process: process, port: port, tokens: tokens, desksFile: desksFile, directory: directory)
    }

    private init(process: Process, port: Int, tokens: [String: String], desksFile: URL, directory: URL) {
        self.process = process
        self.port = port
        self.pid = process.processIdentifier
        self.tokens = tokens
        self.desksFile = desksFile
        self.directory = directory
    }

    /// The first line a child process writes to `output` that `match` finds something in; nil if the child closes
    /// it first. Blocking reads belong on a thread of their own, not on the concurrency pool.
    static func firstMatch<T: Sendable>(
        in output: FileHandle, _ match: @escaping @Sendable (String) -> T?
    ) async throws -> T? {
        try await NIOThreadPool.singleton.runIfActive { () throws -> T? in
            var text = ""
            while true {
                let data = output.availableData
                if data.isEmpty { return nil }
                text += String(decoding: data, as: UTF8.self)
                for line in text.split(separator: "\n") {
                    if let found = match(String(line)) { return found }
                }
            }
        }
    }

    /// The port in "results-hub: serving … on 127.0.0.1:PORT" (or a relay's "results-hub relay: relaying … on …").
    public static func servingPort(inLine line: String) -> Int? {
        guard line.hasPrefix("results-hub: serving ") || line.hasPrefix("results-hub relay: relaying "),
            let colon = line.lastIndex(of: ":")
        else { return nil }
        return Int(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
    }

    /// CPU time and peak memory so far, and the memory resident now, from /proc.
    public func usage() -> HubUsage? { Self.usage(pid: pid) }

    /// CPU time and peak memory so far, and the memory resident now, of any process of this user (a redis-server).
    public static func usage(pid: Int32) -> HubUsage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let ticks = cpuTicks(stat: stat), let peak = peakMemoryBytes(status: status)
        else { return nil }
        return HubUsage(
            cpuSeconds: Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK))), peakMemoryBytes: peak,
            residentMemoryBytes: residentMemoryBytes(status: status))
    }

    /// utime + stime (fields 14 and 15 of /proc/PID/stat), counted after the command name in parentheses.
    public static func cpuTicks(stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is the state (field 3), so field n is fields[n - 3].
        guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return nil }
        return user + system
    }

    /// VmHWM (the resident set's high-water mark) from /proc/PID/status.
    public static func peakMemoryBytes(status: String) -> UInt64? { bytes(of: "VmHWM:", status: status) }

    /// VmRSS (the resident set now) from /proc/PID/status.
    public static func residentMemoryBytes(status: String) -> UInt64? { bytes(of: "VmRSS:", status: status) }

    private static func bytes(of field: String, status: String) -> UInt64? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
            let kilobytes = line.split(whereSeparator: \.isWhitespace).dropFirst().first.flatMap({ UInt64($0) })
        else { return nil }
        return kilobytes * 1024
    }

    /// SIGTERM, wait (SIGKILL after 10 s), and remove the temporary directory.
    public func stop() async {
        await Self.stop(process)
        try? FileManager.default.removeItem(at: directory)
    }

    /// SIGTERM to a child, and wait for it (SIGKILL after 10 s), on a thread of NIO's blocking pool.
    static func stop(_ process: Process) async {
        // One killed on purpose (`hub-load cluster --kill-leader-after`) has nothing left to stop.
        guard process.isRunning else { return }
        process.terminate()
        _ = try? await NIOThreadPool.singleton.runIfActive {
            for _ in 0..<100 where process.isRunning { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
    }
}
