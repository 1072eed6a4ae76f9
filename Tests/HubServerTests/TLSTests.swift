import ElectionModel
import Foundation
import HubClient
import HubServer
import HubWire
import Logging
import NIOCore
import Testing

/// TLS below the protocol (issue 13): real sockets on 127.0.0.1, certificates made by `DevCertificates`.
@Suite("TLS", .serialized)
struct TLSTests {
    var logger: Logger {
        var logger = Logger(label: "tls-tests")
        logger.logLevel = .critical
        return logger
    }

    /// A fresh CA and server certificate in a temporary directory.
    static func certificates(names: [String] = ["127.0.0.1", "localhost"]) throws -> (directory: String, ca: String) {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("results-hub-tls-\(UUID().uuidString)").path
        try DevCertificates(names: names).write(to: directory)
        return (directory, directory + "/ca.pem")
    }

    static func serverTLS(_ directory: String, clientCA: String? = nil) -> HubTLS {
        HubTLS(
            certificateFile: directory + "/server.pem", privateKeyFile: directory + "/server-key.pem",
            clientCAFile: clientCA)
    }

    static func tlsHub(_ directory: String, clientCA: String? = nil) async throws -> TestHub {
        try await TestHub.start(configure: { $0.tls = serverTLS(directory, clientCA: clientCA) })
    }

    /// The error a TLS desk gets when it submits, or nil when it was accepted.
    func submitError(_ address: HubAddress) async throws -> (any Error)? {
        let desk = DeskClient(
            address: address, deskID: "national", token: TestHub.nationalToken, logger: logger, timeout: .seconds(5))
        defer { Task { await desk.close() } }
        do {
            _ = try await desk.submit(Declarations.real(Declarations.councils[0]))
            return nil
        } catch {
            return error
        }
    }

    @Test func aDeskAndASubscriberRoundTripOverTLS() async throws {
        let (directory, ca) = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await Self.tlsHub(directory)
        defer { hub.removeFiles() }
        let address = HubAddress(host: "127.0.0.1", port: hub.port, tls: ClientTLS(caFile: ca))
        try await withTimeout {
            let desk = DeskClient(
                address: address, deskID: "national", token: TestHub.nationalToken, logger: logger)
            let ack = try await desk.submit(Declarations.real(Declarations.councils[0]))
            #expect(ack.sequence == 1)
            await desk.close()

            let subscriber = SubscriberClient(address: address, name: "graphics", logger: logger)
            var updates = subscriber.updates().makeAsyncIterator()
            guard let first = try await updates.next(), case .snapshot = first.kind else {
                throw TestFailure("no snapshot over TLS")
            }
            #expect(first.replica.sequence == 1)

            // The certificate's DNS name works too.
            let byName = HubAddress(host: "localhost", port: hub.port, tls: ClientTLS(caFile: ca))
            let viaName = DeskClient(
                address: byName, deskID: "national", token: TestHub.nationalToken, logger: logger)
            let second = try await viaName.submit(Declarations.real(Declarations.councils[1]))
            #expect(second.sequence == 2)
            await viaName.close()
        }
        try await hub.stop()
    }

    @Test func aCertificateFromAnotherCAIsRefusedInOneSentence() async throws {
        let (directory, _) = try Self.certificates()
        let (other, otherCA) = try Self.certificates()
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: other)
        }
        let hub = try await Self.tlsHub(directory)
        defer { hub.removeFiles() }
        let error = try await withTimeout {
            try await submitError(HubAddress(host: "127.0.0.1", port: hub.port, tls: ClientTLS(caFile: otherCA)))
        }
        guard case HubClientError.tls(_, let reason)? = error else {
            throw TestFailure("expected a TLS error, got \(String(describing: error))")
        }
        #expect(reason.hasPrefix("the hub's certificate is not signed by the CA in \(otherCA)"))
        #expect("\(error!)".hasPrefix("TLS with the hub at 127.0.0.1:\(hub.port) failed: "))
        try await hub.stop()
    }

    @Test func aCertificateForAnotherHostIsRefused() async throws {
        let (directory, ca) = try Self.certificates(names: ["hub.example.org"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await Self.tlsHub(directory)
        defer { hub.removeFiles() }
        let error = try await withTimeout {
            try await submitError(HubAddress(host: "127.0.0.1", port: hub.port, tls: ClientTLS(caFile: ca)))
        }
        guard case HubClientError.tls(_, let reason)? = error else {
            throw TestFailure("expected a TLS error, got \(String(describing: error))")
        }
        #expect(reason == "the hub's certificate is not for 127.0.0.1")
        try await hub.stop()
    }

    @Test func aPlainClientOnATLSPortGetsGoodbyeNotThisProtocol() async throws {
        let (directory, _) = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await Self.tlsHub(directory)
        defer { hub.removeFiles() }
        let error = try await withTimeout {
            try await submitError(HubAddress(host: "127.0.0.1", port: hub.port))
        }
        guard case HubClientError.closedByHub(let goodbye)? = error else {
            throw TestFailure("expected GOODBYE, got \(String(describing: error))")
        }
        #expect(goodbye.code == .notThisProtocol)
        #expect(goodbye.message.contains("over TLS"))
        try await hub.stop()
    }

    @Test func aTLSClientOnAPlainPortIsToldSo() async throws {
        let (directory, ca) = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let error = try await withTimeout {
            try await submitError(HubAddress(host: "127.0.0.1", port: hub.port, tls: ClientTLS(caFile: ca)))
        }
        guard case HubClientError.tls(_, let reason)? = error else {
            throw TestFailure("expected a TLS error, got \(String(describing: error))")
        }
        #expect(reason.contains("does not speak TLS"))
        try await hub.stop()
    }

    @Test func aHubWithAClientCAWantsAClientCertificate() async throws {
        let (directory, ca) = try Self.certificates()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await Self.tlsHub(directory, clientCA: ca)
        defer { hub.removeFiles() }
        try await withTimeout {
            let without = try await submitError(
                HubAddress(host: "127.0.0.1", port: hub.port, tls: ClientTLS(caFile: ca)))
            guard case HubClientError.tls? = without else {
                throw TestFailure(
                    "expected a TLS error without a client certificate, got \(String(describing: without))")
            }
            // The dev server certificate is also good for client authentication.
            let with = ClientTLS(
                caFile: ca, certificateFile: directory + "/server.pem", privateKeyFile: directory + "/server-key.pem")
            let accepted = try await submitError(HubAddress(host: "127.0.0.1", port: hub.port, tls: with))
            #expect(accepted == nil, "\(String(describing: accepted))")
        }
        try await hub.stop()
    }

    @Test func unreadableCertificateFilesAreNamed() throws {
        let tls = HubTLS(certificateFile: "/nonexistent/server.pem", privateKeyFile: "/nonexistent/key.pem")
        #expect(throws: HubServerError.self) { try tls.makeContext() }
        do {
            _ = try tls.makeContext()
        } catch {
            #expect("\(error)".contains("/nonexistent/server.pem"))
        }
    }
}

/// The executables: `results-hub dev-cert`, a TLS hub as a child process, `reporter --tls --ca`, as an ordinary user.
@Suite("TLS CLI", .serialized)
struct TLSCLITests {
    @Test func devCertThenATLSHubThenReporter() async throws {
        let directory = try OrdinaryUser.makeDirectory("results-hub-tls-cli")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let certs = directory + "/dev-tls"
        let made = try await CommandRun.run(Executables.resultsHub, ["dev-cert", certs], asOrdinaryUser: true)
        #expect(made.status == 0, "\(made.errors)")
        for (name, mode) in [
            ("ca.pem", 0o644), ("ca-key.pem", 0o600), ("server.pem", 0o644), ("server-key.pem", 0o600),
        ] {
            let attributes = try FileManager.default.attributesOfItem(atPath: certs + "/" + name)
            #expect((attributes[.posixPermissions] as? Int) == mode, "\(name)")
        }
        // A second run does not replace the CA.
        let again = try await CommandRun.run(Executables.resultsHub, ["dev-cert", certs], asOrdinaryUser: true)
        #expect(again.status != 0)
        #expect(again.errors.contains("exists"))

        let desks = directory + "/desks.json"
        try DeskDirectory.encode(TestHub.credentials()).write(to: URL(fileURLWithPath: desks))
        let hub = try await HubProcess.start(
            directory: directory + "/data",
            arguments: [
                "--desks", desks, "--log-level", "error", "--tls-cert", certs + "/server.pem", "--tls-key",
                certs + "/server-key.pem",
            ],
            asOrdinaryUser: true)
        defer { hub.terminate() }
        func reporter(_ arguments: [String]) async throws -> CommandRun {
            var environment = ProcessInfo.processInfo.environment
            environment["RESULTS_HUB_DESK"] = "national"
            environment["RESULTS_HUB_TOKEN"] = TestHub.nationalToken
            return try await CommandRun.run(
                Executables.reporter, arguments + ["--hub", "127.0.0.1:\(hub.port)", "--timeout", "5"],
                environment: environment)
        }
        let submit = ["submit", "--contest", "swindon", "--seats", "LAB=31,CON=22,LD=4"]
        var run = try await reporter(submit + ["--tls", "--ca", certs + "/ca.pem"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("swindon: accepted as sequence 1"))

        run = try await reporter(["scoreboard", "--tls", "--ca", certs + "/ca.pem"])
        #expect(run.status == 0, "\(run.errors)")

        // Plain TCP to the TLS port: the hub's GOODBYE, in one line.
        run = try await reporter(submit)
        #expect(run.status != 0)
        #expect(run.errors.contains("notThisProtocol"), "\(run.errors)")
        #expect(run.errors.split(separator: "\n").count == 1, "\(run.errors)")

        // Another CA: one sentence naming the file.
        let other = directory + "/other-tls"
        #expect(try await CommandRun.run(Executables.resultsHub, ["dev-cert", other]).status == 0)
        run = try await reporter(submit + ["--tls", "--ca", other + "/ca.pem"])
        #expect(run.status != 0)
        #expect(run.errors.contains("not signed by the CA in \(other)/ca.pem"), "\(run.errors)")
        #expect(run.errors.split(separator: "\n").count == 1, "\(run.errors)")
    }

    @Test func reporterWithTLSOnAPlainPortSaysSoInOneLine() async throws {
        let (directory, ca) = try TLSTests.certificates()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await TestHub.start()
        defer { hub.removeFiles() }
        let run = try await CommandRun.run(
            Executables.reporter,
            ["scoreboard", "--hub", "127.0.0.1:\(hub.port)", "--tls", "--ca", ca, "--timeout", "5"])
        #expect(run.status != 0)
        #expect(run.errors.contains("does not speak TLS"), "\(run.errors)")
        #expect(run.errors.split(separator: "\n").count == 1, "\(run.errors)")
        try await hub.stop()
    }

    @Test func hubLoadDrivesATLSHub() async throws {
        let (directory, ca) = try TLSTests.certificates()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let hub = try await TLSTests.tlsHub(directory)
        defer { hub.removeFiles() }
        let run = try await CommandRun.run(
            Executables.directory.appendingPathComponent("hub-load").path,
            [
                "saturate", "--duration", "3s", "--desks", "1", "--subscribers", "1", "--pipeline", "4",
                "--max-declarations", "500", "--hub", "127.0.0.1:\(hub.port)", "--token", TestHub.nationalToken,
                "--tls", "--ca", ca,
            ])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("verified"))
        #expect(try await hub.server.statistics().latestSequence > 0)
        try await hub.stop()
    }
}
