import ArgumentParser
import Foundation
import HubServer

extension ResultsHubCommand {
    /// `results-hub dev-cert DIR`: a local CA and a server certificate, so that TLS runs on a developer's machine.
    struct DevCert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dev-cert",
            abstract: "Write a local CA and a server certificate for 127.0.0.1 and localhost (for development only).",
            discussion: """
                Writes DIR/ca.pem, DIR/ca-key.pem, DIR/server.pem and DIR/server-key.pem (the keys readable by \
                you only), valid for the days given. Then: results-hub --tls-cert DIR/server.pem --tls-key \
                DIR/server-key.pem, and reporter ... --tls --ca DIR/ca.pem.
                """)

        @Argument(help: "Directory to write the files into (created if missing; existing files are not replaced).")
        var directory: String

        @Option(help: "Names the server certificate is for: IP addresses or DNS names, comma-separated.")
        var names = "127.0.0.1,localhost,::1"

        @Option(help: "Days the certificates are valid.")
        var days = 30

        func validate() throws {
            guard (1...825).contains(days) else { throw ValidationError("--days must be 1 to 825") }
            guard !nameList.isEmpty else { throw ValidationError("--names needs at least one name") }
        }

        var nameList: [String] {
            names.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }

        func run() async throws {
            do {
                let certificates = try DevCertificates(names: nameList, validity: .seconds(days * 86_400))
                let written = try certificates.write(to: directory)
                for path in written { say("results-hub: wrote \(path)") }
                say(
                    "results-hub: the server certificate is for \(nameList.joined(separator: ", ")), valid \(days) days; serve with --tls-cert \(written[2]) --tls-key \(written[3])"
                )
            } catch {
                FileHandle.standardError.write(Data("results-hub: \(error)\n".utf8))
                throw ExitCode.failure
            }
        }
    }
}
