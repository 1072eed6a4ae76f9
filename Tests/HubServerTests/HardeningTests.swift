import ElectionModel
import Foundation
import HubCore
import HubJournal
import HubWire
import InMemoryLogging
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import HubClient
@testable import HubServer

#if canImport(Glibc)
    import Glibc
#endif

/// What an operator and an attacker found from outside the code (issue 9), each held now: the hub and `reporter`
/// run unprivileged, secrets are never readable by others, peers cannot pin memory with partial frames, a bad field
/// fails its request only, peers cannot forge log lines, and start-up failures are one sentence.
@Suite("Hardening", .serialized)
struct HardeningTests {
    // MARK: Runs as an ordinary user

    /// The socket options used to be set at the socket level (SO_DEBUG, which needs CAP_NET_ADMIN): as an ordinary
    /// user every connection was reset, and `reporter` failed with "Permission denied".
    @Test func hubAndReporterWorkAsAnOrdinaryUser() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-unprivileged")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        let hub = try await HubProcess.start(
            directory: data, arguments: ["--log-level", "warning"], asOrdinaryUser: true)
        defer { hub.terminate() }
        let token = try Self.generatedToken(in: data, desk: "national")
        let environment = ["RESULTS_HUB_DESK": "national", "RESULTS_HUB_TOKEN": token]
        let submit = try await CommandRun.run(
            Executables.reporter,
            ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4", "--hub", "127.0.0.1:\(hub.port)"],
            environment: environment, asOrdinaryUser: true)
        #expect(submit.status == 0, "\(submit.errors)")
        #expect(submit.output == "swindon: accepted as sequence 1, revision 1 — LAB gain from CON\n")
        let board = try await CommandRun.run(
            Executables.reporter, ["scoreboard", "--hub", "127.0.0.1:\(hub.port)"], asOrdinaryUser: true)
        #expect(board.status == 0, "\(board.errors)")
        #expect(board.output.contains("1 of 234 contests declared (sequence 1)"))
        #expect(!hub.standardError.contains("Permission denied"))
    }

    /// The client sets TCP_NODELAY at the TCP level, and no socket-level option that needs privileges.
    @Test func clientSocketsSetTCPNoDelayAndNoPrivilegedOption() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let channel = try await FrameChannel.connectForTesting(port: hub.port)
        let noDelay = try await channel.channel.getOption(.tcpOption(.tcp_nodelay)).get()
        let debug = try await channel.channel.getOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_DEBUG))).get()
        #expect(noDelay != 0)
        #expect(debug == 0)
        try await channel.channel.close()
        try await hub.stop()
    }

    /// A token from the file of new tokens the first start wrote (desks.json holds only their hashes).
    static func generatedToken(in data: String, desk: String) throws -> String {
        let name = try #require(
            try FileManager.default.contentsOfDirectory(atPath: data).first { $0.hasPrefix("desk-tokens-") })
        let credentials = try DeskDirectory.decode(try Data(contentsOf: URL(fileURLWithPath: data + "/" + name)))
        return try #require(credentials.first { $0.id == desk }).token
    }

    // MARK: Secrets

    /// The first start wrote desks.json 0644, renamed it, then set 0600: another user could read every token.
    /// Under umask 0, a watcher looks at every file in the data directory while the hub starts.
    @Test func firstStartNeverExposesTokens() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-secrets")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        let exposed = Mutex<[String]>([])
        let watching = Atomic<Bool>(true)
        let watcher = Thread {
            while watching.load(ordering: .relaxed) {
                for name in (try? FileManager.default.contentsOfDirectory(atPath: data)) ?? [] {
                    var status = stat()
                    let path = data + "/" + name
                    if stat(path, &status) == 0, status.st_size > 0, status.st_mode & 0o044 != 0 {
                        exposed.withLock { $0.append("\(name) \(String(status.st_mode & 0o777, radix: 8))") }
                    }
                }
            }
        }
        watcher.start()
        let hub = try await HubProcess.start(
            directory: data, arguments: ["--log-level", "warning"], asOrdinaryUser: true, umask: 0)
        watching.store(false, ordering: .relaxed)
        hub.terminate()
        #expect(exposed.withLock { $0 }.isEmpty)
        #expect(try Self.mode(data) == 0o700)
        #expect(try Self.mode(data + "/desks.json") == 0o600)
        #expect(try Self.mode(data + "/journal.rhj") == 0o600)
    }

    @Test func secretFilesAndDataDirectoriesIgnoreAPermissiveUmask() throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-umask")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let previous = umask(0)
        defer { umask(previous) }
        #expect(try StartupChecks.prepareDataDirectory(directory + "/a/b") == nil)
        #expect(try Self.mode(directory + "/a/b") == 0o700)
        try StartupChecks.writeSecretFile(Array("secret".utf8), to: directory + "/a/b/desks.json")
        #expect(try Self.mode(directory + "/a/b/desks.json") == 0o600)
        #expect(try String(contentsOfFile: directory + "/a/b/desks.json", encoding: .utf8) == "secret")
        #expect(throws: StartupError.self) {
            try StartupChecks.writeSecretFile(Array("other".utf8), to: directory + "/a/b/desks.json")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/a/b") == ["desks.json"])
        // An existing directory open to others is used, with a warning.
        #expect(try StartupChecks.prepareDataDirectory(directory)?.contains("chmod 700") == true)
    }

    @Test func aDesksFileReadableByOthersIsWarnedAbout() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-desks-mode")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        chmod(desks, 0o644)
        let hub = try await HubProcess.start(
            directory: directory + "/data", arguments: ["--desks", desks, "--log-level", "warning"],
            asOrdinaryUser: true)
        hub.terminate()
        #expect(hub.standardError.contains("\(desks) can be read by other users (mode 0644)"))
    }

    static func mode(_ path: String) throws -> mode_t {
        var status = stat()
        guard stat(path, &status) == 0 else { throw TestFailure("no \(path)") }
        return status.st_mode & 0o777
    }

    // MARK: Partial frames

    /// A subscriber sends only small frames: one announcing a large one is refused at its header, instead of the
    /// hub holding a megabyte for it until the idle timeout.
    @Test func aSubscriberCannotAnnounceALargeFrame() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout(5) {
            try await RawConnection.session(port: hub.port, hello: .subscriber) { subscriber in
                // The header of a 100,000-byte QUERY; its payload never comes.
                try await subscriber.sendRaw(ByteBuffer(bytes: [0x00, 0x01, 0x86, 0xA0, 0x31, 0x00]))
                guard case .goodbye(let goodbye) = try await subscriber.next() else {
                    throw TestFailure("no GOODBYE")
                }
                #expect(goodbye.code == .frameTooLarge)
            }
        }
        try await hub.stop()
    }

    /// All connections together hold at most the budget in frames still arriving: the desk that would pass it is
    /// closed, the others keep their connections.
    @Test func partialFramesAcrossConnectionsAreBounded() async throws {
        let budget = 512 * 1024
        let hub = try await TestHub.start(configure: { $0.maxPartialFrameBytes = budget })
        defer { hub.removeFiles() }
        // A SUBMIT frame announcing 1,000,000 bytes, and 300 KiB of it.
        let header: [UInt8] = [0x00, 0x0F, 0x42, 0x40, 0x10, 0x00]
        let part = ByteBuffer(bytes: header + [UInt8](repeating: 0x01, count: 300 * 1024))
        try await withTimeout(10) {
            try await RawConnection.session(port: hub.port, hello: .desk()) { first in
                try await first.sendRaw(part)
                try await Self.waitUntil { try await hub.server.statistics().partialFrameBytes >= 300 * 1024 }
                try await RawConnection.session(port: hub.port, hello: .desk()) { second in
                    try await second.sendRaw(part)
                    guard case .goodbye(let goodbye) = try await second.next() else {
                        throw TestFailure("no GOODBYE")
                    }
                    #expect(goodbye.code == .limitExceeded)
                }
                let held = try await hub.server.statistics().partialFrameBytes
                #expect(held <= budget)
                #expect(held >= 300 * 1024, "the first desk keeps its connection and its partial frame")
            }
            try await Self.waitUntil { try await hub.server.statistics().partialFrameBytes == 0 }
        }
        try await hub.stop()
    }

    /// A few bytes of a next frame left at the end of a large read hold only their own size, not the read's.
    @Test func leftoverBytesOfALargeReadAreCompacted() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout(10) {
            try await RawConnection.session(port: hub.port, hello: .desk()) { desk in
                // 40 KiB of heartbeats in one write, then 3 bytes of a frame header.
                let heartbeat = FrameCodec().encode(.heartbeat(Heartbeat(sequence: 0)))
                var bytes = ByteBuffer()
                while bytes.readableBytes < 40 * 1024 { bytes.writeImmutableBuffer(heartbeat) }
                bytes.writeBytes([0x00, 0x00, 0x00])
                try await desk.sendRaw(bytes)
                try await Self.waitUntil { try await hub.server.statistics().partialFrameBytes > 0 }
                #expect(try await hub.server.statistics().partialFrameBytes <= 4096)
            }
        }
        try await hub.stop()
    }

    static func waitUntil(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<500 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw TestFailure("the condition did not hold within 5 s")
    }

    // MARK: A bad field fails its request only

    /// A SUBMIT whose turnout is over its field's range got GOODBYE limitExceeded, losing the desk's other requests
    /// in flight. It is a REJECT of that request now, and the connection serves on.
    @Test func anOutOfRangeFieldIsARejectAndTheConnectionStays() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await RawConnection.session(port: hub.port, hello: .desk()) { desk in
                try await desk.send(.submit(Submit(requestID: 1, declaration: Declarations.real("swindon"))))
                try await desk.sendRaw(Self.submitWithTurnout70000(requestID: 2))
                try await desk.send(.submit(Submit(requestID: 3, declaration: Declarations.real("arun"))))
                try await desk.sendRaw(Self.withdrawWithZeroRevision(requestID: 4))
                var answers: [UInt64: HubMessage] = [:]
                while answers.count < 4 {
                    let answer = try await desk.next()
                    switch answer {
                    case .ack(let ack): answers[ack.requestID] = answer
                    case .reject(let reject): answers[reject.requestID] = answer
                    default: throw TestFailure("unexpected \(answer)")
                    }
                }
                guard case .reject(let turnout) = answers[2], case .reject(let revision) = answers[4] else {
                    throw TestFailure("requests 2 and 4 were not rejected")
                }
                #expect(turnout.code == .limitExceeded)
                #expect(turnout.message.contains("declaration.turnout"))
                #expect(revision.code == .malformedFrame || revision.code == .limitExceeded)
                #expect(revision.message.contains("withdraw.revision"))
                guard case .ack = answers[1], case .ack = answers[3] else { throw TestFailure("not acked") }
                try await desk.send(.query(Query(requestID: 5, kind: .scoreboard)))
                guard case .scoreboard(let board) = try await desk.next() else { throw TestFailure("no scoreboard") }
                #expect(board.scoreboard.sequence == 2)
            }
        }
        try await hub.stop()
    }

    /// A SUBMIT frame whose turnout varint says 70,000 (the field holds at most 65,535).
    static func submitWithTurnout70000(requestID: UInt64) -> ByteBuffer {
        // With no votes or candidate votes and declaredAt 0, the payload ends with turnout (here 1 byte) and 0.
        var declaration = Declarations.real("bromsgrove")
        declaration.turnoutBasisPoints = 1
        declaration.declaredAt = 0
        let frame = FrameCodec().encode(.submit(Submit(requestID: requestID, declaration: declaration)))
        var bytes = Array(frame.readableBytesView)
        precondition(bytes[bytes.count - 2] == 1 && bytes[bytes.count - 1] == 0)
        bytes.replaceSubrange((bytes.count - 2)..<(bytes.count - 1), with: [0xF0, 0xA2, 0x04])
        var result = ByteBuffer(bytes: bytes)
        result.setInteger(UInt32(bytes.count - 4), at: 0)
        return result
    }

    /// A WITHDRAW frame with revision 0 (revisions start at 1).
    static func withdrawWithZeroRevision(requestID: UInt64) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeVarint(requestID)
        payload.writeVarint(UInt64(Declarations.contest("arun").id.rawValue))
        payload.writeVarint(0)
        payload.writeVarint(0)
        payload.writeVarint(0)
        var frame = ByteBuffer()
        Frame(type: MessageType.withdraw.rawValue, flags: 0, payload: payload).write(into: &frame)
        return frame
    }

    // MARK: Logs cannot be forged

    @Test func peerChosenTextCannotForgeLogLinesAndUnknownDeskIDsAreNotLogged() async throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "hardening") { _ in handler }
        let hub = try await TestHub.start(logger: logger)
        defer { hub.removeFiles() }
        let forged = "graphics\n2026-11-30 critical results-hub: journal deleted"
        try await withTimeout {
            try await HubSession.connect(
                host: "127.0.0.1", port: hub.port,
                hello: Hello(role: .subscriber, principal: forged, secret: "", clientName: "tool\r\nfake")
            ) { subscriber in
                try await subscriber.send(.query(Query(requestID: 1, kind: .scoreboard)))
                _ = try await subscriber.next()
            }
            let typedToken = TestHub.nationalToken
            let answer = try await RawConnection.goodbye(
                port: hub.port,
                after: Array(FrameCodec().encode(.hello(.desk(typedToken, token: typedToken))).readableBytesView))
            #expect(answer.code == .authenticationFailed)
        }
        try await hub.stop()
        let entries = handler.entries
        #expect(entries.contains { $0.metadata["subscriber.name"] != nil }, "the subscriber's name is logged")
        for entry in entries {
            let text = (["\(entry.message)"] + entry.metadata.values.map { "\($0)" }).joined(separator: " ")
            #expect(!text.contains("\n") && !text.contains("\r"), "\(text)")
            #expect(!text.contains(TestHub.nationalToken), "a token typed as a desk id is logged: \(text)")
        }
        #expect(entries.contains { "\($0.metadata["desk.id"] ?? "")".contains("unknown desk id of 25 bytes") })
    }

    /// A key typed into the subscriber name field is not logged when the hub has subscriber keys; a name that
    /// a subscriber has is.
    @Test func aKeyTypedAsASubscriberNameIsNotLogged() async throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "hardening") { _ in handler }
        let key = "graphics-key-0123456789abcdef"
        let hub = try await TestHub.start(
            configure: { $0.subscriberKeys = try! SubscriberKeys(entries: [.init(name: "graphics", key: key)]) },
            logger: logger)
        defer { hub.removeFiles() }
        try await withTimeout {
            for principal in [key, "graphics"] {
                let hello = Hello(
                    role: .subscriber, principal: principal, secret: "wrong-key-0123456789", clientName: "t")
                let answer = try await RawConnection.goodbye(
                    port: hub.port, after: Array(FrameCodec().encode(.hello(hello)).readableBytesView))
                #expect(answer.code == .authenticationFailed)
            }
        }
        try await hub.stop()
        let logged = handler.entries.map {
            (["\($0.message)"] + $0.metadata.values.map { "\($0)" }).joined(separator: " ")
        }
        #expect(!logged.contains { $0.contains(key) })
        #expect(logged.contains { $0.contains("unknown subscriber name of \(key.utf8.count) bytes") })
        #expect(handler.entries.contains { "\($0.metadata["subscriber.name"] ?? "")" == "graphics" })
    }

    /// A subscriber's SUBMIT with a bad field is still a subscriber's SUBMIT: `unexpectedMessage`, as for a good one.
    @Test func aSubscribersMalformedSubmitIsUnexpected() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout {
            try await RawConnection.session(port: hub.port, hello: .subscriber) { subscriber in
                try await subscriber.sendRaw(Self.submitWithTurnout70000(requestID: 7))
                guard case .reject(let reject) = try await subscriber.next() else { throw TestFailure("no REJECT") }
                #expect(reject.requestID == 7)
                #expect(reject.code == .unexpectedMessage)
            }
        }
        try await hub.stop()
    }

    @Test func loggableTextEscapesControlsAndIsBounded() {
        #expect(PeerText.loggable("a\nb\rc\td\u{1B}[31m\u{2028}") == "a\\nb\\rc\\td\\u{1b}[31m\\u{2028}")
        #expect(PeerText.loggable(String(repeating: "x", count: 100)) == String(repeating: "x", count: 64) + "…")
        #expect(PeerText.loggable("north-west") == "north-west")
    }

    // MARK: Operator papercuts

    @Test func outOfRangePortsAreRejectedByEveryCommand() async throws {
        let hub = try await CommandRun.run(Executables.resultsHub, ["--port", "70000"])
        #expect(hub.status == 64)
        #expect(hub.errors.contains("--port 70000 is out of range"))
        for address in ["127.0.0.1:70000", "[::1]:99999", "127.0.0.1:0", "[::1]:0"] {
            let reporter = try await CommandRun.run(Executables.reporter, ["scoreboard", "--hub", address])
            #expect(reporter.status == 64, "\(address)")
            #expect(reporter.errors.contains("is not HOST:PORT"), "\(address): \(reporter.errors)")
            let load = try await CommandRun.run(
                Executables.directory.appendingPathComponent("hub-load").path, ["night", "--hub", address])
            #expect(load.status == 64, "\(address): \(load.errors)")
        }
    }

    @Test func aPortInUseIsOneSentenceAndWritesNothing() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-port")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await HubProcess.start(directory: directory + "/first", arguments: ["--log-level", "warning"])
        defer { first.terminate() }
        let second = try await CommandRun.run(
            Executables.resultsHub, ["--port", "\(first.port)", "--admin-port", "0", "--data", directory + "/second"])
        #expect(second.status == 1)
        #expect(
            second.errors
                == "results-hub: port \(first.port) on 127.0.0.1 is in use (is another results-hub running?); stop it or choose another --port\n"
        )
        #expect(!FileManager.default.fileExists(atPath: directory + "/second"))

        let admin = try await CommandRun.run(
            Executables.resultsHub,
            ["--port", "0", "--admin-port", "\(first.adminPort)", "--data", directory + "/third"])
        #expect(admin.status == 1)
        #expect(
            admin.errors
                == "results-hub: port \(first.adminPort) on 127.0.0.1 is in use (is another results-hub running?); stop it or choose another --admin-port\n"
        )
        #expect(!FileManager.default.fileExists(atPath: directory + "/third"))
    }

    @Test func anUnwritableDataDirectoryIsOneSentence() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-readonly")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o555)
        let run = try await CommandRun.run(
            Executables.resultsHub, ["--port", "0", "--admin-port", "0", "--data", directory + "/data"],
            asOrdinaryUser: true)
        #expect(run.status == 1)
        #expect(run.errors.hasPrefix("results-hub: cannot create the data directory \(directory)/data: "))
        #expect(run.errors.contains("Permission denied"))
        #expect(!run.errors.contains("NSCocoaErrorDomain"))
        #expect(run.errors.split(separator: "\n").count == 1)
    }

    /// The desks file was written before the journal's election was checked: a hub refused for another
    /// election's journal left fresh tokens behind.
    @Test func nothingIsWrittenWhenTheJournalBelongsToAnotherElection() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-other-election")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let election = directory + "/town.json"
        try Data(Self.townElection.utf8).write(to: URL(fileURLWithPath: election))
        let data = directory + "/data"
        let town = try await HubProcess.start(
            directory: data, arguments: ["--election", election, "--log-level", "warning"], asOrdinaryUser: true)
        town.terminate()
        try FileManager.default.removeItem(atPath: data + "/desks.json")
        for name in try FileManager.default.contentsOfDirectory(atPath: data) where name.hasPrefix("desk-tokens-") {
            try FileManager.default.removeItem(atPath: data + "/" + name)
        }
        let run = try await CommandRun.run(
            Executables.resultsHub, ["--port", "0", "--admin-port", "0", "--data", data, "--log-level", "critical"],
            asOrdinaryUser: true)
        #expect(run.status == 1)
        #expect(run.errors.contains("results-hub: "))
        #expect(run.errors.contains("election"), "\(run.errors)")
        #expect(!FileManager.default.fileExists(atPath: data + "/desks.json"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).allSatisfy { !$0.hasPrefix("desk-tokens-") })
    }

    static let townElection = """
        {"id": "town-2024", "name": "Town elections", "date": "2024-05-02", "sources": "tests",
         "parties": [{"code": "LAB", "name": "Labour"}, {"code": "CON", "name": "Conservative"}],
         "regions": [{"id": "north", "name": "North"}],
         "contests": [{"id": 1, "slug": "town", "name": "Town Council", "region": "north", "kind": "council",
                       "totalSeats": 30, "seatsUp": 10, "controlBefore": "LAB"}]}
        """

    /// SIGHUP used to kill the hub with no GOODBYE. It reloads the desks file now and never stops the hub; SIGTERM
    /// still stops it cleanly.
    @Test func sighupReloadsTheDesksAndTheHubServesOn() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-sighup")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await HubProcess.start(directory: directory + "/data", arguments: ["--log-level", "notice"])
        let port = hub.port
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .subscriber) { subscriber in
                hub.signal(SIGHUP)
                try await Self.waitUntil { hub.standardError.contains("desks file reloaded") }
                try await subscriber.send(.query(Query(requestID: 1, kind: .scoreboard)))
                guard case .scoreboard = try await subscriber.next() else { throw TestFailure("no scoreboard") }
                hub.signal(SIGTERM)
                guard case .goodbye(let goodbye) = try await subscriber.next() else { throw TestFailure("no GOODBYE") }
                #expect(goodbye.code == .shuttingDown)
            }
        }
        hub.process.waitUntilExit()
        #expect(hub.process.terminationStatus == 0)
    }

    /// A conflating subscriber whose connection closes has nothing to catch up with: "caught up" was logged for
    /// it anyway, as its failed writes were taken for a drained socket.
    @Test func aClosedConflatingSubscriberIsNotReportedCaughtUp() async throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "hardening") { _ in handler }
        let hub = try await TestHub.start(
            configure: {
                $0.subscriberByteLimit = 8 * 1024
                $0.socketSendBufferBytes = 4 * 1024
                $0.stallTimeout = .seconds(60)
            }, logger: logger)
        defer { hub.removeFiles() }
        try await withTimeout(60) {
            let stalled = try await StalledSubscriber.connect(port: hub.port)
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                var round: UInt32 = 0
                while try await hub.server.statistics().conflatingSubscribers == 0 {
                    round += 1
                    guard round <= 30 else { throw TestFailure("the subscriber never fell behind") }
                    _ = try await desk.submitPipelined(
                        Declarations.councils.map { Declarations.allTo($0, party: "LD", revision: round) })
                }
                stalled.close()
                try await Self.waitUntil { try await hub.server.statistics().subscribers == 0 }
                // A commit after the close, as on a busy night.
                _ = try await desk.submit(Declarations.real("swindon", revision: 100), requestID: 999)
            }
        }
        try await hub.stop()
        #expect(!handler.entries.contains { "\($0.message)".contains("caught up") })
    }

    @Test func repeatedStoreFailuresAreLoggedOncePerInterval() {
        var log = RepeatedFailureLog(intervalNanos: 10)
        #expect(log.failed(nowNanos: 100) == .logFirst)
        #expect(log.failed(nowNanos: 101) == .silent)
        #expect(log.failed(nowNanos: 105) == .silent)
        #expect(log.failed(nowNanos: 110) == .logSummary(suppressed: 3))
        #expect(log.failed(nowNanos: 111) == .silent)
        #expect(log.succeeded() == 5)
        #expect(log.succeeded() == nil)
        #expect(log.failed(nowNanos: 112) == .logFirst)
    }

    /// A full disk made every failed commit log a 400-byte line (1,350 lines in 4 s).
    @Test func aFailingDiskLogsAFewLinesNotOneACommit() async throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "hardening") { _ in handler }
        let store = Mutex<HostileInputTests.FlakyStore?>(nil)
        let hub = try await TestHub.start(
            store: { configuration, logger in
                let flaky = HostileInputTests.FlakyStore(
                    inner: try await FileJournal.open(for: configuration, logger: logger), failing: true)
                store.withLock { $0 = flaky }
                return flaky
            }, logger: logger)
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { desk in
                for (index, slug) in Declarations.councils.prefix(40).enumerated() {
                    guard
                        case .reject(let reject) = try await desk.submit(
                            Declarations.real(slug), requestID: UInt64(index))
                    else { throw TestFailure("acked while the disk fails") }
                    #expect(reject.code == .storeUnavailable)
                }
                try #require(store.withLock { $0 }).failing.store(false, ordering: .relaxed)
                guard case .ack = try await desk.submit(Declarations.real("swindon"), requestID: 100) else {
                    throw TestFailure("no ack once the disk works")
                }
            }
        }
        try await hub.stop()
        let journalLines = handler.entries.filter { $0.level == .error && "\($0.message)".contains("journal write") }
        #expect(journalLines.count >= 1)
        #expect(journalLines.count <= 2, "\(journalLines.map { "\($0.message)" })")
        #expect(handler.entries.contains { "\($0.message)" == "journal writes succeed again after 40 failed commits" })
    }
}

extension FrameChannel {
    /// A plain client connection, to look at its socket options.
    static func connectForTesting(port: Int) async throws -> NIOAsyncChannel<HubConnection.Event, ClientOutbound> {
        try await connect(to: HubAddress(host: "127.0.0.1", port: port), group: MultiThreadedEventLoopGroup.singleton)
    }
}

@Suite("Engine logs")
struct EngineLogTests {
    /// The engine's lines about a peer carry who it is: its connection was made after the handshake named it
    /// (before, the engine's copy of the logger was taken before the desk id or subscriber name was added).
    @Test func theEnginesLinesAboutAPeerNameIt() async throws {
        let handler = InMemoryLogHandler()
        let logger = Logger(label: "engine-logs") { _ in handler }
        let hub = try await TestHub.start(logger: logger)
        defer { hub.removeFiles() }
        try await withTimeout {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .subscriber) { subscriber in
                _ = try await subscriber.subscribeForSnapshot()
            }
        }
        try await hub.stop()
        let subscribed = handler.entries.filter { "\($0.message)" == "subscribed" }
        #expect(subscribed.count == 1)
        #expect(subscribed.allSatisfy { "\($0.metadata["subscriber.name"] ?? "")" == "graphics" })
    }
}
