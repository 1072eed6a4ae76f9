import Foundation
import HubWire
import NIOCore
import NIOSSL
import Synchronization
import TLSFiles

/// TLS to the hub (issue 13): the hub's certificate is checked against `caFile`, or the system's trusted CAs, and must
/// be for the host connected to (or `serverName`). The protocol inside is unchanged (SPEC.md, "TLS").
public struct ClientTLS: Hashable, Sendable {
    /// PEM file of the CA certificates to trust; nil trusts the system's.
    public var caFile: String?
    /// The name the hub's certificate must carry (and SNI); nil: the address's host.
    public var serverName: String?
    /// A client certificate and its key (PEM files), for a hub that asks for one (`--tls-client-ca`).
    public var certificateFile: String?
    public var privateKeyFile: String?

    public init(
        caFile: String? = nil, serverName: String? = nil, certificateFile: String? = nil, privateKeyFile: String? = nil
    ) {
        self.caFile = caFile
        self.serverName = serverName
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
    }

    /// The CA that failed to vouch for the hub, in words.
    var trusted: String { caFile.map { "the CA in \($0)" } ?? "a CA this system trusts" }

    /// One context per TLS setting, shared by every connection that uses it (hub-load opens thousands).
    private static let contexts = Mutex<[ClientTLS: NIOSSLContext]>([:])

    func context(for address: HubAddress) throws(HubClientError) -> NIOSSLContext {
        if let cached = Self.contexts.withLock({ $0[self] }) { return cached }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = [TransportSecurity.alpnIdentifier]
        if let caFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw .tls(
                    address: "\(address)",
                    reason: "cannot read PEM CA certificates from \(caFile) (\(TLSFileReason.describe(error)))")
            }
        }
        if let certificateFile, let privateKeyFile {
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map {
                    .certificate($0)
                }
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: privateKeyFile, format: .pem))
            } catch {
                throw .tls(
                    address: "\(address)",
                    reason:
                        "cannot read the client certificate \(certificateFile) or key \(privateKeyFile) (\(TLSFileReason.describe(error)))"
                )
            }
        }
        let made: NIOSSLContext
        do {
            made = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .tls(address: "\(address)", reason: "cannot set up TLS: \(error)")
        }
        Self.contexts.withLock { $0[self] = made }
        return made
    }

    /// The handler that goes first in the pipeline. An IP address is checked against the certificate's IP names
    /// (and sends no SNI); a host name against its DNS names.
    func handler(for address: HubAddress) throws(HubClientError) -> NIOSSLClientHandler {
        let sslContext = try context(for: address)
        let name = serverName ?? address.host
        let isAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
        do {
            return try NIOSSLClientHandler(context: sslContext, serverHostname: isAddress ? nil : name)
        } catch {
            throw .tls(address: "\(address)", reason: "cannot use \(name) as the hub's TLS name: \(error)")
        }
    }

    /// What a TLS failure means, in one sentence; nil for an error that is not TLS's.
    func explain(_ error: any Error, address: HubAddress) -> HubClientError? {
        let name = serverName ?? address.host
        if let error = error as? NIOSSLExtraError {
            if error == .failedToValidateHostname || error == .serverHostnameImpossibleToMatch {
                return .tls(address: "\(address)", reason: "the hub's certificate is not for \(name)")
            }
            return .tls(address: "\(address)", reason: "\(error)")
        }
        // After a TLS 1.3 handshake, a hub that wants a client certificate says so in an alert on the next read.
        if let failure = error as? BoringSSLError { return explainHandshake(failure, address: address) }
        guard let error = error as? NIOSSLError else { return nil }
        switch error {
        case .handshakeFailed(let failure):
            return explainHandshake(failure, address: address)
        case .uncleanShutdown:
            return .tls(address: "\(address)", reason: "the hub closed the connection during the TLS handshake")
        default:
            return .tls(address: "\(address)", reason: "\(error)")
        }
    }

    private func explainHandshake(_ failure: BoringSSLError, address: HubAddress) -> HubClientError {
        let text = "\(failure)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return .tls(
                address: "\(address)", reason: "the hub's certificate is not signed by \(trusted) (or it has expired)")
        }
        if text.contains("ALERT_PROTOCOL_VERSION") || text.contains("WRONG_VERSION_NUMBER") {
            return .tls(
                address: "\(address)",
                reason: "the hub on this port does not speak TLS (it speaks the plain protocol); connect without TLS")
        }
        if text.contains("CERTIFICATE_REQUIRED") || text.contains("HANDSHAKE_FAILURE")
            || text.contains("BAD_CERTIFICATE")
        {
            return .tls(
                address: "\(address)",
                reason:
                    "the hub refused the TLS connection (does it require a client certificate? reporter --tls-cert): \(text)"
            )
        }
        return .tls(address: "\(address)", reason: "the TLS handshake failed: \(text)")
    }
}
