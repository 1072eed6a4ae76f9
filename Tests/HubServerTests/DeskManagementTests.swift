import ElectionModel
import Foundation
import HubClient
import HubCore
import HubWire
import Testing

@testable import HubServer

#if canImport(Glibc)
    import Glibc
#endif

/// Desks and tokens (issue 13): tokens hashed at rest, `results-hub desks list | add | rotate | revoke`, and a
/// running hub that reloads the desks file on SIGHUP and closes the connections of revoked and rotated desks.
@Suite("Desk management", .serialized)
struct DeskManagementTests {
    // MARK: Hashing

    @Test func aTokenHashMatchesItsTokenOnlyAndIsSaltedPerRecord() async throws {
        let token = "north-west-token-0123456789"
        let hash = TokenHash(hashing: token)
        #expect(hash.salt.count == 16 && hash.digest.count == 32)
        #expect(hash.matches(token))
        #expect(!hash.matches(token + "x"))
        #expect(!hash.matches(String(token.dropLast())))
        #expect(!hash.matches(""))
        // Salted: the same token hashes differently twice, and both match it.
        let again = TokenHash(hashing: token)
        #expect(again.digest != hash.digest && again.matches(token))
        // HMAC-SHA256 keyed by the salt (RFC 4231 test case 2 with "Jefe" as the salt).
        let known = TokenHash(salt: Array("Jefe".utf8), token: "what do ya want for nothing?")
        #expect(
            known.digest.map { String(format: "%02x", $0) }.joined()
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        // Its text form round-trips; anything else is refused.
        #expect(TokenHash(hash.description) == hash)
        #expect(hash.description.hasPrefix("hmac-sha256:") && !hash.description.contains(token))
        for bad in [
            "", "hmac-sha256", "sha256:\(String(repeating: "0", count: 32)):\(String(repeating: "0", count: 64))",
            "hmac-sha256:\(String(repeating: "0", count: 30)):\(String(repeating: "0", count: 64))",
            "hmac-sha256:\(String(repeating: "g", count: 32)):\(String(repeating: "0", count: 64))",
            "hmac-sha256:\(String(repeating: "é", count: 16)):\(String(repeating: "0", count: 64))",
        ] {
            #expect(TokenHash(bad) == nil, "\(bad)")
        }
    }

    @Test func theConstantTimeComparisonLooksAtEveryByteAndTheLength() {
        let a: [UInt8] = Array(repeating: 7, count: 32)
        #expect(DeskDirectory.constantTimeEqual(a, a))
        #expect(DeskDirectory.constantTimeEqual([], []))
        for index in [0, 15, 31] {
            var b = a
            b[index] ^= 0x01
            #expect(!DeskDirectory.constantTimeEqual(a, b))
        }
        #expect(!DeskDirectory.constantTimeEqual(a, Array(a.dropLast())))
        #expect(!DeskDirectory.constantTimeEqual(a, a + [0]), "a longer input with zeros is not equal")
        #expect(!DeskDirectory.constantTimeEqual([], [0]))
    }

    @Test func aDirectoryReadsHashedAndPlainRecordsAndNamesWhatChanged() async throws {
        let election = TestHub.election
        let file = """
            [{"id": "national", "regions": "*", "tokenHash": "\(TokenHash(hashing: TestHub.nationalToken))"},
             {"id": "north-west", "regions": ["north-west"], "token": "\(TestHub.northWestToken)"}]
            """
        let stored = try DesksFile.decode(Data(file.utf8))
        #expect(DesksFile.plainTokenDesks(stored) == ["north-west"])
        let old = try DeskDirectory(desks: stored, election: election)
        #expect(old.authenticate(deskID: "national", token: TestHub.nationalToken)?.identity.id == "national")
        #expect(old.authenticate(deskID: "north-west", token: TestHub.northWestToken)?.identity.id == "north-west")
        #expect(old.authenticate(deskID: "national", token: TestHub.northWestToken) == nil)
        #expect(old.authenticate(deskID: "nobody", token: TestHub.nationalToken) == nil)
        // The same file read twice is the same directory: nothing to close (a plain record's credential does not
        // depend on the random salt it is hashed with in memory).
        #expect(try DeskDirectory(desks: stored, election: election).revocations(since: old).isEmpty)
        // Written back, a record holds only its hash.
        let written = String(decoding: DesksFile.encode(stored.map(Self.hashed)), as: UTF8.self)
        #expect(!written.contains(TestHub.northWestToken) && !written.contains(TestHub.nationalToken))
        #expect(try DeskDirectory(desks: DesksFile.decode(Data(written.utf8)), election: election).deskIDs.count == 2)

        // national rotated, north-west revoked, a desk added.
        let new = try DeskDirectory(
            desks: [
                StoredDesk(DeskCredential(id: "national", token: "new-national-token-0123", regions: .all)),
                StoredDesk(
                    DeskCredential(id: "extra", token: "extra-token-0123456789", regions: .some(["north-east"]))),
            ], election: election)
        let revocations = new.revocations(since: old)
        #expect(revocations.map(\.deskID) == ["national", "north-west"])
        #expect(revocations[0].reason == "desk national's token was rotated; reconnect with the new token")
        #expect(revocations[0].keeping == new.credential(of: "national"))
        #expect(
            revocations[1] == DeskRevocation(deskID: "north-west", reason: "desk north-west was revoked", keeping: nil))

        // A record with both or neither secret, or a malformed hash, is refused with the desk named.
        for bad in [
            #"[{"id": "a", "regions": "*"}]"#,
            #"[{"id": "a", "regions": "*", "token": "0123456789abcdef0", "tokenHash": "x"}]"#,
            #"[{"id": "a", "regions": "*", "tokenHash": "hmac-sha256:00:00"}]"#,
        ] {
            #expect(throws: DeskDirectoryError.self) { try DesksFile.decode(Data(bad.utf8)) }
        }
    }

    static func hashed(_ desk: StoredDesk) -> StoredDesk {
        guard let token = desk.token else { return desk }
        return StoredDesk(DeskCredential(id: desk.id, token: token, regions: desk.regions))
    }

    // MARK: The desks command

    @Test func theDesksCommandAddsListsRotatesAndRevokesWithoutStoringOrPrintingATokenInClear() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-desks-cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        try await Self.desks(["add", "north-west", "--regions", "north-west", "--data", data], expect: .failure)
        // A data directory of the ordinary user's, as the hub's first start leaves it.
        try Self.makeDataDirectory(data)
        let added = try await Self.desks(["add", "north-west", "--regions", "north-west", "--data", data])
        let firstToken = try Self.newToken(from: added.output, desk: "north-west")
        try await Self.desks(["add", "national", "--regions", "*", "--data", data])
        try await Self.desks(["add", "north-west", "--regions", "london", "--data", data], expect: .failure)
        let unknownRegion = try await Self.desks(
            ["add", "x", "--regions", "atlantis", "--data", data], expect: .failure)
        #expect(unknownRegion.errors.contains("desk x: unknown region \"atlantis\""))

        let list = try await Self.desks(["list", "--data", data])
        #expect(list.output == "national    *\nnorth-west  north-west\n")
        let file = try String(contentsOfFile: data + "/desks.json", encoding: .utf8)
        #expect(!file.contains(firstToken) && !list.output.contains(firstToken) && !list.errors.contains(firstToken))
        #expect(try HardeningTests.mode(data + "/desks.json") == 0o600)
        var stored = try DesksFile.decode(Data(file.utf8))
        #expect(stored.allSatisfy { $0.token == nil })
        #expect(stored.first { $0.id == "north-west" }?.tokenHash?.matches(firstToken) == true)

        let rotated = try await Self.desks(["rotate", "north-west", "--data", data])
        let secondToken = try Self.newToken(from: rotated.output, desk: "north-west")
        #expect(secondToken != firstToken)
        stored = try DesksFile.decode(Data(contentsOf: URL(fileURLWithPath: data + "/desks.json")))
        let northWest = try #require(stored.first { $0.id == "north-west" })
        #expect(northWest.tokenHash?.matches(secondToken) == true && northWest.tokenHash?.matches(firstToken) == false)
        #expect(northWest.regions == .some(["north-west"]))

        try await Self.desks(["revoke", "north-west", "--data", data])
        try await Self.desks(["revoke", "north-west", "--data", data], expect: .failure)
        try await Self.desks(["rotate", "north-west", "--data", data], expect: .failure)
        #expect(try await Self.desks(["list", "--data", data]).output == "national  *\n")
        #expect(try HardeningTests.mode(data + "/desks.json") == 0o600)
        // Nothing but the desks file and the new-token files, each 0600; no temporary file left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: data).sorted()
        #expect(names.filter { !$0.hasPrefix("desk-tokens-") } == ["desks.json"])
        #expect(names.count == 4)
        for name in names { #expect(try HardeningTests.mode(data + "/" + name) == 0o600, "\(name)") }
    }

    @Test func aDesksFileWithPlainTokensIsListedWithAWarningAndRehashed() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-desks-rehash")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        if OrdinaryUser.testsRunAsRoot { chown(desks, OrdinaryUser.nobody, OrdinaryUser.nogroup) }
        let list = try await Self.desks(["list", "--desks", desks])
        #expect(list.output == "national    *\nnorth-west  north-west\n")
        #expect(list.errors.contains("stores plain tokens for national, north-west; `results-hub desks rehash`"))
        #expect(!list.output.contains(TestHub.nationalToken) && !list.errors.contains(TestHub.nationalToken))
        try await Self.desks(["rehash", "--desks", desks])
        let file = try String(contentsOfFile: desks, encoding: .utf8)
        #expect(!file.contains(TestHub.nationalToken) && !file.contains(TestHub.northWestToken))
        let directoryNow = try DeskDirectory(desks: DesksFile.decode(Data(file.utf8)), election: TestHub.election)
        #expect(directoryNow.authenticate(deskID: "national", token: TestHub.nationalToken) != nil)
        #expect(try HardeningTests.mode(desks) == 0o600)
        #expect(try await Self.desks(["list", "--desks", desks]).errors.isEmpty)
    }

    // MARK: A running hub

    /// A desk added, used after SIGHUP; then revoked while connected: GOODBYE authenticationFailed with the reason,
    /// and refused from then on. An invalid desks file on SIGHUP keeps the desks in force.
    @Test func aRunningHubTakesAnAddedDeskAndClosesARevokedOneOnSighup() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-desks-sighup")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        let hub = try await HubProcess.start(
            directory: data, arguments: ["--log-level", "notice"], asOrdinaryUser: true)
        defer { hub.terminate() }
        // The first start stored only hashes, and the tokens once in a file of their own.
        let desksFile = try String(contentsOfFile: data + "/desks.json", encoding: .utf8)
        let tokensFiles = try FileManager.default.contentsOfDirectory(atPath: data).filter {
            $0.hasPrefix("desk-tokens-")
        }
        #expect(tokensFiles.count == 1)
        let generated = try DeskDirectory.decode(Data(contentsOf: URL(fileURLWithPath: data + "/" + tokensFiles[0])))
        #expect(generated.count == 9 && !generated.contains { desksFile.contains($0.token) })
        #expect(try HardeningTests.mode(data + "/" + tokensFiles[0]) == 0o600)

        let added = try await Self.desks(["add", "extra", "--regions", "north-west", "--data", data])
        let token = try Self.newToken(from: added.output, desk: "extra")
        try await Self.expectRefused(port: hub.port, desk: "extra", token: token)
        try await Self.reload(hub, count: 1)

        try await withTimeout(30) {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk("extra", token: token)) {
                desk in
                guard case .ack(let ack) = try await desk.submit(Declarations.real("manchester"), requestID: 1) else {
                    throw TestFailure("no ACK for the added desk")
                }
                #expect(ack.sequence == 1)
                // An invalid desks file: logged, and the desks in force stay.
                let saved = try Data(contentsOf: URL(fileURLWithPath: data + "/desks.json"))
                try Data("not json".utf8).write(to: URL(fileURLWithPath: data + "/desks.json"))
                hub.signal(SIGHUP)
                try await HardeningTests.waitUntil { hub.standardError.contains("desks file not reloaded") }
                try saved.write(to: URL(fileURLWithPath: data + "/desks.json"))
                guard case .ack = try await desk.submit(Declarations.real("bolton"), requestID: 2) else {
                    throw TestFailure("the desk was dropped by an invalid desks file")
                }

                try await Self.desks(["revoke", "extra", "--data", data])
                try await Self.reload(hub, count: 2)
                guard case .goodbye(let goodbye) = try await desk.next() else { throw TestFailure("no GOODBYE") }
                #expect(goodbye.code == .authenticationFailed)
                #expect(goodbye.message == "desk extra was revoked")
            }
        }
        try await Self.expectRefused(port: hub.port, desk: "extra", token: token)
        #expect(!hub.standardError.contains(token))
    }

    /// A rotated desk: its open connection is closed with the reason, its old token refused, the new one let in.
    @Test func aRotatedDesksOldTokenIsClosedAndRefusedAndTheNewOneAccepted() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-desks-rotate")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/data"
        try Self.makeDataDirectory(data)
        let added = try await Self.desks(["add", "north-west", "--regions", "north-west", "--data", data])
        let oldToken = try Self.newToken(from: added.output, desk: "north-west")
        let hub = try await HubProcess.start(
            directory: data, arguments: ["--log-level", "notice"], asOrdinaryUser: true)
        defer { hub.terminate() }
        let rotated = try await Self.desks(["rotate", "north-west", "--data", data])
        let newToken = try Self.newToken(from: rotated.output, desk: "north-west")
        try await withTimeout(30) {
            try await HubSession.connect(
                host: "127.0.0.1", port: hub.port, hello: .desk("north-west", token: oldToken)
            ) { desk in
                try await Self.reload(hub, count: 1)
                guard case .goodbye(let goodbye) = try await desk.next() else { throw TestFailure("no GOODBYE") }
                #expect(goodbye.code == .authenticationFailed)
                #expect(goodbye.message == "desk north-west's token was rotated; reconnect with the new token")
            }
        }
        try await Self.expectRefused(port: hub.port, desk: "north-west", token: oldToken)
        try await withTimeout(30) {
            try await HubSession.connect(
                host: "127.0.0.1", port: hub.port, hello: .desk("north-west", token: newToken)
            ) { desk in
                guard case .ack = try await desk.submit(Declarations.real("manchester"), requestID: 1) else {
                    throw TestFailure("no ACK with the new token")
                }
            }
        }
    }

    /// In process: a directory put in force while a desk is connected closes it the same way, and a reload that
    /// changes nothing for a desk leaves its connection open.
    @Test func replacingTheDirectoryInProcessKeepsUnchangedDesksConnected() async throws {
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        try await withTimeout(30) {
            try await HubSession.connect(host: "127.0.0.1", port: hub.port, hello: .desk()) { national in
                try await HubSession.connect(
                    host: "127.0.0.1", port: hub.port, hello: .desk("north-west", token: TestHub.northWestToken)
                ) { northWest in
                    let closed = hub.server.replaceDesks(
                        with: try DeskDirectory(credentials: [TestHub.credentials()[0]], election: TestHub.election))
                    #expect(closed.map(\.deskID) == ["north-west"])
                    guard case .goodbye(let goodbye) = try await northWest.next() else {
                        throw TestFailure("no GOODBYE")
                    }
                    #expect(goodbye.message == "desk north-west was revoked")
                }
                guard case .ack = try await national.submit(Declarations.real("manchester"), requestID: 1) else {
                    throw TestFailure("the unchanged desk was closed")
                }
            }
        }
        try await hub.stop()
    }

    // MARK: Helpers

    enum Outcome { case success, failure }

    @discardableResult
    static func desks(_ arguments: [String], expect outcome: Outcome = .success) async throws -> CommandRun {
        let run = try await CommandRun.run(Executables.resultsHub, ["desks"] + arguments, asOrdinaryUser: true)
        switch outcome {
        case .success: #expect(run.status == 0, "desks \(arguments): \(run.errors)")
        case .failure: #expect(run.status != 0, "desks \(arguments) succeeded: \(run.output)")
        }
        return run
    }

    static func makeDataDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o700)
        if OrdinaryUser.testsRunAsRoot { chown(path, OrdinaryUser.nobody, OrdinaryUser.nogroup) }
    }

    /// The token of `desk` from the new-tokens file that `add` or `rotate` named.
    static func newToken(from output: String, desk: String) throws -> String {
        let line = try #require(output.split(separator: "\n").first { $0.contains("the token is in ") })
        let path = try #require(line.components(separatedBy: "the token is in ").last?.split(separator: " ").first)
        #expect(try HardeningTests.mode(String(path)) == 0o600)
        let credentials = try DeskDirectory.decode(Data(contentsOf: URL(fileURLWithPath: String(path))))
        #expect(!output.contains(credentials[0].token), "the token is not printed")
        return try #require(credentials.first { $0.id == desk }).token
    }

    /// SIGHUP, and waits until the hub logged its `count`th reload.
    static func reload(_ hub: HubProcess, count: Int) async throws {
        hub.signal(SIGHUP)
        try await HardeningTests.waitUntil {
            hub.standardError.components(separatedBy: "desks file reloaded").count - 1 >= count
        }
    }

    static func expectRefused(port: Int, desk: String, token: String) async throws {
        do {
            try await HubSession.connect(host: "127.0.0.1", port: port, hello: .desk(desk, token: token)) { _ in }
            Issue.record("desk \(desk) was let in")
        } catch let HubClientError.closedByHub(goodbye) {
            #expect(goodbye.code == .authenticationFailed)
        }
    }
}
