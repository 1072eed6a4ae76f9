import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Production runs unprivileged, so the executables are tested that way: when the tests themselves run as root (a
/// developer's container), child processes are started as `nobody` through `setpriv`; when they run as an ordinary
/// user (CI), as that user. Root hides permission bugs (a socket option that needs CAP_NET_ADMIN, files other users
/// can read), which is why this exists.
enum OrdinaryUser {
    static let nobody: uid_t = 65534
    static let nogroup: gid_t = 65534

    static var testsRunAsRoot: Bool { getuid() == 0 }

    /// The executable and arguments that run `binary` as an ordinary user.
    static func commandLine(_ binary: String, _ arguments: [String]) -> (executable: String, arguments: [String]) {
        guard testsRunAsRoot else { return (binary, arguments) }
        return ("/usr/bin/setpriv", ["--reuid=\(nobody)", "--regid=\(nogroup)", "--clear-groups", binary] + arguments)
    }

    /// A new temporary directory that the ordinary user owns (mode 0755, so that tests can look inside).
    static func makeDirectory(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o755)
        if testsRunAsRoot, chown(path, nobody, nogroup) != 0 {
            throw TestFailure("chown \(path) to nobody failed: errno \(errno)")
        }
        return path
    }
}

/// The built executables, found beside the test bundle.
enum Executables {
    static let directory: URL = {
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [here, here.deletingLastPathComponent()]
        where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("reporter").path) {
            return candidate
        }
        return here
    }()

    static var reporter: String { directory.appendingPathComponent("reporter").path }
    static var resultsHub: String { directory.appendingPathComponent("results-hub").path }
}

/// A finished command: its exit status and what it printed.
struct CommandRun: Sendable {
    var status: Int32
    var output: String
    var errors: String

    /// Runs a command to completion, optionally as an ordinary user (see `OrdinaryUser`). The waiting happens on
    /// a thread of NIO's blocking pool, never on the cooperative pool: tests that block its few threads (2 on a
    /// 2-core machine) for the seconds a child runs stall every other test's awaits, the hubs' journals included.
    static func run(
        _ binary: String, _ arguments: [String], environment: [String: String]? = nil, asOrdinaryUser: Bool = false
    ) async throws -> CommandRun {
        try await NIOThreadPool.singleton.runIfActive {
            try runBlocking(binary, arguments, environment: environment, asOrdinaryUser: asOrdinaryUser)
        }
    }

    private static func runBlocking(
        _ binary: String, _ arguments: [String], environment: [String: String]?, asOrdinaryUser: Bool
    ) throws -> CommandRun {
        let process = Process()
        let (executable, fullArguments) =
            asOrdinaryUser ? OrdinaryUser.commandLine(binary, arguments) : (binary, arguments)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = fullArguments
        if let environment { process.environment = environment }
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Read both pipes at once: a child that fills one while we wait on the other would never finish.
        let errorText = CollectedText()
        errorText.collect(from: errors)
        let out = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return CommandRun(
            status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
            errors: errorText.waitForAll())
    }
}

/// A `results-hub` child process on a free port: started, and known to listen once it printed its address.
final class HubProcess: Sendable {
    let process: Process
    let port: Int
    /// The admin HTTP port (metrics, health).
    let adminPort: Int
    /// Everything the hub wrote to standard error so far.
    private let errors = CollectedText()

    /// - Parameters:
    ///   - arguments: besides `--port 0 --admin-port 0 --data DIR`.
    ///   - asOrdinaryUser: run as `nobody` when the tests run as root; `directory` must then be writable by it.
    ///   - umask: the file mode creation mask to start the hub with (e.g. 0, to show that it does not matter).
    convenience init(directory: String, arguments: [String] = [], asOrdinaryUser: Bool = false, umask: Int? = nil)
        throws
    {
        try self.init(
            allArguments: ["--port", "0", "--admin-port", "0", "--data", directory] + arguments,
            asOrdinaryUser: asOrdinaryUser,
            umask: umask)
    }

    /// - Parameters:
    ///   - allArguments: the whole command line after `results-hub`; the hub must listen on 127.0.0.1.
    ///   - environment: variables set for the hub besides the tests' own (less any `RESULTS_HUB_` ones).
    init(
        allArguments: [String], environment: [String: String] = [:], asOrdinaryUser: Bool = false,
        umask: Int? = nil
    ) throws {
        let process = Process()
        var commandLine = [Executables.resultsHub] + allArguments
        if asOrdinaryUser {
            let (executable, rest) = OrdinaryUser.commandLine(commandLine[0], Array(commandLine.dropFirst()))
            commandLine = [executable] + rest
        }
        if let umask {
            commandLine = ["/bin/sh", "-c", "umask \(String(umask, radix: 8)) && exec \"$@\"", "sh"] + commandLine
        }
        process.executableURL = URL(fileURLWithPath: commandLine[0])
        process.arguments = Array(commandLine.dropFirst())
        // The hub takes options from RESULTS_HUB_<KEY> variables: only the test's own, none from whoever runs it.
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RESULTS_HUB_") }
            .merging(environment) { _, given in given }
        let output = Pipe()
        let errorPipe = Pipe()
        process.standardOutput = output
        process.standardError = errorPipe
        try process.run()
        self.process = process
        errors.collect(from: errorPipe)
        // The hub prints "serving ... on 127.0.0.1:PORT" once it listens, and "admin on http://127.0.0.1:PORT ...".
        var text = ""
        var port: Int?
        var adminPort: Int?
        while port == nil || adminPort == nil {
            let data = output.fileHandleForReading.availableData
            guard !data.isEmpty else {
                process.waitUntilExit()
                throw TestFailure("results-hub exited before listening: \(errors.waitForAll())")
            }
            text += String(decoding: data, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.contains(" on 127.0.0.1:") }),
                let last = line.split(separator: ":").last
            {
                port = Int(last)
            }
            if let line = text.split(separator: "\n").first(where: { $0.hasPrefix("results-hub: admin on http://") }),
                let address = line.split(separator: " ").dropFirst(3).first,
                let last = address.split(separator: ":").last
            {
                adminPort = Int(last)
            }
        }
        self.port = port!
        self.adminPort = adminPort!
    }

    /// Starts the hub and waits until it listens, on NIO's blocking pool rather than the cooperative pool (see
    /// `CommandRun.run`).
    static func start(
        directory: String, arguments: [String] = [], asOrdinaryUser: Bool = false, umask: Int? = nil
    ) async throws -> HubProcess {
        try await NIOThreadPool.singleton.runIfActive {
            try HubProcess(directory: directory, arguments: arguments, asOrdinaryUser: asOrdinaryUser, umask: umask)
        }
    }

    /// Starts the hub with exactly these arguments (no `--port 0 --data DIR` added) and waits until it listens.
    static func start(
        allArguments: [String], environment: [String: String] = [:], asOrdinaryUser: Bool = false
    ) async throws -> HubProcess {
        try await NIOThreadPool.singleton.runIfActive {
            try HubProcess(allArguments: allArguments, environment: environment, asOrdinaryUser: asOrdinaryUser)
        }
    }

    /// What the hub logged to standard error so far (all of it, once the process has exited).
    var standardError: String {
        process.isRunning ? errors.text : errors.waitForAll()
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    func kill9() {
        signal(SIGKILL)
        process.waitUntilExit()
    }

    /// SIGTERM, and waits for the exit.
    func terminate() {
        signal(SIGTERM)
        process.waitUntilExit()
    }
}

/// Text a child process writes to a pipe, collected by a thread of its own until the pipe closes.
final class CollectedText: Sendable {
    private let collected = Mutex("")
    private let complete = Atomic<Bool>(false)

    func collect(from pipe: Pipe) {
        Thread.detachNewThread {
            while true {
                let data = pipe.fileHandleForReading.availableData
                if data.isEmpty { break }
                self.collected.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
            self.complete.store(true, ordering: .releasing)
        }
    }

    var text: String { collected.withLock { $0 } }

    /// Everything, once the writer has closed the pipe.
    func waitForAll() -> String {
        while !complete.load(ordering: .acquiring) { usleep(1000) }
        return text
    }
}
