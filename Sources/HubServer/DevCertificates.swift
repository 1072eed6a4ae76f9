import Crypto
import Foundation
import HubJournal
import SwiftASN1
import X509

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A local CA and a server certificate it signed, for running TLS on a developer's machine (`results-hub dev-cert`).
/// P-256 keys; never for election night.
public struct DevCertificates: Sendable {
    /// `ca.pem`, `ca-key.pem`, `server.pem`, `server-key.pem`: what `write(to:)` writes.
    public static let fileNames = (
        ca: "ca.pem", caKey: "ca-key.pem", server: "server.pem", serverKey: "server-key.pem"
    )

    public var caPEM: String
    public var caKeyPEM: String
    public var serverPEM: String
    public var serverKeyPEM: String

    /// - Parameters:
    ///   - names: the server certificate's names (SANs): an IPv4 or IPv6 address becomes an IP address name, anything
    ///     else a DNS name.
    ///   - validity: from a minute ago (clocks differ a little) for this long.
    public init(names: [String] = ["127.0.0.1", "localhost", "::1"], validity: Duration = .seconds(30 * 86_400))
        throws
    {
        let now = Date()
        let notBefore = now.addingTimeInterval(-60)
        let notAfter = now.addingTimeInterval(TimeInterval(validity.components.seconds))

        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("ResultsHub")
            CommonName("ResultsHub development CA")
        }
        let caCertificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(caKey.publicKey), notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))

        let serverKey = P256.Signing.PrivateKey()
        let serverName = try DistinguishedName {
            OrganizationName("ResultsHub")
            CommonName(names.first ?? "localhost")
        }
        let alternativeNames = names.map { name -> GeneralName in
            if let bytes = Self.ipAddressBytes(name) { return .ipAddress(ASN1OctetString(contentBytes: bytes[...])) }
            return .dnsName(name)
        }
        let serverCertificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(serverKey.publicKey), notValidBefore: notBefore, notValidAfter: notAfter,
            issuer: caName, subject: serverName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(alternativeNames)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))

        caPEM = try caCertificate.serializeAsPEM().pemString
        caKeyPEM = caKey.pemRepresentation
        serverPEM = try serverCertificate.serializeAsPEM().pemString
        serverKeyPEM = serverKey.pemRepresentation
    }

    /// Writes the four files into `directory` (created if missing), the keys readable by their owner only (0600).
    /// Returns the paths written.
    @discardableResult
    public func write(to directory: String) throws -> [String] {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw HubServerError(message: "cannot create the directory \(directory): \(error.localizedDescription)")
        }
        let names = Self.fileNames
        let files: [(String, String, Bool)] = [
            (names.ca, caPEM, false), (names.caKey, caKeyPEM, true), (names.server, serverPEM, false),
            (names.serverKey, serverKeyPEM, true),
        ]
        let paths = files.map { (directory as NSString).appendingPathComponent($0.0) }
        for path in paths where FileManager.default.fileExists(atPath: path) {
            throw HubServerError(message: "\(path) exists; remove the old files or choose another directory")
        }
        for ((_, text, secret), path) in zip(files, paths) {
            let created = Array(text.utf8).withUnsafeBytes {
                Posix.createFileAtomically(path, contents: $0, mode: secret ? 0o600 : 0o644)
            }
            switch created {
            case .success(let fd): _ = Posix.closeFile(fd)
            case .failure(let failure): throw HubServerError(message: "cannot create \(path): \(failure.description)")
            }
        }
        return paths
    }

    /// The 4 or 16 bytes of an IP address literal; nil for anything else.
    static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, text, &v4) == 1 { return v4 }
        var v6 = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET6, text, &v6) == 1 { return v6 }
        return nil
    }
}
