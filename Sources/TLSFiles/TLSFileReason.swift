import NIOCore
import NIOSSL

/// Why a PEM certificate, key or CA file could not be loaded, in a few words for an operator's error message. The
/// hub (its `--tls-*` options) and the client library (`ClientTLS`) say it the same way.
public enum TLSFileReason {
    public static func describe(_ error: any Error) -> String {
        if let error = error as? NIOSSLError {
            switch error {
            case .noSuchFilesystemObject: return "no such file"
            case .failedToLoadCertificate: return "not a PEM certificate"
            case .failedToLoadPrivateKey: return "not a PEM private key"
            default: break
            }
        }
        if let error = error as? IOError { return error.description }
        return "\(error)"
    }
}
