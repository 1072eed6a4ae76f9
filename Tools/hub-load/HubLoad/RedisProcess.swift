import Foundation
import NIOCore
import NIOPosix

/// A `redis-server` started by this tool on loopback, as the current user, with its files in a temporary directory
/// that `stop` removes. The Debian package may also run a system service: this tool never uses it, so that what it
/// measures is a server it configured, started fresh, and whose process it can read in /proc.
public final class RedisProcess: Sendable {
    public let port: Int
    public let pid: Int32
    private let process: Process
    private let directory: URL

    /// How the server keeps what it is sent.
    public enum Durability: Sendable {
        /// Nothing on disk (pub/sub).
        case none
        /// The append-only file, fsynced before every reply (`appendfsync always`).
        case appendOnlyFileSyncedAlways
    }

    /// `redis-server` on the PATH (or in /usr/bin, where Debian puts it).
    public static func findExecutable() throws(LoadInputError) -> URL {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/sbin"] {
            let candidate = URL(fileURLWithPath: directory).appendingPathComponent("redis-server")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw LoadInputError(
            "redis-server is not installed (hub-load compare needs it for its baseline): run Tools/setup.sh, which installs Debian's redis-server"
        )
    }

    /// Starts a server on a free loopback port and waits until it answers PING. A server that exits at once (another
    /// process took the port between our choosing it and Redis binding it) is started again on another port, twice
    /// at most; one that neither answers nor exits within 30 s is stopped and reported with its log.
    public static func start(durability: Durability, group: any EventLoopGroup) async throws -> RedisProcess {
        var failures: [String] = []
        for _ in 0..<3 {
            let redis = try await launch(durability: durability, group: group)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(30)
            var lastError = "no attempt"
            while clock.now < deadline && redis.process.isRunning {
                do {
                    if try await RedisConnection.ping(port: redis.port, group: group, timeout: .seconds(2)) {
                        return redis
                    }
                } catch {
                    lastError = "\(error)"
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let running = redis.process.isRunning
            await redis.stop()
            let log = redis.log.trimmingCharacters(in: .whitespacesAndNewlines)
            let what =
                running
                ? "did not answer PING within 30 s (the last attempt: \(lastError))"
                : "exited with status \(redis.process.terminationStatus) before answering PING"
            failures.append("redis-server on port \(redis.port) \(what); its log: \(log.isEmpty ? "(empty)" : log)")
            if running { break }
        }
        throw LoadFailure(failures.joined(separator: "\n"))
    }

    private static func launch(durability: Durability, group: any EventLoopGroup) async throws -> RedisProcess {
        let executable = try findExecutable()
        let port = try await freeLoopbackPort(group: group)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "hub-load-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var arguments = [
            "--port", "\(port)", "--bind", "127.0.0.1", "--protected-mode", "yes", "--save", "", "--dir",
            directory.path, "--daemonize", "no", "--loglevel", "warning", "--logfile", "",
        ]
        switch durability {
        case .none: arguments += ["--appendonly", "no"]
        case .appendOnlyFileSyncedAlways: arguments += ["--appendonly", "yes", "--appendfsync", "always"]
        }
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let log = directory.appendingPathComponent("redis.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let logHandle = try FileHandle(forWritingTo: log)
        process.standardOutput = logHandle
        process.standardError = logHandle
        try process.run()
        try? logHandle.close()
        return RedisProcess(process: process, port: port, directory: directory)
    }

    /// What the server wrote, read before `stop` removes its directory.
    private var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("redis.log"), encoding: .utf8)) ?? ""
    }

    private init(process: Process, port: Int, directory: URL) {
        self.process = process
        self.port = port
        self.pid = process.processIdentifier
        self.directory = directory
    }

    /// A port nothing listens on now: bound on 127.0.0.1 port 0, read, closed. (Redis's own `--port 0` turns TCP
    /// off instead of choosing a port.)
    static func freeLoopbackPort(group: any EventLoopGroup) async throws -> Int {
        let channel = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try await channel.close().get()
        guard let port else { throw LoadFailure("no free loopback port") }
        return port
    }

    /// CPU so far and peak memory, from /proc, as for the hub.
    public func usage() -> HubUsage? { HubProcess.usage(pid: pid) }

    /// Asks the server to shut down (SHUTDOWN NOSAVE), waits for it to exit (SIGKILL after 5 s), and removes its
    /// directory with its append-only file. Not SIGTERM: a child started from a thread of this process inherits that
    /// thread's blocked signals, and Redis then never sees the SIGTERM.
    public func stop() async {
        let process = self.process
        if process.isRunning {
            try? await RedisConnection.shutdown(port: port, group: MultiThreadedEventLoopGroup.singleton)
        }
        _ = try? await NIOThreadPool.singleton.runIfActive {
            for _ in 0..<50 where process.isRunning { usleep(100_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
