import ElectionModel
import Foundation
import HubClient
import HubServer
import NIOCore
import NIOPosix
import Synchronization
import Testing

/// The `reporter` executable, run as a separate process against a real hub, as a person would use it.
@Suite("reporter CLI", .serialized)
struct ReporterCLITests {
    static let binary = Executables.reporter

    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `reporter` to completion on NIO's blocking pool (see `CommandRun.run`).
    static func reporter(_ arguments: [String], port: Int, desk: Bool = true) async throws -> Run {
        try await NIOThreadPool.singleton.runIfActive { try reporterBlocking(arguments, port: port, desk: desk) }
    }

    private static func reporterBlocking(_ arguments: [String], port: Int, desk: Bool) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments + ["--hub", "127.0.0.1:\(port)"]
        var environment = ProcessInfo.processInfo.environment
        if desk {
            environment["RESULTS_HUB_DESK"] = "national"
            environment["RESULTS_HUB_TOKEN"] = TestHub.nationalToken
        } else {
            environment["RESULTS_HUB_DESK"] = nil
            environment["RESULTS_HUB_TOKEN"] = nil
        }
        process.environment = environment
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, output: String(decoding: out, as: UTF8.self),
            errors: String(decoding: err, as: UTF8.self))
    }

    @Test func submitResubmitCorrectWithdrawAndEachRejection() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let port = hub.port
        var run = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4", "--turnout", "31.2"], port: port)
        #expect(run.status == 0)
        #expect(run.output == "swindon: accepted as sequence 1, revision 1 — LAB gain from CON\n")

        run = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "CON=22,LD=4,LAB=31", "--turnout", "31.2"], port: port)
        #expect(run.status == 0)
        #expect(run.output.contains("already accepted as sequence 1"))
        #expect(run.output.contains("duplicate"))

        run = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=30,CON=23,LD=4", "--revision", "2"], port: port)
        #expect(run.output == "swindon: accepted as sequence 2, revision 2 — LAB gain from CON\n")

        run = try await Self.reporter(["withdraw", "--contest", "swindon", "--reason", "recount"], port: port)
        #expect(run.status == 0)
        #expect(run.output.contains("accepted as sequence 3, revision 3 — result withdrawn"))

        run = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=30,CON=23,LD=3", "--revision", "4"], port: port)
        #expect(run.status == 1)
        #expect(run.errors.contains("seatsDoNotAddUp"))
        #expect(run.errors.contains("seats add up to 56, but the council has 57 seats"))

        run = try await Self.reporter(
            ["submit", "--contest", "swindon", "--seats", "LAB=57", "--revision", "2"], port: port)
        #expect(run.status == 1)
        #expect(run.errors.contains("staleRevision"))

        run = try await Self.reporter(["submit", "--contest", "swindn", "--seats", "LAB=57"], port: port)
        #expect(run.status != 0)
        #expect(run.errors.contains("unknown contest \"swindn\"; did you mean: swindon?"))

        run = try await Self.reporter(["submit", "--contest", "arun", "--seats", "LAB=-3"], port: port)
        #expect(run.status != 0)
        #expect(run.errors.contains("count -3 is negative"))

        run = try await Self.reporter(["submit", "--contest", "arun", "--seats", "XYZ=3"], port: port)
        #expect(run.errors.contains("unknown party \"XYZ\""))

        var wrongToken = try await Self.reporter(
            ["submit", "--contest", "arun", "--seats", "LAB=54", "--token", "not-the-token-at-all"], port: port)
        #expect(wrongToken.status != 0)
        #expect(wrongToken.errors.contains("authentication failed"))
        #expect(!wrongToken.errors.contains("not-the-token-at-all"))

        wrongToken = try await Self.reporter(["scoreboard"], port: 1)
        #expect(wrongToken.errors.contains("cannot reach the hub at 127.0.0.1:1"))
        try await hub.stop()
    }

    @Test func submitAFileThenScoreboardAndContestAsTableAndJSON() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let file = hub.directory + "/night.csv"
        try """
        contest,revision,seats,votes,turnout
        swindon,1,LAB=31;CON=22;LD=4,,31.2
        bromsgrove,1,CON=11;LAB=7;LD=3;GRN=2;IND=8,,
        arun,1,LAB=54,,
        nowhere,1,LAB=1,,
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let run = try await Self.reporter(["submit", "--file", file], port: hub.port)
        #expect(run.status != 0, "one line fails")
        let accepted = run.output.split(separator: "\n")
        #expect(accepted.count == 3 || run.errors.contains("nowhere"))

        let table = try await Self.reporter(["scoreboard"], port: hub.port, desk: false)
        #expect(table.status == 0)
        #expect(table.output.contains("of 234 contests declared"))
        #expect(table.output.contains("LAB"))

        let json = try await Self.reporter(["scoreboard", "--json"], port: hub.port, desk: false)
        let board = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as! [String: Any]
        #expect(board["contestsTotal"] as? Int == 234)
        let parties = board["parties"] as! [[String: Any]]
        let lab = parties.first { $0["party"] as? String == "LAB" }
        #expect(lab?["councillors"] as? Int == 31 + 7 + 54)

        let contest = try await Self.reporter(["contest", "swindon"], port: hub.port, desk: false)
        #expect(contest.output.hasPrefix("Swindon: LAB gain from CON"))
        let contestJSON = try await Self.reporter(["contest", "swindon", "--json"], port: hub.port, desk: false)
        let record = try JSONSerialization.jsonObject(with: Data(contestJSON.output.utf8)) as! [String: Any]
        #expect(record["control"] as? String == "LAB")
        #expect((record["seats"] as? [String: Int])?["CON"] == 22)
        try await hub.stop()
    }

    /// `reporter watch --json` across a hub restart: every event arrives once, in order.
    @Test func watchSurvivesAHubRestartWithoutLosingAnEvent() async throws {
        let port = try freePort()
        let hub = try await TestHub.start(port: port)
        defer { hub.removeFiles() }
        let watcher = try LineReader(
            binary: Self.binary, arguments: ["watch", "--json", "--hub", "127.0.0.1:\(port)", "--verbose"])
        defer { watcher.stop() }
        // Subscribed before the first submission, or those arrive in its snapshot and are never printed as changes
        // (a fixed 500 ms wait was not enough on a busy machine).
        try await withTimeout(60) {
            while try await hub.server.statistics().subscribers == 0 { try await Task.sleep(for: .milliseconds(20)) }
        }
        let slugs = Array(Declarations.councils.prefix(10))
        try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
            _ = try await desk.submitPipelined(slugs.prefix(5).map { Declarations.real($0) })
        }
        try await hub.stop()
        let restarted = try await TestHub.start(directory: hub.directory, port: port)
        try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk()) { desk in
            _ = try await desk.submitPipelined(slugs.dropFirst(5).map { Declarations.real($0) })
        }
        let lines: [String]
        do {
            lines = try await withTimeout(60) { try await watcher.lines(count: 10) }
        } catch {
            Issue.record("watcher's lines: \(watcher.all)\nits standard error:\n\(watcher.standardError)")
            throw error
        }
        let sequences = lines.compactMap { line -> Int? in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["sequence"] as? Int
        }
        #expect(sequences == Array(1...10))
        try await restarted.stop()
    }
}

func freePort() throws -> Int {
    let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0)
        .wait()
    let port = channel.localAddress!.port!
    try channel.close().wait()
    return port
}

/// A long-running process whose standard output is read line by line.
final class LineReader: Sendable {
    private final class Lines: Sendable {
        let complete = Mutex<[String]>([])
        let partial = Mutex<String>("")
    }

    private let process: Process
    private let collected = Lines()
    private let errors = CollectedText()

    /// What the process wrote to standard error so far: for the message of a failure.
    var standardError: String { errors.text }

    init(binary: String, arguments: [String], environment: [String: String]? = nil) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let output = Pipe()
        process.standardOutput = output
        let errorPipe = Pipe()
        process.standardError = errorPipe
        errors.collect(from: errorPipe)
        let collected = self.collected
        output.fileHandleForReading.readabilityHandler = { handle in
            let text = String(decoding: handle.availableData, as: UTF8.self)
            collected.partial.withLock { buffer in
                buffer += text
                while let newline = buffer.firstIndex(of: "\n") {
                    let line = String(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    collected.complete.withLock { $0.append(line) }
                }
            }
        }
        try process.run()
    }

    func lines(count: Int) async throws -> [String] {
        while collected.complete.withLock({ $0.count }) < count {
            try await Task.sleep(for: .milliseconds(50))
        }
        return collected.complete.withLock { Array($0.prefix(count)) }
    }

    /// Every line so far.
    var all: [String] { collected.complete.withLock { $0 } }

    /// The first line after the first `after` lines that satisfies `matching`, waiting for it (bounded by the
    /// caller's `withTimeout`); returns its index too.
    func line(after: Int = 0, _ matching: (String) -> Bool) async throws -> (index: Int, line: String) {
        while true {
            let lines = all
            if after < lines.count, let index = lines[after...].firstIndex(where: matching) {
                return (index, lines[index])
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func signal(_ number: Int32) {
        kill(process.processIdentifier, number)
    }

    func stop() {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
