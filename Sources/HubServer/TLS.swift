import Foundation
import HubWire
import NIOCore
import NIOSSL
import TLSFiles

/// TLS on the hub's port (issue 13): a certificate chain and its key, PEM files. TLS is a transport below the
/// unchanged protocol (SPEC.md, "TLS"); the hub advertises ALPN `TransportSecurity.alpnIdentifier`.
public struct HubTLS: Sendable, Hashable {
    /// The server's certificate (then any intermediates), PEM.
    public var certificateFile: String
    /// The certificate's private key, PEM.
    public var privateKeyFile: String
    /// When set, clients must present a certificate signed by a CA in this PEM file.
    public var clientCAFile: String?

    public init(certificateFile: String, privateKeyFile: String, clientCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.clientCAFile = clientCAFile
    }

    /// The context every connection's handler shares: TLS 1.2 and 1.3, the files read once, at startup.
    public func makeContext() throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw HubServerError(
                message:
                    "cannot read a PEM certificate from \(certificateFile) (\(TLSFileReason.describe(error))); check --tls-cert"
            )
        }
        guard !chain.isEmpty else {
            throw HubServerError(message: "\(certificateFile) holds no PEM certificate; check --tls-cert")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: privateKeyFile, format: .pem)
        } catch {
            throw HubServerError(
                message:
                    "cannot read a PEM private key from \(privateKeyFile) (\(TLSFileReason.describe(error))); check --tls-key"
            )
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.applicationProtocols = [TransportSecurity.alpnIdentifier]
        if let clientCAFile {
            let authorities: [NIOSSLCertificate]
            do {
                authorities = try NIOSSLCertificate.fromPEMFile(clientCAFile)
            } catch {
                throw HubServerError(
                    message:
                        "cannot read PEM certificates from \(clientCAFile) (\(TLSFileReason.describe(error))); check --tls-client-ca"
                )
            }
            configuration.trustRoots = .certificates(authorities)
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw HubServerError(
                message:
                    "the TLS key \(privateKeyFile) does not go with the certificate \(certificateFile); check --tls-cert and --tls-key"
            )
        }
    }
}

/// First in a TLS port's pipeline: a connection whose first byte starts a TLS handshake record goes on to TLS (this
/// handler removes itself); anything else is a client speaking the plain protocol to a TLS port, and gets a GOODBYE
/// notThisProtocol, in the plain protocol, saying so, then the connection is closed.
final class TLSOnlyPortHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    static let message = "this port speaks the ResultsHub protocol over TLS; connect with TLS (reporter --tls)"

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let buffer = unwrapInboundIn(data)
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else { return }
        if first == TransportSecurity.handshakeRecordType {
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        refused = true
        let goodbye = FrameCodec().encode(
            .goodbye(Goodbye(code: .notThisProtocol, message: Self.message, lastSequence: 0)))
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(goodbye)).whenComplete { _ in channel.close(promise: nil) }
    }
}
